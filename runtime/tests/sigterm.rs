//! SIGTERM on a replica in the middle of its work: it claims nothing more,
//! lets the issues in flight run on for `FLOWC_STOP_SECS`, stops the rest
//! where they are (a provider call in flight is cut), gives every lease back
//! and exits 0 within that deadline. A second replica then finishes every
//! issue long before the first one's leases would have expired, and every
//! (issue, step) reached the provider with exactly one idempotency key.
//!
//! Like `failover.rs`, this test binary is also the flow binary (with
//! `FLOWC_CRASH_CHILD=1`), on a throwaway PostgreSQL it starts.

#[path = "flows/child_process.rs"]
mod child_process;
#[path = "flows/three_http.rs"]
mod three_http;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowc_runtime::testing::{TestPostgres, TestServer};

const ISSUES: i64 = 24;
/// Far longer than the test: issues resumed within it were given back.
const LEASE_SECS: u64 = 120;
/// Each provider call takes this long, so that calls are in flight at SIGTERM.
const CALL: Duration = Duration::from_millis(1500);
const STOP_SECS: f64 = 0.5;

fn main() {
    child_process::test_main(
        "sigterm_gives_leases_back_and_exits_0_within_the_deadline",
        sigterm_test,
    );
}

fn child(store: &str, server: &str, args: &[&str]) -> Command {
    let mut c = child_process::child(store, server, args);
    c.env("FLOWC_LOG", "warn")
        .env("FLOWC_LEASE_SECS", LEASE_SECS.to_string())
        .env("FLOWC_STOP_SECS", STOP_SECS.to_string())
        .env("FLOWC_PG_POOL", "8");
    c
}

fn replica(store: &str, server: &str, concurrency: &str) -> Child {
    child(store, server, &["run", "--concurrency", concurrency])
        .stderr(Stdio::null())
        .spawn()
        .expect("start a replica")
}

/// One number from the database.
fn count(rt: &tokio::runtime::Runtime, url: &str, sql: &str) -> i64 {
    rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        let task = tokio::spawn(conn);
        let n: i64 = c.query_one(sql, &[]).await.expect(sql).get(0);
        drop(c);
        let _ = task.await;
        n
    })
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm_test() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(TestServer::start_with(CALL, true));
    let url = server.url();
    let pg = TestPostgres::start();
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

    // A replica takes eight issues and calls the provider for each.
    let mut a = replica(&store, &url, "8");
    wait_until(
        "replica a has calls in flight",
        Duration::from_secs(30),
        || {
            count(
                &rt,
                &store,
                "SELECT COUNT(*) FROM issues WHERE lease_owner IS NOT NULL",
            ) > 0
                && server.count() > 0
        },
    );
    let held = count(
        &rt,
        &store,
        "SELECT COUNT(*) FROM issues WHERE lease_owner IS NOT NULL",
    );
    let st = Command::new("kill")
        .args(["-TERM", &a.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(st.success());
    let term = Instant::now();
    let status = loop {
        if let Some(st) = a.try_wait().unwrap() {
            break st;
        }
        assert!(
            term.elapsed() < Duration::from_secs_f64(STOP_SECS + 5.0),
            "replica a did not exit within its deadline"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = term.elapsed();
    assert!(status.success(), "SIGTERM: exit {status}");
    // An issue in flight has two more calls to make after the one it is in:
    // waiting them out would take two calls' time at least.
    assert!(
        took < Duration::from_secs_f64(STOP_SECS) + CALL,
        "exited in {took:?}: it waited for the issues in flight to finish"
    );
    assert_eq!(
        count(
            &rt,
            &store,
            "SELECT COUNT(*) FROM issues WHERE lease_owner IS NOT NULL"
        ),
        0,
        "every lease given back ({held} were held)"
    );
    assert_eq!(
        count(&rt, &store, "SELECT COUNT(*) FROM leases"),
        0,
        "and every named lease"
    );
    assert!(
        count(
            &rt,
            &store,
            "SELECT COUNT(*) FROM issues WHERE state <> 'completed'"
        ) > 0,
        "stopped mid-work"
    );

    // Another replica finishes everything at once, not after the lease time.
    let resumed = Instant::now();
    let mut b = replica(&store, &url, "32");
    wait_until(
        "replica b completes every issue",
        Duration::from_secs(60),
        || {
            count(
                &rt,
                &store,
                "SELECT COUNT(*) FROM issues WHERE state = 'completed'",
            ) == ISSUES
        },
    );
    assert!(resumed.elapsed() < Duration::from_secs(LEASE_SECS / 2));
    let _ = Command::new("kill")
        .args(["-TERM", &b.id().to_string()])
        .status();
    assert!(b.wait().unwrap().success());

    let mut keys: BTreeMap<(i64, String), BTreeSet<String>> = BTreeMap::new();
    for s in server.seen() {
        let order = s.json()["order"].as_i64().expect("order in body");
        let key = s.idempotency_key().expect("a key").to_string();
        let step = if s.path.ends_with("/send") {
            "send".to_string()
        } else {
            s.path.clone()
        };
        keys.entry((order, step)).or_default().insert(key);
    }
    assert_eq!(
        keys.len(),
        ISSUES as usize * 3,
        "every step reached the server"
    );
    for ((order, step), k) in &keys {
        assert_eq!(k.len(), 1, "issue {order} step {step}: keys {k:?}");
    }
    println!(
        "sigterm test: {held} leases held at SIGTERM, exit 0 after {took:.1?}, \
         the rest completed by another replica {:.1?} after",
        resumed.elapsed()
    );
    drop(rt);
}
