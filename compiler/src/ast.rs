//! The flow AST. Both front ends (YAML and DSL) produce it; every node
//! carries a byte [`Span`] into its own source. See `docs/language.md`.
//!
//! The AST keeps what the author wrote (names are not resolved, types not
//! checked); the checker resolves and types it, and lowers it to the IR.

use crate::span::Span;

/// A name as written, with its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal as written (after unescaping), with its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

/// A dotted name such as `stripe.create_charge` or `stripe.invoice.paid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DottedName {
    pub parts: Vec<Ident>,
    pub span: Span,
}

impl DottedName {
    /// The parts joined with dots.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// A whole flow file.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// `flow: name` / `flow name`.
    pub name: Ident,
    pub description: Option<Str>,
    pub data: Vec<DataItem>,
    pub connections: Vec<Connection>,
    pub start: Vec<Start>,
    pub steps: Vec<Step>,
    pub span: Span,
}

// ---------------------------------------------------------------- data items

/// A typed data item of the issue (or a column of a table item).
#[derive(Debug, Clone, PartialEq)]
pub struct DataItem {
    pub name: Ident,
    pub ty: TypeExpr,
    /// Human-readable label (`label:` / `label "…"`).
    pub label: Option<Str>,
    pub constraints: Constraints,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Constraints {
    /// Span of `required` when present.
    pub required: Option<Span>,
    pub default: Option<Expr>,
    pub min: Option<Expr>,
    pub max: Option<Expr>,
    pub pattern: Option<Str>,
    pub max_length: Option<Expr>,
}

/// A type as written.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    String,
    Text,
    Integer,
    Decimal,
    /// `money` or `money(EUR)`: an amount with a currency, optionally fixed.
    Money {
        currency: Option<Ident>,
    },
    Bool,
    Date,
    Datetime,
    Email,
    Phone,
    Url,
    /// Fixed options; an option whose id extends another's id is its child
    /// (`"8": East Asia` -> `"81": Japan`).
    Select {
        options: Vec<SelectOption>,
    },
    /// Rows with typed columns.
    Table {
        columns: Vec<DataItem>,
    },
    /// A typed provider id: `id(stripe.customer)`.
    Id {
        provider: Ident,
        kind: Ident,
    },
    /// A type name the front end does not know; the checker reports it.
    Unknown(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SelectOption {
    pub id: Str,
    pub label: Str,
    pub span: Span,
}

// ---------------------------------------------------------------- connections

/// A named provider account.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub name: Ident,
    pub provider: Ident,
    /// `test`, `sandbox` or `live`; required for `live`.
    pub mode: Option<Ident>,
    pub credentials: Vec<Credential>,
    /// Non-secret provider settings, checked against the catalog.
    pub settings: Vec<Field>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub name: Ident,
    pub source: CredentialSource,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CredentialSource {
    /// `{ env: NAME }` / `env("NAME")`
    Env(Str),
    /// `{ secret_file: PATH }` / `secret_file("PATH")`
    SecretFile(Str),
    /// A secret written into the flow file: always an error.
    Literal(Str),
}

// ---------------------------------------------------------------- start

/// How issues begin.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    pub kind: StartKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StartKind {
    /// Input records: one from the CLI, an HTTP POST, or a CSV / JSON-lines file.
    Input,
    /// `schedule: { cron: "0 9 * * 1-5" }` or `{ every: 1d }`, with options.
    Schedule(ScheduleStart),
    /// A provider event (a trigger), found by polling at `every`.
    Event {
        event: DottedName,
        connection: Option<Ident>,
        every: Option<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Cron(Str),
    Every(Expr),
}

/// A scheduled start: `start: { schedule: { cron: "0 9 * * 1-5", timezone:
/// Europe/Amsterdam, catch_up: all } }` / `start cron "0 9 * * 1-5" timezone
/// "Europe/Amsterdam" catch_up all`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleStart {
    pub schedule: Schedule,
    /// The cron's IANA time zone (UTC when none).
    pub timezone: Option<Str>,
    /// Which ticks missed while no worker ran are started: `last` (the
    /// default) or `all`. Kept as written; the checker reads it.
    pub catch_up: Option<Ident>,
}

impl ScheduleStart {
    /// A schedule without options.
    pub fn new(schedule: Schedule) -> ScheduleStart {
        ScheduleStart {
            schedule,
            timezone: None,
            catch_up: None,
        }
    }
}

// ---------------------------------------------------------------- steps

/// One step. `id` is unique in the flow (steps and data items share no names).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: Ident,
    pub kind: StepKind,
    pub span: Span,
}

// Steps are built once per file; boxing the large variants buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    Action(ActionStep),
    Http(HttpStep),
    Wait(WaitStep),
    Timer(TimerStep),
    If(IfStep),
    Switch(SwitchStep),
    ForEach(ForEachStep),
    /// Assign data items.
    Set(Vec<Assign>),
    /// Fail the issue with a message.
    Fail(Expr),
    /// Finish the issue; `completed` (default) or `cancelled`.
    End(Option<Ident>),
    /// Continue at another top-level step.
    Goto(Ident),
    Batch(BatchStep),
}

/// `name: value` (an input of an action, a header, a setting).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: Ident,
    pub value: Value,
    pub span: Span,
}

/// A field's value: an expression, or a nested map (e.g. Stripe `metadata`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Expr(Expr),
    Map(Vec<Field>, Span),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Expr(e) => e.span,
            Value::Map(_, span) => *span,
        }
    }
}

/// `target = expr` (in `set`, and in `save` after an action).
#[derive(Debug, Clone, PartialEq)]
pub struct Assign {
    /// A data item (or `item.column` inside `for_each`).
    pub target: Ident,
    pub value: Expr,
    pub span: Span,
}

/// Retry limits for a side-effecting step.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub max_attempts: Option<Expr>,
    /// First backoff delay (a duration); doubled each attempt, with full jitter.
    pub backoff: Option<Expr>,
    /// Longest backoff delay.
    pub max_backoff: Option<Expr>,
    pub span: Span,
}

/// A provider action: `stripe.create_charge`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionStep {
    /// `provider.action`
    pub action: DottedName,
    /// Which connection; may be left out when the flow has one of that provider.
    pub connection: Option<Ident>,
    pub inputs: Vec<Field>,
    /// Copy results into data items: `customer_id = ${create_customer.id}`.
    pub save: Vec<Assign>,
    pub retry: Option<Retry>,
}

/// The generic HTTP action.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpStep {
    /// GET, POST, PUT, PATCH or DELETE (checked).
    pub method: Ident,
    pub url: Expr,
    pub auth: Option<HttpAuth>,
    pub headers: Vec<Field>,
    pub query: Vec<Field>,
    pub body: Option<HttpBody>,
    /// Defaults to 30 s.
    pub timeout: Option<Expr>,
    /// The response fields the flow uses, with their types (checked at run time).
    pub response: Vec<DataItem>,
    pub save: Vec<Assign>,
    pub retry: Option<Retry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpAuth {
    pub kind: HttpAuthKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpAuthKind {
    None,
    Basic {
        username: Credential,
        password: Credential,
    },
    Bearer {
        token: Credential,
    },
    /// OAuth2 client credentials; the token is cached until it expires.
    OAuth2 {
        token_url: Expr,
        client_id: Credential,
        client_secret: Credential,
        scope: Option<Expr>,
    },
    /// A secret in a custom header, e.g. `X-Cybozu-API-Token`.
    Header {
        name: Str,
        value: Credential,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpBody {
    pub kind: HttpBodyKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpBodyKind {
    Json(Value),
    Form(Vec<Field>),
    Xml(Expr),
    Text(Expr),
}

/// Wait for a provider event or a signal, with a required timeout.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitStep {
    pub on: WaitOn,
    /// Required (the checker reports a wait without one).
    pub timeout: Option<Expr>,
    /// Required: the step to continue at when the timeout passes.
    pub on_timeout: Option<Ident>,
    pub save: Vec<Assign>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WaitOn {
    /// `event: stripe.invoice.paid`, matched on `for: ${send_invoice.id}`;
    /// webhook first, polling every `poll` as the fallback.
    Event {
        event: DottedName,
        connection: Option<Ident>,
        matching: Option<Expr>,
        poll: Option<Expr>,
    },
    /// An external signal (a person's step), with typed data.
    Signal { name: Ident, fields: Vec<DataItem> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum TimerStep {
    /// Until a date or datetime.
    Until(Expr),
    /// For a duration.
    For(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct IfStep {
    pub condition: Expr,
    pub then: Vec<Step>,
    pub otherwise: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SwitchStep {
    pub on: Expr,
    pub cases: Vec<Case>,
    pub default: Option<Vec<Step>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// One or more literal values.
    pub values: Vec<Expr>,
    pub steps: Vec<Step>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ForEachStep {
    /// Must be a table.
    pub over: Expr,
    /// The row variable (`as: line`).
    pub var: Ident,
    pub steps: Vec<Step>,
}

/// Gather many issues into one request or file (Buckaroo direct debit).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStep {
    /// `provider.action` of a batch action.
    pub action: DottedName,
    pub connection: Option<Ident>,
    /// How often a batch is closed (`every: 1d`) or a cron.
    pub schedule: Option<Schedule>,
    /// At most this many issues per batch.
    pub max: Option<Expr>,
    /// This record in the batch.
    pub inputs: Vec<Field>,
    pub save: Vec<Assign>,
    /// When the batch's file cannot be written into the outbox.
    pub retry: Option<Retry>,
}

// ---------------------------------------------------------------- expressions

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Int(i64),
    /// A decimal literal kept as written (`12.50`), never a float.
    Decimal(String),
    Str(String),
    Bool(bool),
    Null,
    /// `30s`, `15m`, `2h`, `7d`, `2w`.
    Duration(Duration),
    /// A string with `${…}` parts.
    Template(Vec<TemplatePart>),
    /// `name`, `name.field`, `env.NAME`.
    Path(Vec<Ident>),
    Call {
        function: Ident,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duration {
    pub value: u64,
    pub unit: DurationUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
}

impl DurationUnit {
    pub fn suffix(self) -> &'static str {
        match self {
            DurationUnit::Seconds => "s",
            DurationUnit::Minutes => "m",
            DurationUnit::Hours => "h",
            DurationUnit::Days => "d",
            DurationUnit::Weeks => "w",
        }
    }
    pub fn seconds(self) -> u64 {
        match self {
            DurationUnit::Seconds => 1,
            DurationUnit::Minutes => 60,
            DurationUnit::Hours => 3600,
            DurationUnit::Days => 86_400,
            DurationUnit::Weeks => 604_800,
        }
    }
}

impl Duration {
    pub fn as_seconds(self) -> u64 {
        self.value.saturating_mul(self.unit.seconds())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Text(String),
    Expr(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }
    /// Binding power: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne => 3,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 6,
        }
    }
}

impl Step {
    /// Nested step lists of this step (if/switch/for_each bodies).
    pub fn children(&self) -> Vec<&[Step]> {
        match &self.kind {
            StepKind::If(s) => vec![&s.then, &s.otherwise],
            StepKind::Switch(s) => {
                let mut v: Vec<&[Step]> = s.cases.iter().map(|c| c.steps.as_slice()).collect();
                if let Some(d) = &s.default {
                    v.push(d);
                }
                v
            }
            StepKind::ForEach(s) => vec![&s.steps],
            _ => Vec::new(),
        }
    }

    /// The step kind's keyword, as written in both syntaxes.
    pub fn keyword(&self) -> &'static str {
        match &self.kind {
            StepKind::Action(_) => "action",
            StepKind::Http(_) => "http",
            StepKind::Wait(_) => "wait",
            StepKind::Timer(_) => "timer",
            StepKind::If(_) => "if",
            StepKind::Switch(_) => "switch",
            StepKind::ForEach(_) => "for_each",
            StepKind::Set(_) => "set",
            StepKind::Fail(_) => "fail",
            StepKind::End(_) => "end",
            StepKind::Goto(_) => "goto",
            StepKind::Batch(_) => "batch",
        }
    }
}

/// Visits every step, depth first, in source order.
pub fn walk_steps<'a>(steps: &'a [Step], f: &mut dyn FnMut(&'a Step)) {
    for step in steps {
        f(step);
        for child in step.children() {
            walk_steps(child, f);
        }
    }
}
