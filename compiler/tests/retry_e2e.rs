//! A step's `retry:` block end to end: a flow with an `http` step, a provider
//! action and a batch step, each `retry: { max_attempts: 2 }`, is built with
//! `flowc build` and run (`run --once`, again and again) against a server on
//! 127.0.0.1 that this test starts and that always answers 503 (the batch: an
//! outbox that cannot be made). Each step makes exactly two attempts, then its
//! issue fails; before the fix the provider action made the runtime's default
//! five.

mod flow_build;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowc_runtime::testing::{Reply, TestServer};
use serde_json::json;

const FLOW: &str = r#"
flow: retry_e2e
data:
  kind: string
  invoice_number: { type: id(buckaroo.invoice), required: true }
  amount: { type: money(EUR), required: true }
connections:
  stripe:
    provider: stripe
    mode: test
    credentials:
      secret_key: { env: STRIPE_SECRET_KEY }
  buckaroo:
    provider: buckaroo
    mode: test
    credentials:
      website_key: { env: BUCKAROO_WEBSITE_KEY }
      secret_key: { env: BUCKAROO_SECRET_KEY }
start: input
steps:
  - id: route
    switch: ${kind}
    cases:
      - when: [http]
        steps:
          - id: notify
            http:
              method: POST
              url: "http://${env.HOOK_HOST}/notify"
              body: { json: { invoice: "${invoice_number}" } }
            retry: { max_attempts: 2, backoff: 1s, max_backoff: 1s }
      - when: [action]
        steps:
          - id: refund
            action: stripe.create_refund
            with: { charge: ch_1, amount: 500 }
            retry: { max_attempts: 2, backoff: 1s, max_backoff: 1s }
      - when: [batch]
        steps:
          - id: queue
            batch: buckaroo.direct_debit_batch
            max: 1
            with:
              invoice_number: ${invoice_number}
              amount: ${amount}
              customer_name: A. Aa
              iban: NL91ABNA0417164300
              mandate_reference: M-1
            retry: { max_attempts: 2, backoff: 1s, max_backoff: 1s }
  - id: done
    end: completed
"#;

fn issues(store: &Path) -> Vec<(String, String, String)> {
    let conn = rusqlite::Connection::open(store).expect("store");
    conn.prepare(
        "SELECT json_extract(data, '$.kind'), state, COALESCE(error, '') FROM issues ORDER BY 1",
    )
    .expect("query")
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .expect("rows")
    .collect::<Result<_, _>>()
    .expect("issues")
}

#[test]
fn every_step_kind_makes_the_attempts_its_retry_allows() {
    let bin = flow_build::build_flow_text(FLOW);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let server = rt.block_on(TestServer::start());
    let busy = || (0..10).map(|_| Reply::json(503, json!({"error": {"message": "busy"}})));
    server.script("POST /notify", busy());
    server.script("POST /v1/refunds", busy());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("retry.db");
    let outbox = dir.path().join("outbox");
    std::fs::write(&outbox, "a file where the outbox should be").expect("outbox");
    let url = server.url();
    let bin_cmd = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.env("STRIPE_SECRET_KEY", "sk_test_retry_e2e")
            .env("FLOWC_STRIPE_BASE_URL", &url)
            .env("BUCKAROO_WEBSITE_KEY", "website")
            .env("BUCKAROO_SECRET_KEY", "secret")
            .env("FLOWC_BUCKAROO_OUTBOX", &outbox)
            .env("HOOK_HOST", url.trim_start_matches("http://"))
            .env("FLOWC_LOG", "error")
            .arg("--store")
            .arg(&store)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        c
    };
    for kind in ["http", "action", "batch"] {
        let record = json!({"kind": kind, "invoice_number": format!("F-{kind}"),
            "amount": {"amount": "10.00", "currency": "EUR"}})
        .to_string();
        let st = bin_cmd(&["start", &record]).status().expect("start");
        assert!(st.success(), "start {kind}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = bin_cmd(&["run", "--once"]).status().expect("run --once");
        assert!(st.success(), "run --once");
        let rows = issues(&store);
        if rows.iter().all(|(_, state, _)| state == "failed") {
            break;
        }
        assert!(Instant::now() < deadline, "still running: {rows:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let count = |route: &str| {
        server
            .seen()
            .iter()
            .filter(|s| format!("{} {}", s.method, s.path) == route)
            .count()
    };
    assert_eq!(count("POST /notify"), 2, "the http step's attempts");
    assert_eq!(
        count("POST /v1/refunds"),
        2,
        "the provider action's attempts"
    );
    for (kind, _, error) in issues(&store) {
        assert!(
            error.contains("gave up after 2 attempts"),
            "{kind}: {error}"
        );
    }
    let batch = issues(&store)
        .into_iter()
        .find(|(k, _, _)| k == "batch")
        .expect("the batch issue");
    assert!(batch.2.contains("cannot create the outbox"), "{batch:?}");
}
