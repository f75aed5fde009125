//! The DSL front end (`*.flow`): a pest grammar (`flow.pest`, sharing the
//! expression grammar `expr.pest`), a builder to the AST with byte spans on
//! every node, and a printer that writes canonical DSL.
//!
//! The syntax is documented in `docs/language.md`.

mod build;
mod error;
mod grammar;
mod parse;
mod print;

pub use parse::{MAX_NESTING, parse};
pub use print::print;
