//! The per-object poll ([`super::per_object`]) against a fake Vipps on
//! 127.0.0.1 that stamps every read with the (virtual) time it arrived: the
//! connection's budget holds in every second however many issues wait, a
//! settled payment is read no more, throttled reads wait for `Retry-After`, and
//! an older operation found later never moves an issue back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::EventFeed;
use crate::clock::{Clock, VirtualClock};
use crate::engine::Engine;
use crate::prelude::*;
use crate::store::{IssueState, SqliteOptions, SqliteStore, Store};
use crate::testing::wait_flow::{Data, WaitFlow, WaitSpec, keep, text};

static ITEMS: [ItemDef; 3] = [
    ItemDef::new("reference", ValueType::String),
    ItemDef::new("status", ValueType::String),
    ItemDef::new("changes", ValueType::Integer),
];
static CONNECTIONS: [ConnectionDef; 1] = [ConnectionDef {
    name: "vipps_poll",
    provider: "vipps",
    mode: "test",
    base_url: "",
    credentials: &[
        ("client_id", SecretSource::Env("FLOWC_POLL_TEST_VIPPS_ID")),
        (
            "client_secret",
            SecretSource::Env("FLOWC_POLL_TEST_VIPPS_SECRET"),
        ),
        (
            "subscription_key",
            SecretSource::Env("FLOWC_POLL_TEST_VIPPS_SUB"),
        ),
        (
            "merchant_serial_number",
            SecretSource::Env("FLOWC_POLL_TEST_VIPPS_MSN"),
        ),
    ],
}];
/// The poll interval of the test flow's wait.
const POLL: Duration = Duration::from_secs(5);
static FEEDS: [FeedDef; 1] = [FeedDef {
    provider: "vipps",
    event: "ecom.status_changed",
    connection: "vipps_poll",
    poll: Some(POLL),
}];

/// Keeps its payment's status, waiting for every change (the seed flow's
/// `sync` loop), until an order `END-…` is cancelled.
struct Poll;

impl WaitSpec for Poll {
    const NAME: &'static str = "vipps_poll_test";
    const ITEMS: &'static [ItemDef] = &ITEMS;
    const KEY: &'static str = "reference";
    const CONNECTIONS: &'static [ConnectionDef] = &CONNECTIONS;
    const FEEDS: &'static [FeedDef] = &FEEDS;
    fn on_event(data: &mut Data, event: &Value) -> Option<Outcome> {
        keep(data, "status", event["status"].as_str());
        let changes = data.get("changes").and_then(Value::as_i64).unwrap_or(0) + 1;
        data.insert("changes".into(), changes.into());
        let ends = text(data, Self::KEY).starts_with("END-");
        (ends && text(data, "status") == "CANCEL").then_some(Outcome::Cancelled)
    }
}

type PollFlow = WaitFlow<Poll>;

/// The fake's payments and what it saw.
#[derive(Default)]
struct Fake {
    /// Each order's transaction log (newest first as Vipps lists it).
    logs: HashMap<String, Vec<Value>>,
    /// Every details read: when it arrived (virtual), the order, the status sent.
    reads: Vec<(Timestamp, String, u16)>,
    /// Answer this many reads with 429 first.
    throttle: usize,
}

type Shared = (Arc<Mutex<Fake>>, VirtualClock);

async fn details(State((fake, clock)): State<Shared>, Path(order): Path<String>) -> Response {
    let mut f = fake.lock().unwrap();
    let now = clock.now();
    if f.throttle > 0 {
        f.throttle -= 1;
        f.reads.push((now, order, 429));
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("Retry-After", "2")],
            "[{\"errorCode\":\"429\",\"errorMessage\":\"Too many requests\"}]",
        )
            .into_response();
    }
    f.reads.push((now, order.clone(), 200));
    let Some(log) = f.logs.get(&order).cloned() else {
        return (StatusCode::NOT_FOUND, "[]").into_response();
    };
    axum::Json(json!({
        "orderId": order,
        "transactionSummary": {"capturedAmount": 0, "refundedAmount": 0,
            "remainingAmountToCapture": 1000, "remainingAmountToRefund": 0},
        "transactionLogHistory": log,
    }))
    .into_response()
}

fn op(operation: &str, tx: &str, at: &str) -> Value {
    json!({"operation": operation, "operationSuccess": true, "amount": 1000,
           "transactionId": tx, "timeStamp": at})
}

struct World {
    store: Arc<dyn Store>,
    feed: Arc<EventFeed<PollFlow>>,
    clock: VirtualClock,
    fake: Arc<Mutex<Fake>>,
}

async fn world() -> World {
    for (k, v) in [
        ("FLOWC_POLL_TEST_VIPPS_ID", "id"),
        ("FLOWC_POLL_TEST_VIPPS_SECRET", "secret"),
        ("FLOWC_POLL_TEST_VIPPS_SUB", "sub"),
        ("FLOWC_POLL_TEST_VIPPS_MSN", "123456"),
    ] {
        crate::http::set_simulated_env(k, v);
    }
    let clock = VirtualClock::new("2025-01-01T00:00:00Z".parse().unwrap());
    let fake = Arc::new(Mutex::new(Fake::default()));
    let app = axum::Router::new()
        .route(
            "/accesstoken/get",
            post(|| async { axum::Json(json!({"access_token": "t", "expires_in": "3600"})) }),
        )
        .route("/ecomm/v2/payments/{order}/details", get(details))
        .with_state((fake.clone(), clock.clone()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(":memory:", "vipps_poll_test")).unwrap());
    let engine =
        Engine::<PollFlow>::with_base_url(store.clone(), Arc::new(clock.clone()), Some(&base));
    World {
        store,
        feed: Arc::new(EventFeed::new(engine)),
        clock,
        fake,
    }
}

impl World {
    async fn waiting(&self, reference: &str) -> String {
        let issue = self
            .feed
            .engine()
            .start(&json!({ "reference": reference }))
            .await
            .unwrap();
        self.feed.engine().run_due(64).await.unwrap();
        issue
    }

    /// Polls and runs what is due every `step` of virtual time for `total`.
    async fn run_for(&self, total: Duration, step: Duration) {
        let end = crate::clock::add(self.clock.now(), total);
        while self.clock.now() < end {
            self.feed.poll_due(self.clock.now()).await;
            self.feed.engine().run_due(64).await.unwrap();
            self.clock.advance(step);
        }
    }

    fn reads(&self) -> Vec<(Timestamp, String, u16)> {
        self.fake.lock().unwrap().reads.clone()
    }

    async fn data(&self, issue: &str) -> (IssueState, Value) {
        let row = self.store.load(issue).await.unwrap().unwrap();
        (row.state, row.data)
    }
}

/// The most reads in any half-open second `[t, t + 1s)`.
fn busiest_second(reads: &[(Timestamp, String, u16)]) -> usize {
    let times: Vec<Timestamp> = reads.iter().map(|r| r.0).collect();
    times
        .iter()
        .map(|t| {
            let end = crate::clock::add(*t, Duration::from_secs(1));
            times.iter().filter(|u| *u >= t && **u < end).count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_waiting_payments_share_the_default_budget_of_two_reads_a_second() {
    // What the checker asks: Vipps's waits can be polled now.
    assert!(super::can_poll("vipps"));
    let w = world().await;
    let mut orders = Vec::new();
    for i in 0..40 {
        let order = format!("ORD-{i:03}");
        w.fake.lock().unwrap().logs.insert(
            order.clone(),
            vec![op("INITIATE", &format!("{i}"), "2025-01-01T00:00:00Z")],
        );
        w.waiting(&order).await;
        orders.push(order);
    }
    w.run_for(Duration::from_secs(45), Duration::from_millis(50))
        .await;
    let reads = w.reads();
    // 40 objects at 2 a second: a sweep takes 20 s, longer than the 5 s
    // interval, so sweeps follow each other; never more than 2 in a second.
    assert_eq!(busiest_second(&reads), 2, "{reads:?}");
    assert!(reads.len() >= 80 && reads.len() <= 91, "{}", reads.len());
    for o in &orders {
        assert!(reads.iter().any(|r| &r.1 == o), "{o} was never read");
    }
    // The reads of one sweep are each order once, 500 ms apart.
    let first: Vec<&String> = reads.iter().take(40).map(|r| &r.1).collect();
    let mut sorted = first.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 40);
    assert_eq!(
        reads[1].0.duration_since(reads[0].0),
        jiff::SignedDuration::from_millis(500)
    );
    // What the reads found woke every issue once (the INITIATE); reading it
    // again changed nothing.
    for issue in w.store.list(None, 100).await.unwrap() {
        assert_eq!(issue.data["changes"], 1, "{}", issue.id);
        assert_eq!(issue.data["status"], "INITIATE");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn few_payments_are_read_spread_over_the_interval_and_settled_ones_no_more() {
    let w = world().await;
    {
        let mut f = w.fake.lock().unwrap();
        f.logs.insert(
            "ORD-OPEN".into(),
            vec![op("RESERVE", "2", "2025-01-01T00:00:01Z")],
        );
        f.logs.insert(
            "ORD-GONE".into(),
            vec![op("CANCEL", "3", "2025-01-01T00:00:01Z")],
        );
        f.logs.insert(
            "END-1".into(),
            vec![op("CANCEL", "4", "2025-01-01T00:00:01Z")],
        );
    }
    let open = w.waiting("ORD-OPEN").await;
    let gone = w.waiting("ORD-GONE").await;
    let ended = w.waiting("END-1").await;
    w.run_for(Duration::from_secs(16), Duration::from_millis(100))
        .await;
    let reads = w.reads();
    let count = |o: &str| reads.iter().filter(|r| r.1 == o).count();
    // Three sweeps of a 5 s interval (and the start of a fourth): the open
    // payment every time; the cancelled one once (its issue still waits, but
    // nothing more can happen to it); the ended issue's once, then never.
    assert!(count("ORD-OPEN") >= 3, "{reads:?}");
    assert_eq!(count("ORD-GONE"), 1, "{reads:?}");
    assert_eq!(count("END-1"), 1, "{reads:?}");
    // Three objects over 5 s: one every 5/3 s, not all at once.
    let gap = reads[1].0.duration_since(reads[0].0).as_millis();
    assert!((1600..=1700).contains(&gap), "{gap}");
    assert_eq!(w.data(&open).await.1["status"], "RESERVE");
    assert_eq!(w.data(&gone).await.0, IssueState::Waiting);
    assert_eq!(w.data(&ended).await.0, IssueState::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_reads_wait_for_retry_after_and_stay_in_the_budget() {
    let w = world().await;
    for i in 0..6 {
        let order = format!("ORD-{i}");
        w.fake.lock().unwrap().logs.insert(
            order.clone(),
            vec![op("RESERVE", &format!("{i}"), "2025-01-01T00:00:01Z")],
        );
        w.waiting(&order).await;
    }
    w.fake.lock().unwrap().throttle = 2;
    w.run_for(Duration::from_secs(9), Duration::from_millis(50))
        .await;
    let reads = w.reads();
    assert_eq!((reads[0].2, reads[1].2), (429, 429), "{reads:?}");
    // Retry-After: 2 is honoured before the next read, the same order again.
    assert_eq!(
        reads[1].0.duration_since(reads[0].0),
        jiff::SignedDuration::from_secs(2)
    );
    assert_eq!(
        (reads[0].1.as_str(), reads[1].1.as_str()),
        ("ORD-0", "ORD-0")
    );
    assert_eq!(reads[2].1, "ORD-0");
    assert!(busiest_second(&reads) <= 2);
    for i in 0..6 {
        let o = format!("ORD-{i}");
        assert!(reads.iter().any(|r| r.1 == o && r.2 == 200), "{o}");
    }
    for issue in w.store.list(None, 100).await.unwrap() {
        assert_eq!(issue.data["status"], "RESERVE", "{}", issue.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_operation_found_later_never_moves_the_status_back() {
    let w = world().await;
    w.fake.lock().unwrap().logs.insert(
        "ORD-R".into(),
        vec![
            op("CAPTURE", "2", "2025-01-01T00:02:00Z"),
            op("REFUND", "3", "2025-01-20T00:00:00Z"),
        ],
    );
    let issue = w.waiting("ORD-R").await;
    w.run_for(Duration::from_secs(2), Duration::from_millis(100))
        .await;
    assert_eq!(w.data(&issue).await.1["status"], "REFUND");
    // A late callback of the reservation (older than the refund) comes in,
    // and a details read whose newest entry is the capture.
    let feed = &w.feed.feeds[0];
    let mut callback = json!({"merchantSerialNumber": "123456", "orderId": "ORD-R",
        "transactionInfo": {"amount": 1000, "status": "RESERVED",
            "timeStamp": "2025-01-01T00:01:00Z", "transactionId": "1"}});
    crate::providers::vipps::webhook::normalize(&mut callback).unwrap();
    let mut events = crate::providers::vipps::webhook::companions(&callback);
    let (mut capture, _) = crate::providers::vipps::poll::read_answer(
        "ecom.status_changed",
        "ORD-R",
        &json!({"orderId": "ORD-R", "transactionLogHistory": [op("CAPTURE", "2", "2025-01-01T00:02:00Z")]})
            .to_string(),
    )
    .unwrap();
    events.append(&mut capture);
    let (out, _) = w.feed.ingest(feed, &events, None, true).await.unwrap();
    assert_eq!(out.delivered, 2, "both are new events");
    w.feed.engine().run_due(8).await.unwrap();
    let (state, data) = w.data(&issue).await;
    assert_eq!(
        (state, &data["status"]),
        (IssueState::Waiting, &json!("REFUND"))
    );
    assert_eq!(data["changes"], 1);
    let stale = w
        .store
        .history(&issue)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.event == "stale")
        .count();
    assert_eq!(stale, 2);
    // A newer operation still moves it.
    let (newer, _) = crate::providers::vipps::poll::read_answer(
        "ecom.status_changed",
        "ORD-R",
        &json!({"orderId": "ORD-R", "transactionLogHistory": [op("REFUND", "5", "2025-02-01T00:00:00Z")]})
            .to_string(),
    )
    .unwrap();
    w.feed.ingest(feed, &newer, None, true).await.unwrap();
    w.feed.engine().run_due(8).await.unwrap();
    assert_eq!(w.data(&issue).await.1["changes"], 2);
}
