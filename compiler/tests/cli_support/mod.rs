//! Shared helpers of the CLI tests: running the real `flowc` binary,
//! temporary directories, the flows under `flows/`, and fixtures.
//!
//! No `tempfile` dependency: a directory under `std::env::temp_dir()` with a
//! unique name (process id, a counter and the time) is all these tests need.

#![allow(dead_code)]

pub mod fixtures;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a run of `flowc` did.
#[derive(Debug)]
pub struct Run {
    /// The arguments `flowc` was run with.
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the whole output unless the exit code is `code`; also
    /// asserts that nothing panicked.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{self:#?}");
        self.no_panic()
    }

    /// Asserts that the process did not panic.
    #[track_caller]
    pub fn no_panic(&self) -> &Self {
        assert!(
            !self.stderr.contains("panicked"),
            "flowc panicked\n{self:#?}"
        );
        self
    }

    /// Every stdout line parsed as JSON (JSON Lines).
    #[track_caller]
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}\n{self:#?}"))
            })
            .collect()
    }
}

/// The `flowc` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_flowc")
}

/// Runs `flowc` with `args` (in `cwd` when given), without colour.
pub fn flowc_in(cwd: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_remove("NO_COLOR");
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let out = cmd.output().expect("run flowc");
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        // A signal (no code) counts as a crash.
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `flowc` with `args`.
pub fn flowc(args: &[&str]) -> Run {
    flowc_in(None, args)
}

/// A fresh directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "flowc-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` (parent directories created) and returns
    /// the path as a string.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, contents).expect("write fixture");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The repository root (the workspace above `compiler/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("compiler/ has a parent")
        .to_path_buf()
}

/// Every flow file under `flows/`, sorted. Panics when there is none: tests
/// over the real flows must not pass vacuously.
pub fn flow_files() -> Vec<PathBuf> {
    let dir = repo_root().join("flows");
    let mut files = Vec::new();
    collect(&dir, &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no flow files under {}: the tests over the real flows need them",
        dir.display()
    );
    files
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if syntax_of(&path).is_some() {
            files.push(path);
        }
    }
}

/// The syntax a path implies.
pub fn syntax_of(path: &Path) -> Option<flowc::Syntax> {
    flowc::Syntax::from_path(path.file_name()?.to_str()?)
}

/// Loads a file as a [`flowc::Source`] (panics on a non-text file).
pub fn source_of(path: &Path) -> flowc::Source {
    let bytes = std::fs::read(path).expect("read flow");
    let syntax = syntax_of(path).expect("a flow file");
    match flowc::load(&path.to_string_lossy(), bytes, syntax) {
        Ok(source) => source,
        Err(e) => panic!("{}: {}", path.display(), e.1.message),
    }
}

/// Checks a GitHub Actions annotation line against
/// `^::(error|warning) file=[^,]+,line=\d+,col=\d+,endLine=\d+,endColumn=\d+,title=[^:]+::.+$`
/// without a regex dependency.
pub fn is_github_annotation(line: &str) -> bool {
    let rest = match line
        .strip_prefix("::error ")
        .or_else(|| line.strip_prefix("::warning "))
    {
        Some(rest) => rest,
        None => return false,
    };
    let Some(rest) = rest.strip_prefix("file=") else {
        return false;
    };
    let Some(comma) = rest.find(',') else {
        return false;
    };
    if comma == 0 {
        return false;
    }
    let mut rest = &rest[comma + 1..];
    for key in ["line=", "col=", "endLine=", "endColumn="] {
        let Some(r) = rest.strip_prefix(key) else {
            return false;
        };
        let digits = r.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || !r[digits..].starts_with(',') {
            return false;
        }
        rest = &r[digits + 1..];
    }
    let Some(r) = rest.strip_prefix("title=") else {
        return false;
    };
    let Some(colon) = r.find(':') else {
        return false;
    };
    colon > 0 && r[colon..].starts_with("::") && r.len() > colon + 2
}

/// 1-based line and column of the first occurrence of `needle` in `text`
/// (columns count characters).
pub fn position_of(text: &str, needle: &str) -> (u64, u64) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in fixture"));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..at].chars().count() + 1;
    (line as u64, column as u64)
}
