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
//!
//! Each worker serves `run --listen` on loopback; before it stops, its
//! `/metrics` give the store commits per issue (`store_commit_seconds_count`)
//! and the p99 step latency (`step_seconds`, interpolated within its bucket
//! as Prometheus' `histogram_quantile` does), summed over the replicas.
//! Last, the failover: two replicas with 2 s leases, one killed with SIGKILL
//! mid-work; the time until the other has taken every issue the dead one
//! held (target: the lease time plus one claim interval, 1 s).

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
        "{:<12} {:>8} {:>10} {:>10} {:>14} {:>14}",
        "store", "replicas", "seconds", "issues/s", "commits/issue", "p99 step ms"
    );
    let sqlite = dir.path().join("bench.db");
    let sqlite = sqlite.to_str().unwrap().to_string();
    let m = measure(&sqlite, 1, &url, &input, &conc, issues, &|| {
        count_sqlite(&sqlite)
    });
    report("sqlite", 1, &m, issues);

    let pg = TestPostgres::try_start(true).unwrap_or_else(|e| panic!("test PostgreSQL: {e}"));
    for replicas in 1..=3 {
        let db = pg.create_database();
        let m = measure(&db, replicas, &url, &input, &conc, issues, &|| {
            rt.block_on(count_pg(&db))
        });
        report("postgres", replicas, &m, issues);
    }
    // Its own server, slower, and issues enough that the work outlasts a kill.
    let slow = rt.block_on(TestServer::start_with(Duration::from_millis(200), false));
    let many = dir.path().join("failover.jsonl");
    let lines: Vec<String> = (1..=500).map(|i| format!("{{\"order\": {i}}}")).collect();
    std::fs::write(&many, lines.join("\n")).unwrap();
    failover(&rt, &pg, &slow.url(), many.to_str().unwrap(), &conc, 500);
}

/// Kills (SIGKILL) the worker when dropped, so a failed bench leaves none behind.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two replicas with short leases; one is killed mid-work. Prints how long
/// until every issue it held was taken by the other.
fn failover(
    rt: &tokio::runtime::Runtime,
    pg: &TestPostgres,
    server: &str,
    input: &str,
    conc: &str,
    issues: usize,
) {
    const LEASE: f64 = 2.0;
    const CLAIM_INTERVAL: f64 = 1.0;
    let db = pg.create_database();
    let st = child(&db, server, &["start", "--file", input])
        .status()
        .unwrap();
    assert!(st.success(), "start failed: {st}");
    let worker = || {
        child(&db, server, &["run", "--concurrency", conc])
            .env("FLOWC_LEASE_SECS", LEASE.to_string())
            .spawn()
            .unwrap()
    };
    let mut dead = Worker(worker());
    let pattern = format!("%:{}:%", dead.0.id());
    let held = |rt: &tokio::runtime::Runtime| {
        rt.block_on(pg_count(
            &db,
            "SELECT COUNT(*) FROM issues WHERE lease_owner LIKE $1",
            &pattern,
        ))
    };
    let started = Instant::now();
    while held(rt) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the replica never took an issue"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The other replica starts and takes its share before the kill.
    let mut alive = Worker(worker());
    std::thread::sleep(Duration::from_millis(500));
    let owned = held(rt);
    dead.0.kill().unwrap(); // SIGKILL
    let killed = Instant::now();
    dead.0.wait().unwrap();
    while held(rt) > 0 {
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "the dead replica's issues were never resumed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let resumed = killed.elapsed().as_secs_f64();
    while rt.block_on(count_pg(&db)) < issues {
        assert!(killed.elapsed() < Duration::from_secs(600), "not done");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &alive.0.id().to_string()])
        .status();
    let _ = alive.0.wait();
    println!(
        "failover: a replica killed (SIGKILL) holding {owned} issues; all resumed by the other after \
         {resumed:.2} s (target: lease {LEASE} s + claim interval {CLAIM_INTERVAL} s = {} s); \
         all {issues} completed",
        LEASE + CLAIM_INTERVAL
    );
}

async fn pg_count(url: &str, sql: &str, arg: &str) -> usize {
    let Ok((c, conn)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await else {
        return 0;
    };
    let task = tokio::spawn(conn);
    let n = c
        .query_one(sql, &[&arg])
        .await
        .map_or(0, |r| r.get::<_, i64>(0) as usize);
    drop(c);
    let _ = task.await;
    n
}

/// What one measurement found.
struct Measured {
    secs: f64,
    /// Store commits of all the workers.
    commits: f64,
    /// The workers' step latency histograms, summed: (upper bound, count ≤ it).
    steps: Vec<(f64, f64)>,
}

/// The quantile `q` of a cumulative histogram, interpolated linearly within
/// its bucket (Prometheus' `histogram_quantile`).
fn quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let Some(&(_, total)) = buckets.last() else {
        return f64::NAN;
    };
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, n) in buckets {
        if n >= rank {
            if le.is_infinite() {
                return lower.0;
            }
            let width = n - lower.1;
            let into = if width > 0.0 {
                (rank - lower.1) / width
            } else {
                1.0
            };
            return lower.0 + (le - lower.0) * into;
        }
        lower = (le, n);
    }
    f64::NAN
}

/// A free loopback port for a worker's `--listen`.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// The samples of `http://addr/metrics` that `measure` reads.
fn scrape(rt: &tokio::runtime::Runtime, addr: &str) -> (f64, Vec<(f64, f64)>) {
    let text = rt
        .block_on(async {
            reqwest::get(format!("http://{addr}/metrics"))
                .await?
                .text()
                .await
        })
        .unwrap_or_default();
    let mut commits = 0.0;
    let mut buckets = Vec::new();
    for line in text.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        if name == "flowc_store_commit_seconds_count" {
            commits = v;
        } else if let Some(le) = name
            .strip_prefix("flowc_step_seconds_bucket{le=\"")
            .and_then(|r| r.strip_suffix("\"}"))
        {
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::NAN)
            };
            buckets.push((le, v));
        }
    }
    (commits, buckets)
}

fn report(store: &str, replicas: usize, m: &Measured, issues: usize) {
    println!(
        "{store:<12} {replicas:>8} {:>10.2} {:>10.0} {:>14.2} {:>14.1}",
        m.secs,
        issues as f64 / m.secs,
        m.commits / issues as f64,
        quantile(0.99, &m.steps) * 1000.0
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
) -> Measured {
    let st = child(store, server, &["start", "--file", input])
        .status()
        .unwrap();
    assert!(st.success(), "start failed: {st}");
    let started = Instant::now();
    let addrs: Vec<String> = (0..replicas)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let mut workers: Vec<Child> = addrs
        .iter()
        .map(|addr| {
            child(
                store,
                server,
                &["run", "--concurrency", conc, "--listen", addr],
            )
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
    let scraper = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut commits = 0.0;
    let mut steps: Vec<(f64, f64)> = Vec::new();
    for addr in &addrs {
        let (c, buckets) = scrape(&scraper, addr);
        commits += c;
        if steps.is_empty() {
            steps = buckets;
        } else {
            for (s, (_, n)) in steps.iter_mut().zip(buckets) {
                s.1 += n;
            }
        }
    }
    for w in &workers {
        let _ = Command::new("kill")
            .args(["-TERM", &w.id().to_string()])
            .status();
    }
    for w in workers.iter_mut() {
        let _ = w.wait();
    }
    Measured {
        secs,
        commits,
        steps,
    }
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
