//! Vipps end to end over loopback: `flows/vipps_payment_status` (a test copy
//! polling every second, with an ePayment `webhook_secret`, its callback
//! prefix and its Dataverse calls at local addresses) built and run as
//! `run --listen 127.0.0.1:PORT` against `flowc sim vipps` (a separate
//! process, posting its callbacks to the binary).
//!
//! - forged callbacks (another token, none) get 400, forged and replayed
//!   (signed long ago) ePayment webhooks 400, and nothing changes; the
//!   payer's genuine callback then reserves the payment and it is captured;
//! - kill -9 at random moments during 200 payment requests, restarted until
//!   all are captured: every order initiated once (no order id refused) and
//!   captured at most once in effect at the simulator.
//!
//! Every wait is a polling loop with a deadline, never a fixed sleep taken as
//! an answer.

mod flow_build;

use flow_build::{Proc, free_port};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowc_runtime::providers::vipps::sim::{CLIENT_ID, CLIENT_SECRET, MSN, SUBSCRIPTION_KEY};
use flowc_runtime::providers::vipps::webhook::{authorization, content_hash};
use flowc_runtime::testing::{Reply, TestServer};
use rand::Rng;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(120);
const MIN_KILLS: usize = 8;
const WEBHOOK_SECRET: &str = "vipps-e2e-webhook-secret";

fn binary() -> PathBuf {
    flow_build::build_flow_variant(
        "vipps_payment_status",
        &[
            (
                "flow: vipps_payment_status\n",
                "flow: vipps_payment_status_e2e\n",
            ),
            ("poll: 15m", "poll: 1s"),
            (
                "\"https://${env.VIPPS_CALLBACK_HOST}/webhooks/vipps\"",
                "\"http://${env.VIPPS_CALLBACK_HOST}/webhooks/vipps\"",
            ),
            (
                "\"https://${env.DATAVERSE_HOST}/api/",
                "\"http://${env.DATAVERSE_HOST}/api/",
            ),
            (
                "\"https://login.microsoftonline.com/${env.AZURE_TENANT_ID}/",
                "\"http://${env.DATAVERSE_HOST}/${env.AZURE_TENANT_ID}/",
            ),
            (
                "      merchant_serial_number: { env: VIPPS_MSN }\n",
                "      merchant_serial_number: { env: VIPPS_MSN }\n      webhook_secret: { env: VIPPS_WEBHOOK_SECRET }\n",
            ),
        ],
    )
}

fn start_sim() -> (Proc, String) {
    let mut child = Proc(
        Command::new(env!("CARGO_BIN_EXE_flowc"))
            .args(["sim", "vipps", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("flowc sim vipps"),
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

fn payment(i: usize) -> Value {
    json!({
        "dataverse_row_id": format!("3f2b8c1e-4d5a-4b6c-8e7f-{i:012}"),
        "reference": format!("K-{i:04}"),
        "payer_phone": "91234567",
        "amount": {"amount": "100.00", "currency": "NOK"},
        "transaction_text": format!("Order K-{i:04}"),
        "payer_window_days": 7,
        "refund_window_days": 30,
    })
}

/// (order id, state, data) of every issue.
fn issues(store: &Path) -> Vec<(String, String, Value)> {
    flow_build::issues_by(store, "order_id")
}

/// The issues not waiting yet: order id, state, step, error.
fn failed(store: &Path) -> Vec<(String, String, String, Option<String>)> {
    flow_build::store_rows(
        store,
        "SELECT data, state, step, error FROM issues WHERE state != 'waiting'",
    )
    .into_iter()
    .map(|r| {
        let data: Value =
            serde_json::from_str(r[0].as_deref().unwrap_or_default()).unwrap_or(Value::Null);
        (
            data["order_id"].as_str().unwrap_or_default().to_string(),
            r[1].clone().unwrap_or_default(),
            r[2].clone().unwrap_or_default(),
            r[3].clone(),
        )
    })
    .collect()
}

/// A world: the simulator, Dataverse, the store, a worker command.
struct World {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    _sim: Proc,
    sim: String,
    _dataverse: TestServer,
    dataverse: String,
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl World {
    fn new(n: usize) -> World {
        let bin = binary();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio");
        let dataverse = rt.block_on(TestServer::start());
        dataverse.script(
            "POST /contoso-tenant/oauth2/v2.0/token",
            std::iter::repeat_n(
                Reply::json(
                    200,
                    json!({"access_token": "dv", "token_type": "Bearer", "expires_in": 3600}),
                ),
                n * 10 + 100,
            ),
        );
        let (proc, sim) = start_sim();
        let url = dataverse.url();
        World {
            rt,
            http: reqwest::Client::new(),
            _sim: proc,
            sim,
            dataverse: url.trim_start_matches("http://").to_string(),
            _dataverse: dataverse,
            bin,
            dir: tempfile::tempdir().expect("tmp"),
            port: free_port(),
        }
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("vipps.db")
    }

    fn worker(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.env(
            "FLOWC_OPERATOR_TOKEN",
            "vipps-e2e-operator-token-0123456789",
        )
        .env("FLOWC_VIPPS_BASE_URL", &self.sim)
        .env("FLOWC_VIPPS_POLL_BUDGET", "400/s")
        .env("VIPPS_CLIENT_ID", CLIENT_ID)
        .env("VIPPS_CLIENT_SECRET", CLIENT_SECRET)
        .env("VIPPS_SUBSCRIPTION_KEY", SUBSCRIPTION_KEY)
        .env("VIPPS_MSN", MSN)
        .env("VIPPS_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("VIPPS_CALLBACK_HOST", format!("127.0.0.1:{}", self.port))
        .env("DATAVERSE_HOST", &self.dataverse)
        .env("AZURE_TENANT_ID", "contoso-tenant")
        .env("DATAVERSE_CLIENT_ID", "dv-client")
        .env("DATAVERSE_CLIENT_SECRET", "dv-secret")
        .env("FLOWC_LOG", "error")
        .arg("--store")
        .arg(self.store())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        c
    }

    fn start(&self, n: usize) {
        let input = self.dir.path().join("payments.jsonl");
        let lines: Vec<String> = (1..=n).map(|i| payment(i).to_string()).collect();
        std::fs::write(&input, lines.join("\n")).expect("input");
        let st = self
            .worker(&["start", "--file", input.to_str().expect("path")])
            .status()
            .expect("start");
        assert!(st.success(), "start: {st}");
    }

    fn run(&self) -> Child {
        let listen = format!("127.0.0.1:{}", self.port);
        self.worker(&["run", "--listen", &listen, "--concurrency", "4"])
            .spawn()
            .expect("run")
    }

    fn get(&self, path: &str) -> Value {
        self.rt
            .block_on(async {
                self.http
                    .get(format!("{}{path}", self.sim))
                    .send()
                    .await?
                    .json()
                    .await
            })
            .expect("simulator")
    }

    fn sim_post(&self, path: &str, body: &Value) -> u16 {
        self.rt
            .block_on(
                self.http
                    .post(format!("{}{path}", self.sim))
                    .json(body)
                    .send(),
            )
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// Approves every payment the payer has not answered yet.
    fn approve_all(&self) {
        for p in self.get("/_sim/payments").as_array().expect("payments") {
            if p["answered"] == false {
                let order = p["order_id"].as_str().expect("order");
                self.sim_post(&format!("/_sim/payments/{order}/approve"), &json!({}));
            }
        }
    }

    /// A POST to the flow's listener; its status.
    fn post(&self, path: &str, headers: &[(&str, String)], body: &str) -> u16 {
        let mut rb = self
            .http
            .post(format!("http://127.0.0.1:{}{path}", self.port))
            .body(body.to_string());
        for (k, v) in headers {
            rb = rb.header(*k, v);
        }
        self.rt
            .block_on(rb.send())
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        let end = Instant::now() + DEADLINE;
        while !done() {
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}: {:?}",
                failed(&self.store())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn requests(&self) -> Vec<Value> {
        self.get("/_sim/requests")
            .as_array()
            .expect("requests")
            .clone()
    }
}

/// An ePayment webhook as the Webhooks API signs it.
fn signed(secret: &str, host: &str, date: &str, body: &str) -> Vec<(&'static str, String)> {
    let hash = content_hash(body.as_bytes());
    vec![
        ("x-ms-date", date.to_string()),
        ("x-ms-content-sha256", hash.clone()),
        (
            "authorization",
            authorization(secret, "/webhooks/vipps", date, host, &hash),
        ),
        ("content-type", "application/json".to_string()),
    ]
}

fn http_date(t: jiff::Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[test]
fn forged_callbacks_and_webhooks_change_nothing_and_the_genuine_callback_captures() {
    let w = World::new(1);
    w.start(1);
    let _run = Proc(w.run());
    w.wait_for("the payment request and its first poll", || {
        w.get("/_sim/payments")
            .as_array()
            .is_some_and(|p| p.len() == 1)
            && issues(&w.store())
                .iter()
                .all(|(_, s, d)| s == "waiting" && d["status"] == "INITIATE")
    });
    let order = "ORD-K-0001";
    let callback = json!({"merchantSerialNumber": MSN, "orderId": order,
        "transactionInfo": {"amount": 10000, "status": "RESERVED",
            "timeStamp": "2025-01-01T00:00:00.000Z", "transactionId": "9999"}})
    .to_string();
    let path = format!("/webhooks/vipps/v2/payments/{order}");
    let ct = ("content-type", "application/json".to_string());
    // Another token, no token, the right token on another order's path.
    assert_eq!(
        w.post(
            &path,
            &[ct.clone(), ("authorization", "forged".into())],
            &callback
        ),
        400
    );
    assert_eq!(w.post(&path, std::slice::from_ref(&ct), &callback), 400);
    let host = format!("127.0.0.1:{}", w.port);
    let now = jiff::Timestamp::now();
    let event = json!({"msn": MSN, "reference": order, "pspReference": "777",
        "name": "CAPTURED", "amount": {"currency": "NOK", "value": 10000},
        "timestamp": "2025-01-01T00:00:00Z", "success": true})
    .to_string();
    // A webhook signed with another secret; a genuine one signed an hour ago (a replay).
    let mut forged = signed("not-the-secret", &host, &http_date(now), &event);
    assert_eq!(w.post("/webhooks/vipps", &forged, &event), 400);
    forged = signed(
        WEBHOOK_SECRET,
        &host,
        &http_date(now - jiff::SignedDuration::from_hours(1)),
        &event,
    );
    assert_eq!(w.post("/webhooks/vipps", &forged, &event), 400);
    // An altered body under a genuine signature.
    let genuine = signed(WEBHOOK_SECRET, &host, &http_date(now), &event);
    assert_eq!(
        w.post("/webhooks/vipps", &genuine, &event.replace("10000", "1")),
        400
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (_, state, data) = issues(&w.store()).remove(0);
    assert_eq!(
        (state.as_str(), &data["status"]),
        ("waiting", &json!("INITIATE"))
    );
    assert!(
        !w.requests()
            .iter()
            .any(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/capture"))),
        "nothing was captured"
    );
    // The payer approves: the genuine callback, a capture, the poll sees it.
    assert_eq!(
        w.sim_post(&format!("/_sim/payments/{order}/approve"), &json!({})),
        200
    );
    w.wait_for("the capture", || {
        issues(&w.store())
            .iter()
            .all(|(_, _, d)| d["status"] == "CAPTURE")
    });
    let captures = w
        .requests()
        .iter()
        .filter(|r| {
            r["path"] == format!("/ecomm/v2/payments/{order}/capture") && r["status"] == 200
        })
        .count();
    assert_eq!(captures, 1);
}

#[test]
fn kill_9_during_200_payment_requests_initiates_each_once_and_captures_at_most_once() {
    let n: usize = std::env::var("FLOWC_KILL9_ISSUES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let w = World::new(n);
    w.start(n);
    // A provider-like latency, so that kills land while calls are in flight.
    assert_eq!(
        w.sim_post(
            "/_sim/faults",
            &json!({"kind": "delay", "millis": 10, "count": u32::MAX})
        ),
        200
    );
    let mut rng = rand::rng();
    let (mut kills, mut runs, mut mid_work) = (0, 0, 0);
    let captured = || {
        issues(&w.store())
            .iter()
            .filter(|(_, _, d)| d["status"] == "CAPTURE")
            .count()
    };
    let payments = || w.get("/_sim/payments").as_array().map_or(0, Vec::len);
    // 1. Requesting payments: killed until every payment is requested.
    // 2. Payers approving, captures: killed MIN_KILLS times in all.
    for phase in [1, 2] {
        loop {
            if phase == 1 && payments() == n && kills >= MIN_KILLS / 2 {
                break;
            }
            if phase == 2 && (kills >= MIN_KILLS || captured() == n) {
                break;
            }
            runs += 1;
            assert!(runs < 100, "the worker keeps exiting before it is killed");
            if phase == 2 {
                w.approve_all();
            }
            let mut c = w.run();
            let ms = if phase == 1 { 100..700 } else { 300..1500 };
            std::thread::sleep(Duration::from_millis(rng.random_range(ms)));
            if c.try_wait().expect("wait").is_none() {
                c.kill().expect("SIGKILL");
                kills += 1;
                let progress = if phase == 1 { payments() } else { captured() };
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

    // The last run, not killed, until every payment is captured.
    let _last = Proc(w.run());
    w.wait_for("every capture", || {
        w.approve_all();
        captured() == n
    });

    // At the simulator: a payment per order, each initiated once (no order
    // id refused), captured in full, by one capture in effect.
    let all = w
        .get("/_sim/payments")
        .as_array()
        .expect("payments")
        .clone();
    assert_eq!(all.len(), n);
    for p in &all {
        assert_eq!(p["captured"], 10000, "{}", p["order_id"]);
    }
    let requests = w.requests();
    let refused_initiates = requests
        .iter()
        .filter(|r| r["path"] == "/ecomm/v2/payments" && r["status"] != 200)
        .count();
    assert_eq!(refused_initiates, 0, "an order id was requested twice");
    let mut captures: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        let path = r["path"].as_str().unwrap_or_default();
        if path.ends_with("/capture") {
            assert_eq!(r["status"], 200, "{r}");
            if r["replayed"] == false {
                *captures.entry(path.to_string()).or_default() += 1;
            }
        }
    }
    assert_eq!(captures.len(), n, "every payment captured");
    assert!(
        captures.values().all(|c| *c == 1),
        "captured more than once: {:?}",
        captures.iter().filter(|(_, c)| **c > 1).collect::<Vec<_>>()
    );
    // In the store: every issue waiting out its refund window, captured.
    for (order, state, data) in issues(&w.store()) {
        assert_eq!(state, "waiting", "{order}");
        assert_eq!(data["captured_ore"], 10000, "{order}");
    }
    let looked = requests
        .iter()
        .filter(|r| {
            r["method"] == "GET" && r["path"].as_str().is_some_and(|p| p.ends_with("/details"))
        })
        .count();
    println!(
        "kill -9: {n} payments, {kills} SIGKILLs ({mid_work} mid-work) in {runs} runs, {} API requests ({looked} details reads)",
        requests.len()
    );
}
