//! The wait-only test flow (`testing::wait_flow`) with a Stripe trigger
//! (`charge.succeeded`) and an event wait (`invoice.paid`): a charge's issue
//! ends at once; an issue with an invoice waits for it to be paid. Shared by
//! the event feed's tests (`src/events/tests.rs`), the metrics tests and the
//! event feed benchmark (`benches/events.rs`).

use std::time::Duration;

use flowc_runtime::prelude::*;
use flowc_runtime::testing::wait_flow::{Data, WaitFlow, WaitSpec, keep};
use serde_json::Value;

static ITEMS: [ItemDef; 4] = [
    ItemDef::new("id", ValueType::String),
    ItemDef::new("amount", ValueType::Integer),
    ItemDef::new("invoice", ValueType::String),
    ItemDef::new("paid_by", ValueType::String),
];

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
pub struct Stripe<const TRIGGER: bool>;

pub type FeedFlow = WaitFlow<Stripe<true>>;
pub type WaitOnlyFlow = WaitFlow<Stripe<false>>;

impl<const TRIGGER: bool> WaitSpec for Stripe<TRIGGER> {
    const NAME: &'static str = "feed_test";
    const ITEMS: &'static [ItemDef] = &ITEMS;
    const KEY: &'static str = "invoice";
    const CONNECTIONS: &'static [ConnectionDef] = &CONNECTIONS;
    const FEEDS: &'static [FeedDef] = &FEEDS;
    const TRIGGERS: &'static [TriggerDef] = if TRIGGER { &TRIGGERS } else { &[] };
    fn wait_on(data: &Data) -> Option<(&'static str, String)> {
        if data.get("id").is_some_and(|id| !id.is_null()) {
            return None;
        }
        let invoice = data.get(Self::KEY)?.as_str()?;
        Some((Self::FEEDS[0].event, invoice.to_string()))
    }
    fn on_event(data: &mut Data, event: &Value) -> Option<Outcome> {
        keep(data, "paid_by", event["event_id"].as_str());
        Some(Outcome::Completed)
    }
}
