//! `flowc_runtime`: the durable runtime linked into every binary that flowc builds.
//!
//! Generated code is thin: a typed `Data` struct, an enum of steps, and an impl of
//! [`flow::Flow`]; then `fn main() { flowc_runtime::cli::main::<MyFlow>() }`. All
//! heavy logic (the store, the engine, retries, the idempotency ledger, the http
//! action, values, the CLI and simulation) lives here and is compiled once.

pub mod value;
