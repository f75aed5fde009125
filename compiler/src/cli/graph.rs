//! `flowc graph FILE --format mermaid|dot`: draws a flow (see
//! [`flowc::graph`]). A flow with errors is not drawn (exit 1, diagnostics on
//! stderr).

use super::Exit;
use super::files;
use super::output::{self, Stream};
use std::path::PathBuf;

/// The diagram language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A Mermaid flowchart (renders in GitHub Markdown).
    #[default]
    Mermaid,
    /// A Graphviz digraph (`dot -Tsvg`).
    Dot,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flow file to draw (*.flow.yaml, *.flow.yml or *.flow).
    file: PathBuf,
    /// The diagram language.
    #[arg(long, value_enum, default_value_t = Format::Mermaid)]
    format: Format,
}

/// Runs `flowc graph`.
pub fn run(args: &Args) -> Exit {
    let (source, checked) = match files::load_and_check(&args.file) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    let ast = match &checked.ast {
        Some(ast) if !checked.has_errors() => ast,
        _ => {
            output::eprint_line(&format!("error: `{}` has errors; not drawn", source.name));
            return Exit::FlowErrors;
        }
    };
    let diagram = match args.format {
        Format::Mermaid => flowc::graph::mermaid(ast),
        Format::Dot => flowc::graph::dot(ast),
    };
    output::write(Stream::Stdout, &diagram);
    Exit::Clean
}
