//! The scenario file's Stripe parts: parsing, faults, ids, expectations on the
//! simulator's state. (Whole scenarios run end to end in
//! compiler/tests/build_flows.rs, through the built flows.)

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::file::{Expectation, Scenario, StripeAction, StripeSettings};
use super::stripe::{StripeSims, request_fault, webhook_faults};
use crate::clock::VirtualClock;
use crate::flow::{ConnectionDef, SecretSource};
use crate::providers::stripe::sim::Fault;

fn parse(text: &str) -> Result<Scenario, String> {
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

static CONN: ConnectionDef = ConnectionDef {
    name: "stripe",
    provider: "stripe",
    mode: "test",
    base_url: "",
    credentials: &[(
        "secret_key",
        SecretSource::Env("FLOWC_SCENARIO_TEST_STRIPE_KEY"),
    )],
};

async fn sims() -> StripeSims {
    let clock = VirtualClock::new(jiff::Timestamp::UNIX_EPOCH);
    StripeSims::start(&[&CONN], Arc::new(clock), &StripeSettings::default(), None)
        .await
        .unwrap()
}

fn action(yaml: &str) -> StripeAction {
    serde_saphyr::from_str(yaml).unwrap()
}

#[test]
fn stripe_parts_parse_and_refuse_unknown_keys() {
    let sc = parse(
        r#"
stripe:
  faults:
    - { status: 429, path: /v1/charges, count: 2, retry_after: 3s }
    - { delay: 20ms }
  drop_webhooks: { next: 1 }
env: { SLACK_BOT_TOKEN: x }
events:
  - { at: 3d, issue: plan, stripe: { pay_invoice: invoice_id } }
  - { at: 2h, stripe: { create_charge: { source: tok_visa, amount: 500, currency: eur }, as: c1 } }
  - { at: 5h, stripe: { refund: c1 } }
  - { at: 6h, stripe: { refund: { charge: c1, amount: 100, reason: duplicate } } }
expect:
  - { match: { amount: 500 }, count: 1, state: completed }
  - stripe: { charges: { succeeded: 1 }, refunds: 2, events: { charge.succeeded: 1 }, webhooks: 0 }
"#,
    )
    .unwrap();
    assert_eq!(sc.stripe.faults.len(), 2);
    assert_eq!(sc.events.len(), 4);
    assert_eq!(sc.expect.len(), 2);

    for bad in [
        "stripe: { fautls: [] }",
        "events: [{ at: 1h, stripe: { pay_invoce: x } }]",
        "events: [{ at: 1h, stripe: { create_charge: { amount: 1, currency: eur, card: tok_visa } } }]",
        "expect: [{ stripe: { charge: 1 } }]",
        "expect: [{ matches: {} }]",
    ] {
        assert!(parse(bad).is_err(), "{bad} was accepted");
    }
}

#[test]
fn faults_read_into_the_simulators() {
    let f = |y: &str| request_fault(&serde_saphyr::from_str(y).unwrap());
    let r = f("{ status: 429, path: /v1/charges, count: 2, retry_after: 3s }").unwrap();
    assert_eq!(
        r.fault,
        Fault::RateLimit {
            retry_after_secs: 3
        }
    );
    assert_eq!(
        (r.count, r.path_prefix.as_deref()),
        (2, Some("/v1/charges"))
    );
    assert_eq!(f("{ status: 500 }").unwrap().fault, Fault::ServerError);
    assert_eq!(
        f("{ delay: 250ms }").unwrap().fault,
        Fault::Delay { millis: 250 }
    );
    for (bad, says) in [
        ("{ status: 404 }", "429 or 500"),
        ("{ status: 500, delay: 1s }", "not both"),
        ("{ count: 2 }", "needs `status`"),
        (
            "{ status: 500, retry_after: 1s }",
            "goes with `status: 429`",
        ),
        ("{ delay: soon }", "delay"),
    ] {
        let e = f(bad).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
    let d = |y: &str| webhook_faults(&serde_saphyr::from_str(y).unwrap());
    assert_eq!(d("{ next: 2 }").unwrap().drop_next, 2);
    assert!(
        d("{ fraction: 1.5 }")
            .unwrap_err()
            .contains("between 0 and 1")
    );
}

#[tokio::test]
async fn stripe_actions_act_on_the_simulator_and_expectations_count_its_objects() {
    let sims = sims().await;
    let mut names = HashMap::new();
    let line = sims
        .act(
            &action("{ create_charge: { amount: 2500, currency: EUR }, as: sale }"),
            None,
            &mut names,
        )
        .unwrap();
    assert!(line.starts_with("stripe: charge ch_"), "{line}");
    // A declined card is a failed charge, not an error of the scenario.
    let line = sims
        .act(
            &action(
                "{ create_charge: { amount: 100, currency: eur, source: tok_chargeDeclined } }",
            ),
            None,
            &mut names,
        )
        .unwrap();
    assert!(line.contains("declined"), "{line}");
    sims.act(
        &action("{ refund: { charge: sale, amount: 500 } }"),
        None,
        &mut names,
    )
    .unwrap();
    let x: Expectation = serde_saphyr::from_str(
        "stripe: { charges: { succeeded: 1, failed: 1 }, refunds: 1, customers: 0, events: { refund.created: 1 } }",
    )
    .unwrap();
    assert_eq!(
        sims.check(x.stripe.as_ref().unwrap()).unwrap(),
        Vec::<String>::new()
    );
    let x: Expectation =
        serde_saphyr::from_str("stripe: { charges: 5, invoices: { paid: 1 } }").unwrap();
    assert_eq!(
        sims.check(x.stripe.as_ref().unwrap()).unwrap(),
        vec![
            "stripe: expected 5 charges, the simulator has 2".to_string(),
            "stripe: expected 1 invoices with status paid, the simulator has 0".to_string(),
        ]
    );

    // Refused actions say why.
    for (yaml, says) in [
        ("{ refund: ch_nope }", "refund: No such charge"),
        ("{ as: x }", "say one of"),
        ("{ pay_invoice: in_nope }", "pay_invoice in_nope"),
        (
            "{ create_charge: { amount: 1, currency: eur }, connection: other }",
            "no Stripe connection `other`",
        ),
    ] {
        let e = sims.act(&action(yaml), None, &mut names).unwrap_err();
        assert!(e.contains(says), "{yaml}: {e}");
    }
}

#[tokio::test]
async fn ids_come_from_the_issue_s_data_items() {
    let sims = sims().await;
    let mut names = HashMap::new();
    let row = crate::store::IssueRow {
        id: "i1".into(),
        state: crate::store::IssueState::Waiting,
        step: "wait_paid".into(),
        data: json!({"invoice_id": null, "amount": 3}),
        ctx: json!({}),
        wake_at: None,
        error: None,
        seq: 0,
        created_at: jiff::Timestamp::UNIX_EPOCH,
        updated_at: jiff::Timestamp::UNIX_EPOCH,
    };
    let e = sims
        .act(
            &action("{ pay_invoice: invoice_id }"),
            Some(&row),
            &mut names,
        )
        .unwrap_err();
    assert!(e.contains("no value in data item `invoice_id`"), "{e}");
    let e = sims
        .act(&action("{ pay_invoice: amount }"), Some(&row), &mut names)
        .unwrap_err();
    assert!(e.contains("not an id"), "{e}");
}

fn seen(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> crate::testing::Seen {
    crate::testing::Seen {
        method: method.into(),
        path: path.into(),
        query: query.map(str::to_string),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.into(),
    }
}

#[test]
fn an_http_expectation_checks_what_the_route_received() {
    let sc = parse(
        "expect:\n  - http: { route: POST /a, count: 1, headers: { Authorization: Bearer t }, query: x=1, json: { n: 2 } }\n  - http: { route: PUT /b, body: \"<a/>\" }\n",
    )
    .unwrap();
    let (a, b) = (
        sc.expect[0].http.as_ref().unwrap(),
        sc.expect[1].http.as_ref().unwrap(),
    );
    let good = seen(
        "POST",
        "/a",
        Some("x=1"),
        &[("authorization", "Bearer t")],
        r#"{"n":2}"#,
    );
    assert!(super::expect::check_http(a, std::slice::from_ref(&good)).is_empty());
    // Another header value, query or body each fail; so does a second request.
    let wrong = seen(
        "POST",
        "/a",
        Some("x=2"),
        &[("authorization", "Bearer u")],
        r#"{"n":3}"#,
    );
    let f = super::expect::check_http(a, &[wrong]);
    assert_eq!(f.len(), 3, "{f:?}");
    let f = super::expect::check_http(a, &[good.clone(), good]);
    assert!(f[0].contains("expected 1 requests, got 2"), "{f:?}");
    // Nothing on the route at all.
    let f = super::expect::check_http(b, &[]);
    assert!(f[0].contains("no request"), "{f:?}");
    let f = super::expect::check_http(b, &[seen("PUT", "/b", None, &[], "<b/>")]);
    assert!(f[0].contains("expected body"), "{f:?}");
}
