//! kill -9 of the Buckaroo flow: `flows/buckaroo_direct_debit` (a test copy
//! whose batch closes every 2 s at most 100 records, whose inbox is read
//! every second, its Rator call at a local recording server) run as `run`,
//! with `flowc sim buckaroo` (a separate process, never killed) answering
//! every request file with a response file a second later. ISSUES payment
//! requests are started (every tenth one's mandate refused); a worker is
//! killed with SIGKILL at random moments and started again until every issue
//! is done (MIN_KILLS kills unless the work is done first; at least two of
//! them land mid-work, asserted). Then: every invoice is in exactly one
//! request file, every request file is whole (its header's count and total
//! are its records'), no temporary file is left handed over; every response
//! record was stored once and consumed by its issue once; every debited
//! invoice booked in Rator under one transaction key, every refused one
//! failed with Buckaroo's reason.
//!
//! Two runs: one worker on SQLite, and three replicas on one PostgreSQL (a
//! throwaway server the test starts) sharing the batches, the outbox and the
//! inbox, one of them killed at a time. The second also starts a replica
//! with an outbox of its own, which refuses to start.
//!
//! 500 issues run in about 20-40 s on 2 cores once the flow is built
//! (`FLOWC_KILL9_ISSUES` sets another number).

mod flow_build;

use flow_build::Proc;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowc_runtime::testing::{Reply, TestPostgres, TestServer};
use rand::Rng;
use serde_json::{Value, json};

const MIN_KILLS: usize = 8;
const DEADLINE: Duration = Duration::from_secs(180);

fn issues_wanted() -> usize {
    std::env::var("FLOWC_KILL9_ISSUES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

fn binary() -> PathBuf {
    flow_build::build_flow_variant(
        "buckaroo_direct_debit",
        &[
            (
                "flow: buckaroo_direct_debit\n",
                "flow: buckaroo_direct_debit_kill9\n",
            ),
            (
                "schedule: { cron: \"0 6 * * *\" }",
                "schedule: { every: 2s }",
            ),
            ("max: 500", "max: 100"),
            (
                "secret_key: { secret_file: /run/secrets/buckaroo_secret_key }",
                "secret_key: { env: BUCKAROO_SECRET_KEY }",
            ),
            ("https://${env.RATOR_HOST}/", "http://${env.RATOR_HOST}/"),
        ],
    )
}

fn start_sim(outbox: &Path, inbox: &Path, refused: &[String]) -> Proc {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowc"));
    c.args([
        "sim",
        "buckaroo",
        "--listen",
        "127.0.0.1:0",
        "--delay",
        "1s",
    ])
    .arg("--outbox")
    .arg(outbox)
    .arg("--inbox")
    .arg(inbox);
    for inv in refused {
        c.arg("--outcome").arg(format!("{inv}=mandate_refused"));
    }
    let mut child = Proc(
        c.stdout(Stdio::piped())
            .spawn()
            .expect("flowc sim buckaroo"),
    );
    // Its first line says it is up; the rest is drained so it never blocks.
    let stdout = child.0.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("text");
    assert!(first.starts_with("Buckaroo file simulator"), "{first}");
    std::thread::spawn(move || for _ in lines {});
    child
}

fn invoice(i: usize) -> String {
    format!("INV-{:05}", 10_000 + i)
}

fn request(i: usize) -> Value {
    json!({
        "invoice_number": invoice(i),
        "amount": {"amount": format!("{}.{:02}", 10 + i % 90, i % 100), "currency": "EUR"},
        "customer_name": format!("Customer {i}"),
        "email": format!("c{i}@example.nl"),
        "iban": "NL91ABNA0417164300",
        "mandate_reference": format!("MDT-{i:05}"),
        "mandate_date": "2021-06-01",
    })
}

/// The flow's store, read from outside while the workers run.
enum Db {
    Sqlite(PathBuf),
    Postgres {
        url: String,
        rt: tokio::runtime::Handle,
        client: std::cell::RefCell<Option<tokio_postgres::Client>>,
    },
}

impl Db {
    /// What `--store` takes.
    fn location(&self) -> std::ffi::OsString {
        match self {
            Db::Sqlite(p) => p.clone().into_os_string(),
            Db::Postgres { url, .. } => url.into(),
        }
    }

    /// Every row of `sql` (text columns), or none while the store is not
    /// there yet or busy.
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        match self {
            Db::Sqlite(store) => flow_build::store_rows(store, sql)
                .into_iter()
                .map(|r| r.into_iter().map(Option::unwrap_or_default).collect())
                .collect(),
            Db::Postgres { url, rt, client } => {
                let mut slot = client.borrow_mut();
                if slot.is_none() {
                    let Ok((c, conn)) =
                        rt.block_on(tokio_postgres::connect(url, tokio_postgres::NoTls))
                    else {
                        return Vec::new();
                    };
                    rt.spawn(conn);
                    *slot = Some(c);
                }
                let c = slot.as_ref().expect("connected");
                match rt.block_on(c.query(sql, &[])) {
                    Ok(rows) => rows
                        .iter()
                        .map(|r| (0..r.len()).map(|i| r.get::<_, String>(i)).collect())
                        .collect(),
                    // Not migrated yet, or the connection broke: again next time.
                    Err(_) => {
                        *slot = None;
                        Vec::new()
                    }
                }
            }
        }
    }

    /// (invoice, state, data) of every issue.
    fn issues(&self) -> Vec<(String, String, Value)> {
        self.rows("SELECT state, data FROM issues")
            .into_iter()
            .map(|r| {
                let data: Value = serde_json::from_str(&r[1]).unwrap_or(Value::Null);
                let invoice = data["invoice_number"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                (invoice, r[0].clone(), data)
            })
            .collect()
    }
}

#[test]
fn kill_9_while_batching_writing_and_reading_back_applies_each_record_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::Sqlite(dir.path().join("buckaroo.db"));
    kill9(&db, dir.path(), 1, issues_wanted());
}

#[test]
fn replicas_on_postgresql_killed_at_random_hand_each_record_over_once() {
    let pg = TestPostgres::start();
    let url = pg.create_database();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::Postgres {
        url,
        rt: rt.handle().clone(),
        client: std::cell::RefCell::new(None),
    };
    kill9(&db, dir.path(), 3, issues_wanted() * 3 / 5);
}

/// The run described at the top: `replicas` workers on `db`, files in `dir`.
fn kill9(db: &Db, dir: &Path, replicas: usize, n: usize) {
    let bin = binary();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let rator = rt.block_on(TestServer::start());
    rator.script(
        "POST /api/v1/payments",
        std::iter::repeat_n(Reply::json(200, json!({"paymentId": "PAY"})), n * 4),
    );
    let (outbox, inbox) = (dir.join("outbox"), dir.join("inbox"));
    std::fs::create_dir_all(&outbox).expect("outbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let refused: Vec<String> = (1..=n).filter(|i| i % 10 == 0).map(invoice).collect();
    let _sim = start_sim(&outbox, &inbox, &refused);

    let input = dir.join("requests.jsonl");
    let lines: Vec<String> = (1..=n).map(|i| request(i).to_string()).collect();
    std::fs::write(&input, lines.join("\n")).expect("input");
    let worker_in = |outbox: &Path, args: &[&str]| {
        let mut c = Command::new(&bin);
        c.env("FLOWC_BUCKAROO_OUTBOX", outbox)
            .env("FLOWC_BUCKAROO_INBOX", &inbox)
            .env("FLOWC_BUCKAROO_INBOX_EVERY", "1s")
            .env("BUCKAROO_WEBSITE_KEY", "KILL9_WEBSITE_KEY")
            .env("BUCKAROO_SECRET_KEY", "kill9-secret")
            .env("BUCKAROO_PUSH_HOST", "push.example")
            .env("RATOR_HOST", rator.url().trim_start_matches("http://"))
            .env("RATOR_API_KEY", "rator-kill9")
            // A killed replica's issues are taken over after 2 s.
            .env("FLOWC_LEASE_SECS", "2")
            .env("FLOWC_LOG", "error")
            .arg("--store")
            .arg(db.location())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let worker = |args: &[&str]| worker_in(&outbox, args);
    let st = worker(&["start", "--file", input.to_str().expect("path")])
        .status()
        .expect("start");
    assert!(st.success(), "start: {st}");

    let mut rng = rand::rng();
    let (mut kills, mut runs, mut mid_work) = (0, 0, 0);
    let done = || {
        db.issues()
            .iter()
            .filter(|(_, s, _)| s == "completed" || s == "failed")
            .count()
    };
    let request_files = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&outbox)
            .expect("outbox")
            .filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    };
    let spawn = || Proc(worker(&["run", "--concurrency", "4"]).spawn().expect("run"));
    let mut slots: Vec<Proc> = (0..replicas).map(|_| spawn()).collect();
    // Half the kills come at a random moment (0.05 to 1 s on); the others
    // as soon as the work has moved on (a request file more, or an issue
    // more done), so that however fast the machine is, kills land while
    // files are being written and records applied. A random worker is
    // killed, and started again at once. The loop goes on past MIN_KILLS
    // until two kills landed mid-work, or the work is done.
    let progress = || (request_files().len(), done());
    while (kills < MIN_KILLS || mid_work < 2) && done() < n {
        runs += 1;
        assert!(
            runs < 100,
            "the workers keep exiting before they are killed"
        );
        let before = progress();
        if rng.random_bool(0.5) {
            std::thread::sleep(Duration::from_millis(rng.random_range(50..1000)));
        } else {
            let until = Instant::now() + Duration::from_secs(3);
            while progress() == before && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let i = rng.random_range(0..replicas);
        let victim = &mut slots[i].0;
        if victim.try_wait().expect("wait").is_none() {
            victim.kill().expect("SIGKILL");
            kills += 1;
            let (files, finished) = progress();
            if (files > 0 && files < n.div_ceil(100)) || (finished > 0 && finished < n) {
                mid_work += 1;
            }
        }
        victim.wait().expect("reap");
        slots[i] = spawn();
    }
    assert!(
        mid_work >= 2,
        "only {mid_work} of {kills} kills landed mid-work"
    );

    // The workers run on, not killed, until every issue is done.
    let end = Instant::now() + DEADLINE;
    loop {
        let all = db.issues();
        if all.len() == n
            && all
                .iter()
                .all(|(_, s, _)| s == "completed" || s == "failed")
        {
            break;
        }
        assert!(
            Instant::now() < end,
            "not all done: {:?}",
            all.iter()
                .filter(|(_, s, _)| s != "completed" && s != "failed")
                .take(10)
                .map(|(d, s, x)| (d, s, x["status"].clone()))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A worker killed between applying a response file and moving it aside
    // leaves it in the inbox, its records stored; the worker that reads the
    // inbox next (on PostgreSQL, once the dead one's `feed:` lease has
    // expired, about 32 s) reads it again, stores nothing twice, and moves
    // it. Wait for that before stopping the workers.
    let processed = || {
        std::fs::read_dir(inbox.join("processed"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let end = Instant::now() + Duration::from_secs(90);
    while processed() < request_files().len() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    if replicas > 1 {
        // A replica writing batch files into another directory refuses to
        // start, naming the connection and its directory. (Checked once the
        // work is done: the first replica to start defines the outbox.)
        let elsewhere = dir.join("elsewhere");
        let out = worker_in(&elsewhere, &["run", "--once"])
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("error: connection `buckaroo`:")
                && err.contains(&elsewhere.display().to_string())
                && err.contains("FLOWC_BUCKAROO_OUTBOX"),
            "{err}"
        );
    }
    drop(slots);

    // Every invoice in exactly one request file; every file whole.
    let mut in_files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let files = request_files();
    for name in &files {
        let text = std::fs::read_to_string(outbox.join(name)).expect("request file");
        let lines: Vec<&str> = text.lines().collect();
        let header: Vec<&str> = lines[0].split(',').collect();
        assert_eq!((header[0], header[1]), ("H", name.as_str()), "{name}");
        let records = &lines[1..];
        assert_eq!(header[3], records.len().to_string(), "{name}: count");
        assert!(records.len() <= 100, "{name}: {} records", records.len());
        let cents: i64 = records
            .iter()
            .map(|r| {
                let amount = r.split(',').nth(2).expect("amount");
                let (a, b) = amount.split_once('.').expect("decimal");
                a.parse::<i64>().expect("units") * 100 + b.parse::<i64>().expect("cents")
            })
            .sum();
        assert_eq!(
            header[4],
            format!("{}.{:02}", cents / 100, cents % 100),
            "{name}: total"
        );
        for r in records {
            let inv = r.split(',').nth(1).expect("invoice").to_string();
            in_files.entry(inv).or_default().push(name.clone());
        }
    }
    assert_eq!(in_files.len(), n, "every invoice in a request file");
    let twice: Vec<_> = in_files.iter().filter(|(_, f)| f.len() > 1).collect();
    assert!(twice.is_empty(), "invoices in several files: {twice:?}");

    // Every response record stored once and consumed once by its issue.
    let events: Vec<(String, String)> = db
        .rows("SELECT event_id, match_key FROM events WHERE event_id LIKE 'buckaroo:%'")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let mut per_invoice: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, key) in &events {
        per_invoice.entry(key.clone()).or_default().push(id.clone());
    }
    assert_eq!(per_invoice.len(), n, "a response record for every invoice");
    assert!(
        per_invoice.values().all(|ids| ids.len() == 1),
        "a response record stored twice: {:?}",
        per_invoice
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .take(5)
            .collect::<Vec<_>>()
    );
    let consumed: Vec<(String, String)> = db
        .rows("SELECT issue, event_id FROM consumed_events WHERE event_id LIKE 'buckaroo:%'")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let by_issue: BTreeSet<&String> = consumed.iter().map(|(i, _)| i).collect();
    assert_eq!(consumed.len(), n, "each record consumed once");
    assert_eq!(by_issue.len(), n, "by a different issue each");
    // Each response file applied, then moved aside.
    let processed = processed();
    assert!(processed >= files.len(), "{processed} processed files");

    // In the store and at Rator: the outcome of each record, once.
    let mut bookings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in rator.seen() {
        let body = s.json();
        let inv = body["invoiceNumber"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = s.idempotency_key().unwrap_or_default().to_string();
        bookings.entry(inv).or_default().insert(key);
    }
    for (inv, state, data) in db.issues() {
        if refused.contains(&inv) {
            assert_eq!(state, "failed", "{inv}");
            assert_eq!(data["response_status"], "rejected", "{inv}");
            assert_eq!(data["failure_reason"], "No valid mandate", "{inv}");
            assert!(!bookings.contains_key(&inv), "{inv} booked");
        } else {
            assert_eq!(state, "completed", "{inv}");
            assert_eq!(data["status"], "paid", "{inv}");
            assert_eq!(bookings[&inv].len(), 1, "{inv}: {:?}", bookings[&inv]);
        }
    }
    assert_eq!(bookings.len(), n - refused.len());
    println!(
        "kill -9: {n} payment requests, {replicas} worker(s), {} request files, {kills} SIGKILLs ({mid_work} mid-work) in {runs} runs, {} Rator calls",
        files.len(),
        rator.seen().len()
    );
}
