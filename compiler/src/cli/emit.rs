//! `flowc emit FILE --out DIR`: check the flow and write its generated crate
//! (Cargo.toml, Cargo.lock, src/main.rs) to `DIR` without building it.

use std::path::PathBuf;

use flowc::driver::{self, Toolchain};

use super::Exit;
use super::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flow file (`*.flow.yaml` or `*.flow`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The directory to write the crate to.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `flowc emit`.
pub fn run(args: &Args) -> Exit {
    let krate = match super::build::generate(&args.file) {
        Ok(k) => k,
        Err(exit) => return exit,
    };
    match driver::emit(&krate, &args.out, &Toolchain::from_env()) {
        Ok(()) => {
            output::eprint_line(&format!("wrote {}", args.out.display()));
            Exit::Clean
        }
        Err(e) => {
            output::eprint_line(&format!("error: {e}"));
            Exit::Usage
        }
    }
}
