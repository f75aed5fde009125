//! A hand-written flow that waits for its PayPal invoice to be paid
//! (`INVOICING.INVOICE.PAID`, polled hourly), then ends. Used by the event
//! feed benchmark (`benches/events.rs`) against the PayPal simulator.

use std::time::Duration;

use flowc_runtime::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Data {
    #[serde(default)]
    pub invoice: Option<String>,
    #[serde(default)]
    pub paid_by: Option<String>,
}

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

static ITEMS: [ItemDef; 2] = [
    ItemDef::new("invoice", ValueType::String),
    ItemDef::new("paid_by", ValueType::String),
];
static SCHEMA: DataSchema = DataSchema::new(&ITEMS);

/// The simulator's credentials go in these (`http::set_simulated_env`).
pub const CLIENT_ID_ENV: &str = "FLOWC_BENCH_PAYPAL_ID";
pub const CLIENT_SECRET_ENV: &str = "FLOWC_BENCH_PAYPAL_SECRET";

static CONNECTIONS: [ConnectionDef; 1] = [ConnectionDef {
    name: "paypal",
    provider: "paypal",
    mode: "sandbox",
    base_url: "",
    credentials: &[
        ("client_id", SecretSource::Env(CLIENT_ID_ENV)),
        ("client_secret", SecretSource::Env(CLIENT_SECRET_ENV)),
    ],
}];
static FEEDS: [FeedDef; 1] = [FeedDef {
    provider: "paypal",
    event: "INVOICING.INVOICE.PAID",
    connection: "paypal",
    poll: Some(Duration::from_secs(3600)),
}];

pub struct PayPalWaitFlow;

impl Flow for PayPalWaitFlow {
    const NAME: &'static str = "paypal_feed_bench";
    type Data = Data;
    type Step = Step;

    fn schema() -> &'static DataSchema {
        &SCHEMA
    }
    fn connections() -> &'static [ConnectionDef] {
        &CONNECTIONS
    }
    fn event_feeds() -> &'static [FeedDef] {
        &FEEDS
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
            match cx.wake_data::<Value>()? {
                Some(p) => {
                    data.paid_by = p["event_id"].as_str().map(str::to_string);
                    Ok(Transition::End(Outcome::Completed))
                }
                None => Ok(Transition::Wait(Wait {
                    on: WaitOn::Event {
                        name: "INVOICING.INVOICE.PAID",
                        key: data.invoice.clone().unwrap_or_default(),
                    },
                    timeout: Duration::from_secs(30 * 86_400),
                    on_timeout: Step::Wait,
                    poll: Some(Duration::from_secs(3600)),
                })),
            }
        })
    }
}
