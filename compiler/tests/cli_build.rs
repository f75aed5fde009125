//! `flowc build|emit|run` refuse a flow with errors: diagnostics on stderr,
//! exit 1, nothing written. (Successful builds: tests/build_flows.rs.)

use std::path::PathBuf;
use std::process::Command;

fn flowc_bin() -> PathBuf {
    std::env::var_os("FLOWC_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_flowc")))
}

const BROKEN: &str = "flow: broken\ndata:\n  n: { type: integer }\nstart: input\nsteps:\n  - id: a\n    set: { m: \"${n}\" }\n";

#[test]
fn build_emit_and_run_refuse_a_flow_with_errors() {
    let dir = std::env::temp_dir().join(format!("flowc-cli-build-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let flow = dir.join("broken.flow.yaml");
    std::fs::write(&flow, BROKEN).expect("write flow");
    let bin = dir.join("broken-bin");
    let out_dir = dir.join("crate");
    let cases: [Vec<std::ffi::OsString>; 3] = [
        vec![
            "build".into(),
            flow.clone().into(),
            "-o".into(),
            bin.clone().into(),
        ],
        vec![
            "emit".into(),
            flow.clone().into(),
            "--out".into(),
            out_dir.clone().into(),
        ],
        vec!["run".into(), flow.into(), "--".into(), "--help".into()],
    ];
    for args in cases {
        let out = Command::new(flowc_bin())
            .args(&args)
            .env("FLOWC_TARGET_DIR", dir.join("target"))
            .output()
            .expect("run flowc");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("E0"), "{args:?}: no diagnostic in {stderr}");
        assert!(stderr.contains("nothing was built"), "{args:?}: {stderr}");
    }
    assert!(!bin.exists() && !out_dir.exists() && !dir.join("target").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn build_rejects_a_file_that_is_not_a_flow() {
    let out = Command::new(flowc_bin())
        .args(["build", "Cargo.toml", "-o", "x"])
        .output()
        .expect("run flowc");
    assert_eq!(out.status.code(), Some(2));
}
