//! The `flowc` subcommands (clap derive). Each subcommand lives in its own
//! module and returns an [`Exit`] status:
//!
//! | status | meaning |
//! |---|---|
//! | 0 | clean (warnings allowed unless `--deny-warnings`) |
//! | 1 | the flow has errors (diagnostics were printed) |
//! | 2 | usage or IO error (bad arguments, missing or unreadable file, …) |

mod build;
mod check;
mod emit;
mod explain;
mod files;
mod fmt;
mod graph;
mod output;
mod run;
mod schema;
mod sim;
mod test;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// flowc: checks billing flows (YAML or DSL) and compiles them into durable
/// binaries.
#[derive(Debug, Parser)]
#[command(name = "flowc", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check flow files (directories are searched for *.flow.yaml, *.flow.yml
    /// and *.flow) and report every diagnostic.
    Check(check::Args),
    /// Convert a flow between YAML and the DSL.
    Fmt(fmt::Args),
    /// Draw a flow as a Mermaid or Graphviz diagram.
    Graph(graph::Args),
    /// Print the JSON Schema of the YAML flow format (for editors).
    Schema(schema::Args),
    /// Explain a diagnostic code (e.g. `flowc explain E0101`).
    Explain(explain::Args),
    /// Check a flow and compile it into a binary.
    Build(build::Args),
    /// Check a flow and write its generated crate, without building it.
    Emit(emit::Args),
    /// Build a flow if needed and run its binary with the arguments after `--`.
    Run(run::Args),
    /// Run a provider simulator (e.g. `flowc sim stripe --listen 127.0.0.1:12111`)
    /// for built flows to talk to instead of the real provider.
    Sim(sim::Args),
    /// Build flows and run their scenarios (`examples/<flow>/*.scenario.yaml`)
    /// in simulation: one line per scenario, a summary, exit 1 on a failure.
    Test(test::Args),
}

/// The outcome of a subcommand, as the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: clean.
    Clean = 0,
    /// 1: the flow has errors.
    FlowErrors = 1,
    /// 2: usage or IO error.
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Parses the command line and runs the subcommand. Clap itself exits with
/// 2 on a usage error and 0 for `--help` / `--version`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let exit = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Emit(args) => emit::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Run(args) => {
            return match run::run(&args) {
                Ok(code) => ExitCode::from(code),
                Err(exit) => exit.into(),
            };
        }
    };
    exit.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
