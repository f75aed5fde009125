//! Issues per second of the three-`http`-step flow, as processes of the flow
//! binary (this bench binary re-runs itself as the flow's CLI): 1 process on
//! SQLite, then 1, 2 and 3 replicas on one PostgreSQL (a throwaway server with
//! fsync on, as durable as SQLite's synchronous=FULL), all in one run, against
//! one local server.
//!
//! `cargo bench -p flowc_runtime --bench replicas`. Env: BENCH_ISSUES (default
//! 2000), BENCH_CONCURRENCY (per process, 64), BENCH_LATENCY (ms, 5).
//! The clock runs from starting the workers to the last issue completed; on a
//! shared machine the figures move by tens of percent from run to run.

#[path = "../tests/flows/three_http.rs"]
mod three_http;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowc_runtime::testing::{TestPostgres, TestServer};

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn main() {
    if std::env::var_os("FLOWC_BENCH_CHILD").is_some() {
        let args = std::env::args_os().skip(1);
        std::process::exit(flowc_runtime::cli::run::<three_http::ThreeHttp>(
            std::iter::once("three_http".into()).chain(args),
        ));
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then a tiny run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let issues = if quick {
        40
    } else {
        env_usize("BENCH_ISSUES", 2000)
    };
    let conc = env_usize("BENCH_CONCURRENCY", 64).to_string();
    let latency = env_usize("BENCH_LATENCY", 5) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(TestServer::start_with(
        Duration::from_millis(latency),
        false,
    ));
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    let lines: Vec<String> = (1..=issues)
        .map(|i| format!("{{\"order\": {i}}}"))
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let input = input.to_str().unwrap().to_string();

    println!(
        "three-http-step flow, {issues} issues, server latency {latency} ms, --concurrency {conc} per process"
    );
    println!(
        "{:<12} {:>8} {:>10} {:>10}",
        "store", "replicas", "seconds", "issues/s"
    );
    let sqlite = dir.path().join("bench.db");
    let sqlite = sqlite.to_str().unwrap().to_string();
    let secs = measure(&sqlite, 1, &url, &input, &conc, issues, &|| {
        count_sqlite(&sqlite)
    });
    report("sqlite", 1, secs, issues);

    let pg = TestPostgres::try_start(true).unwrap_or_else(|e| panic!("test PostgreSQL: {e}"));
    for replicas in 1..=3 {
        let db = pg.create_database();
        let secs = measure(&db, replicas, &url, &input, &conc, issues, &|| {
            rt.block_on(count_pg(&db))
        });
        report("postgres", replicas, secs, issues);
    }
}

fn report(store: &str, replicas: usize, secs: f64, issues: usize) {
    println!(
        "{store:<12} {replicas:>8} {secs:>10.2} {:>10.0}",
        issues as f64 / secs
    );
}

fn child(store: &str, server: &str, args: &[&str]) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("current exe"));
    c.env("FLOWC_BENCH_CHILD", "1")
        .env("FLOWC_API_BASE_URL", server)
        .env("FLOWC_LOG", "error")
        .arg("--store")
        .arg(store)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

/// Starts the issues, then `replicas` workers; seconds until all completed.
fn measure(
    store: &str,
    replicas: usize,
    server: &str,
    input: &str,
    conc: &str,
    issues: usize,
    completed: &dyn Fn() -> usize,
) -> f64 {
    let st = child(store, server, &["start", "--file", input])
        .status()
        .unwrap();
    assert!(st.success(), "start failed: {st}");
    let started = Instant::now();
    let mut workers: Vec<Child> = (0..replicas)
        .map(|_| {
            child(store, server, &["run", "--concurrency", conc])
                .spawn()
                .unwrap()
        })
        .collect();
    while completed() < issues {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not done in 10 minutes"
        );
        for w in workers.iter_mut() {
            assert!(w.try_wait().unwrap().is_none(), "a worker exited");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let secs = started.elapsed().as_secs_f64();
    for w in &workers {
        let _ = Command::new("kill")
            .args(["-TERM", &w.id().to_string()])
            .status();
    }
    for w in workers.iter_mut() {
        let _ = w.wait();
    }
    secs
}

fn count_sqlite(path: &str) -> usize {
    let Ok(c) = rusqlite::Connection::open(path) else {
        return 0;
    };
    c.query_row(
        "SELECT COUNT(*) FROM issues WHERE state = 'completed'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map_or(0, |n| n as usize)
}

async fn count_pg(url: &str) -> usize {
    let Ok((c, conn)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await else {
        return 0;
    };
    let task = tokio::spawn(conn);
    let n = c
        .query_one("SELECT COUNT(*) FROM issues WHERE state = 'completed'", &[])
        .await
        .map_or(0, |r| r.get::<_, i64>(0) as usize);
    drop(c);
    let _ = task.await;
    n
}
