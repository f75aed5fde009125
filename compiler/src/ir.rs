//! The IR: a checked flow with names resolved and every expression typed.
//! It is what the code generator consumes.
//!
//! - **Spanless and deterministic**: the IR is a function of the AST with the
//!   spans taken out, so a YAML flow and its DSL translation lower to equal
//!   IR (`PartialEq`). Duration literals are normalised to seconds; every
//!   duration (timeouts, polls, schedules) is an [`Expr`] of type
//!   [`Type::Duration`], usually a literal.
//! - **Resolved**: every action, batch, wait and start event knows its
//!   provider, its catalog name and the name of its connection, even when the
//!   flow left `connection` out; every connection has a mode (the provider's
//!   test mode when the flow gave none).
//! - **Typed**: data items carry their [`Type`]; every [`Expr`] carries the
//!   type the checker gave it.
//! - **Steps form a tree**: `if`, `switch` and `for_each` hold their nested
//!   blocks; a block runs in order. Jumps (`goto`, a wait's `on_timeout`) name
//!   a **top-level** step id that is known to exist, so the code generator can
//!   number the top-level steps and jump by index.
//!
//! Only a flow without errors is lowered.

pub use crate::ast::{BinaryOp, UnaryOp};
pub use crate::check::functions::Builtin;
pub use crate::check::types::{Column, SelectOption, Type};

/// A checked flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub name: String,
    pub description: Option<String>,
    pub data: Vec<DataItem>,
    pub connections: Vec<Connection>,
    pub start: Vec<Start>,
    pub steps: Vec<Step>,
}

/// A data item of the issue, or a column of a table item.
#[derive(Debug, Clone, PartialEq)]
pub struct DataItem {
    pub name: String,
    pub ty: Type,
    pub label: Option<String>,
    pub required: bool,
    pub default: Option<Expr>,
    pub min: Option<Expr>,
    pub max: Option<Expr>,
    /// A regular expression the value must match (validated by the checker).
    pub pattern: Option<String>,
    pub max_length: Option<u64>,
    /// The columns of a `table` item, with their own constraints.
    pub columns: Vec<DataItem>,
}

/// A named provider account.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub name: String,
    pub provider: String,
    /// Always set: the flow's mode, or the provider's first non-live mode.
    pub mode: String,
    pub credentials: Vec<Credential>,
    pub settings: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub name: String,
    pub source: CredentialSource,
}

/// Where a secret comes from at run time (literal secrets never get here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    Env(String),
    SecretFile(String),
}

/// How issues begin.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    Input,
    Schedule(ScheduleStart),
    /// A provider trigger event, polled every `every` when given.
    Event {
        provider: String,
        event: String,
        connection: String,
        every: Option<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Cron(String),
    /// A duration.
    Every(Expr),
}

/// A scheduled start: one issue per tick.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleStart {
    /// A cron expression (checked), or `every` a duration literal.
    pub schedule: Schedule,
    /// The cron's IANA time zone as written (checked); `None`: UTC.
    pub timezone: Option<String>,
    pub catch_up: CatchUp,
}

/// Which ticks missed while no worker ran a schedule starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    /// The newest one only.
    #[default]
    Last,
    /// Every one.
    All,
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    Action(Action),
    Http(Box<Http>),
    Wait(Wait),
    Timer(Timer),
    If {
        condition: Expr,
        then: Vec<Step>,
        otherwise: Vec<Step>,
    },
    Switch {
        on: Expr,
        cases: Vec<Case>,
        default: Vec<Step>,
    },
    ForEach {
        over: Expr,
        var: String,
        steps: Vec<Step>,
    },
    Set(Vec<Assign>),
    Fail(Expr),
    End(EndStatus),
    /// Continue at this top-level step.
    Goto(String),
    Batch(Box<Batch>),
}

/// A provider action call.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub provider: String,
    pub action: String,
    pub connection: String,
    /// Inputs in the order the flow wrote them.
    pub inputs: Vec<Field>,
    pub save: Vec<Assign>,
    pub retry: Option<Retry>,
}

/// A batch step: the record goes into the provider's next batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub provider: String,
    pub action: String,
    pub connection: String,
    pub schedule: Option<Schedule>,
    pub max: Option<Expr>,
    pub inputs: Vec<Field>,
    pub save: Vec<Assign>,
    pub retry: Option<Retry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub max_attempts: Option<Expr>,
    pub backoff: Option<Expr>,
    pub max_backoff: Option<Expr>,
}

/// `name: value`: an action input, a header, a setting, a map entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Expr(Expr),
    Map(Vec<Field>),
}

/// `target = value` in `set` and `save`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assign {
    pub target: Target,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A data item.
    Data(String),
    /// A column of the current row of a `for_each`.
    LoopField { var: String, field: String },
}

/// The generic HTTP action.
#[derive(Debug, Clone, PartialEq)]
pub struct Http {
    /// Upper case: GET, POST, PUT, PATCH or DELETE.
    pub method: String,
    pub url: Expr,
    pub auth: HttpAuth,
    pub headers: Vec<Field>,
    pub query: Vec<Field>,
    pub body: Option<HttpBody>,
    /// A duration; the runtime's default (30 s) when `None`.
    pub timeout: Option<Expr>,
    /// Declared response fields and their types.
    pub response: Vec<DataItem>,
    pub save: Vec<Assign>,
    pub retry: Option<Retry>,
}

// The IR is built once per flow; clarity beats the size of a variant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum HttpAuth {
    None,
    Basic {
        username: CredentialSource,
        password: CredentialSource,
    },
    Bearer(CredentialSource),
    OAuth2 {
        token_url: Expr,
        client_id: CredentialSource,
        client_secret: CredentialSource,
        scope: Option<Expr>,
    },
    Header {
        name: String,
        value: CredentialSource,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpBody {
    Json(Value),
    Form(Vec<Field>),
    Xml(Expr),
    Text(Expr),
}

/// Wait for an event or a signal; `timeout` and `on_timeout` are always set.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    pub on: WaitOn,
    /// A duration.
    pub timeout: Expr,
    /// A top-level step id.
    pub on_timeout: String,
    pub save: Vec<Assign>,
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum WaitOn {
    Event {
        provider: String,
        event: String,
        connection: String,
        matching: Option<Expr>,
        /// A duration: how often to poll when no webhook arrives.
        poll: Option<Expr>,
    },
    Signal {
        name: String,
        fields: Vec<DataItem>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Timer {
    /// Until a date or datetime.
    Until(Expr),
    /// For a duration (an expression of type `duration`).
    For(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub values: Vec<Expr>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndStatus {
    Completed,
    Cancelled,
}

/// A typed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Type,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Int(i64),
    /// Exact decimal text as written, e.g. `12.50`.
    Decimal(String),
    Str(String),
    Bool(bool),
    Null,
    Duration {
        seconds: u64,
    },
    /// A string built from text and expressions.
    Template(Vec<TemplatePart>),
    /// A data item.
    Data(String),
    /// One column of a table data item, as a list (`lines.amount`).
    DataColumn {
        item: String,
        column: String,
    },
    /// The current row of a `for_each`.
    LoopVar(String),
    /// A column of the current row (`line.quantity`).
    LoopField {
        var: String,
        field: String,
    },
    /// A result of a step (`create_charge.id`); `path` goes further into a
    /// JSON result.
    StepResult {
        step: String,
        field: String,
        path: Vec<String>,
    },
    /// An environment variable (`env.NAME`), a string.
    Env(String),
    Call {
        function: Builtin,
        args: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Text(String),
    Expr(Expr),
}

impl Flow {
    /// Visits every step, depth first, in source order.
    pub fn walk_steps<'a>(&'a self, f: &mut dyn FnMut(&'a Step)) {
        fn walk<'a>(steps: &'a [Step], f: &mut dyn FnMut(&'a Step)) {
            for step in steps {
                f(step);
                match &step.kind {
                    StepKind::If {
                        then, otherwise, ..
                    } => {
                        walk(then, f);
                        walk(otherwise, f);
                    }
                    StepKind::Switch { cases, default, .. } => {
                        for case in cases {
                            walk(&case.steps, f);
                        }
                        walk(default, f);
                    }
                    StepKind::ForEach { steps, .. } => walk(steps, f),
                    _ => {}
                }
            }
        }
        walk(&self.steps, f);
    }
}
