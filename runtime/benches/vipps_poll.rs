//! Benchmark of the per-object poll (run with `cargo bench -p flowc_runtime
//! --bench vipps_poll`): 10,000 open Vipps eCom payments at the Vipps
//! simulator (127.0.0.1, in this process), an issue waiting on each
//! (`ecom.status_changed`, `poll 15m`), the connection's default budget (2
//! reads a second, from Vipps's documented 120 a minute). The feed runs on a
//! virtual clock, moved from one read to the next, so a sweep that takes
//! hours of (virtual) time under the budget takes seconds.
//!
//! Printed, with ratios against a baseline of the same run:
//! - reads in the busiest 15-minute interval against the budget's 1,800
//!   (must be at most 1.00x), and in the busiest second against 2;
//! - the virtual time of one sweep (every payment read once) against the
//!   floor the budget sets (n / 2 s);
//! - the real time of that sweep (read, map, deduplicate, store) against a
//!   plain reqwest loop making the same 10,000 GETs one after another.
//!
//! Env: BENCH_PAYMENTS (default 10000).

use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/flows/vipps_feed.rs"]
mod vipps_feed;

use flowc_runtime::clock::{Clock, VirtualClock};
use flowc_runtime::engine::Engine;
use flowc_runtime::events::EventFeed;
use flowc_runtime::flow::Flow;
use flowc_runtime::providers::vipps::sim::{self, SimConfig, VippsSim};
use flowc_runtime::store::{SqliteOptions, SqliteStore, Store};
use serde_json::{Value, json};
use vipps_feed::{CREDENTIAL_ENVS, POLL, VippsWaitFlow};

fn main() {
    let n: usize = std::env::var("BENCH_PAYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(bench(n));
}

async fn bench(n: usize) {
    for ((_, env), value) in CREDENTIAL_ENVS.iter().zip([
        sim::CLIENT_ID,
        sim::CLIENT_SECRET,
        sim::SUBSCRIPTION_KEY,
        sim::MSN,
    ]) {
        flowc_runtime::http::set_simulated_env(env, value);
    }
    let clock = VirtualClock::new("2025-01-01T00:00:00Z".parse().unwrap());
    let sim = VippsSim::start(SimConfig {
        clock: Arc::new(clock.clone()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let bearer = sim.access_token().await.unwrap();
    let orders: Vec<String> = (0..n).map(|i| format!("ORD-{i:06}")).collect();
    for o in &orders {
        let r = http
            .post(format!("{}/ecomm/v2/payments", sim.url()))
            .bearer_auth(&bearer)
            .header("Ocp-Apim-Subscription-Key", sim::SUBSCRIPTION_KEY)
            .json(&json!({"merchantInfo": {"merchantSerialNumber": sim::MSN,
                    "callbackPrefix": "http://127.0.0.1:9/cb", "fallBack": "https://x.no"},
                "transaction": {"orderId": o, "amount": 1000, "transactionText": "bench"}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(SqliteOptions::new(
            dir.path().join("vipps.db"),
            VippsWaitFlow::NAME,
        ))
        .unwrap(),
    );
    let engine = Engine::<VippsWaitFlow>::with_base_url(
        store.clone(),
        Arc::new(clock.clone()),
        Some(&sim.url()),
    );
    let records: Vec<Value> = orders.iter().map(|o| json!({"order": o})).collect();
    for chunk in records.chunks(1000) {
        engine.start_validated(chunk.to_vec()).await.unwrap();
    }
    while engine.run_due(256).await.unwrap() > 0 {}
    let feed = EventFeed::new(engine.clone());
    let start = clock.now();
    let reads_before = sim.requests().len();

    // One sweep and a little more: every payment read once.
    let t = Instant::now();
    let mut read_orders = std::collections::HashSet::new();
    let mut seen = reads_before;
    let mut sweep: Option<(Duration, i64)> = None;
    let horizon = (n as i64) / 2 + 2 * POLL.as_secs() as i64;
    loop {
        feed.poll_due(clock.now()).await;
        if sweep.is_none() {
            let log = sim.requests();
            for r in &log[seen..] {
                read_orders.insert(r.path.clone());
            }
            seen = log.len();
            if read_orders.len() >= n {
                sweep = Some((t.elapsed(), clock.now().duration_since(start).as_secs()));
            }
        }
        if clock.now().duration_since(start).as_secs() > horizon {
            break;
        }
        match feed.next_due() {
            Some(at) if at > clock.now() => clock.advance_to(at),
            Some(_) => {}
            None => break,
        }
    }
    let times: Vec<i64> = sim.requests()[reads_before..]
        .iter()
        .filter(|r| r.path.ends_with("/details"))
        .map(|r| r.at.duration_since(start).as_millis() as i64)
        .collect();
    let busiest = |w: i64| {
        let mut best = 0;
        let mut j = 0;
        for i in 0..times.len() {
            while times[i] - times[j] >= w {
                j += 1;
            }
            best = best.max(i - j + 1);
        }
        best
    };
    let per_interval = busiest(POLL.as_secs() as i64 * 1000);
    let per_second = busiest(1000);
    let budget_interval = 2 * POLL.as_secs() as usize;
    let (sweep_real, sweep_virtual) = sweep.expect("a whole sweep");
    let floor = n as f64 / 2.0;
    // The baseline: the same GETs with reqwest, one after another.
    let t = Instant::now();
    for o in &orders {
        let r = http
            .get(format!("{}/ecomm/v2/payments/{o}/details", sim.url()))
            .bearer_auth(&bearer)
            .header("Ocp-Apim-Subscription-Key", sim::SUBSCRIPTION_KEY)
            .send()
            .await
            .unwrap();
        let _: Value = r.json().await.unwrap();
    }
    let plain = t.elapsed();
    println!(
        "vipps per-object poll, {n} open payments, poll 15m, default budget 2 reads/s:\n  \
         reads in the busiest 15 min: {per_interval} (budget {budget_interval}, ratio {:.2}x); busiest second: {per_second} (budget 2)\n  \
         one sweep: {:.0} s virtual (floor n/budget {floor:.0} s, ratio {:.2}x)\n  \
         one sweep: {sweep_real:.2?} real (read, map, dedupe, store) vs plain reqwest loop of the same GETs {plain:.2?}, ratio {:.2}x",
        per_interval as f64 / budget_interval as f64,
        sweep_virtual as f64,
        sweep_virtual as f64 / floor,
        sweep_real.as_secs_f64() / plain.as_secs_f64(),
    );
    assert!(per_interval <= budget_interval, "the budget was exceeded");
    assert!(per_second <= 2, "the budget was exceeded in a second");
}
