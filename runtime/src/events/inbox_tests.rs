//! The inbox: Buckaroo response files in a directory, read by the event feed,
//! each record applied once to the issue waiting for its invoice.

use std::sync::Arc;

use serde_json::{Value, json};

use super::EventFeed;
use crate::clock::{Clock, VirtualClock};
use crate::engine::Engine;
use crate::prelude::*;
use crate::store::{IssueState, SqliteOptions, SqliteStore, Store};
use crate::testing::wait_flow::{Data, WaitFlow, WaitSpec, keep};

static ITEMS: [ItemDef; 3] = [
    ItemDef::new("invoice", ValueType::String),
    ItemDef::new("status", ValueType::String),
    ItemDef::new("reason", ValueType::String),
];
static CONNECTIONS: [ConnectionDef; 1] = [ConnectionDef {
    name: "bk_inbox_test",
    provider: "buckaroo",
    mode: "test",
    base_url: "",
    credentials: &[
        (
            "website_key",
            SecretSource::Env("BK_INBOX_TEST_WEBSITE_KEY"),
        ),
        ("secret_key", SecretSource::Env("BK_INBOX_TEST_SECRET_KEY")),
    ],
}];
static FEEDS: [FeedDef; 2] = [
    FeedDef {
        provider: "buckaroo",
        event: "response_file",
        connection: "bk_inbox_test",
        poll: None,
    },
    FeedDef {
        provider: "buckaroo",
        event: "push",
        connection: "bk_inbox_test",
        poll: None,
    },
];

/// Waits for the response record of its invoice and keeps its status.
struct Inbox;

impl WaitSpec for Inbox {
    const NAME: &'static str = "inbox_test";
    const ITEMS: &'static [ItemDef] = &ITEMS;
    const KEY: &'static str = "invoice";
    const CONNECTIONS: &'static [ConnectionDef] = &CONNECTIONS;
    const FEEDS: &'static [FeedDef] = &FEEDS;
    fn on_event(data: &mut Data, event: &Value) -> Option<Outcome> {
        keep(data, "status", event["status"].as_str());
        keep(data, "reason", event["failure_reason"].as_str());
        Some(Outcome::Completed)
    }
}

type InboxFlow = WaitFlow<Inbox>;

const FILE: &str = "H,ACME_DD_20250303-000001.csv,2025-03-03T06:00:00Z,4\r\n\
D,INV-1,TX1,190,,25.00,EUR,\r\n\
D,INV-2,TX2,not-a-code,,12.50,EUR,\r\n\
D,INV-3,TX3,491,AC01,12.50,EUR,Invalid account\r\n\
D,INV-9,TX9,190,,1.00,EUR,\r\n";

#[tokio::test]
async fn a_response_file_is_applied_once_reported_and_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    crate::http::set_simulated_env(
        &crate::action::inbox_env("bk_inbox_test"),
        &dir.path().to_string_lossy(),
    );
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(":memory:", "inbox_test")).unwrap());
    let clock = VirtualClock::new("2025-03-10T00:00:00Z".parse().unwrap());
    let engine = Engine::<InboxFlow>::with_base_url(store.clone(), Arc::new(clock.clone()), None);
    let feed = EventFeed::new(engine.clone());

    // Nobody waits yet: the inbox is not read.
    std::fs::write(dir.path().join("resp1.csv"), FILE).unwrap();
    assert!(feed.poll_due(clock.now()).await.is_empty());
    assert!(dir.path().join("resp1.csv").exists());

    let mut ids = Vec::new();
    for inv in ["INV-1", "INV-2", "INV-3"] {
        ids.push(engine.start(&json!({"invoice": inv})).await.unwrap());
    }
    engine.run_due(4).await.unwrap();
    // A file still being written is left alone.
    std::fs::write(
        dir.path().join("resp2.csv.part"),
        "D,INV-2,TX2,190,,1,EUR,\n",
    )
    .unwrap();
    clock.advance(super::INBOX_EVERY);
    let r = feed.poll_due(clock.now()).await;
    assert_eq!(r.len(), 1);
    let r = &r[0];
    // INV-1, INV-3 and the unknown INV-9 are stored; the malformed row is not.
    assert_eq!((r.outcome.delivered, r.outcome.duplicates), (3, 0));
    assert_eq!(r.skipped, 1);
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("resp1.csv line 3") && p.contains("not-a-code")),
        "{:?}",
        r.problems
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("bk_inbox_test:resp1.csv:5") && p.contains("INV-9")),
        "{:?}",
        r.problems
    );
    assert!(!dir.path().join("resp1.csv").exists());
    assert!(dir.path().join("processed/resp1.csv").exists());
    assert!(dir.path().join("resp2.csv.part").exists());

    engine.run_due(4).await.unwrap();
    let row = |i: usize| {
        let store = store.clone();
        let id = ids[i].clone();
        async move { store.load(&id).await.unwrap().unwrap() }
    };
    let one = row(0).await;
    assert_eq!(one.state, IssueState::Completed);
    assert_eq!(one.data["status"], "success");
    let three = row(2).await;
    assert_eq!(three.state, IssueState::Completed);
    assert_eq!(three.data["status"], "validation_failure");
    assert_eq!(three.data["reason"], "Invalid account");
    // The malformed row's invoice still waits.
    assert_eq!(row(1).await.state, IssueState::Waiting);

    // Killed after the records were stored but before the file was moved: the
    // file is read again, and every record is a duplicate.
    std::fs::write(dir.path().join("resp1.csv"), FILE).unwrap();
    clock.advance(super::INBOX_EVERY);
    let r = feed.poll_due(clock.now()).await;
    assert_eq!((r[0].outcome.delivered, r[0].outcome.duplicates), (0, 3));
    assert!(dir.path().join("processed/resp1.csv.1").exists());
    engine.run_due(4).await.unwrap();
    assert_eq!(row(0).await.data["status"], "success");

    // The corrected record for INV-2 comes in a later file.
    std::fs::write(
        dir.path().join("resp3.csv"),
        "D,INV-2,TX2b,690,MD06,12.50,EUR,\n",
    )
    .unwrap();
    clock.advance(super::INBOX_EVERY);
    let r = feed.poll_due(clock.now()).await;
    assert_eq!(r[0].outcome.delivered, 1);
    assert!(r[0].problems.is_empty(), "{:?}", r[0].problems);
    engine.run_due(4).await.unwrap();
    let two = row(1).await;
    assert_eq!(two.state, IssueState::Completed);
    assert_eq!(two.data["status"], "rejected");
    assert_eq!(two.data["reason"], "MD06");
}

#[tokio::test]
async fn a_buckaroo_push_is_verified_before_it_is_stored() {
    use axum::http::{HeaderMap, HeaderValue};

    use super::webhook::WebhookError;
    use crate::providers::buckaroo::{authorization, signature};

    crate::http::set_simulated_env("BK_INBOX_TEST_WEBSITE_KEY", "WK");
    crate::http::set_simulated_env("BK_INBOX_TEST_SECRET_KEY", "SECRET");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(":memory:", "push_test")).unwrap());
    let clock = VirtualClock::new("2025-03-10T00:00:00Z".parse().unwrap());
    let engine = Engine::<InboxFlow>::with_base_url(store.clone(), Arc::new(clock.clone()), None);
    let feed = EventFeed::new(engine);
    let now = clock.now();
    let body = br#"{"Transaction":{"Key":"TX1","Invoice":"INV-1","Status":{"Code":{"Code":190}},"AmountDebit":12.5,"Currency":"EUR","ServiceCode":"ideal"}}"#;
    let sig = signature(
        "WK",
        "SECRET",
        "POST",
        "flows.example/webhooks/bk_inbox_test",
        now.as_second(),
        "nonce1",
        body,
    );
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("flows.example"));
    headers.insert(
        "authorization",
        HeaderValue::from_str(&authorization("WK", &sig, "nonce1", now.as_second())).unwrap(),
    );
    let r = feed
        .webhook("bk_inbox_test", &headers, body, now)
        .await
        .unwrap();
    assert_eq!(r.event_id, "push:TX1:190");
    assert!(!r.duplicate && !r.ignored);
    // The same delivery again changes nothing.
    let r = feed
        .webhook("bk_inbox_test", &headers, body, now)
        .await
        .unwrap();
    assert!(r.duplicate);
    // Another body under the same header, or no header: refused.
    let forged = br#"{"Transaction":{"Key":"TX2","Status":{"Code":{"Code":190}}}}"#;
    assert!(matches!(
        feed.webhook("bk_inbox_test", &headers, forged, now).await,
        Err(WebhookError::BadRequest(_))
    ));
    headers.remove("authorization");
    assert!(matches!(
        feed.webhook("bk_inbox_test", &headers, body, now).await,
        Err(WebhookError::BadRequest(_))
    ));
}

#[test]
fn the_inbox_interval_is_the_connections_setting_or_15_minutes() {
    use std::time::Duration;
    assert_eq!(super::inbox::every("inbox_every_unset"), super::INBOX_EVERY);
    crate::http::set_simulated_env("FLOWC_INBOX_EVERY_SET_INBOX_EVERY", "30s");
    assert_eq!(
        super::inbox::every("inbox_every_set"),
        Duration::from_secs(30)
    );
    crate::http::set_simulated_env("FLOWC_INBOX_EVERY_BAD_INBOX_EVERY", "soon");
    assert_eq!(super::inbox::every("inbox_every_bad"), super::INBOX_EVERY);
}
