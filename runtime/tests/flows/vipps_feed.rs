//! A hand-written flow that waits for its Vipps eCom payment's status to
//! change (`ecom.status_changed`, polled every 15 minutes, read object by
//! object), forever. Used by the per-object poll benchmark
//! (`benches/vipps_poll.rs`) against the Vipps simulator.

use std::time::Duration;

use flowc_runtime::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Data {
    #[serde(default)]
    pub order: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Sync,
}

impl StepId for Step {
    const ALL: &'static [Step] = &[Step::Sync];
    fn id(self) -> &'static str {
        "sync"
    }
}

static ITEMS: [ItemDef; 1] = [ItemDef::new("order", ValueType::String)];
static SCHEMA: DataSchema = DataSchema::new(&ITEMS);

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

pub struct VippsWaitFlow;

impl Flow for VippsWaitFlow {
    const NAME: &'static str = "vipps_feed_bench";
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
        Step::Sync
    }
    fn run_step<'a>(
        _step: Step,
        data: &'a mut Data,
        _cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<Step>, StepError>> {
        Box::pin(async move {
            Ok(Transition::Wait(Wait {
                on: WaitOn::Event {
                    name: "ecom.status_changed",
                    key: data.order.clone().unwrap_or_default(),
                },
                timeout: Duration::from_secs(90 * 86_400),
                on_timeout: Step::Sync,
                poll: Some(POLL),
            }))
        })
    }
}
