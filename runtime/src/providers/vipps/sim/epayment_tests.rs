//! ePayment over loopback: a payment from creation to two partial refunds
//! with its event log in order, `Idempotency-Key` replays and conflicts, a
//! used reference refused, cancel, and webhooks signed so the runtime's own
//! verifier accepts them (and refuses them altered), or dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::tests::Api;
use super::*;
use crate::providers::vipps::webhook;

/// An ePayment client: a call's key goes in `Idempotency-Key`.
async fn epayment_api(base: &str) -> Api {
    Api::with_key_header(base, "Idempotency-Key").await
}

fn create(reference: &str, value: i64) -> Value {
    json!({"amount": {"value": value, "currency": "NOK"},
           "paymentMethod": {"type": "WALLET"},
           "customer": {"phoneNumber": "4791234567"},
           "reference": reference, "userFlow": "WEB_REDIRECT",
           "returnUrl": "https://shop.example.no/done",
           "paymentDescription": "Socks"})
}

fn modification(value: i64) -> Value {
    json!({"modificationAmount": {"value": value, "currency": "NOK"}})
}

const PAY: &str = "/epayment/v1/payments";

#[tokio::test]
async fn a_payment_from_creation_to_two_partial_refunds_and_its_event_log() {
    let sim = VippsSim::start(SimConfig::default()).await.unwrap();
    let api = epayment_api(&sim.url()).await;
    let (s, v) = api
        .call(
            "POST",
            PAY,
            Some(create("pay-0001", 1000)),
            Some("k-create"),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["reference"], "pay-0001");
    assert!(v["redirectUrl"].as_str().unwrap().starts_with("http"));
    let (s, v) = api
        .call("GET", &format!("{PAY}/pay-0001"), None, None)
        .await;
    assert_eq!((s, &v["state"]), (200, &json!("CREATED")));
    // Nothing to capture before the payer answers.
    let cap = format!("{PAY}/pay-0001/capture");
    assert_eq!(
        api.call("POST", &cap, Some(modification(600)), Some("k-cap0"))
            .await
            .0,
        400
    );
    let got = sim.approve("pay-0001").unwrap();
    assert_eq!(got["state"], "AUTHORIZED");
    assert!(sim.approve("pay-0001").is_err(), "the payer answers once");
    let (s, v) = api
        .call("POST", &cap, Some(modification(600)), Some("k-cap1"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["aggregate"]["capturedAmount"]["value"], 600);
    // More than is left to capture is refused.
    assert_eq!(
        api.call("POST", &cap, Some(modification(500)), Some("k-cap2"))
            .await
            .0,
        400
    );
    let refund = format!("{PAY}/pay-0001/refund");
    for (key, value, total) in [("k-ref1", 200, 200), ("k-ref2", 300, 500)] {
        let (s, v) = api
            .call("POST", &refund, Some(modification(value)), Some(key))
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["aggregate"]["refundedAmount"]["value"], total);
    }
    let (s, v) = api
        .call("POST", &refund, Some(modification(101)), Some("k-ref3"))
        .await;
    assert_eq!(
        (s, &v["status"]),
        (400, &json!(400)),
        "only 100 is left: {v}"
    );
    assert!(v["traceId"].is_string() && v["title"].is_string());
    let (s, log) = api
        .call("GET", &format!("{PAY}/pay-0001/events"), None, None)
        .await;
    assert_eq!(s, 200);
    let log = log.as_array().unwrap();
    let names: Vec<(&str, i64)> = log
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["amount"]["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("CREATED", 1000),
            ("AUTHORIZED", 1000),
            ("CAPTURED", 600),
            ("REFUNDED", 200),
            ("REFUNDED", 300)
        ]
    );
    let psp: std::collections::HashSet<&str> = log
        .iter()
        .map(|e| e["pspReference"].as_str().unwrap())
        .collect();
    assert_eq!(psp.len(), 5, "each event its own pspReference");
    let times: Vec<jiff::Timestamp> = log
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(log[2]["idempotencyKey"], "k-cap1");
    assert!(
        log.iter()
            .all(|e| e["success"] == true && e["reference"] == "pay-0001")
    );
    // Unknown payments are a 404 Problem.
    let (s, v) = api
        .call("GET", &format!("{PAY}/pay-none1/events"), None, None)
        .await;
    assert_eq!((s, &v["status"]), (404, &json!(404)));
}

#[tokio::test]
async fn an_idempotency_key_replays_its_answer_and_a_used_reference_is_refused() {
    let sim = VippsSim::start(SimConfig::default()).await.unwrap();
    let api = epayment_api(&sim.url()).await;
    let first = api
        .call("POST", PAY, Some(create("pay-idem-1", 1000)), Some("k1"))
        .await;
    assert_eq!(first.0, 201);
    // The same key and body: the same answer, no second payment.
    let again = api
        .call("POST", PAY, Some(create("pay-idem-1", 1000)), Some("k1"))
        .await;
    assert_eq!(again, first);
    assert_eq!(sim.epayments().len(), 1);
    let last = sim.requests().last().unwrap().clone();
    assert!(last.replayed);
    assert_eq!(last.request_id.as_deref(), Some("k1"));
    // The same key with another body: a conflict.
    let (s, v) = api
        .call("POST", PAY, Some(create("pay-idem-1", 2000)), Some("k1"))
        .await;
    assert_eq!((s, &v["status"]), (409, &json!(409)));
    // The reference again under another key: refused.
    let (s, _) = api
        .call("POST", PAY, Some(create("pay-idem-1", 1000)), Some("k2"))
        .await;
    assert_eq!(s, 409);
    assert_eq!(sim.epayments().len(), 1);
    // No key: refused before anything happens.
    let (s, _) = api
        .call("POST", PAY, Some(create("pay-idem-2", 1000)), None)
        .await;
    assert_eq!(s, 400);
    assert_eq!(sim.epayments().len(), 1);
    // A capture replayed by its key captures once.
    sim.approve("pay-idem-1").unwrap();
    let cap = format!("{PAY}/pay-idem-1/capture");
    let a = api
        .call("POST", &cap, Some(modification(400)), Some("c1"))
        .await;
    let b = api
        .call("POST", &cap, Some(modification(400)), Some("c1"))
        .await;
    assert_eq!((a.0, &a), (200, &b));
    assert_eq!(sim.epayments()[0].captured, 400);
    // Bad bodies and a wrong token.
    let mut bad = create("short", 1000);
    assert_eq!(
        api.call("POST", PAY, Some(bad.clone()), Some("b1")).await.0,
        400
    );
    bad = create("pay-idem-3", 1000);
    bad["amount"]["currency"] = json!("SEK");
    assert_eq!(api.call("POST", PAY, Some(bad), Some("b2")).await.0, 400);
    let forged = Api {
        base: sim.url(),
        token: "forged".into(),
        key_header: "Idempotency-Key",
    };
    assert_eq!(
        forged
            .call("GET", &format!("{PAY}/pay-idem-1"), None, None)
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn cancel_terminates_an_unanswered_payment_and_releases_a_reservation() {
    let sim = VippsSim::start(SimConfig::default()).await.unwrap();
    let api = epayment_api(&sim.url()).await;
    for r in ["pay-can-1", "pay-can-2", "pay-can-3"] {
        assert_eq!(
            api.call("POST", PAY, Some(create(r, 1000)), Some(r))
                .await
                .0,
            201
        );
    }
    let cancel = |r: &str| format!("{PAY}/{r}/cancel");
    let (s, v) = api
        .call("POST", &cancel("pay-can-1"), None, Some("x1"))
        .await;
    assert_eq!((s, &v["state"]), (200, &json!("TERMINATED")));
    assert!(sim.approve("pay-can-1").is_err(), "too late to answer");
    sim.approve("pay-can-2").unwrap();
    let (s, v) = api
        .call("POST", &cancel("pay-can-2"), None, Some("x2"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["aggregate"]["cancelledAmount"]["value"], 1000);
    sim.approve("pay-can-3").unwrap();
    api.call(
        "POST",
        &format!("{PAY}/pay-can-3/capture"),
        Some(modification(1000)),
        Some("x3"),
    )
    .await;
    assert_eq!(
        api.call("POST", &cancel("pay-can-3"), None, Some("x4"))
            .await
            .0,
        400,
        "nothing is cancelled once captured"
    );
    // Refunded in the portal: a REFUNDED event without an idempotency key.
    let v = sim.refund("pay-can-3", Some(300)).unwrap();
    assert_eq!(v["aggregate"]["refundedAmount"]["value"], 300);
    let log = sim.epayment_events("pay-can-3").unwrap();
    let last = log.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["name"], &last["amount"]["value"]),
        (&json!("REFUNDED"), &json!(300))
    );
    assert!(last.get("idempotencyKey").is_none());
    assert_eq!(
        sim.refund("pay-can-3", None).unwrap()["aggregate"]["refundedAmount"]["value"],
        1000
    );
    // Rejected by the payer: aborted.
    api.call("POST", PAY, Some(create("pay-can-4", 1000)), Some("x5"))
        .await;
    assert_eq!(sim.reject("pay-can-4").unwrap()["state"], "ABORTED");
    let names: Vec<Value> = sim
        .epayment_events("pay-can-2")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("CREATED"), json!("AUTHORIZED"), json!("CANCELLED")]
    );
}

type Got = Arc<Mutex<Vec<(String, HashMap<String, String>, Vec<u8>)>>>;

/// A merchant's webhook endpoint that keeps each delivery: its path and
/// query, headers and body.
async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let g = g.clone();
            async move {
                let h = headers
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))
                    })
                    .collect();
                let pq = uri
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                g.lock().unwrap().push((pq, h, body.to_vec()));
                "ok"
            }
        },
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/webhooks/vipps?conn=shop",
        l.local_addr().unwrap()
    );
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (url, got)
}

use std::collections::HashMap;

#[tokio::test]
async fn webhooks_are_signed_as_the_runtime_verifies_and_droppable() {
    let (url, got) = receiver().await;
    let sim = VippsSim::start(SimConfig::default()).await.unwrap();
    let api = epayment_api(&sim.url()).await;
    // Registered over the Webhooks API, for two event types.
    let (s, reg) = api
        .call(
            "POST",
            "/webhooks/v1/webhooks",
            Some(json!({"url": url, "events": ["epayments.payment.authorized.v1", "epayments.payment.captured.v1"]})),
            None,
        )
        .await;
    assert_eq!(s, 201, "{reg}");
    let secret = reg["secret"].as_str().unwrap().to_string();
    assert!(reg["id"].as_str().unwrap().len() == 36);
    api.call("POST", PAY, Some(create("pay-hook-1", 1000)), Some("h1"))
        .await;
    sim.approve("pay-hook-1").unwrap();
    api.call(
        "POST",
        &format!("{PAY}/pay-hook-1/capture"),
        Some(modification(1000)),
        Some("h2"),
    )
    .await;
    assert!(sim.settle(Duration::from_secs(5)).await);
    let deliveries = got.lock().unwrap().clone();
    let names: Vec<String> = deliveries
        .iter()
        .map(|d| {
            serde_json::from_slice::<Value>(&d.2).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        ["AUTHORIZED", "CAPTURED"],
        "CREATED was not subscribed"
    );
    let now = jiff::Timestamp::now();
    for (pq, h, body) in &deliveries {
        assert_eq!(pq, "/webhooks/vipps?conn=shop");
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["msn"], MSN);
        let header = |k: &str| h.get(k).cloned();
        webhook::verify(&header, pq, body, &secret, now).unwrap();
        // Any change is refused: the body, the path, the secret.
        let mut tampered = body.clone();
        let last = tampered.len() - 2;
        tampered[last] ^= 1;
        assert!(webhook::verify(&header, pq, &tampered, &secret, now).is_err());
        assert!(webhook::verify(&header, "/webhooks/vipps", body, &secret, now).is_err());
        assert!(webhook::verify(&header, pq, body, "another-secret", now).is_err());
        let later = crate::clock::add(now, Duration::from_secs(301));
        assert!(webhook::verify(&header, pq, body, &secret, later).is_err());
        // The event reads as the runtime reads it.
        let mut e = v.clone();
        webhook::normalize(&mut e).unwrap();
        let head = webhook::event_head(&e).unwrap();
        assert_eq!(head.object_id, "pay-hook-1");
    }
    // A dropped delivery is not sent.
    sim.drop_callbacks(WebhookFaults {
        drop_next: 1,
        drop_fraction: 0.0,
    });
    api.call(
        "POST",
        &format!("{PAY}/pay-hook-1/refund"),
        Some(modification(100)),
        Some("h3"),
    )
    .await;
    api.call("POST", PAY, Some(create("pay-hook-2", 1000)), Some("h4"))
        .await;
    sim.approve("pay-hook-2").unwrap();
    assert!(sim.settle(Duration::from_secs(5)).await);
    let outcomes: Vec<(String, String, String)> = sim
        .deliveries()
        .into_iter()
        .map(|d| (d.order_id, d.status, d.outcome))
        .collect();
    assert_eq!(
        outcomes.last().unwrap(),
        &("pay-hook-2".into(), "AUTHORIZED".into(), "dropped".into())
    );
    assert_eq!(
        got.lock().unwrap().len(),
        2,
        "refunds not subscribed, the last dropped"
    );
}

#[tokio::test]
async fn a_configured_webhook_gets_every_event() {
    let (url, got) = receiver().await;
    let sim = VippsSim::start(SimConfig {
        webhooks: vec![(url, "whsec-configured".into())],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let api = epayment_api(&sim.url()).await;
    api.call("POST", PAY, Some(create("pay-conf-1", 1000)), Some("c1"))
        .await;
    sim.reject("pay-conf-1").unwrap();
    assert!(sim.settle(Duration::from_secs(5)).await);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    let (pq, h, body) = &got[1];
    let header = |k: &str| h.get(k).cloned();
    webhook::verify(
        &header,
        pq,
        body,
        "whsec-configured",
        jiff::Timestamp::now(),
    )
    .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(body).unwrap()["name"],
        "ABORTED"
    );
}

/// A payment nobody answers expires when told (directly or over `/_sim/`):
/// state and event `EXPIRED`, its webhook sent; it can then be neither
/// answered nor expired again, and only an unanswered payment expires.
#[tokio::test]
async fn an_unanswered_payment_expires_with_its_webhook() {
    let (url, got) = receiver().await;
    let sim = VippsSim::start(SimConfig {
        webhooks: vec![(url, "whsec-expiry".into())],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let api = epayment_api(&sim.url()).await;
    for r in ["pay-exp-1", "pay-exp-2", "pay-exp-3"] {
        api.call("POST", PAY, Some(create(r, 1000)), Some(r)).await;
    }
    assert_eq!(sim.expire("pay-exp-1").unwrap()["state"], "EXPIRED");
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/payments/pay-exp-2/expire", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (s, p) = api
        .call("GET", &format!("{PAY}/pay-exp-2"), None, None)
        .await;
    assert_eq!((s, &p["state"]), (200, &json!("EXPIRED")));
    assert!(sim.approve("pay-exp-1").is_err(), "too late to answer");
    assert!(sim.expire("pay-exp-1").is_err(), "expired once");
    sim.approve("pay-exp-3").unwrap();
    assert_eq!(sim.expire("pay-exp-3").unwrap_err().status, 400);
    assert!(sim.expire("pay-nobody").is_err());
    let names: Vec<Value> = sim
        .epayment_events("pay-exp-1")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(names, [json!("CREATED"), json!("EXPIRED")]);
    assert!(sim.settle(Duration::from_secs(5)).await);
    let got = got.lock().unwrap().clone();
    let expired: Vec<Value> = got
        .iter()
        .map(|(_, _, b)| serde_json::from_slice::<Value>(b).unwrap())
        .filter(|b| b["name"] == "EXPIRED")
        .collect();
    assert_eq!(expired.len(), 2, "one webhook per expired payment");
    assert_eq!(expired[0]["reference"], "pay-exp-1");
}

/// A push message goes to a known payer: `PUSH_MESSAGE` without
/// `customer` is refused (400, nothing made), as the spec's `userFlow`
/// says; with the phone it is made, and answers without a `redirectUrl`.
#[tokio::test]
async fn a_push_message_needs_the_payers_phone() {
    let sim = VippsSim::start(SimConfig::default()).await.unwrap();
    let api = epayment_api(&sim.url()).await;
    let mut push = create("pay-push-1", 1000);
    push["userFlow"] = json!("PUSH_MESSAGE");
    push.as_object_mut().unwrap().remove("customer");
    let (s, v) = api.call("POST", PAY, Some(push.clone()), Some("p1")).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("customer.phoneNumber"),
        "{v}"
    );
    assert!(sim.epayments().is_empty());
    push["customer"] = json!({"phoneNumber": "4791234567"});
    let (s, v) = api.call("POST", PAY, Some(push), Some("p2")).await;
    assert_eq!(s, 201, "{v}");
    assert!(v.get("redirectUrl").is_none(), "{v}");
}
