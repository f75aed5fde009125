//! Writing to the terminal: diagnostics in each message format, colour
//! detection, and plain stdout/stderr writes that never panic (a closed pipe,
//! as in `flowc check | head`, is not a crash).

use flowc::diagnostic::render;
use flowc::{Diagnostic, Severity, Source};
use std::io::{IsTerminal, Write};

/// How `flowc check` prints diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MessageFormat {
    /// Graphical reports for people (colour only on a terminal, and never
    /// when NO_COLOR is set).
    #[default]
    Human,
    /// JSON Lines: one object per diagnostic.
    Json,
    /// GitHub Actions annotations: one `::error …` line per diagnostic.
    Github,
}

/// Which standard stream a text goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Whether to colour output on `stream`: only for a terminal, and not when
/// `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
pub fn color(stream: Stream) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let terminal = match stream {
        Stream::Stdout => std::io::stdout().is_terminal(),
        Stream::Stderr => std::io::stderr().is_terminal(),
    };
    terminal && !no_color
}

/// Writes `text` as it is; a failed write (closed pipe) is ignored.
pub fn write(stream: Stream, text: &str) {
    let _ = match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        }
        Stream::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(text.as_bytes()).and_then(|()| err.flush())
        }
    };
}

/// Writes `text` and a newline to stderr.
pub fn eprint_line(text: &str) {
    write(Stream::Stderr, &format!("{text}\n"));
}

/// Renders a source's diagnostics in `format`: human reports, or one line per
/// diagnostic for the machine formats.
pub fn render(
    format: MessageFormat,
    source: &Source,
    diagnostics: &[Diagnostic],
    color: bool,
) -> String {
    match format {
        MessageFormat::Human => render::human(source, diagnostics, color),
        MessageFormat::Json => diagnostics
            .iter()
            .map(|d| format!("{}\n", render::json(source, d)))
            .collect(),
        MessageFormat::Github => diagnostics
            .iter()
            .map(|d| format!("{}\n", render::github(source, d)))
            .collect(),
    }
}

/// Error and warning counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
}

impl Counts {
    /// Adds a set of diagnostics.
    pub fn add(&mut self, diagnostics: &[Diagnostic]) {
        for d in diagnostics {
            match d.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
            }
        }
    }
}

/// `3 files`, `1 error`, … (English plural).
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The closing line of `flowc check`: `checked 8 files: 0 errors, 1 warning`.
pub fn summary(files: usize, counts: Counts) -> String {
    format!(
        "checked {}: {}, {}",
        plural(files, "file"),
        plural(counts.errors, "error"),
        plural(counts.warnings, "warning")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_pluralises() {
        let counts = Counts {
            errors: 0,
            warnings: 1,
        };
        assert_eq!(summary(8, counts), "checked 8 files: 0 errors, 1 warning");
        let counts = Counts {
            errors: 1,
            warnings: 2,
        };
        assert_eq!(summary(1, counts), "checked 1 file: 1 error, 2 warnings");
    }
}
