//! The Vipps payment status flow against the Vipps simulator over loopback:
//! `cargo bench -p flowc --bench vipps`.
//!
//! One issue = the payment request (`flows/vipps_payment_status.flow.yaml`:
//! the order id set, `POST /ecomm/v2/payments` with the merchant serial
//! number and the payment's callback token); the issue then waits for the
//! payer, which `run --once` leaves waiting. Measured in the same run, against
//! the same simulator (this process, 127.0.0.1), at the same concurrency,
//! with the same simulated latency per request (BENCH_LATENCY_MS, default 5):
//!
//! 1. the flow binary (`flowc build --release`): `start --file` (not timed),
//!    then `run --once --concurrency C` until every issue waits, every state
//!    change durable;
//! 2. a plain reqwest loop making the same call with the same body (one access
//!    token for the run), no engine, no store (target: the flow at least 0.8x
//!    of it).
//!
//! Env: BENCH_ISSUES (default 500), BENCH_CONCURRENCY (16), BENCH_LATENCY_MS (5).

mod harness;

use flowc_runtime::providers::vipps::sim::{self, Fault, RequestFault, SimConfig, VippsSim};
use harness::{bounded, env_usize, run_flow};
use serde_json::{Value, json};

const FLOW: &str = "flows/vipps_payment_status.flow.yaml";

fn main() {
    let quick = harness::quick();
    let issues = if quick {
        20
    } else {
        env_usize("BENCH_ISSUES", 500)
    };
    let conc = env_usize("BENCH_CONCURRENCY", 16);
    let latency = env_usize("BENCH_LATENCY_MS", 5) as u64;
    let bin = harness::build_flow(FLOW, !quick);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let sim = rt
        .block_on(VippsSim::start(SimConfig::default()))
        .expect("simulator");
    if latency > 0 {
        sim.inject(RequestFault {
            fault: Fault::Delay { millis: latency },
            count: u32::MAX,
            path_prefix: None,
        });
    }
    let base = rt.block_on(reqwest_loop(&sim, issues, conc));
    let records: Vec<String> = (0..issues).map(|i| payment(i).to_string()).collect();
    let env = [
        ("FLOWC_VIPPS_BASE_URL", sim.url()),
        ("VIPPS_CLIENT_ID", sim::CLIENT_ID.to_string()),
        ("VIPPS_CLIENT_SECRET", sim::CLIENT_SECRET.to_string()),
        ("VIPPS_SUBSCRIPTION_KEY", sim::SUBSCRIPTION_KEY.to_string()),
        ("VIPPS_MSN", sim::MSN.to_string()),
        ("VIPPS_CALLBACK_HOST", "127.0.0.1:9".to_string()),
        ("DATAVERSE_HOST", "127.0.0.1:9".to_string()),
        ("AZURE_TENANT_ID", "unused".to_string()),
        ("DATAVERSE_CLIENT_ID", "unused".to_string()),
        ("DATAVERSE_CLIENT_SECRET", "unused".to_string()),
    ];
    let took = run_flow(&bin, &env, &records, conc);
    let flow_orders = sim
        .payments()
        .iter()
        .filter(|p| p.order_id.starts_with("ORD-B-"))
        .count();
    assert_eq!(flow_orders, issues, "one payment request per issue");
    let flow = issues as f64 / took.as_secs_f64();
    println!(
        "vipps payment request latency={latency}ms issues={issues} concurrency={conc}: \
         reqwest loop {base:.0} issues/s, flow binary {flow:.0} issues/s, ratio {:.2}x",
        flow / base
    );
}

fn payment(i: usize) -> Value {
    json!({
        "dataverse_row_id": format!("3f2b8c1e-4d5a-4b6c-8e7f-{i:012}"),
        "reference": format!("B-{i:06}"),
        "payer_phone": "91234567",
        "amount": {"amount": "100.00", "currency": "NOK"},
        "transaction_text": format!("Order B-{i:06}"),
    })
}

/// The same call per issue with reqwest.
async fn reqwest_loop(sim: &VippsSim, issues: usize, conc: usize) -> f64 {
    let url = sim.url();
    let client = reqwest::Client::new();
    let token = sim.access_token().await.expect("token");
    let auth = format!("Bearer {token}");
    let rate = bounded(issues, conc, |i| {
        let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
        async move {
            let order = format!("L-{i:06}");
            let body = json!({
                "merchantInfo": {"merchantSerialNumber": sim::MSN,
                    "callbackPrefix": "https://127.0.0.1:9/webhooks/vipps",
                    "fallBack": format!("https://www.example.no/ordre/{order}"),
                    "authToken": "a-per-payment-token-of-43-characters-000000",
                    "paymentType": "eComm Regular Payment"},
                "customerInfo": {"mobileNumber": "91234567"},
                "transaction": {"orderId": order, "amount": 10000,
                    "transactionText": format!("Order {order}")}
            });
            let answer: Value = client
                .post(format!("{url}/ecomm/v2/payments"))
                .header("Authorization", &auth)
                .header("Ocp-Apim-Subscription-Key", sim::SUBSCRIPTION_KEY)
                .header("Merchant-Serial-Number", sim::MSN)
                .header("X-Request-Id", format!("req-{order}"))
                .json(&body)
                .send()
                .await
                .expect("initiate")
                .json()
                .await
                .expect("initiate json");
            assert!(answer["url"].is_string(), "{answer}");
        }
    })
    .await;
    let loop_orders = sim
        .payments()
        .iter()
        .filter(|p| p.order_id.starts_with("L-"))
        .count();
    assert_eq!(loop_orders, issues, "every loop payment requested");
    rate
}
