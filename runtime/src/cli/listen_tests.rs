//! Every route of `run --listen` on 127.0.0.1: the operator's routes refuse a
//! request without the operator token or with a wrong one (401) and change
//! nothing in the store; with the token they work; an ill-typed event is 400
//! and stored nowhere; without a configured token they are all refused (403)
//! while webhooks stay behind their provider's signature.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::listen::router;
use super::operator::OperatorAuth;
use crate::clock::VirtualClock;
use crate::engine::Engine;
use crate::events::EventFeed;
use crate::prelude::*;
use crate::store::{IssueRow, IssueState, SqliteOptions, SqliteStore};

const TOKEN: &str = "op-token-for-listen-tests-0123456789abcdef";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Data {
    invoice: String,
    #[serde(default)]
    approved_by: Option<String>,
    #[serde(default)]
    paid: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    Approve,
    Paid,
}

impl StepId for Step {
    const ALL: &'static [Step] = &[Step::Approve, Step::Paid];
    fn id(self) -> &'static str {
        match self {
            Step::Approve => "approve",
            Step::Paid => "paid",
        }
    }
}

static ITEMS: [ItemDef; 3] = [
    ItemDef::new("invoice", ValueType::String).required(),
    ItemDef::new("approved_by", ValueType::String),
    ItemDef::new("paid", ValueType::Json),
];
static SCHEMA: DataSchema = DataSchema::new(&ITEMS);
static APPROVE_ITEMS: [ItemDef; 1] = [ItemDef::new("by", ValueType::String).required()];
static APPROVE: DataSchema = DataSchema::new(&APPROVE_ITEMS);
static CONNECTIONS: [ConnectionDef; 1] = [ConnectionDef {
    name: "stripe",
    provider: "stripe",
    mode: "test",
    base_url: "",
    credentials: &[(
        "secret_key",
        SecretSource::File(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/events/testdata/stripe_key"
        )),
    )],
}];
static FEEDS: [FeedDef; 1] = [FeedDef {
    provider: "stripe",
    event: "invoice.paid",
    connection: "stripe",
    poll: None,
}];

#[derive(Debug, Deserialize)]
struct Approval {
    by: String,
}

/// An issue waits for the `approve` signal, then for its invoice's `invoice.paid`.
struct Approved;

impl Flow for Approved {
    const NAME: &'static str = "listen_test";
    type Data = Data;
    type Step = Step;
    fn schema() -> &'static DataSchema {
        &SCHEMA
    }
    fn signal_schema(name: &str) -> Option<&'static DataSchema> {
        (name == "approve").then_some(&APPROVE)
    }
    fn connections() -> &'static [ConnectionDef] {
        &CONNECTIONS
    }
    fn event_feeds() -> &'static [FeedDef] {
        &FEEDS
    }
    fn first_step() -> Step {
        Step::Approve
    }
    fn run_step<'a>(
        step: Step,
        data: &'a mut Data,
        cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<Step>, StepError>> {
        Box::pin(async move {
            let wait = |on| {
                Transition::Wait(Wait {
                    on,
                    timeout: Duration::from_secs(30 * 86_400),
                    on_timeout: step,
                    poll: None,
                })
            };
            match step {
                Step::Approve => match cx.wake_data::<Approval>()? {
                    Some(a) => {
                        data.approved_by = Some(a.by);
                        Ok(Transition::Next(Step::Paid))
                    }
                    None => Ok(wait(WaitOn::Signal("approve"))),
                },
                Step::Paid => match cx.wake_data::<Value>()? {
                    Some(p) => {
                        data.paid = Some(p);
                        Ok(Transition::End(Outcome::Completed))
                    }
                    None => Ok(wait(WaitOn::Event {
                        name: "invoice.paid",
                        key: data.invoice.clone(),
                    })),
                },
            }
        })
    }
}

struct Listener {
    engine: Engine<Approved>,
    url: String,
    client: reqwest::Client,
}

async fn listener(auth: OperatorAuth) -> Listener {
    let store = SqliteStore::open(SqliteOptions::new(":memory:", Approved::NAME)).unwrap();
    let clock = VirtualClock::new("2025-03-01T09:00:00Z".parse().unwrap());
    let engine = Engine::<Approved>::new(Arc::new(store), Arc::new(clock));
    let app = router(Arc::new(EventFeed::new(engine.clone())), auth);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    Listener {
        engine,
        url,
        client: reqwest::Client::new(),
    }
}

/// What the store holds: every issue as stored, with its history.
type Snapshot = Vec<(IssueRow, usize)>;

impl Listener {
    async fn send(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let mut rb = match method {
            "GET" => self.client.get(url),
            _ => self.client.post(url).json(body),
        };
        if let Some(a) = auth {
            rb = rb.header("Authorization", a);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        if status == 401 {
            assert!(
                r.headers().contains_key("www-authenticate"),
                "a 401 says how to authenticate"
            );
        }
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn snapshot(&self) -> Snapshot {
        let store = self.engine.store();
        let mut out = Vec::new();
        for row in store.list(None, 100).await.unwrap() {
            let history = store.history(&row.id).await.unwrap().len();
            out.push((row, history));
        }
        out
    }

    async fn issue(&self, id: &str) -> IssueRow {
        self.engine.store().load(id).await.unwrap().unwrap()
    }
}

/// Every operator route with a request that would change (or show) something.
fn operator_routes(id: &str) -> Vec<(&'static str, String, Value)> {
    vec![
        ("POST", "/issues".into(), json!({"invoice": "in_2"})),
        ("GET", format!("/issues/{id}"), Value::Null),
        (
            "POST",
            format!("/issues/{id}/signals/approve"),
            json!({"by": "mallory"}),
        ),
        (
            "POST",
            "/events/invoice.paid".into(),
            json!({"id": "evt_1", "key": "in_1", "data": {"id": "in_1", "status": "paid", "amount_paid": 1200}}),
        ),
    ]
}

#[tokio::test]
async fn operator_routes_need_the_operator_token_and_change_nothing_without_it() {
    let l = listener(OperatorAuth::with_token(TOKEN).unwrap()).await;
    let id = l.engine.start(&json!({"invoice": "in_1"})).await.unwrap();
    l.engine.run_due(4).await.unwrap();
    assert_eq!(l.issue(&id).await.step, "approve");
    let before = l.snapshot().await;

    let wrong = [
        None,
        Some("Bearer op-token-for-listen-tests-0123456789abcdeX".to_string()),
        Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
        Some(format!("Basic {TOKEN}")),
        Some(TOKEN.to_string()),
    ];
    for (method, path, body) in operator_routes(&id) {
        for auth in &wrong {
            let (status, answer) = l.send(method, &path, auth.as_deref(), &body).await;
            assert_eq!(status, 401, "{method} {path} with {auth:?}: {answer}");
            assert!(
                !answer.to_string().contains(TOKEN),
                "the token is never echoed"
            );
        }
    }
    // Nothing was started, signalled or delivered: not now, nor once the worker runs.
    assert_eq!(l.snapshot().await, before);
    l.engine.run_due(4).await.unwrap();
    assert_eq!(l.snapshot().await, before);
    assert_eq!(l.issue(&id).await.step, "approve");

    // With the token, every route works.
    let bearer = format!("Bearer {TOKEN}");
    let ok = Some(bearer.as_str());
    let (status, answer) = l
        .send("POST", "/issues", ok, &json!({"invoice": "in_2"}))
        .await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = l
        .send("GET", &format!("/issues/{id}"), ok, &Value::Null)
        .await;
    assert_eq!((status, answer["step"].as_str()), (200, Some("approve")));
    let (status, answer) = l
        .send(
            "POST",
            &format!("/issues/{id}/signals/approve"),
            ok,
            &json!({"by": "ann"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    l.engine.run_due(4).await.unwrap();
    let row = l.issue(&id).await;
    assert_eq!(
        (row.step.as_str(), &row.data["approved_by"]),
        ("paid", &json!("ann"))
    );

    // An ill-typed event is 400 and stored nowhere: the issue keeps waiting, and
    // the same event id is new when it comes right.
    let before = l.snapshot().await;
    let bad = [
        json!({"id": "evt_1", "key": "in_1", "data": {"amount_paid": "all of it"}}),
        json!({"id": "evt_1", "key": "in_1", "data": {"id": "ch_1"}}),
        json!({"id": "evt_1", "key": "in_1", "data": {"status": "maybe"}}),
        json!({"id": "evt_1", "key": "in_1", "data": {"paid_by": "mallory"}}),
        json!({"id": "evt_1", "key": "in_1", "data": "paid"}),
        json!({"key": "in_1", "data": {}}),
    ];
    for body in &bad {
        let (status, answer) = l.send("POST", "/events/invoice.paid", ok, body).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let (status, answer) = l
        .send(
            "POST",
            "/events/charge.refunded",
            ok,
            &json!({"id": "evt_9", "key": "in_1"}),
        )
        .await;
    assert_eq!(status, 404, "an event no wait is for: {answer}");
    l.engine.run_due(4).await.unwrap();
    assert_eq!(l.snapshot().await, before);

    let paid = json!({"id": "evt_1", "key": "in_1",
        "data": {"id": "in_1", "status": "paid", "amount_paid": 1200, "currency": "eur"}});
    let (status, answer) = l.send("POST", "/events/invoice.paid", ok, &paid).await;
    assert_eq!(
        (status, &answer["duplicate"]),
        (200, &json!(false)),
        "{answer}"
    );
    l.engine.run_due(4).await.unwrap();
    let row = l.issue(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{row:?}");
    assert_eq!(row.data["paid"]["currency"], "EUR", "normalized: {row:?}");
    assert_eq!(row.data["paid"]["amount_paid"], 1200);
}

#[tokio::test]
async fn without_an_operator_token_only_webhooks_and_health_are_served() {
    let l = listener(OperatorAuth::refuse_all()).await;
    let id = l.engine.start(&json!({"invoice": "in_1"})).await.unwrap();
    l.engine.run_due(4).await.unwrap();
    let before = l.snapshot().await;
    for (method, path, body) in operator_routes(&id) {
        for auth in [None, Some(format!("Bearer {TOKEN}"))] {
            let (status, answer) = l.send(method, &path, auth.as_deref(), &body).await;
            assert_eq!(status, 403, "{method} {path}: {answer}");
            assert!(
                answer["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("FLOWC_OPERATOR_TOKEN")),
                "{answer}"
            );
        }
    }
    l.engine.run_due(4).await.unwrap();
    assert_eq!(l.snapshot().await, before);
    let r = l
        .client
        .get(format!("{}/healthz", l.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A webhook is not an operator route: its provider's signature decides (this
    // connection has no webhook secret, so there is no webhook to take).
    let (status, answer) = l
        .send("POST", "/webhooks/stripe", None, &json!({"id": "evt_1"}))
        .await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("webhook_secret")),
        "{answer}"
    );
}
