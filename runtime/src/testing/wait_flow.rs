//! One wait-only test flow, [`WaitFlow`], for the tests and benchmarks of the
//! event layer: an issue waits for one provider event about its object, keeps
//! what the event says, and ends (or waits again).
//!
//! The event tests differ only in the flow's data items, its connection, the
//! events its feed lists and what a wake keeps, so each writes those as a
//! [`WaitSpec`]: a unit type whose associated consts are the flow's static
//! definitions (a [`Flow`] hands out `&'static` slices; a spec's consts point
//! at the test's own statics) and whose `on_event` says what a wake keeps.
//! The flow is then `WaitFlow<ItsSpec>`:
//!
//! ```text
//! static ITEMS: [ItemDef; 2] = [ItemDef::new("invoice", ValueType::String), …];
//! static CONNECTIONS: [ConnectionDef; 1] = [ConnectionDef { name: "paypal", … }];
//! static FEEDS: [FeedDef; 1] = [FeedDef { event: "INVOICING.INVOICE.PAID", … }];
//!
//! struct PayPalWait;
//! impl WaitSpec for PayPalWait {
//!     const NAME: &'static str = "paypal_feed";
//!     const ITEMS: &'static [ItemDef] = &ITEMS;
//!     const KEY: &'static str = "invoice";
//!     const CONNECTIONS: &'static [ConnectionDef] = &CONNECTIONS;
//!     const FEEDS: &'static [FeedDef] = &FEEDS;
//!     fn on_event(data: &mut Data, event: &Value) -> Option<Outcome> {
//!         keep(data, "paid_by", event["event_id"].as_str());
//!         Some(Outcome::Completed)
//!     }
//! }
//! type PayPalWaitFlow = WaitFlow<PayPalWait>;
//! ```
//!
//! The flow has one step, `wait`. Run, it first hands a wake's event payload
//! to [`WaitSpec::on_event`] (an outcome ends the issue), then waits for
//! [`WaitSpec::wait_on`] (by default the first feed's event about the data
//! item [`WaitSpec::KEY`]; `None` ends the issue), for
//! [`WaitSpec::TIMEOUT`], polled as that feed is. Its data is the issue's
//! JSON object: the items of [`WaitSpec::ITEMS`], all optional.
//!
//! A trait rather than a macro stamping out `impl Flow`: a test reads as
//! plain Rust, and what it does not set takes the defaults written once here.
//!
//! Shared with the integration tests and benchmarks (`tests/flows/`), hence
//! public; not part of the runtime's API.

use std::marker::PhantomData;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::clock::BoxFuture;
use crate::engine::StepContext;
use crate::flow::{
    ConnectionDef, FeedDef, Flow, Outcome, StepError, StepId, Transition, TriggerDef, Wait, WaitOn,
};
use crate::value::{DataSchema, ItemDef};

/// The issue's data: its items by name.
pub type Data = Map<String, Value>;

/// What a [`WaitFlow`] is made of.
pub trait WaitSpec: Send + Sync + 'static {
    /// The flow's name (the store's flow, part of every idempotency key).
    const NAME: &'static str;
    /// The data items, every one optional.
    const ITEMS: &'static [ItemDef];
    /// The data item whose text is the wait's match key.
    const KEY: &'static str;
    const CONNECTIONS: &'static [ConnectionDef];
    /// The events the connection's feed lists; the wait is for the first one
    /// unless [`WaitSpec::wait_on`] says otherwise.
    const FEEDS: &'static [FeedDef];
    /// The provider events that start issues (none: the feed is for waits only).
    const TRIGGERS: &'static [TriggerDef] = &[];
    /// How long an issue waits.
    const TIMEOUT: Duration = Duration::from_secs(30 * 86_400);
    /// How often the wait is polled (by default as the first feed is).
    const POLL: Option<Duration> = Self::FEEDS[0].poll;

    /// The event an issue waits for and its match key; `None` ends the issue
    /// at once (completed).
    fn wait_on(data: &Data) -> Option<(&'static str, String)> {
        Some((Self::FEEDS[0].event, text(data, Self::KEY)))
    }

    /// Keeps what a delivered event (its payload) says in the data; an outcome
    /// ends the issue, `None` waits again.
    fn on_event(data: &mut Data, event: &Value) -> Option<Outcome>;
}

/// The text of a data item (`""` when it is unset or not text).
pub fn text(data: &Data, item: &str) -> String {
    data.get(item)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Sets a data item to a text of the event, `null` when the event has none.
pub fn keep(data: &mut Data, item: &str, value: Option<&str>) {
    data.insert(item.to_string(), value.map_or(Value::Null, Value::from));
}

/// The one step of a [`WaitFlow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Wait,
}

impl StepId for Step {
    const ALL: &'static [Step] = &[Step::Wait];
    fn id(self) -> &'static str {
        "wait"
    }
}

/// The wait-only flow that `S` describes.
pub struct WaitFlow<S>(PhantomData<fn() -> S>);

impl<S: WaitSpec> std::fmt::Debug for WaitFlow<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WaitFlow<{}>", S::NAME)
    }
}

impl<S: WaitSpec> Flow for WaitFlow<S> {
    const NAME: &'static str = S::NAME;
    type Data = Data;
    type Step = Step;

    fn schema() -> &'static DataSchema {
        const { &DataSchema::new(S::ITEMS) }
    }
    fn connections() -> &'static [ConnectionDef] {
        S::CONNECTIONS
    }
    fn triggers() -> &'static [TriggerDef] {
        S::TRIGGERS
    }
    fn event_feeds() -> &'static [FeedDef] {
        S::FEEDS
    }
    fn first_step() -> Step {
        Step::Wait
    }
    fn run_step<'a>(
        _step: Step,
        data: &'a mut Data,
        cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<Step>, StepError>> {
        Box::pin(async move {
            if let Some(event) = cx.wake_data::<Value>()?
                && let Some(outcome) = S::on_event(data, &event)
            {
                return Ok(Transition::End(outcome));
            }
            let Some((name, key)) = S::wait_on(data) else {
                return Ok(Transition::End(Outcome::Completed));
            };
            Ok(Transition::Wait(Wait {
                on: WaitOn::Event { name, key },
                timeout: S::TIMEOUT,
                on_timeout: Step::Wait,
                poll: S::POLL,
            }))
        })
    }
}
