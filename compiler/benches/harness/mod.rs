//! What the provider benchmarks share (`stripe.rs`, `paypal.rs`): the flow
//! build, the timed `run --once` of the flow binary, and the bounded
//! concurrency of the plain reqwest loop it is compared with.

#![allow(dead_code)] // each bench uses its part

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowc::driver::{self, FlowCrate, Toolchain};
use flowc::{Source, Syntax};

pub fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// `cargo bench` passes `--bench`; `cargo test --benches` does not: then a tiny run.
pub fn quick() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// `flowc build` of a flow given as YAML text (release for the measurement,
/// debug for the quick run).
pub fn build_flow_text(name: &str, text: &str, release: bool) -> PathBuf {
    let checked = flowc::check(&Source::new(
        name.to_string(),
        text.to_string(),
        Syntax::Yaml,
    ));
    let ir = checked.ir.expect("the flow checks clean");
    let krate = FlowCrate {
        flow_name: ir.name.clone(),
        main_rs: flowc::codegen::generate(&ir),
    };
    let mut t = Toolchain::from_env();
    t.target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flowc-flows");
    let dir = t.crate_dir(&krate);
    driver::emit(&krate, &dir, &t).expect("emit");
    driver::build(&krate, &dir, &t, release).unwrap_or_else(|e| panic!("{e}"))
}

/// `flowc build` of `flows/…` under the workspace.
pub fn build_flow(rel: &str, release: bool) -> PathBuf {
    let path = workspace().join(rel);
    let text = std::fs::read_to_string(&path).expect("flow file");
    build_flow_text(&path.to_string_lossy(), &text, release)
}

/// The flow binary on `records`: `start --file` (not timed), then `run --once
/// --concurrency conc` (timed) until nothing is due. `env` configures the binary.
pub fn run_flow(bin: &Path, env: &[(&str, String)], records: &[String], conc: usize) -> Duration {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("bench.db");
    let input = dir.path().join("records.jsonl");
    std::fs::write(&input, records.join("\n")).expect("records");
    let cmd = |args: &[&str]| {
        let mut c = Command::new(bin);
        for (k, v) in env {
            c.env(k, v);
        }
        c.env("FLOWC_LOG", "error")
            .arg("--store")
            .arg(&store)
            .args(args);
        c
    };
    let out = cmd(&["start", "--file"])
        .arg(&input)
        .output()
        .expect("start");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conc = conc.to_string();
    let t = Instant::now();
    let out = cmd(&["run", "--once", "--concurrency", &conc])
        .output()
        .expect("run");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// Runs `issue(i)` for `0..issues`, at most `conc` at a time; issues per second.
pub async fn bounded<F, Fut>(issues: usize, conc: usize, issue: F) -> f64
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(conc));
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..issues {
        let sem = sem.clone();
        let work = issue(i);
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore");
            work.await;
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    issues as f64 / t.elapsed().as_secs_f64()
}
