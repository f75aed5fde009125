//! Benchmark of the event feed (run with `cargo bench -p flowc_runtime --bench events`):
//! 10,000 open invoices wait for their payment event, for each provider that
//! polls: Stripe (`invoice.paid`; `/v1/events` played by the recording test
//! server) and PayPal (`INVOICING.INVOICE.PAID`; the PayPal simulator's
//! webhook-events list, the invoices paid by its payer). Printed: API calls per
//! poll cycle (the target: one per page, 100 events a page for Stripe, 300 for
//! PayPal, however many issues wait) and the time of one poll cycle (list, map,
//! store with the cursor, wake the matching issues).
//!
//! Env: BENCH_WAITING (default 10000), BENCH_PAID (events per cycle, default 1000).

use std::sync::Arc;
use std::time::{Duration, Instant};

// The flow of the event feed's tests; the bench waits on its invoices only.
#[path = "../tests/flows/feed.rs"]
#[allow(dead_code)] // the trigger variant and the webhook secret are the tests'
mod feed;
#[path = "../tests/flows/paypal_feed.rs"]
mod paypal_feed;

use feed::WaitOnlyFlow;
use flowc_runtime::clock::{Clock, VirtualClock};
use flowc_runtime::engine::Engine;
use flowc_runtime::events::EventFeed;
use flowc_runtime::prelude::*;
use flowc_runtime::store::{SqliteOptions, SqliteStore, Store};
use flowc_runtime::testing::{Reply, TestServer};
use serde_json::{Value, json};

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn invoice_paid(n: usize) -> Value {
    json!({"id": format!("evt_{n:08}"), "object": "event", "type": "invoice.paid",
        "data": {"object": {"id": format!("in_{n}"), "object": "invoice", "status": "paid",
            "paid": true, "amount_paid": 1500, "currency": "jpy"}}})
}

/// Pages as Stripe answers `ending_before` walks: each page newest first, the
/// oldest page first; `has_more` on all but the last.
fn pages(from: usize, count: usize) -> Vec<Reply> {
    let ids: Vec<usize> = (from..from + count).collect();
    let chunks: Vec<&[usize]> = ids.chunks(100).collect();
    let last = chunks.len().saturating_sub(1);
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let events: Vec<Value> = c.iter().rev().map(|n| invoice_paid(*n)).collect();
            Reply::json(
                200,
                json!({"object": "list", "data": events, "has_more": i < last}),
            )
        })
        .collect()
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let waiting = env_usize("BENCH_WAITING", if quick { 1000 } else { 10_000 });
    let paid = env_usize("BENCH_PAID", if quick { 250 } else { 1000 }).min(waiting);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(SqliteOptions::new(
                dir.path().join("bench.db"),
                WaitOnlyFlow::NAME,
            ))
            .unwrap(),
        );
        let server = TestServer::start_with(Duration::ZERO, false).await;
        let clock = VirtualClock::new("2025-01-01T00:00:00Z".parse().unwrap());
        let engine = Engine::<WaitOnlyFlow>::with_base_url(
            store.clone(),
            Arc::new(clock.clone()),
            Some(&server.url()),
        );
        let records: Vec<Value> = (0..waiting)
            .map(|i| json!({"invoice": format!("in_{i}")}))
            .collect();
        for chunk in records.chunks(1000) {
            engine.start_validated(chunk.to_vec()).await.unwrap();
        }
        engine.run_due(64).await.unwrap();
        let feed = EventFeed::new(engine.clone());

        // The first cycle sets the cursor.
        server.script("GET /v1/events", pages(waiting + 1, 1));
        feed.poll_due(clock.now()).await;

        // A cycle with nothing new.
        clock.advance(Duration::from_secs(900));
        let before = server.count();
        let t = Instant::now();
        feed.poll_due(clock.now()).await;
        let idle = t.elapsed();
        println!(
            "idle cycle      waiting={waiting}: {} list call(s), {idle:.1?}",
            server.count() - before
        );

        // A cycle with `paid` invoices paid.
        server.script("GET /v1/events", pages(0, paid));
        clock.advance(Duration::from_secs(900));
        let before = server.count();
        let t = Instant::now();
        let r = feed.poll_due(clock.now()).await;
        let cycle = t.elapsed();
        let calls = server.count() - before;
        let delivered = r.first().map_or(0, |r| r.outcome.delivered);
        println!(
            "busy cycle      waiting={waiting} paid={paid}: {calls} list calls ({} per page of at most 100; target {}), {delivered} delivered, {cycle:.1?}",
            calls as f64 / paid.div_ceil(100) as f64,
            paid.div_ceil(100)
        );
        let t = Instant::now();
        let runs = engine.run_due(64).await.unwrap();
        println!(
            "run_due         {runs} issue runs after the cycle in {:.1?} ({paid} paid; the rest are the engine's own per-issue `poll` re-runs, which make no API call)",
            t.elapsed()
        );
        assert_eq!(calls as usize, paid.div_ceil(100), "one list call per page");
        assert_eq!(delivered, paid);
    });
    rt.block_on(paypal(waiting, paid));
}

/// The same against the PayPal simulator: `paid` invoices made and sent at
/// the simulator, `waiting` issues in all (the rest wait on invoices that see
/// no event), then the payer pays the `paid` ones between two poll cycles.
async fn paypal(waiting: usize, paid: usize) {
    use flowc_runtime::providers::paypal::events::PAGE_SIZE;
    use flowc_runtime::providers::paypal::sim::{self, PayPalSim, SimConfig};
    use paypal_feed::{CLIENT_ID_ENV, CLIENT_SECRET_ENV, PayPalWaitFlow};

    flowc_runtime::http::set_simulated_env(CLIENT_ID_ENV, sim::CLIENT_ID);
    flowc_runtime::http::set_simulated_env(CLIENT_SECRET_ENV, sim::CLIENT_SECRET);
    let clock = VirtualClock::new("2025-01-01T00:00:00Z".parse().unwrap());
    let sim = PayPalSim::start(SimConfig {
        clock: Arc::new(clock.clone()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(SqliteOptions::new(
            dir.path().join("paypal.db"),
            PayPalWaitFlow::NAME,
        ))
        .unwrap(),
    );
    let engine = Engine::<PayPalWaitFlow>::with_base_url(
        store.clone(),
        Arc::new(clock.clone()),
        Some(&sim.url()),
    );
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/v1/oauth2/token", sim.url()))
        .basic_auth(sim::CLIENT_ID, Some(sim::CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let mut ids = Vec::with_capacity(paid);
    for i in 0..paid {
        let inv: Value = http
            .post(format!("{}/v2/invoicing/invoices", sim.url()))
            .bearer_auth(&token)
            .header("Prefer", "return=representation")
            .json(&json!({
                "detail": {"currency_code": "EUR", "invoice_number": format!("B-{i:06}")},
                "items": [{"name": "Box", "quantity": "1", "unit_amount": {"currency_code": "EUR", "value": "10.00"}}]
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = inv["id"].as_str().unwrap().to_string();
        http.post(format!("{}/v2/invoicing/invoices/{id}/send", sim.url()))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        ids.push(id);
    }
    let records: Vec<Value> = (0..waiting)
        .map(|i| match ids.get(i) {
            Some(id) => json!({"invoice": id}),
            None => json!({"invoice": format!("INV2-WAIT-{i:06}")}),
        })
        .collect();
    for chunk in records.chunks(1000) {
        engine.start_validated(chunk.to_vec()).await.unwrap();
    }
    engine.run_due(64).await.unwrap();
    let feed = EventFeed::new(engine.clone());
    let api_calls = || sim.state().requests().len();

    // The first cycle sets the cursor; then one with nothing new.
    clock.advance(Duration::from_secs(60));
    feed.poll_due(clock.now()).await;
    clock.advance(Duration::from_secs(3600));
    let before = api_calls();
    let t = Instant::now();
    feed.poll_due(clock.now()).await;
    let idle = t.elapsed();
    println!(
        "paypal idle     waiting={waiting}: {} API call(s), {idle:.1?}",
        api_calls() - before
    );

    // The payer pays `paid` invoices; the next cycle finds them.
    clock.advance(Duration::from_secs(60));
    for id in &ids {
        sim.pay_invoice(id, None, "PAYPAL").unwrap();
    }
    clock.advance(Duration::from_secs(3600));
    let before = api_calls();
    let t = Instant::now();
    let r = feed.poll_due(clock.now()).await;
    let cycle = t.elapsed();
    let calls = api_calls() - before;
    let delivered = r.first().map_or(0, |r| r.outcome.delivered);
    let pages = paid.div_ceil(PAGE_SIZE).max(1);
    println!(
        "paypal busy     waiting={waiting} paid={paid}: {calls} API calls ({:.2} per page of at most {PAGE_SIZE}; target {pages}), {delivered} delivered, {cycle:.1?}",
        calls as f64 / pages as f64
    );
    assert_eq!(calls, pages, "one list call per page");
    assert_eq!(delivered, paid);
}
