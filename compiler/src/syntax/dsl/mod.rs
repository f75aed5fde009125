//! The DSL front end (owned by the DSL work stream; stub until it lands).

use crate::ast::Flow;
use crate::diagnostic::Diagnostics;
use crate::source::Source;

/// Parses a `*.flow` source into the AST.
pub fn parse(_source: &Source) -> (Option<Flow>, Diagnostics) {
    (None, Diagnostics::new())
}

/// Prints a flow as DSL.
pub fn print(_flow: &Flow) -> String {
    String::new()
}
