//! `flowc explain CODE` and `flowc explain --list`: the long explanation of
//! a diagnostic code, with an example and the fix.

use super::Exit;
use super::output::{self, Stream};
use flowc::Code;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A diagnostic code such as E0101 (case does not matter).
    #[arg(required_unless_present = "list", conflicts_with = "list")]
    code: Option<String>,
    /// List every code with its title.
    #[arg(long)]
    list: bool,
}

/// Every code and title, one per line.
fn list() -> String {
    Code::ALL
        .iter()
        .map(|c| format!("{}  {}\n", c.as_str(), c.title()))
        .collect()
}

/// The first line of a text.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Runs `flowc explain`.
pub fn run(args: &Args) -> Exit {
    if args.list {
        output::write(Stream::Stdout, &list());
        return Exit::Clean;
    }
    let code = args.code.as_deref().unwrap_or_default();
    match Code::parse(code) {
        Some(c) => {
            let body = c.explanation().trim();
            // An explanation may open with a `# CODE …` heading; the header
            // printed here replaces it.
            let body = match body.split_once('\n') {
                _ if !body.starts_with('#') || !first_line(body).contains(c.as_str()) => body,
                Some((_, rest)) => rest.trim_start(),
                None => "",
            };
            let severity = c.severity().as_str();
            let mut text = format!("{}: {} ({severity})\n", c.as_str(), c.title());
            if !body.is_empty() {
                text.push('\n');
                text.push_str(body);
                text.push('\n');
            }
            output::write(Stream::Stdout, &text);
            Exit::Clean
        }
        None => {
            output::write(
                Stream::Stderr,
                &format!(
                    "error: unknown diagnostic code `{code}`; the known codes are:\n{}",
                    list()
                ),
            );
            Exit::Usage
        }
    }
}
