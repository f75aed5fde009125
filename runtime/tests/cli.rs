//! The generated binary's CLI, driven in-process as `main` would be, against a
//! local server: start validation (one record, CSV and JSON-lines files), run,
//! signal/cancel/retry exit codes, `--help` on every command, and `simulate`.

#[path = "flows/three_http.rs"]
mod three_http;

use std::path::Path;

use flowc_runtime::cli;
use flowc_runtime::testing::{Reply, TestServer};
use serde_json::json;
use three_http::ThreeHttp;

fn run(args: &[&str]) -> i32 {
    cli::run::<ThreeHttp>(std::iter::once("three_http").chain(args.iter().copied()))
}

fn count(store: &Path, state: Option<&str>) -> i64 {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM issues WHERE ?1 IS NULL OR state = ?1",
        [state],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "start", "run", "status", "list", "history", "signal", "retry", "cancel", "simulate",
    ] {
        assert_eq!(run(&[cmd, "--help"]), 0, "{cmd} --help");
    }
    assert_eq!(run(&["--help"]), 0);
    assert_eq!(run(&["frobnicate"]), 2);
    assert_eq!(run(&["list", "--state", "sleeping"]), 2);
}

#[test]
fn a_file_with_a_bad_row_starts_nothing_unless_skip_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let s = store.to_str().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(
        &csv,
        "order,customer_email\n1,a@b.jp\n0,c@d.jp\nx,\n4,not-an-email\n5,\n",
    )
    .unwrap();
    assert_eq!(
        run(&["--store", s, "start", "--file", csv.to_str().unwrap()]),
        1
    );
    assert_eq!(count(&store, None), 0, "nothing started");
    assert_eq!(
        run(&[
            "--store",
            s,
            "start",
            "--file",
            csv.to_str().unwrap(),
            "--skip-invalid"
        ]),
        0
    );
    assert_eq!(count(&store, None), 2, "rows 1 and 5 are valid");

    let jsonl = dir.path().join("in.jsonl");
    std::fs::write(
        &jsonl,
        "{\"order\": 7}\n\n{\"order\": 8, \"extra\": 1}\nnot json\n",
    )
    .unwrap();
    assert_eq!(
        run(&["--store", s, "start", "--file", jsonl.to_str().unwrap()]),
        1
    );
    assert_eq!(count(&store, None), 2);
    assert_eq!(
        run(&[
            "--store",
            s,
            "start",
            "-f",
            jsonl.to_str().unwrap(),
            "--skip-invalid"
        ]),
        0
    );
    assert_eq!(count(&store, None), 3);

    assert_eq!(run(&["--store", s, "start", "{\"order\": 9}"]), 0);
    assert_eq!(run(&["--store", s, "start", "{\"order\": -1}"]), 1);
    assert_eq!(run(&["--store", s, "start", "{not json"]), 1);
    assert_eq!(count(&store, None), 4);
}

#[test]
fn run_once_completes_due_issues_and_operator_commands_answer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(TestServer::start());
    server.script(
        "POST /payments",
        [Reply::json(
            422,
            json!({"error": {"message": "card declined"}}),
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let s = store.to_str().unwrap();
    // The worker: the engine `run --once` uses, with the connection `api` pointed
    // at the local server (the binary reads FLOWC_API_BASE_URL; a test cannot set env).
    for i in 1..=3 {
        assert_eq!(
            run(&["--store", s, "start", &format!("{{\"order\": {i}}}")]),
            0
        );
    }
    let store_arc = flowc_runtime::store::SqliteStore::open(
        flowc_runtime::store::SqliteOptions::new(&store, "three_http"),
    )
    .unwrap();
    let engine = flowc_runtime::engine::Engine::<ThreeHttp>::with_base_url(
        std::sync::Arc::new(store_arc),
        std::sync::Arc::new(flowc_runtime::clock::SystemClock),
        Some(&server.url()),
    );
    rt.block_on(engine.run_due(4)).unwrap();
    drop(engine);
    assert_eq!(count(&store, Some("completed")), 2);
    assert_eq!(count(&store, Some("failed")), 1);
    let conn = rusqlite::Connection::open(&store).unwrap();
    let failed: String = conn
        .query_row("SELECT id FROM issues WHERE state = 'failed'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let error: String = conn
        .query_row("SELECT error FROM issues WHERE state = 'failed'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(error.contains("card declined"), "{error}");
    let done: String = conn
        .query_row(
            "SELECT id FROM issues WHERE state = 'completed' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();

    for args in [
        vec!["status", &failed],
        vec!["status", &failed, "--json"],
        vec!["history", &failed],
        vec!["list"],
        vec!["list", "--state", "failed"],
    ] {
        let mut a = vec!["--store", s];
        a.extend(args.iter().map(|x| &**x));
        assert_eq!(run(&a), 0, "{args:?}");
    }
    // A unique prefix is enough.
    assert_eq!(run(&["--store", s, "status", &failed[..30]]), 0);
    assert_eq!(run(&["--store", s, "status", "no-such-issue"]), 1);
    assert_eq!(
        run(&["--store", s, "cancel", &done]),
        1,
        "a completed issue cannot be cancelled"
    );
    assert_eq!(
        run(&["--store", s, "retry", &done]),
        1,
        "only a failed issue can be retried"
    );
    assert_eq!(
        run(&["--store", s, "signal", &done, "approve", "--data", "{}"]),
        1
    );
    assert_eq!(run(&["--store", s, "retry", &failed]), 0);
    assert_eq!(count(&store, Some("running")), 1);
    assert_eq!(run(&["--store", s, "cancel", &failed]), 0);
    assert_eq!(count(&store, Some("cancelled")), 1);
    // The store belongs to its flow.
    let other = flowc_runtime::store::SqliteStore::open(flowc_runtime::store::SqliteOptions::new(
        &store,
        "another_flow",
    ));
    assert!(
        other
            .unwrap_err()
            .to_string()
            .contains("belongs to flow `three_http`")
    );
}

#[test]
fn simulate_checks_expectations_and_fails_when_one_is_not_met() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        r#"
name: a declined payment is retried after a 429 and fails on a 402
start: 2025-03-01T09:00:00Z
http:
  - { route: "POST /payments", status: 429, headers: { Retry-After: "3600" } }
  - { route: "POST /payments", status: 402, body: { error: { message: "Your card was declined." } } }
records:
  - { name: a, data: { order: 1 } }
  - { name: b, data: { order: 2 }, at: 2d }
expect:
  - { issue: a, state: failed, step: confirm_payment, error_contains: "card was declined" }
  - { issue: b, state: completed, data: { order: 2 } }
"#,
    )
    .unwrap();
    assert_eq!(run(&["simulate", "--scenario", good.to_str().unwrap()]), 0);
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        r#"
records:
  - { name: a, data: { order: 1 } }
expect:
  - { issue: a, state: failed }
"#,
    )
    .unwrap();
    assert_eq!(run(&["simulate", "--scenario", bad.to_str().unwrap()]), 1);
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "records: [ { name: a, data: { order: 0 } } ]\n").unwrap();
    assert_eq!(
        run(&["simulate", "--scenario", broken.to_str().unwrap()]),
        2,
        "an invalid record is an error"
    );
}
