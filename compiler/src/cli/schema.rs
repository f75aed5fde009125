//! `flowc schema`: prints the JSON Schema of the YAML flow format, for
//! editor completion and validation (e.g. `# yaml-language-server: $schema=…`).

use super::Exit;
use super::output::{self, Stream};

#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `flowc schema`.
pub fn run(_args: &Args) -> Exit {
    match serde_json::to_string_pretty(&flowc::schema::json_schema()) {
        Ok(text) => {
            output::write(Stream::Stdout, &format!("{text}\n"));
            Exit::Clean
        }
        Err(e) => {
            output::eprint_line(&format!("error: cannot print the schema: {e}"));
            Exit::Usage
        }
    }
}
