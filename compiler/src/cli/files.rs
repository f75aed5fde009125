//! Finding and reading flow files: the only place `flowc` touches the file
//! system for its inputs.

use super::Exit;
use super::output::{self, MessageFormat, Stream};
use flowc::{Diagnostic, Source, Syntax};
use std::fmt;
use std::path::{Path, PathBuf};

/// A flow file to read, with the syntax its name implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    pub syntax: Syntax,
}

impl Input {
    /// The name diagnostics show: the path as found.
    pub fn name(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

/// A usage or IO problem (exit 2), as a message for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoError(pub String);

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The syntax of a flow file name, if it is one.
pub fn syntax_of(path: &Path) -> Option<Syntax> {
    let name = path.file_name()?.to_str()?;
    Syntax::from_path(name)
}

/// Expands the command-line paths: a file is taken as it is (it must have a
/// flow extension), a directory is searched recursively for flow files
/// (hidden entries skipped, symlinked directories not followed), sorted so
/// the order is deterministic; a file found twice is kept once. Returns the
/// inputs and every problem found.
pub fn collect(paths: &[PathBuf]) -> (Vec<Input>, Vec<IoError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Err(e) => errors.push(IoError(format!(
                "cannot read `{}`: {}",
                path.display(),
                describe(&e)
            ))),
            Ok(meta) if meta.is_dir() => {
                let before = inputs.len();
                walk(path, &mut inputs, &mut errors);
                if inputs.len() == before {
                    errors.push(IoError(format!(
                        "no flow files (*.flow.yaml, *.flow.yml, *.flow) found in `{}`",
                        path.display()
                    )));
                }
            }
            Ok(_) => match syntax_of(path) {
                Some(syntax) => inputs.push(Input {
                    path: path.clone(),
                    syntax,
                }),
                None => errors.push(IoError(format!(
                    "`{}` is not a flow file: expected a name ending in .flow.yaml, .flow.yml or .flow",
                    path.display()
                ))),
            },
        }
    }
    // A file named twice (`flowc check flows/ flows/a.flow`) is checked once.
    let mut seen = std::collections::HashSet::new();
    inputs.retain(|i| seen.insert(i.path.clone()));
    (inputs, errors)
}

/// Adds the flow files under `dir` in sorted order.
fn walk(dir: &Path, inputs: &mut Vec<Input>, errors: &mut Vec<IoError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(IoError(format!(
                "cannot read directory `{}`: {}",
                dir.display(),
                describe(&e)
            )));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        let Ok(link) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if link.is_dir() {
            if !hidden {
                walk(&path, inputs, errors);
            }
        } else if let Some(syntax) = syntax_of(&path) {
            // A symlink to a file counts; a dangling one fails when read.
            let is_file = std::fs::metadata(&path).map_or(true, |m| m.is_file());
            if is_file && !hidden {
                inputs.push(Input { path, syntax });
            }
        }
    }
}

/// Reads an input and turns it into a [`Source`]; bytes that are not text
/// give the loader's diagnostic with the readable prefix as the source.
pub fn load(input: &Input) -> Result<Result<Source, Box<(Source, Diagnostic)>>, IoError> {
    let bytes = std::fs::read(&input.path).map_err(|e| {
        IoError(format!(
            "cannot read `{}`: {}",
            input.path.display(),
            describe(&e)
        ))
    })?;
    Ok(flowc::load(&input.name(), bytes, input.syntax))
}

/// Reads and checks the one flow file a command (`fmt`, `graph`, `build`,
/// `emit`, `run`) works on, printing its diagnostics for people on stderr
/// (stdout may carry the command's output). `Err` holds the exit status: 2
/// when the file cannot be read or is not a flow file, 1 when it is not text.
/// The caller decides what flow errors mean for it.
pub fn load_and_check(file: &Path) -> Result<(Source, flowc::Checked), Exit> {
    let (inputs, errors) = collect(std::slice::from_ref(&file.to_path_buf()));
    if let Some(e) = errors.first() {
        output::eprint_line(&format!("error: {e}"));
        return Err(Exit::Usage);
    }
    let Some(input) = inputs.first() else {
        output::eprint_line("error: no flow file given");
        return Err(Exit::Usage);
    };
    let source = match load(input) {
        Err(e) => {
            output::eprint_line(&format!("error: {e}"));
            return Err(Exit::Usage);
        }
        Ok(Err(not_text)) => {
            let (source, d) = *not_text;
            report(&source, &[d]);
            return Err(Exit::FlowErrors);
        }
        Ok(Ok(source)) => source,
    };
    let checked = flowc::check(&source);
    report(&source, &checked.diagnostics);
    Ok((source, checked))
}

/// Prints diagnostics for people on stderr.
pub fn report(source: &Source, diagnostics: &[Diagnostic]) {
    if !diagnostics.is_empty() {
        let color = output::color(Stream::Stderr);
        let text = output::render(MessageFormat::Human, source, diagnostics, color);
        output::write(Stream::Stderr, &text);
    }
}

/// An IO error in words, without Rust's `(os error N)` suffix.
pub fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(at) => text[..at].to_owned(),
                None => text,
            }
        }
    }
}

/// Where `flowc fmt --write` puts a flow converted to `to`: beside the input,
/// with the other syntax's extension (`x.flow.yaml` <-> `x.flow`).
pub fn converted_path(path: &Path, to: Syntax) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".flow.yaml")
        .or_else(|| name.strip_suffix(".flow.yml"))
        .or_else(|| name.strip_suffix(".flow"))
        .unwrap_or(&name);
    let new_name = match (to, syntax_of(path)) {
        // Same syntax: rewrite in place, keeping `.yml` if that is the name.
        (_, Some(from)) if from == to => name.clone(),
        (Syntax::Yaml, _) => format!("{stem}.flow.yaml"),
        (Syntax::Dsl, _) => format!("{stem}.flow"),
    };
    path.with_file_name(new_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converted_paths_swap_extensions() {
        let p = Path::new("flows/a.flow.yaml");
        assert_eq!(converted_path(p, Syntax::Dsl), Path::new("flows/a.flow"));
        assert_eq!(converted_path(p, Syntax::Yaml), p);
        let p = Path::new("b.flow.yml");
        assert_eq!(converted_path(p, Syntax::Dsl), Path::new("b.flow"));
        let p = Path::new("c.flow");
        assert_eq!(converted_path(p, Syntax::Yaml), Path::new("c.flow.yaml"));
    }

    #[test]
    fn syntax_follows_the_file_name() {
        assert_eq!(syntax_of(Path::new("x/a.flow.yml")), Some(Syntax::Yaml));
        assert_eq!(syntax_of(Path::new("a.flow")), Some(Syntax::Dsl));
        assert_eq!(syntax_of(Path::new("a.yaml")), None);
        assert_eq!(syntax_of(Path::new("flow")), None);
    }
}
