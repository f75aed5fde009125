//! The wait-only test flow (`testing::wait_flow`) that waits for its Vipps
//! eCom payment's status to change (`ecom.status_changed`, polled every 15
//! minutes, read object by object), forever. Used by the per-object poll
//! benchmark (`benches/vipps_poll.rs`) against the Vipps simulator.

use std::time::Duration;

use flowc_runtime::prelude::*;
use flowc_runtime::testing::wait_flow::{Data, WaitFlow, WaitSpec};
use serde_json::Value;

static ITEMS: [ItemDef; 1] = [ItemDef::new("order", ValueType::String)];

/// The simulator's credentials go in these (`http::set_simulated_env`).
pub const CREDENTIAL_ENVS: [(&str, &str); 4] = [
    ("client_id", "FLOWC_BENCH_VIPPS_ID"),
    ("client_secret", "FLOWC_BENCH_VIPPS_SECRET"),
    ("subscription_key", "FLOWC_BENCH_VIPPS_SUB"),
    ("merchant_serial_number", "FLOWC_BENCH_VIPPS_MSN"),
];

/// The poll interval of the wait.
pub const POLL: Duration = Duration::from_secs(900);

static CONNECTIONS: [ConnectionDef; 1] = [ConnectionDef {
    name: "vipps",
    provider: "vipps",
    mode: "test",
    base_url: "",
    credentials: &[
        ("client_id", SecretSource::Env("FLOWC_BENCH_VIPPS_ID")),
        (
            "client_secret",
            SecretSource::Env("FLOWC_BENCH_VIPPS_SECRET"),
        ),
        (
            "subscription_key",
            SecretSource::Env("FLOWC_BENCH_VIPPS_SUB"),
        ),
        (
            "merchant_serial_number",
            SecretSource::Env("FLOWC_BENCH_VIPPS_MSN"),
        ),
    ],
}];
static FEEDS: [FeedDef; 1] = [FeedDef {
    provider: "vipps",
    event: "ecom.status_changed",
    connection: "vipps",
    poll: Some(POLL),
}];

pub struct VippsWait;

impl WaitSpec for VippsWait {
    const NAME: &'static str = "vipps_feed_bench";
    const ITEMS: &'static [ItemDef] = &ITEMS;
    const KEY: &'static str = "order";
    const CONNECTIONS: &'static [ConnectionDef] = &CONNECTIONS;
    const FEEDS: &'static [FeedDef] = &FEEDS;
    const TIMEOUT: Duration = Duration::from_secs(90 * 86_400);
    /// Every change is waited past: the issue never ends.
    fn on_event(_data: &mut Data, _event: &Value) -> Option<Outcome> {
        None
    }
}

pub type VippsWaitFlow = WaitFlow<VippsWait>;
