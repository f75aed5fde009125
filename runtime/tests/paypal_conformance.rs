//! PayPal against its spec, strictly: every request body a PayPal action of the
//! catalog can send (built by the runtime's request builder from
//! representative inputs) validates against its operation's request schema in
//! `shared/specs/paypal/invoicing_v2.json` with JSON Schema: required
//! properties, types, enums, patterns, lengths and formats (PayPal's own
//! `ppaas_*` formats included). The simulator's answers to the main
//! operations (create, get, search, send) validate against the response
//! schemas the same way. `$ref`s resolve within the spec file: the file's
//! `components` ride along in every schema.

use flowc_catalog::specs::specs_dir;
use flowc_catalog::{Action, provider};
use flowc_runtime::action::request::build;
use flowc_runtime::http::Body;
use flowc_runtime::providers::Kind;
use flowc_runtime::providers::paypal::sim::{CLIENT_ID, CLIENT_SECRET, PayPalSim, SimConfig};
use serde_json::{Value, json};

const SPEC: &str = "paypal/invoicing_v2.json";

fn spec() -> Value {
    let text = std::fs::read_to_string(specs_dir().join(SPEC)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `YYYY-MM-DD` that is a real date.
fn is_date(s: &str) -> bool {
    s.len() == 10 && s.parse::<jiff::civil::Date>().is_ok()
}

/// A validator of `schema` (a `$ref` into the spec) with the spec's components
/// and PayPal's formats.
fn validator(spec: &Value, schema: &Value) -> jsonschema::Validator {
    let root = json!({"allOf": [schema], "components": spec["components"]});
    let email = regex::Regex::new(r"^[^@\s]+@[^@\s]+\.[^@\s]+$").unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .with_format("ppaas_date_notime_v2", is_date)
        .with_format("ppaas_date_time_v3", |s: &str| {
            s.parse::<jiff::Timestamp>().is_ok()
        })
        .with_format("ppaas_common_currency_code_v2", |s: &str| {
            s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
        })
        .with_format("ppaas_common_country_code_v2", |s: &str| {
            s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
        })
        .with_format("ppaas_common_email_address_v2", move |s: &str| {
            email.is_match(s)
        })
        .with_format("ppaas_common_language_v3", |s: &str| {
            regex::Regex::new(r"^[a-z]{2}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?$")
                .unwrap()
                .is_match(s)
        })
        .with_format("ppaas_common_percentage_v2", |s: &str| {
            s.parse::<rust_decimal::Decimal>().is_ok()
        })
        .build(&root)
        .unwrap_or_else(|e| panic!("bad schema {schema}: {e}"))
}

/// The operation of a catalog action in the spec.
fn operation<'s>(spec: &'s Value, a: &Action) -> &'s Value {
    let op = &spec["paths"][&a.api.path][a.api.method.to_ascii_lowercase()];
    assert!(
        op.is_object(),
        "{} {} is not in {SPEC}",
        a.api.method,
        a.api.path
    );
    op
}

fn request_schema(spec: &Value, a: &Action) -> Option<Value> {
    operation(spec, a)
        .pointer("/requestBody/content/application~1json/schema")
        .cloned()
}

fn response_schema(spec: &Value, method: &str, path: &str, status: &str) -> Value {
    spec["paths"][path][method]
        .pointer(&format!(
            "/responses/{status}/content/application~1json/schema"
        ))
        .cloned()
        .unwrap_or_else(|| panic!("{method} {path}: no {status} schema"))
}

/// Every error of `body` against `schema`, as text naming the place.
fn errors(spec: &Value, schema: &Value, body: &Value) -> Vec<String> {
    validator(spec, schema)
        .iter_errors(body)
        .map(|e| format!("{e} at `{}`", e.instance_path()))
        .collect()
}

/// Representative inputs of each PayPal action: every input the action has,
/// with values a flow would give.
fn inputs(action: &str) -> Value {
    let notify = json!({"invoice_id": "INV2-C82X-JNN9-Y6S5-CNXW", "subject": "Your invoice",
        "note": "Thank you for your order.", "send_to_recipient": true, "send_to_invoicer": false});
    match action {
        "create_invoice" => json!({
            "currency": "EUR", "invoice_number": "D-2025-0001", "invoice_date": "2025-03-01",
            "reference": "PO-7788", "note": "Thank you.", "terms": "No refunds after 30 days.",
            "memo": "private", "payment_term": "DUE_ON_DATE_SPECIFIED", "due_date": "2025-03-31",
            "recipient_email": "payer@example.com", "recipient_name": "Anna Berg",
            "recipient_given_name": "Anna", "recipient_surname": "Berg",
            "recipient_business_name": "Berg AS",
            "items": [{"name": "Box", "description": "A box", "quantity": "2",
                       "unit_amount": {"amount": "12.5", "currency": "EUR"},
                       "tax_name": "VAT", "tax_percent": "21", "unit_of_measure": "QUANTITY",
                       "item_date": "2025-03-01"}],
            "allow_partial_payment": false, "tax_inclusive": false
        }),
        "send_invoice" | "remind_invoice" | "cancel_invoice" => notify,
        "get_invoice" | "delete_invoice" => json!({"invoice_id": "INV2-C82X-JNN9-Y6S5-CNXW"}),
        "search_invoices" => json!({
            "invoice_number": "D-2025-0001", "recipient_email": "payer@example.com",
            "status": "SENT", "reference": "PO-7788", "currency": "EUR", "memo": "private",
            "invoice_date_from": "2025-03-01", "invoice_date_to": "2025-03-31",
            "due_date_from": "2025-03-01", "due_date_to": "2025-04-30", "archived": false,
            "page": 1, "page_size": 20, "total_required": true
        }),
        "record_payment" => json!({
            "invoice_id": "INV2-C82X-JNN9-Y6S5-CNXW", "method": "BANK_TRANSFER",
            "payment_date": "2025-03-05", "amount": {"amount": "25", "currency": "EUR"},
            "note": "Paid by transfer."
        }),
        "generate_next_invoice_number" => json!({}),
        other => panic!("no representative inputs for paypal.{other}: add them"),
    }
}

/// The JSON body the runtime builds for `action` (`None`: it sends none).
fn body(action: &str, inputs: &Value) -> Option<Value> {
    let p = provider("paypal").unwrap();
    let a = p.action(action).unwrap();
    let built = build(Kind::PayPal, p, a, inputs)
        .unwrap_or_else(|e| panic!("{action}: inputs refused: {e:?}"));
    match built.body {
        Body::Json(v) => Some(v),
        Body::None => None,
        other => panic!("{action}: not a JSON body: {other:?}"),
    }
}

#[test]
fn every_paypal_request_body_validates_against_its_schema() {
    let spec = spec();
    let p = provider("paypal").unwrap();
    let mut problems = Vec::new();
    let mut bodies = 0;
    for a in &p.actions {
        let schema = request_schema(&spec, a);
        let sent = body(&a.name, &inputs(&a.name));
        match (sent, schema) {
            (Some(b), Some(s)) => {
                bodies += 1;
                // Also with only the required inputs: the least a flow can give.
                let required: serde_json::Map<String, Value> = inputs(&a.name)
                    .as_object()
                    .unwrap()
                    .iter()
                    .filter(|(k, _)| a.inputs.iter().any(|f| &f.name == *k && f.required))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let least = body(&a.name, &Value::Object(required)).unwrap_or(json!({}));
                for (what, b) in [("all inputs", b), ("required inputs", least)] {
                    for e in errors(&spec, &s, &b) {
                        problems.push(format!("{} ({what}): {e}", a.name));
                    }
                }
            }
            // PayPal's search and number endpoints take an optional body.
            (None, _) => {}
            (Some(b), None) => problems.push(format!(
                "{}: sends {b} but the operation takes no body",
                a.name
            )),
        }
    }
    assert!(bodies >= 6, "only {bodies} bodies checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_dropped_required_property_or_a_bad_value_is_named() {
    let spec = spec();
    let p = provider("paypal").unwrap();
    let create = p.action("create_invoice").unwrap();
    let schema = request_schema(&spec, create).unwrap();
    let good = body("create_invoice", &inputs("create_invoice")).unwrap();
    assert!(errors(&spec, &schema, &good).is_empty());

    // `detail.currency_code` is required by the spec.
    let mut bad = good.clone();
    bad["detail"]
        .as_object_mut()
        .unwrap()
        .remove("currency_code");
    let errs = errors(&spec, &schema, &bad);
    assert!(
        errs.iter()
            .any(|e| e.contains("currency_code") && e.contains("required")),
        "{errs:?}"
    );
    // An item's `name` is required too.
    let mut bad = good.clone();
    bad["items"][0].as_object_mut().unwrap().remove("name");
    let errs = errors(&spec, &schema, &bad);
    assert!(
        errs.iter()
            .any(|e| e.contains("\"name\"") && e.contains("/items/0")),
        "{errs:?}"
    );
    // A type, an enum, a format.
    for (pointer, value, want) in [
        ("/items/0/quantity", json!(2), "/items/0/quantity"),
        (
            "/detail/payment_term/term_type",
            json!("NET_7"),
            "/detail/payment_term/term_type",
        ),
        (
            "/detail/invoice_date",
            json!("2025-02-30"),
            "/detail/invoice_date",
        ),
    ] {
        let mut bad = good.clone();
        *bad.pointer_mut(pointer).unwrap() = value;
        let errs = errors(&spec, &schema, &bad);
        assert!(errs.iter().any(|e| e.contains(want)), "{pointer}: {errs:?}");
    }
    // A payment without its required `method`.
    let record = p.action("record_payment").unwrap();
    let mut bad = body("record_payment", &inputs("record_payment")).unwrap();
    bad.as_object_mut().unwrap().remove("method");
    let errs = errors(&spec, &request_schema(&spec, record).unwrap(), &bad);
    assert!(errs.iter().any(|e| e.contains("\"method\"")), "{errs:?}");
}

#[tokio::test]
async fn the_simulators_answers_validate_against_the_response_schemas() {
    let spec = spec();
    let sim = PayPalSim::start(SimConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/v1/oauth2/token", sim.url()))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut rb = http
            .request(method, format!("{}{path}", sim.url()))
            .bearer_auth(&token)
            .header("Prefer", "return=representation");
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        async move {
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let mut problems = Vec::new();
    let mut check = |what: &str, method: &str, path: &str, status: u16, answer: &Value| {
        let schema = response_schema(&spec, method, path, &status.to_string());
        for e in errors(&spec, &schema, answer) {
            problems.push(format!("{what}: {e}"));
        }
    };

    let mut create = inputs("create_invoice");
    create["invoice_date"] = json!("2020-01-01"); // not in the future: sent, not scheduled
    let (s, inv) = call(
        reqwest::Method::POST,
        "/v2/invoicing/invoices".into(),
        body("create_invoice", &create),
    )
    .await;
    assert_eq!(s, 201, "{inv}");
    check("create", "post", "/v2/invoicing/invoices", s, &inv);
    let id = inv["id"].as_str().unwrap().to_string();

    let (s, sent) = call(
        reqwest::Method::POST,
        format!("/v2/invoicing/invoices/{id}/send"),
        body(
            "send_invoice",
            &json!({"invoice_id": id, "subject": "Your invoice"}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{sent}");
    check(
        "send",
        "post",
        "/v2/invoicing/invoices/{invoice_id}/send",
        s,
        &sent,
    );

    let (s, got) = call(
        reqwest::Method::GET,
        format!("/v2/invoicing/invoices/{id}"),
        None,
    )
    .await;
    assert_eq!((s, got["status"].as_str()), (200, Some("SENT")), "{got}");
    check("get", "get", "/v2/invoicing/invoices/{invoice_id}", s, &got);
    // The check can fail: a status PayPal does not have is named.
    let mut tampered = got.clone();
    tampered["status"] = json!("LOST");
    let schema = response_schema(&spec, "get", "/v2/invoicing/invoices/{invoice_id}", "200");
    let errs = errors(&spec, &schema, &tampered);
    assert!(errs.iter().any(|e| e.contains("/status")), "{errs:?}");

    let (s, found) = call(
        reqwest::Method::POST,
        "/v2/invoicing/search-invoices?total_required=true".into(),
        body("search_invoices", &json!({"invoice_number": "D-2025-0001"})),
    )
    .await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");
    check("search", "post", "/v2/invoicing/search-invoices", s, &found);

    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
