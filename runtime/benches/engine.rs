//! Benchmarks of the engine (run with `cargo bench -p flowc_runtime --bench engine`):
//!
//! 1. overhead: issues per second through the three-`http`-step flow against a
//!    local server, with every state change durable (SQLite, WAL, synchronous=FULL,
//!    group commit), as a ratio to a plain reqwest loop making the same calls with
//!    the same concurrency, measured in the same run;
//! 2. scale: peak RSS and store size with 100,000 issues waiting (in a child process,
//!    so the first part does not count toward its peak).
//!
//! Env: BENCH_ISSUES (default 2000), BENCH_CONCURRENCY (64), BENCH_WAITING (100000),
//! BENCH_LATENCIES (server latencies in ms, default `0,5`), BENCH_ROUNDS (3: each
//! side's best round counts, which filters out the noise of a shared machine).

#[path = "../tests/flows/three_http.rs"]
mod three_http;

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowc_runtime::clock::SystemClock;
use flowc_runtime::engine::{Engine, RunOptions};
use flowc_runtime::prelude::*;
use flowc_runtime::store::{IssueState, SqliteOptions, SqliteStore, Store, StoreStats};
use flowc_runtime::testing::TestServer;
use serde_json::json;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn main() {
    if std::env::var_os("BENCH_WAITING_CHILD").is_some() {
        waiting_child();
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then a tiny run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let issues = if quick {
        50
    } else {
        env_usize("BENCH_ISSUES", 2000)
    };
    let conc = env_usize("BENCH_CONCURRENCY", 64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let latencies: Vec<u64> = std::env::var("BENCH_LATENCIES")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![0, 5]);
    for latency_ms in latencies {
        let rounds = if quick {
            1
        } else {
            env_usize("BENCH_ROUNDS", 3).max(1)
        };
        let mut r = rt.block_on(overhead(issues, conc, Duration::from_millis(latency_ms)));
        for _ in 1..rounds {
            let n = rt.block_on(overhead(issues, conc, Duration::from_millis(latency_ms)));
            if n.base > r.base {
                (r.base, r.base_cpu_us) = (n.base, n.base_cpu_us);
            }
            if n.engine > r.engine {
                (r.engine, r.engine_cpu_us, r.stats) = (n.engine, n.engine_cpu_us, n.stats);
            }
        }
        println!(
            "overhead  latency={latency_ms}ms issues={issues} concurrency={conc}: reqwest loop {:.0} issues/s ({:.0} us CPU/issue), engine {:.0} issues/s ({:.0} us CPU/issue), ratio {:.2}x; store: {} jobs in {} transactions, {} fsyncs, {:.1} jobs/fsync, {:.2} fsyncs/issue",
            r.base,
            r.base_cpu_us,
            r.engine,
            r.engine_cpu_us,
            r.engine / r.base,
            r.stats.jobs,
            r.stats.transactions,
            r.stats.fsyncs,
            r.stats.jobs as f64 / r.stats.fsyncs.max(1) as f64,
            r.stats.fsyncs as f64 / issues as f64,
        );
    }
    drop(rt);
    let waiting = if quick {
        2000
    } else {
        env_usize("BENCH_WAITING", 100_000)
    };
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("BENCH_WAITING_CHILD", "1")
        .env("BENCH_WAITING", waiting.to_string())
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CPU time (user + system) of this process so far, in microseconds.
fn cpu_us() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<f64>() * 1e6 / 100.0 // clock ticks (USER_HZ = 100)
}

struct Overhead {
    base: f64,
    base_cpu_us: f64,
    engine: f64,
    engine_cpu_us: f64,
    stats: StoreStats,
}

async fn overhead(issues: usize, conc: usize, latency: Duration) -> Overhead {
    let server = TestServer::start_with(latency, false).await;
    let url = server.url();

    // Baseline: the same three calls per issue, same concurrency, no engine.
    let client = reqwest::Client::new();
    let cpu = cpu_us();
    let sem = Arc::new(tokio::sync::Semaphore::new(conc));
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for order in 0..issues {
        let (client, url, sem) = (client.clone(), url.clone(), sem.clone());
        tasks.spawn(async move {
            let _p = sem.acquire_owned().await.unwrap();
            for path in ["/invoices", "/invoices/obj_1/send", "/payments"] {
                let r = client
                    .post(format!("{url}{path}"))
                    .header("Idempotency-Key", format!("k{order}{path}"))
                    .json(&json!({"order": order}))
                    .send()
                    .await
                    .unwrap();
                let v: serde_json::Value = r.json().await.unwrap();
                assert!(v["id"].is_string());
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let base = issues as f64 / t.elapsed().as_secs_f64();
    let base_cpu_us = (cpu_us() - cpu) / issues as f64;

    // The engine: durable, synchronous=FULL, group commit.
    let dir = tempfile::tempdir().unwrap();
    let sqlite =
        SqliteStore::open(SqliteOptions::new(dir.path().join("b.db"), "three_http")).unwrap();
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let engine = Engine::<three_http::ThreeHttp>::with_base_url(
        store.clone(),
        Arc::new(SystemClock),
        Some(&url),
    );
    let records: Vec<_> = (1..=issues).map(|i| json!({"order": i, "customer_email": null, "invoice_id": null, "sent_id": null, "payment_id": null})).collect();
    engine.start_validated(records).await.unwrap();
    let before = sqlite.stats();
    let cpu = cpu_us();
    let t = Instant::now();
    engine
        .run(
            RunOptions {
                concurrency: conc,
                once: true,
                ..RunOptions::default()
            },
            None,
        )
        .await
        .unwrap();
    let eng = issues as f64 / t.elapsed().as_secs_f64();
    let engine_cpu_us = (cpu_us() - cpu) / issues as f64;
    let after = sqlite.stats();
    let stats = after.since(before);
    let counts = store.counts().await.unwrap();
    assert_eq!(
        counts,
        vec![(IssueState::Completed, issues as u64)],
        "all completed"
    );
    Overhead {
        base,
        base_cpu_us,
        engine: eng,
        engine_cpu_us,
        stats,
    }
}

// ---- 100,000 issues waiting ----

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct WData {
    order: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum WStep {
    WaitPaid,
    Done,
}

impl StepId for WStep {
    const ALL: &'static [WStep] = &[WStep::WaitPaid, WStep::Done];
    fn id(self) -> &'static str {
        match self {
            WStep::WaitPaid => "wait_paid",
            WStep::Done => "done",
        }
    }
}

static W_ITEMS: [ItemDef; 1] = [ItemDef::new("order", ValueType::Integer).required()];
static W_SCHEMA: DataSchema = DataSchema::new(&W_ITEMS);

struct Waiting;

impl Flow for Waiting {
    const NAME: &'static str = "waiting";
    type Data = WData;
    type Step = WStep;
    fn schema() -> &'static DataSchema {
        &W_SCHEMA
    }
    fn first_step() -> WStep {
        WStep::WaitPaid
    }
    fn run_step<'a>(
        step: WStep,
        _data: &'a mut WData,
        cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<WStep>, StepError>> {
        Box::pin(async move {
            match step {
                WStep::WaitPaid if matches!(cx.wake(), Wake::Signal { .. }) => {
                    Ok(Transition::Next(WStep::Done))
                }
                WStep::WaitPaid => Ok(Transition::Wait(Wait {
                    on: WaitOn::Signal("paid"),
                    timeout: Duration::from_secs(30 * 86_400),
                    on_timeout: WStep::Done,
                    poll: None,
                })),
                WStep::Done => Ok(Transition::End(Outcome::Completed)),
            }
        })
    }
}

fn peak_rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn waiting_child() {
    let n = env_usize("BENCH_WAITING", 100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let t = Instant::now();
    rt.block_on(async {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(SqliteOptions::new(&path, "waiting")).unwrap());
        let engine = Engine::<Waiting>::new(store.clone(), Arc::new(SystemClock));
        for chunk in 0..n.div_ceil(1000) {
            let recs = (0..1000.min(n - chunk * 1000))
                .map(|i| json!({"order": chunk * 1000 + i}))
                .collect();
            engine.start_validated(recs).await.unwrap();
        }
        engine
            .run(
                RunOptions {
                    concurrency: 64,
                    once: true,
                    ..RunOptions::default()
                },
                None,
            )
            .await
            .unwrap();
        let counts = store.counts().await.unwrap();
        assert_eq!(counts, vec![(IssueState::Waiting, n as u64)]);
    });
    let size: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "waiting   issues={n}: peak RSS {:.1} MB, store {:.1} MB ({} bytes/issue), started and parked in {:.1?}",
        peak_rss_kb() as f64 / 1024.0,
        size as f64 / 1e6,
        size / n as u64,
        t.elapsed()
    );
}
