//! What every [`Store`] does, whatever its database: each test body here runs
//! on SQLite and on PostgreSQL (a throwaway server, `testing::TestPostgres`),
//! from the macro at the bottom. PostgreSQL-only behaviour (replicas, leases,
//! fencing) is tested in `postgres/tests.rs`.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::{
    BatchAdd, BatchState, Commit, CommitOutcome, FeedBatch, FeedEvent, FeedStart, IssueState,
    IssueUpdate, LedgerBegin, LedgerFinish, NewIssue, PgOptions, PgStore, SqliteOptions,
    SqliteStore, Store,
};
use crate::testing::TestPostgres;

/// A store under test and what must live as long as it.
pub(crate) struct Fixture {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<Arc<TestPostgres>>,
}

impl Fixture {
    pub fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::new(dir.path().join("s.db"), "f")).unwrap();
        Fixture {
            store: Arc::new(store),
            _dir: Some(dir),
            _pg: None,
        }
    }

    pub async fn postgres() -> Fixture {
        let pg = TestPostgres::shared();
        let url = pg.create_database();
        let store = pg_store(&url, Duration::from_secs(30)).await;
        Fixture {
            store: Arc::new(store),
            _dir: None,
            _pg: Some(pg),
        }
    }
}

/// A replica on the database at `url`.
pub(crate) async fn pg_store(url: &str, lease: Duration) -> PgStore {
    let mut o = PgOptions::new(url, "f");
    o.lease = lease;
    o.pool_size = 8;
    PgStore::connect(o).await.unwrap()
}

pub(crate) fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + s).unwrap()
}

pub(crate) fn new_issue(id: &str, at: i64) -> NewIssue {
    NewIssue {
        id: id.to_string(),
        step: "a".into(),
        data: json!({ "id": id }),
        ctx: json!({ "attempt": 2 }),
        now: t(at),
    }
}

/// An update of issue `id` from `seq` to `state` at step `step`.
pub(crate) fn update(id: &str, seq: i64, state: IssueState, step: &str, at: i64) -> IssueUpdate {
    let mut u = IssueUpdate::commit_of(
        id,
        seq,
        state,
        json!({ "id": id, "step": step }).to_string(),
    )
    .issue
    .unwrap();
    u.step = step.to_string();
    u.now = t(at);
    u.wake_at = (!state.is_terminal()).then(|| t(at));
    u.release = true;
    u
}

pub(crate) fn commit_of(u: IssueUpdate) -> Commit {
    Commit {
        issue: Some(u),
        ..Commit::default()
    }
}

fn hist(at: i64, step: &str, event: &str) -> super::HistoryEntry {
    super::HistoryEntry {
        at: t(at),
        step: step.into(),
        event: event.into(),
        detail: format!("{event} at {at}"),
    }
}

async fn seq_of(store: &Arc<dyn Store>, id: &str) -> i64 {
    store.load(id).await.unwrap().unwrap().seq
}

/// A waiting issue on `key`, released, due only at its deadline.
async fn wait_on(store: &Arc<dyn Store>, id: &str, key: &str, at: i64) {
    let seq = seq_of(store, id).await;
    let mut u = update(id, seq, IssueState::Waiting, "w", at);
    u.wait_key = Some(key.to_string());
    u.wake_at = Some(t(at + 1000));
    let out = store.commit(commit_of(u)).await.unwrap();
    assert!(matches!(out, CommitOutcome::Done { .. }), "{out:?}");
}

// ------------------------------------------------------------------ cases

async fn issues_are_created_loaded_listed_and_counted(store: Arc<dyn Store>) {
    let ids = ["0190-a1", "0190-a2", "0190-b1"];
    store
        .create_issues(ids.iter().map(|i| new_issue(i, 0)).collect())
        .await
        .unwrap();
    let row = store.load("0190-a2").await.unwrap().unwrap();
    assert_eq!(row.state, IssueState::Running);
    assert_eq!((row.step.as_str(), row.seq), ("a", 0));
    assert_eq!(row.data, json!({ "id": "0190-a2" }));
    assert_eq!(row.ctx, json!({ "attempt": 2 }));
    assert_eq!(row.wake_at, Some(t(0)));
    assert_eq!((row.created_at, row.updated_at), (t(0), t(0)));
    assert!(store.load("nope").await.unwrap().is_none());

    let listed: Vec<String> = store
        .list(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, ids);
    assert_eq!(store.list(None, 2).await.unwrap().len(), 2);
    let seq = seq_of(&store, "0190-b1").await;
    store
        .commit(commit_of(update(
            "0190-b1",
            seq,
            IssueState::Completed,
            "done",
            1,
        )))
        .await
        .unwrap();
    let done = store.list(Some(IssueState::Completed), 10).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].id, "0190-b1");
    assert_eq!(done[0].wake_at, None);
    let mut counts = store.counts().await.unwrap();
    counts.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        counts,
        [(IssueState::Completed, 1), (IssueState::Running, 2)]
    );

    let h = store.history("0190-a1").await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].event.as_str(), h[0].step.as_str()), ("start", "a"));

    assert_eq!(
        store.resolve_id("0190-b").await.unwrap().as_deref(),
        Some("0190-b1")
    );
    assert_eq!(store.resolve_id("0190-a").await.unwrap(), None, "ambiguous");
    assert_eq!(
        store.resolve_id("0190-a1").await.unwrap().as_deref(),
        Some("0190-a1")
    );
    assert_eq!(store.resolve_id("x").await.unwrap(), None);
    assert_eq!(store.next_wake().await.unwrap(), Some(t(0)));
}

async fn a_commit_is_written_once_per_seq_with_its_history(store: Arc<dyn Store>) {
    store.create_issues(vec![new_issue("i", 0)]).await.unwrap();
    let seq = seq_of(&store, "i").await;
    let mut c = commit_of(update("i", seq, IssueState::Running, "b", 1));
    c.history = vec![
        ("i".into(), hist(1, "a", "result")),
        ("i".into(), hist(1, "b", "enter")),
    ];
    assert_eq!(
        store.commit(c.clone()).await.unwrap(),
        CommitOutcome::Done {
            seq: Some(seq + 1),
            key: None,
            unknown_since: None,
        }
    );
    // The same commit again (its seq is stale): nothing written, no history.
    assert_eq!(store.commit(c).await.unwrap(), CommitOutcome::Conflict);
    let row = store.load("i").await.unwrap().unwrap();
    assert_eq!((row.step.as_str(), row.seq), ("b", seq + 1));
    assert_eq!(row.data, json!({ "id": "i", "step": "b" }));
    assert_eq!(row.updated_at, t(1));
    let events: Vec<String> = store
        .history("i")
        .await
        .unwrap()
        .into_iter()
        .map(|h| format!("{}:{}", h.step, h.event))
        .collect();
    assert_eq!(events, ["a:start", "a:result", "b:enter"]);
    // A failed issue keeps its error; an unknown issue is a conflict.
    let mut u = update("i", seq + 1, IssueState::Failed, "b", 2);
    u.error = Some("boom".into());
    store.commit(commit_of(u)).await.unwrap();
    let row = store.load("i").await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.error.as_deref()),
        (IssueState::Failed, Some("boom"))
    );
    assert_eq!(
        store
            .commit(commit_of(update("ghost", 0, IssueState::Running, "a", 1)))
            .await
            .unwrap(),
        CommitOutcome::Conflict
    );
    assert_eq!(store.next_wake().await.unwrap(), None);
}

async fn the_ledger_keeps_the_first_key_and_counts_attempts(store: Arc<dyn Store>) {
    store.create_issues(vec![new_issue("i", 0)]).await.unwrap();
    let begin = |proposed: &str, n: u32| LedgerBegin {
        issue: "i".into(),
        step: "pay".into(),
        iteration: 1,
        n,
        proposed_key: proposed.into(),
        now: t(1),
    };
    let mut seq = seq_of(&store, "i").await;
    let mut keys = Vec::new();
    for (proposed, n) in [("k-first", 0), ("k-second", 0), ("k-other", 1)] {
        let mut u = update("i", seq, IssueState::Running, "pay", 1);
        u.release = false;
        // The second call of a step finishes the first in the same commit.
        let ledger_finish = if n == 1 {
            vec![LedgerFinish {
                key: "k-first".into(),
                status: "done".into(),
                response: json!({ "status": 201 }),
            }]
        } else {
            vec![]
        };
        let c = Commit {
            issue: Some(u),
            ledger_begin: Some(begin(proposed, n)),
            ledger_finish,
            ..Commit::default()
        };
        match store.commit(c).await.unwrap() {
            CommitOutcome::Done {
                seq: s,
                key,
                unknown_since,
            } => {
                seq = s.unwrap();
                keys.push((key.unwrap(), unknown_since));
            }
            CommitOutcome::Conflict => panic!("conflict"),
        }
    }
    // The second begin of the first entry finds it unfinished: its outcome is
    // unknown since the first begin.
    assert_eq!(
        keys,
        [
            ("k-first".to_string(), None),
            ("k-first".to_string(), Some(t(1))),
            ("k-other".to_string(), None),
        ]
    );
    let c = Commit {
        issue: Some(update("i", seq, IssueState::Running, "next", 2)),
        ledger_finish: vec![LedgerFinish {
            key: "k-other".into(),
            status: "failed".into(),
            response: json!({ "error": "402" }),
        }],
        ..Commit::default()
    };
    store.commit(c).await.unwrap();
    let ledger = store.ledger("i").await.unwrap();
    assert_eq!(ledger.len(), 2);
    let first = ledger.iter().find(|l| l.key == "k-first").unwrap();
    assert_eq!(
        (
            first.step.as_str(),
            first.iteration,
            first.n,
            first.attempts
        ),
        ("pay", 1, 0, 2)
    );
    assert_eq!(first.status, "done");
    assert_eq!(first.response, Some(json!({ "status": 201 })));
    let other = ledger.iter().find(|l| l.key == "k-other").unwrap();
    assert_eq!(
        (other.n, other.attempts, other.status.as_str()),
        (1, 1, "failed")
    );
    assert_eq!(other.response, Some(json!({ "error": "402" })));
    assert!(store.ledger("nope").await.unwrap().is_empty());
}

async fn signals_wake_a_waiting_issue_and_are_consumed_once(store: Arc<dyn Store>) {
    store
        .create_issues(vec![new_issue("i", 0), new_issue("early", 0)])
        .await
        .unwrap();
    wait_on(&store, "i", "signal:approved", 1).await;
    assert_eq!(
        store.next_wake().await.unwrap(),
        Some(t(0)),
        "`early` is due"
    );
    assert!(
        store
            .send_signal("i", "approved", json!({ "by": "anna" }), t(5))
            .await
            .unwrap()
    );
    assert_eq!(
        store.load("i").await.unwrap().unwrap().wake_at,
        Some(t(5)),
        "woken"
    );
    let msgs = store.messages("i", "signal:approved").await.unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].data, json!({ "by": "anna" }));
    assert_eq!(msgs[0].received_at, t(5));
    assert!(
        store
            .messages("i", "signal:other")
            .await
            .unwrap()
            .is_empty()
    );
    // Consumed with the state change that follows it: gone.
    let seq = seq_of(&store, "i").await;
    let mut c = commit_of(update("i", seq, IssueState::Completed, "done", 6));
    c.consume = vec![msgs[0].id.clone()];
    store.commit(c).await.unwrap();
    assert!(
        store
            .messages("i", "signal:approved")
            .await
            .unwrap()
            .is_empty()
    );
    // An ended issue takes no signal; an unknown one neither.
    assert!(
        !store
            .send_signal("i", "approved", json!({}), t(7))
            .await
            .unwrap()
    );
    assert!(
        !store
            .send_signal("x", "approved", json!({}), t(7))
            .await
            .unwrap()
    );

    // A signal that comes before the issue waits for it wakes it as it waits.
    assert!(
        store
            .send_signal("early", "go", json!({}), t(2))
            .await
            .unwrap()
    );
    let seq = seq_of(&store, "early").await;
    let mut u = update("early", seq, IssueState::Waiting, "w", 3);
    u.wait_key = Some("signal:go".into());
    u.wake_at = Some(t(1000));
    store.commit(commit_of(u)).await.unwrap();
    assert_eq!(
        store.load("early").await.unwrap().unwrap().wake_at,
        Some(t(3))
    );
}

async fn events_are_deduplicated_and_consumed_per_issue(store: Arc<dyn Store>) {
    store
        .create_issues(vec![
            new_issue("a", 0),
            new_issue("b", 0),
            new_issue("c", 0),
        ])
        .await
        .unwrap();
    let key = "event:invoice.paid:in_1";
    wait_on(&store, "a", key, 1).await;
    wait_on(&store, "b", key, 1).await;
    wait_on(&store, "c", "event:invoice.paid:in_2", 1).await;
    assert!(store.waiting_on("event:invoice.paid:").await.unwrap());
    assert!(!store.waiting_on("event:charge.").await.unwrap());
    assert_eq!(
        store.waiting_for("event:invoice.paid:").await.unwrap(),
        [
            ("a".to_string(), key.to_string()),
            ("b".to_string(), key.to_string()),
            ("c".to_string(), "event:invoice.paid:in_2".to_string()),
        ]
    );
    assert!(store.waiting_for("event:charge.").await.unwrap().is_empty());
    let data = json!({ "amount": "10.00" });
    assert!(
        store
            .deliver_event("invoice.paid", "in_1", "evt_1", data.clone(), t(4))
            .await
            .unwrap()
    );
    assert!(
        !store
            .deliver_event("invoice.paid", "in_1", "evt_1", json!({}), t(5))
            .await
            .unwrap(),
        "a duplicate"
    );
    for (id, wake) in [("a", t(4)), ("b", t(4)), ("c", t(1001))] {
        assert_eq!(
            store.load(id).await.unwrap().unwrap().wake_at,
            Some(wake),
            "{id}"
        );
    }
    let msgs = store.messages("a", key).await.unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].data, data);
    // `a` consumes it; `b` still has it.
    let seq = seq_of(&store, "a").await;
    let mut c = commit_of(update("a", seq, IssueState::Running, "next", 5));
    c.consume = vec![msgs[0].id.clone()];
    store.commit(c).await.unwrap();
    assert!(store.messages("a", key).await.unwrap().is_empty());
    assert_eq!(store.messages("b", key).await.unwrap().len(), 1);
}

async fn feed_batches_store_events_start_issues_once_and_move_the_cursor(store: Arc<dyn Store>) {
    assert_eq!(store.feed_cursor("stripe").await.unwrap(), None);
    store.create_issues(vec![new_issue("w", 0)]).await.unwrap();
    wait_on(&store, "w", "event:invoice.paid:in_1", 1).await;
    let ev = |id: &str, name: &str, key: &str| FeedEvent {
        event_id: id.into(),
        name: name.into(),
        key: key.into(),
        data: json!({ "id": id }),
    };
    let start = |eid: &str, issue: &str| FeedStart {
        event_id: eid.into(),
        issue: new_issue(issue, 2),
    };
    let batch = FeedBatch {
        feed: "stripe".into(),
        cursor: Some("evt_2".into()),
        events: vec![
            ev("evt_1", "invoice.paid", "in_1"),
            ev("evt_2", "charge.succeeded", "ch_1"),
        ],
        starts: vec![start("evt_2", "from-evt-2")],
        now: t(2),
    };
    let out = store.ingest_events(batch.clone()).await.unwrap();
    assert_eq!((out.delivered, out.duplicates), (2, 0));
    assert_eq!(out.started, ["from-evt-2"]);
    assert_eq!(
        store.feed_cursor("stripe").await.unwrap().as_deref(),
        Some("evt_2")
    );
    assert_eq!(store.feed_cursor("other").await.unwrap(), None);
    assert_eq!(store.load("w").await.unwrap().unwrap().wake_at, Some(t(2)));
    let started = store.load("from-evt-2").await.unwrap().unwrap();
    assert_eq!(started.state, IssueState::Running);
    let h = store.history("from-evt-2").await.unwrap();
    assert_eq!(
        (h[0].event.as_str(), h[0].detail.as_str()),
        ("start", "event evt_2")
    );
    // The same events again (by webhook, under another issue id): nothing new.
    let mut again = batch;
    again.cursor = None;
    again.starts = vec![start("evt_2", "second-try")];
    let out = store.ingest_events(again).await.unwrap();
    assert_eq!((out.delivered, out.duplicates), (0, 2));
    assert!(out.started.is_empty());
    assert!(store.load("second-try").await.unwrap().is_none());
    assert_eq!(
        store.feed_cursor("stripe").await.unwrap().as_deref(),
        Some("evt_2")
    );
    // An empty first poll leaves the cursor at "".
    let empty = FeedBatch {
        feed: "paypal".into(),
        cursor: Some(String::new()),
        events: vec![],
        starts: vec![],
        now: t(3),
    };
    store.ingest_events(empty).await.unwrap();
    assert_eq!(
        store.feed_cursor("paypal").await.unwrap().as_deref(),
        Some("")
    );
}

async fn cancel_and_retry_move_the_seq_on(store: Arc<dyn Store>) {
    store
        .create_issues(vec![new_issue("c", 0), new_issue("r", 0)])
        .await
        .unwrap();
    let seq = seq_of(&store, "c").await;
    assert!(store.cancel("c", t(1)).await.unwrap());
    assert!(!store.cancel("c", t(2)).await.unwrap(), "already ended");
    let row = store.load("c").await.unwrap().unwrap();
    assert_eq!((row.state, row.wake_at), (IssueState::Cancelled, None));
    // A worker still running it conflicts.
    let stale = commit_of(update("c", seq, IssueState::Running, "b", 2));
    assert_eq!(store.commit(stale).await.unwrap(), CommitOutcome::Conflict);
    assert_eq!(
        store.history("c").await.unwrap().last().unwrap().event,
        "cancelled"
    );

    assert!(!store.retry("r", t(1)).await.unwrap(), "not failed");
    let seq = seq_of(&store, "r").await;
    let mut u = update("r", seq, IssueState::Failed, "b", 2);
    u.error = Some("402".into());
    u.ctx = json!({ "attempt": 5, "visits": { "b": 1 } }).to_string();
    store.commit(commit_of(u)).await.unwrap();
    assert!(store.retry("r", t(3)).await.unwrap());
    let row = store.load("r").await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.step.as_str(), row.error, row.wake_at),
        (IssueState::Running, "b", None, Some(t(3)))
    );
    assert_eq!(row.ctx, json!({ "attempt": 0, "visits": { "b": 1 } }));
    assert_eq!(row.seq, seq + 2);
    assert_eq!(
        store.history("r").await.unwrap().last().unwrap().event,
        "retry"
    );
}

async fn claims_skip_claimed_issues_and_take_them_back_once_released(store: Arc<dyn Store>) {
    let issues = (0..5).map(|n| new_issue(&format!("i{n}"), 0)).collect();
    store.create_issues(issues).await.unwrap();
    // Not due yet: nothing.
    assert!(store.claim_due(t(-1), 10).await.unwrap().is_empty());
    let ids = |rows: Vec<super::IssueRow>| -> Vec<String> {
        rows.into_iter()
            .map(|r| {
                assert_eq!(r.data["id"], json!(r.id));
                r.id
            })
            .collect()
    };
    let first = ids(store.claim_due(t(1), 2).await.unwrap());
    let second = ids(store.claim_due(t(1), 2).await.unwrap());
    let third = ids(store.claim_due(t(1), 10).await.unwrap());
    assert_eq!((first.len(), second.len(), third.len()), (2, 2, 1));
    let mut all: Vec<_> = first.iter().chain(&second).chain(&third).cloned().collect();
    all.sort();
    assert_eq!(all, ["i0", "i1", "i2", "i3", "i4"]);
    assert!(store.claim_due(t(1), 10).await.unwrap().is_empty());
    // Released: due again (PostgreSQL gives the lease back in the background).
    store.release(&second[0]);
    let mut again = Vec::new();
    for _ in 0..100 {
        again = ids(store.claim_due(t(1), 10).await.unwrap());
        if !again.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(again, [second[0].clone()]);
    // A commit that gives the issue back (it waits) makes it claimable when due.
    let row = store.load(&first[0]).await.unwrap().unwrap();
    let mut u = update(&first[0], row.seq, IssueState::Waiting, "w", 2);
    u.wake_at = Some(t(5));
    store.commit(commit_of(u)).await.unwrap();
    assert!(store.claim_due(t(4), 10).await.unwrap().is_empty());
    assert_eq!(
        ids(store.claim_due(t(5), 10).await.unwrap()),
        [first[0].clone()]
    );
    // Everything given back at once (a worker starting).
    store.reset_claims().await.unwrap();
    assert_eq!(store.claim_due(t(5), 10).await.unwrap().len(), 5);
}

/// A signal sent while the issue commits its wait, for many issues at once:
/// each is woken, never left waiting with its signal in the inbox. (A stress
/// test: the window it guards, on PostgreSQL, is narrow, and a run without the
/// wake locks passes more often than not.)
async fn a_signal_racing_the_wait_is_never_lost(store: Arc<dyn Store>) {
    let n = 60;
    let issues = (0..n).map(|i| new_issue(&format!("r{i}"), 0)).collect();
    store.create_issues(issues).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let id = format!("r{i}");
        let (a, b) = (store.clone(), store.clone());
        let id2 = id.clone();
        tasks.spawn(async move { wait_on(&a, &id, "signal:go", 1).await });
        tasks.spawn(async move {
            assert!(b.send_signal(&id2, "go", json!({}), t(2)).await.unwrap());
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    for i in 0..n {
        let row = store.load(&format!("r{i}")).await.unwrap().unwrap();
        assert_eq!(row.state, IssueState::Waiting);
        assert!(
            row.wake_at.is_some_and(|w| w <= t(2)),
            "r{i} waits until {:?} with its signal in the inbox",
            row.wake_at
        );
    }
}

async fn the_next_wake_is_the_earliest_due_time_of_an_active_issue(store: Arc<dyn Store>) {
    assert_eq!(store.next_wake().await.unwrap(), None);
    store
        .create_issues(vec![new_issue("late", 50), new_issue("soon", 10)])
        .await
        .unwrap();
    assert_eq!(store.next_wake().await.unwrap(), Some(t(10)));
    let seq = seq_of(&store, "soon").await;
    let mut u = update("soon", seq, IssueState::Waiting, "w", 11);
    u.wake_at = Some(t(11).checked_add(SignedDuration::from_secs(100)).unwrap());
    store.commit(commit_of(u)).await.unwrap();
    assert_eq!(store.next_wake().await.unwrap(), Some(t(50)));
}

async fn signals_to_several_issues_reach_the_active_ones(store: Arc<dyn Store>) {
    store
        .create_issues(vec![
            new_issue("a", 0),
            new_issue("b", 0),
            new_issue("done", 0),
        ])
        .await
        .unwrap();
    wait_on(&store, "a", "signal:flowc.batch", 1).await;
    let seq = seq_of(&store, "done").await;
    store
        .commit(commit_of(update(
            "done",
            seq,
            IssueState::Completed,
            "end",
            1,
        )))
        .await
        .unwrap();
    let ids = ["a", "b", "done", "missing"].map(String::from).to_vec();
    let sent = store
        .send_signals(ids, "flowc.batch", json!({ "batch": 3 }), t(7))
        .await
        .unwrap();
    assert_eq!(sent, 2, "the two active issues");
    assert_eq!(
        store.load("a").await.unwrap().unwrap().wake_at,
        Some(t(7)),
        "woken"
    );
    for id in ["a", "b"] {
        let m = store.messages(id, "signal:flowc.batch").await.unwrap();
        assert_eq!(m.len(), 1, "{id}");
        assert_eq!(m[0].data, json!({ "batch": 3 }));
    }
    assert!(
        store
            .messages("done", "signal:flowc.batch")
            .await
            .unwrap()
            .is_empty()
    );
}

fn batch_add(key: &str, issue: &str, now: i64, max: u64, close_at: i64) -> BatchAdd {
    BatchAdd {
        provider: "buckaroo".into(),
        action: "direct_debit_batch".into(),
        connection: "bk".into(),
        key: key.into(),
        issue: issue.into(),
        record: json!({ "invoice_number": key }),
        now: t(now),
        max,
        close_at: t(close_at),
    }
}

async fn a_batch_takes_each_record_once_and_closes_when_full(store: Arc<dyn Store>) {
    let a = store
        .batch_add(batch_add("k1", "i1", 0, 2, 1000))
        .await
        .unwrap();
    assert_eq!((a.record_number, &a.state), (1, &BatchState::Open));
    assert_eq!((a.opened_at, a.close_at), (t(0), t(1000)));
    let again = store
        .batch_add(batch_add("k1", "i1", 5, 2, 1005))
        .await
        .unwrap();
    assert_eq!(
        (again.batch, again.record_number),
        (a.batch, 1),
        "one record, not two"
    );
    assert_eq!((again.state, again.close_at), (BatchState::Open, t(1000)));
    let full = store
        .batch_add(batch_add("k2", "i2", 6, 2, 1006))
        .await
        .unwrap();
    assert_eq!((full.batch, full.record_number), (a.batch, 2));
    let closed = BatchState::Closed {
        closed_at: t(6),
        records: vec![
            ("i1".into(), json!({ "invoice_number": "k1" })),
            ("i2".into(), json!({ "invoice_number": "k2" })),
        ],
    };
    assert_eq!(full.state, closed);
    // Until its file is recorded, whoever looks is told to write it, the same.
    let look = store
        .batch_add(batch_add("k1", "i1", 9, 2, 1009))
        .await
        .unwrap();
    assert_eq!(look.state, closed);
    store.batch_written(a.batch, "F-1.csv").await.unwrap();
    store.batch_written(a.batch, "other.csv").await.unwrap();
    let look = store
        .batch_add(batch_add("k2", "i2", 10, 2, 1010))
        .await
        .unwrap();
    assert_eq!(
        look.state,
        BatchState::Written {
            file: "F-1.csv".into()
        },
        "the first name stays"
    );
    // The next record opens the next batch.
    let next = store
        .batch_add(batch_add("k3", "i3", 11, 2, 1011))
        .await
        .unwrap();
    assert_ne!(next.batch, a.batch);
    assert_eq!((next.record_number, next.state), (1, BatchState::Open));
    // Another connection has a batch of its own.
    let mut other = batch_add("k4", "i4", 11, 2, 1011);
    other.connection = "bk2".into();
    let other = store.batch_add(other).await.unwrap();
    assert_ne!(other.batch, next.batch);
    assert_eq!((other.number, other.record_number), (1, 1));
}

async fn a_batch_closes_at_its_time_when_a_record_looks(store: Arc<dyn Store>) {
    let a = store
        .batch_add(batch_add("k1", "i1", 0, 100, 60))
        .await
        .unwrap();
    let early = store
        .batch_add(batch_add("k1", "i1", 59, 100, 119))
        .await
        .unwrap();
    assert_eq!(early.state, BatchState::Open);
    let due = store
        .batch_add(batch_add("k1", "i1", 60, 100, 120))
        .await
        .unwrap();
    assert_eq!(due.batch, a.batch);
    assert_eq!(
        due.state,
        BatchState::Closed {
            closed_at: t(60),
            records: vec![("i1".into(), json!({ "invoice_number": "k1" }))],
        }
    );
    // A record after the close goes to a new batch, with its own time.
    let late = store
        .batch_add(batch_add("k2", "i2", 61, 100, 121))
        .await
        .unwrap();
    assert_ne!(late.batch, a.batch);
    assert_eq!((late.opened_at, late.close_at), (t(61), t(121)));
}

/// Adds 240 records at once through `stores` (one store, or replicas of one
/// database) into batches of at most 7, then checks the spool: every record
/// in one batch, numbered 1.. without gaps, every closed batch full, and the
/// records a closer was told to write are those the batch holds.
pub(crate) async fn concurrent_batch_adds(stores: Vec<Arc<dyn Store>>) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..240 {
        let store = stores[n % stores.len()].clone();
        tasks.spawn(async move {
            let key = format!("k{n:03}");
            // No add fails: the batch's row lock queues them, so none meets
            // another's record number.
            let a = store
                .batch_add(batch_add(&key, &format!("i{n:03}"), 0, 7, 1000))
                .await
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            (key, a)
        });
    }
    let mut added = Vec::new();
    while let Some(r) = tasks.join_next().await {
        added.push(r.unwrap());
    }
    let mut batches: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    let mut told: std::collections::BTreeMap<i64, Vec<Vec<(String, serde_json::Value)>>> =
        Default::default();
    for (_, a) in &added {
        batches.entry(a.batch).or_default().push(a.record_number);
        if let BatchState::Closed { records, .. } = &a.state {
            told.entry(a.batch).or_default().push(records.clone());
        }
    }
    let open: Vec<_> = batches.iter().filter(|(_, n)| n.len() < 7).collect();
    assert!(open.len() <= 1, "one open batch at most: {open:?}");
    for (b, ns) in &mut batches {
        ns.sort_unstable();
        let want: Vec<i64> = (1..=ns.len() as i64).collect();
        assert_eq!(*ns, want, "batch {b}");
    }
    assert_eq!(batches.len(), 240usize.div_ceil(7));
    let mut numbers: Vec<i64> = added.iter().map(|(_, a)| a.number).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let want: Vec<i64> = (1..=batches.len() as i64).collect();
    assert_eq!(numbers, want, "batches numbered 1.. without gaps");
    for (b, lists) in &told {
        assert_eq!(batches[b].len(), 7, "batch {b} closed before it was full");
        for records in lists {
            assert_eq!(records.len(), 7, "batch {b}");
            for (i, (issue, record)) in records.iter().enumerate() {
                let (key, _) = added
                    .iter()
                    .find(|(_, a)| a.batch == *b && a.record_number == i as i64 + 1)
                    .unwrap();
                assert_eq!(record, &json!({ "invoice_number": key }));
                assert_eq!(issue, &format!("i{}", &key[1..]));
            }
        }
    }
    // Every full batch was closed by exactly the add that filled it, at least.
    let full = batches.values().filter(|n| n.len() == 7).count();
    assert_eq!(told.len(), full, "each full batch was handed to a closer");
}

async fn the_first_outbox_id_recorded_stays(store: Arc<dyn Store>) {
    assert_eq!(store.outbox_id("bk", "id-a").await.unwrap(), "id-a");
    assert_eq!(store.outbox_id("bk", "id-b").await.unwrap(), "id-a");
    assert_eq!(
        store.outbox_id("bk2", "id-b").await.unwrap(),
        "id-b",
        "per connection"
    );
}

async fn concurrent_adds_fill_one_batch_after_another(store: Arc<dyn Store>) {
    concurrent_batch_adds(vec![store.clone(), store]).await;
}

/// Each case as a test on SQLite and one on PostgreSQL.
macro_rules! on_every_store {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let f = super::Fixture::sqlite();
                    super::$case(f.store.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let f = super::Fixture::postgres().await;
                    super::$case(f.store.clone()).await;
                }
            )*
        }
    };
}

on_every_store!(
    issues_are_created_loaded_listed_and_counted,
    a_commit_is_written_once_per_seq_with_its_history,
    the_ledger_keeps_the_first_key_and_counts_attempts,
    signals_wake_a_waiting_issue_and_are_consumed_once,
    events_are_deduplicated_and_consumed_per_issue,
    feed_batches_store_events_start_issues_once_and_move_the_cursor,
    cancel_and_retry_move_the_seq_on,
    claims_skip_claimed_issues_and_take_them_back_once_released,
    a_signal_racing_the_wait_is_never_lost,
    the_next_wake_is_the_earliest_due_time_of_an_active_issue,
    a_batch_takes_each_record_once_and_closes_when_full,
    a_batch_closes_at_its_time_when_a_record_looks,
    concurrent_adds_fill_one_batch_after_another,
    the_first_outbox_id_recorded_stays,
    signals_to_several_issues_reach_the_active_ones,
);
