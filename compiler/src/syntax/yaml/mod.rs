//! The YAML front end: `*.flow.yaml` -> [`ast::Flow`](crate::ast::Flow), and
//! back (`flowc fmt --to yaml`).
//!
//! We read YAML with `granit_parser`, the event parser behind serde-saphyr,
//! directly rather than through serde: diagnostics need a byte span on every
//! key and every scalar, and the value rules of the language (a plain `12.50`
//! is a decimal, a quoted `"12.50"` is text, `${…}` parts are expressions
//! whose spans point into the file) need each scalar's raw text and style.
//! Serde's data model keeps none of that.
//!
//! - [`node`]: events -> a spanned node tree (duplicate keys, anchors,
//!   aliases and tags are reported there);
//! - [`scalar`]: one scalar -> an expression, a name or a dotted name;
//! - `lower`: the node tree -> the AST, reporting every error it can;
//! - [`print`]: the AST -> canonical YAML.

mod emit;
pub mod keys;
mod lower;
pub mod node;
pub mod print;
pub mod scalar;

pub use print::print;

use crate::ast::Flow;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::Source;
use crate::span::Span;

/// Parses a `*.flow.yaml` source into the AST.
///
/// Returns the AST whenever the file is a YAML map (even with errors inside,
/// so the checker can add its own), and every diagnostic found: a YAML
/// syntax error (E0003), an empty file (E0001), a document that is not a
/// map (E0012), unknown keys (E0010), missing keys (E0011), wrong shapes
/// (E0012), invalid literals (E0013) and expression syntax errors (E0005).
pub fn parse(source: &Source) -> (Option<Flow>, Diagnostics) {
    let mut found = Vec::new();
    let parsed = node::parse_nodes(&source.text, &mut found);
    let mut diagnostics = Diagnostics::new();
    diagnostics.extend(found);
    let root = match parsed {
        node::Parsed::Document(root) => root,
        node::Parsed::Failed => return (None, diagnostics),
        node::Parsed::Empty => {
            diagnostics.push(
                Diagnostic::new(
                    Code::FileEmpty,
                    "the flow file is empty",
                    Span::point(0),
                    "nothing here",
                )
                .with_help("a flow file starts with `flow: <name>` and lists its `steps:`"),
            );
            return (None, diagnostics);
        }
    };
    let flow = lower::flow(&root, &mut diagnostics);
    (flow, diagnostics)
}
