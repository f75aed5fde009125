//! Provider actions through the engine against a local recording server: exact
//! request bytes and headers per provider, idempotency keys across retries, error
//! mapping, validation before sending, token caching, the Buckaroo signature, and
//! a batch of three issues written as one request file.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::*;
use crate::clock::{BoxFuture, Clock, VirtualClock};
use crate::engine::Engine;
use crate::flow::{ConnectionDef, Flow, Outcome, SecretSource, StepId, Transition};
use crate::http::HttpRequest;
use crate::retry::RetryPolicy;
use crate::store::{IssueRow, IssueState, SqliteOptions, SqliteStore};
use crate::testing::{Reply, TestServer};
use crate::value::{DataSchema, ItemDef, ValueType};

macro_rules! secret {
    ($file:literal) => {
        SecretSource::File(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/action/testdata/",
            $file
        ))
    };
}

static CONNECTIONS: [ConnectionDef; 5] = [
    ConnectionDef {
        name: "stripe",
        provider: "stripe",
        mode: "test",
        base_url: "",
        credentials: &[("secret_key", secret!("stripe_key"))],
    },
    ConnectionDef {
        name: "stripe_live",
        provider: "stripe",
        mode: "live",
        base_url: "",
        credentials: &[("secret_key", secret!("stripe_key"))],
    },
    ConnectionDef {
        name: "paypal",
        provider: "paypal",
        mode: "sandbox",
        base_url: "",
        credentials: &[
            ("client_id", secret!("paypal_client_id")),
            ("client_secret", secret!("paypal_client_secret")),
        ],
    },
    ConnectionDef {
        name: "vipps",
        provider: "vipps",
        mode: "test",
        base_url: "",
        credentials: &[
            ("client_id", secret!("vipps_client_id")),
            ("client_secret", secret!("vipps_client_secret")),
            ("subscription_key", secret!("vipps_subscription_key")),
            ("merchant_serial_number", secret!("vipps_msn")),
        ],
    },
    ConnectionDef {
        name: "buckaroo",
        provider: "buckaroo",
        mode: "test",
        base_url: "",
        credentials: &[
            ("website_key", secret!("buckaroo_website_key")),
            ("secret_key", secret!("buckaroo_secret_key")),
        ],
    },
];

/// One call per issue: the provider, action, connection and inputs come with the record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Data {
    provider: String,
    action: String,
    connection: String,
    #[serde(default)]
    inputs: Value,
    #[serde(default)]
    batch: bool,
    #[serde(default)]
    settings: Value,
    #[serde(default)]
    result: Option<Value>,
    /// The step's `retry: { max_attempts }` (none: the flow's default).
    #[serde(default)]
    max_attempts: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Step {
    Call,
    Done,
}

impl StepId for Step {
    const ALL: &'static [Step] = &[Step::Call, Step::Done];
    fn id(self) -> &'static str {
        match self {
            Step::Call => "call",
            Step::Done => "done",
        }
    }
}

static ITEMS: [ItemDef; 8] = [
    ItemDef::new("provider", ValueType::String).required(),
    ItemDef::new("action", ValueType::String).required(),
    ItemDef::new("connection", ValueType::String).required(),
    ItemDef::new("inputs", ValueType::Json),
    ItemDef::new("batch", ValueType::Bool),
    ItemDef::new("settings", ValueType::Json),
    ItemDef::new("result", ValueType::Json),
    ItemDef::new("max_attempts", ValueType::Integer),
];
static SCHEMA: DataSchema = DataSchema::new(&ITEMS);

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// The step's `retry:` as generated code passes it (`rt::retry(Some(n), None, None)`).
fn step_retry(data: &Data) -> Option<RetryPolicy> {
    data.max_attempts
        .map(|n| crate::rt::retry(Some(i64::from(n)), None, None))
}

#[derive(Debug)]
pub(crate) struct Calls;

impl Flow for Calls {
    const NAME: &'static str = "calls";
    type Data = Data;
    type Step = Step;
    fn schema() -> &'static DataSchema {
        &SCHEMA
    }
    fn connections() -> &'static [ConnectionDef] {
        &CONNECTIONS
    }
    fn first_step() -> Step {
        Step::Call
    }
    fn run_step<'a>(
        step: Step,
        data: &'a mut Data,
        cx: &'a mut StepContext,
    ) -> BoxFuture<'a, Result<Transition<Step>, StepError>> {
        Box::pin(async move {
            match step {
                Step::Call if data.batch => {
                    let call = BatchCall {
                        provider: leak(&data.provider),
                        action: leak(&data.action),
                        connection: leak(&data.connection),
                        inputs: data.inputs.clone(),
                        // `test_max`: a test's own batch size.
                        max: data
                            .settings
                            .get("test_max")
                            .and_then(Value::as_u64)
                            .map_or(3, |m| m as usize),
                        schedule: BatchSchedule::Every(Duration::from_secs(3600)),
                        settings: data.settings.clone(),
                        retry: step_retry(data),
                    };
                    match cx.batch(call).await? {
                        BatchStatus::HandedOver(r) => {
                            data.result = Some(Value::Object(r.fields.clone()));
                            let _: String = r.get("file_name")?;
                            Ok(Transition::Next(Step::Done))
                        }
                        BatchStatus::Pending(p) => Ok(p.wait(Step::Call)),
                    }
                }
                // A generic `http` step, for comparison.
                Step::Call if data.provider == "http" => {
                    let mut req = HttpRequest::new(
                        crate::http::Method::Post,
                        "https://hooks.example.com/notify",
                    );
                    if let Some(p) = step_retry(data) {
                        req = req.retry(p);
                    }
                    cx.http(req).await?;
                    Ok(Transition::Next(Step::Done))
                }
                Step::Call => {
                    let r = cx
                        .action(ActionCall {
                            provider: leak(&data.provider),
                            action: leak(&data.action),
                            connection: leak(&data.connection),
                            inputs: data.inputs.clone(),
                            retry: step_retry(data),
                        })
                        .await?;
                    data.result = Some(Value::Object(r.fields));
                    Ok(Transition::Next(Step::Done))
                }
                Step::Done => Ok(Transition::End(Outcome::Completed)),
            }
        })
    }
}

struct Env {
    engine: Engine<Calls>,
    clock: VirtualClock,
    server: TestServer,
}

async fn env() -> Env {
    let server = TestServer::start().await;
    let store = SqliteStore::open(SqliteOptions::new(":memory:", Calls::NAME)).unwrap();
    let clock = VirtualClock::new("2025-03-01T09:00:00Z".parse().unwrap());
    let engine = Engine::<Calls>::with_base_url(
        Arc::new(store),
        Arc::new(clock.clone()),
        Some(&server.url()),
    );
    Env {
        engine,
        clock,
        server,
    }
}

impl Env {
    async fn start(&self, provider: &str, action: &str, connection: &str, inputs: Value) -> String {
        self.engine
            .start(&json!({"provider": provider, "action": action, "connection": connection, "inputs": inputs, "batch": false}))
            .await
            .unwrap()
    }
    async fn issue(&self, id: &str) -> IssueRow {
        self.engine.store().load(id).await.unwrap().unwrap()
    }
    /// Starts one issue of the step kind `provider` names (`http`, a provider
    /// action, or a batch when `batch`), with the step's `max_attempts`.
    async fn start_with_retry(&self, record: Value, max_attempts: Option<u32>) -> String {
        let mut record = record;
        record["max_attempts"] = json!(max_attempts);
        if record.get("batch").is_none() {
            record["batch"] = json!(false);
        }
        self.engine.start(&record).await.unwrap()
    }
    /// Runs what is due, moving the clock on to each retry, until `id` settles.
    async fn settle(&self, id: &str) -> IssueRow {
        for _ in 0..20 {
            self.engine.run_due(8).await.unwrap();
            let row = self.issue(id).await;
            if row.state != IssueState::Running {
                return row;
            }
            if let Some(next) = self.engine.store().next_wake().await.unwrap() {
                self.clock.advance_to(next);
            }
        }
        self.issue(id).await
    }
    fn seen(&self, route: &str) -> Vec<crate::testing::Seen> {
        self.server
            .seen()
            .into_iter()
            .filter(|s| format!("{} {}", s.method, s.path) == route)
            .collect()
    }
}

fn result(row: &IssueRow) -> Value {
    row.data["result"].clone()
}

#[tokio::test]
async fn stripe_bodies_are_form_encoded_with_bracket_keys() {
    let e = env().await;
    e.server.script(
        "POST /v1/charges",
        [Reply::json(
            200,
            json!({"id": "ch_1", "status": "succeeded", "paid": true, "amount": 1500,
                   "currency": "jpy", "created": 1_740_000_000,
                   "payment_method_details": {"card": {"last4": "4242", "brand": "visa"}}}),
        )],
    );
    let id = e
        .start(
            "stripe",
            "create_charge",
            "stripe",
            json!({"amount": 1500, "currency": "JPY", "customer": "cus_123",
                   "metadata": {"delivery": "D-1", "note": "a b&c"}}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    let seen = &e.seen("POST /v1/charges")[0];
    assert_eq!(
        seen.body,
        "amount=1500&capture=true&currency=jpy&customer=cus_123&metadata%5Bdelivery%5D=D-1&metadata%5Bnote%5D=a+b%26c"
    );
    assert_eq!(
        seen.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        seen.headers["authorization"],
        "Bearer sk_test_fake_key_for_tests"
    );
    assert_eq!(seen.headers["stripe-version"], "2023-08-16");
    assert!(
        seen.idempotency_key()
            .is_some_and(|k| k.starts_with("calls:"))
    );
    let r = result(&row);
    assert_eq!(r["id"], "ch_1");
    assert_eq!(r["last4"], "4242");
    assert_eq!(r["currency"], "JPY");
    assert_eq!(r["created"], "2025-02-19T21:20:00Z");
    assert_eq!(r["refunded"], Value::Null);

    // Nested keys, a money amount in minor units, and `expand[]`.
    let id = e
        .start(
            "stripe",
            "create_price",
            "stripe",
            json!({"currency": "EUR", "product": "prod_1",
                   "unit_amount": {"amount": "12.50", "currency": "EUR"},
                   "interval": "month", "interval_count": 3}),
        )
        .await;
    assert_eq!(e.settle(&id).await.state, IssueState::Completed);
    assert_eq!(
        e.seen("POST /v1/prices")[0].body,
        "currency=eur&product=prod_1&recurring%5Binterval%5D=month&recurring%5Binterval_count%5D=3&unit_amount=1250"
    );
    let id = e
        .start(
            "stripe",
            "create_customer",
            "stripe",
            json!({"email": "a@example.com", "source": "tok_visa"}),
        )
        .await;
    e.settle(&id).await;
    assert_eq!(
        e.seen("POST /v1/customers")[0].body,
        "email=a%40example.com&expand%5B%5D=default_source&source=tok_visa"
    );
    // A read: parameters in the query, no key, no body.
    let id = e
        .start(
            "stripe",
            "find_customer",
            "stripe",
            json!({"email": "a@example.com"}),
        )
        .await;
    e.server.script(
        "GET /v1/customers",
        [Reply::json(
            200,
            json!({"data": [{"id": "cus_9", "email": "a@example.com"}]}),
        )],
    );
    let row = e.settle(&id).await;
    let seen = &e.seen("GET /v1/customers")[0];
    assert_eq!(seen.query.as_deref(), Some("email=a%40example.com&limit=1"));
    assert_eq!(seen.idempotency_key(), None);
    assert_eq!(result(&row)["found"], true);
    assert_eq!(result(&row)["id"], "cus_9");
}

#[tokio::test]
async fn stripe_retries_a_server_error_with_the_same_idempotency_key() {
    let e = env().await;
    e.server.script(
        "POST /v1/refunds",
        [
            Reply::json(503, json!({"error": {"message": "busy"}})),
            Reply::json(
                200,
                json!({"id": "re_1", "status": "succeeded", "amount": 500}),
            ),
        ],
    );
    let id = e
        .start(
            "stripe",
            "create_refund",
            "stripe",
            json!({"charge": "ch_1", "amount": 500}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    let keys: Vec<_> = e
        .seen("POST /v1/refunds")
        .iter()
        .map(|s| s.idempotency_key().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1], "the key is stable across the retry");
    assert_eq!(result(&row)["id"], "re_1");
    let ledger = e.engine.store().ledger(&id).await.unwrap();
    assert_eq!((ledger[0].attempts, ledger[0].status.as_str()), (2, "done"));
}

#[tokio::test]
async fn stripe_client_errors_fail_with_message_and_param_without_retry() {
    let e = env().await;
    e.server.script(
        "POST /v1/charges",
        [Reply::json(
            400,
            json!({"error": {"type": "invalid_request_error", "message": "No such customer: 'cus_404'", "param": "customer"}}),
        )],
    );
    let id = e
        .start(
            "stripe",
            "create_charge",
            "stripe",
            json!({"amount": 100, "currency": "eur", "customer": "cus_404"}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Failed);
    let err = row.error.unwrap();
    assert!(
        err.contains("HTTP 400: No such customer: 'cus_404' (param: customer)"),
        "{err}"
    );
    assert!(err.contains("stripe.create_charge"), "{err}");
    assert_eq!(e.server.count(), 1, "a 4xx is not retried");
}

#[tokio::test]
async fn invalid_inputs_fail_the_step_and_nothing_is_sent() {
    let e = env().await;
    let cases = [
        (
            "stripe",
            json!({"amount": 100, "tax_exempt": "x"}),
            "create_customer",
            vec![
                "`amount`: stripe.create_customer has no such input",
                "`tax_exempt`: \"x\" is not one of exempt, none, reverse",
            ],
        ),
        (
            "stripe",
            json!({"currency": "eur", "customer": "x_1", "statement_descriptor": "d".repeat(23)}),
            "create_charge",
            vec![
                "`amount`: required",
                "`customer`: \"x_1\" is not a customer id (`cus_…`)",
                "`statement_descriptor`: longer than 22 characters (23)",
            ],
        ),
        (
            "stripe",
            json!({"amount": {"amount": "10.5", "currency": "JPY"}, "currency": "jpy"}),
            "create_charge",
            vec!["10.5 JPY has more decimals than JPY allows (0)"],
        ),
        (
            "vipps",
            json!({"reference": "order-0002", "amount": {"amount": "10", "currency": "USD"}, "user_flow": "WEB_REDIRECT"}),
            "epayment_create_payment",
            vec!["USD is not accepted here"],
        ),
    ];
    for (provider, inputs, action, wants) in cases {
        let id = e.start(provider, action, provider, inputs).await;
        let row = e.settle(&id).await;
        assert_eq!(row.state, IssueState::Failed);
        let err = row.error.unwrap();
        assert!(
            err.contains("invalid input") && err.contains("nothing was sent"),
            "{err}"
        );
        for w in wants {
            assert!(err.contains(w), "{w:?} not in {err}");
        }
    }
    assert_eq!(e.server.count(), 0);
    // A test key on a live connection: refused before anything is sent.
    let id = e
        .start(
            "stripe",
            "create_refund",
            "stripe_live",
            json!({"charge": "ch_1"}),
        )
        .await;
    let row = e.settle(&id).await;
    let err = row.error.unwrap();
    assert!(
        err.contains("must start with sk_live_ or rk_live_"),
        "{err}"
    );
    assert!(!err.contains("fake_key"), "the key is never shown: {err}");
    assert_eq!(e.server.count(), 0);
}

#[tokio::test]
async fn a_response_of_the_wrong_type_fails_the_step() {
    let e = env().await;
    e.server.script(
        "POST /v1/charges",
        [Reply::json(200, json!({"id": 17, "paid": "yes"}))],
    );
    let id = e
        .start(
            "stripe",
            "create_charge",
            "stripe",
            json!({"amount": 100, "currency": "eur"}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Failed);
    let err = row.error.unwrap();
    assert!(
        err.contains("output `id`: expected id(stripe.charge) (a string), got 17"),
        "{err}"
    );
    assert!(
        err.contains("output `paid`: expected true or false, got \"yes\""),
        "{err}"
    );
}

#[tokio::test]
async fn paypal_fetches_its_token_once_and_sends_json_bodies() {
    let e = env().await;
    e.server.script(
        "POST /v1/oauth2/token",
        [Reply::json(
            200,
            json!({"access_token": "A21AA-token", "token_type": "Bearer", "expires_in": 32400}),
        )],
    );
    let invoice = json!({"id": "INV2-1", "status": "DRAFT",
        "detail": {"invoice_number": "INV-1", "payment_term": {"due_date": "2025-03-31"}},
        "amount": {"currency_code": "EUR", "value": "25.00"}});
    e.server.script(
        "POST /v2/invoicing/invoices",
        [Reply::json(201, invoice.clone()), Reply::json(201, invoice)],
    );
    let inputs = json!({
        "currency": "EUR", "invoice_number": "INV-1", "due_date": "2025-03-31",
        "recipient_email": "payer@example.com",
        "items": [{"name": "Box", "quantity": "2", "unit_amount": {"amount": "12.5", "currency": "EUR"}, "tax_percent": "21"}]
    });
    for _ in 0..2 {
        let id = e
            .start("paypal", "create_invoice", "paypal", inputs.clone())
            .await;
        let row = e.settle(&id).await;
        assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
        assert_eq!(
            result(&row)["amount"],
            json!({"amount": "25.00", "currency": "EUR"})
        );
        assert_eq!(result(&row)["due_date"], "2025-03-31");
    }
    let token = e.seen("POST /v1/oauth2/token");
    assert_eq!(token.len(), 1, "the token is cached");
    assert_eq!(
        token[0].headers["authorization"],
        "Basic cGF5cGFsLWNsaWVudDpwYXlwYWwtc2VjcmV0"
    );
    let calls = e.seen("POST /v2/invoicing/invoices");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].headers["authorization"], "Bearer A21AA-token");
    assert_eq!(calls[0].headers["prefer"], "return=representation");
    assert!(calls[0].headers.contains_key("paypal-request-id"));
    assert_ne!(
        calls[0].headers["paypal-request-id"], calls[1].headers["paypal-request-id"],
        "two issues, two keys"
    );
    assert_eq!(
        calls[0].json(),
        json!({
            "detail": {"currency_code": "EUR", "invoice_number": "INV-1",
                       "payment_term": {"due_date": "2025-03-31"}},
            "primary_recipients": [{"billing_info": {"email_address": "payer@example.com"}}],
            "items": [{"name": "Box", "quantity": "2",
                       "unit_amount": {"currency_code": "EUR", "value": "12.50"},
                       "tax": {"percent": "21"}}]
        })
    );
    // A 4xx with details.
    e.server.script(
        "POST /v2/invoicing/invoices/INV2-1/send",
        [Reply::json(422, json!({"name": "UNPROCESSABLE_ENTITY", "message": "The requested action could not be performed.", "details": [{"issue": "INVALID_INVOICE_STATUS", "description": "Invoice is already sent."}]}))],
    );
    let id = e
        .start(
            "paypal",
            "send_invoice",
            "paypal",
            json!({"invoice_id": "INV2-1"}),
        )
        .await;
    let err = e.settle(&id).await.error.unwrap();
    assert!(
        err.contains("INVALID_INVOICE_STATUS: Invoice is already sent."),
        "{err}"
    );
    assert_eq!(
        e.seen("POST /v2/invoicing/invoices/INV2-1/send")[0].json(),
        json!({"send_to_invoicer": false, "send_to_recipient": true})
    );
}

#[tokio::test]
async fn vipps_sends_its_headers_and_idempotency_keys() {
    let e = env().await;
    e.server.script(
        "POST /accesstoken/get",
        [Reply::json(
            200,
            json!({"token_type": "Bearer", "expires_in": "86398", "access_token": "eyJ-vipps"}),
        )],
    );
    e.server.script(
        "POST /epayment/v1/payments",
        [Reply::json(
            201,
            json!({"reference": "order-0001", "redirectUrl": "https://pay.example/1"}),
        )],
    );
    let id = e
        .start(
            "vipps",
            "epayment_create_payment",
            "vipps",
            json!({"reference": "order-0001", "amount": {"amount": "12.50", "currency": "NOK"},
                   "user_flow": "WEB_REDIRECT", "return_url": "https://shop.example/back",
                   "payment_description": "Order 1"}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    let token = &e.seen("POST /accesstoken/get")[0];
    for (h, v) in [
        ("client_id", "vipps-client"),
        ("client_secret", "vipps-secret"),
        ("ocp-apim-subscription-key", "vipps-sub-key"),
        ("merchant-serial-number", "123456"),
    ] {
        assert_eq!(token.headers[h], v, "token call header {h}");
    }
    let pay = &e.seen("POST /epayment/v1/payments")[0];
    assert_eq!(pay.headers["authorization"], "Bearer eyJ-vipps");
    assert_eq!(pay.headers["ocp-apim-subscription-key"], "vipps-sub-key");
    assert_eq!(pay.headers["merchant-serial-number"], "123456");
    // ePayment takes at most 50 characters (a longer ledger key is sent as
    // its digest: `http::fit_key`).
    let key = &pay.headers["idempotency-key"];
    assert!(key.len() <= 50, "{key:?} is longer than ePayment allows");
    assert_eq!(
        pay.json(),
        json!({"reference": "order-0001", "amount": {"currency": "NOK", "value": 1250},
               "paymentMethod": {"type": "WALLET"}, "userFlow": "WEB_REDIRECT",
               "returnUrl": "https://shop.example/back", "paymentDescription": "Order 1"})
    );
    // eCom: X-Request-Id; the token is reused.
    let id = e
        .start(
            "vipps",
            "capture_payment",
            "vipps",
            json!({"order_id": "order-0001", "amount": 1250, "transaction_text": "Capture"}),
        )
        .await;
    e.settle(&id).await;
    let cap = &e.seen("POST /ecomm/v2/payments/order-0001/capture")[0];
    assert!(cap.headers.contains_key("x-request-id"));
    // eCom's X-Request-Id is the ledger's key as it is.
    assert!(cap.headers["x-request-id"].ends_with(":call:0"));
    assert!(!cap.headers.contains_key("idempotency-key"));
    // eCom bodies name the sales unit (the spec requires it), from the connection.
    assert_eq!(
        cap.json(),
        json!({"transaction": {"amount": 1250, "transactionText": "Capture"},
               "merchantInfo": {"merchantSerialNumber": "123456"}})
    );
    assert_eq!(e.seen("POST /accesstoken/get").len(), 1);

    // A token refused with 401 (revoked early) is fetched again, once, and the call repeated.
    e.server.script(
        "POST /accesstoken/get",
        [Reply::json(
            200,
            json!({"expires_in": "86398", "access_token": "eyJ-new"}),
        )],
    );
    e.server.script(
        "POST /ecomm/v2/payments/order-0001/refund",
        [Reply::json(401, json!({"message": "token revoked"}))],
    );
    let id = e
        .start(
            "vipps",
            "refund_payment",
            "vipps",
            json!({"order_id": "order-0001", "amount": 100, "transaction_text": "Refund"}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    let refunds = e.seen("POST /ecomm/v2/payments/order-0001/refund");
    let auths: Vec<_> = refunds
        .iter()
        .map(|r| r.headers["authorization"].as_str())
        .collect();
    assert_eq!(auths, ["Bearer eyJ-vipps", "Bearer eyJ-new"]);
    assert_eq!(
        refunds[0].headers["x-request-id"], refunds[1].headers["x-request-id"],
        "the same key on the repeat"
    );
    assert_eq!(e.seen("POST /accesstoken/get").len(), 2);
}

#[tokio::test]
async fn buckaroo_requests_carry_a_valid_hmac_signature() {
    let e = env().await;
    e.server.script(
        "POST /json/Transaction",
        [Reply::json(200, json!({"Key": "ABCDEF0123456789ABCDEF0123456789",
            "Status": {"Code": {"Code": 791, "Description": "Pending processing"}}, "RequestErrors": null}))],
    );
    let id = e
        .start(
            "buckaroo",
            "transaction_request",
            "buckaroo",
            json!({"service": "sepadirectdebit", "amount": "10.50", "currency": "EUR", "invoice": "F-1",
                   "iban": "NL91ABNA0417164300", "customer_name": "J. Jansen", "mandate_reference": "M-1"}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    assert_eq!(result(&row)["status"], "pending_processing");
    let seen = &e.seen("POST /json/Transaction")[0];
    assert_eq!(
        seen.json(),
        json!({"AmountDebit": 10.5, "Currency": "EUR", "Invoice": "F-1",
               "Services": {"ServiceList": [{"Name": "sepadirectdebit", "Action": "Pay", "Parameters": [
                   {"Name": "CustomerAccountName", "Value": "J. Jansen"},
                   {"Name": "CustomerIBAN", "Value": "NL91ABNA0417164300"},
                   {"Name": "MandateReference", "Value": "M-1"}]}]}})
    );
    // The header is `hmac key:signature:nonce:time`, signed over exactly what was sent.
    let auth = &seen.headers["authorization"];
    let parts: Vec<&str> = auth.strip_prefix("hmac ").unwrap().split(':').collect();
    assert_eq!(parts.len(), 4);
    assert_eq!(parts[0], "WEBSITEKEY");
    assert_eq!(parts[3], e.clock.now().as_second().to_string());
    let url = format!("{}/json/Transaction", e.server.url());
    let want = crate::providers::buckaroo::signature(
        "WEBSITEKEY",
        "SECRET",
        "POST",
        &url,
        parts[3].parse().unwrap(),
        parts[2],
        seen.body.as_bytes(),
    );
    assert_eq!(parts[1], want);
    // A validation failure in a 200 answer fails the step.
    e.server.script(
        "POST /json/Transaction",
        [Reply::json(200, json!({"Status": {"Code": {"Code": 491}},
            "RequestErrors": {"ParameterErrors": [{"Name": "CustomerIBAN", "ErrorMessage": "Invalid IBAN"}]}}))],
    );
    let id = e
        .start(
            "buckaroo",
            "transaction_request",
            "buckaroo",
            json!({"service": "ideal", "amount": "5", "invoice": "F-2"}),
        )
        .await;
    let err = e.settle(&id).await.error.unwrap();
    assert!(
        err.contains("Buckaroo status 491: CustomerIBAN: Invalid IBAN"),
        "{err}"
    );
}

#[tokio::test]
async fn a_batch_of_three_issues_is_one_request_file() {
    let e = env().await;
    let outbox = tempfile::tempdir().unwrap();
    let settings = json!({"outbox": outbox.path().to_str().unwrap(), "file_prefix": "DD_",
        "file_layout": "invoice_number,amount,customer_name,iban,mandate_reference,mandate_date,collect_date,description",
        "description_prefix": "Acme", "brand_name": "Acme Telecom", "instance_number": 2});
    let mut ids = Vec::new();
    for (i, name) in ["A. Aa", "B, Bee", "C. Cee"].iter().enumerate() {
        let record = json!({"provider": "buckaroo", "action": "direct_debit_batch", "connection": "buckaroo",
            "batch": true, "settings": settings,
            "inputs": {"invoice_number": format!("F-{i}"), "amount": {"amount": format!("1{i}.5"), "currency": "EUR"},
                       "customer_name": name, "iban": "NL91ABNA0417164300", "mandate_reference": format!("M-{i}"),
                       "description": format!("Invoice F-{i}")}});
        let id = e.engine.start(&record).await.unwrap();
        e.engine.run_due(8).await.unwrap();
        ids.push(id);
    }
    e.engine.run_due(8).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(outbox.path())
        .unwrap()
        .map(|f| f.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(files, ["DD_20250301-000001.csv"]);
    let text = std::fs::read_to_string(outbox.path().join(&files[0])).unwrap();
    assert_eq!(
        text,
        "H,DD_20250301-000001.csv,2025-03-01T09:00:00Z,3,34.50,EUR,WEBSITEKEY,Acme Telecom,2\r\n\
         D,F-0,10.50,A. Aa,NL91ABNA0417164300,M-0,2013-12-11,2025-03-08,Acme Invoice F-0\r\n\
         D,F-1,11.50,\"B, Bee\",NL91ABNA0417164300,M-1,2013-12-11,2025-03-08,Acme Invoice F-1\r\n\
         D,F-2,12.50,C. Cee,NL91ABNA0417164300,M-2,2013-12-11,2025-03-08,Acme Invoice F-2\r\n"
    );
    for (n, id) in ids.iter().enumerate() {
        let row = e.issue(id).await;
        assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
        assert_eq!(
            result(&row),
            json!({"file_name": "DD_20250301-000001.csv", "record_number": n + 1})
        );
    }
    assert_eq!(e.server.count(), 0, "a batch sends no HTTP request");

    // A fourth record opens a new batch, handed over when its schedule comes.
    let record = json!({"provider": "buckaroo", "action": "direct_debit_batch", "connection": "buckaroo",
        "batch": true, "settings": settings,
        "inputs": {"invoice_number": "F-9", "amount": {"amount": "9", "currency": "EUR"},
                   "customer_name": "D", "iban": "NL91ABNA0417164300", "mandate_reference": "M-9"}});
    let id = e.engine.start(&record).await.unwrap();
    e.engine.run_due(8).await.unwrap();
    assert_eq!(e.issue(&id).await.state, IssueState::Waiting);
    // Run it again before the schedule (a poll): still one record, still waiting.
    e.clock.advance(Duration::from_secs(60));
    e.engine.run_due(8).await.unwrap();
    assert_eq!(e.issue(&id).await.state, IssueState::Waiting);
    e.clock.advance(Duration::from_secs(3600));
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    assert_eq!(result(&row)["record_number"], 1);
    let text = std::fs::read_to_string(outbox.path().join("DD_20250301-000002.csv")).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[tokio::test]
async fn a_batch_closed_by_a_worker_that_died_before_writing_it_is_written_by_the_next_look() {
    let e = env().await;
    let outbox = tempfile::tempdir().unwrap();
    let settings = json!({"outbox": outbox.path().to_str().unwrap(), "file_prefix": "DD_",
        "file_layout": "invoice_number,amount", "test_max": 2});
    let record = json!({"provider": "buckaroo", "action": "direct_debit_batch", "connection": "buckaroo",
        "batch": true, "settings": settings,
        "inputs": {"invoice_number": "F-1", "amount": {"amount": "10.00", "currency": "EUR"},
                   "customer_name": "A", "iban": "NL91ABNA0417164300", "mandate_reference": "M-1"}});
    let id = e.engine.start(&record).await.unwrap();
    e.engine.run_due(8).await.unwrap();
    assert_eq!(e.issue(&id).await.state, IssueState::Waiting);
    // Another worker adds the second record, which closes the batch, and
    // dies before it writes the file.
    let now = e.clock.now();
    let closed = e
        .engine
        .store()
        .batch_add(crate::store::BatchAdd {
            provider: "buckaroo".into(),
            action: "direct_debit_batch".into(),
            connection: "buckaroo".into(),
            key: "key-of-the-dead-worker".into(),
            issue: "gone".into(),
            record: json!({"invoice_number": "F-2", "amount": "5.00"}),
            now,
            max: 2,
            close_at: now,
        })
        .await
        .unwrap();
    assert!(matches!(
        closed.state,
        crate::store::BatchState::Closed { .. }
    ));
    let name = "DD_20250301-000001.csv";
    assert!(!outbox.path().join(name).exists());
    // The waiting issue looks again at its poll: it writes the file.
    e.clock.advance(Duration::from_secs(3600));
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    assert_eq!(result(&row), json!({"file_name": name, "record_number": 1}));
    let text = std::fs::read_to_string(outbox.path().join(name)).unwrap();
    assert_eq!(
        text,
        "H,DD_20250301-000001.csv,2025-03-01T09:00:00Z,2,15.00,EUR,WEBSITEKEY,,\r\n\
         D,F-1,10.00\r\nD,F-2,5.00\r\n",
        "the header's time is the close's"
    );
}

/// A step's attempts at a server that always fails: failed, with this many
/// requests seen and the engine's "gave up after N attempts".
async fn attempts_at_a_failing_server(
    e: &Env,
    route: &str,
    record: Value,
    max_attempts: Option<u32>,
) -> (usize, String) {
    e.server.script(
        route,
        (0..10).map(|_| Reply::json(503, json!({"error": {"message": "busy"}}))),
    );
    let before = e.seen(route).len();
    let id = e.start_with_retry(record, max_attempts).await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Failed, "{row:?}");
    (e.seen(route).len() - before, row.error.unwrap_or_default())
}

#[tokio::test]
async fn a_provider_action_makes_the_attempts_its_retry_allows() {
    let e = env().await;
    let refund = json!({"provider": "stripe", "action": "create_refund", "connection": "stripe",
        "inputs": {"charge": "ch_1", "amount": 500}});
    let (n, err) =
        attempts_at_a_failing_server(&e, "POST /v1/refunds", refund.clone(), Some(2)).await;
    assert_eq!(n, 2, "retry: {{ max_attempts: 2 }}: {err}");
    assert!(err.contains("gave up after 2 attempts"), "{err}");
    let (n, err) = attempts_at_a_failing_server(&e, "POST /v1/refunds", refund, None).await;
    assert_eq!(
        n,
        RetryPolicy::default().max_attempts as usize,
        "no retry: the flow's default: {err}"
    );
    // A token that cannot be fetched is retried by the step's policy too.
    let token = json!({"provider": "paypal", "action": "create_invoice", "connection": "paypal",
        "inputs": {"currency": "EUR", "invoice_number": "INV-1", "due_date": "2025-03-31",
                   "recipient_email": "payer@example.com",
                   "items": [{"name": "Box", "quantity": "2", "unit_amount": {"amount": "12.5", "currency": "EUR"}}]}});
    let (n, err) = attempts_at_a_failing_server(&e, "POST /v1/oauth2/token", token, Some(3)).await;
    assert_eq!(n, 3, "{err}");
}

#[tokio::test]
async fn an_http_step_makes_the_attempts_its_retry_allows() {
    let e = env().await;
    let hook = json!({"provider": "http", "action": "", "connection": ""});
    let (n, err) = attempts_at_a_failing_server(&e, "POST /notify", hook.clone(), Some(2)).await;
    assert_eq!(n, 2, "{err}");
    assert!(err.contains("gave up after 2 attempts"), "{err}");
    let (n, _) = attempts_at_a_failing_server(&e, "POST /notify", hook, None).await;
    assert_eq!(n, RetryPolicy::default().max_attempts as usize);
}

#[tokio::test]
async fn a_batch_step_makes_the_attempts_its_retry_allows() {
    let e = env().await;
    // The outbox cannot be made: a file stands where its directory should be.
    // Each record fills its batch, whose file then cannot be written.
    let dir = tempfile::tempdir().unwrap();
    let blocked = dir.path().join("outbox");
    std::fs::write(&blocked, "not a directory").unwrap();
    let record = json!({"provider": "buckaroo", "action": "direct_debit_batch", "connection": "buckaroo",
        "batch": true, "settings": {"outbox": blocked.to_str().unwrap(), "test_max": 1},
        "inputs": {"invoice_number": "F-1", "amount": {"amount": "10", "currency": "EUR"},
                   "customer_name": "A", "iban": "NL91ABNA0417164300", "mandate_reference": "M-1"}});
    for (max, want) in [(Some(2), 2), (None, RetryPolicy::default().max_attempts)] {
        let id = e.start_with_retry(record.clone(), max).await;
        let row = e.settle(&id).await;
        assert_eq!(row.state, IssueState::Failed, "{row:?}");
        let err = row.error.unwrap_or_default();
        assert!(err.contains("cannot create the outbox"), "{err}");
        assert!(
            err.contains(&format!("gave up after {want} attempts")),
            "{err}"
        );
        let retries = e
            .engine
            .store()
            .history(&id)
            .await
            .unwrap()
            .iter()
            .filter(|h| h.event == "retry")
            .count();
        assert_eq!(retries as u32, want - 1, "{max:?}");
    }
    assert_eq!(e.server.count(), 0, "a batch sends no HTTP request");
}

mod stripe_client;

/// The status of an eCom payment is the newest operation of its transaction
/// log by time: a log that Vipps lists out of order still reads right.
#[tokio::test]
async fn vipps_details_read_the_newest_operation_by_time_not_position() {
    let e = env().await;
    e.server.script(
        "POST /accesstoken/get",
        [Reply::json(
            200,
            json!({"expires_in": "86398", "access_token": "eyJ-vipps"}),
        )],
    );
    e.server.script(
        "GET /ecomm/v2/payments/ORD-1/details",
        [Reply::json(
            200,
            json!({"orderId": "ORD-1",
            "transactionSummary": {"capturedAmount": 1000, "refundedAmount": 1000,
                                   "remainingAmountToCapture": 0, "remainingAmountToRefund": 0},
            "transactionLogHistory": [
                {"operation": "CAPTURE", "operationSuccess": true, "amount": 1000,
                 "timeStamp": "2025-01-01T00:05:00Z", "transactionId": "5001234568"},
                {"operation": "REFUND", "operationSuccess": true, "amount": 1000,
                 "timeStamp": "2025-02-20T09:00:00Z", "transactionId": "5001234569"},
                {"operation": "INITIATE", "operationSuccess": true, "amount": 1000,
                 "timeStamp": "2025-01-01T00:00:00Z", "transactionId": "5001234567"}
            ]}),
        )],
    );
    let id = e
        .start(
            "vipps",
            "get_payment_details",
            "vipps",
            json!({"order_id": "ORD-1"}),
        )
        .await;
    let row = e.settle(&id).await;
    assert_eq!(row.state, IssueState::Completed, "{:?}", row.error);
    let r = result(&row);
    assert_eq!(r["status"], "REFUND");
    assert_eq!(r["status_time"], "2025-02-20T09:00:00Z");
    assert_eq!(r["transaction_log"][2]["operation"], "INITIATE");
}
