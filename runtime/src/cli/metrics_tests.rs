//! `/metrics` scraped over HTTP (the listener's routes, on 127.0.0.1) while
//! things happen: every metric of `docs/operations.md` moves when its event
//! does. The figures are the process's, shared with tests that run beside
//! these: counters are asserted to grow, gauges of a store only these tests use
//! to hold exact values.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

// Also the event tests' flow (its wait-only flow is theirs alone).
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../tests/flows/feed.rs"]
mod feed;
#[path = "../../tests/flows/three_http.rs"]
mod three_http;

use crate::clock::{Clock, SystemClock, VirtualClock};
use crate::engine::{Engine, Runtime};
use crate::events::EventFeed;
use crate::flow::Flow;
use crate::http::HttpClient;
use crate::providers::stripe::signature::sign;
use crate::retry::RetryPolicy;
use crate::store::conformance::{new_issue, pg_store, t};
use crate::store::{SqliteOptions, SqliteStore, Store};
use crate::testing::{Reply, TestPostgres, TestServer};

type Scrape = BTreeMap<String, f64>;

async fn serve(app: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{addr}")
}

/// Every sample of `GET {base}/metrics`: `name{labels}` to its value.
async fn scrape(base: &str) -> Scrape {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn value(s: &Scrape, key: &str) -> f64 {
    s.get(key).copied().unwrap_or(0.0)
}

#[track_caller]
fn assert_moved(before: &Scrape, after: &Scrape, key: &str) {
    assert!(
        value(after, key) > value(before, key),
        "`{key}` did not move: {} then {}\n{after:#?}",
        value(before, key),
        value(after, key)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_moves_when_its_event_happens() {
    // The three-step flow on a SQLite file (it syncs), against the recording
    // server; its first call answers 500, so that step is tried again.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let store = SqliteStore::open(SqliteOptions::new(
        path.to_str().unwrap(),
        three_http::ThreeHttp::NAME,
    ))
    .unwrap();
    let api = TestServer::start().await;
    api.script(
        "POST /invoices",
        [Reply::json(500, json!({"error": "busy"}))],
    );
    let clock = VirtualClock::new("2025-03-01T09:00:00Z".parse().unwrap());
    let engine = Engine::<three_http::ThreeHttp>::with_base_url(
        Arc::new(store),
        Arc::new(clock.clone()),
        Some(&api.url()),
    );
    let base = serve(super::routes(engine.runtime().clone())).await;

    let s0 = scrape(&base).await;
    engine.start(&json!({"order": 1})).await.unwrap();
    let s1 = scrape(&base).await;
    assert_moved(&s0, &s1, "flowc_issues_started_total");
    assert_eq!(value(&s1, "flowc_issues{state=\"running\"}"), 1.0);
    assert_eq!(value(&s1, "flowc_store_up"), 1.0);

    engine.run_due(4).await.unwrap();
    clock.advance(Duration::from_secs(3600));
    engine.run_due(4).await.unwrap();
    let s2 = scrape(&base).await;
    assert_eq!(value(&s2, "flowc_issues{state=\"running\"}"), 0.0);
    assert_eq!(value(&s2, "flowc_issues{state=\"completed\"}"), 1.0);
    for key in [
        "flowc_issue_runs_total{outcome=\"done\"}",
        "flowc_steps_run_total{step=\"create_invoice\"}",
        "flowc_steps_run_total{step=\"confirm_payment\"}",
        "flowc_step_seconds_count",
        "flowc_step_retries_total{step=\"create_invoice\"}",
        "flowc_provider_calls_total{provider=\"http\",status=\"500\"}",
        "flowc_provider_calls_total{provider=\"http\",status=\"200\"}",
        "flowc_store_commit_seconds_count",
        "flowc_store_commit_seconds_sum",
        "flowc_store_fsyncs_total",
    ] {
        assert_moved(&s1, &s2, key);
    }
    assert!(
        value(&s2, "flowc_step_retries_total{step=\"send_invoice\"}")
            == value(&s1, "flowc_step_retries_total{step=\"send_invoice\"}"),
        "a step that did not fail is not retried"
    );

    // Stripe's webhooks and event list, played by a second recording server.
    let stripe = TestServer::start().await;
    let fstore: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(":memory:", "feed_test")).unwrap());
    let fclock = VirtualClock::new("2025-01-01T00:00:00Z".parse().unwrap());
    let fengine = Engine::<feed::FeedFlow>::with_base_url(
        fstore,
        Arc::new(fclock.clone()),
        Some(&stripe.url()),
    );
    let feed = Arc::new(EventFeed::new(fengine));
    let listen = serve(crate::cli::listen::router(
        feed.clone(),
        crate::cli::operator::OperatorAuth::refuse_all(),
    ))
    .await;
    let body = serde_json::to_vec(&json!({"id": "evt_m1", "object": "event",
        "type": "charge.succeeded", "created": 1_735_689_600,
        "data": {"object": {"id": "ch_m1", "object": "charge", "amount": 100,
            "currency": "jpy", "status": "succeeded", "paid": true}}}))
    .unwrap();
    let now = fclock.now().as_second();
    let c = reqwest::Client::new();
    let post = |sig: String| {
        c.post(format!("{listen}/webhooks/stripe"))
            .header("Stripe-Signature", sig)
            .body(body.clone())
            .send()
    };
    assert_eq!(
        post(sign(feed::WHSEC, now, &body)).await.unwrap().status(),
        200
    );
    assert_eq!(
        post(sign("whsec_wrong", now, &body))
            .await
            .unwrap()
            .status(),
        400
    );
    feed.poll_due(fclock.now()).await;
    let s3 = scrape(&listen).await;
    for key in [
        "flowc_webhooks_total{provider=\"stripe\",verdict=\"accepted\"}",
        "flowc_webhooks_total{provider=\"stripe\",verdict=\"refused\"}",
        "flowc_poll_calls_total{connection=\"stripe\"}",
        "flowc_provider_calls_total{provider=\"stripe\",status=\"200\"}",
    ] {
        assert_moved(&s2, &s3, key);
    }
    assert!(
        stripe.seen().iter().any(|s| s.path == "/v1/events"),
        "the poll called the server"
    );
    assert_eq!(
        value(&s3, "flowc_issues{state=\"running\"}"),
        1.0,
        "started by the webhook"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_metrics_move_when_a_replica_takes_an_issue_over() {
    let pg = TestPostgres::shared();
    let url = pg.create_database();
    // Replica `a` renews every third of a second; `b` takes its issue over.
    let a = Arc::new(pg_store(&url, Duration::from_secs(1)).await);
    let b = pg_store(&url, Duration::from_secs(30)).await;
    let rt = Arc::new(Runtime {
        store: a.clone(),
        clock: Arc::new(SystemClock),
        http: HttpClient::new(),
        flow: "f",
        connections: &[],
        default_retry: RetryPolicy::default(),
        base_urls: Default::default(),
        notify: tokio::sync::Notify::new(),
        metrics: Default::default(),
    });
    let base = serve(super::routes(rt)).await;
    a.create_issues(vec![new_issue("i", 0)]).await.unwrap();
    let s0 = scrape(&base).await;
    assert_eq!(a.claim_due(t(1), 10).await.unwrap().len(), 1);
    let s1 = scrape(&base).await;
    assert_eq!(value(&s1, "flowc_leases_held"), 1.0);
    assert_eq!(value(&s1, "flowc_issues{state=\"running\"}"), 1.0);

    // `a` stalls past its lease (its renewal may come first: expire it again).
    let (sql, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut taken = false;
    for _ in 0..50 {
        sql.execute(
            "UPDATE issues SET lease_until = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
        if !b.claim_due(t(1), 10).await.unwrap().is_empty() {
            taken = true;
            break;
        }
    }
    assert!(taken, "b took the issue over");
    let s2 = scrape(&base).await;
    assert_moved(&s1, &s2, "flowc_leases_taken_over_total");

    // `a`'s next renewal finds the issue another's: it counts the lease lost
    // and holds it no more.
    let deadline = Instant::now() + Duration::from_secs(10);
    let s3 = loop {
        let s = scrape(&base).await;
        if value(&s, "flowc_leases_held") == 0.0 || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(value(&s3, "flowc_leases_held"), 0.0, "{s3:#?}");
    assert_moved(&s0, &s3, "flowc_leases_expired_total");
}
