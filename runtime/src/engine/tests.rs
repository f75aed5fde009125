//! Engine tests: a hand-written flow (as generated code will look) against a
//! local test server, on a virtual clock and an in-memory SQLite store.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::{Clock, VirtualClock};
use crate::prelude::*;
use crate::store::{IssueState, SqliteOptions, SqliteStore};
use crate::testing::{Reply, TestServer};

use super::Engine;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Data {
    base: String,
    #[serde(default)]
    skip_approve: bool,
    #[serde(default)]
    lines: Vec<i64>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default, serialize_with = "refuse_poison")]
    approved_by: Option<String>,
    #[serde(default)]
    line_ids: Vec<String>,
}

/// Data that cannot be serialized: an approver called "poison" (generated
/// data never fails to serialize; the engine must still not store it wrong).
fn refuse_poison<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    if v.as_deref() == Some("poison") {
        return Err(serde::ser::Error::custom("poison cannot be written"));
    }
    v.serialize(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    Create,
    Approve,
    Lines,
    AddLine,
    Pause,
    Done,
    Escalate,
}

impl StepId for Step {
    const ALL: &'static [Step] = &[
        Step::Create,
        Step::Approve,
        Step::Lines,
        Step::AddLine,
        Step::Pause,
        Step::Done,
        Step::Escalate,
    ];
    fn id(self) -> &'static str {
        match self {
            Step::Create => "create",
            Step::Approve => "approve",
            Step::Lines => "lines",
            Step::AddLine => "add_line",
            Step::Pause => "pause",
            Step::Done => "done",
            Step::Escalate => "escalate",
        }
    }
}

static LINE_ITEMS: [ItemDef; 1] = [ItemDef::new("v", ValueType::Integer)];
static ITEMS: [ItemDef; 3] = [
    ItemDef::new("base", ValueType::Url).required(),
    ItemDef::new("skip_approve", ValueType::Bool).default_json("false"),
    ItemDef::new("lines", ValueType::Json).default_json("[]"),
];
static SCHEMA: DataSchema = DataSchema::new(&ITEMS);
static APPROVE_ITEMS: [ItemDef; 1] = [ItemDef::new("by", ValueType::String).required()];
static APPROVE: DataSchema = DataSchema::new(&APPROVE_ITEMS);
static CREATED: [ItemDef; 1] = [ItemDef::new("id", ValueType::String).required()];

#[derive(Debug, Deserialize)]
struct Approval {
    by: String,
}

struct TestFlow;

impl Flow for TestFlow {
    const NAME: &'static str = "engine_test";
    type Data = Data;
    type Step = Step;

    fn schema() -> &'static DataSchema {
        &SCHEMA
    }
    fn signal_schema(name: &str) -> Option<&'static DataSchema> {
        (name == "approve").then_some(&APPROVE)
    }
    fn default_retry() -> RetryPolicy {
        RetryPolicy::new(3, Duration::from_secs(1), Duration::from_secs(60))
    }
    fn first_step() -> Step {
        Step::Create
    }
    fn run_step<'a>(
        step: Step,
        data: &'a mut Data,
        cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<Step>, StepError>> {
        Box::pin(async move {
            match step {
                Step::Create => {
                    let r = cx
                        .http(
                            HttpRequest::new(Method::Post, format!("{}/create", data.base))
                                .json(json!({"lines": data.lines.len()}))
                                .response(&CREATED),
                        )
                        .await?;
                    data.created = Some(r.get("id")?);
                    Ok(Transition::Next(if data.skip_approve {
                        Step::Lines
                    } else {
                        Step::Approve
                    }))
                }
                Step::Approve => {
                    if let Some(a) = cx.wake_data::<Approval>()? {
                        // "again": back into the same wait (a flow's `goto`).
                        if a.by == "again" {
                            return Ok(Transition::Next(Step::Approve));
                        }
                        data.approved_by = Some(a.by);
                        return Ok(Transition::Next(Step::Lines));
                    }
                    Ok(Transition::Wait(Wait {
                        on: WaitOn::Signal("approve"),
                        timeout: Duration::from_secs(3 * 86_400),
                        on_timeout: Step::Escalate,
                        poll: None,
                    }))
                }
                Step::Lines => Ok(Transition::EnterLoop {
                    count: data.lines.len(),
                    body: Step::AddLine,
                    after: Step::Pause,
                }),
                Step::AddLine => {
                    let i = cx.loop_index();
                    let r = cx
                        .http(
                            HttpRequest::new(Method::Post, format!("{}/line", data.base))
                                .json(json!({"i": i, "v": data.lines[i]}))
                                .response(&CREATED),
                        )
                        .await?;
                    data.line_ids.push(r.get("id")?);
                    Ok(Transition::LoopNext)
                }
                Step::Pause => Ok(Transition::Timer {
                    until: crate::clock::add(cx.now(), Duration::from_secs(7 * 86_400)),
                    next: Step::Done,
                }),
                Step::Done => Ok(Transition::End(Outcome::Completed)),
                Step::Escalate => Ok(Transition::Fail("approval timed out".into())),
            }
        })
    }
}

struct Env {
    engine: Engine<TestFlow>,
    clock: VirtualClock,
    server: TestServer,
    /// The PostgreSQL server of a test on PostgreSQL (it lives as long as the test).
    _pg: Option<Arc<crate::testing::TestPostgres>>,
}

const DAY: Duration = Duration::from_secs(86_400);

async fn env() -> Env {
    let store = SqliteStore::open(SqliteOptions::new(":memory:", TestFlow::NAME)).unwrap();
    env_on(Arc::new(store), None).await
}

/// The same on a fresh PostgreSQL database (the engine's waits, signals and
/// retries on the store that replicas share).
async fn env_postgres() -> Env {
    let pg = crate::testing::TestPostgres::shared();
    let url = pg.create_database();
    let store = crate::store::PgStore::connect(crate::store::PgOptions::new(&url, TestFlow::NAME))
        .await
        .unwrap();
    env_on(Arc::new(store), Some(pg)).await
}

async fn env_on(
    store: Arc<dyn crate::store::Store>,
    pg: Option<Arc<crate::testing::TestPostgres>>,
) -> Env {
    let _ = &LINE_ITEMS;
    let clock = VirtualClock::new("2025-03-01T09:00:00Z".parse().unwrap());
    let engine = Engine::<TestFlow>::new(store, Arc::new(clock.clone()));
    Env {
        engine,
        clock,
        server: TestServer::start().await,
        _pg: pg,
    }
}

impl Env {
    async fn start(&self, extra: Value) -> String {
        let mut rec = json!({"base": self.server.url()});
        if let (Some(o), Some(e)) = (rec.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        self.engine.start(&rec).await.unwrap()
    }
    async fn run(&self) {
        self.engine.run_due(8).await.unwrap();
    }
    async fn issue(&self, id: &str) -> crate::store::IssueRow {
        self.engine.store().load(id).await.unwrap().unwrap()
    }
    /// Moves the clock to the next wake-up and runs what is due, until `id` settles
    /// (waits without a wake-up, or ends), at most `max` times.
    async fn run_until_settled(&self, id: &str, max: usize) {
        for _ in 0..max {
            self.run().await;
            let row = self.issue(id).await;
            if row.state != IssueState::Running {
                return;
            }
            let next = self.engine.store().next_wake().await.unwrap().unwrap();
            self.clock.advance_to(next);
        }
    }
    async fn history(&self, id: &str) -> Vec<crate::store::HistoryEntry> {
        self.engine.store().history(id).await.unwrap()
    }
    /// The issue, which must have failed, and its error.
    async fn failed(&self, id: &str) -> (crate::store::IssueRow, String) {
        let row = self.issue(id).await;
        assert_eq!(row.state, IssueState::Failed, "{row:?}");
        let error = row.error.clone().unwrap_or_default();
        (row, error)
    }
    /// Sends the `approve` signal with this approver; true when it was taken.
    async fn approve(&self, id: &str, by: &str) -> bool {
        self.engine
            .signal(id, "approve", json!({ "by": by }))
            .await
            .unwrap()
    }
    fn keys(&self, path: &str) -> Vec<String> {
        self.server
            .seen()
            .iter()
            .filter(|s| s.path == path)
            .map(|s| s.idempotency_key().unwrap_or("").to_string())
            .collect()
    }
}

#[tokio::test]
async fn signal_loop_and_timer_complete_an_issue() {
    signal_loop_and_timer(env().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_loop_and_timer_complete_an_issue_on_postgres() {
    signal_loop_and_timer(env_postgres().await).await;
}

async fn signal_loop_and_timer(e: Env) {
    let id = e.start(json!({"lines": [10, 20, 30]})).await;
    e.run().await;
    let row = e.issue(&id).await;
    assert_eq!(
        (row.state, row.step.as_str()),
        (IssueState::Waiting, "approve")
    );
    assert_eq!(row.data["created"], json!("obj_1"));

    // A bad payload is refused before it touches state.
    assert!(
        e.engine
            .signal(&id, "approve", json!({"who": "x"}))
            .await
            .is_err()
    );
    e.clock.advance(DAY);
    assert!(e.approve(&id, "mika").await);
    e.run().await;
    let row = e.issue(&id).await;
    assert_eq!(
        (row.state, row.step.as_str()),
        (IssueState::Waiting, "pause")
    );
    assert_eq!(row.data["approved_by"], json!("mika"));
    assert_eq!(row.data["line_ids"].as_array().unwrap().len(), 3);
    let line_keys = e.keys("/line");
    assert_eq!(
        line_keys,
        (0..3)
            .map(|i| format!("engine_test:{id}:add_line:{i}"))
            .collect::<Vec<_>>(),
        "one key per for_each iteration"
    );
    let bodies: Vec<Value> = e
        .server
        .seen()
        .iter()
        .filter(|s| s.path == "/line")
        .map(|s| s.json())
        .collect();
    assert_eq!(bodies[2], json!({"i": 2, "v": 30}));

    // The 7-day timer: not before, then done.
    e.clock.advance(DAY * 6);
    e.run().await;
    assert_eq!(e.issue(&id).await.state, IssueState::Waiting);
    e.clock.advance(DAY);
    e.run().await;
    assert_eq!(e.issue(&id).await.state, IssueState::Completed);

    let route: Vec<(String, String)> = e
        .history(&id)
        .await
        .into_iter()
        .map(|h| (h.step, h.event))
        .collect();
    for want in [
        ("approve", "wait"),
        ("approve", "signal"),
        ("add_line", "call"),
        ("pause", "timer"),
        ("done", "completed"),
    ] {
        assert!(
            route.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} not in {route:?}"
        );
    }
    let ledger = e.engine.store().ledger(&id).await.unwrap();
    assert_eq!(ledger.len(), 4);
    assert!(
        ledger.iter().all(|l| l.status == "done" && l.attempts == 1),
        "{ledger:?}"
    );
}

#[tokio::test]
async fn data_that_cannot_be_stored_fails_the_issue_and_keeps_the_last_stored_data() {
    let e = env().await;
    let id = e.start(json!({"lines": [10]})).await;
    e.run().await;
    assert_eq!(e.issue(&id).await.state, IssueState::Waiting);
    assert!(e.approve(&id, "poison").await);
    e.run().await;
    let (row, error) = e.failed(&id).await;
    assert!(
        error.contains("data cannot be stored") && error.contains("poison cannot be written"),
        "{error}"
    );
    // The data as last stored, not `null`: the approval that cannot be
    // written is not there, what came before is.
    assert_eq!(row.data["created"], json!("obj_1"));
    assert_eq!(row.data["approved_by"], Value::Null);
    assert_eq!(row.data["lines"], json!([10]));
    assert!(row.ctx.is_object(), "{}", row.ctx);
    // Failed before the next step's call.
    assert!(e.keys("/line").is_empty());
    let events: Vec<String> = e.history(&id).await.into_iter().map(|h| h.event).collect();
    assert_eq!(
        events.last().map(String::as_str),
        Some("failed"),
        "{events:?}"
    );
    // Nothing is due any more: the worker does not retry it forever.
    assert_eq!(e.engine.store().next_wake().await.unwrap(), None);
}

#[tokio::test]
async fn a_wait_times_out_to_its_on_timeout_step() {
    let e = env().await;
    let id = e.start(json!({})).await;
    e.run().await;
    e.clock.advance(DAY * 2);
    e.run().await;
    assert_eq!(e.issue(&id).await.state, IssueState::Waiting);
    e.clock.advance(DAY + Duration::from_secs(1));
    e.run().await;
    let row = e.issue(&id).await;
    assert_eq!(row.state, IssueState::Failed);
    assert_eq!(row.step, "escalate");
    assert_eq!(row.error.as_deref(), Some("approval timed out"));
}

/// A step that goes back into the wait it was woken from does not take the
/// same signal again (its consume is not committed yet): it waits for the next.
#[tokio::test]
async fn a_wait_entered_again_does_not_take_the_signal_it_consumed() {
    let e = env().await;
    let id = e.start(json!({})).await;
    e.run().await;
    assert_eq!(e.issue(&id).await.state, IssueState::Waiting);
    assert!(e.approve(&id, "again").await);
    e.run().await;
    let row = e.issue(&id).await;
    assert_eq!(
        (row.state, row.step.as_str()),
        (IssueState::Waiting, "approve"),
        "{:?}",
        row.error
    );
    assert!(e.approve(&id, "ann").await);
    e.run().await;
    let row = e.issue(&id).await;
    assert_eq!(row.data["approved_by"], "ann", "{:?}", row.error);
}

#[tokio::test]
async fn a_signal_sent_before_the_wait_is_kept() {
    let e = env().await;
    let id = e.start(json!({})).await;
    assert!(e.approve(&id, "early").await);
    e.run().await;
    let row = e.issue(&id).await;
    assert_eq!(row.data["approved_by"], json!("early"));
    assert_eq!(row.step, "pause");
}

#[tokio::test]
async fn server_errors_are_retried_later_with_the_same_key() {
    retried_with_the_same_key(env().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_later_with_the_same_key_on_postgres() {
    retried_with_the_same_key(env_postgres().await).await;
}

async fn retried_with_the_same_key(e: Env) {
    e.server.script(
        "POST /create",
        [
            Reply::json(503, json!({"message": "busy"})),
            Reply::json(502, json!({})),
        ],
    );
    let id = e.start(json!({"skip_approve": true})).await;
    let t0 = e.clock.now();
    e.run().await;
    let row = e.issue(&id).await;
    assert_eq!(row.state, IssueState::Running);
    assert!(row.wake_at.unwrap() >= t0, "retry scheduled, not spun");
    assert_eq!(
        e.server.count(),
        1,
        "no retry before the backoff has passed"
    );
    e.run_until_settled(&id, 10).await;
    assert_eq!(e.issue(&id).await.step, "pause");
    let keys = e.keys("/create");
    assert_eq!(keys.len(), 3);
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "the key is reused on every retry: {keys:?}"
    );
    let ledger = e.engine.store().ledger(&id).await.unwrap();
    assert_eq!(
        (ledger[0].attempts, ledger[0].key.as_str()),
        (3, keys[0].as_str())
    );
    let history = e.history(&id).await;
    assert_eq!(history.iter().filter(|h| h.event == "retry").count(), 2);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let e = env().await;
    e.server.script(
        "POST /create",
        [Reply::json(429, json!({})).header("Retry-After", "120")],
    );
    let id = e.start(json!({"skip_approve": true})).await;
    let t0 = e.clock.now();
    e.run().await;
    let row = e.issue(&id).await;
    assert_eq!(
        row.wake_at,
        Some(crate::clock::add(t0, Duration::from_secs(120)))
    );
    e.clock.advance(Duration::from_secs(119));
    e.run().await;
    assert_eq!(e.server.count(), 1);
    e.clock.advance(Duration::from_secs(1));
    e.run().await;
    assert_eq!(e.server.count(), 2);
    assert_eq!(e.issue(&id).await.step, "pause");
}

#[tokio::test]
async fn a_validation_error_fails_the_issue_without_retrying() {
    let e = env().await;
    e.server.script(
        "POST /create",
        [Reply::json(400, json!({"error": {"message": "Amount must be at least 50 cents", "type": "invalid_request_error"}}))],
    );
    let id = e.start(json!({})).await;
    e.run().await;
    e.clock.advance(DAY);
    e.run().await;
    let (_, err) = e.failed(&id).await;
    assert!(
        err.contains("HTTP 400") && err.contains("Amount must be at least 50 cents"),
        "{err}"
    );
    assert!(err.contains("step `create`"), "{err}");
    assert_eq!(e.server.count(), 1);
    let ledger = e.engine.store().ledger(&id).await.unwrap();
    assert_eq!(ledger[0].status, "failed");

    // After a fix, `retry` runs the step again, with the recorded key.
    assert!(e.engine.store().retry(&id, e.clock.now()).await.unwrap());
    e.run().await;
    let row = e.issue(&id).await;
    assert_eq!(
        (row.state, row.step.as_str()),
        (IssueState::Waiting, "approve")
    );
    let keys = e.keys("/create");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);
}

#[tokio::test]
async fn retries_stop_at_the_flows_limit() {
    let e = env().await;
    e.server.script(
        "POST /create",
        (0..10).map(|_| Reply::json(500, json!({"message": "down"}))),
    );
    let id = e.start(json!({})).await;
    e.run_until_settled(&id, 10).await;
    let row = e.issue(&id).await;
    assert_eq!(row.state, IssueState::Failed);
    let err = row.error.unwrap();
    assert!(
        err.contains("gave up after 3 attempts") && err.contains("down"),
        "{err}"
    );
    assert_eq!(e.server.count(), 3);
}

#[tokio::test]
async fn a_wrong_response_type_fails_the_step_and_stores_nothing() {
    let e = env().await;
    e.server
        .script("POST /create", [Reply::json(200, json!({"id": 12}))]);
    let id = e.start(json!({})).await;
    e.run().await;
    let (row, err) = e.failed(&id).await;
    assert!(
        err.contains("response field `id`: expected string, got a number"),
        "{err}"
    );
    assert_eq!(row.data["created"], Value::Null);
}

#[tokio::test]
async fn cancel_stops_a_waiting_issue() {
    let e = env().await;
    let id = e.start(json!({})).await;
    e.run().await;
    assert!(e.engine.store().cancel(&id, e.clock.now()).await.unwrap());
    assert!(!e.approve(&id, "late").await);
    e.clock.advance(DAY * 5);
    e.run().await;
    assert_eq!(e.issue(&id).await.state, IssueState::Cancelled);
    assert!(!e.engine.store().cancel(&id, e.clock.now()).await.unwrap());
}

#[tokio::test]
async fn records_are_validated_before_they_start() {
    let e = env().await;
    let err = e
        .engine
        .start(&json!({"base": "ftp://x", "nope": 1}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("`base`") && err.contains("`nope`"), "{err}");
    assert!(e.engine.store().list(None, 10).await.unwrap().is_empty());
}

#[test]
fn a_running_issue_keeps_a_due_wake_time_and_never_a_future_one() {
    let now = Timestamp::from_second(1_700_000_000).unwrap();
    let earlier = Timestamp::from_second(1_699_999_000).unwrap();
    let later = Timestamp::from_second(1_700_000_500).unwrap();
    // Claimed when due: the same time from step to step.
    assert_eq!(super::running_wake_at(Some(earlier), now), earlier);
    assert_eq!(super::running_wake_at(Some(now), now), now);
    // Woken before its time (a signal before a deadline), or never scheduled:
    // due now, so a restart after a crash runs it.
    assert_eq!(super::running_wake_at(Some(later), now), now);
    assert_eq!(super::running_wake_at(None, now), now);
}
