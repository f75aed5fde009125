//! Workspace-level tests live in `tests/`; this library only finds the
//! repository's flow files for them.

use std::path::{Path, PathBuf};

/// The repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Every flow file under `flows/`, sorted, as (path, is_yaml).
pub fn flow_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("flows"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.to_string_lossy();
                    name.ends_with(".flow.yaml") || name.ends_with(".flow")
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
