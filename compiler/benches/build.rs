//! `flowc build` against the floor of any flow binary: `cargo bench -p flowc --bench build`.
//!
//! - **Warm** (always): one target dir, already holding the compiled runtime.
//!   `flowc build flows/kintone_delivery_sync.flow.yaml` after an edit (the
//!   crate's `main.rs` touched, so cargo recompiles and relinks it; the
//!   measured time includes check, code generation and the copy of the
//!   binary) against the floor: `cargo build` of an empty binary that
//!   depends on `flowc_runtime`, after touching its `main.rs`, in the same
//!   target dir, in the same run. Median of `FLOWC_BENCH_RUNS` (default 5)
//!   runs each. Target: ratio ≤ 1.3.
//! - **Cold** (opt-in, `FLOWC_BENCH_COLD=1`, takes minutes): the same two
//!   builds, each in a fresh, empty target dir (the runtime and every
//!   dependency compiled from scratch). Target: ratio ≤ 1.1.
//!
//! Target dirs live under cargo's tmp dir (`target/tmp/flowc-bench-*`); the
//! cold ones are deleted afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const FLOW: &str = "flows/kintone_delivery_sync.flow.yaml";

/// The `flowc` under test; `FLOWC_BIN` overrides it (when other builds
/// share the target dir and may replace cargo's copy meanwhile).
fn flowc_bin() -> PathBuf {
    std::env::var_os("FLOWC_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_flowc")))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let out = cmd.output().expect("spawn");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn touch(path: &Path) {
    let f = std::fs::File::options()
        .append(true)
        .open(path)
        .expect("open to touch");
    f.set_modified(std::time::SystemTime::now()).expect("touch");
}

/// An empty binary crate depending on `flowc_runtime` (the floor), built with
/// the generated crates' dev profile. `main_rs` is its whole program.
fn floor_crate(dir: &Path, name: &str, main_rs: &str) -> PathBuf {
    let runtime = workspace().join("runtime");
    std::fs::create_dir_all(dir.join("src")).expect("floor dir");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\nflowc_runtime = {{ path = {:?} }}\n\n[workspace]\n\n{}",
            runtime.display().to_string(),
            flowc::driver::DEV_PROFILE,
        ),
    )
    .expect("floor Cargo.toml");
    std::fs::write(dir.join("src/main.rs"), main_rs).expect("floor main.rs");
    if !dir.join("Cargo.lock").exists() {
        std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock");
    }
    dir.join("Cargo.toml")
}

fn floor_build(manifest: &Path, target: &Path) -> Duration {
    run(Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target))
}

fn flowc_build(target: &Path, out: &Path) -> Duration {
    run(Command::new(flowc_bin())
        .current_dir(workspace())
        .env("FLOWC_TARGET_DIR", target)
        .args(["build", FLOW, "-o"])
        .arg(out))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let runs: usize = std::env::var("FLOWC_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5)
        .max(1);

    // ---- warm
    let target = tmp.join("flowc-bench-warm");
    // The floor: an empty binary (it uses a constant of the runtime, so the
    // linker keeps next to none of it).
    let floor = floor_crate(
        &tmp.join("flowc-bench-floor"),
        "flowc-bench-floor",
        "fn main() {\n    std::process::exit(i32::from(flowc_runtime::http::DEFAULT_TIMEOUT.is_zero()));\n}\n",
    );
    // For scale: an empty binary that runs the runtime's CLI, so it links the
    // whole runtime and its dependencies, as every flow binary must.
    let linked = floor_crate(
        &tmp.join("flowc-bench-linked-floor"),
        "flowc-bench-linked-floor",
        "fn main() {\n    flowc_runtime::cli::main_erased()\n}\n",
    );
    let bin = tmp.join("flowc-bench-bin");
    // Warm-up: builds the runtime and the three crates once.
    floor_build(&floor, &target);
    floor_build(&linked, &target);
    flowc_build(&target, &bin);
    let main_rs = target.join("flowc-crates/kintone_delivery_sync/src/main.rs");
    let floor_main = floor.with_file_name("src").join("main.rs");
    let linked_main = linked.with_file_name("src").join("main.rs");
    let (mut ours, mut floors, mut linkeds) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        touch(&floor_main);
        floors.push(floor_build(&floor, &target));
        touch(&linked_main);
        linkeds.push(floor_build(&linked, &target));
        touch(&main_rs);
        ours.push(flowc_build(&target, &bin));
    }
    let (ours, floors, linkeds) = (median(ours), median(floors), median(linkeds));
    println!(
        "warm: flowc build {:.2}s, floor {:.2}s, ratio {:.2} (target <= 1.3; median of {runs}); \
         an empty binary linking the runtime {:.2}s, ratio to it {:.2}",
        ours.as_secs_f64(),
        floors.as_secs_f64(),
        ours.as_secs_f64() / floors.as_secs_f64(),
        linkeds.as_secs_f64(),
        ours.as_secs_f64() / linkeds.as_secs_f64()
    );

    // ---- cold (opt-in)
    if std::env::var_os("FLOWC_BENCH_COLD").is_some_and(|v| v == "1") {
        let (a, b) = (
            tmp.join("flowc-bench-cold-flow"),
            tmp.join("flowc-bench-cold-floor"),
        );
        for d in [&a, &b] {
            let _ = std::fs::remove_dir_all(d);
        }
        let ours = flowc_build(&a, &bin);
        let floors = floor_build(&floor, &b);
        println!(
            "cold: flowc build {:.1}s, floor {:.1}s, ratio {:.2} (target <= 1.1)",
            ours.as_secs_f64(),
            floors.as_secs_f64(),
            ours.as_secs_f64() / floors.as_secs_f64()
        );
        for d in [&a, &b] {
            let _ = std::fs::remove_dir_all(d);
        }
    } else {
        println!("cold: skipped (set FLOWC_BENCH_COLD=1 to measure; takes minutes)");
    }
}
