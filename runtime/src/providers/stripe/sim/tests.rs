//! The simulator over HTTP: every endpoint, declines, idempotency, pagination,
//! signed webhooks, faults, the virtual clock, bad input.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::clock::VirtualClock;
use crate::providers::stripe::signature;

const KEY: &str = "sk_test_sim_tests";

struct T {
    sim: StripeSim,
    http: reqwest::Client,
}

struct Answer {
    status: u16,
    body: Value,
    headers: HeaderMap,
}

impl T {
    async fn new() -> T {
        T::with(SimConfig::default()).await
    }

    async fn with(config: SimConfig) -> T {
        T {
            sim: StripeSim::start(config).await.unwrap(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Answer {
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        Answer {
            status,
            body,
            headers,
        }
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.post_key(path, form, None).await
    }

    async fn post_key(&self, path: &str, form: &[(&str, &str)], key: Option<&str>) -> Answer {
        let mut rb = self
            .http
            .post(format!("{}{path}", self.sim.url()))
            .bearer_auth(KEY)
            .form(form);
        if let Some(k) = key {
            rb = rb.header("Idempotency-Key", k);
        }
        self.send(rb).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(
            self.http
                .get(format!("{}{path}", self.sim.url()))
                .bearer_auth(KEY),
        )
        .await
    }

    async fn ok(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let a = self.post(path, form).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        a.body
    }

    async fn customer(&self, token: &str) -> String {
        let c = self
            .ok(
                "/v1/customers",
                &[("email", "a@example.com"), ("source", token)],
            )
            .await;
        c["id"].as_str().unwrap().to_string()
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn customers_are_created_found_expanded_and_updated() {
    let t = T::new().await;
    let c = t
        .ok(
            "/v1/customers",
            &[
                ("email", "ann@example.com"),
                ("name", "Ann"),
                ("source", "tok_visa"),
                ("metadata[plan]", "11"),
                ("expand[]", "default_source"),
            ],
        )
        .await;
    assert!(id(&c).starts_with("cus_"));
    assert_eq!(c["default_source"]["last4"], "4242");
    assert_eq!(c["default_source"]["brand"], "Visa");
    assert_eq!(c["metadata"], json!({"plan": "11"}));
    t.ok("/v1/customers", &[("email", "bob@example.com")]).await;
    let found = t.get("/v1/customers?email=ann%40example.com").await;
    assert_eq!(found.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(found.body["data"][0]["name"], "Ann");
    let plain = t.get(&format!("/v1/customers/{}", id(&c))).await.body;
    assert!(
        plain["default_source"]
            .as_str()
            .unwrap()
            .starts_with("card_")
    );
    let up = t
        .ok(
            &format!("/v1/customers/{}", id(&c)),
            &[("name", "Ann B"), ("metadata[plan]", "")],
        )
        .await;
    assert_eq!(up["name"], "Ann B");
    assert_eq!(up["metadata"], json!({}));
    assert_eq!(t.get("/v1/customers/cus_nope").await.status, 404);
    let types = t.sim.state().event_types();
    assert!(types.contains(&"customer.created".to_string()), "{types:?}");
    assert!(types.contains(&"customer.updated".to_string()), "{types:?}");
}

#[tokio::test]
async fn products_prices_and_charges() {
    let t = T::new().await;
    let prod = t.ok("/v1/products", &[("name", "Box")]).await;
    let price = t
        .ok(
            "/v1/prices",
            &[
                ("currency", "eur"),
                ("product", &id(&prod)),
                ("unit_amount", "1200"),
                ("recurring[interval]", "month"),
            ],
        )
        .await;
    assert_eq!(price["type"], "recurring");
    assert_eq!(
        t.get(&format!("/v1/prices/{}", id(&price))).await.body["unit_amount"],
        1200
    );
    let cus = t.customer("tok_mastercard").await;
    let ch = t
        .ok(
            "/v1/charges",
            &[("amount", "1500"), ("currency", "eur"), ("customer", &cus)],
        )
        .await;
    assert_eq!(ch["status"], "succeeded");
    assert_eq!(ch["payment_method_details"]["card"]["last4"], "4444");
    assert_eq!(t.get(&format!("/v1/charges/{}", id(&ch))).await.body, ch);
    let direct = t
        .ok(
            "/v1/charges",
            &[
                ("amount", "700"),
                ("currency", "usd"),
                ("source", "tok_visa"),
            ],
        )
        .await;
    assert_eq!(direct["paid"], true);
    let raw = t
        .ok(
            "/v1/charges",
            &[
                ("amount", "700"),
                ("currency", "usd"),
                ("source[object]", "card"),
                ("source[number]", "4242424242424242"),
            ],
        )
        .await;
    assert_eq!(raw["status"], "succeeded");
    assert_eq!(
        t.sim
            .state()
            .charges_per_customer(Some("succeeded"))
            .get(&cus),
        Some(&1)
    );
}

#[tokio::test]
async fn declines_leave_a_failed_charge_and_answer_402() {
    let t = T::new().await;
    for (source, code) in [
        ("tok_chargeDeclined", "generic_decline"),
        ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ] {
        let a = t
            .post(
                "/v1/charges",
                &[("amount", "1000"), ("currency", "eur"), ("source", source)],
            )
            .await;
        assert_eq!(a.status, 402, "{}", a.body);
        assert_eq!(a.body["error"]["type"], "card_error");
        assert_eq!(a.body["error"]["code"], "card_declined");
        assert_eq!(a.body["error"]["decline_code"], code);
        let ch = a.body["error"]["charge"].as_str().unwrap();
        assert_eq!(
            t.get(&format!("/v1/charges/{ch}")).await.body["status"],
            "failed"
        );
    }
    let raw = t
        .post(
            "/v1/charges",
            &[
                ("amount", "1000"),
                ("currency", "eur"),
                ("source[number]", "4000000000000002"),
            ],
        )
        .await;
    assert_eq!(raw.status, 402);
    // Attaching a declining card fails; a customer-fail card attaches and declines when charged.
    assert_eq!(
        t.post("/v1/customers", &[("source", "tok_chargeDeclined")])
            .await
            .status,
        402
    );
    assert_eq!(t.sim.state().count("customer"), 0);
    let cus = t.customer("tok_chargeCustomerFail").await;
    let a = t
        .post(
            "/v1/charges",
            &[("amount", "1000"), ("currency", "eur"), ("customer", &cus)],
        )
        .await;
    assert_eq!(a.status, 402);
    assert_eq!(
        t.sim.state().charges_per_customer(Some("failed")).get(&cus),
        Some(&1)
    );
    assert!(
        t.sim
            .state()
            .event_types()
            .contains(&"charge.failed".to_string())
    );
}

#[tokio::test]
async fn payment_intents_succeed_or_need_a_new_method() {
    let t = T::new().await;
    let pi = t
        .ok(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "eur"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["amount_received"], 2000);
    let ch = pi["latest_charge"].as_str().unwrap();
    assert_eq!(
        t.get(&format!("/v1/charges/{ch}")).await.body["payment_intent"],
        pi["id"]
    );
    let a = t
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "eur"),
                ("payment_method", "pm_card_chargeDeclined"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(a.status, 402);
    let failed = &a.body["error"]["payment_intent"];
    let got = t
        .get(&format!("/v1/payment_intents/{}", id(failed)))
        .await
        .body;
    assert_eq!(got["status"], "requires_payment_method");
    assert_eq!(got["last_payment_error"]["decline_code"], "generic_decline");
    let open = t
        .ok(
            "/v1/payment_intents",
            &[("amount", "100"), ("currency", "eur")],
        )
        .await;
    assert_eq!(open["status"], "requires_payment_method");
    let types = t.sim.state().event_types();
    for ty in ["payment_intent.succeeded", "payment_intent.payment_failed"] {
        assert!(types.contains(&ty.to_string()), "{ty}: {types:?}");
    }
}

#[tokio::test]
async fn the_invoice_path_from_items_to_paid_and_void() {
    let t = T::new().await;
    let cus = t.customer("tok_visa").await;
    t.ok(
        "/v1/invoiceitems",
        &[
            ("customer", &cus),
            ("amount", "1000"),
            ("currency", "eur"),
            ("description", "Box"),
        ],
    )
    .await;
    t.ok(
        "/v1/invoiceitems",
        &[
            ("customer", &cus),
            ("unit_amount", "250"),
            ("quantity", "2"),
            ("currency", "eur"),
        ],
    )
    .await;
    let inv = t
        .ok(
            "/v1/invoices",
            &[
                ("customer", &cus),
                ("pending_invoice_items_behavior", "include"),
            ],
        )
        .await;
    assert_eq!(
        (inv["status"].as_str(), inv["amount_due"].as_i64()),
        (Some("draft"), Some(1500))
    );
    assert_eq!(inv["lines"]["data"].as_array().unwrap().len(), 2);
    let inv_id = id(&inv);
    let fin = t.ok(&format!("/v1/invoices/{inv_id}/finalize"), &[]).await;
    assert_eq!(fin["status"], "open");
    assert!(fin["number"].as_str().unwrap().ends_with("-0001"));
    let page = fin["hosted_invoice_url"].as_str().unwrap();
    assert!(page.starts_with(&t.sim.url()));
    assert!(
        t.http
            .get(page)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("open")
    );
    t.ok(&format!("/v1/invoices/{inv_id}/send"), &[]).await;
    let paid = t.ok(&format!("/v1/invoices/{inv_id}/pay"), &[]).await;
    assert_eq!(
        (
            paid["status"].as_str(),
            paid["amount_paid"].as_i64(),
            paid["paid"].as_bool()
        ),
        (Some("paid"), Some(1500), Some(true))
    );
    let ch = t
        .get(&format!("/v1/charges/{}", paid["charge"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(
        (ch["amount"].as_i64(), ch["invoice"].as_str()),
        (Some(1500), Some(inv_id.as_str()))
    );
    assert_eq!(
        t.post(&format!("/v1/invoices/{inv_id}/void"), &[])
            .await
            .status,
        400
    );
    // A second invoice, without pending items (Stripe's default `exclude`), voided.
    t.ok(
        "/v1/invoiceitems",
        &[("customer", &cus), ("amount", "300"), ("currency", "eur")],
    )
    .await;
    let empty = t
        .ok(
            "/v1/invoices",
            &[
                ("customer", &cus),
                ("collection_method", "send_invoice"),
                ("days_until_due", "30"),
            ],
        )
        .await;
    assert_eq!(empty["amount_due"], 0);
    let inv2 = t
        .ok(
            "/v1/invoices",
            &[
                ("customer", &cus),
                ("collection_method", "send_invoice"),
                ("days_until_due", "30"),
                ("pending_invoice_items_behavior", "include"),
            ],
        )
        .await;
    assert_eq!(inv2["amount_due"], 300);
    t.ok(&format!("/v1/invoices/{}/finalize", id(&inv2)), &[])
        .await;
    let void = t.ok(&format!("/v1/invoices/{}/void", id(&inv2)), &[]).await;
    assert_eq!(void["status"], "void");
    assert_eq!(
        t.get(&format!("/v1/invoices/{}", id(&inv2))).await.body["status"],
        "void"
    );
    let types = t.sim.state().event_types();
    for ty in [
        "invoice.finalized",
        "invoice.sent",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.voided",
    ] {
        assert!(types.contains(&ty.to_string()), "{ty}: {types:?}");
    }
}

#[tokio::test]
async fn an_invoice_paid_out_of_band_by_the_customer() {
    let t = T::new().await;
    let cus = t.customer("tok_visa").await;
    t.ok(
        "/v1/invoiceitems",
        &[("customer", &cus), ("amount", "900"), ("currency", "eur")],
    )
    .await;
    let inv = t
        .ok(
            "/v1/invoices",
            &[
                ("customer", &cus),
                ("collection_method", "send_invoice"),
                ("days_until_due", "7"),
                ("pending_invoice_items_behavior", "include"),
            ],
        )
        .await;
    let inv_id = id(&inv);
    // Not open yet: refused.
    let r = t
        .http
        .post(format!("{}/_sim/invoices/{inv_id}/pay", t.sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    t.ok(&format!("/v1/invoices/{inv_id}/finalize"), &[]).await;
    let r = t
        .http
        .post(format!("{}/_sim/invoices/{inv_id}/pay", t.sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let got = t.get(&format!("/v1/invoices/{inv_id}")).await.body;
    assert_eq!(got["status"], "paid");
    assert_eq!(
        t.sim
            .state()
            .charges_per_customer(Some("succeeded"))
            .get(&cus),
        Some(&1)
    );
    let paid = t.get("/v1/events?type=invoice.paid").await.body;
    assert_eq!(paid["data"][0]["data"]["object"]["id"], json!(inv_id));
}

#[tokio::test]
async fn refunds_for_charges_and_intents() {
    let t = T::new().await;
    let ch = t
        .ok(
            "/v1/charges",
            &[
                ("amount", "1000"),
                ("currency", "eur"),
                ("source", "tok_visa"),
            ],
        )
        .await;
    let r1 = t
        .ok("/v1/refunds", &[("charge", &id(&ch)), ("amount", "400")])
        .await;
    assert_eq!(
        (r1["status"].as_str(), r1["amount"].as_i64()),
        (Some("succeeded"), Some(400))
    );
    let r2 = t.ok("/v1/refunds", &[("charge", &id(&ch))]).await;
    assert_eq!(r2["amount"], 600);
    let again = t.post("/v1/refunds", &[("charge", &id(&ch))]).await;
    assert_eq!(
        (again.status, again.body["error"]["code"].as_str()),
        (400, Some("charge_already_refunded"))
    );
    let c = t.get(&format!("/v1/charges/{}", id(&ch))).await.body;
    assert_eq!(
        (c["refunded"].as_bool(), c["amount_refunded"].as_i64()),
        (Some(true), Some(1000))
    );
    let pi = t
        .ok(
            "/v1/payment_intents",
            &[
                ("amount", "500"),
                ("currency", "eur"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    let r3 = t.ok("/v1/refunds", &[("payment_intent", &id(&pi))]).await;
    assert_eq!(r3["payment_intent"], pi["id"]);
    let list = t.get(&format!("/v1/refunds?charge={}", id(&ch))).await.body;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id(&r2), id(&r1)], "newest first");
    let types = t.sim.state().event_types();
    assert!(types.contains(&"refund.created".into()) && types.contains(&"charge.refunded".into()));
}

#[tokio::test]
async fn events_page_newest_first_with_both_cursors_and_filters() {
    let t = T::new().await;
    for i in 0..7 {
        t.ok("/v1/customers", &[("email", &format!("c{i}@example.com"))])
            .await;
    }
    t.ok(
        "/v1/charges",
        &[
            ("amount", "100"),
            ("currency", "eur"),
            ("source", "tok_visa"),
        ],
    )
    .await;
    let all: Vec<String> = t
        .sim
        .state()
        .objects("event")
        .iter()
        .rev()
        .map(id)
        .collect();
    assert_eq!(all.len(), 8);
    let first = t.get("/v1/events?limit=3").await.body;
    let ids = |v: &Value| -> Vec<String> { v["data"].as_array().unwrap().iter().map(id).collect() };
    assert_eq!(ids(&first), all[0..3]);
    assert_eq!(first["has_more"], true);
    let second = t
        .get(&format!("/v1/events?limit=3&starting_after={}", all[2]))
        .await
        .body;
    assert_eq!(ids(&second), all[3..6]);
    let last = t
        .get(&format!("/v1/events?limit=3&starting_after={}", all[5]))
        .await
        .body;
    assert_eq!(
        (ids(&last), last["has_more"].as_bool()),
        (all[6..8].to_vec(), Some(false))
    );
    // ending_before: the page just newer than the cursor, still newest first.
    let back = t
        .get(&format!("/v1/events?limit=2&ending_before={}", all[5]))
        .await
        .body;
    assert_eq!(
        (ids(&back), back["has_more"].as_bool()),
        (all[3..5].to_vec(), Some(true))
    );
    let top = t
        .get(&format!("/v1/events?limit=5&ending_before={}", all[2]))
        .await
        .body;
    assert_eq!(
        (ids(&top), top["has_more"].as_bool()),
        (all[0..2].to_vec(), Some(false))
    );
    let charges = t
        .get("/v1/events?types[]=charge.succeeded&types[]=charge.failed")
        .await
        .body;
    assert_eq!(ids(&charges), all[0..1]);
    let wildcard = t.get("/v1/events?type=customer.*&limit=100").await.body;
    assert_eq!(ids(&wildcard).len(), 7);
    let now = t.sim.state().objects("event")[0]["created"]
        .as_i64()
        .unwrap();
    assert_eq!(
        ids(&t.get(&format!("/v1/events?created[gt]={now}")).await.body).len(),
        0
    );
    assert_eq!(
        ids(&t
            .get(&format!("/v1/events?created[gte]={now}&limit=100"))
            .await
            .body)
        .len(),
        8
    );
    assert_eq!(
        t.get(&format!("/v1/events/{}", all[0])).await.body["type"],
        "charge.succeeded"
    );
    for bad in [
        "limit=0",
        "limit=101",
        "limit=x",
        "starting_after=evt_nope",
        "type=a&types[]=b",
        "created[foo]=1",
    ] {
        let a = t.get(&format!("/v1/events?{bad}")).await;
        assert!(a.status == 400 || a.status == 404, "{bad}: {}", a.status);
        assert!(a.body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn idempotency_replays_refuses_other_bodies_and_holds_under_concurrency() {
    let t = T::new().await;
    let form = [
        ("amount", "1000"),
        ("currency", "eur"),
        ("source", "tok_visa"),
    ];
    let a = t.post_key("/v1/charges", &form, Some("k1")).await;
    let b = t.post_key("/v1/charges", &form, Some("k1")).await;
    assert_eq!(a.body, b.body);
    assert!(a.headers.get("idempotent-replayed").is_none());
    assert_eq!(b.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(t.sim.state().count("charge"), 1);
    let other = t
        .post_key(
            "/v1/charges",
            &[("amount", "1"), ("currency", "eur"), ("source", "tok_visa")],
            Some("k1"),
        )
        .await;
    assert_eq!(
        (other.status, other.body["error"]["type"].as_str()),
        (400, Some("idempotency_error"))
    );
    // A decline is kept too: the replay is the same 402.
    let d1 = t
        .post_key(
            "/v1/charges",
            &[
                ("amount", "1000"),
                ("currency", "eur"),
                ("source", "tok_chargeDeclined"),
            ],
            Some("k2"),
        )
        .await;
    let d2 = t
        .post_key(
            "/v1/charges",
            &[
                ("amount", "1000"),
                ("currency", "eur"),
                ("source", "tok_chargeDeclined"),
            ],
            Some("k2"),
        )
        .await;
    assert_eq!((d1.status, d2.status), (402, 402));
    assert_eq!(d1.body, d2.body);
    // Twenty concurrent requests with one key: one customer.
    let t = Arc::new(t);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            t.post_key("/v1/customers", &[("email", "x@example.com")], Some("k3"))
                .await
                .body
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(t.sim.state().count("customer"), 1);
    let log = t.sim.state().requests();
    assert_eq!(
        log.iter()
            .filter(|r| r.idempotency_key.as_deref() == Some("k3"))
            .count(),
        20
    );
    assert_eq!(
        log.iter()
            .filter(|r| r.idempotency_key.as_deref() == Some("k3") && !r.replayed)
            .count(),
        1
    );
}

/// A local webhook receiver that checks each signature with `signature::verify`.
async fn receiver(
    secret: Arc<Mutex<String>>,
    fail_first: usize,
) -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let calls = Arc::new(Mutex::new(0usize));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (g, secret, calls) = (g.clone(), secret.clone(), calls.clone());
            async move {
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                if n <= fail_first {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let header = headers
                    .get("stripe-signature")
                    .and_then(|v| v.to_str().ok());
                let t: i64 = header
                    .and_then(|h| h.split(',').next())
                    .and_then(|p| p.strip_prefix("t="))
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let s = secret.lock().unwrap().clone();
                match signature::verify(header, &body, &s, t, signature::TOLERANCE_SECS) {
                    Ok(()) => {
                        g.lock()
                            .unwrap()
                            .push(serde_json::from_slice(&body).unwrap());
                        axum::http::StatusCode::OK
                    }
                    Err(_) => axum::http::StatusCode::BAD_REQUEST,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

fn fast_retries() -> SimConfig {
    SimConfig {
        webhook_backoff: vec![Duration::from_millis(10); 4],
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn webhooks_are_signed_filtered_and_retried() {
    let secret = Arc::new(Mutex::new(String::new()));
    let (url, got) = receiver(secret.clone(), 2).await;
    let t = T::with(fast_retries()).await;
    let we = t
        .ok(
            "/v1/webhook_endpoints",
            &[
                ("url", &url),
                ("enabled_events[]", "charge.succeeded"),
                ("enabled_events[]", "invoice.*"),
            ],
        )
        .await;
    let s = we["secret"].as_str().unwrap();
    assert!(s.starts_with("whsec_"));
    assert!(
        t.get(&format!("/v1/webhook_endpoints/{}", id(&we)))
            .await
            .body
            .get("secret")
            .is_none()
    );
    *secret.lock().unwrap() = s.to_string();
    t.ok("/v1/customers", &[("email", "a@example.com")]).await; // not subscribed
    let ch = t
        .ok(
            "/v1/charges",
            &[
                ("amount", "100"),
                ("currency", "eur"),
                ("source", "tok_visa"),
            ],
        )
        .await;
    assert!(t.sim.settle(Duration::from_secs(5)).await);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["type"], "charge.succeeded");
    assert_eq!(got[0]["data"]["object"]["id"], ch["id"]);
    let d = t.sim.state().deliveries();
    assert_eq!((d[0].outcome.as_str(), d[0].attempts), ("delivered", 3));
    let ev = t
        .get(&format!("/v1/events/{}", got[0]["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(ev["pending_webhooks"], 0);
}

#[tokio::test]
async fn config_webhooks_and_dropped_deliveries() {
    let secret = Arc::new(Mutex::new(String::new()));
    let (url, got) = receiver(secret.clone(), 0).await;
    let mut config = fast_retries();
    config.webhooks.push(WebhookTarget {
        url,
        events: vec!["*".into()],
        secret: Some("whsec_fixed".into()),
    });
    let t = T::with(config).await;
    *secret.lock().unwrap() = t.sim.webhook_secrets()[0].clone();
    assert_eq!(t.sim.webhook_secrets(), ["whsec_fixed"]);
    t.sim.drop_webhooks(WebhookFaults {
        drop_next: 1,
        drop_fraction: 0.0,
    });
    t.ok("/v1/customers", &[("email", "a@example.com")]).await;
    t.ok("/v1/customers", &[("email", "b@example.com")]).await;
    assert!(t.sim.settle(Duration::from_secs(5)).await);
    assert_eq!(got.lock().unwrap().len(), 1);
    // Deliveries run concurrently: which one met the fault is not fixed.
    let mut outcomes: Vec<String> = t
        .sim
        .state()
        .deliveries()
        .into_iter()
        .map(|d| d.outcome)
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["delivered", "dropped"]);
    // Failing endpoints use up their retries.
    let t2 = T::with(fast_retries()).await;
    t2.sim.add_webhook(&WebhookTarget {
        url: "http://127.0.0.1:9/none".into(),
        events: vec!["*".into()],
        secret: None,
    });
    t2.ok("/v1/customers", &[]).await;
    assert!(t2.sim.settle(Duration::from_secs(10)).await);
    let d = t2.sim.state().deliveries();
    assert_eq!((d[0].outcome.as_str(), d[0].attempts), ("failed", 5));
}

/// `pay_invoice` from a thread outside the simulator's runtime (a blocking
/// test driving a built binary) still sends the webhooks; it used to panic
/// ("there is no reactor running").
#[test]
fn pay_invoice_from_outside_the_runtime_sends_the_webhooks() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let secret = Arc::new(Mutex::new("whsec_outside".to_string()));
    let (url, got) = rt.block_on(receiver(secret, 0));
    let mut config = fast_retries();
    config.webhooks.push(WebhookTarget {
        url,
        events: vec!["invoice.paid".into()],
        secret: Some("whsec_outside".into()),
    });
    let t = rt.block_on(T::with(config));
    let inv = rt.block_on(async {
        let cus = id(&t
            .ok(
                "/v1/customers",
                &[("email", "a@example.com"), ("source", "tok_visa")],
            )
            .await);
        let inv = id(&t
            .ok(
                "/v1/invoices",
                &[
                    ("customer", &cus),
                    ("collection_method", "send_invoice"),
                    ("days_until_due", "7"),
                ],
            )
            .await);
        t.ok(
            "/v1/invoiceitems",
            &[
                ("customer", &cus),
                ("invoice", &inv),
                ("amount", "500"),
                ("currency", "eur"),
            ],
        )
        .await;
        t.ok(&format!("/v1/invoices/{inv}/finalize"), &[]).await;
        inv
    });
    // This thread is not in the runtime.
    assert!(tokio::runtime::Handle::try_current().is_err());
    let paid = t.sim.pay_invoice(&inv).unwrap();
    assert_eq!(paid["status"], "paid");
    assert!(rt.block_on(t.sim.settle(Duration::from_secs(10))));
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["type"], "invoice.paid");
    assert_eq!(got[0]["data"]["object"]["id"], inv.as_str());
}

#[tokio::test]
async fn faults_throttle_fail_and_delay() {
    let t = T::new().await;
    t.sim.inject(RequestFault {
        fault: Fault::RateLimit {
            retry_after_secs: 2,
        },
        count: 2,
        path_prefix: Some("/v1/charges".into()),
    });
    t.ok("/v1/customers", &[]).await;
    let a = t
        .post(
            "/v1/charges",
            &[
                ("amount", "100"),
                ("currency", "eur"),
                ("source", "tok_visa"),
            ],
        )
        .await;
    assert_eq!(
        (a.status, a.body["error"]["code"].as_str()),
        (429, Some("rate_limit"))
    );
    assert_eq!(a.headers.get("retry-after").unwrap(), "2");
    assert_eq!(t.post("/v1/charges", &[]).await.status, 429);
    assert_eq!(
        t.post(
            "/v1/charges",
            &[
                ("amount", "100"),
                ("currency", "eur"),
                ("source", "tok_visa")
            ]
        )
        .await
        .status,
        200
    );
    // Over the control endpoint: a 500 and a delay.
    let ctl = |p: &str| format!("{}/_sim/{p}", t.sim.url());
    let r = t
        .http
        .post(ctl("faults"))
        .body(r#"{"kind":"server_error","count":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let e = t.get("/v1/customers").await;
    assert_eq!(
        (e.status, e.body["error"]["type"].as_str()),
        (500, Some("api_error"))
    );
    t.http
        .post(ctl("faults"))
        .body(r#"{"kind":"delay","millis":150}"#)
        .send()
        .await
        .unwrap();
    let start = std::time::Instant::now();
    assert_eq!(t.get("/v1/customers").await.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(150));
    let bad = t
        .http
        .post(ctl("faults"))
        .body(r#"{"kind":"meteor"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    // The state, the log, the reset.
    let state: Value = t
        .http
        .get(ctl("state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["counts"]["charge"], 1);
    let log: Value = t
        .http
        .get(ctl("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["data"].as_array().unwrap().len(), 6);
    t.http.post(ctl("reset")).send().await.unwrap();
    assert_eq!(t.sim.state().count("charge"), 0);
}

#[tokio::test]
async fn timestamps_come_from_the_virtual_clock() {
    let start: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
    let clock = VirtualClock::new(start);
    let t = T::with(SimConfig {
        clock: Arc::new(clock.clone()),
        ..SimConfig::default()
    })
    .await;
    let c = t.ok("/v1/customers", &[]).await;
    assert_eq!(c["created"], start.as_second());
    clock.advance(Duration::from_secs(3 * 86_400));
    let ch = t
        .ok(
            "/v1/charges",
            &[
                ("amount", "100"),
                ("currency", "eur"),
                ("source", "tok_visa"),
            ],
        )
        .await;
    assert_eq!(ch["created"], start.as_second() + 3 * 86_400);
}

#[tokio::test]
async fn bad_requests_get_stripe_errors_never_a_panic() {
    let t = T::new().await;
    let none = t
        .send(t.http.get(format!("{}/v1/customers", t.sim.url())))
        .await;
    assert_eq!(
        (none.status, none.body["error"]["type"].as_str()),
        (401, Some("invalid_request_error"))
    );
    let live = t
        .send(
            t.http
                .get(format!("{}/v1/customers", t.sim.url()))
                .bearer_auth("sk_live_abcdef1234"),
        )
        .await;
    assert_eq!(live.status, 401);
    assert!(
        !live.body.to_string().contains("abcdef"),
        "the key is not echoed"
    );
    for (path, form) in [
        (
            "/v1/charges",
            vec![("amount", "x"), ("currency", "eur"), ("source", "tok_visa")],
        ),
        (
            "/v1/charges",
            vec![
                ("amount", "100"),
                ("currency", "euro"),
                ("source", "tok_visa"),
            ],
        ),
        ("/v1/charges", vec![("amount", "100"), ("currency", "eur")]),
        (
            "/v1/charges",
            vec![
                ("amount", "100"),
                ("currency", "eur"),
                ("source", "tok_unknown"),
            ],
        ),
        ("/v1/customers", vec![("metadata[a][b]", "1")]),
        ("/v1/customers", vec![("bogus", "1")]),
        ("/v1/customers", vec![("email", "a"), ("email[x]", "b")]),
        ("/v1/invoices", vec![]),
        ("/v1/refunds", vec![]),
        (
            "/v1/prices",
            vec![
                ("currency", "eur"),
                ("product", "prod_x"),
                ("unit_amount", "1"),
            ],
        ),
        ("/v1/nothing", vec![]),
    ] {
        let a = t.post(path, &form).await;
        assert!(
            matches!(a.status, 400 | 402 | 404),
            "{path} {form:?}: {}",
            a.status
        );
        assert!(a.body["error"]["message"].is_string(), "{}", a.body);
    }
    let raw = t
        .send(
            t.http
                .post(format!("{}/v1/customers", t.sim.url()))
                .bearer_auth(KEY)
                .body("a[=%ZZ&&[]="),
        )
        .await;
    assert_eq!(raw.status, 400);
    let json_body = t
        .send(
            t.http
                .post(format!("{}/v1/customers", t.sim.url()))
                .bearer_auth(KEY)
                .body("{\"email\":1}"),
        )
        .await;
    assert_eq!(json_body.status, 400);
    let bytes = t
        .send(
            t.http
                .post(format!("{}/v1/customers", t.sim.url()))
                .bearer_auth(KEY)
                .body(vec![0xff, 0xfe]),
        )
        .await;
    assert_eq!(bytes.status, 400);
}

#[tokio::test]
async fn calls_from_outside_the_flow_skip_faults_and_the_request_log_but_make_events() {
    let t = T::new().await;
    t.sim.inject(RequestFault {
        fault: Fault::ServerError,
        count: 1,
        path_prefix: None,
    });
    let charge = t
        .sim
        .call(
            "POST",
            "/v1/charges",
            json!({"amount": "700", "currency": "eur", "source": "tok_visa"}),
        )
        .unwrap();
    assert_eq!(charge["status"], "succeeded");
    let refund = t
        .sim
        .call("POST", "/v1/refunds", json!({"charge": charge["id"]}))
        .unwrap();
    assert_eq!(refund["amount"], 700);
    let e = t
        .sim
        .call("POST", "/v1/refunds", json!({"charge": "ch_missing"}))
        .unwrap_err();
    assert_eq!(e.status, 404);
    assert!(t.sim.state().requests().is_empty());
    let types = t.sim.state().event_types();
    assert!(types.contains(&"charge.succeeded".to_string()), "{types:?}");
    assert!(types.contains(&"refund.created".to_string()), "{types:?}");
    // The fault is still there for the flow's next request.
    assert_eq!(t.post("/v1/customers", &[]).await.status, 500);
}
