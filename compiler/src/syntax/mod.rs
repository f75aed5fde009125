//! The two front ends, YAML and DSL, and the expression language they share.
//! Each produces an [`ast::Flow`](crate::ast::Flow) with byte spans into its
//! own source, and prints one back (for `flowc fmt`).

pub mod dsl;
pub mod expr;
mod expr_fast;
pub mod strip;
pub mod yaml;
