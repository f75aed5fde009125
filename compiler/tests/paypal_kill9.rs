//! kill -9 of the PayPal flow: `flows/paypal_delivery_invoice` (a test copy
//! polling PayPal's event list every second, its kintone call at a local
//! recording server) run as `run --listen` against `flowc sim paypal` (a
//! separate process, posting its webhooks to the flow). ISSUES deliveries are
//! started; the flow binary is killed with SIGKILL at random moments and
//! restarted: while invoices are created and sent (until all are sent, at
//! least MIN_KILLS / 2 times), then while the payer pays every sent invoice
//! through the simulator's control route (up to MIN_KILLS kills in all); a
//! last run finishes. Then, at the simulator: exactly one invoice per
//! delivery, each sent exactly once and paid, no call refused; in the store:
//! every issue completed as paid, its amount recorded once, with the one
//! invoice of its delivery; at kintone: one record per delivery, rewritten
//! only with the same content.
//!
//! The simulator answers 20 ms late and the worker runs 4 issues at a time,
//! so kills land while calls are in flight. The issue's 200 deliveries run in
//! about 10-30 s on 2 cores once the flow is built (`FLOWC_KILL9_ISSUES` sets
//! another number).

mod flow_build;

use flow_build::{Proc, free_port};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowc_runtime::testing::{Reply, TestServer};
use rand::Rng;
use serde_json::{Value, json};

const MIN_KILLS: usize = 8;
const DEADLINE: Duration = Duration::from_secs(120);

fn issues_wanted() -> usize {
    std::env::var("FLOWC_KILL9_ISSUES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn binary() -> PathBuf {
    flow_build::build_flow_variant(
        "paypal_delivery_invoice",
        &[
            (
                "flow: paypal_delivery_invoice\n",
                "flow: paypal_delivery_invoice_kill9\n",
            ),
            ("poll: 1h", "poll: 1s"),
            (
                "https://${env.KINTONE_DOMAIN}/",
                "http://${env.KINTONE_DOMAIN}/",
            ),
        ],
    )
}

fn start_sim(hook: &str) -> (Proc, String) {
    let mut child = Proc(
        Command::new(env!("CARGO_BIN_EXE_flowc"))
            .args([
                "sim",
                "paypal",
                "--listen",
                "127.0.0.1:0",
                "--webhook",
                hook,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("flowc sim paypal"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let first = BufReader::new(stdout)
        .lines()
        .next()
        .expect("a line")
        .expect("text");
    let url = first.rsplit(' ').next().expect("url").to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    (child, url)
}

fn delivery(i: usize) -> Value {
    json!({
        "delivery_id": format!("D-{:04}", 1000 + i),
        "customer_name": format!("Customer {i}"),
        "customer_email": format!("c{i}@example.com"),
        "region": "44",
        "currency": "GBP",
        "delivered_on": "2025-01-02",
        "lines": [{"name": "Desk", "quantity": 2, "unit_amount": {"amount": "120.00", "currency": "GBP"}}]
    })
}

/// (delivery id, state, data) of every issue.
fn issues(store: &Path) -> Vec<(String, String, Value)> {
    flow_build::issues_by(store, "delivery_id")
}

#[test]
fn kill_9_at_random_moments_makes_sends_and_records_each_invoice_once() {
    let n = issues_wanted();
    let bin = binary();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let http = reqwest::Client::new();
    let kintone = rt.block_on(TestServer::start());
    kintone.script(
        "PUT /k/v1/record.json",
        std::iter::repeat_n(Reply::json(200, json!({"revision": "2"})), n * 4),
    );
    let port = free_port();
    let (_sim, sim) = start_sim(&format!("http://127.0.0.1:{port}/webhooks/paypal"));
    let get = |path: &str| -> Value {
        rt.block_on(async { http.get(format!("{sim}{path}")).send().await?.json().await })
            .expect("simulator")
    };
    let pay_sent = || {
        for inv in get("/_sim/invoices")["items"].as_array().expect("items") {
            if inv["status"] == "SENT" {
                let id = inv["id"].as_str().expect("id");
                let _ = rt.block_on(
                    http.post(format!("{sim}/_sim/invoices/{id}/pay"))
                        .json(&json!({}))
                        .send(),
                );
            }
        }
    };

    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("paypal.db");
    let input = dir.path().join("deliveries.jsonl");
    let lines: Vec<String> = (1..=n).map(|i| delivery(i).to_string()).collect();
    std::fs::write(&input, lines.join("\n")).expect("input");
    let worker = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.env(
            "FLOWC_OPERATOR_TOKEN",
            "paypal-kill9-operator-token-0123456789",
        )
        .env("FLOWC_PAYPAL_BASE_URL", &sim)
        .env("PAYPAL_CLIENT_ID", "flowc-sim-client-id")
        .env("PAYPAL_CLIENT_SECRET", "flowc-sim-client-secret")
        .env("PAYPAL_WEBHOOK_ID", "WH-FLOWC-SIM-0001")
        .env(
            "KINTONE_DOMAIN",
            kintone.url().trim_start_matches("http://"),
        )
        .env("KINTONE_DELIVERY_APP", "12")
        .env("KINTONE_API_TOKEN", "kintone-kill9")
        .env("FLOWC_LOG", "error")
        .arg("--store")
        .arg(&store)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        c
    };
    let st = worker(&["start", "--file", input.to_str().expect("path")])
        .status()
        .expect("start");
    assert!(st.success(), "start: {st}");

    let listen = format!("127.0.0.1:{port}");
    // A provider-like latency, so that kills land while calls are in flight.
    let fault = rt
        .block_on(
            http.post(format!("{sim}/_sim/faults"))
                .json(&json!({"kind": "delay", "millis": 20, "count": u32::MAX}))
                .send(),
        )
        .expect("fault");
    assert!(fault.status().is_success());
    let mut rng = rand::rng();
    let (mut kills, mut runs, mut mid_work) = (0, 0, 0);
    let count = |f: &dyn Fn(&str, &Value) -> bool| {
        issues(&store).iter().filter(|(_, s, d)| f(s, d)).count()
    };
    // 1. Creating and sending: killed until every invoice is sent.
    // 2. Payments arriving (webhooks, the one-second poll): killed MIN_KILLS times in all.
    for phase in [1, 2] {
        loop {
            let sent = count(&|_, d| d["status"] == "sent" || d["status"] == "paid");
            let done = count(&|s, _| s == "completed");
            if phase == 1 && sent == n && kills >= MIN_KILLS / 2 {
                break;
            }
            if phase == 2 && (kills >= MIN_KILLS || done == n) {
                break;
            }
            runs += 1;
            assert!(runs < 100, "the worker keeps exiting before it is killed");
            if phase == 2 {
                pay_sent();
            }
            let mut c = worker(&["run", "--listen", &listen, "--concurrency", "4"])
                .spawn()
                .expect("run");
            let ms = if phase == 1 { 100..700 } else { 300..1500 };
            std::thread::sleep(Duration::from_millis(rng.random_range(ms)));
            if c.try_wait().expect("wait").is_none() {
                c.kill().expect("SIGKILL");
                kills += 1;
                let progress = if phase == 1 {
                    count(&|_, d| d["status"] == "sent" || d["status"] == "paid")
                } else {
                    count(&|s, _| s == "completed")
                };
                if progress > 0 && progress < n {
                    mid_work += 1;
                }
            }
            c.wait().expect("reap");
        }
    }
    assert!(
        mid_work >= 2,
        "only {mid_work} of {kills} kills landed mid-work"
    );

    // The last run, not killed, until every issue is done.
    let _last = Proc(worker(&["run", "--listen", &listen]).spawn().expect("run"));
    let end = Instant::now() + DEADLINE;
    loop {
        pay_sent();
        let all = issues(&store);
        if all.len() == n && all.iter().all(|(_, s, _)| s == "completed") {
            break;
        }
        assert!(
            Instant::now() < end,
            "not all done: {:?}",
            all.iter()
                .filter(|(_, s, _)| s != "completed")
                .map(|(d, s, x)| (d, s, x["status"].clone()))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // At the simulator: one invoice per delivery, sent once, paid.
    let invoices = get("/_sim/invoices")["items"]
        .as_array()
        .expect("items")
        .clone();
    let mut per_number: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for inv in &invoices {
        let number = inv["detail"]["invoice_number"].as_str().expect("number");
        per_number.entry(number.to_string()).or_default().push(inv);
    }
    assert_eq!(per_number.len(), n, "an invoice for every delivery");
    for (number, list) in &per_number {
        assert_eq!(list.len(), 1, "{number}: {} invoices", list.len());
        assert_eq!(list[0]["status"], "PAID", "{number}");
    }
    let requests = get("/_sim/requests")["data"]
        .as_array()
        .expect("requests")
        .clone();
    let mut sends: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        let path = r["path"].as_str().unwrap_or_default();
        if r["method"] == "POST" && path.ends_with("/send") && r["status"] == 200 {
            *sends.entry(path.to_string()).or_default() += 1;
        }
    }
    assert_eq!(sends.len(), n, "every invoice was sent");
    assert!(
        sends.values().all(|c| *c == 1),
        "sent more than once: {:?}",
        sends.iter().filter(|(_, c)| **c > 1).collect::<Vec<_>>()
    );
    let refused = requests
        .iter()
        .filter(|r| r["status"] == 422)
        .map(|r| r["path"].clone())
        .collect::<Vec<_>>();
    assert!(refused.is_empty(), "PayPal refused calls: {refused:?}");

    // In the store: every issue paid, with the one invoice of its delivery.
    for (delivery, state, data) in issues(&store) {
        assert_eq!(state, "completed", "{delivery}");
        assert_eq!(data["status"], "paid", "{delivery}");
        assert_eq!(
            data["paid_amount"],
            json!({"amount": "240.00", "currency": "GBP"}),
            "{delivery}"
        );
        let inv = &per_number[&delivery][0];
        assert_eq!(data["invoice_id"], inv["id"], "{delivery}");
    }
    // The delivery record is written by an idempotent PUT (by update key): a
    // repeat after a kill writes the same record again, never a second one.
    let mut puts: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for s in kintone.seen() {
        let body = s.json();
        let id = body["updateKey"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        puts.entry(id).or_default().push(body);
    }
    assert_eq!(puts.len(), n, "every delivery record updated");
    for (id, bodies) in &puts {
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{id}: {bodies:?}");
    }
    let looked = requests
        .iter()
        .filter(|r| {
            r["path"] == "/v2/invoicing/search-invoices"
                || (r["method"] == "GET"
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("/v2/invoicing/invoices/")))
        })
        .count();
    println!(
        "kill -9: {n} deliveries, {looked} looks before repeating, {kills} SIGKILLs ({mid_work} mid-work) in {runs} runs, {} API requests",
        requests.len()
    );
}
