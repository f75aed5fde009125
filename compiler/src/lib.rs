//! The flowc compiler core: parse (YAML or DSL) -> check -> IR.
//!
//! The core is pure: it never touches the file system, the network or the
//! clock. The CLI (`main.rs`, `cli/`) reads files and hands in [`Source`]s.
//!
//! ```text
//!  *.flow.yaml --syntax::yaml--\
//!                               >-- ast::Flow --check--> ir::Flow --> (codegen)
//!  *.flow      --syntax::dsl---/
//! ```

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod driver;
pub mod graph;
pub mod ir;
pub mod schema;
pub mod source;
pub mod span;
pub mod syntax;

pub use diagnostic::{Code, Diagnostic, Diagnostics, Severity};
pub use source::{Source, Syntax};
pub use span::Span;

/// The outcome of checking one source.
#[derive(Debug)]
pub struct Checked {
    /// The AST, when the file could be parsed (possibly with errors inside).
    pub ast: Option<ast::Flow>,
    /// The IR, when there were no errors.
    pub ir: Option<ir::Flow>,
    /// Every diagnostic, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Turns raw file bytes into a [`Source`], or a diagnostic when the bytes are
/// not text (not UTF-8, or binary with NUL bytes).
pub fn load(
    name: &str,
    bytes: Vec<u8>,
    syntax: Syntax,
) -> Result<Source, Box<(Source, Diagnostic)>> {
    let invalid_at = match std::str::from_utf8(&bytes) {
        Ok(text) => text.find('\0'),
        Err(e) => Some(e.valid_up_to()),
    };
    match invalid_at {
        None => {
            let text = String::from_utf8(bytes).unwrap_or_default();
            Ok(Source::new(name, text, syntax))
        }
        Some(at) => {
            // Keep the readable prefix so the location can be shown.
            let prefix = String::from_utf8_lossy(&bytes[..at]).into_owned();
            let source = Source::new(name, prefix, syntax);
            let d = Diagnostic::new(
                Code::FileNotText,
                "this file is not a text flow file",
                Span::point(at),
                format!("byte {at} is not UTF-8 text"),
            )
            .with_help("flow files are UTF-8 text: `*.flow.yaml` (YAML) or `*.flow` (DSL)");
            Err(Box::new((source, d)))
        }
    }
}

/// Parses a source with the front end for its syntax.
pub fn parse(source: &Source) -> (Option<ast::Flow>, Diagnostics) {
    match source.syntax {
        Syntax::Yaml => syntax::yaml::parse(source),
        Syntax::Dsl => syntax::dsl::parse(source),
    }
}

/// Parses and checks a source: every diagnostic of every phase.
pub fn check(source: &Source) -> Checked {
    let (ast, mut diagnostics) = parse(source);
    let mut ir = None;
    if let Some(flow) = &ast {
        let (lowered, more) = check::check(flow);
        diagnostics.extend(more);
        if !diagnostics.has_errors() {
            ir = lowered;
        }
    }
    Checked {
        ast,
        ir,
        diagnostics: diagnostics.into_sorted(),
    }
}
