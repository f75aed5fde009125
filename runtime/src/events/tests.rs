//! Event feed tests: a hand-written flow with a trigger (`charge.succeeded`) and
//! an event wait (`invoice.paid`), Stripe's `/v1/events` played by the recording
//! test server, webhooks through the real `run --listen` router.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

#[path = "../../tests/flows/feed.rs"]
mod feed;

use feed::{FeedFlow, WHSEC, WaitOnlyFlow};

use super::EventFeed;
use crate::clock::{Clock, VirtualClock};
use crate::engine::Engine;
use crate::prelude::*;
use crate::providers::stripe::signature::sign;
use crate::store::{IssueState, SqliteOptions, SqliteStore, Store};
use crate::testing::{Reply, TestServer};

fn charge(id: &str, charge: &str, amount: i64) -> Value {
    json!({"id": id, "object": "event", "type": "charge.succeeded", "created": 1_735_689_600,
        "data": {"object": {"id": charge, "object": "charge", "amount": amount, "currency": "jpy",
            "status": "succeeded", "paid": true}}})
}

fn invoice_paid(id: &str, invoice: &str) -> Value {
    json!({"id": id, "object": "event", "type": "invoice.paid", "created": 1_735_689_600,
        "data": {"object": {"id": invoice, "object": "invoice", "status": "paid", "paid": true,
            "amount_paid": 1500, "currency": "jpy"}}})
}

/// A page of `/v1/events` (events newest first, as Stripe lists them).
#[allow(clippy::needless_pass_by_value)] // `vec![..]` at every call site reads best
fn page(events: Vec<Value>, has_more: bool) -> Reply {
    Reply::json(
        200,
        json!({"object": "list", "url": "/v1/events", "data": events, "has_more": has_more}),
    )
}

struct World {
    server: TestServer,
    clock: VirtualClock,
    store: Arc<dyn Store>,
    feed: Arc<EventFeed<FeedFlow>>,
}

fn start_time() -> Timestamp {
    "2025-01-01T00:00:00Z".parse().unwrap()
}

fn world_with(server: TestServer, store: Arc<dyn Store>, clock: VirtualClock) -> World {
    let engine = Engine::<FeedFlow>::with_base_url(
        store.clone(),
        Arc::new(clock.clone()),
        Some(&server.url()),
    );
    World {
        server,
        clock,
        store,
        feed: Arc::new(EventFeed::new(engine)),
    }
}

async fn world() -> World {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(":memory:", "feed_test")).unwrap());
    world_with(
        TestServer::start().await,
        store,
        VirtualClock::new(start_time()),
    )
}

/// The `ending_before` (or `-`) of every list call, in order.
fn list_cursors(server: &TestServer) -> Vec<String> {
    server
        .seen()
        .iter()
        .filter(|s| s.method == "GET" && s.path == "/v1/events")
        .map(|s| {
            let q = s.query.clone().unwrap_or_default();
            q.split('&')
                .find_map(|kv| kv.strip_prefix("ending_before="))
                .unwrap_or("-")
                .to_string()
        })
        .collect()
}

async fn issues(store: &Arc<dyn Store>) -> Vec<crate::store::IssueRow> {
    store.list(None, 100_000).await.unwrap()
}

#[tokio::test]
async fn the_first_poll_starts_from_now_then_pages_follow_has_more_and_keep_the_cursor() {
    let w = world().await;
    // Older events: the newest becomes the cursor; no issue starts for them.
    w.server.script(
        "GET /v1/events",
        [page(
            vec![charge("evt_3", "ch_3", 300), charge("evt_2", "ch_2", 200)],
            true,
        )],
    );
    let r = w.feed.poll_due(w.clock.now()).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].calls, 1);
    assert!(r[0].outcome.started.is_empty());
    assert!(issues(&w.store).await.is_empty());
    assert_eq!(
        w.store.feed_cursor("stripe").await.unwrap().as_deref(),
        Some("evt_3")
    );

    // Not due before `every`.
    w.clock.advance(Duration::from_secs(60));
    assert!(w.feed.poll_due(w.clock.now()).await.is_empty());
    assert_eq!(
        w.feed.next_due(),
        Some(crate::clock::add(start_time(), Duration::from_secs(300)))
    );

    // Two pages of newer events.
    w.server.script(
        "GET /v1/events",
        [
            page(
                vec![charge("evt_5", "ch_5", 500), charge("evt_4", "ch_4", 400)],
                true,
            ),
            page(
                vec![charge("evt_7", "ch_7", 700), charge("evt_6", "ch_6", 600)],
                false,
            ),
        ],
    );
    w.clock.advance(Duration::from_secs(240));
    let r = w.feed.poll_due(w.clock.now()).await;
    assert_eq!(r[0].calls, 2);
    assert_eq!(r[0].outcome.started.len(), 4);
    assert_eq!(
        w.store.feed_cursor("stripe").await.unwrap().as_deref(),
        Some("evt_7")
    );
    assert_eq!(list_cursors(&w.server), ["-", "evt_3", "evt_5"]);
    let mut amounts: Vec<i64> = issues(&w.store)
        .await
        .iter()
        .map(|i| i.data["amount"].as_i64().unwrap())
        .collect();
    amounts.sort_unstable();
    assert_eq!(
        amounts,
        [400, 500, 600, 700],
        "each event's outputs fill the record"
    );
    let q = w.server.seen()[1].query.clone().unwrap();
    assert!(q.contains("limit=100"), "{q}");
    assert!(
        q.contains("types%5B%5D=charge.succeeded") && q.contains("types%5B%5D=invoice.paid"),
        "{q}"
    );
    assert!(
        w.server.seen()[1].headers["authorization"].starts_with("Bearer sk_test_"),
        "the connection's auth"
    );

    // Nothing new: one call from the kept cursor.
    w.clock.advance(Duration::from_secs(300));
    let r = w.feed.poll_due(w.clock.now()).await;
    assert_eq!((r[0].calls, r[0].listed), (1, 0));
    assert_eq!(
        list_cursors(&w.server).last().map(String::as_str),
        Some("evt_7")
    );
}

#[tokio::test]
async fn a_429_or_5xx_is_tried_again_and_a_bad_answer_keeps_the_cursor() {
    let w = world().await;
    w.server.script(
        "GET /v1/events",
        [
            Reply::json(429, json!({"error": {"message": "slow down"}})).header("Retry-After", "0"),
            Reply::json(503, json!({})),
            page(vec![charge("evt_1", "ch_1", 100)], false),
        ],
    );
    let r = w.feed.poll_due(w.clock.now()).await;
    assert_eq!(r[0].calls, 3);
    assert_eq!(
        w.store.feed_cursor("stripe").await.unwrap().as_deref(),
        Some("evt_1")
    );
    w.server
        .script("GET /v1/events", [Reply::json(200, json!({"nope": 1}))]);
    w.clock.advance(Duration::from_secs(300));
    assert!(
        w.feed.poll_due(w.clock.now()).await.is_empty(),
        "the poll failed"
    );
    assert_eq!(
        w.store.feed_cursor("stripe").await.unwrap().as_deref(),
        Some("evt_1")
    );
    let due = w.feed.next_due().unwrap();
    assert!(due > w.clock.now(), "tried again later");
}

#[tokio::test]
async fn a_trigger_event_starts_one_issue_across_overlapping_polls_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.db");
    let server = TestServer::start().await;
    let clock = VirtualClock::new(start_time());
    let open = || -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(SqliteOptions::new(&path, "feed_test")).unwrap())
    };
    {
        let w = world_with(server.clone(), open(), clock.clone());
        server.script(
            "GET /v1/events",
            [page(vec![charge("evt_0", "ch_0", 1)], false)],
        );
        w.feed.poll_due(clock.now()).await;
        // Two polls at once (two workers, or a poll overlapping the next) see the same event.
        let other = world_with(server.clone(), w.store.clone(), clock.clone());
        server.script(
            "GET /v1/events",
            [
                page(vec![charge("evt_1", "ch_1", 100)], false),
                page(vec![charge("evt_1", "ch_1", 100)], false),
            ],
        );
        clock.advance(Duration::from_secs(300));
        let (a, b) = tokio::join!(
            w.feed.poll_due(clock.now()),
            other.feed.poll_due(clock.now())
        );
        let started = a[0].outcome.started.len() + b[0].outcome.started.len();
        assert_eq!(started, 1, "one issue for evt_1");
        assert_eq!(issues(&w.store).await.len(), 1);
    }
    // A restart: the cursor and the started event are remembered; the provider
    // listing the event again (e.g. the cursor was lost upstream) starts nothing.
    let store = open();
    assert_eq!(
        store.feed_cursor("stripe").await.unwrap().as_deref(),
        Some("evt_1")
    );
    let w = world_with(server.clone(), store, clock.clone());
    server.script(
        "GET /v1/events",
        [page(
            vec![charge("evt_2", "ch_2", 200), charge("evt_1", "ch_1", 100)],
            false,
        )],
    );
    let r = w.feed.poll_due(clock.now()).await;
    assert_eq!(r[0].outcome.started.len(), 1, "only evt_2 is new");
    let all = issues(&w.store).await;
    assert_eq!(all.len(), 2);
    let hist = w.store.history(&r[0].outcome.started[0]).await.unwrap();
    assert_eq!(hist[0].detail, "event evt_2");
}

#[tokio::test]
async fn ten_thousand_waiting_issues_cost_one_list_call_per_page() {
    let w = world().await;
    let engine = w.feed.engine().clone();
    let n = 10_000;
    let records: Vec<Value> = (0..n)
        .map(|i| Engine::<FeedFlow>::validate(&json!({"invoice": format!("in_{i}")})).unwrap())
        .collect();
    engine.start_validated(records).await.unwrap();
    engine.run_due(64).await.unwrap();
    let waiting = w.store.counts().await.unwrap();
    assert_eq!(waiting, [(IssueState::Waiting, n as u64)]);
    // The feed polls for them all: no issue wakes to poll on its own (its
    // `poll: 15m` is the feed's interval), only at its deadline.
    let next = w.store.next_wake().await.unwrap().expect("a deadline");
    let month = crate::clock::add(w.clock.now(), Duration::from_secs(29 * 86_400));
    assert!(
        next >= month,
        "an issue wakes at {next}, before its deadline"
    );
    // The first poll sets the cursor.
    w.server.script(
        "GET /v1/events",
        [page(vec![invoice_paid("evt_base", "in_x")], false)],
    );
    w.feed.poll_due(w.clock.now()).await;
    // 250 invoices paid: three pages.
    let mut evs: Vec<Value> = (0..250)
        .map(|i| invoice_paid(&format!("evt_{i:04}"), &format!("in_{i}")))
        .collect();
    evs.reverse();
    let pages: Vec<Reply> = evs
        .chunks(100)
        .rev()
        .enumerate()
        .map(|(k, c)| page(c.to_vec(), k < 2))
        .collect();
    w.server.script("GET /v1/events", pages);
    let before = w.server.count();
    w.clock.advance(Duration::from_secs(300));
    let r = w.feed.poll_due(w.clock.now()).await;
    assert_eq!(
        w.server.count() - before,
        3,
        "one call per page, not per issue"
    );
    assert_eq!(r[0].outcome.delivered, 250);
    engine.run_due(64).await.unwrap();
    let counts: std::collections::HashMap<_, _> =
        w.store.counts().await.unwrap().into_iter().collect();
    assert_eq!(counts[&IssueState::Completed], 250);
    assert_eq!(counts[&IssueState::Waiting], n as u64 - 250);
}

/// The listener on 127.0.0.1, and a client.
async fn listen(w: &World) -> (String, reqwest::Client) {
    let app = crate::cli::listen::router(
        w.feed.clone(),
        crate::cli::operator::OperatorAuth::refuse_all(),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}"), reqwest::Client::new())
}

async fn post(
    c: &reqwest::Client,
    url: &str,
    signature: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let mut rb = c.post(url).body(body.to_vec());
    if let Some(s) = signature {
        rb = rb.header("Stripe-Signature", s);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn webhooks_are_verified_before_anything_changes() {
    let w = world().await;
    let (base, c) = listen(&w).await;
    let url = format!("{base}/webhooks/stripe");
    let now = w.clock.now().as_second();
    let body = serde_json::to_vec(&charge("evt_w1", "ch_w1", 1200)).unwrap();

    let refused: Vec<(&str, Option<String>, Vec<u8>)> = vec![
        ("missing header", None, body.clone()),
        (
            "wrong secret",
            Some(sign("whsec_other", now, &body)),
            body.clone(),
        ),
        ("stale", Some(sign(WHSEC, now - 301, &body)), body.clone()),
        ("malformed", Some("t=abc,v1=zz".into()), body.clone()),
        (
            "garbage body",
            Some(sign(WHSEC, now, b"\x00garbage{")),
            b"\x00garbage{".to_vec(),
        ),
        (
            "not an event",
            Some(sign(WHSEC, now, br#"{"id":"ch_1","object":"charge"}"#)),
            br#"{"id":"ch_1","object":"charge"}"#.to_vec(),
        ),
    ];
    for (what, sig, b) in &refused {
        let (status, reply) = post(&c, &url, sig.as_deref(), b).await;
        assert_eq!(status, 400, "{what}: {reply}");
        let text = reply.to_string();
        assert!(!text.contains(WHSEC), "{what}: the secret is never shown");
        if let Some(s) = sig {
            assert!(!text.contains(s.as_str()), "{what}: nor the signature");
        }
    }
    assert!(issues(&w.store).await.is_empty(), "nothing changed");
    assert_eq!(w.store.feed_cursor("stripe").await.unwrap(), None);

    // A connection without a webhook secret, and no connection at all.
    let sig = sign(WHSEC, now, &body);
    assert_eq!(
        post(&c, &format!("{base}/webhooks/no_hooks"), Some(&sig), &body)
            .await
            .0,
        404
    );
    assert_eq!(
        post(&c, &format!("{base}/webhooks/nope"), Some(&sig), &body)
            .await
            .0,
        404
    );

    // Valid: one v1 value, then (a redelivery) two values during a secret roll.
    let (status, reply) = post(&c, &url, Some(&sig), &body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["duplicate"], false);
    let started = reply["started"].as_str().unwrap().to_string();
    let wrong = sign("whsec_old", now, &body);
    let two = format!("{sig},v1={}", wrong.split("v1=").nth(1).unwrap());
    let (status, reply) = post(&c, &url, Some(&two), &body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["duplicate"], true, "a redelivery changes nothing");
    let all = issues(&w.store).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, started);
    assert_eq!(all[0].data["id"], "ch_w1");
    assert_eq!(all[0].data["amount"], 1200);

    // A type the flow does not use is accepted and ignored.
    let other = json!({"id": "evt_x", "object": "event", "type": "customer.created",
        "data": {"object": {"id": "cus_1"}}});
    let b = serde_json::to_vec(&other).unwrap();
    let (status, reply) = post(&c, &url, Some(&sign(WHSEC, now, &b)), &b).await;
    assert_eq!((status, &reply["ignored"]), (200, &json!(true)));

    // The same event by poll: no second issue; webhooks never move the cursor.
    w.server.script("GET /v1/events", [page(vec![], false)]);
    w.feed.poll_due(w.clock.now()).await;
    assert_eq!(
        w.store.feed_cursor("stripe").await.unwrap().as_deref(),
        Some("")
    );
    w.server.script(
        "GET /v1/events",
        [page(vec![charge("evt_w1", "ch_w1", 1200)], false)],
    );
    w.clock.advance(Duration::from_secs(300));
    let r = w.feed.poll_due(w.clock.now()).await;
    assert_eq!(r[0].listed, 1);
    assert!(r[0].outcome.started.is_empty(), "webhook + poll: one issue");
    assert_eq!(issues(&w.store).await.len(), 1);
}

#[tokio::test]
async fn a_wait_wakes_once_for_an_event_by_webhook_and_poll_even_when_it_came_first() {
    let w = world().await;
    let (base, c) = listen(&w).await;
    let url = format!("{base}/webhooks/stripe");
    let engine = w.feed.engine().clone();
    let now = w.clock.now().as_second();

    // in_early is paid before its issue waits: the event is kept and matched later.
    let early = serde_json::to_vec(&invoice_paid("evt_early", "in_early")).unwrap();
    assert_eq!(
        post(&c, &url, Some(&sign(WHSEC, now, &early)), &early)
            .await
            .0,
        200
    );
    let a = engine.start(&json!({"invoice": "in_early"})).await.unwrap();
    let b = engine.start(&json!({"invoice": "in_late"})).await.unwrap();
    engine.run_due(4).await.unwrap();
    let row = w.store.load(&a).await.unwrap().unwrap();
    assert_eq!(row.state, IssueState::Completed);
    assert_eq!(row.data["paid_by"], "evt_early");
    assert_eq!(
        w.store.load(&b).await.unwrap().unwrap().state,
        IssueState::Waiting
    );

    // in_late: the same event by webhook twice and by poll.
    let late = serde_json::to_vec(&invoice_paid("evt_late", "in_late")).unwrap();
    let sig = sign(WHSEC, now, &late);
    assert_eq!(
        post(&c, &url, Some(&sig), &late).await.1["duplicate"],
        false
    );
    assert_eq!(post(&c, &url, Some(&sig), &late).await.1["duplicate"], true);
    w.server.script(
        "GET /v1/events",
        [page(vec![invoice_paid("evt_late", "in_late")], false)],
    );
    let r = w.feed.poll_due(w.clock.now()).await;
    assert_eq!((r[0].outcome.delivered, r[0].outcome.duplicates), (0, 1));
    engine.run_due(4).await.unwrap();
    let row = w.store.load(&b).await.unwrap().unwrap();
    assert_eq!(row.state, IssueState::Completed);
    assert_eq!(row.data["paid_by"], "evt_late");
    let woken = w
        .store
        .history(&b)
        .await
        .unwrap()
        .iter()
        .filter(|h| h.event == "event")
        .count();
    assert_eq!(woken, 1, "woken once");
    // No issue is started by an invoice event, and the poll did not start the trigger
    // for events of the first poll.
    assert_eq!(issues(&w.store).await.len(), 2);
}

#[tokio::test]
async fn a_trigger_polls_while_nothing_waits_and_waiting_on_sees_only_its_prefix() {
    let w = world().await;
    let r = w.feed.poll_due(w.clock.now()).await;
    assert_eq!(r.len(), 1, "a trigger polls even when nothing waits");
    assert!(!w.store.waiting_on("event:invoice.paid:").await.unwrap());
    let engine = w.feed.engine().clone();
    engine.start(&json!({"invoice": "in_1"})).await.unwrap();
    engine.run_due(1).await.unwrap();
    assert!(w.store.waiting_on("event:invoice.paid:").await.unwrap());
    assert!(!w.store.waiting_on("event:invoice.voided:").await.unwrap());
}

#[tokio::test]
async fn a_feed_polled_only_for_waits_is_due_only_while_an_issue_waits() {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(":memory:", "feed_test")).unwrap());
    let server = TestServer::start().await;
    let clock = VirtualClock::new(start_time());
    let engine = Engine::<WaitOnlyFlow>::with_base_url(
        store.clone(),
        Arc::new(clock.clone()),
        Some(&server.url()),
    );
    let feed = EventFeed::new(engine.clone());
    // Nobody waits: the interval alone does not make the feed due (a simulation
    // jumps straight to the next timer instead of every 15 minutes).
    assert!(feed.next_due().is_some());
    assert_eq!(feed.next_due_active().await, None);
    assert!(
        feed.poll_due(clock.now()).await.is_empty(),
        "no call while nobody waits"
    );
    assert_eq!(feed.next_due_active().await, None);

    // An issue waits for its invoice: due at the feed's next poll.
    engine.start(&json!({"invoice": "in_1"})).await.unwrap();
    engine.run_due(1).await.unwrap();
    assert_eq!(store.counts().await.unwrap(), [(IssueState::Waiting, 1)]);
    let due = feed
        .next_due_active()
        .await
        .expect("due while an issue waits");
    assert_eq!(due, feed.next_due().unwrap());
    assert!(due <= crate::clock::add(clock.now(), Duration::from_secs(900)));

    // With the trigger, the feed is always due.
    let w = world().await;
    assert_eq!(w.feed.next_due_active().await, w.feed.next_due());
    assert!(w.feed.next_due_active().await.is_some());
}
