//! The simulator over HTTP: the token endpoint and expiry on the virtual clock,
//! the invoice life cycle, idempotency, signed webhooks and their verification,
//! the event list, faults.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::clock::VirtualClock;
use crate::testing::TestServer;

struct T {
    sim: PayPalSim,
    http: reqwest::Client,
    token: String,
}

async fn answer(rb: reqwest::RequestBuilder) -> (u16, Value) {
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl T {
    async fn with(config: SimConfig) -> T {
        let sim = PayPalSim::start(config).await.unwrap();
        let http = reqwest::Client::new();
        let (status, body) = answer(
            http.post(format!("{}/v1/oauth2/token", sim.url()))
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                .form(&[("grant_type", "client_credentials")]),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap().to_string();
        T { sim, http, token }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        request_id: Option<&str>,
    ) -> (u16, Value) {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.sim.url()))
            .bearer_auth(&self.token)
            .header("Prefer", "return=representation");
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        if let Some(k) = request_id {
            rb = rb.header("PayPal-Request-Id", k);
        }
        answer(rb).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body), None)
            .await
    }

    async fn create(&self, number: &str) -> String {
        let (s, inv) = self
            .post(
                "/v2/invoicing/invoices",
                json!({
                    "detail": {"currency_code": "EUR", "invoice_number": number},
                    "primary_recipients": [{"billing_info": {"email_address": "anna@example.com"}}],
                    "items": [{"name": "Box", "quantity": "2", "unit_amount": {"currency_code": "EUR", "value": "12.50"}}]
                }),
            )
            .await;
        assert_eq!(s, 201, "{inv}");
        inv["id"].as_str().unwrap().to_string()
    }
}

fn clock() -> VirtualClock {
    VirtualClock::new(Timestamp::from_second(1_735_689_600).unwrap())
}

#[tokio::test]
async fn tokens_need_the_apps_credentials_and_expire_on_the_simulators_clock() {
    let clock = clock();
    let t = T::with(SimConfig {
        clock: Arc::new(clock.clone()),
        token_ttl: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await;
    let (s, body) = answer(
        t.http
            .post(format!("{}/v1/oauth2/token", t.sim.url()))
            .basic_auth(CLIENT_ID, Some("wrong"))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_client")));
    let (s, body) = t
        .call(
            reqwest::Method::GET,
            "/v2/invoicing/invoices/INV2-NONE",
            None,
            None,
        )
        .await;
    assert_eq!(
        (s, body["name"].as_str()),
        (404, Some("RESOURCE_NOT_FOUND"))
    );
    clock.advance(Duration::from_secs(3601));
    let (s, body) = t
        .call(
            reqwest::Method::GET,
            "/v2/invoicing/invoices/INV2-NONE",
            None,
            None,
        )
        .await;
    assert_eq!(
        (s, body["name"].as_str()),
        (401, Some("AUTHENTICATION_FAILURE"))
    );
    let (s, _) = answer(
        t.http
            .get(format!("{}/v2/invoicing/invoices", t.sim.url()))
            .bearer_auth("A21AAforged"),
    )
    .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn an_invoice_is_created_once_per_number_sent_reminded_and_cancelled() {
    let t = T::with(SimConfig::default()).await;
    let id = t.create("D-0001").await;
    let (s, dup) = t
        .post(
            "/v2/invoicing/invoices",
            json!({"detail": {"currency_code": "EUR", "invoice_number": "D-0001"}}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(dup["details"][0]["issue"], "DUPLICATE_INVOICE_NUMBER");
    let (s, link) = t
        .post(
            &format!("/v2/invoicing/invoices/{id}/send"),
            json!({"send_to_recipient": true}),
        )
        .await;
    assert_eq!(s, 200, "{link}");
    assert!(link["href"].as_str().unwrap().contains(&id));
    let (s, _) = t
        .post(&format!("/v2/invoicing/invoices/{id}/remind"), json!({}))
        .await;
    assert_eq!(s, 204);
    let (s, found) = t
        .post(
            "/v2/invoicing/search-invoices?total_required=true",
            json!({"status": ["SENT"], "invoice_number": "D-0001"}),
        )
        .await;
    assert_eq!((s, found["total_items"].as_u64()), (200, Some(1)));
    let (s, _) = t
        .post(&format!("/v2/invoicing/invoices/{id}/cancel"), json!({}))
        .await;
    assert_eq!(s, 204);
    let (s, inv) = t
        .call(
            reqwest::Method::GET,
            &format!("/v2/invoicing/invoices/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!((s, inv["status"].as_str()), (200, Some("CANCELLED")));
    assert_eq!(inv["amount"]["value"], "25.00");
    let (s, _) = t
        .post(&format!("/v2/invoicing/invoices/{id}/cancel"), json!({}))
        .await;
    assert_eq!(s, 422, "a cancelled invoice is not cancelled again");
    let (s, _) = t
        .call(
            reqwest::Method::DELETE,
            &format!("/v2/invoicing/invoices/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 400, "only drafts are deleted");
    let draft = t.create("D-0002").await;
    let (s, _) = t
        .call(
            reqwest::Method::DELETE,
            &format!("/v2/invoicing/invoices/{draft}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, bad) = answer(
        t.http
            .post(format!("{}/v2/invoicing/invoices", t.sim.url()))
            .bearer_auth(&t.token)
            .body("{not json"),
    )
    .await;
    assert_eq!(
        (s, bad["details"][0]["issue"].as_str()),
        (400, Some("MALFORMED_REQUEST_JSON"))
    );
}

#[tokio::test]
async fn a_request_id_does_not_make_invoicing_idempotent() {
    // PayPal's invoicing spec declares no `PayPal-Request-Id`: a repeated
    // create is applied again, and its number is then a duplicate.
    let t = T::with(SimConfig::default()).await;
    let body = json!({"detail": {"currency_code": "EUR", "invoice_number": "D-0009"}});
    let (s1, _) = t
        .call(
            reqwest::Method::POST,
            "/v2/invoicing/invoices",
            Some(body.clone()),
            Some("req-1"),
        )
        .await;
    let (s2, b) = t
        .call(
            reqwest::Method::POST,
            "/v2/invoicing/invoices",
            Some(body),
            Some("req-1"),
        )
        .await;
    assert_eq!((s1, s2), (201, 422));
    assert_eq!(b["details"][0]["issue"], "DUPLICATE_INVOICE_NUMBER");
    assert_eq!(t.sim.state().invoices().len(), 1);
    assert!(!t.sim.state().requests().last().unwrap().replayed);
}

#[tokio::test]
async fn a_lost_answer_is_applied_but_never_arrives() {
    let t = T::with(SimConfig::default()).await;
    t.sim.inject(RequestFault {
        fault: Fault::LoseAnswer,
        count: 1,
        path_prefix: Some("/v2/invoicing/invoices".into()),
    });
    let sent = t
        .http
        .post(format!("{}/v2/invoicing/invoices", t.sim.url()))
        .bearer_auth(&t.token)
        .json(&json!({"detail": {"currency_code": "EUR", "invoice_number": "L-1"}}))
        .send()
        .await;
    let read = match sent {
        Ok(r) => r.text().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(read.is_err(), "the answer arrived");
    assert_eq!(t.sim.state().invoices().len(), 1, "the create was applied");
}

#[tokio::test]
async fn webhooks_carry_transmission_headers_that_only_the_verify_endpoint_accepts() {
    let receiver = TestServer::start_with(Duration::ZERO, true).await;
    let t = T::with(SimConfig {
        webhooks: vec![WebhookTarget {
            url: format!("{}/webhooks/paypal", receiver.url()),
            id: WEBHOOK_ID.into(),
        }],
        ..SimConfig::default()
    })
    .await;
    let id = t.create("D-0001").await;
    t.post(&format!("/v2/invoicing/invoices/{id}/send"), json!({}))
        .await;
    t.sim.pay_invoice(&id, None, "PAYPAL").unwrap();
    assert!(t.sim.settle(Duration::from_secs(5)).await);
    let seen = receiver.seen();
    let paid = seen
        .iter()
        .find(|s| s.json()["event_type"] == "INVOICING.INVOICE.PAID")
        .expect("the PAID event was delivered");
    assert_eq!(paid.json()["resource"]["invoice"]["id"], id.as_str());
    let h = |k: &str| {
        paid.headers
            .get(k)
            .cloned()
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let request = |event: Value, webhook_id: &str| {
        json!({
            "transmission_id": h("paypal-transmission-id"),
            "transmission_time": h("paypal-transmission-time"),
            "transmission_sig": h("paypal-transmission-sig"),
            "cert_url": h("paypal-cert-url"),
            "auth_algo": h("paypal-auth-algo"),
            "webhook_id": webhook_id,
            "webhook_event": event,
        })
    };
    let (s, v) = t
        .post(
            "/v1/notifications/verify-webhook-signature",
            request(paid.json(), WEBHOOK_ID),
        )
        .await;
    assert_eq!(
        (s, v["verification_status"].as_str()),
        (200, Some("SUCCESS"))
    );
    let mut forged = paid.json();
    forged["resource"]["invoice"]["payments"]["paid_amount"]["value"] = json!("99999.00");
    let (_, v) = t
        .post(
            "/v1/notifications/verify-webhook-signature",
            request(forged, WEBHOOK_ID),
        )
        .await;
    assert_eq!(v["verification_status"], "FAILURE");
    let (_, v) = t
        .post(
            "/v1/notifications/verify-webhook-signature",
            request(paid.json(), "WH-SOMEONE-ELSE"),
        )
        .await;
    assert_eq!(v["verification_status"], "FAILURE");
    let d = t.sim.state().deliveries();
    assert!(d.iter().all(|d| d.outcome == "delivered"), "{d:?}");
}

#[tokio::test]
async fn the_event_list_pages_newest_first_within_the_time_window() {
    let clock = clock();
    let t = T::with(SimConfig {
        clock: Arc::new(clock.clone()),
        ..SimConfig::default()
    })
    .await;
    for n in 1..=3 {
        t.create(&format!("D-000{n}")).await;
        clock.advance(Duration::from_secs(60));
    }
    let (s, page) = t
        .call(
            reqwest::Method::GET,
            "/v1/notifications/webhooks-events?page_size=2&start_time=2025-01-01T00:00:00Z",
            None,
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(page["count"], 2);
    assert_eq!(
        page["events"][0]["resource"]["invoice"]["detail"]["invoice_number"],
        "D-0003"
    );
    let next = page["links"][0]["href"].as_str().unwrap();
    assert!(next.contains("page=2"), "{next}");
    let (_, second) = answer(t.http.get(next).bearer_auth(&t.token)).await;
    assert_eq!(second["count"], 1);
    assert!(second["links"].as_array().unwrap().is_empty());
    let (_, late) = t
        .call(reqwest::Method::GET, "/v1/notifications/webhooks-events?start_time=2025-01-01T00:01:00Z&end_time=2025-01-01T00:01:30Z", None, None)
        .await;
    assert_eq!(late["count"], 1);
}

#[tokio::test]
async fn faults_answer_429_with_retry_after_then_500_then_clear() {
    let t = T::with(SimConfig::default()).await;
    t.sim.inject(RequestFault {
        fault: Fault::RateLimit {
            retry_after_secs: 2,
        },
        count: 1,
        path_prefix: Some("/v2/invoicing".into()),
    });
    t.sim.inject(RequestFault {
        fault: Fault::ServerError,
        count: 1,
        path_prefix: None,
    });
    let r = t
        .http
        .get(format!("{}/v2/invoicing/invoices", t.sim.url()))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    let (s, body) = t
        .call(reqwest::Method::GET, "/v2/invoicing/invoices", None, None)
        .await;
    assert_eq!(
        (s, body["name"].as_str()),
        (500, Some("INTERNAL_SERVER_ERROR"))
    );
    let (s, _) = t
        .call(reqwest::Method::GET, "/v2/invoicing/invoices", None, None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = answer(
        t.http
            .post(format!("{}/_sim/faults/webhooks", t.sim.url()))
            .json(&json!({"drop_next": 1})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, state) = answer(t.http.get(format!("{}/_sim/state", t.sim.url()))).await;
    assert_eq!(s, 200);
    assert_eq!(state["requests"], 4);
}

#[tokio::test]
async fn the_payer_pays_in_part_over_the_control_route_and_webhooks_can_be_dropped() {
    let receiver = TestServer::start_with(Duration::ZERO, true).await;
    let t = T::with(SimConfig {
        webhooks: vec![WebhookTarget {
            url: format!("{}/hook", receiver.url()),
            id: WEBHOOK_ID.into(),
        }],
        ..SimConfig::default()
    })
    .await;
    let id = t.create("D-0001").await;
    t.post(&format!("/v2/invoicing/invoices/{id}/send"), json!({}))
        .await;
    t.sim.drop_webhooks(WebhookFaults {
        drop_next: 1,
        drop_fraction: 0.0,
    });
    let pay = format!("{}/_sim/invoices/{id}/pay", t.sim.url());
    let (s, inv) = answer(
        t.http
            .post(&pay)
            .json(&json!({"amount": "5.00", "method": "BANK_TRANSFER"})),
    )
    .await;
    assert_eq!(
        (s, inv["status"].as_str()),
        (200, Some("PARTIALLY_PAID")),
        "{inv}"
    );
    let (s, e) = answer(t.http.post(&pay).json(&json!({"amount": "50.00"}))).await;
    assert_eq!(
        (s, e["details"][0]["issue"].as_str()),
        (422, Some("INVALID_PAYMENT_AMOUNT"))
    );
    let (s, inv) = answer(t.http.post(&pay).json(&json!({}))).await;
    assert_eq!((s, inv["status"].as_str()), (200, Some("PAID")));
    assert_eq!(inv["payments"]["paid_amount"]["value"], "25.00");
    assert!(t.sim.settle(Duration::from_secs(5)).await);
    let outcomes: Vec<(String, String)> = t
        .sim
        .state()
        .deliveries()
        .into_iter()
        .map(|d| (d.event_type, d.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            (
                "INVOICING.INVOICE.CREATED".to_string(),
                "delivered".to_string()
            ),
            ("INVOICING.INVOICE.PARTIALLY_PAID".into(), "dropped".into()),
            ("INVOICING.INVOICE.PAID".into(), "delivered".into()),
        ]
    );
}
