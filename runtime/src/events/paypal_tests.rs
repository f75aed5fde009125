//! PayPal through the provider-neutral event layer, against the PayPal
//! simulator: a delivery is verified by the simulator's verify endpoint before
//! anything changes (forged, stale, headerless and malformed ones get 400), a
//! redelivery is a duplicate, and one poll of the webhook-events list confirms
//! every waiting invoice at once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

#[path = "../../tests/flows/paypal_feed.rs"]
mod paypal_feed;

use paypal_feed::{CLIENT_ID_ENV, CLIENT_SECRET_ENV, PayPalWaitFlow as PayPalFlow, WEBHOOK_ID_ENV};

use super::EventFeed;
use crate::clock::{Clock, VirtualClock};
use crate::engine::Engine;
use crate::prelude::*;
use crate::providers::paypal::sim::{self, PayPalSim, SimConfig, WebhookTarget};
use crate::store::{IssueState, SqliteOptions, SqliteStore, Store};
use crate::testing::TestServer;

struct World {
    sim: PayPalSim,
    clock: VirtualClock,
    store: Arc<dyn Store>,
    feed: Arc<EventFeed<PayPalFlow>>,
    token: String,
}

async fn world(webhooks: Vec<WebhookTarget>) -> World {
    crate::http::set_simulated_env(CLIENT_ID_ENV, sim::CLIENT_ID);
    crate::http::set_simulated_env(CLIENT_SECRET_ENV, sim::CLIENT_SECRET);
    crate::http::set_simulated_env(WEBHOOK_ID_ENV, sim::WEBHOOK_ID);
    let clock = VirtualClock::new("2025-01-01T00:00:00Z".parse().unwrap());
    let sim = PayPalSim::start(SimConfig {
        clock: Arc::new(clock.clone()),
        webhooks,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(":memory:", PayPalFlow::NAME)).unwrap());
    let engine = Engine::<PayPalFlow>::with_base_url(
        store.clone(),
        Arc::new(clock.clone()),
        Some(&sim.url()),
    );
    let token = reqwest::Client::new()
        .post(format!("{}/v1/oauth2/token", sim.url()))
        .basic_auth(sim::CLIENT_ID, Some(sim::CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    World {
        sim,
        clock,
        store,
        feed: Arc::new(EventFeed::new(engine)),
        token,
    }
}

impl World {
    /// A sent invoice at the simulator and an issue waiting for its payment.
    async fn waiting_invoice(&self, number: &str) -> (String, String) {
        let c = reqwest::Client::new();
        let inv: Value = c
            .post(format!("{}/v2/invoicing/invoices", self.sim.url()))
            .bearer_auth(&self.token)
            .header("Prefer", "return=representation")
            .json(&json!({
                "detail": {"currency_code": "EUR", "invoice_number": number},
                "items": [{"name": "Box", "quantity": "1", "unit_amount": {"currency_code": "EUR", "value": "10.00"}}]
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = inv["id"].as_str().unwrap().to_string();
        c.post(format!(
            "{}/v2/invoicing/invoices/{id}/send",
            self.sim.url()
        ))
        .bearer_auth(&self.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
        let issue = self
            .feed
            .engine()
            .start(&json!({"invoice": id}))
            .await
            .unwrap();
        self.feed.engine().run_due(8).await.unwrap();
        (id, issue)
    }

    async fn state(&self, issue: &str) -> (IssueState, Option<Value>) {
        let row = self.store.load(issue).await.unwrap().unwrap();
        (row.state, row.data.get("paid_by").cloned())
    }
}

async fn listen(feed: Arc<EventFeed<PayPalFlow>>) -> String {
    let app = crate::cli::listen::router(feed, crate::cli::operator::OperatorAuth::refuse_all());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{addr}")
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

#[tokio::test]
async fn a_paypal_webhook_counts_only_once_verified_by_paypal() {
    // The simulator delivers to a recorder; the test replays what it recorded.
    let recorder = TestServer::start_with(Duration::ZERO, true).await;
    let w = world(vec![WebhookTarget {
        url: format!("{}/hook", recorder.url()),
        id: sim::WEBHOOK_ID.into(),
    }])
    .await;
    let base = listen(w.feed.clone()).await;
    let url = format!("{base}/webhooks/paypal");
    let (invoice, issue) = w.waiting_invoice("D-0001").await;
    w.sim.pay_invoice(&invoice, None, "PAYPAL").unwrap();
    assert!(w.sim.settle(Duration::from_secs(5)).await);
    let paid = recorder
        .seen()
        .into_iter()
        .find(|s| s.json()["event_type"] == "INVOICING.INVOICE.PAID")
        .expect("the PAID delivery");
    let headers: Vec<(String, String)> = paid
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("paypal-"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(headers.len(), 5, "{headers:?}");

    // Refused, and nothing changes: forged, headerless, malformed, for another webhook.
    let mut forged = paid.json();
    forged["resource"]["invoice"]["id"] = json!("INV2-SOMEONE-ELSE");
    forged["id"] = json!("WH-FORGED");
    let without_sig: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k != "paypal-transmission-sig")
        .cloned()
        .collect();
    for (what, h, body) in [
        ("forged", headers.clone(), forged.to_string()),
        ("no signature", without_sig, paid.body.clone()),
        ("not JSON", headers.clone(), "{not json".to_string()),
    ] {
        let (status, answer) = post(&url, &h, &body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(w.state(&issue).await.0, IssueState::Waiting, "{what}");
    }
    let verifies = |w: &World| {
        w.sim
            .state()
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/notifications/verify-webhook-signature")
            .count()
    };
    assert_eq!(verifies(&w), 1, "only the forged one reached PayPal");

    // The real delivery wakes the issue once; its replay is a duplicate.
    let (status, answer) = post(&url, &headers, &paid.body).await;
    assert_eq!(
        (status, answer["duplicate"].as_bool()),
        (200, Some(false)),
        "{answer}"
    );
    w.feed.engine().run_due(8).await.unwrap();
    let event_id = paid.json()["id"].clone();
    assert_eq!(
        w.state(&issue).await,
        (IssueState::Completed, Some(event_id.clone()))
    );
    let (status, answer) = post(&url, &headers, &paid.body).await;
    assert_eq!(
        (status, answer["duplicate"].as_bool()),
        (200, Some(true)),
        "{answer}"
    );

    // Ten minutes later the same transmission is stale: refused without a call.
    w.clock.advance(Duration::from_secs(600));
    let before = verifies(&w);
    let (status, answer) = post(&url, &headers, &paid.body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("transmission time"),
        "{answer}"
    );
    assert_eq!(verifies(&w), before);
}

#[tokio::test]
async fn one_poll_of_the_event_list_confirms_every_waiting_invoice() {
    let w = world(Vec::new()).await;
    let mut waiting = Vec::new();
    for n in 1..=3 {
        waiting.push(w.waiting_invoice(&format!("D-000{n}")).await);
    }
    // The first poll sets the cursor; nothing is paid yet.
    let first = w.feed.poll_due(w.clock.now()).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].outcome.delivered, 0);
    w.clock.advance(Duration::from_secs(86_400));
    w.sim.pay_invoice(&waiting[0].0, None, "PAYPAL").unwrap();
    w.sim
        .pay_invoice(&waiting[2].0, None, "BANK_TRANSFER")
        .unwrap();
    w.clock.advance(Duration::from_secs(3600));
    let reports = w.feed.poll_due(w.clock.now()).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(
        reports[0].calls, 1,
        "one list call for every waiting invoice"
    );
    assert_eq!(reports[0].outcome.delivered, 2, "{:?}", reports[0]);
    w.feed.engine().run_due(8).await.unwrap();
    assert_eq!(w.state(&waiting[0].1).await.0, IssueState::Completed);
    assert_eq!(w.state(&waiting[1].1).await.0, IssueState::Waiting);
    assert_eq!(
        w.state(&waiting[2].1).await.0,
        IssueState::Completed,
        "marked as paid counts"
    );
    // The next poll's window overlaps the last one: nothing is delivered twice.
    w.clock.advance(Duration::from_secs(3600));
    let again = w.feed.poll_due(w.clock.now()).await;
    assert_eq!(again[0].outcome.delivered, 0);
    let lists = w
        .sim
        .state()
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/notifications/webhooks-events")
        .count();
    assert_eq!(lists, 3);
}
