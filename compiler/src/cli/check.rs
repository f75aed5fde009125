//! `flowc check FILE|DIR…`: checks every flow file and prints every
//! diagnostic. Exit 0 when clean (warnings allowed unless
//! `--deny-warnings`), 1 on flow errors, 2 on usage or IO errors.

use super::Exit;
use super::files::{self, IoError};
use super::output::{self, Counts, MessageFormat, Stream};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Flow files, or directories to search for *.flow.yaml, *.flow.yml and
    /// *.flow files.
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    /// How to print diagnostics: human reports (default), JSON Lines on
    /// stdout, or GitHub Actions annotations.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,
}

/// Runs `flowc check`.
pub fn run(args: &Args) -> Exit {
    let (inputs, mut io_errors) = files::collect(&args.paths);
    let color = output::color(Stream::Stdout);
    let mut counts = Counts::default();
    let mut checked = 0;
    for input in &inputs {
        let (source, diagnostics) = match files::load(input) {
            Err(e) => {
                io_errors.push(e);
                continue;
            }
            Ok(Ok(source)) => {
                let checked = flowc::check(&source);
                (source, checked.diagnostics)
            }
            Ok(Err(not_text)) => {
                let (source, d) = *not_text;
                (source, vec![d])
            }
        };
        checked += 1;
        counts.add(&diagnostics);
        if !diagnostics.is_empty() {
            let text = output::render(args.message_format, &source, &diagnostics, color);
            output::write(Stream::Stdout, &text);
        }
    }
    if inputs.is_empty() && io_errors.is_empty() {
        io_errors.push(IoError("no flow files found".into()));
    }
    for e in &io_errors {
        output::eprint_line(&format!("error: {e}"));
    }
    if args.message_format == MessageFormat::Human {
        output::eprint_line(&output::summary(checked, counts));
    }
    if !io_errors.is_empty() {
        Exit::Usage
    } else if counts.errors > 0 || (args.deny_warnings && counts.warnings > 0) {
        Exit::FlowErrors
    } else {
        Exit::Clean
    }
}
