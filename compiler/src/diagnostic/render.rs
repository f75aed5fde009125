//! Renders diagnostics for people and for machines:
//! - [`human`]: miette's graphical report (colour only when asked for);
//! - [`json`]: one JSON object per diagnostic (JSON Lines);
//! - [`github`]: GitHub Actions workflow-command annotations.

use super::{Diagnostic, Severity};
use crate::source::Source;
use crate::span::Span;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use serde_json::json;
use std::fmt;

/// miette's view of one of our diagnostics.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: &'a NamedSource<String>,
    code: String,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(&self.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let len = self.source.inner().len();
        Some(Box::new(self.diagnostic.labels.iter().map(move |l| {
            let span = clamp(l.span, len);
            let text = (!l.message.is_empty()).then(|| l.message.clone());
            if l.primary {
                LabeledSpan::new_primary_with_span(text, span)
            } else {
                LabeledSpan::new_with_span(text, span)
            }
        })))
    }
}

/// Keeps a span inside the source so rendering never fails.
fn clamp(span: Span, len: usize) -> Span {
    let start = (span.start as usize).min(len);
    let end = (span.end as usize).clamp(start, len);
    Span::new(start, end)
}

/// Renders diagnostics as miette reports, separated by blank lines.
/// `color` turns on ANSI colours (only for a terminal).
pub fn human(source: &Source, diagnostics: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let named = NamedSource::new(&source.name, source.text.clone());
    let mut out = String::new();
    for d in diagnostics {
        let report = Report {
            diagnostic: d,
            source: &named,
            code: d.code.as_str().to_owned(),
        };
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering into a String cannot fail; keep the message anyway.
            out.push_str(&d.message);
        }
        out.push('\n');
    }
    out
}

/// One diagnostic as a JSON object: file, 1-based line/column of the primary
/// span's start and end, code, severity, message, labels and help.
pub fn json(source: &Source, d: &Diagnostic) -> serde_json::Value {
    let position = |span: Span| {
        let (line, column) = source.line_col(span.start);
        let (end_line, end_column) = source.line_col(span.end);
        (line, column, end_line, end_column)
    };
    let (line, column, end_line, end_column) = position(d.primary_span());
    let labels: Vec<_> = d
        .labels
        .iter()
        .map(|l| {
            let (line, column, end_line, end_column) = position(l.span);
            json!({
                "line": line, "column": column,
                "end_line": end_line, "end_column": end_column,
                "message": l.message, "primary": l.primary,
            })
        })
        .collect();
    json!({
        "file": source.name,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "code": d.code.as_str(),
        "severity": d.severity.as_str(),
        "message": d.message,
        "labels": labels,
        "help": d.help,
    })
}

/// One diagnostic as a GitHub Actions annotation
/// (`::error file=…,line=…,col=…,endLine=…,endColumn=…,title=…::message`).
pub fn github(source: &Source, d: &Diagnostic) -> String {
    let span = d.primary_span();
    let (line, col) = source.line_col(span.start);
    let (end_line, end_col) = source.line_col(span.end);
    let command = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut message = d.message.clone();
    if let Some(label) = d.labels.iter().find(|l| l.primary && !l.message.is_empty()) {
        message.push_str(&format!(" ({})", label.message));
    }
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    format!(
        "::{command} file={},line={line},col={col},endLine={end_line},endColumn={end_col},title={}::{}",
        escape_property(&source.name),
        escape_property(&format!("{} {}", d.code.as_str(), d.code.title())),
        escape_data(&message),
    )
}

/// Escaping of a workflow command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping of a workflow command's property values.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Code;
    use crate::source::Syntax;

    fn sample() -> (Source, Diagnostic) {
        let source = Source::new(
            "f.flow.yaml",
            "flow: x\nsteps:\n  - id: a, b\n",
            Syntax::Yaml,
        );
        let d = Diagnostic::new(
            Code::UnknownReference,
            "unknown data item `custmer`",
            Span::new(23, 24),
            "not declared",
        )
        .with_label(Span::new(0, 4), "declared here")
        .with_help("did you mean `customer`?");
        (source, d)
    }

    #[test]
    fn json_has_one_based_positions() {
        let (source, d) = sample();
        let v = json(&source, &d);
        assert_eq!(v["line"], 3);
        assert_eq!(v["column"], 9);
        assert_eq!(v["end_column"], 10);
        assert_eq!(v["code"], "E0101");
        assert_eq!(v["severity"], "error");
        assert_eq!(v["labels"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["help"], "did you mean `customer`?");
    }

    #[test]
    fn github_escapes_properties_and_newlines() {
        let (mut source, d) = sample();
        source.name = "a,b:c.flow.yaml".into();
        let line = github(&source, &d);
        assert!(
            line.starts_with("::error file=a%2Cb%3Ac.flow.yaml,line=3,col=9,"),
            "{line}"
        );
        assert!(
            line.contains("::unknown data item `custmer` (not declared)%0Ahelp: did you mean"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn human_has_code_labels_and_help_without_colour() {
        let (source, d) = sample();
        let text = human(&source, &[d], false);
        assert!(text.contains("E0101"), "{text}");
        assert!(text.contains("not declared"), "{text}");
        assert!(text.contains("did you mean `customer`?"), "{text}");
        assert!(!text.contains('\u{1b}'), "no ANSI escapes: {text}");
    }

    #[test]
    fn spans_past_the_end_do_not_fail() {
        let (source, mut d) = sample();
        d.labels[0].span = Span::new(500, 900);
        let text = human(&source, &[d.clone()], false);
        assert!(text.contains("E0101"));
        let _ = json(&source, &d);
        let _ = github(&source, &d);
    }
}
