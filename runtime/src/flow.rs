//! The trait that generated code implements: one flow = one `impl Flow`.
//!
//! ```text
//! #[derive(Clone, Default, Serialize, Deserialize)]
//! struct Data { delivery_id: String, total: Money, invoice_id: Option<String> }
//!
//! #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
//! enum Step { CreateInvoice, WaitPaid, Remind, Done }
//! impl StepId for Step { const ALL: &'static [Step] = &[...]; fn id(self) -> &'static str { ... } }
//!
//! struct MyFlow;
//! impl Flow for MyFlow {
//!     const NAME: &'static str = "paypal_delivery_invoice";
//!     type Data = Data;
//!     type Step = Step;
//!     fn schema() -> &'static DataSchema { &SCHEMA }
//!     fn first_step() -> Step { Step::CreateInvoice }
//!     fn run_step<'a>(step: Step, data: &'a mut Data, cx: &'a mut StepContext)
//!         -> BoxFuture<'a, Result<Transition<Step>, StepError>> {
//!         Box::pin(async move { match step { ... } })
//!     }
//! }
//! fn main() { flowc_runtime::cli::main::<MyFlow>() }
//! ```

use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::clock::BoxFuture;
pub use crate::engine::StepContext;
use crate::retry::RetryPolicy;
use crate::value::{DataSchema, ValueError};

/// The step enum of a flow. Each step has a stable id (its id in the flow file),
/// which is what the store and the idempotency keys record.
pub trait StepId: Copy + Eq + Hash + fmt::Debug + Send + Sync + 'static {
    /// Every step, as generated code declares them.
    const ALL: &'static [Self];
    /// Every step, as the runtime reads them (the erased flow of a generated
    /// binary knows its steps only at run time; see [`crate::erased`]).
    fn all() -> &'static [Self] {
        Self::ALL
    }
    fn id(self) -> &'static str;
    fn from_id(id: &str) -> Option<Self> {
        Self::all().iter().copied().find(|s| s.id() == id)
    }
}

/// A flow compiled into Rust.
pub trait Flow: Send + Sync + 'static {
    /// The flow's name (`flow:` in the file); part of every idempotency key.
    const NAME: &'static str;
    /// The name as the runtime reads it (the erased flow of a generated binary
    /// knows it only at run time; see [`crate::erased`]).
    fn name() -> &'static str {
        Self::NAME
    }
    /// The issue's data items (and saved step results), as a serde struct.
    type Data: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    type Step: StepId;

    /// The data items' types and constraints; input records are validated against it.
    fn schema() -> &'static DataSchema;
    /// The flow's connections (provider accounts).
    fn connections() -> &'static [ConnectionDef] {
        &[]
    }
    /// The settings the flow gives its connections, literal values as text:
    /// (connection, setting, value). A setting left out takes the catalog's
    /// default. What a simulator reads to answer as the provider would (the
    /// columns of Buckaroo's request files, `file_layout`).
    fn connection_settings() -> &'static [(&'static str, &'static str, &'static str)] {
        &[]
    }
    /// The fields a signal carries (`wait: { signal: approve, data: {...} }`), so that
    /// `signal` and the listener reject a bad payload before it touches state.
    fn signal_schema(_name: &str) -> Option<&'static DataSchema> {
        None
    }
    /// The provider events that start issues (`start: { event: …, every: … }`).
    fn triggers() -> &'static [TriggerDef] {
        &[]
    }
    /// The flow's scheduled starts (`start: { schedule: … }`).
    fn schedules() -> &'static [crate::schedule::ScheduleDef] {
        &[]
    }
    /// The provider events the flow's waits match (`wait: { event: …, poll: … }`):
    /// what the consolidated event feed of each connection lists.
    fn event_feeds() -> &'static [FeedDef] {
        &[]
    }
    /// The flow's batch steps: (step id, `provider.action`, connection).
    /// Their batches are spooled in the store and their files written into
    /// the connection's outbox (`action::batch`), which `run` on PostgreSQL
    /// checks every replica shares (`cli::preflight`).
    fn batch_steps() -> &'static [(&'static str, &'static str, &'static str)] {
        &[]
    }
    /// The retry limits of steps that do not set their own.
    fn default_retry() -> RetryPolicy {
        RetryPolicy::default()
    }
    fn first_step() -> Self::Step;
    /// Runs one step. Side effects go through `cx` only (`cx.http(..)`), which records
    /// the idempotency key before the call and commits state around it. A step may run
    /// again after a crash or a retry: it must not act on the world except through `cx`.
    fn run_step<'a>(
        step: Self::Step,
        data: &'a mut Self::Data,
        cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<Self::Step>, StepError>>;
}

/// Where a credential comes from: never a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    Env(&'static str),
    File(&'static str),
}

/// A named provider account of a flow.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionDef {
    pub name: &'static str,
    /// `stripe`, `paypal`, `vipps`, `buckaroo`, or `http` for a plain base URL.
    pub provider: &'static str,
    /// `test`, `sandbox` or `live`.
    pub mode: &'static str,
    /// Overridable with `FLOWC_<NAME>_BASE_URL`.
    pub base_url: &'static str,
    pub credentials: &'static [(&'static str, SecretSource)],
}

impl ConnectionDef {
    /// The env var that overrides the base URL: `FLOWC_<NAME>_BASE_URL`.
    pub fn base_url_env(&self) -> String {
        base_url_env(self.name)
    }

    /// The base URL in force: the env override, else the flow's.
    pub fn resolved_base_url(&self) -> String {
        std::env::var(self.base_url_env()).unwrap_or_else(|_| self.base_url.to_string())
    }
}

/// A provider event that starts an issue: `start: { event: stripe.charge.succeeded,
/// connection: stripe, every: 5m }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerDef {
    /// `stripe`.
    pub provider: &'static str,
    /// The event's name without the provider, as the catalog spells it: `charge.succeeded`.
    pub event: &'static str,
    /// The connection whose account the event comes from.
    pub connection: &'static str,
    /// How often the connection's event list is polled for it (`None`: by webhook only).
    pub every: Option<Duration>,
}

/// A provider event a `wait` matches: `wait: { event: stripe.invoice.paid,
/// connection: stripe, for: …, poll: 15m }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedDef {
    pub provider: &'static str,
    /// Without the provider: `invoice.paid` (the name in the wait's match key).
    pub event: &'static str,
    pub connection: &'static str,
    /// How often the event list is polled while an issue waits (`None`: by webhook only).
    pub poll: Option<Duration>,
}

/// The env var that overrides a connection's base URL: `FLOWC_<NAME>_BASE_URL`,
/// the name upper-cased with every other character as `_`.
pub fn base_url_env(connection: &str) -> String {
    let name: String = connection
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("FLOWC_{name}_BASE_URL")
}

/// What happens after a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition<S> {
    /// Go on with another step now (also `goto`, `if`, `switch`).
    Next(S),
    /// Wait for a signal or a provider event, with a timeout. The step is run again
    /// with `cx.wake()` telling why (a signal, an event, a poll); the timeout moves
    /// the issue to `on_timeout` without running the step.
    Wait(Wait<S>),
    /// Sleep until a time, then go on with `next`.
    Timer {
        until: Timestamp,
        next: S,
    },
    /// Start a `for_each` over `count` items: runs `body` with `cx.loop_index()`
    /// 0..count, then `after`. A body ends with `LoopNext`.
    EnterLoop {
        count: usize,
        body: S,
        after: S,
    },
    /// The end of a `for_each` body: the next item, or `after` of the loop.
    LoopNext,
    End(Outcome),
    /// `fail: "..."`: the issue moves to `failed` with this message.
    Fail(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Wait<S> {
    pub on: WaitOn,
    pub timeout: Duration,
    pub on_timeout: S,
    /// Run the step again every `poll` (the polling fallback of a webhook wait).
    pub poll: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOn {
    Signal(&'static str),
    /// A provider event about one object (`for: ${create_invoice.id}`).
    Event {
        name: &'static str,
        key: String,
    },
}

impl WaitOn {
    /// The key the store matches incoming messages on.
    pub fn match_key(&self) -> String {
        match self {
            WaitOn::Signal(n) => format!("signal:{n}"),
            WaitOn::Event { name, key } => format!("event:{name}:{key}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Completed,
    Cancelled,
}

/// Why a step did not finish.
#[derive(Debug, Clone, PartialEq)]
pub enum StepError {
    /// Worth trying again later (network error, 408, 429, 5xx).
    Retry {
        message: String,
        retry_after: Option<Duration>,
        policy: Option<RetryPolicy>,
    },
    /// Not worth retrying (a 4xx validation error, a wrong response type, a bad
    /// value): the issue moves to `failed` with this message.
    Fatal(String),
    /// The issue was changed elsewhere (cancelled, retried): stop working on it.
    Conflict,
    /// The store failed; the issue stays where it was and is picked up again.
    Store(String),
}

impl StepError {
    pub fn fatal(msg: impl Into<String>) -> StepError {
        StepError::Fatal(msg.into())
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::Retry { message, .. } => write!(f, "{message} (will retry)"),
            StepError::Fatal(m) => f.write_str(m),
            StepError::Conflict => f.write_str("the issue was changed elsewhere"),
            StepError::Store(m) => write!(f, "store: {m}"),
        }
    }
}

impl std::error::Error for StepError {}

impl From<ValueError> for StepError {
    fn from(e: ValueError) -> StepError {
        StepError::Fatal(e.to_string())
    }
}
