//! A hand-written flow with a Stripe trigger (`charge.succeeded`) and an
//! event wait (`invoice.paid`): a charge's issue ends at once; an issue with
//! an invoice waits for it to be paid. Shared by the event feed's tests
//! (`src/events/tests.rs`) and the event feed benchmark (`benches/events.rs`).

use std::time::Duration;

use flowc_runtime::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Data {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub invoice: Option<String>,
    #[serde(default)]
    pub paid_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Begin,
}

impl StepId for Step {
    const ALL: &'static [Step] = &[Step::Begin];
    fn id(self) -> &'static str {
        "begin"
    }
}

static ITEMS: [ItemDef; 4] = [
    ItemDef::new("id", ValueType::String),
    ItemDef::new("amount", ValueType::Integer),
    ItemDef::new("invoice", ValueType::String),
    ItemDef::new("paid_by", ValueType::String),
];
static SCHEMA: DataSchema = DataSchema::new(&ITEMS);

macro_rules! secret {
    ($file:literal) => {
        SecretSource::File(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/events/testdata/",
            $file
        ))
    };
}

pub const WHSEC: &str = "whsec_fake_secret_for_feed_tests";

static CONNECTIONS: [ConnectionDef; 2] = [
    ConnectionDef {
        name: "stripe",
        provider: "stripe",
        mode: "test",
        base_url: "",
        credentials: &[
            ("secret_key", secret!("stripe_key")),
            ("webhook_secret", secret!("stripe_webhook_secret")),
        ],
    },
    ConnectionDef {
        name: "no_hooks",
        provider: "stripe",
        mode: "test",
        base_url: "",
        credentials: &[("secret_key", secret!("stripe_key"))],
    },
];
static TRIGGERS: [TriggerDef; 1] = [TriggerDef {
    provider: "stripe",
    event: "charge.succeeded",
    connection: "stripe",
    every: Some(Duration::from_secs(300)),
}];
static FEEDS: [FeedDef; 1] = [FeedDef {
    provider: "stripe",
    event: "invoice.paid",
    connection: "stripe",
    poll: Some(Duration::from_secs(900)),
}];

/// Trigger issues (a charge) end at once; an issue with an invoice waits for it
/// to be paid. Without `TRIGGER`, the connection is polled only for waits.
pub struct FeedFlowOf<const TRIGGER: bool>;

pub type FeedFlow = FeedFlowOf<true>;
pub type WaitOnlyFlow = FeedFlowOf<false>;

impl<const TRIGGER: bool> Flow for FeedFlowOf<TRIGGER> {
    const NAME: &'static str = "feed_test";
    type Data = Data;
    type Step = Step;

    fn schema() -> &'static DataSchema {
        &SCHEMA
    }
    fn connections() -> &'static [ConnectionDef] {
        &CONNECTIONS
    }
    fn triggers() -> &'static [TriggerDef] {
        if TRIGGER { &TRIGGERS } else { &[] }
    }
    fn event_feeds() -> &'static [FeedDef] {
        &FEEDS
    }
    fn first_step() -> Step {
        Step::Begin
    }
    fn run_step<'a>(
        _step: Step,
        data: &'a mut Data,
        cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<Step>, StepError>> {
        Box::pin(async move {
            let Some(invoice) = data.invoice.clone().filter(|_| data.id.is_none()) else {
                return Ok(Transition::End(Outcome::Completed));
            };
            match cx.wake_data::<Value>()? {
                Some(p) => {
                    data.paid_by = p["event_id"].as_str().map(str::to_string);
                    Ok(Transition::End(Outcome::Completed))
                }
                None => Ok(Transition::Wait(Wait {
                    on: WaitOn::Event {
                        name: "invoice.paid",
                        key: invoice,
                    },
                    timeout: Duration::from_secs(30 * 86_400),
                    on_timeout: Step::Begin,
                    poll: Some(Duration::from_secs(900)),
                })),
            }
        })
    }
}
