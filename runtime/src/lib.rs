//! `flowc_runtime`: the durable runtime linked into every binary that flowc builds.
//!
//! Generated code is thin: a typed `Data` struct, an enum of steps, and an impl of
//! [`flow::Flow`]; then `fn main() { ::flowc_runtime::cli::main_typed::<MyFlow>() }`. All
//! heavy logic (the store, the engine, retries, the idempotency ledger, the http
//! action, values, the CLI and simulation) lives here and is compiled once.

/// The allocator of every binary that links the runtime (feature `mimalloc`):
/// the engine, the store's writer and the providers pass JSON values between
/// threads all the time, and glibc's malloc took ~18% of a flow binary's CPU.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// The crate under its own name in its unit tests, so that flows shared with
// the integration tests and benches (`tests/flows/`, written against
// `flowc_runtime::`) compile inside it too.
#[cfg(test)]
extern crate self as flowc_runtime;

pub mod action;
pub mod cli;
pub mod clock;
pub mod engine;
pub mod erased;
pub mod events;
pub mod flow;
pub mod http;
pub mod metrics;
pub mod providers;
pub mod retry;
#[doc(hidden)]
pub mod rt;
pub mod scenario;
pub mod schedule;
pub mod store;
pub mod testing;
pub mod value;

/// What generated code needs, in one import.
pub mod prelude {
    pub use crate::action::{
        ActionCall, ActionResult, BatchCall, BatchPending, BatchResult, BatchSchedule, BatchStatus,
    };
    pub use crate::clock::BoxFuture;
    pub use crate::engine::{StepContext, Wake};
    pub use crate::flow::{
        ConnectionDef, FeedDef, Flow, Outcome, SecretSource, StepError, StepId, Transition,
        TriggerDef, Wait, WaitOn,
    };
    pub use crate::http::{Auth, Body, HttpRequest, HttpResponse, Method};
    pub use crate::retry::RetryPolicy;
    pub use crate::value::{
        Currency, DataSchema, Decimal, ItemDef, Money, ValueType, format_date, format_datetime,
    };
    pub use jiff::Timestamp;
    pub use jiff::civil::Date;
}
