//! `flowc run FILE [--release] -- ARGS`: build the flow if needed (cargo
//! skips an up-to-date crate), then run its binary with `ARGS`, like
//! `cargo run`. The exit status is the binary's.

use std::path::PathBuf;
use std::process::Command;

use super::Exit;
use super::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flow file (`*.flow.yaml` or `*.flow`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Build with optimizations.
    #[arg(long)]
    release: bool,
    /// Arguments for the flow's binary (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

/// Runs `flowc run`; returns the binary's exit code.
pub fn run(args: &Args) -> Result<u8, Exit> {
    let bin = super::build::compile(&args.file, args.release)?;
    match Command::new(&bin).args(&args.args).status() {
        Ok(status) => Ok(status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1)),
        Err(e) => {
            output::eprint_line(&format!("error: cannot run `{}`: {e}", bin.display()));
            Err(Exit::Usage)
        }
    }
}
