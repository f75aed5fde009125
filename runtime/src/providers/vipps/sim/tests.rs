//! The simulator over loopback: the token endpoint's four headers, a payment
//! from request to refunds, a duplicate order id, the callback sent once with
//! the payment's token (and lost when dropped), faults.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::*;

pub(super) async fn token(base: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut rb = reqwest::Client::new().post(format!("{base}/accesstoken/get"));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

pub(super) const GOOD: [(&str, &str); 4] = [
    ("client_id", CLIENT_ID),
    ("client_secret", CLIENT_SECRET),
    ("Ocp-Apim-Subscription-Key", SUBSCRIPTION_KEY),
    ("Merchant-Serial-Number", MSN),
];

/// A merchant's client of the simulator: its token, and the header a call's
/// key goes in (eCom's `X-Request-Id`, ePayment's `Idempotency-Key`).
pub(super) struct Api {
    pub base: String,
    pub token: String,
    pub key_header: &'static str,
}

impl Api {
    /// An eCom v2 client.
    async fn new(base: &str) -> Api {
        Api::with_key_header(base, "X-Request-Id").await
    }

    pub(super) async fn with_key_header(base: &str, key_header: &'static str) -> Api {
        let (s, v) = token(base, &GOOD).await;
        assert_eq!(s, 200, "{v}");
        Api {
            base: base.to_string(),
            token: v["access_token"].as_str().unwrap().to_string(),
            key_header,
        }
    }

    pub(super) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = reqwest::Client::new()
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Ocp-Apim-Subscription-Key", SUBSCRIPTION_KEY)
            .header("Merchant-Serial-Number", MSN);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        if let Some(k) = key {
            rb = rb.header(self.key_header, k);
        }
        let r = rb.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

fn initiate(order: &str, prefix: &str) -> Value {
    json!({"merchantInfo": {"merchantSerialNumber": MSN, "callbackPrefix": prefix,
             "fallBack": "https://shop.example.no/done", "authToken": "tok-ORD"},
           "customerInfo": {"mobileNumber": "91234567"},
           "transaction": {"orderId": order, "amount": 1000, "transactionText": "Socks"}})
}

fn op(text: &str, amount: Option<i64>) -> Value {
    let mut t = json!({"transactionText": text});
    if let Some(a) = amount {
        t["amount"] = json!(a);
    }
    json!({"merchantInfo": {"merchantSerialNumber": MSN}, "transaction": t})
}

/// A merchant's callback endpoint that records what it gets.
async fn merchant() -> (String, Arc<Mutex<Vec<(String, Option<String>, Value)>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let g = g.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                g.lock().unwrap().push((
                    uri.path().to_string(),
                    auth,
                    serde_json::from_slice(&body).unwrap_or(Value::Null),
                ));
                "ok"
            }
        },
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/vipps", l.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (url, got)
}

#[tokio::test]
async fn the_access_token_needs_all_four_headers() {
    let sim = VippsSim::start(SimConfig::default()).await.unwrap();
    assert_eq!(token(&sim.url(), &GOOD).await.0, 200);
    for i in 0..4 {
        let mut h = GOOD.to_vec();
        h[i].1 = "wrong";
        assert_eq!(token(&sim.url(), &h).await.0, 401, "{}", GOOD[i].0);
        let mut missing = GOOD.to_vec();
        missing.remove(i);
        assert_eq!(token(&sim.url(), &missing).await.0, 401, "{}", GOOD[i].0);
    }
    // Without a token, nothing.
    let api = Api {
        base: sim.url(),
        token: "forged".into(),
        key_header: "X-Request-Id",
    };
    assert_eq!(
        api.call("GET", "/ecomm/v2/payments/X/details", None, None)
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn a_payment_goes_from_request_to_partial_refunds_and_its_callback_comes_once() {
    let sim = VippsSim::start(SimConfig::default()).await.unwrap();
    let (prefix, got) = merchant().await;
    let api = Api::new(&sim.url()).await;
    let (s, v) = api
        .call(
            "POST",
            "/ecomm/v2/payments",
            Some(initiate("ORD-1", &prefix)),
            Some("r1"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["orderId"], "ORD-1");
    assert!(v["url"].as_str().unwrap().starts_with("http"));
    // The same order id again (another request id): refused.
    let (s, v) = api
        .call(
            "POST",
            "/ecomm/v2/payments",
            Some(initiate("ORD-1", &prefix)),
            Some("r2"),
        )
        .await;
    assert_eq!((s, v[0]["errorCode"].as_str()), (400, Some("34")));
    // No MSN in the body: refused.
    let mut no_msn = initiate("ORD-2", &prefix);
    no_msn["merchantInfo"]
        .as_object_mut()
        .unwrap()
        .remove("merchantSerialNumber");
    assert_eq!(
        api.call("POST", "/ecomm/v2/payments", Some(no_msn), None)
            .await
            .0,
        400
    );
    // Capture before the payer approved: refused.
    assert_eq!(
        api.call(
            "POST",
            "/ecomm/v2/payments/ORD-1/capture",
            Some(op("c", None)),
            None
        )
        .await
        .0,
        400
    );
    sim.approve("ORD-1").unwrap();
    assert!(sim.settle(Duration::from_secs(5)).await);
    assert!(sim.approve("ORD-1").is_err(), "the payer answers once");
    {
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 1, "one callback");
        assert_eq!(got[0].0, "/webhooks/vipps/v2/payments/ORD-1");
        assert_eq!(got[0].1.as_deref(), Some("tok-ORD"));
        assert_eq!(got[0].2["transactionInfo"]["status"], "RESERVED");
        assert_eq!(got[0].2["merchantSerialNumber"], MSN);
    }
    // Capture 600 of 1000, then the rest; a third is refused.
    let (s, v) = api
        .call(
            "POST",
            "/ecomm/v2/payments/ORD-1/capture",
            Some(op("c1", Some(600))),
            Some("c1"),
        )
        .await;
    assert_eq!(
        (s, &v["transactionSummary"]["remainingAmountToCapture"]),
        (200, &json!(400))
    );
    // The same X-Request-Id again: the same answer, nothing captured twice.
    let (s, again) = api
        .call(
            "POST",
            "/ecomm/v2/payments/ORD-1/capture",
            Some(op("c1", Some(600))),
            Some("c1"),
        )
        .await;
    assert_eq!((s, &again), (200, &v));
    let (s, v) = api
        .call(
            "POST",
            "/ecomm/v2/payments/ORD-1/capture",
            Some(op("c2", None)),
            Some("c2"),
        )
        .await;
    assert_eq!(
        (s, &v["transactionSummary"]["capturedAmount"]),
        (200, &json!(1000))
    );
    assert_eq!(
        api.call(
            "POST",
            "/ecomm/v2/payments/ORD-1/capture",
            Some(op("c3", None)),
            Some("c3")
        )
        .await
        .0,
        400
    );
    // Cancel after capture: refused. Refunds 300 + 700, then nothing left.
    assert_eq!(
        api.call(
            "PUT",
            "/ecomm/v2/payments/ORD-1/cancel",
            Some(op("x", None)),
            None
        )
        .await
        .0,
        400
    );
    let (s, v) = api
        .call(
            "POST",
            "/ecomm/v2/payments/ORD-1/refund",
            Some(op("r", Some(300))),
            Some("f1"),
        )
        .await;
    assert_eq!(
        (s, &v["transactionSummary"]["remainingAmountToRefund"]),
        (200, &json!(700))
    );
    let (s, v) = api
        .call(
            "POST",
            "/ecomm/v2/payments/ORD-1/refund",
            Some(op("r", Some(700))),
            Some("f2"),
        )
        .await;
    assert_eq!(
        (s, &v["transactionSummary"]["remainingAmountToRefund"]),
        (200, &json!(0))
    );
    assert_eq!(
        api.call(
            "POST",
            "/ecomm/v2/payments/ORD-1/refund",
            Some(op("r", Some(1))),
            Some("f3")
        )
        .await
        .0,
        400
    );
    let (s, d) = api
        .call("GET", "/ecomm/v2/payments/ORD-1/details", None, None)
        .await;
    assert_eq!(s, 200);
    let ops: Vec<&str> = d["transactionLogHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        [
            "REFUND", "REFUND", "CAPTURE", "CAPTURE", "RESERVE", "INITIATE"
        ]
    );
    assert_eq!(
        got.lock().unwrap().len(),
        1,
        "captures and refunds send no callback"
    );
    let initiated = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/ecomm/v2/payments" && r.status == 200)
        .count();
    assert_eq!(initiated, 1);
}

#[tokio::test]
async fn a_rejected_or_withdrawn_request_and_a_dropped_callback() {
    let sim = VippsSim::start(SimConfig::default()).await.unwrap();
    let (prefix, got) = merchant().await;
    let api = Api::new(&sim.url()).await;
    for o in ["ORD-R", "ORD-W", "ORD-D"] {
        assert_eq!(
            api.call(
                "POST",
                "/ecomm/v2/payments",
                Some(initiate(o, &prefix)),
                None
            )
            .await
            .0,
            200
        );
    }
    sim.reject("ORD-R").unwrap();
    // The payer never answers ORD-W: the merchant withdraws it.
    let (s, v) = api
        .call(
            "PUT",
            "/ecomm/v2/payments/ORD-W/cancel",
            Some(op("gone", None)),
            None,
        )
        .await;
    assert_eq!(
        (s, &v["transactionInfo"]["status"]),
        (200, &json!("Cancelled"))
    );
    assert!(
        sim.approve("ORD-W").is_err(),
        "a withdrawn request cannot be approved"
    );
    sim.drop_callbacks(WebhookFaults {
        drop_next: 1,
        drop_fraction: 0.0,
    });
    sim.approve("ORD-D").unwrap();
    sim.settle(Duration::from_secs(5)).await;
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2["transactionInfo"]["status"], "REJECTED");
    let outcomes: Vec<(String, String)> = sim
        .deliveries()
        .into_iter()
        .map(|d| (d.order_id, d.outcome))
        .collect();
    assert!(
        outcomes.contains(&("ORD-D".into(), "dropped".into())),
        "{outcomes:?}"
    );
    // The details still tell: a failed RESERVE, a CANCEL, a RESERVE.
    let newest = |o: &str| sim.details(o).unwrap()["transactionLogHistory"][0].clone();
    assert_eq!(
        (
            newest("ORD-R")["operation"].as_str(),
            newest("ORD-R")["operationSuccess"].as_bool()
        ),
        (Some("RESERVE"), Some(false))
    );
    assert_eq!(newest("ORD-W")["operation"], "CANCEL");
    assert_eq!(newest("ORD-D")["operation"], "RESERVE");
}

#[tokio::test]
async fn faults_answer_429_with_retry_after_and_500() {
    let sim = VippsSim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url()).await;
    sim.inject(RequestFault {
        fault: Fault::RateLimit {
            retry_after_secs: 3,
        },
        count: 1,
        path_prefix: Some("/ecomm/".into()),
    });
    sim.inject(RequestFault {
        fault: Fault::ServerError,
        count: 1,
        path_prefix: Some("/ecomm/".into()),
    });
    let r = reqwest::Client::new()
        .get(format!("{}/ecomm/v2/payments/X/details", sim.url()))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(
        api.call("GET", "/ecomm/v2/payments/X/details", None, None)
            .await
            .0,
        500
    );
    assert_eq!(
        api.call("GET", "/ecomm/v2/payments/X/details", None, None)
            .await
            .0,
        404
    );
}
