//! PayPal end to end over loopback: `flows/paypal_delivery_invoice` (a test
//! copy polling every second, its kintone call at a local recording server)
//! built and run as `run --listen 127.0.0.1:PORT` against `flowc sim paypal`
//! (a separate process), whose webhooks post to the binary's
//! `/webhooks/paypal` and to a recorder.
//!
//! - creating invoices meets 429s and 500s, and the invoices are still
//!   created once each;
//! - a payment's webhook, verified by the simulator's verify endpoint,
//!   confirms it; forged, malformed and headerless deliveries get 400 and a
//!   replayed genuine one is a duplicate, none changing anything in the store;
//! - with every webhook lost, the one-second poll of the webhook-events list
//!   confirms the payment, through 500s of the list and the verify endpoint.
//!
//! Every wait is a polling loop with a generous deadline, never a fixed sleep
//! taken as an answer.

mod flow_build;

use flow_build::{Proc, free_port};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowc_runtime::testing::{Reply, TestServer};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(90);

/// The operator token of the worker's listener (`POST /issues` needs it).
const OPERATOR_TOKEN: &str = "paypal-e2e-operator-token-0123456789abcdef";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio")
}

fn wait_for<T>(what: &str, mut done: impl FnMut() -> Option<T>, diag: impl Fn() -> String) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}: {}",
            diag()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The PayPal flow with a one-second poll and its kintone call over plain
/// HTTP to `KINTONE_DOMAIN` (a local recording server).
fn binary() -> PathBuf {
    flow_build::build_flow_variant(
        "paypal_delivery_invoice",
        &[
            (
                "flow: paypal_delivery_invoice\n",
                "flow: paypal_delivery_invoice_e2e\n",
            ),
            ("poll: 1h", "poll: 1s"),
            (
                "https://${env.KINTONE_DOMAIN}/",
                "http://${env.KINTONE_DOMAIN}/",
            ),
        ],
    )
}

/// `flowc sim paypal` posting its webhooks to `hooks`; its URL.
fn start_sim(hooks: &[String]) -> (Proc, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowc"));
    c.args(["sim", "paypal", "--listen", "127.0.0.1:0"]);
    for h in hooks {
        c.args(["--webhook", h]);
    }
    let mut child = Proc(c.stdout(Stdio::piped()).spawn().expect("flowc sim paypal"));
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

fn open(store: &Path) -> rusqlite::Connection {
    let c =
        rusqlite::Connection::open_with_flags(store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("store");
    c.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    c
}

/// (id, state, step, data) of every issue.
fn issues(store: &Path) -> Vec<(String, String, String, Value)> {
    if !store.exists() {
        return Vec::new();
    }
    open(store)
        .prepare("SELECT id, state, step, data FROM issues ORDER BY id")
        .expect("query")
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or(Value::Null),
            ))
        })
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("issues")
}

/// Everything a webhook could change: issues, stored events, the inbox, history.
fn snapshot(store: &Path) -> Vec<String> {
    let c = open(store);
    let mut out = Vec::new();
    for sql in [
        "SELECT id || '|' || state || '|' || step || '|' || seq || '|' || COALESCE(wake_at, '') || '|' || updated_at FROM issues ORDER BY id",
        "SELECT event_id || '|' || match_key FROM events ORDER BY event_id",
        "SELECT n || '|' || issue || '|' || match_key || '|' || consumed FROM inbox ORDER BY n",
        "SELECT 'history ' || COUNT(*) FROM history",
    ] {
        let rows: Vec<String> = c
            .prepare(sql)
            .expect(sql)
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("snapshot");
        out.extend(rows);
    }
    out
}

fn delivery(i: usize) -> Value {
    json!({
        "delivery_id": format!("D-{:04}", 7000 + i),
        "customer_name": format!("Customer {i}"),
        "customer_email": format!("c{i}@example.com"),
        "region": "44",
        "currency": "GBP",
        "delivered_on": "2025-01-02",
        "lines": [{"name": "Desk", "quantity": 2, "unit_amount": {"amount": "120.00", "currency": "GBP"}}]
    })
}

#[test]
fn paypal_payments_are_confirmed_by_verified_webhooks_and_by_polling_through_faults() {
    let bin = binary();
    let rt = runtime();
    let http = reqwest::Client::new();
    let kintone = rt.block_on(TestServer::start());
    kintone.script(
        "PUT /k/v1/record.json",
        std::iter::repeat_n(Reply::json(200, json!({"revision": "2"})), 10),
    );
    let recorder = rt.block_on(TestServer::start_with(Duration::ZERO, true));
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/webhooks/paypal");
    let (_sim, sim) = start_sim(&[hook.clone(), format!("{}/recorded", recorder.url())]);
    let post_sim = |path: &str, body: Value| -> (u16, Value) {
        let r = rt
            .block_on(http.post(format!("{sim}{path}")).json(&body).send())
            .expect("simulator");
        let status = r.status().as_u16();
        (status, rt.block_on(r.json()).unwrap_or(Value::Null))
    };
    // Creating an invoice is rate limited twice, then fails twice with a 500.
    for fault in [
        json!({"kind": "rate_limit", "retry_after_secs": 1, "count": 2, "path_prefix": "/v2/invoicing/invoices"}),
        json!({"kind": "server_error", "count": 2, "path_prefix": "/v2/invoicing/invoices"}),
    ] {
        assert_eq!(post_sim("/_sim/faults", fault).0, 200);
    }

    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("paypal.db");
    let log = dir.path().join("worker.log");
    let mut worker = Command::new(&bin);
    worker
        .env("FLOWC_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("FLOWC_PAYPAL_BASE_URL", &sim)
        .env("PAYPAL_CLIENT_ID", "flowc-sim-client-id")
        .env("PAYPAL_CLIENT_SECRET", "flowc-sim-client-secret")
        .env("PAYPAL_WEBHOOK_ID", "WH-FLOWC-SIM-0001")
        .env(
            "KINTONE_DOMAIN",
            kintone.url().trim_start_matches("http://"),
        )
        .env("KINTONE_DELIVERY_APP", "12")
        .env("KINTONE_API_TOKEN", "kintone-e2e")
        .env("FLOWC_LOG", "info")
        .arg("--store")
        .arg(&store)
        .args(["run", "--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"));
    let _worker = Proc(worker.spawn().expect("run --listen"));
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let base = format!("http://127.0.0.1:{port}");
    wait_for(
        "the worker to listen",
        || {
            rt.block_on(http.get(format!("{base}/healthz")).send())
                .ok()
                .filter(|r| r.status().is_success())
        },
        log_text,
    );
    for i in 1..=3 {
        let r = rt
            .block_on(
                http.post(format!("{base}/issues"))
                    .bearer_auth(OPERATOR_TOKEN)
                    .json(&delivery(i))
                    .send(),
            )
            .expect("POST /issues");
        assert_eq!(r.status().as_u16(), 201, "{}", log_text());
    }
    let diag = || format!("{:?}\n{}", issues(&store), log_text());
    let invoices: Vec<(String, String)> = wait_for(
        "three issues waiting for their payment",
        || {
            let waiting: Vec<(String, String)> = issues(&store)
                .into_iter()
                .filter(|(_, state, step, _)| state == "waiting" && step == "wait_paid")
                .filter_map(|(id, _, _, d)| Some((id, d["invoice_id"].as_str()?.to_string())))
                .collect();
            (waiting.len() == 3).then_some(waiting)
        },
        diag,
    );
    let state: Value = rt
        .block_on(async {
            http.get(format!("{sim}/_sim/state"))
                .send()
                .await?
                .json()
                .await
        })
        .expect("state");
    assert_eq!(
        state["invoices"]["SENT"], 3,
        "one invoice per delivery, despite the faults: {state}"
    );

    // 1. Paid: the verified webhook confirms it.
    let (first, first_invoice) = &invoices[0];
    assert_eq!(
        post_sim(&format!("/_sim/invoices/{first_invoice}/pay"), json!({})).0,
        200
    );
    let state_of = |id: &str| {
        issues(&store)
            .into_iter()
            .find(|(i, ..)| i == id)
            .map(|(_, s, step, d)| (s, step, d))
            .expect("issue")
    };
    wait_for(
        "the first payment",
        || (state_of(first).0 == "completed").then_some(()),
        diag,
    );
    assert_eq!(
        state_of(first).2["paid_amount"],
        json!({"amount": "240.00", "currency": "GBP"})
    );

    // 2. Forged, malformed, headerless and replayed deliveries change nothing.
    let paid = wait_for(
        "the recorder's copy of the PAID delivery",
        || {
            recorder
                .seen()
                .into_iter()
                .find(|s| s.json()["event_type"] == "INVOICING.INVOICE.PAID")
        },
        String::new,
    );
    let headers: Vec<(String, String)> = paid
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("paypal-"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (second, second_invoice) = &invoices[1];
    let mut forged = paid.json();
    forged["id"] = json!("WH-FORGED-0001");
    forged["resource"]["invoice"]["id"] = json!(second_invoice);
    let before = snapshot(&store);
    let send = |h: &[(String, String)], body: String| -> (u16, Value) {
        let mut rb = http.post(&hook).body(body);
        for (k, v) in h {
            rb = rb.header(k.as_str(), v.as_str());
        }
        let r = rt.block_on(rb.send()).expect("webhook");
        let status = r.status().as_u16();
        (status, rt.block_on(r.json()).unwrap_or(Value::Null))
    };
    for (what, h, body) in [
        ("forged", headers.clone(), forged.to_string()),
        ("malformed", headers.clone(), "{\"id\": ".to_string()),
        ("headerless", Vec::new(), paid.body.clone()),
    ] {
        let (status, answer) = send(&h, body);
        assert_eq!(status, 400, "{what}: {answer}");
    }
    let (status, answer) = send(&headers, paid.body);
    assert_eq!(
        (status, answer["duplicate"].as_bool()),
        (200, Some(true)),
        "replayed: {answer}"
    );
    assert_eq!(
        snapshot(&store),
        before,
        "a refused or replayed webhook changed the store"
    );
    assert_eq!(state_of(second).0, "waiting");

    // 3. Every webhook lost, the event list and the verify endpoint failing
    // for a while: the one-second poll confirms the payment.
    assert_eq!(
        post_sim("/_sim/faults/webhooks", json!({"drop_fraction": 1.0})).0,
        200
    );
    assert_eq!(
        post_sim(
            "/_sim/faults",
            json!({"kind": "server_error", "count": 3, "path_prefix": "/v1/notifications"})
        )
        .0,
        200
    );
    assert_eq!(
        post_sim(&format!("/_sim/invoices/{second_invoice}/pay"), json!({})).0,
        200
    );
    wait_for(
        "the second payment, by poll",
        || (state_of(second).0 == "completed").then_some(()),
        diag,
    );
    let (third, _) = &invoices[2];
    assert_eq!(state_of(third).0, "waiting");
    let deliveries: Value = rt
        .block_on(async {
            http.get(format!("{sim}/_sim/deliveries"))
                .send()
                .await?
                .json()
                .await
        })
        .expect("deliveries");
    let dropped = deliveries["data"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter(|d| d["event_type"] == "INVOICING.INVOICE.PAID" && d["outcome"] == "dropped")
        .count();
    assert_eq!(
        dropped, 2,
        "both of the second PAID event's deliveries were lost: {deliveries}"
    );
    let kintone_puts = kintone.seen().iter().filter(|s| s.method == "PUT").count();
    assert_eq!(kintone_puts, 2, "one delivery record update per payment");
}
