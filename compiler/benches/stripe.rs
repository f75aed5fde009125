//! The customer + charge flow against the Stripe simulator over loopback:
//! `cargo bench -p flowc --bench stripe`.
//!
//! One sign-up = three Stripe calls: find the customer by e-mail, create it
//! with the card token, charge it (`flows/stripe_customer_charges.flow.yaml`
//! with a plan of one period, billed today). Measured in the same run, against
//! the same simulator (this process, 127.0.0.1), with the same concurrency:
//!
//! 1. the flow binary (`flowc build --release`): `start --file` (not timed),
//!    then `run --once --concurrency C` until every issue is completed, every
//!    state change durable; the connection's request budget off
//!    (`FLOWC_STRIPE_RATE_LIMIT=off`: with Stripe's test-mode 25 requests/s
//!    the flow would run at 8 sign-ups/s by design);
//! 2. a plain reqwest loop making the same three calls with the same bodies,
//!    headers and idempotency keys (target: the flow at least 0.8x of it);
//! 3. Stripe's official Python library (`stripe` from PyPI, `stripe_python.py` beside
//!    this file) on a thread pool (target: the flow at least 5x of it). The
//!    library is installed into a venv under the target dir when python3 has
//!    none; without python3 or PyPI this part is reported as skipped.
//!
//! Env: BENCH_ISSUES (default 500), BENCH_CONCURRENCY (16), BENCH_LATENCY_MS
//! (simulated Stripe latency per request, default "0,5": both).

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use flowc_runtime::providers::stripe::sim::{Fault, RequestFault, SimConfig, StripeSim};
use harness::{bounded, env_usize, run_flow};
use serde_json::json;

const FLOW: &str = "flows/stripe_customer_charges.flow.yaml";
const KEY: &str = "sk_test_bench_flowc";

fn main() {
    let quick = harness::quick();
    let issues = if quick {
        20
    } else {
        env_usize("BENCH_ISSUES", 500)
    };
    let conc = env_usize("BENCH_CONCURRENCY", 16);
    let latencies: Vec<u64> = std::env::var("BENCH_LATENCY_MS")
        .unwrap_or_else(|_| if quick { "0".into() } else { "0,5".into() })
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();

    let bin = harness::build_flow(FLOW, !quick);
    let python = if quick { None } else { python_with_stripe() };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let sim = rt
        .block_on(StripeSim::start(SimConfig::default()))
        .expect("simulator");
    for latency in latencies {
        // A fresh simulator state (and no faults) for each side, then the latency:
        // `reset` clears faults, so the delay goes in after it.
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
        // Three calls in a row per sign-up: with the delay in force, no side can
        // sign up more than `conc / (3 × latency)` per second.
        if latency > 0 {
            let ceiling = conc as f64 * 1000.0 / (3.0 * latency as f64);
            assert!(
                base <= ceiling * 1.02,
                "the {latency} ms delay did not hold: {base:.0} sign-ups/s > {ceiling:.0}"
            );
        }
        fresh();
        let flow = flow_binary(&bin, &sim, issues, conc);
        let py = python.as_ref().map(|p| {
            fresh();
            python_loop(p, &sim.url(), issues, conc)
        });
        print!(
            "stripe customer+charge latency={latency}ms issues={issues} concurrency={conc}: \
             reqwest loop {base:.0} issues/s, flow binary {flow:.0} issues/s, ratio {:.2}x",
            flow / base
        );
        match py {
            Some(py) => println!(
                "; python stripe {py:.1} issues/s, flow/python {:.1}x",
                flow / py
            ),
            None => println!("; python stripe: skipped (no python3 with `stripe`)"),
        }
    }
}

/// Issues per second of the built flow: all started, then worked off by `run --once`.
fn flow_binary(bin: &Path, sim: &StripeSim, issues: usize, conc: usize) -> f64 {
    let today = jiff::Zoned::now().date().to_string();
    let lines: Vec<String> = (0..issues)
        .map(|i| {
            json!({
                "customer_email": format!("flow{i}@example.com"),
                "customer_name": format!("Customer {i}"),
                "card_token": "tok_visa",
                "plan": "11",
                "price": {"amount": "1500", "currency": "JPY"},
                "first_billing_on": today,
                "max_periods": 1
            })
            .to_string()
        })
        .collect();
    let env = [
        ("FLOWC_STRIPE_BASE_URL", sim.url()),
        ("STRIPE_SECRET_KEY", KEY.to_string()),
        // The simulator has no rate limit; the flow's request budget (Stripe's
        // 25/s in test mode) would measure the budget, not the engine.
        ("FLOWC_STRIPE_RATE_LIMIT", "off".to_string()),
    ];
    let took = run_flow(bin, &env, &lines, conc);
    let charged = sim.state().charges_per_customer(Some("succeeded"));
    assert_eq!(charged.len(), issues, "every customer charged");
    assert!(charged.values().all(|n| *n == 1), "charged once each");
    issues as f64 / took.as_secs_f64()
}

/// The same three calls per sign-up with reqwest, no engine, no store.
async fn reqwest_loop(url: &str, issues: usize, conc: usize) -> f64 {
    let client = reqwest::Client::new();
    bounded(issues, conc, |i| {
        let (client, url) = (client.clone(), url.to_string());
        async move {
            let auth = format!("Bearer {KEY}");
            let email = format!("loop{i}@example.com");
            let found: serde_json::Value = client
                .get(format!("{url}/v1/customers"))
                .query(&[("email", email.as_str()), ("limit", "1")])
                .header("Authorization", &auth)
                .header("Stripe-Version", "2023-08-16")
                .send()
                .await
                .expect("find")
                .json()
                .await
                .expect("find json");
            assert_eq!(found["data"].as_array().map(Vec::len), Some(0));
            let customer: serde_json::Value = client
                .post(format!("{url}/v1/customers"))
                .header("Authorization", &auth)
                .header("Stripe-Version", "2023-08-16")
                .header("Idempotency-Key", format!("loop:{i}:create_customer"))
                .form(&[
                    ("email", email.as_str()),
                    ("name", &format!("Customer {i}")),
                    ("source", "tok_visa"),
                    ("description", "Registered by the billing flow for plan 11"),
                    ("metadata[plan]", "11"),
                    ("expand[]", "default_source"),
                ])
                .send()
                .await
                .expect("create")
                .json()
                .await
                .expect("create json");
            let customer = customer["id"].as_str().expect("customer id").to_string();
            let charge: serde_json::Value = client
                .post(format!("{url}/v1/charges"))
                .header("Authorization", &auth)
                .header("Stripe-Version", "2023-08-16")
                .header("Idempotency-Key", format!("loop:{i}:charge"))
                .form(&[
                    ("amount", "1500"),
                    ("currency", "jpy"),
                    ("customer", customer.as_str()),
                    ("description", "Plan 11, period 1 of 1"),
                    ("statement_descriptor_suffix", "PERIOD 1"),
                    ("metadata[plan]", "11"),
                    ("metadata[period]", "1"),
                ])
                .send()
                .await
                .expect("charge")
                .json()
                .await
                .expect("charge json");
            assert_eq!(charge["status"], "succeeded");
        }
    })
    .await
}

/// A python3 that can `import stripe`: the system's, or a venv made for the bench.
fn python_with_stripe() -> Option<PathBuf> {
    let can_import = |py: &Path| {
        Command::new(py)
            .args(["-c", "import stripe"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let system = PathBuf::from("python3");
    if can_import(&system) {
        return Some(system);
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stripe-python");
    let py = venv.join("bin").join("python");
    if !py.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            return None;
        }
    }
    if !can_import(&py) {
        let installed = Command::new(&py)
            .args(["-m", "pip", "install", "--quiet", "stripe"])
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            return None;
        }
    }
    can_import(&py).then_some(py)
}

fn python_loop(python: &Path, url: &str, issues: usize, conc: usize) -> f64 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/stripe_python.py");
    let out = Command::new(python)
        .arg(script)
        .arg(url)
        .arg(issues.to_string())
        .arg(conc.to_string())
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "stripe_python.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("stripe_python.py prints issues per second")
}
