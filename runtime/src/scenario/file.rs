//! The scenario file (`*.scenario.yaml`): what `simulate` reads. Documented in
//! docs/scenarios.md; every map refuses unknown keys.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: Option<String>,
    /// The virtual clock's start (default 2025-01-01T00:00:00Z).
    #[serde(default)]
    pub start: Option<String>,
    /// Stop after this long (a duration such as `40d`; default 400d).
    #[serde(default)]
    pub until: Option<String>,
    /// Values of environment variables the flow reads (credentials, `env.NAME`)
    /// while they are unset: placeholders, so that a simulation needs no
    /// environment. A variable that is set wins.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Scripted answers of the local server, in order per route; other requests
    /// get 200 with `{"id": "obj_N"}` (the same answer again for a repeated key).
    /// Stripe connections talk to the Stripe simulator instead.
    #[serde(default)]
    pub http: Vec<HttpRule>,
    /// The Stripe simulator's settings (every `provider: stripe` connection has one).
    #[serde(default)]
    pub stripe: StripeSettings,
    /// The PayPal simulator's settings (every `provider: paypal` connection has
    /// one), in the shape of `stripe:`'s.
    #[serde(default)]
    pub paypal: SimSettings,
    /// The Vipps simulator's settings (every `provider: vipps` connection has
    /// one): faults, and `drop_webhooks` for lost callbacks.
    #[serde(default)]
    pub vipps: SimSettings,
    /// The Buckaroo simulator's settings (every connection that writes request
    /// files and reads response files has one).
    #[serde(default)]
    pub buckaroo: BuckarooSettings,
    /// Input records (none for a flow started by provider events: make the
    /// events happen with `stripe:` events instead).
    #[serde(default)]
    pub records: Vec<ScenarioRecord>,
    #[serde(default)]
    pub events: Vec<ScenarioEvent>,
    #[serde(default)]
    pub expect: Vec<Expectation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRule {
    /// `METHOD /path`.
    pub route: String,
    #[serde(default = "ok")]
    pub status: u16,
    #[serde(default)]
    pub body: Value,
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// How many times this answer is given (default 1).
    #[serde(default = "one")]
    pub times: usize,
}

fn ok() -> u16 {
    200
}
fn one() -> usize {
    1
}
fn one_u32() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRecord {
    /// The name events and expectations use for this record's issue.
    pub name: String,
    pub data: Value,
    /// When it starts (default: at the start).
    #[serde(default)]
    pub at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEvent {
    /// A duration after the start (`3d`) or a timestamp.
    pub at: String,
    #[serde(default)]
    pub issue: Option<String>,
    /// Send this signal to `issue`.
    #[serde(default)]
    pub signal: Option<String>,
    /// Cancel `issue`.
    #[serde(default)]
    pub cancel: bool,
    /// A provider event handed to the store directly: its name, the object key
    /// it is about, its id (for providers without a simulator).
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub data: Value,
    /// Something happens at Stripe (in the simulator), which makes its events.
    #[serde(default)]
    pub stripe: Option<StripeAction>,
    #[serde(default)]
    pub paypal: Option<PayPalAction>,
    #[serde(default)]
    pub vipps: Option<VippsAction>,
}

/// The Stripe simulator's settings.
/// A simulator's settings from the start (`stripe:`, `paypal:`).
pub type StripeSettings = SimSettings;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSettings {
    /// Request faults in force from the start.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Lost webhook deliveries (only for connections with a `webhook_secret`:
    /// the others get no webhooks in a simulation, only the event list).
    #[serde(default)]
    pub drop_webhooks: Option<DropWebhooks>,
}

/// A request fault: `{ status: 429, path: /v1/charges, count: 2 }`,
/// `{ status: 500 }`, `{ delay: 200ms, count: 3 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// `429` (rate limited) or `500` (Stripe's `api_error`).
    #[serde(default)]
    pub status: Option<u16>,
    /// The answer comes this much later, in real time (keep it short).
    #[serde(default)]
    pub delay: Option<String>,
    /// The `Retry-After` of a 429 (default 1s).
    #[serde(default)]
    pub retry_after: Option<String>,
    /// For the next N requests (default 1).
    #[serde(default = "one_u32")]
    pub count: u32,
    /// Only requests whose path starts so (`/v1/charges`); all if none.
    #[serde(default)]
    pub path: Option<String>,
}

/// `{ next: 2 }` drops the next two deliveries; `{ fraction: 0.5 }` half of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropWebhooks {
    #[serde(default)]
    pub next: u32,
    #[serde(default)]
    pub fraction: f64,
}

/// Something that happens at Stripe, outside the flow. Exactly one of the
/// actions. An id-valued field takes a data item of the event's `issue` when
/// the event names one, else a name given with `as`, else the id itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeAction {
    /// The customer pays this open invoice on its hosted page.
    #[serde(default)]
    pub pay_invoice: Option<String>,
    /// A customer registered outside the flow (a returning customer).
    #[serde(default)]
    pub create_customer: Option<CustomerSpec>,
    /// A charge made outside the flow (dashboard, another system).
    #[serde(default)]
    pub create_charge: Option<ChargeSpec>,
    /// A refund of a charge: `refund: first_charge` or
    /// `refund: { charge: …, amount: 500, reason: requested_by_customer }`.
    #[serde(default)]
    pub refund: Option<RefundSpec>,
    /// A request fault from now on.
    #[serde(default)]
    pub fault: Option<FaultSpec>,
    /// Lost webhook deliveries from now on.
    #[serde(default)]
    pub drop_webhooks: Option<DropWebhooks>,
    /// A name for the object made, for later events.
    #[serde(default, rename = "as")]
    pub name: Option<String>,
    /// The flow's Stripe connection it happens on (needed only when there are several).
    #[serde(default)]
    pub connection: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerSpec {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    /// A test card token, which becomes the default card.
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeSpec {
    /// Amount in minor units (2500 = 25.00 EUR).
    pub amount: i64,
    pub currency: String,
    /// A customer (`cus_…`, a data item, a name); charged on its default card.
    #[serde(default)]
    pub customer: Option<String>,
    /// A test card (`tok_visa`, `tok_chargeDeclined`…); `tok_visa` without a customer.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RefundSpec {
    Charge(String),
    Detailed(RefundDetail),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundDetail {
    pub charge: String,
    /// Part of the charge (minor units); all of it if none.
    #[serde(default)]
    pub amount: Option<i64>,
    /// `duplicate`, `fraudulent` or `requested_by_customer`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// One expectation, about exactly one of: a record's issue (`issue`), the
/// issues whose data match (`match`, e.g. issues that events started), the
/// Stripe simulator's state (`stripe`), or what the scripted server received
/// (`http`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    #[serde(default)]
    pub issue: Option<String>,
    /// Every issue whose data items have these values (`{}`: every issue).
    #[serde(default, rename = "match")]
    pub matching: Option<serde_json::Map<String, Value>>,
    /// How many issues `match` finds (default: at least one).
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub step: Option<String>,
    /// Data items that must have these values.
    #[serde(default)]
    pub data: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub error_contains: Option<String>,
    #[serde(default)]
    pub stripe: Option<StripeExpect>,
    #[serde(default)]
    pub paypal: Option<PayPalExpect>,
    #[serde(default)]
    pub buckaroo: Option<BuckarooExpect>,
    pub vipps: Option<VippsExpect>,
    /// What the local scripted server received on one route.
    #[serde(default)]
    pub http: Option<HttpExpect>,
}

/// A scenario event at PayPal (the simulator): one of the payer paying an
/// invoice (all that is due, or `amount`; `method` other than PAYPAL records a
/// payment made outside PayPal), a refund, a fault, lost webhooks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayPalAction {
    #[serde(default)]
    pub pay_invoice: Option<String>,
    /// With `pay_invoice`: a part of what is due (a decimal: `"500"`, `12.5`).
    #[serde(default)]
    pub amount: Option<Value>,
    /// With `pay_invoice`: PAYPAL (default), BANK_TRANSFER, CASH, CHECK, …
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub refund_invoice: Option<String>,
    #[serde(default)]
    pub fault: Option<FaultSpec>,
    #[serde(default)]
    pub drop_webhooks: Option<DropWebhooks>,
    #[serde(default)]
    pub connection: Option<String>,
}

/// A scenario event at Vipps (the simulator): one of the payer approving or
/// rejecting the payment request of an order (a data item of the event's
/// `issue`, or the order id), the merchant refunding in the portal (all, or
/// `amount` øre), an unanswered ePayment payment expiring, a fault, lost
/// callbacks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VippsAction {
    #[serde(default)]
    pub approve: Option<String>,
    #[serde(default)]
    pub reject: Option<String>,
    #[serde(default)]
    pub refund: Option<String>,
    /// An ePayment payment nobody answered expires.
    #[serde(default)]
    pub expire: Option<String>,
    /// With `refund`: øre.
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub fault: Option<FaultSpec>,
    #[serde(default)]
    pub drop_callbacks: Option<DropWebhooks>,
    #[serde(default)]
    pub connection: Option<String>,
}

/// Counts of a Vipps simulator's payments (per newest operation; an ePayment
/// payment's newest event), callbacks (per outcome) and API calls (per
/// `METHOD /path` with the order id as `{orderId}`, an ePayment reference as
/// `{reference}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VippsExpect {
    #[serde(default)]
    pub connection: Option<String>,
    #[serde(default)]
    pub payments: Option<Count>,
    #[serde(default)]
    pub callbacks: Option<Count>,
    #[serde(default)]
    pub calls: Option<Count>,
}

/// Counts of a PayPal simulator's invoices (per status), events (per type)
/// and webhook deliveries (per outcome).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayPalExpect {
    #[serde(default)]
    pub connection: Option<String>,
    #[serde(default)]
    pub invoices: Option<Count>,
    #[serde(default)]
    pub events: Option<Count>,
    #[serde(default)]
    pub webhooks: Option<Count>,
    /// Text every invoice's note (`detail.note`, what the customer reads) contains.
    #[serde(default)]
    pub note_contains: Option<String>,
}

/// What the simulated Buckaroo gateway holds: its transactions by status
/// name (`success`, `awaiting_consumer`, …), its pushes by outcome
/// (`delivered`, `dropped`, `pending`, `failed`), the requests it answered by
/// route (`POST /json/Transaction`, `GET /json/Transaction/Status`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuckarooExpect {
    #[serde(default)]
    pub connection: Option<String>,
    #[serde(default)]
    pub transactions: Option<Count>,
    #[serde(default)]
    pub pushes: Option<Count>,
    #[serde(default)]
    pub requests: Option<Count>,
}

/// The requests the scripted server received on one route (`POST /path`):
/// how many, and what each of them carried. Header names are matched
/// without case; values, the query and the body exactly.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    pub route: String,
    /// How many requests (default: at least one).
    #[serde(default)]
    pub count: Option<usize>,
    /// Check only the N-th request on the route (from 1), not each one.
    #[serde(default)]
    pub request: Option<usize>,
    /// Headers every request had, with these values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The query string (`app=12&x=y`), as sent.
    #[serde(default)]
    pub query: Option<String>,
    /// The body, as text.
    #[serde(default)]
    pub body: Option<String>,
    /// The body, read as JSON.
    #[serde(default)]
    pub json: Option<Value>,
}

/// Counts of the simulator's objects: a number (all of that kind) or counts
/// per status (`charges: { succeeded: 3, failed: 1 }`; per type for events).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeExpect {
    /// The flow's Stripe connection (needed only when there are several).
    #[serde(default)]
    pub connection: Option<String>,
    #[serde(default)]
    pub customers: Option<Count>,
    #[serde(default)]
    pub charges: Option<Count>,
    #[serde(default)]
    pub refunds: Option<Count>,
    #[serde(default)]
    pub invoices: Option<Count>,
    #[serde(default)]
    pub invoiceitems: Option<Count>,
    #[serde(default)]
    pub payment_intents: Option<Count>,
    #[serde(default)]
    pub events: Option<Count>,
    /// Webhook deliveries, per outcome (`delivered`, `dropped`, `failed`, `pending`).
    #[serde(default)]
    pub webhooks: Option<Count>,
    /// Text every invoice's note (`detail.note`, what the customer reads) contains.
    #[serde(default)]
    pub note_contains: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Count {
    Total(usize),
    Per(BTreeMap<String, usize>),
}

/// How the simulated Buckaroo answers request files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuckarooSettings {
    /// From a request file's creation to its response file (default 3d).
    #[serde(default)]
    pub delay: Option<String>,
    /// From the response file to the reversal of `reversed` debits (default 2d).
    #[serde(default)]
    pub reverse_after: Option<String>,
    /// Outcomes by invoice number or IBAN: debited, insufficient_funds,
    /// account_invalid, mandate_refused, reversed, no_response, malformed.
    #[serde(default)]
    pub outcomes: BTreeMap<String, String>,
    /// What the payer does with a PayPerEmail invitation, by invoice number:
    /// paid_by_ideal, expires (the default).
    #[serde(default)]
    pub invitations: BTreeMap<String, String>,
    /// From an invitation to its payment (default 1d).
    #[serde(default)]
    pub pay_after: Option<String>,
    /// Faults of the JSON gateway, in the shape of `stripe.faults`.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Lost pushes, in the shape of `stripe.drop_webhooks`.
    #[serde(default)]
    pub drop_pushes: Option<DropWebhooks>,
}
