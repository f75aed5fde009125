//! What the tests that run the three-`http`-step flow in child processes of
//! their own binary share (`harness = false`: crash, failover, sigterm): the
//! `main` that is the flow's CLI in a child and the test otherwise, and the
//! child's command.

use std::ffi::OsStr;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Set in a child: the binary runs the flow instead of the test.
const CHILD: &str = "FLOWC_CRASH_CHILD";

/// The test binary's `main`: in a child, the flow's CLI; else `test`,
/// reported as libtest reports a test named `name`.
pub fn test_main(name: &str, test: fn()) {
    if std::env::var_os(CHILD).is_some() {
        let args = std::env::args_os().skip(1);
        std::process::exit(flowc_runtime::cli::run::<crate::three_http::ThreeHttp>(
            std::iter::once("three_http".into()).chain(args),
        ));
    }
    let started = Instant::now();
    println!("running 1 test");
    test();
    println!("test {name} ... ok ({:.1?})", started.elapsed());
    println!();
    println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}

/// This binary as the flow's CLI on `store`, its calls going to `server`,
/// with `args`; stdin and stdout closed (the caller sets the rest).
pub fn child(store: impl AsRef<OsStr>, server: &str, args: &[&str]) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("current exe"));
    c.env(CHILD, "1")
        .env("FLOWC_API_BASE_URL", server)
        .arg("--store")
        .arg(store)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}
