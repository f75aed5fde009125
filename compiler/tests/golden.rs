//! Golden files: the generated `main.rs` of every flow in `flows/` is checked
//! in under `tests/golden/<flow>.rs`. Both syntaxes of a flow lower to one IR,
//! so both must generate exactly the golden file. `FLOWC_BLESS=1` rewrites
//! the files after an intended change to the generator.

use std::path::{Path, PathBuf};

use flowc::{Source, Syntax};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the compiler lives in the workspace")
        .to_path_buf()
}

/// Every flow file in `flows/`, sorted.
fn flow_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join("flows"))
        .expect("flows/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| Syntax::from_path(&p.to_string_lossy()).is_some())
        .collect();
    files.sort();
    files
}

/// Checks and generates one flow file: (flow name, main.rs).
fn generate(path: &Path) -> (String, String) {
    let syntax = Syntax::from_path(&path.to_string_lossy()).expect("a flow file");
    let text = std::fs::read_to_string(path).expect("readable");
    let checked = flowc::check(&Source::new(&*path.to_string_lossy(), text, syntax));
    let ir = checked
        .ir
        .unwrap_or_else(|| panic!("{} has errors: {:#?}", path.display(), checked.diagnostics));
    (ir.name.clone(), flowc::codegen::generate(&ir))
}

#[test]
fn generated_code_matches_the_golden_files() {
    let bless = std::env::var_os("FLOWC_BLESS").is_some_and(|v| v == "1");
    let dir = workspace().join("compiler/tests/golden");
    let mut drift = Vec::new();
    let files = flow_files();
    assert!(
        files.len() >= 18,
        "expected both syntaxes of every flow in flows/"
    );
    for path in &files {
        let (name, code) = generate(path);
        let golden = dir.join(format!("{name}.rs"));
        if bless {
            if std::fs::read_to_string(&golden).ok().as_deref() != Some(code.as_str()) {
                std::fs::write(&golden, &code).expect("write golden file");
            }
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(expected) if expected == code => {}
            Ok(_) => drift.push(format!(
                "{} generates code that differs from {}",
                path.display(),
                golden.display()
            )),
            Err(_) => drift.push(format!(
                "{} has no golden file {}",
                path.display(),
                golden.display()
            )),
        }
    }
    assert!(
        drift.is_empty(),
        "{}\n(rerun with FLOWC_BLESS=1 to accept an intended change)",
        drift.join("\n")
    );
}

#[test]
fn every_golden_file_belongs_to_a_flow() {
    let names: Vec<String> = flow_files().iter().map(|p| generate(p).0).collect();
    for entry in std::fs::read_dir(workspace().join("compiler/tests/golden")).expect("golden/") {
        let path = entry.expect("dir entry").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            names.contains(&stem),
            "stale golden file {}",
            path.display()
        );
    }
}

#[test]
fn generation_is_deterministic() {
    for path in flow_files() {
        assert_eq!(generate(&path), generate(&path), "{}", path.display());
    }
}
