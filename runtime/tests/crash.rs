//! Crash safety: 500 issues through three `http` steps against a local server
//! that records every request and its idempotency key; the worker is killed with
//! SIGKILL at random moments at least 20 times and restarted until all are done.
//!
//! This test binary is also the flow binary: run with `FLOWC_CRASH_CHILD=1` it is
//! the generated CLI (so no separate build step is needed).

#[path = "flows/child_process.rs"]
mod child_process;
#[path = "flows/three_http.rs"]
mod three_http;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flowc_runtime::testing::TestServer;
use rand::Rng;

const ISSUES: i64 = 500;
const MIN_KILLS: usize = 20;

fn main() {
    child_process::test_main(
        "kill_9_at_random_moments_loses_nothing_and_charges_once",
        crash_test,
    );
}

fn child(store: &Path, server: &str, args: &[&str]) -> Command {
    let mut c = child_process::child(store, server, args);
    c.env("FLOWC_LOG", "error");
    c
}

fn crash_test() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // A provider-like latency, so that kills land while calls are in flight.
    let server = rt.block_on(TestServer::start_with(Duration::from_millis(3), true));
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("three_http.flowc.db");
    let input = dir.path().join("orders.jsonl");
    let lines: Vec<String> = (1..=ISSUES)
        .map(|i| format!("{{\"order\": {i}}}"))
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();

    let st = child(&store, &url, &["start", "--file", input.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success(), "start failed: {st}");

    let mut rng = rand::rng();
    let mut kills = 0;
    let mut runs = 0;
    while kills < MIN_KILLS {
        runs += 1;
        assert!(
            runs < 200,
            "the worker keeps exiting before it can be killed"
        );
        let mut c = child(&store, &url, &["run", "--concurrency", "4"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(15..120)));
        if c.try_wait().unwrap().is_none() {
            c.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        c.wait().unwrap();
    }
    let before_finish = server.count();
    assert!(
        before_finish < (ISSUES as u64) * 3,
        "all the work was done before the last kill; kills must land mid-work"
    );

    // Restart until all are done (`run --once` exits when nothing is due).
    for _ in 0..5 {
        let st = child(&store, &url, &["run", "--once", "--concurrency", "16"])
            .status()
            .unwrap();
        assert!(st.success());
    }

    // 500 issues, all completed, one per order: none lost, none doubled.
    let conn = rusqlite::Connection::open(&store).unwrap();
    let states: BTreeMap<String, i64> = conn
        .prepare("SELECT state, COUNT(*) FROM issues GROUP BY state")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        states,
        BTreeMap::from([("completed".to_string(), ISSUES)]),
        "states after {kills} kills"
    );
    let orders: BTreeSet<i64> = conn
        .prepare("SELECT json_extract(data, '$.order') FROM issues")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(orders, (1..=ISSUES).collect::<BTreeSet<_>>());

    // For every (issue, step): exactly one idempotency key, however often it was sent.
    let mut keys: BTreeMap<(i64, &'static str), BTreeSet<String>> = BTreeMap::new();
    let mut sends: BTreeMap<(i64, &'static str), usize> = BTreeMap::new();
    let mut send_paths: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    let seen = server.seen();
    for s in &seen {
        let order = s.json()["order"].as_i64().expect("order in body");
        let step = match s.path.as_str() {
            "/invoices" => "create",
            "/payments" => "confirm",
            p if p.ends_with("/send") => {
                send_paths.entry(order).or_default().insert(p.to_string());
                "send"
            }
            p => panic!("unexpected path {p}"),
        };
        let key = s
            .idempotency_key()
            .expect("every call carries an idempotency key")
            .to_string();
        keys.entry((order, step)).or_default().insert(key);
        *sends.entry((order, step)).or_default() += 1;
    }
    assert_eq!(
        keys.len(),
        (ISSUES as usize) * 3,
        "every step of every issue reached the server"
    );
    for ((order, step), k) in &keys {
        assert_eq!(
            k.len(),
            1,
            "issue {order} step {step} was sent with {} keys: {k:?}",
            k.len()
        );
    }
    // The invoice id a step used came from the (deduplicated) create: one send path per order.
    assert!(send_paths.values().all(|p| p.len() == 1));
    let distinct_keys: BTreeSet<&String> = keys.values().flatten().collect();
    assert_eq!(
        distinct_keys.len(),
        (ISSUES as usize) * 3,
        "keys are unique across issues and steps"
    );
    let resent = sends.values().filter(|n| **n > 1).count();
    println!(
        "crash test: {kills} SIGKILLs in {runs} runs; {} requests for {} steps; {resent} steps were sent again after a crash",
        seen.len(),
        keys.len()
    );
    drop(rt);
}
