//! Building the flows of `flows/` into binaries, for the tests that run them.
//!
//! All builds go to one persistent target dir under cargo's test tmp dir
//! (`target/tmp/flowc-flows`): the first run builds flowc_runtime and its
//! dependencies once (minutes on two cores), later runs are warm.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use flowc::driver::{self, FlowCrate, Toolchain};
use flowc::{Source, Syntax};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

pub fn toolchain() -> Toolchain {
    let mut t = Toolchain::from_env();
    t.target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flowc-flows");
    t
}

/// The generated crate of a flow given as text.
pub fn generate(name: &str, text: &str, syntax: Syntax) -> FlowCrate {
    let checked = flowc::check(&Source::new(name, text.to_string(), syntax));
    let ir = checked
        .ir
        .unwrap_or_else(|| panic!("{name}: {:#?}", checked.diagnostics));
    FlowCrate {
        flow_name: ir.name.clone(),
        main_rs: flowc::codegen::generate(&ir),
    }
}

/// The generated crate of `flows/<flow>.flow.yaml`.
pub fn flow_crate(flow: &str) -> FlowCrate {
    let path = workspace().join("flows").join(format!("{flow}.flow.yaml"));
    let text = std::fs::read_to_string(&path).expect("flow file");
    generate(&path.to_string_lossy(), &text, Syntax::Yaml)
}

/// Writes and builds a crate (debug), returning the binary.
pub fn build(krate: &FlowCrate, t: &Toolchain) -> PathBuf {
    let dir = t.crate_dir(krate);
    driver::emit(krate, &dir, t).expect("emit");
    driver::build(krate, &dir, t, false).unwrap_or_else(|e| panic!("{e}"))
}

/// Binaries built by this test process, by flow name.
fn built() -> std::sync::MutexGuard<'static, HashMap<String, PathBuf>> {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The binary of `flows/<flow>.flow.yaml`, built once per test process (tests of
/// one binary run in parallel and would otherwise write the same crate at once).
pub fn build_flow(flow: &str) -> PathBuf {
    built()
        .entry(flow.to_string())
        .or_insert_with(|| build(&flow_crate(flow), &toolchain()))
        .clone()
}

/// The binary of a test copy of a flow (YAML `text`), built once per test
/// process. The copy must have a flow name of its own (`flow: …_e2e`): the
/// crate directory is named after the flow, so a copy under the product
/// flow's name would rebuild over it.
pub fn build_flow_text(text: &str) -> PathBuf {
    let krate = generate("test copy", text, Syntax::Yaml);
    built()
        .entry(krate.flow_name.clone())
        .or_insert_with(|| build(&krate, &toolchain()))
        .clone()
}

/// The binary of a test copy of `flows/<flow>.flow.yaml` with `edits` made
/// (each `(from, to)`: `from` must stand exactly once in the flow file, so a
/// change to the product flow that the copy no longer matches fails loudly).
/// The edits must rename the flow (see [`build_flow_text`]).
pub fn build_flow_variant(flow: &str, edits: &[(&str, &str)]) -> PathBuf {
    let path = workspace().join("flows").join(format!("{flow}.flow.yaml"));
    let text = std::fs::read_to_string(path).expect("flow file");
    let mut out = text.clone();
    for (from, to) in edits {
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}`: the test copy needs updating"
        );
        out = out.replace(from, to);
    }
    build_flow_text(&out)
}

/// A child process killed (and reaped) when dropped, so a failing test
/// leaves no worker or simulator behind.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Every row of `sql` in a flow's SQLite store, read while its workers may
/// be writing it (each column as text, NULL as `None`); none while the store
/// is not there yet or busy past the timeout.
pub fn store_rows(store: &Path, sql: &str) -> Vec<Vec<Option<String>>> {
    if !store.exists() {
        return Vec::new();
    }
    let Ok(c) =
        rusqlite::Connection::open_with_flags(store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let _ = c.busy_timeout(std::time::Duration::from_secs(10));
    let Ok(mut st) = c.prepare(sql) else {
        return Vec::new();
    };
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n).map(|i| r.get::<_, Option<String>>(i)).collect()
    })
    .map(|rows| rows.filter_map(Result::ok).collect())
    .unwrap_or_default()
}

/// (the data item `key`, state, data) of every issue in a flow's SQLite store.
pub fn issues_by(store: &Path, key: &str) -> Vec<(String, String, serde_json::Value)> {
    store_rows(store, "SELECT state, data FROM issues")
        .into_iter()
        .map(|r| {
            let data: serde_json::Value = serde_json::from_str(r[1].as_deref().unwrap_or_default())
                .unwrap_or(serde_json::Value::Null);
            let k = data[key].as_str().unwrap_or_default().to_string();
            (k, r[0].clone().unwrap_or_default(), data)
        })
        .collect()
}
