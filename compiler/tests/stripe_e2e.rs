//! The Stripe flow end to end over loopback: `flowc build` of
//! `flows/stripe_customer_charges.flow.yaml`, then the built binary's `start`
//! and `run` against the Stripe simulator (`flowc_runtime`'s, in this process),
//! as a deployment would run it against Stripe's test mode.
//!
//! - with faults injected (429 with Retry-After, 500, slow answers), every
//!   customer is registered and charged once;
//! - with 200 issues and the worker killed with SIGKILL at random moments and
//!   restarted, every customer is charged exactly once (charges counted in the
//!   simulator), and no issue is lost.

mod flow_build;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowc_runtime::providers::stripe::sim::{Fault, RequestFault, SimConfig, StripeSim};
use rand::Rng;
use serde_json::json;

/// A key of the shape a test connection wants; the simulator accepts any test key.
const TEST_KEY: &str = "sk_test_e2e_flowc";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio")
}

/// The built binary of the customer + charge flow.
fn charges_binary() -> PathBuf {
    flow_build::build_flow("stripe_customer_charges")
}

fn child(bin: &Path, store: &Path, sim: &str, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.env("FLOWC_STRIPE_BASE_URL", sim)
        .env("STRIPE_SECRET_KEY", TEST_KEY)
        .env("FLOWC_LOG", "error")
        .arg("--store")
        .arg(store)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

/// One sign-up per customer: charged today, once (a plan of one period).
fn records(dir: &Path, n: usize) -> PathBuf {
    let today = jiff::Zoned::now().date();
    let lines: Vec<String> = (1..=n)
        .map(|i| {
            json!({
                "customer_email": format!("customer{i}@example.com"),
                "customer_name": format!("Customer {i}"),
                "card_token": "tok_visa",
                "plan": "11",
                "price": {"amount": "1500", "currency": "JPY"},
                "first_billing_on": today.to_string(),
                "max_periods": 1
            })
            .to_string()
        })
        .collect();
    let path = dir.join("signups.jsonl");
    std::fs::write(&path, lines.join("\n")).expect("records");
    path
}

fn states(store: &Path) -> BTreeMap<String, i64> {
    let conn = rusqlite::Connection::open(store).expect("store");
    conn.prepare("SELECT state, COUNT(*) FROM issues GROUP BY state")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("states")
}

fn errors(store: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(store).expect("store");
    conn.prepare("SELECT id || ': ' || COALESCE(error, '') FROM issues WHERE state != 'completed' LIMIT 5")
        .expect("query")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("errors")
}

/// Every customer e-mail has one Stripe customer and one succeeded charge.
fn assert_charged_once(sim: &StripeSim, n: usize) {
    let state = sim.state();
    let customers = state.objects("customer");
    let mut by_email: BTreeMap<String, usize> = BTreeMap::new();
    for c in &customers {
        *by_email
            .entry(c["email"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    assert_eq!(by_email.len(), n, "one customer per e-mail");
    assert!(
        by_email.values().all(|k| *k == 1),
        "a customer was created twice: {:?}",
        by_email.iter().filter(|(_, k)| **k > 1).collect::<Vec<_>>()
    );
    let charged = state.charges_per_customer(None);
    assert_eq!(charged.len(), n, "every customer was charged");
    let twice: Vec<_> = charged.iter().filter(|(_, k)| **k != 1).collect();
    assert!(twice.is_empty(), "charged more than once: {twice:?}");
    for c in state.objects("charge") {
        assert_eq!(c["status"], "succeeded");
        assert_eq!(c["amount"], 1500, "JPY is charged as it is");
        assert_eq!(c["currency"], "jpy");
    }
}

#[test]
fn customers_are_charged_once_through_injected_faults() {
    let bin = charges_binary();
    let rt = runtime();
    let sim = rt
        .block_on(StripeSim::start(SimConfig::default()))
        .expect("simulator");
    // Rate limiting and server errors on every kind of call, and slow answers.
    for fault in [
        Fault::RateLimit {
            retry_after_secs: 1,
        },
        Fault::ServerError,
        Fault::Delay { millis: 300 },
    ] {
        sim.inject(RequestFault {
            fault,
            count: 3,
            path_prefix: None,
        });
    }
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("charges.db");
    let n = 10;
    let input = records(dir.path(), n);
    let st = child(&bin, &store, &sim.url(), &["start", "--file"])
        .arg(&input)
        .status()
        .expect("start");
    assert!(st.success(), "start: {st}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while states(&store).get("completed").copied().unwrap_or(0) < n as i64 {
        assert!(
            Instant::now() < deadline,
            "not done: {:?} {:?}",
            states(&store),
            errors(&store)
        );
        let st = child(&bin, &store, &sim.url(), &["run", "--once"])
            .status()
            .expect("run");
        assert!(st.success(), "run --once: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(states(&store), BTreeMap::from([("completed".into(), n as i64)]));
    assert_charged_once(&sim, n);
    // The faults were met and answered by retries, not by failed issues.
    let requests = sim.state().requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.contains(&500), "{statuses:?}");
    // Every POST carried an idempotency key; a retried POST reused its key.
    let posts: Vec<_> = requests.iter().filter(|r| r.method == "POST").collect();
    assert!(posts.iter().all(|r| r.idempotency_key.is_some()));
}

#[test]
fn kill_9_during_200_issues_charges_every_customer_exactly_once() {
    const ISSUES: usize = 200;
    const MIN_KILLS: usize = 10;
    let bin = charges_binary();
    let rt = runtime();
    let sim = rt
        .block_on(StripeSim::start(SimConfig::default()))
        .expect("simulator");
    // Stripe-like latency, so that kills land while calls are in flight.
    sim.inject(RequestFault {
        fault: Fault::Delay { millis: 5 },
        count: u32::MAX,
        path_prefix: None,
    });
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("charges.db");
    let input = records(dir.path(), ISSUES);
    let st = child(&bin, &store, &sim.url(), &["start", "--file"])
        .arg(&input)
        .status()
        .expect("start");
    assert!(st.success(), "start: {st}");

    let mut rng = rand::rng();
    let (mut kills, mut runs) = (0, 0);
    while kills < MIN_KILLS {
        runs += 1;
        assert!(runs < 200, "the worker keeps exiting before it can be killed");
        let mut c = child(&bin, &store, &sim.url(), &["run", "--concurrency", "8"])
            .spawn()
            .expect("run");
        std::thread::sleep(Duration::from_millis(rng.random_range(30..250)));
        if c.try_wait().expect("try_wait").is_none() {
            c.kill().expect("SIGKILL");
            kills += 1;
        }
        c.wait().expect("wait");
    }
    let charges_before_finish = sim.state().count("charge");
    assert!(
        charges_before_finish < ISSUES,
        "every charge was made before the last kill; kills must land mid-work"
    );
    let deadline = Instant::now() + Duration::from_secs(180);
    while states(&store).get("completed").copied().unwrap_or(0) < ISSUES as i64 {
        assert!(
            Instant::now() < deadline,
            "not done: {:?} {:?}",
            states(&store),
            errors(&store)
        );
        let st = child(&bin, &store, &sim.url(), &["run", "--once", "--concurrency", "16"])
            .status()
            .expect("run");
        assert!(st.success(), "run --once: {st}");
    }
    assert_eq!(
        states(&store),
        BTreeMap::from([("completed".into(), ISSUES as i64)]),
        "no issue lost after {kills} kills"
    );
    assert_charged_once(&sim, ISSUES);
    let replays = sim
        .state()
        .requests()
        .iter()
        .filter(|r| r.replayed)
        .count();
    println!(
        "stripe crash test: {kills} SIGKILLs in {runs} runs; {charges_before_finish} charges made before the last kill; {replays} answers replayed by idempotency key"
    );
}
