//! The per-object poll ([`super::per_object`]) of an ePayment payment against
//! the Vipps simulator: an issue waiting for `epayments.payment.captured.v1`
//! is woken by the capture found in the payment's event log
//! (`GET /epayment/v1/payments/{reference}/events`), with no webhook at all.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::EventFeed;
use crate::clock::{Clock, VirtualClock};
use crate::engine::Engine;
use crate::prelude::*;
use crate::providers::vipps::sim::{self, SimConfig, VippsSim};
use crate::store::{IssueState, SqliteOptions, SqliteStore, Store};
use crate::testing::wait_flow::{Data, WaitFlow, WaitSpec, keep};

static ITEMS: [ItemDef; 3] = [
    ItemDef::new("reference", ValueType::String),
    ItemDef::new("captured", ValueType::String),
    ItemDef::new("psp_reference", ValueType::String),
];
static CONNECTIONS: [ConnectionDef; 1] = [ConnectionDef {
    name: "vipps_epay_poll",
    provider: "vipps",
    mode: "test",
    base_url: "",
    credentials: &[
        ("client_id", SecretSource::Env("FLOWC_EPAY_POLL_TEST_ID")),
        (
            "client_secret",
            SecretSource::Env("FLOWC_EPAY_POLL_TEST_SECRET"),
        ),
        (
            "subscription_key",
            SecretSource::Env("FLOWC_EPAY_POLL_TEST_SUB"),
        ),
        (
            "merchant_serial_number",
            SecretSource::Env("FLOWC_EPAY_POLL_TEST_MSN"),
        ),
    ],
}];
const POLL: Duration = Duration::from_secs(5);
const CAPTURED: &str = "epayments.payment.captured.v1";
static FEEDS: [FeedDef; 1] = [FeedDef {
    provider: "vipps",
    event: CAPTURED,
    connection: "vipps_epay_poll",
    poll: Some(POLL),
}];

/// Waits for its payment's capture, then ends with what was captured.
struct Capture;

impl WaitSpec for Capture {
    const NAME: &'static str = "vipps_epayment_poll_test";
    const ITEMS: &'static [ItemDef] = &ITEMS;
    const KEY: &'static str = "reference";
    const CONNECTIONS: &'static [ConnectionDef] = &CONNECTIONS;
    const FEEDS: &'static [FeedDef] = &FEEDS;
    const TIMEOUT: Duration = Duration::from_secs(86_400);
    fn on_event(data: &mut Data, event: &Value) -> Option<Outcome> {
        // The event's outputs (the catalog's), amounts in major units.
        let captured = event.pointer("/amount/amount").and_then(Value::as_str);
        keep(data, "captured", captured);
        keep(data, "psp_reference", event["psp_reference"].as_str());
        Some(Outcome::Completed)
    }
}

type CaptureFlow = WaitFlow<Capture>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_epayment_capture_is_found_by_polling_the_simulators_event_log() {
    for (k, v) in [
        ("FLOWC_EPAY_POLL_TEST_ID", sim::CLIENT_ID),
        ("FLOWC_EPAY_POLL_TEST_SECRET", sim::CLIENT_SECRET),
        ("FLOWC_EPAY_POLL_TEST_SUB", sim::SUBSCRIPTION_KEY),
        ("FLOWC_EPAY_POLL_TEST_MSN", sim::MSN),
    ] {
        crate::http::set_simulated_env(k, v);
    }
    let clock = VirtualClock::new("2025-03-01T10:00:00Z".parse().unwrap());
    let sim = VippsSim::start(SimConfig {
        clock: Arc::new(clock.clone()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(SqliteOptions::new(":memory:", "vipps_epayment_poll_test")).unwrap(),
    );
    let engine = Engine::<CaptureFlow>::with_base_url(
        store.clone(),
        Arc::new(clock.clone()),
        Some(&sim.url()),
    );
    let feed = Arc::new(EventFeed::new(engine));
    // The merchant's calls, straight to the simulator.
    let http = reqwest::Client::new();
    let token = sim.access_token().await.unwrap();
    let post = |path: &str, body: Value, key: &str| {
        http.post(format!("{}{path}", sim.url()))
            .bearer_auth(&token)
            .header("Ocp-Apim-Subscription-Key", sim::SUBSCRIPTION_KEY)
            .header("Merchant-Serial-Number", sim::MSN)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let created = post(
        "/epayment/v1/payments",
        json!({"amount": {"value": 2500, "currency": "NOK"}, "paymentMethod": {"type": "WALLET"},
               "reference": "pay-poll-0001", "userFlow": "PUSH_MESSAGE",
               "customer": {"phoneNumber": "4791234567"}}),
        "p1",
    )
    .await
    .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let issue = feed
        .engine()
        .start(&json!({"reference": "pay-poll-0001"}))
        .await
        .unwrap();
    feed.engine().run_due(8).await.unwrap();
    let run_for = |secs: u64| {
        let feed = feed.clone();
        let clock = clock.clone();
        async move {
            let end = crate::clock::add(clock.now(), Duration::from_secs(secs));
            while clock.now() < end {
                feed.poll_due(clock.now()).await;
                feed.engine().run_due(8).await.unwrap();
                clock.advance(Duration::from_millis(500));
            }
        }
    };
    // Authorized but not captured: the reads find no capture.
    sim.approve("pay-poll-0001").unwrap();
    run_for(12).await;
    let row = store.load(&issue).await.unwrap().unwrap();
    assert_eq!(row.state, IssueState::Waiting);
    let reads = |sim: &VippsSim| {
        sim.requests()
            .iter()
            .filter(|r| r.path == "/epayment/v1/payments/pay-poll-0001/events")
            .count()
    };
    assert!(reads(&sim) >= 2, "the poll reads the event log");
    let captured = post(
        "/epayment/v1/payments/pay-poll-0001/capture",
        json!({"modificationAmount": {"value": 1500, "currency": "NOK"}}),
        "p2",
    )
    .await
    .unwrap();
    assert_eq!(captured.status().as_u16(), 200);
    run_for(12).await;
    let row = store.load(&issue).await.unwrap().unwrap();
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.data);
    assert_eq!(row.data["captured"], "15.00");
    let capture = &sim.epayment_events("pay-poll-0001").unwrap()[2];
    assert_eq!(capture["name"], "CAPTURED");
    assert_eq!(row.data["psp_reference"], capture["pspReference"]);
}
