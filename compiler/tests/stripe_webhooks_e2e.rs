//! Stripe webhooks and event triggers end to end over loopback: built flows
//! (`flowc build` machinery) run as `run --listen 127.0.0.1:PORT` against the
//! Stripe simulator of `flowc_runtime` (in this process), whose webhook
//! endpoint posts to the binary's `/webhooks/stripe`, as Stripe's test mode
//! would post to a deployment.
//!
//! - `flows/stripe_invoice_reminders`: issues waiting for `invoice.paid` wake
//!   by webhook within seconds (the flow polls hourly), and, with every
//!   webhook lost, by the consolidated `GET /v1/events` poll (a test copy
//!   polling every second): one list call per cycle, not one per issue;
//! - webhooks with a wrong signature, a stale timestamp or a garbage body are
//!   refused with 400 and change nothing in the store;
//! - `flows/stripe_charge_refund_triggers` (a test copy polling every second,
//!   its accounting system at a local recording server): with webhooks and
//!   polling both on, and the worker stopped and SIGKILLed between batches of
//!   charges and refunds, every trigger event starts exactly one issue and
//!   none is missed.
//!
//! Every wait is a polling loop with a generous deadline (a loaded two-core
//! machine), never a fixed sleep taken as an answer.

mod flow_build;

use flow_build::free_port;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowc_runtime::providers::stripe::signature;
use flowc_runtime::providers::stripe::sim::{SimConfig, StripeSim, WebhookFaults, WebhookTarget};
use flowc_runtime::testing::TestServer;
use rand::Rng;
use serde_json::{Value, json};

/// A key of the shape a test connection wants; the simulator accepts any test key.
const TEST_KEY: &str = "sk_test_e2e_flowc";
/// The signing secret shared by the simulator's endpoint and the binary.
const WEBHOOK_SECRET: &str = "whsec_e2e_flowc_listener";
/// The operator token of the worker's listener (`POST /issues` needs it).
const OPERATOR_TOKEN: &str = "e2e-operator-token-0123456789abcdef0123";
/// The flows' Stripe connection: webhooks go to `/webhooks/stripe`.
const CONNECTION: &str = "stripe";
/// The longest any one wait of these tests may take.
const DEADLINE: Duration = Duration::from_secs(90);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio")
}

/// `text` with `from` replaced, which must occur exactly `n` times (a flow that
/// changed under the test copy fails here, not in an odd way later).
fn replace_n(text: &str, from: &str, to: &str, n: usize) -> String {
    assert_eq!(
        text.matches(from).count(),
        n,
        "`{from}` in the flow text: the test copy needs updating"
    );
    text.replace(from, to)
}

fn flow_text(flow: &str) -> String {
    let path = flow_build::workspace()
        .join("flows")
        .join(format!("{flow}.flow.yaml"));
    std::fs::read_to_string(path).expect("flow file")
}

/// Polls `done` until it answers `Some`, or fails with `what` and `diag()` at the deadline.
fn wait_for<T>(
    what: &str,
    deadline: Duration,
    mut done: impl FnMut() -> Option<T>,
    diag: impl Fn() -> String,
) -> T {
    let end = Instant::now() + deadline;
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

// ------------------------------------------------------------------ worker

/// A `run --listen` worker process; killed when dropped.
struct Worker {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Worker {
    /// Starts `bin run --listen 127.0.0.1:port` and waits until it answers.
    fn start(
        rt: &tokio::runtime::Runtime,
        bin: &Path,
        store: &Path,
        port: u16,
        env: &[(&str, String)],
    ) -> Worker {
        let log = store.with_extension("log");
        let err = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut c = Command::new(bin);
        c.env("STRIPE_SECRET_KEY", TEST_KEY)
            .env("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("FLOWC_OPERATOR_TOKEN", OPERATOR_TOKEN)
            .env("FLOWC_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("--store")
            .arg(store)
            .args(["--log-format", "json"])
            .args(["run", "--concurrency", "4", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        let mut w = Worker {
            child: c.spawn().expect("run --listen"),
            port,
            log: log.clone(),
        };
        let health = format!("{}/healthz", w.url());
        let client = reqwest::Client::new();
        let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
        let child = &mut w.child;
        wait_for(
            "the worker to listen",
            DEADLINE,
            || {
                if let Some(st) = child.try_wait().expect("try_wait") {
                    panic!("the worker exited ({st}): {}", log_text());
                }
                rt.block_on(client.get(&health).send())
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            },
            log_text,
        );
        w
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `fields` of the log lines (JSON, one a line) whose message is `message`,
    /// of every run that wrote to this worker's log.
    fn logged(&self, message: &str) -> Vec<Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["fields"]["message"] == message)
            .map(|l| l["fields"].clone())
            .collect()
    }

    /// SIGTERM: the worker finishes the steps in flight and exits.
    fn stop(mut self) {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(st.success(), "kill -TERM: {st}");
        let child = &mut self.child;
        let st = wait_for(
            "the worker to stop",
            DEADLINE,
            || child.try_wait().expect("try_wait"),
            String::new,
        );
        assert!(st.success(), "the worker stopped with {st}");
    }

    /// SIGKILL, wherever it is.
    fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ------------------------------------------------------------------- store

fn open(store: &Path) -> rusqlite::Connection {
    let c =
        rusqlite::Connection::open_with_flags(store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("store");
    c.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    c
}

/// One issue as the store has it.
#[derive(Debug, Clone, PartialEq)]
struct Issue {
    id: String,
    state: String,
    step: String,
    data: Value,
    error: Option<String>,
}

fn issues(store: &Path) -> Vec<Issue> {
    open(store)
        .prepare("SELECT id, state, step, data, error FROM issues ORDER BY id")
        .expect("query")
        .query_map([], |r| {
            Ok(Issue {
                id: r.get(0)?,
                state: r.get(1)?,
                step: r.get(2)?,
                data: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or(Value::Null),
                error: r.get(4)?,
            })
        })
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("issues")
}

fn count(store: &Path, sql: &str) -> i64 {
    open(store).query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// Everything a webhook could change: issues (with their wait and version),
/// stored events, inbox, history and trigger starts.
fn snapshot(store: &Path) -> Vec<String> {
    let c = open(store);
    let mut out = Vec::new();
    for sql in [
        "SELECT id || '|' || state || '|' || step || '|' || seq || '|' || COALESCE(wake_at, '') || '|' \
         || COALESCE(wait_key, '') || '|' || updated_at FROM issues ORDER BY id",
        "SELECT event_id || '|' || match_key FROM events ORDER BY event_id",
        "SELECT n || '|' || issue || '|' || match_key || '|' || consumed FROM inbox ORDER BY n",
        "SELECT 'history ' || COUNT(*) FROM history",
        "SELECT event_id || '|' || issue FROM trigger_starts ORDER BY event_id",
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

fn by_state(issues: &[Issue]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for i in issues {
        *m.entry(i.state.clone()).or_default() += 1;
    }
    m
}

// ------------------------------------------------------------- simulator

/// A simulator whose one webhook endpoint (every event type) is the worker's listener.
fn sim_posting_to(rt: &tokio::runtime::Runtime, port: u16, backoff_secs: &[u64]) -> StripeSim {
    let mut config = SimConfig {
        webhooks: vec![WebhookTarget {
            url: format!("http://127.0.0.1:{port}/webhooks/{CONNECTION}"),
            events: vec!["*".into()],
            secret: Some(WEBHOOK_SECRET.into()),
        }],
        ..SimConfig::default()
    };
    if !backoff_secs.is_empty() {
        config.webhook_backoff = backoff_secs
            .iter()
            .map(|s| Duration::from_secs(*s))
            .collect();
    }
    rt.block_on(StripeSim::start(config)).expect("simulator")
}

/// `GET /v1/events` calls the simulator answered.
fn event_list_calls(sim: &StripeSim) -> usize {
    sim.state()
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/v1/events")
        .count()
}

/// A form POST to the simulator's Stripe API, as a client with the test key would send it.
fn stripe_post(rt: &tokio::runtime::Runtime, sim: &StripeSim, path: &str, form: &str) -> Value {
    let resp = rt
        .block_on(
            reqwest::Client::new()
                .post(format!("{}{path}", sim.url()))
                .bearer_auth(TEST_KEY)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form.to_string())
                .send(),
        )
        .expect("Stripe API");
    let status = resp.status();
    let body: Value = rt.block_on(resp.json()).expect("JSON answer");
    assert!(status.is_success(), "POST {path} {form}: {status} {body}");
    body
}

// ------------------------------------------------------ invoice reminders

fn invoice_binary() -> PathBuf {
    flow_build::build_flow("stripe_invoice_reminders")
}

/// A test copy of the invoice flow whose wait polls the event list every second.
fn fast_poll_invoice_binary() -> PathBuf {
    let text = flow_text("stripe_invoice_reminders");
    let text = replace_n(
        &text,
        "flow: stripe_invoice_reminders\n",
        "flow: stripe_invoice_reminders_poll_e2e\n",
        1,
    );
    let text = replace_n(&text, "poll: 1h", "poll: 1s", 1);
    flow_build::build_flow_text(&text)
}

/// One completed delivery of two lines: 2 x 12.00 + 10.50 EUR = 3450 cents.
fn delivery(i: usize) -> Value {
    json!({
        "delivery_id": format!("D-{:04}", 1000 + i),
        "customer_email": format!("buyer{i}@example.com"),
        "customer_name": format!("Buyer {i}"),
        "currency": "EUR",
        "lines": [
            {"description": "Desk", "quantity": 2, "unit_amount": {"amount": "12.00", "currency": "EUR"}},
            {"description": "Lamp", "quantity": 1, "unit_amount": {"amount": "10.50", "currency": "EUR"}}
        ]
    })
}
const AMOUNT_DUE: i64 = 3450;

/// Starts `n` deliveries through the listener's `POST /issues`; their ids.
fn start_deliveries(rt: &tokio::runtime::Runtime, w: &Worker, n: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    (1..=n)
        .map(|i| {
            let resp = rt
                .block_on(
                    client
                        .post(format!("{}/issues", w.url()))
                        .bearer_auth(OPERATOR_TOKEN)
                        .json(&delivery(i))
                        .send(),
                )
                .expect("POST /issues");
            assert_eq!(resp.status().as_u16(), 201, "POST /issues");
            let body: Value = rt.block_on(resp.json()).expect("JSON");
            body["id"].as_str().expect("issue id").to_string()
        })
        .collect()
}

/// Waits until every issue of `ids` waits for its invoice's payment; their invoice ids.
fn wait_until_waiting_for_payment(store: &Path, ids: &[String], w: &Worker) -> Vec<String> {
    wait_for(
        "the issues to wait for invoice.paid",
        DEADLINE,
        || {
            let all = issues(store);
            let waiting: Vec<String> = all
                .iter()
                .filter(|i| ids.contains(&i.id) && i.state == "waiting" && i.step == "wait_paid")
                .filter_map(|i| i.data["invoice_id"].as_str().map(str::to_string))
                .collect();
            (waiting.len() == ids.len()).then_some(waiting)
        },
        || format!("{:?}\n{}", issues(store), w.log_text()),
    )
}

/// Waits until every issue of `ids` completed, paid in full.
fn wait_until_paid(store: &Path, ids: &[String], w: &Worker) {
    let done = wait_for(
        "the issues to complete",
        DEADLINE,
        || {
            let all = issues(store);
            let mine: Vec<Issue> = all.into_iter().filter(|i| ids.contains(&i.id)).collect();
            mine.iter().all(|i| i.state == "completed").then_some(mine)
        },
        || format!("{:?}\n{}", issues(store), w.log_text()),
    );
    for i in done {
        assert_eq!(i.data["status"], "paid", "{i:?}");
        assert_eq!(i.data["amount_paid_minor"], AMOUNT_DUE, "{i:?}");
    }
}

/// The invoice flow's worker and simulator, webhooks on their way to the worker.
struct InvoiceRun {
    sim: StripeSim,
    worker: Worker,
    store: PathBuf,
    _dir: tempfile::TempDir,
}

fn invoice_run(rt: &tokio::runtime::Runtime, bin: &Path) -> InvoiceRun {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("invoices.db");
    let port = free_port();
    let sim = sim_posting_to(rt, port, &[]);
    let worker = Worker::start(
        rt,
        bin,
        &store,
        port,
        &[("FLOWC_STRIPE_BASE_URL", sim.url())],
    );
    InvoiceRun {
        sim,
        worker,
        store,
        _dir: dir,
    }
}

#[test]
fn invoices_paid_by_webhook_complete_at_once() {
    const N: usize = 4;
    let bin = invoice_binary();
    let rt = runtime();
    let run = invoice_run(&rt, &bin);
    let ids = start_deliveries(&rt, &run.worker, N);
    let invoices = wait_until_waiting_for_payment(&run.store, &ids, &run.worker);
    let paid_at = Instant::now();
    for inv in &invoices {
        run.sim.pay_invoice(inv).expect("pay on the hosted page");
    }
    wait_until_paid(&run.store, &ids, &run.worker);
    let took = paid_at.elapsed();
    // The wait polls hourly: only the webhooks can have woken the issues. The
    // feed may have listed once, had a poll been due when the first issue began
    // to wait; not once per issue or per minute.
    let lists = event_list_calls(&run.sim);
    assert!(lists <= 1, "{lists} event list calls with an hourly poll");
    assert!(rt.block_on(run.sim.settle(DEADLINE)), "webhooks in flight");
    let deliveries = run.sim.state().deliveries();
    for d in &deliveries {
        assert_eq!(
            (d.outcome.as_str(), d.last_result.as_deref()),
            ("delivered", Some("200")),
            "{d:?}"
        );
    }
    // One invoice.paid per invoice, taken at the first attempt.
    let paid: BTreeSet<String> = run
        .sim
        .state()
        .objects("event")
        .iter()
        .filter(|e| e["type"] == "invoice.paid")
        .filter_map(|e| e["data"]["object"]["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(paid, invoices.iter().cloned().collect());
    let paid_deliveries = deliveries
        .iter()
        .filter(|d| d.event_type == "invoice.paid")
        .inspect(|d| assert_eq!(d.attempts, 1, "{d:?}"))
        .count();
    assert_eq!(paid_deliveries, N);
    println!(
        "invoice webhooks: {N} issues completed {took:?} after their invoices were paid; {} deliveries, {lists} list calls",
        deliveries.len()
    );
}

#[test]
fn lost_webhooks_are_made_up_by_one_consolidated_poll() {
    const N: usize = 6;
    const POLL: Duration = Duration::from_secs(1);
    let bin = fast_poll_invoice_binary();
    let rt = runtime();
    let started = Instant::now();
    let run = invoice_run(&rt, &bin);
    run.sim.drop_webhooks(WebhookFaults {
        drop_next: 0,
        drop_fraction: 1.0,
    });
    let ids = start_deliveries(&rt, &run.worker, N);
    let invoices = wait_until_waiting_for_payment(&run.store, &ids, &run.worker);
    // Let the feed poll a few times with all N issues waiting (and nothing to
    // find): one list call per cycle would take at least two poll intervals
    // for three calls; a call per issue would make them at once.
    let before = event_list_calls(&run.sim);
    let t0 = Instant::now();
    wait_for(
        "three polls while the issues wait",
        DEADLINE,
        || (event_list_calls(&run.sim) >= before + 3).then_some(()),
        || run.worker.log_text(),
    );
    let quiet = t0.elapsed();
    assert!(
        quiet >= POLL * 3 / 2,
        "3 list calls in {quiet:?} with {N} issues waiting: a poll per issue?"
    );
    for inv in &invoices {
        run.sim.pay_invoice(inv).expect("pay on the hosted page");
    }
    wait_until_paid(&run.store, &ids, &run.worker);
    let total = started.elapsed();
    let lists = event_list_calls(&run.sim);
    // One page per cycle (a few events, one page), a cycle per second at most.
    let cycles = total.as_secs_f64() / POLL.as_secs_f64();
    assert!(
        (lists as f64) <= cycles + 2.0,
        "{lists} list calls in {total:?} ({cycles:.1} poll intervals)"
    );
    // No webhook reached the worker: the poll found every payment.
    let deliveries = run.sim.state().deliveries();
    assert!(!deliveries.is_empty());
    for d in &deliveries {
        assert_eq!(d.outcome, "dropped", "{d:?}");
    }
    assert_eq!(
        count(&run.store, "SELECT COUNT(*) FROM events"),
        N as i64,
        "one stored invoice.paid per invoice"
    );
    println!(
        "invoice poll fallback: {N} issues completed in {total:?} with every webhook lost; {lists} list calls"
    );
}

/// A Stripe-Signature for `body` at unix time `t` with `secret`.
fn signed(secret: &str, t: i64, body: &[u8]) -> String {
    signature::sign(secret, t, body)
}

fn post_webhook(
    rt: &tokio::runtime::Runtime,
    w: &Worker,
    connection: &str,
    sig: Option<String>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/webhooks/{connection}", w.url()))
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(sig) = sig {
        req = req.header("Stripe-Signature", sig);
    }
    let resp = rt.block_on(req.send()).expect("POST webhook");
    let status = resp.status().as_u16();
    (status, rt.block_on(resp.text()).unwrap_or_default())
}

/// The refusals a forged or broken delivery of `event` must get (each 400).
fn bad_deliveries(event: &Value) -> Vec<(&'static str, Option<String>, Vec<u8>)> {
    let body = event.to_string().into_bytes();
    let now = jiff::Timestamp::now().as_second();
    let mut tampered = event.clone();
    tampered["data"]["object"]["amount_paid"] = json!(1);
    let garbage = b"\x00\xffnot json {".to_vec();
    let not_an_event = br#"{"hello": "world"}"#.to_vec();
    vec![
        (
            "wrong secret",
            Some(signed("whsec_not_the_secret", now, &body)),
            body.clone(),
        ),
        (
            "stale timestamp",
            Some(signed(WEBHOOK_SECRET, now - 3600, &body)),
            body.clone(),
        ),
        (
            "timestamp from the future",
            Some(signed(WEBHOOK_SECRET, now + 3600, &body)),
            body.clone(),
        ),
        ("no signature", None, body.clone()),
        (
            "garbage signature header",
            Some("t=abc,v1=zz".into()),
            body.clone(),
        ),
        (
            "body changed after signing",
            Some(signed(WEBHOOK_SECRET, now, &body)),
            tampered.to_string().into_bytes(),
        ),
        (
            "garbage body, signed",
            Some(signed(WEBHOOK_SECRET, now, &garbage)),
            garbage.clone(),
        ),
        ("garbage body, unsigned", None, garbage),
        (
            "JSON that is no event, signed",
            Some(signed(WEBHOOK_SECRET, now, &not_an_event)),
            not_an_event,
        ),
    ]
}

/// The `invoice.paid` event Stripe would send when the open invoice `id` is paid.
fn paid_event(sim: &StripeSim, id: &str) -> Value {
    let mut invoice = sim.state().object("invoice", id).expect("the invoice");
    assert_eq!(invoice["status"], "open", "{invoice}");
    invoice["status"] = json!("paid");
    invoice["paid"] = json!(true);
    invoice["amount_paid"] = invoice["amount_due"].clone();
    invoice["amount_remaining"] = json!(0);
    json!({
        "id": "evt_e2e_invoice_paid",
        "object": "event",
        "api_version": "2023-08-16",
        "created": jiff::Timestamp::now().as_second(),
        "livemode": false,
        "pending_webhooks": 1,
        "type": "invoice.paid",
        "data": {"object": invoice}
    })
}

#[test]
fn bad_webhooks_are_refused_and_change_nothing() {
    let bin = invoice_binary();
    let rt = runtime();
    let run = invoice_run(&rt, &bin);
    let ids = start_deliveries(&rt, &run.worker, 1);
    let invoices = wait_until_waiting_for_payment(&run.store, &ids, &run.worker);
    // The test posts the `invoice.paid` webhook itself; the simulator never
    // sees the payment, so no poll could find it either.
    let event = paid_event(&run.sim, &invoices[0]);
    let before = snapshot(&run.store);
    for (what, sig, body) in bad_deliveries(&event) {
        let (status, answer) = post_webhook(&rt, &run.worker, CONNECTION, sig, body);
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(
            !answer.contains(WEBHOOK_SECRET),
            "{what}: the answer shows the secret"
        );
    }
    // A connection that does not exist (or takes no webhooks) is not found.
    let body = event.to_string().into_bytes();
    let now = jiff::Timestamp::now().as_second();
    let (status, _) = post_webhook(
        &rt,
        &run.worker,
        "no_such_connection",
        Some(signed(WEBHOOK_SECRET, now, &body)),
        body.clone(),
    );
    assert_eq!(status, 404);
    // Nor can anyone "pay" or start without the operator token: the generic
    // event route and `POST /issues` are the operator's.
    let client = reqwest::Client::new();
    let url = run.worker.url();
    let pay = json!({"id": "evt_forged", "key": invoices[0], "data": {"status": "paid"}});
    for token in [None, Some("e2e-operator-token-0123456789abcdef012X")] {
        for (path, body) in [
            ("/events/invoice.paid", pay.clone()),
            ("/issues", delivery(99)),
        ] {
            let mut req = client.post(format!("{url}{path}")).json(&body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = rt.block_on(req.send()).expect("POST");
            assert_eq!(resp.status().as_u16(), 401, "{path} with {token:?}");
        }
    }
    // The worker had every chance to act on them: it answered each before
    // anything else, and it is still alive and listening.
    assert_eq!(
        snapshot(&run.store),
        before,
        "a refused webhook changed the store"
    );
    let waiting = issues(&run.store);
    assert_eq!(
        (waiting[0].state.as_str(), waiting[0].step.as_str()),
        ("waiting", "wait_paid")
    );
    let log = run.worker.log_text();
    assert!(!log.contains(WEBHOOK_SECRET), "the secret is in the log");
    assert!(
        !log.contains(OPERATOR_TOKEN),
        "the operator token is in the log"
    );
    // The same event, signed right, is taken (the refusals above were for what
    // was wrong with them, not for the event) and wakes the issue.
    let (status, answer) = post_webhook(
        &rt,
        &run.worker,
        CONNECTION,
        Some(signed(WEBHOOK_SECRET, now, &body)),
        body.clone(),
    );
    assert_eq!(status, 200, "{answer}");
    wait_until_paid(&run.store, &ids, &run.worker);
    // Sent again, it is a duplicate and changes nothing more.
    let after = snapshot(&run.store);
    let (status, answer) = post_webhook(
        &rt,
        &run.worker,
        CONNECTION,
        Some(signed(WEBHOOK_SECRET, now, &body)),
        body,
    );
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON answer");
    assert_eq!(answer["duplicate"], true);
    assert_eq!(snapshot(&run.store), after);
}

// ------------------------------------------------------ charge triggers

/// A test copy of the trigger flow: the event list polled every second, and
/// the accounting system's base URL from `ACCOUNTING_BASE_URL` (the product
/// flow's is a data item whose default is the real system's address).
fn triggers_binary() -> PathBuf {
    let text = flow_text("stripe_charge_refund_triggers");
    let text = replace_n(
        &text,
        "flow: stripe_charge_refund_triggers\n",
        "flow: stripe_charge_refund_triggers_e2e\n",
        1,
    );
    let text = replace_n(&text, "every: 5m", "every: 1s", 2);
    let text = replace_n(
        &text,
        "url: \"${accounting_url}/api/",
        "url: \"${env.ACCOUNTING_BASE_URL}/api/",
        2,
    );
    flow_build::build_flow_text(&text)
}

const TRIGGERS: [&str; 2] = ["charge.succeeded", "refund.created"];
const ACCOUNTING_TOKEN: &str = "acct-e2e-token";
const NOTIFY_TOKEN: &str = "notify-e2e-token";

/// Charges `n` test cards (and refunds the first `refunds` of them) through
/// Stripe's API; the ids of the charges and refunds.
fn charge_and_refund(
    rt: &tokio::runtime::Runtime,
    sim: &StripeSim,
    n: usize,
    refunds: usize,
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let charge = stripe_post(
            rt,
            sim,
            "/v1/charges",
            &format!(
                "amount={}&currency=eur&source=tok_visa&description=e2e",
                1000 + i
            ),
        );
        ids.push(charge["id"].as_str().expect("charge id").to_string());
    }
    for i in 0..refunds {
        let refund = stripe_post(
            rt,
            sim,
            "/v1/refunds",
            &format!("charge={}&reason=requested_by_customer", ids[i]),
        );
        ids.push(refund["id"].as_str().expect("refund id").to_string());
    }
    ids
}

/// The simulator's trigger events: event id -> the charge or refund it is about.
fn trigger_events(sim: &StripeSim) -> BTreeMap<String, String> {
    sim.state()
        .objects("event")
        .iter()
        .filter(|e| TRIGGERS.iter().any(|t| e["type"] == *t))
        .map(|e| {
            (
                e["id"].as_str().unwrap_or_default().to_string(),
                e["data"]["object"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// Trigger starts in the store: event id -> issue.
fn trigger_starts(store: &Path) -> BTreeMap<String, String> {
    open(store)
        .prepare("SELECT event_id, issue FROM trigger_starts")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("trigger starts")
}

/// Waits until the store has started an issue for every trigger event the
/// simulator made.
fn wait_until_started(sim: &StripeSim, store: &Path, w: &Worker) {
    wait_for(
        "an issue for every trigger event",
        DEADLINE,
        || {
            let want: BTreeSet<String> = trigger_events(sim).into_keys().collect();
            let have: BTreeSet<String> = trigger_starts(store).into_keys().collect();
            (want == have).then_some(())
        },
        || {
            format!(
                "events {:?}, started {:?}\n{}",
                trigger_events(sim),
                trigger_starts(store),
                w.log_text()
            )
        },
    );
}

#[test]
fn every_charge_and_refund_starts_exactly_one_issue_across_restarts() {
    let bin = triggers_binary();
    let rt = runtime();
    // An accounting system that takes a while to answer: a SIGKILL lands
    // while its requests are in flight.
    let accounting = rt.block_on(TestServer::start_with(Duration::from_millis(100), true));
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("triggers.db");
    let port = free_port();
    // Retries come quickly after a worker's downtime (Stripe waits longer).
    let sim = sim_posting_to(
        &rt,
        port,
        &[1, 1, 2, 2, 2, 3, 3, 3, 5, 5, 5, 5, 5, 5, 10, 10],
    );
    let env = [
        ("FLOWC_STRIPE_BASE_URL", sim.url()),
        ("ACCOUNTING_BASE_URL", accounting.url()),
        ("ACCOUNTING_API_TOKEN", ACCOUNTING_TOKEN.to_string()),
        ("ACCOUNTING_NOTIFY_TOKEN", NOTIFY_TOKEN.to_string()),
    ];
    let mut rng = rand::rng();

    // 1. The first poll sets the cursor (an account's past starts nothing).
    let w = Worker::start(&rt, &bin, &store, port, &env);
    wait_for(
        "the first poll",
        DEADLINE,
        || {
            (count(
                &store,
                "SELECT COUNT(*) FROM meta WHERE key = 'feed_cursor:stripe'",
            ) == 1)
                .then_some(())
        },
        || w.log_text(),
    );
    // A forged trigger event starts nothing.
    let forged = json!({
        "id": "evt_forged", "object": "event", "type": "charge.succeeded", "created": 1,
        "data": {"object": {"id": "ch_forged", "object": "charge", "amount": 1, "currency": "eur", "status": "succeeded"}}
    })
    .to_string()
    .into_bytes();
    let now = jiff::Timestamp::now().as_second();
    let (status, _) = post_webhook(
        &rt,
        &w,
        CONNECTION,
        Some(signed("whsec_forger", now, &forged)),
        forged,
    );
    assert_eq!(status, 400);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM issues"), 0);

    // 2. Charges and a refund while the worker runs: webhook and poll race,
    //    and the next polls list the events the webhooks brought again.
    let mut objects = charge_and_refund(&rt, &sim, 3, 1);
    wait_until_started(&sim, &store, &w);
    let lists = event_list_calls(&sim);
    wait_for(
        "two polls after the webhooks",
        DEADLINE,
        || (event_list_calls(&sim) >= lists + 2).then_some(()),
        || w.log_text(),
    );
    w.stop();

    // 3. While it is down: the webhooks fail and are retried, the poll at the
    //    next start finds the events first.
    objects.extend(charge_and_refund(&rt, &sim, 2, 1));
    let w = Worker::start(&rt, &bin, &store, port, &env);
    wait_until_started(&sim, &store, &w);

    // 4. More while it works, two of their webhooks lost (only the poll can
    //    find those), then SIGKILL at a random moment.
    sim.drop_webhooks(WebhookFaults {
        drop_next: 2,
        drop_fraction: 0.0,
    });
    objects.extend(charge_and_refund(&rt, &sim, 3, 1));
    std::thread::sleep(Duration::from_millis(rng.random_range(20..400)));
    let at_kill = (by_state(&issues(&store)), accounting.count());
    w.kill_9();

    // 5. And more while it is dead; then a worker that finishes everything.
    objects.extend(charge_and_refund(&rt, &sim, 2, 0));
    let w = Worker::start(&rt, &bin, &store, port, &env);
    wait_until_started(&sim, &store, &w);
    let events = trigger_events(&sim);
    assert_eq!(events.len(), objects.len(), "one trigger event per object");
    wait_for(
        "every issue to complete",
        DEADLINE,
        || {
            let all = issues(&store);
            (all.len() == events.len() && all.iter().all(|i| i.state == "completed")).then_some(())
        },
        || format!("{:?}\n{}", by_state(&issues(&store)), w.log_text()),
    );
    // Every webhook (the retried ones too) has reached the worker by now and
    // was taken: duplicates of polled events, answered 200.
    assert!(rt.block_on(sim.settle(DEADLINE * 2)), "webhooks in flight");
    let deliveries = sim.state().deliveries();
    let dropped: Vec<&str> = deliveries
        .iter()
        .filter(|d| d.outcome == "dropped")
        .map(|d| d.event_id.as_str())
        .collect();
    assert_eq!(dropped.len(), 2, "{deliveries:?}");
    for d in deliveries.iter().filter(|d| d.outcome != "dropped") {
        assert_eq!(d.outcome, "delivered", "{d:?}");
    }
    let retried = deliveries
        .iter()
        .filter(|d| TRIGGERS.contains(&d.event_type.as_str()) && d.attempts > 1)
        .count();
    assert!(retried > 0, "no webhook met a stopped worker");

    // Exactly once: one issue per trigger event, for its object; none missed.
    let starts = trigger_starts(&store);
    assert_eq!(
        starts.keys().collect::<BTreeSet<_>>(),
        events.keys().collect::<BTreeSet<_>>()
    );
    let all = issues(&store);
    assert_eq!(all.len(), events.len(), "{:?}", by_state(&all));
    let mut seen_events = BTreeSet::new();
    for i in &all {
        assert_eq!(i.state, "completed", "{i:?}");
        let ev = i.data["event_id"].as_str().expect("event_id").to_string();
        assert_eq!(starts.get(&ev), Some(&i.id), "{i:?}");
        assert_eq!(
            Some(&i.data["id"].as_str().unwrap_or_default().to_string()),
            events.get(&ev)
        );
        assert!(seen_events.insert(ev), "two issues for one event: {i:?}");
    }
    assert_eq!(
        all.iter()
            .map(|i| i.data["id"].as_str().unwrap_or_default().to_string())
            .collect::<BTreeSet<_>>(),
        objects.iter().cloned().collect::<BTreeSet<_>>()
    );

    // The accounting system got one entry per event: a request sent twice (a
    // worker killed before it stored the answer) carries the same key.
    let seen = accounting.seen();
    let mut keys_per_event: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in seen.iter().filter(|r| r.path == "/api/entries") {
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.headers.get("x-accounting-token").map(String::as_str),
            Some(ACCOUNTING_TOKEN)
        );
        let key = r.idempotency_key().expect("an idempotency key").to_string();
        let ev = r.json()["event"].as_str().expect("event").to_string();
        keys_per_event.entry(ev).or_default().insert(key);
    }
    assert_eq!(
        keys_per_event.keys().collect::<BTreeSet<_>>(),
        events.keys().collect::<BTreeSet<_>>(),
        "one entry per trigger event"
    );
    for (ev, keys) in &keys_per_event {
        assert_eq!(keys.len(), 1, "{ev} was posted as {} entries", keys.len());
    }
    let mut notified: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in seen.iter().filter(|r| r.path == "/api/notifications") {
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some(format!("Bearer {NOTIFY_TOKEN}").as_str())
        );
        let text = r.json()["text"].as_str().unwrap_or_default().to_string();
        let object = text
            .strip_prefix("Stripe ")
            .and_then(|t| t.split(':').next())
            .unwrap_or_default()
            .to_string();
        notified
            .entry(object)
            .or_default()
            .insert(r.idempotency_key().unwrap_or_default().to_string());
    }
    assert_eq!(
        notified.keys().cloned().collect::<BTreeSet<_>>(),
        objects.iter().cloned().collect::<BTreeSet<_>>(),
        "one notification per object"
    );
    assert!(notified.values().all(|k| k.len() == 1), "{notified:?}");
    // Both ways in were used: webhooks started issues, and polls did (the
    // events whose webhooks were lost, those made while no worker ran).
    let by_webhook = w
        .logged("webhook")
        .iter()
        .filter(|f| f["duplicate"] == false)
        .count();
    let by_poll: u64 = w
        .logged("event feed")
        .iter()
        .filter_map(|f| f["started"].as_u64())
        .sum();
    // (A worker killed between a start and its log line logs one fewer.)
    assert!(by_webhook > 0, "no issue was started by a webhook");
    assert!(by_poll > 0, "no issue was started by a poll");
    assert!(by_webhook + by_poll as usize <= events.len());
    let entries = seen.iter().filter(|r| r.path == "/api/entries").count();
    println!(
        "stripe triggers: {} events ({} objects) -> {} issues ({by_webhook} by webhook, {by_poll} by poll); \
         {} deliveries ({retried} retried, {} lost), {entries} entry requests, {} event list calls; \
         at the SIGKILL: {:?}, {} accounting requests",
        events.len(),
        objects.len(),
        all.len(),
        deliveries.len(),
        dropped.len(),
        event_list_calls(&sim),
        at_kill.0,
        at_kill.1
    );
}
