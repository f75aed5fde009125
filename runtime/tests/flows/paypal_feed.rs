//! The wait-only test flow (`testing::wait_flow`) that waits for its PayPal
//! invoice to be paid (`INVOICING.INVOICE.PAID`, polled hourly), then ends.
//! Shared by the PayPal event tests (`src/events/paypal_tests.rs`) and the
//! event feed benchmark (`benches/events.rs`), both against the PayPal
//! simulator.

use std::time::Duration;

use flowc_runtime::prelude::*;
use flowc_runtime::testing::wait_flow::{Data, WaitFlow, WaitSpec, keep};
use serde_json::Value;

static ITEMS: [ItemDef; 2] = [
    ItemDef::new("invoice", ValueType::String),
    ItemDef::new("paid_by", ValueType::String),
];

/// The simulator's credentials go in these (`http::set_simulated_env`).
pub const CLIENT_ID_ENV: &str = "FLOWC_PAYPAL_FEED_ID";
pub const CLIENT_SECRET_ENV: &str = "FLOWC_PAYPAL_FEED_SECRET";
/// Its webhooks are verified with this webhook id (the tests'; the benchmark
/// polls only).
pub const WEBHOOK_ID_ENV: &str = "FLOWC_PAYPAL_FEED_WEBHOOK";

static CONNECTIONS: [ConnectionDef; 1] = [ConnectionDef {
    name: "paypal",
    provider: "paypal",
    mode: "sandbox",
    base_url: "",
    credentials: &[
        ("client_id", SecretSource::Env(CLIENT_ID_ENV)),
        ("client_secret", SecretSource::Env(CLIENT_SECRET_ENV)),
        ("webhook_id", SecretSource::Env(WEBHOOK_ID_ENV)),
    ],
}];
static FEEDS: [FeedDef; 1] = [FeedDef {
    provider: "paypal",
    event: "INVOICING.INVOICE.PAID",
    connection: "paypal",
    poll: Some(Duration::from_secs(3600)),
}];

/// Waits for its invoice to be paid, then ends.
pub struct PayPalWait;

impl WaitSpec for PayPalWait {
    const NAME: &'static str = "paypal_feed";
    const ITEMS: &'static [ItemDef] = &ITEMS;
    const KEY: &'static str = "invoice";
    const CONNECTIONS: &'static [ConnectionDef] = &CONNECTIONS;
    const FEEDS: &'static [FeedDef] = &FEEDS;
    fn on_event(data: &mut Data, event: &Value) -> Option<Outcome> {
        keep(data, "paid_by", event["event_id"].as_str());
        Some(Outcome::Completed)
    }
}

pub type PayPalWaitFlow = WaitFlow<PayPalWait>;
