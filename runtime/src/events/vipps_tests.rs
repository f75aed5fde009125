//! Vipps ePayment webhooks through the provider-neutral event layer: a delivery
//! counts only when its HMAC-SHA256 signature (the Webhooks API's, over the
//! path, `x-ms-date`, host and body hash, with the connection's
//! `webhook_secret`) is right; forged, unsigned and altered deliveries get 400
//! and change nothing; a redelivery is a duplicate.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::EventFeed;
use crate::clock::VirtualClock;
use crate::engine::Engine;
use crate::prelude::*;
use crate::providers::vipps::webhook::{authorization, content_hash};
use crate::store::{IssueState, SqliteOptions, SqliteStore, Store};
use crate::testing::wait_flow::{Data, WaitFlow, WaitSpec, keep, text};

const SECRET: &str = "vipps-webhook-secret";

static ITEMS: [ItemDef; 2] = [
    ItemDef::new("reference", ValueType::String),
    ItemDef::new("captured_by", ValueType::String),
];
static CONNECTIONS: [ConnectionDef; 1] = [ConnectionDef {
    name: "vipps",
    provider: "vipps",
    mode: "test",
    base_url: "",
    credentials: &[
        ("client_id", SecretSource::Env("FLOWC_EVENTS_TEST_VIPPS_ID")),
        (
            "client_secret",
            SecretSource::Env("FLOWC_EVENTS_TEST_VIPPS_SECRET"),
        ),
        (
            "subscription_key",
            SecretSource::Env("FLOWC_EVENTS_TEST_VIPPS_SUB"),
        ),
        (
            "merchant_serial_number",
            SecretSource::Env("FLOWC_EVENTS_TEST_VIPPS_MSN"),
        ),
        (
            "webhook_secret",
            SecretSource::Env("FLOWC_EVENTS_TEST_VIPPS_WEBHOOK"),
        ),
    ],
}];
static FEEDS: [FeedDef; 3] = [
    FeedDef {
        provider: "vipps",
        event: "epayments.payment.captured.v1",
        connection: "vipps",
        poll: None,
    },
    FeedDef {
        provider: "vipps",
        event: "ecom.reserved",
        connection: "vipps",
        poll: None,
    },
    FeedDef {
        provider: "vipps",
        event: "ecom.status_changed",
        connection: "vipps",
        poll: None,
    },
];

/// What an issue for payment `reference` waits for: an eCom order `ORD-…` its
/// reservation, `STC-…` its status change, anything else its ePayment capture.
fn wait_for(reference: &str) -> &'static str {
    if reference.starts_with("ORD-") {
        "ecom.reserved"
    } else if reference.starts_with("STC-") {
        "ecom.status_changed"
    } else {
        "epayments.payment.captured.v1"
    }
}

/// Waits for its ePayment payment's capture (or, for an eCom order `ORD-…`,
/// its reservation), then ends.
struct Vipps;

impl WaitSpec for Vipps {
    const NAME: &'static str = "vipps_events_test";
    const ITEMS: &'static [ItemDef] = &ITEMS;
    const KEY: &'static str = "reference";
    const CONNECTIONS: &'static [ConnectionDef] = &CONNECTIONS;
    const FEEDS: &'static [FeedDef] = &FEEDS;
    fn wait_on(data: &Data) -> Option<(&'static str, String)> {
        let reference = text(data, Self::KEY);
        Some((wait_for(&reference), reference))
    }
    fn on_event(data: &mut Data, event: &Value) -> Option<Outcome> {
        let by = event["psp_reference"]
            .as_str()
            .or(event["transaction_id"].as_str())
            .or(event["status"].as_str());
        keep(data, "captured_by", by);
        Some(Outcome::Completed)
    }
}

type VippsFlow = WaitFlow<Vipps>;

async fn listen(feed: Arc<EventFeed<VippsFlow>>) -> (String, String) {
    let app = crate::cli::listen::router(feed, crate::cli::operator::OperatorAuth::refuse_all());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}"), addr.to_string())
}

/// The headers the Webhooks API sends with `body`, signed with `secret`.
fn signed(secret: &str, host: &str, body: &str) -> Vec<(String, String)> {
    let date = "Wed, 01 Jan 2025 00:00:05 GMT";
    let hash = content_hash(body.as_bytes());
    let auth = authorization(secret, "/webhooks/vipps", date, host, &hash);
    vec![
        ("x-ms-date".into(), date.into()),
        ("x-ms-content-sha256".into(), hash),
        ("authorization".into(), auth),
        ("content-type".into(), "application/json".into()),
    ]
}

async fn post(url: &str, headers: &[(String, String)], body: &str) -> (u16, Value) {
    let mut rb = reqwest::Client::new().post(url).body(body.to_string());
    for (k, v) in headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

struct World {
    store: Arc<dyn Store>,
    feed: Arc<EventFeed<VippsFlow>>,
}

async fn world() -> World {
    crate::http::set_simulated_env("FLOWC_EVENTS_TEST_VIPPS_ID", "id");
    crate::http::set_simulated_env("FLOWC_EVENTS_TEST_VIPPS_SECRET", "secret");
    crate::http::set_simulated_env("FLOWC_EVENTS_TEST_VIPPS_SUB", "sub");
    crate::http::set_simulated_env("FLOWC_EVENTS_TEST_VIPPS_MSN", "123456");
    crate::http::set_simulated_env("FLOWC_EVENTS_TEST_VIPPS_WEBHOOK", SECRET);
    let clock = VirtualClock::new("2025-01-01T00:00:00Z".parse().unwrap());
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(":memory:", "vipps_events_test")).unwrap());
    let engine = Engine::<VippsFlow>::with_base_url(
        store.clone(),
        Arc::new(clock),
        Some("http://127.0.0.1:9"),
    );
    World {
        store,
        feed: Arc::new(EventFeed::new(engine)),
    }
}

impl World {
    /// An issue waiting for the payment `reference`.
    async fn waiting(&self, reference: &str) -> String {
        let issue = self
            .feed
            .engine()
            .start(&json!({ "reference": reference }))
            .await
            .unwrap();
        self.feed.engine().run_due(8).await.unwrap();
        issue
    }

    async fn state(&self, issue: &str) -> (IssueState, Option<Value>) {
        self.feed.engine().run_due(8).await.unwrap();
        let row = self.store.load(issue).await.unwrap().unwrap();
        (row.state, row.data.get("captured_by").cloned())
    }
}

#[tokio::test]
async fn an_epayment_webhook_counts_only_when_its_signature_is_right() {
    let w = world().await;
    let feed = w.feed.clone();
    let issue = w.waiting("order-0001").await;
    let state = |issue: String| {
        let w = &w;
        async move { w.state(&issue).await }
    };
    assert_eq!(state(issue.clone()).await.0, IssueState::Waiting);

    let (base, host) = listen(feed.clone()).await;
    let url = format!("{base}/webhooks/vipps");
    let body = json!({
        "msn": "123456", "reference": "order-0001", "pspReference": "7686f7788898767977",
        "name": "CAPTURED", "amount": {"currency": "NOK", "value": 1000},
        "timestamp": "2025-01-01T00:00:04Z", "idempotencyKey": "k-1", "success": true
    })
    .to_string();
    let good = signed(SECRET, &host, &body);

    // Refused, and nothing changes: another secret, another host, an altered
    // body (with or without its new hash), a header missing, no signature.
    let mut refused = vec![
        (signed("not-the-secret", &host, &body), body.clone()),
        (signed(SECRET, "evil.example", &body), body.clone()),
        (good.clone(), body.replace("1000", "100000")),
        (
            signed(SECRET, &host, &body.replace("1000", "9")),
            body.replace("1000", "100000"),
        ),
        (Vec::new(), body.clone()),
    ];
    for h in ["x-ms-date", "x-ms-content-sha256", "authorization"] {
        let mut missing = good.clone();
        missing.retain(|(k, _)| k != h);
        refused.push((missing, body.clone()));
    }
    for (headers, b) in &refused {
        let (status, answer) = post(&url, headers, b).await;
        assert_eq!(status, 400, "{headers:?}: {answer}");
        assert!(!answer.to_string().contains(SECRET));
    }
    feed.engine().run_due(8).await.unwrap();
    assert_eq!(state(issue.clone()).await.0, IssueState::Waiting);

    // The signed delivery wakes the issue; its redelivery is a duplicate.
    let (status, answer) = post(&url, &good, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["event"], "order-0001/CAPTURED/7686f7788898767977");
    assert_eq!(answer["duplicate"], false);
    assert_eq!(answer["ignored"], false);
    feed.engine().run_due(8).await.unwrap();
    assert_eq!(
        state(issue.clone()).await,
        (IssueState::Completed, Some(json!("7686f7788898767977")))
    );
    let (status, answer) = post(&url, &good, &body).await;
    assert_eq!((status, &answer["duplicate"]), (200, &json!(true)));

    // An event the flow does not wait for is taken and ignored; an unknown
    // event name is refused.
    let other = body.replace("CAPTURED", "REFUNDED");
    let (status, answer) = post(&url, &signed(SECRET, &host, &other), &other).await;
    assert_eq!(
        (status, &answer["ignored"]),
        (200, &json!(true)),
        "{answer}"
    );
    let unknown = body.replace("CAPTURED", "EXPLODED");
    let (status, _) = post(&url, &signed(SECRET, &host, &unknown), &unknown).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_ecom_callback_counts_only_with_its_payments_token() {
    use crate::providers::vipps::auth_token::derive;
    let w = world().await;
    let issue = w.waiting("ORD-1").await;
    let (base, _) = listen(w.feed.clone()).await;
    let url = format!("{base}/webhooks/vipps/v2/payments/ORD-1");
    let body = |order: &str, msn: &str| {
        json!({"merchantSerialNumber": msn, "orderId": order,
               "transactionInfo": {"amount": 1000, "status": "RESERVED",
                                   "timeStamp": "2025-01-01T00:00:01Z", "transactionId": "5001234567"}})
        .to_string()
    };
    let key = crate::http::Secret::new("secret");
    let token = derive(&key, "123456", "ORD-1");
    let auth = |t: &str| vec![("authorization".to_string(), t.to_string())];

    // Another order's token, another secret's, none, another MSN: refused.
    for (headers, b) in [
        (
            auth(derive(&key, "123456", "ORD-2").expose()),
            body("ORD-1", "123456"),
        ),
        (
            auth(derive(&crate::http::Secret::new("x"), "123456", "ORD-1").expose()),
            body("ORD-1", "123456"),
        ),
        (Vec::new(), body("ORD-1", "123456")),
        (auth(token.expose()), body("ORD-1", "654321")),
        (auth(token.expose()), body("ORD-2", "123456")),
    ] {
        let (status, answer) = post(&url, &headers, &b).await;
        assert_eq!(status, 400, "{headers:?}: {answer}");
        assert!(!answer.to_string().contains(token.expose()));
    }
    assert_eq!(w.state(&issue).await.0, IssueState::Waiting);

    let (status, answer) = post(&url, &auth(token.expose()), &body("ORD-1", "123456")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["event"], "ORD-1/RESERVED/5001234567");
    assert_eq!(
        w.state(&issue).await,
        (IssueState::Completed, Some(json!("5001234567")))
    );
    let (status, answer) = post(&url, &auth(token.expose()), &body("ORD-1", "123456")).await;
    assert_eq!((status, &answer["duplicate"]), (200, &json!(true)));
}

/// The seed flow waits for `ecom.status_changed`: a callback (sent once, when
/// the payer answers) is also that change, read like the payment's details.
#[tokio::test]
async fn an_ecom_callback_is_also_the_payments_status_change() {
    use crate::providers::vipps::auth_token::derive;
    let w = world().await;
    let issue = w.waiting("STC-1").await;
    let (base, _) = listen(w.feed.clone()).await;
    let url = format!("{base}/webhooks/vipps/v2/payments/STC-1");
    let body = json!({"merchantSerialNumber": "123456", "orderId": "STC-1",
                      "transactionInfo": {"amount": 1000, "status": "RESERVED",
                                          "timeStamp": "2025-01-01T00:00:01Z", "transactionId": "5001234567"}})
    .to_string();
    let token = derive(&crate::http::Secret::new("secret"), "123456", "STC-1");
    let auth = vec![("authorization".to_string(), token.expose().to_string())];
    let (status, answer) = post(&url, &[], &body).await;
    assert_eq!(status, 400, "{answer}");
    // The right token, posted to another order's path.
    let elsewhere = format!("{base}/webhooks/vipps/v2/payments/STC-2");
    let (status, answer) = post(&elsewhere, &auth, &body).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(w.state(&issue).await.0, IssueState::Waiting);

    let (status, answer) = post(&url, &auth, &body).await;
    assert_eq!(
        (status, &answer["duplicate"]),
        (200, &json!(false)),
        "{answer}"
    );
    assert_eq!(
        w.state(&issue).await,
        (IssueState::Completed, Some(json!("RESERVE")))
    );
    let (status, answer) = post(&url, &auth, &body).await;
    assert_eq!(
        (status, &answer["duplicate"]),
        (200, &json!(true)),
        "{answer}"
    );
}

/// Creates and captures an ePayment payment on the simulator, as a merchant.
async fn epayment_captured(sim: &crate::providers::vipps::sim::VippsSim, reference: &str) {
    use crate::providers::vipps::sim::SUBSCRIPTION_KEY;
    let http = reqwest::Client::new();
    let token = sim.access_token().await.unwrap();
    let token = token.as_str();
    let post = |path: String, body: Value, key: String| {
        http.post(format!("{}{path}", sim.url()))
            .bearer_auth(token)
            .header("Ocp-Apim-Subscription-Key", SUBSCRIPTION_KEY)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let r = post(
        "/epayment/v1/payments".into(),
        json!({"amount": {"value": 1000, "currency": "NOK"}, "paymentMethod": {"type": "WALLET"},
               "reference": reference, "userFlow": "PUSH_MESSAGE",
               "customer": {"phoneNumber": "4791234567"}}),
        format!("{reference}-create"),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    sim.approve(reference).unwrap();
    let r = post(
        format!("/epayment/v1/payments/{reference}/capture"),
        json!({"modificationAmount": {"value": 1000, "currency": "NOK"}}),
        format!("{reference}-capture"),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(sim.settle(Duration::from_secs(5)).await);
}

/// The simulator's webhooks, posted to `run --listen`'s route: signed with the
/// connection's secret they are taken (the capture wakes its issue); signed
/// with another they are refused with 400 and change nothing.
#[tokio::test]
async fn the_simulators_epayment_webhooks_pass_the_listener_only_with_the_secret() {
    use crate::providers::vipps::sim::{SimConfig, VippsSim};
    let w = world().await;
    let (base, _) = listen(w.feed.clone()).await;
    let hook = format!("{base}/webhooks/vipps");
    let sim_with = |secret: &str| {
        VippsSim::start(SimConfig {
            clock: Arc::new(VirtualClock::new("2025-01-01T00:00:10Z".parse().unwrap())),
            webhooks: vec![(hook.clone(), secret.to_string())],
            ..SimConfig::default()
        })
    };
    let forger = sim_with("not-the-secret").await.unwrap();
    let forged = w.waiting("pay-forged-01").await;
    epayment_captured(&forger, "pay-forged-01").await;
    let outcomes: Vec<(String, Option<u16>)> = forger
        .deliveries()
        .into_iter()
        .map(|d| (d.outcome, d.http_status))
        .collect();
    assert_eq!(outcomes.len(), 3, "CREATED, AUTHORIZED, CAPTURED");
    assert!(outcomes.iter().all(|o| *o == ("refused".into(), Some(400))));
    assert_eq!(w.state(&forged).await.0, IssueState::Waiting);

    let sim = sim_with(SECRET).await.unwrap();
    let issue = w.waiting("pay-signed-01").await;
    epayment_captured(&sim, "pay-signed-01").await;
    assert!(
        sim.deliveries()
            .iter()
            .all(|d| (d.outcome.as_str(), d.http_status) == ("delivered", Some(200))),
        "{:?}",
        sim.deliveries()
    );
    let capture = sim.epayment_events("pay-signed-01").unwrap()[2].clone();
    assert_eq!(capture["name"], "CAPTURED");
    assert_eq!(
        w.state(&issue).await,
        (IssueState::Completed, Some(capture["pspReference"].clone()))
    );
}
