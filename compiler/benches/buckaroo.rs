//! Buckaroo direct debit at volume, through the built flow binary:
//! `cargo bench -p flowc --bench buckaroo`.
//!
//! The flow is `flows/buckaroo_multi_brand.flow.yaml` (every payment of one
//! brand; its keys from the environment). Two measurements, each against a
//! baseline measured in the same run on the same disk:
//!
//! 1. **Request files**: BENCH_PAYMENTS (default 100,000) payments are
//!    queued (`start --file`, timed) and written (`run --once`, timed) into
//!    request files of at most `max` (500) records; the peak RSS of each
//!    process (VmHWM, sampled). Checked: every payment in exactly one file,
//!    no file over 500 records, every issue waiting for its response record.
//!    Baseline: the same rows written as plain CSV files of 500 rows, each
//!    fsynced, plus the same rows inserted into SQLite (WAL, one transaction
//!    per file).
//! 2. **Response file**: one file of as many records (all debited) in the
//!    inbox, applied by `run --once`: read, each record stored as an event
//!    and consumed by its issue, which records the payment and completes;
//!    every state change durable. Checked: every issue completed and paid,
//!    every record stored once. Baseline: the same file parsed and its
//!    records inserted into SQLite with an update of a row per record, in
//!    one transaction.
//!
//! Env: BENCH_PAYMENTS (100000), BENCH_CONCURRENCY (16).

mod harness;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{env_usize, workspace};
use serde_json::json;

const MAX: usize = 500;

fn main() {
    let quick = harness::quick();
    let n = if quick {
        1_000
    } else {
        env_usize("BENCH_PAYMENTS", 100_000)
    };
    let conc = env_usize("BENCH_CONCURRENCY", 16);
    let text = std::fs::read_to_string(workspace().join("flows/buckaroo_multi_brand.flow.yaml"))
        .expect("flow file")
        .replace(
            "{ secret_file: /run/secrets/acme_buckaroo_secret_key }",
            "{ env: ACME_BUCKAROO_SECRET_KEY }",
        )
        .replace(
            "{ secret_file: /run/secrets/bolt_buckaroo_secret_key }",
            "{ env: BOLT_BUCKAROO_SECRET_KEY }",
        );
    let bin = harness::build_flow_text("buckaroo_multi_brand.flow.yaml", &text, !quick);

    let dir = tempfile::tempdir().expect("tmp");
    let (outbox, inbox) = (dir.path().join("outbox"), dir.path().join("inbox"));
    std::fs::create_dir_all(&outbox).expect("outbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let store = dir.path().join("bench.db");
    let input = dir.path().join("payments.jsonl");
    let records: Vec<String> = (0..n)
        .map(|i| {
            json!({"brand": "acme", "invoice_number": format!("INV-{i:07}"),
                "amount": {"amount": format!("{}.{:02}", 10 + i % 90, i % 100), "currency": "EUR"},
                "customer_name": format!("Customer {i}"), "iban": "NL91ABNA0417164300",
                "mandate_reference": format!("MDT-{i:07}")})
            .to_string()
        })
        .collect();
    std::fs::write(&input, records.join("\n")).expect("records");
    let cmd = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.env("FLOWC_LOG", "error")
            .env("FLOWC_ACME_OUTBOX", &outbox)
            .env("FLOWC_ACME_INBOX", &inbox)
            .env("ACME_BUCKAROO_WEBSITE_KEY", "BENCH_WEBSITE_KEY")
            .env("ACME_BUCKAROO_SECRET_KEY", "bench")
            .env("BOLT_BUCKAROO_WEBSITE_KEY", "BENCH_WEBSITE_KEY_2")
            .env("BOLT_BUCKAROO_SECRET_KEY", "bench")
            .arg("--store")
            .arg(&store)
            .args(args);
        c
    };
    let conc_s = conc.to_string();

    // 1. Queued, then written into request files.
    let (queue, queue_rss) = timed(cmd(&["start", "--file", input.to_str().expect("path")]));
    let (write, write_rss) = timed(cmd(&["run", "--once", "--concurrency", &conc_s]));
    let files = request_files(&outbox);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows = Vec::new();
    for (name, text) in &files {
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert!(lines.len() <= MAX, "{name}: {} records", lines.len());
        for l in lines {
            *seen
                .entry(l.split(',').nth(1).expect("invoice").to_string())
                .or_default() += 1;
            rows.push(l.to_string());
        }
    }
    assert_eq!(seen.len(), n, "every payment in a request file");
    assert!(seen.values().all(|c| *c == 1), "a payment in two files");
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM issues WHERE step LIKE 'wait_%' AND state = 'waiting'"
        ),
        n
    );
    let base_write = baseline_files(&dir.path().join("baseline"), &rows);

    // 2. One response file of n records, applied.
    let mut resp = String::with_capacity(n * 64);
    resp.push_str("H,RESPONSE,bench\r\n");
    for (i, inv) in seen.keys().enumerate() {
        resp.push_str(&format!("D,{inv},{:032X},190,,1.00,EUR,\r\n", i + 1));
    }
    std::fs::write(inbox.join("BENCH.response.csv"), &resp).expect("response file");
    let (apply, apply_rss) = timed(cmd(&["run", "--once", "--concurrency", &conc_s]));
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM issues WHERE state = 'completed' AND json_extract(data, '$.status') = 'paid'"
        ),
        n,
        "every payment recorded"
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM events"),
        n,
        "every record stored once"
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM consumed_events"),
        n,
        "every record applied once"
    );
    let base_apply = baseline_apply(&dir.path().join("baseline.db"), &resp);

    let mb = |kb: u64| kb as f64 / 1024.0;
    println!(
        "buckaroo request files: {n} payments, {} files of at most {MAX}: queued in {:.1}s (peak RSS {:.0} MB), \
         written in {:.1}s (peak RSS {:.0} MB), {:.0} payments/s end to end; \
         baseline (plain CSV files fsynced + SQLite inserts) {:.2}s: ratio {:.1}x",
        files.len(),
        queue.as_secs_f64(),
        mb(queue_rss),
        write.as_secs_f64(),
        mb(write_rss),
        n as f64 / (queue + write).as_secs_f64(),
        base_write.as_secs_f64(),
        (queue + write).as_secs_f64() / base_write.as_secs_f64()
    );
    println!(
        "buckaroo response file: {n} records applied in {:.1}s, {:.0} records/s (peak RSS {:.0} MB), \
         every issue completed as paid; baseline (parse + SQLite insert and update per record, \
         one transaction) {:.2}s: ratio {:.1}x",
        apply.as_secs_f64(),
        n as f64 / apply.as_secs_f64(),
        mb(apply_rss),
        base_apply.as_secs_f64(),
        apply.as_secs_f64() / base_apply.as_secs_f64()
    );
}

/// Runs a command to its end: its time and its peak RSS in kB (VmHWM,
/// sampled every 20 ms).
fn timed(mut c: Command) -> (Duration, u64) {
    let t = Instant::now();
    let mut child = c.spawn().expect("spawn");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(st) = child.try_wait().expect("wait") {
            assert!(st.success(), "{c:?}: {st}");
            return (t.elapsed(), peak);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn request_files(dir: &Path) -> Vec<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("outbox")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let t = std::fs::read_to_string(dir.join(&n)).expect("file");
            (n, t)
        })
        .collect()
}

fn count(store: &Path, sql: &str) -> usize {
    let c = rusqlite::Connection::open(store).expect("store");
    c.query_row(sql, [], |r| r.get::<_, i64>(0)).expect("count") as usize
}

/// The same rows as plain CSV files of MAX rows (each fsynced), and into
/// SQLite, one transaction per file.
fn baseline_files(dir: &Path, rows: &[String]) -> Duration {
    std::fs::create_dir_all(dir).expect("dir");
    let db = rusqlite::Connection::open(dir.join("queue.db")).expect("db");
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
         CREATE TABLE records (invoice TEXT PRIMARY KEY, file TEXT, line TEXT)",
    )
    .expect("schema");
    let t = Instant::now();
    let mut db = db;
    for (i, chunk) in rows.chunks(MAX).enumerate() {
        let name = format!("PLAIN-{i:06}.csv");
        let tx = db.transaction().expect("tx");
        for r in chunk {
            tx.execute(
                "INSERT INTO records VALUES (?1, ?2, ?3)",
                rusqlite::params![r.split(',').nth(1).unwrap_or_default(), name, r],
            )
            .expect("insert");
        }
        tx.commit().expect("commit");
        let mut f = std::fs::File::create(dir.join(&name)).expect("file");
        writeln!(f, "H,{name},{}", chunk.len()).expect("write");
        for r in chunk {
            f.write_all(r.as_bytes()).expect("write");
            f.write_all(b"\r\n").expect("write");
        }
        f.sync_all().expect("fsync");
    }
    t.elapsed()
}

/// The response file parsed, each record inserted and a row updated per
/// record, in one transaction (WAL, synchronous FULL).
fn baseline_apply(path: &Path, file: &str) -> Duration {
    let mut db = rusqlite::Connection::open(path).expect("db");
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
         CREATE TABLE issues (invoice TEXT PRIMARY KEY, state TEXT); \
         CREATE TABLE events (id TEXT PRIMARY KEY, invoice TEXT, data TEXT);",
    )
    .expect("schema");
    {
        let tx = db.transaction().expect("tx");
        for l in file.lines().skip(1) {
            let inv = l.split(',').nth(1).unwrap_or_default();
            tx.execute("INSERT INTO issues VALUES (?1, 'waiting')", [inv])
                .expect("insert");
        }
        tx.commit().expect("commit");
    }
    let t = Instant::now();
    let tx = db.transaction().expect("tx");
    for (n, l) in file.lines().enumerate().skip(1) {
        let cols: Vec<&str> = l.split(',').collect();
        let data = json!({"key": cols[2], "status_code": cols[3], "amount": cols[5]}).to_string();
        tx.execute(
            "INSERT INTO events VALUES (?1, ?2, ?3)",
            rusqlite::params![format!("bench:{n}"), cols[1], data],
        )
        .expect("insert");
        tx.execute(
            "UPDATE issues SET state = 'paid' WHERE invoice = ?1",
            [cols[1]],
        )
        .expect("update");
    }
    tx.commit().expect("commit");
    t.elapsed()
}
