//! Failover: three replicas of one flow binary on one PostgreSQL run the
//! three-`http`-step flow for many issues against a local server that records
//! every request and its idempotency key. A random replica is killed with
//! SIGKILL again and again and started again; PostgreSQL itself is restarted
//! once mid-run. At the end every issue completed, none is lost, and every
//! (issue, step) reached the server with exactly one idempotency key; the
//! replicas stop on SIGTERM with exit status 0.
//!
//! This test binary is also the flow binary: run with `FLOWC_CRASH_CHILD=1` it
//! is the generated CLI (as in `crash.rs`). The server is a throwaway
//! PostgreSQL (`flowc_runtime::testing::TestPostgres`); the test fails, saying
//! so, when PostgreSQL's binaries are not installed.

#[path = "flows/child_process.rs"]
mod child_process;
#[path = "flows/three_http.rs"]
mod three_http;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowc_runtime::testing::{TestPostgres, TestServer};
use rand::Rng;

const ISSUES: i64 = 500;
const REPLICAS: usize = 3;
const MIN_KILLS: usize = 10;
/// Short leases, so that a killed replica's issues are resumed soon.
const LEASE_SECS: &str = "1.5";

fn main() {
    child_process::test_main(
        "three_replicas_survive_kills_and_a_database_restart_and_charge_once",
        failover_test,
    );
}

fn child(store: &str, server: &str, args: &[&str]) -> Command {
    let mut c = child_process::child(store, server, args);
    c.env("FLOWC_LOG", "error")
        .env("FLOWC_LEASE_SECS", LEASE_SECS)
        .env("FLOWC_PG_POOL", "8");
    c
}

fn replica(store: &str, server: &str) -> Child {
    // Quiet: every database restart logs each step it interrupted.
    child(store, server, &["run", "--concurrency", "8"])
        .stderr(Stdio::null())
        .spawn()
        .expect("start a replica")
}

/// Issues by state, read straight from the database.
fn states(rt: &tokio::runtime::Runtime, url: &str) -> Option<BTreeMap<String, i64>> {
    rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .ok()?;
        let task = tokio::spawn(conn);
        let rows = c
            .query("SELECT state, COUNT(*) FROM issues GROUP BY state", &[])
            .await
            .ok()?;
        drop(c);
        let _ = task.await;
        Some(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    })
}

fn sigterm(c: &Child) {
    let st = Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(st.success());
}

fn failover_test() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // A provider-like latency, so that kills land while calls are in flight.
    let server = rt.block_on(TestServer::start_with(Duration::from_millis(3), true));
    let url = server.url();
    // fsync on: the database is restarted mid-run.
    let pg = TestPostgres::try_start(true).unwrap_or_else(|e| panic!("test PostgreSQL: {e}"));
    let store = pg.create_database();

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    let lines: Vec<String> = (1..=ISSUES)
        .map(|i| format!("{{\"order\": {i}}}"))
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let st = child(&store, &url, &["start", "--file", input.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success(), "start failed: {st}");

    let mut replicas: Vec<Child> = (0..REPLICAS).map(|_| replica(&store, &url)).collect();
    let mut rng = rand::rng();
    let (mut kills, mut exits, mut restarted_db) = (0usize, 0usize, false);
    let deadline = Instant::now() + Duration::from_secs(240);
    let done = loop {
        assert!(
            Instant::now() < deadline,
            "not done in time after {kills} kills: {:?}",
            states(&rt, &store)
        );
        std::thread::sleep(Duration::from_millis(rng.random_range(50..200)));
        // A replica that exited on its own (e.g. started while the database was
        // down) is started again.
        for r in replicas.iter_mut() {
            if r.try_wait().unwrap().is_some() {
                exits += 1;
                *r = replica(&store, &url);
            }
        }
        let counts = states(&rt, &store).unwrap_or_default();
        let completed = counts.get("completed").copied().unwrap_or(0);
        if completed == ISSUES && kills >= MIN_KILLS && restarted_db {
            break counts;
        }
        if completed < ISSUES {
            if !restarted_db && completed >= ISSUES / 3 {
                pg.restart();
                restarted_db = true;
                continue;
            }
            let i = rng.random_range(0..REPLICAS);
            replicas[i].kill().unwrap(); // SIGKILL
            replicas[i].wait().unwrap();
            kills += 1;
            replicas[i] = replica(&store, &url);
        } else {
            assert!(
                kills >= MIN_KILLS && restarted_db,
                "all the work was done after {kills} kills (restart: {restarted_db}); \
                 kills must land mid-work"
            );
        }
    };

    // Every replica stops on SIGTERM, with exit status 0.
    for r in &replicas {
        sigterm(r);
    }
    for r in replicas.iter_mut() {
        let st = r.wait().unwrap();
        assert!(st.success(), "a replica exited with {st} on SIGTERM");
    }

    assert_eq!(
        done,
        BTreeMap::from([("completed".to_string(), ISSUES)]),
        "states after {kills} kills"
    );
    let orders: BTreeSet<i64> = rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(&store, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.query("SELECT (data::json->>'order')::bigint FROM issues", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    });
    assert_eq!(orders, (1..=ISSUES).collect::<BTreeSet<_>>());

    // For every (issue, step): exactly one idempotency key, however often it was sent.
    let mut keys: BTreeMap<(i64, &'static str), BTreeSet<String>> = BTreeMap::new();
    let mut sends: BTreeMap<(i64, &'static str), usize> = BTreeMap::new();
    let seen = server.seen();
    for s in &seen {
        let order = s.json()["order"].as_i64().expect("order in body");
        let step = match s.path.as_str() {
            "/invoices" => "create",
            "/payments" => "confirm",
            p if p.ends_with("/send") => "send",
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
            "issue {order} step {step} was sent with keys {k:?}"
        );
    }
    let distinct: BTreeSet<&String> = keys.values().flatten().collect();
    assert_eq!(distinct.len(), (ISSUES as usize) * 3, "keys are unique");
    let resent = sends.values().filter(|n| **n > 1).count();
    println!(
        "failover test: {REPLICAS} replicas, {kills} SIGKILLs, {exits} exits, 1 database restart; \
         {} requests for {} steps; {resent} steps were sent again after a failover",
        seen.len(),
        keys.len()
    );
    drop(rt);
}
