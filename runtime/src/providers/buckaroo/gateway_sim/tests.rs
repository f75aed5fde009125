use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::*;
use crate::clock::VirtualClock;
use crate::providers::buckaroo::{authorization, push, signature};

const WK: &str = "WK-SIM";
const SECRET: &str = "secret-sim";

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A merchant's push endpoint that checks each push as `run --listen` does
/// and keeps (status, verified, body).
async fn receiver(clock: VirtualClock) -> (String, Arc<Mutex<Vec<(u16, Value)>>>) {
    let got: Arc<Mutex<Vec<(u16, Value)>>> = Arc::default();
    let seen = got.clone();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/buckaroo", l.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/webhooks/buckaroo",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            let clock = clock.clone();
            async move {
                let host = headers.get("host").unwrap().to_str().unwrap();
                let ok = push::verify(
                    headers.get("authorization").and_then(|v| v.to_str().ok()),
                    WK,
                    SECRET,
                    &format!("{host}/webhooks/buckaroo"),
                    &body,
                    clock.now().as_second(),
                )
                .is_ok();
                let status = if ok { 200 } else { 400 };
                seen.lock()
                    .unwrap()
                    .push((status, serde_json::from_slice(&body).unwrap()));
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, got)
}

async fn sim(
    clock: &VirtualClock,
    push_url: Option<String>,
    payers: &[(&str, Payer)],
) -> GatewaySim {
    GatewaySim::start(GatewayConfig {
        clock: Arc::new(clock.clone()),
        website_key: WK.into(),
        secret_key: SECRET.into(),
        push_url,
        payers: payers.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        pay_after: Duration::from_secs(2 * 86_400),
        ..GatewayConfig::default()
    })
    .await
    .unwrap()
}

/// A request signed as the runtime signs it (`super::super::authorize`).
async fn send(
    sim: &GatewaySim,
    clock: &VirtualClock,
    method: &str,
    path: &str,
    body: Option<&Value>,
    secret: &str,
) -> (u16, Value) {
    let url = format!("{}{path}", sim.url());
    let bytes = body
        .map(|b| serde_json::to_vec(b).unwrap())
        .unwrap_or_default();
    let time = clock.now().as_second();
    let sig = signature(WK, secret, method, &url, time, "nonce1", &bytes);
    let client = reqwest::Client::new();
    let req = match method {
        "GET" => client.get(&url),
        _ => client
            .post(&url)
            .header("Content-Type", "application/json")
            .body(bytes),
    };
    let r = req
        .header("Authorization", authorization(WK, &sig, "nonce1", time))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn invitation(invoice: &str) -> Value {
    json!({
        "Currency": "EUR", "AmountDebit": 12.5, "Invoice": invoice,
        "Description": "factuur", "PushURL": "https://push.example/webhooks/buckaroo",
        "Services": {"ServiceList": [{"Name": "payperemail", "Action": "PaymentInvitation",
            "Parameters": [
                {"Name": "CustomerEmail", "Value": "a@example.nl"},
                {"Name": "CustomerLastName", "Value": "Jansen"},
                {"Name": "ExpirationDate", "Value": "2025-03-10"}]}]}
    })
}

#[tokio::test]
async fn an_invitation_paid_by_ideal_is_pushed_signed_and_told_by_the_status_call() {
    let clock = VirtualClock::new(at("2025-03-03T08:00:00Z"));
    let (hook, got) = receiver(clock.clone()).await;
    let sim = sim(&clock, Some(hook), &[("INV-2", Payer::PaysByIdeal)]).await;

    // A forged or stale request is refused and stores nothing.
    let (s, v) = send(
        &sim,
        &clock,
        "POST",
        "/json/Transaction",
        Some(&invitation("INV-2")),
        "wrong",
    )
    .await;
    assert_eq!(s, 401, "{v}");
    assert!(v["Message"].as_str().unwrap().contains("signature"), "{v}");
    assert!(sim.transactions().is_empty());

    let (s, v) = send(
        &sim,
        &clock,
        "POST",
        "/json/Transaction",
        Some(&invitation("INV-2")),
        SECRET,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Status"]["Code"]["Code"], 792);
    let key = v["Key"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 32);
    let link = v["Services"][0]["Parameters"][0].clone();
    assert_eq!(link["Name"], "PayLink");
    // The runtime's reading of the answer.
    assert_eq!(crate::providers::buckaroo::check_response(&v), Ok(()));
    assert_eq!(
        crate::providers::buckaroo::derived_output("status", &v),
        Some("awaiting_consumer".into())
    );
    // Sent again (a lost answer): the same invitation, not a second one.
    let (_, again) = send(
        &sim,
        &clock,
        "POST",
        "/json/Transaction",
        Some(&invitation("INV-2")),
        SECRET,
    )
    .await;
    assert_eq!(again["Key"], key.as_str());
    assert_eq!(sim.transactions().len(), 1);

    // Nothing before the payer pays.
    assert!(sim.step(clock.now()).is_empty());
    assert_eq!(sim.next_due(), Some(at("2025-03-05T08:00:00Z")));
    clock.advance_to(at("2025-03-05T08:00:00Z"));
    let lines = sim.step(clock.now());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(sim.settle(Duration::from_secs(5)).await);
    let pushes = got.lock().unwrap().clone();
    assert_eq!(pushes.len(), 1);
    let (status, body) = &pushes[0];
    assert_eq!(*status, 200, "the push's signature verifies");
    assert_eq!(body["Transaction"]["Key"], key.as_str());
    assert_eq!(body["Transaction"]["Status"]["Code"]["Code"], 190);
    assert_eq!(body["Transaction"]["ServiceCode"], "ideal");
    assert_eq!(body["Transaction"]["Invoice"], "INV-2");
    // The runtime reads it as the event `push:<key>:190`, status success.
    let head = push::event_head(body).unwrap();
    assert_eq!(head.id, format!("push:{key}:190"));
    assert_eq!(sim.deliveries()[0].outcome, "delivered");

    // The status call tells the same; an unknown key is 404; a GET is signed too.
    let (s, v) = send(
        &sim,
        &clock,
        "GET",
        &format!("/json/Transaction/Status/{key}"),
        None,
        SECRET,
    )
    .await;
    assert_eq!((s, v["Status"]["Code"]["Code"].as_i64()), (200, Some(190)));
    let (s, _) = send(
        &sim,
        &clock,
        "GET",
        "/json/Transaction/Status/NOPE",
        None,
        SECRET,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = send(
        &sim,
        &clock,
        "GET",
        &format!("/json/Transaction/Status/{key}"),
        None,
        "wrong",
    )
    .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn an_unused_invitation_expires_after_its_last_day_and_pushes_are_retried_or_dropped() {
    let clock = VirtualClock::new(at("2025-03-03T08:00:00Z"));
    let sim = sim(
        &clock,
        Some("http://127.0.0.1:9/webhooks/buckaroo".into()),
        &[],
    )
    .await;
    for inv in ["INV-5", "INV-6"] {
        let (s, v) = send(
            &sim,
            &clock,
            "POST",
            "/json/Transaction",
            Some(&invitation(inv)),
            SECRET,
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
    // ExpirationDate 2025-03-10: the link works through that day.
    assert_eq!(sim.next_due(), Some(at("2025-03-11T00:00:00Z")));
    clock.advance_to(at("2025-03-11T00:00:00Z"));
    // The first push is lost on the way.
    sim.drop_pushes(WebhookFaults {
        drop_next: 1,
        drop_fraction: 0.0,
    });
    assert_eq!(sim.step(clock.now()).len(), 2);
    assert!(sim.settle(Duration::from_secs(5)).await);
    assert!(sim.transactions().iter().all(|t| t.status == 890));
    let d = sim.deliveries();
    assert_eq!((d[0].attempts, d[0].outcome.as_str()), (0, "dropped"));
    // Nobody listens for the second: it is tried again a minute later.
    assert_eq!((d[1].attempts, d[1].outcome.as_str()), (1, "pending"));
    assert_eq!(sim.next_due(), Some(at("2025-03-11T00:01:00Z")));
    clock.advance_to(at("2025-03-11T00:01:00Z"));
    assert!(sim.step(clock.now()).is_empty());
    assert!(sim.settle(Duration::from_secs(5)).await);
    assert_eq!(sim.deliveries()[1].attempts, 2);
}

#[tokio::test]
async fn invalid_requests_are_refused_as_buckaroo_refuses_them_and_faults_apply() {
    let clock = VirtualClock::new(at("2025-03-03T08:00:00Z"));
    let sim = sim(&clock, None, &[]).await;
    let mut bad = invitation("INV-9");
    bad["Services"]["ServiceList"][0]["Action"] = json!("Pay");
    bad["Services"]["ServiceList"][0]["Parameters"] = json!([]);
    bad["Currency"] = json!("eur");
    let (s, v) = send(
        &sim,
        &clock,
        "POST",
        "/json/Transaction",
        Some(&bad),
        SECRET,
    )
    .await;
    assert_eq!((s, v["Status"]["Code"]["Code"].as_i64()), (200, Some(491)));
    let names: Vec<&str> = v["RequestErrors"]["ParameterErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Currency", "Action", "CustomerEmail", "CustomerLastName"]
    );
    let msg = crate::providers::buckaroo::check_response(&v).unwrap_err();
    assert!(msg.starts_with("Buckaroo status 491: Currency"), "{msg}");
    assert!(sim.transactions().is_empty());

    sim.inject(RequestFault {
        fault: Fault::RateLimit {
            retry_after_secs: 2,
        },
        count: 1,
        path_prefix: Some("/json/Transaction".into()),
    });
    sim.inject(RequestFault {
        fault: Fault::ServerError,
        count: 1,
        path_prefix: None,
    });
    let (s, _) = send(
        &sim,
        &clock,
        "POST",
        "/json/Transaction",
        Some(&invitation("INV-9")),
        SECRET,
    )
    .await;
    assert_eq!(s, 429);
    let (s, _) = send(
        &sim,
        &clock,
        "POST",
        "/json/Transaction",
        Some(&invitation("INV-9")),
        SECRET,
    )
    .await;
    assert_eq!(s, 500);
    let (s, _) = send(
        &sim,
        &clock,
        "POST",
        "/json/Transaction",
        Some(&invitation("INV-9")),
        SECRET,
    )
    .await;
    assert_eq!(s, 200);
    let codes: Vec<u16> = sim.requests().iter().map(|r| r.2).collect();
    assert_eq!(codes, [200, 429, 500, 200]);
}
