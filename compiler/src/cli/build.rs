//! `flowc build FILE -o BIN [--release]`: check the flow (refusing with its
//! diagnostics, exit 1, on errors), generate its crate under
//! `<target>/flowc-crates/<flow>`, build it in the shared target dir and copy
//! the binary to `BIN`. Also the shared front half of `emit` and `run`.

use std::path::{Path, PathBuf};

use flowc::driver::{self, FlowCrate, Toolchain};

use super::Exit;
use super::files;
use super::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flow file (`*.flow.yaml` or `*.flow`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Where to put the binary.
    #[arg(short = 'o', long = "output", value_name = "BIN")]
    output: PathBuf,
    /// Build with optimizations.
    #[arg(long)]
    release: bool,
}

/// Reads and checks a flow file and generates its crate; on flow errors
/// prints the diagnostics and returns exit 1, on IO errors exit 2.
pub fn generate(file: &Path) -> Result<FlowCrate, Exit> {
    let (_, checked) = files::load_and_check(file)?;
    match checked.ir {
        Some(ir) if !checked.has_errors() => Ok(FlowCrate {
            flow_name: ir.name.clone(),
            main_rs: flowc::codegen::generate(&ir),
        }),
        _ => {
            output::eprint_line(&format!(
                "error: {} has errors; nothing was built",
                file.display()
            ));
            Err(Exit::FlowErrors)
        }
    }
}

/// Emits and builds the crate in its work dir; returns the built binary.
pub fn compile(file: &Path, release: bool) -> Result<PathBuf, Exit> {
    let krate = generate(file)?;
    let toolchain = Toolchain::from_env();
    let dir = toolchain.crate_dir(&krate);
    let built = driver::emit(&krate, &dir, &toolchain)
        .and_then(|()| driver::build(&krate, &dir, &toolchain, release));
    built.map_err(|e| {
        output::eprint_line(&format!("error: {e}"));
        Exit::Usage
    })
}

/// Runs `flowc build`.
pub fn run(args: &Args) -> Exit {
    let bin = match compile(&args.file, args.release) {
        Ok(bin) => bin,
        Err(exit) => return exit,
    };
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        output::eprint_line(&format!("error: cannot create `{}`: {e}", dir.display()));
        return Exit::Usage;
    }
    // Through a temporary file renamed over BIN, so a running binary is not
    // overwritten in place. A hard link when BIN is on the target dir's file
    // system (a debug binary is over 100 MB); a copy otherwise.
    let tmp = args.output.with_extension("flowc-tmp");
    let _ = std::fs::remove_file(&tmp);
    let copied = std::fs::hard_link(&bin, &tmp)
        .or_else(|_| std::fs::copy(&bin, &tmp).map(|_| ()))
        .and_then(|()| std::fs::rename(&tmp, &args.output));
    match copied {
        Ok(()) => {
            output::eprint_line(&format!("built {}", args.output.display()));
            Exit::Clean
        }
        Err(e) => {
            output::eprint_line(&format!(
                "error: cannot write `{}`: {}",
                args.output.display(),
                files::describe(&e)
            ));
            Exit::Usage
        }
    }
}
