//! `flowc schema`: prints the JSON Schema of the YAML flow format, for
//! editor completion and validation (e.g. `# yaml-language-server: $schema=…`).

use super::Exit;
use super::output;

#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `flowc schema`.
pub fn run(_args: &Args) -> Exit {
    // `flowc::schema::json_schema()` lands with the YAML front end.
    output::eprint_line("error: the JSON Schema is not available in this build yet");
    Exit::Usage
}
