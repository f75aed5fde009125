//! The PayPal delivery-invoice flow against the PayPal simulator over
//! loopback: `cargo bench -p flowc --bench paypal`.
//!
//! One issue = create the invoice, send it (`flows/paypal_delivery_invoice.flow.yaml`;
//! the issue then waits for the payment, which `run --once` leaves waiting).
//! Measured in the same run, against the same simulator (this process,
//! 127.0.0.1), at the same concurrency, with the same simulated latency per
//! request (BENCH_LATENCY_MS, default 5):
//!
//! 1. the flow binary (`flowc build --release`): `start --file` (not timed),
//!    then `run --once --concurrency C` until every issue waits for its
//!    payment, every state change durable;
//! 2. a plain reqwest loop making the same two calls with the same bodies
//!    (one OAuth2 token for the run), no engine, no store (target: the flow at
//!    least 0.8x of it).
//!
//! Env: BENCH_ISSUES (default 500), BENCH_CONCURRENCY (16), BENCH_LATENCY_MS ("5").

mod harness;

use std::path::Path;

use flowc_runtime::providers::paypal::sim::{self, Fault, PayPalSim, RequestFault, SimConfig};
use harness::{bounded, env_usize, run_flow};
use serde_json::{Value, json};

const FLOW: &str = "flows/paypal_delivery_invoice.flow.yaml";

fn main() {
    let quick = harness::quick();
    let issues = if quick {
        20
    } else {
        env_usize("BENCH_ISSUES", 500)
    };
    let conc = env_usize("BENCH_CONCURRENCY", 16);
    let latencies: Vec<u64> = std::env::var("BENCH_LATENCY_MS")
        .unwrap_or_else(|_| "5".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let bin = harness::build_flow(FLOW, !quick);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let sim = rt
        .block_on(PayPalSim::start(SimConfig::default()))
        .expect("simulator");
    for latency in latencies {
        let fresh = || {
            sim.reset();
            if latency > 0 {
                sim.inject(RequestFault {
                    fault: Fault::Delay { millis: latency },
                    count: u32::MAX,
                    path_prefix: None,
                });
            }
        };
        fresh();
        let base = rt.block_on(reqwest_loop(&sim.url(), issues, conc));
        fresh();
        let flow = flow_binary(&bin, &sim, issues, conc);
        println!(
            "paypal create+send latency={latency}ms issues={issues} concurrency={conc}: \
             reqwest loop {base:.0} issues/s, flow binary {flow:.0} issues/s, ratio {:.2}x",
            flow / base
        );
    }
}

fn delivery(i: usize) -> Value {
    json!({
        "delivery_id": format!("D-{:06}", i),
        "customer_name": format!("Customer {i}"),
        "customer_email": format!("c{i}@example.com"),
        "region": "44",
        "currency": "GBP",
        "delivered_on": "2025-01-02",
        "lines": [{"name": "Desk", "quantity": 2, "unit_amount": {"amount": "120.00", "currency": "GBP"}}]
    })
}

fn flow_binary(bin: &Path, sim: &PayPalSim, issues: usize, conc: usize) -> f64 {
    let records: Vec<String> = (0..issues).map(|i| delivery(i).to_string()).collect();
    let env = [
        ("FLOWC_PAYPAL_BASE_URL", sim.url()),
        ("PAYPAL_CLIENT_ID", sim::CLIENT_ID.to_string()),
        ("PAYPAL_CLIENT_SECRET", sim::CLIENT_SECRET.to_string()),
        ("PAYPAL_WEBHOOK_ID", sim::WEBHOOK_ID.to_string()),
        ("KINTONE_DOMAIN", "127.0.0.1:9".to_string()),
        ("KINTONE_DELIVERY_APP", "12".to_string()),
        ("KINTONE_API_TOKEN", "unused".to_string()),
    ];
    let took = run_flow(bin, &env, &records, conc);
    let invoices = sim.state().invoices();
    assert_eq!(invoices.len(), issues, "one invoice per issue");
    assert!(
        invoices.iter().all(|i| i["status"] == "SENT"),
        "every invoice sent"
    );
    issues as f64 / took.as_secs_f64()
}

/// The same two calls per issue with reqwest: create (the full invoice back),
/// then send.
async fn reqwest_loop(url: &str, issues: usize, conc: usize) -> f64 {
    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("{url}/v1/oauth2/token"))
        .basic_auth(sim::CLIENT_ID, Some(sim::CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let auth = format!("Bearer {}", token["access_token"].as_str().expect("token"));
    let today = jiff::Zoned::now().date();
    let due = today.checked_add(jiff::Span::new().days(30)).expect("date");
    let rate = bounded(issues, conc, |i| {
        let (client, url, auth) = (client.clone(), url.to_string(), auth.clone());
        async move {
            let number = format!("L-{i:06}");
            let body = json!({
                "detail": {
                    "currency_code": "GBP", "invoice_number": number,
                    "invoice_date": today.to_string(), "reference": number,
                    "note": "Delivered on 2 January 2025.",
                    "terms_and_conditions": format!("Payment due by {due}."),
                    "memo": format!("Questetra delivery {number}, region 44"),
                    "payment_term": {"term_type": "DUE_ON_DATE_SPECIFIED", "due_date": due.to_string()}
                },
                "primary_recipients": [{"billing_info": {
                    "name": {"full_name": format!("Customer {i}")},
                    "email_address": format!("c{i}@example.com")}}],
                "items": [{"name": "Desk", "quantity": "2",
                           "unit_amount": {"currency_code": "GBP", "value": "120.00"}}],
                "configuration": {"partial_payment": {"allow_partial_payment": false}}
            });
            let inv: Value = client
                .post(format!("{url}/v2/invoicing/invoices"))
                .header("Authorization", &auth)
                .header("Prefer", "return=representation")
                .json(&body)
                .send()
                .await
                .expect("create")
                .json()
                .await
                .expect("create json");
            let id = inv["id"].as_str().expect("invoice id");
            let sent: Value = client
                .post(format!("{url}/v2/invoicing/invoices/{id}/send"))
                .header("Authorization", &auth)
                .json(&json!({"subject": format!("Invoice for delivery {number}"),
                              "send_to_recipient": true, "send_to_invoicer": false}))
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("send json");
            assert!(sent["href"].is_string(), "{sent}");
        }
    })
    .await;
    assert_eq!(
        sim_sent(&client, url).await,
        issues,
        "every loop invoice sent"
    );
    rate
}

async fn sim_sent(client: &reqwest::Client, url: &str) -> usize {
    let v: Value = client
        .get(format!("{url}/_sim/invoices"))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("state json");
    v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["status"] == "SENT")
        .count()
}
