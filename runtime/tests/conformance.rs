//! Every Stripe, PayPal and Vipps action of the catalog, built by the runtime
//! for a representative input (values generated from the field types), checked
//! against the providers' OpenAPI files in `shared/specs/`: the path and method
//! exist; Stripe form parameter names (and their bracketed nesting) exist in the
//! operation's request body schema (or its query parameters for reads); every
//! key of a PayPal or Vipps JSON body exists in the request schema; every query
//! parameter is one the operation declares.
//!
//! The spec files are read with `flowc_catalog::specs`, shared with the
//! catalog's own conformance test.

use flowc_catalog::specs::{At, Operation, Specs, expand};
use flowc_catalog::{Action, Field, FieldType, Provider, provider};
use flowc_runtime::action::path;
use flowc_runtime::action::request::{Built, build};
use flowc_runtime::http::Body;
use flowc_runtime::providers::Kind;
use serde_json::{Map, Value, json};
use std::rc::Rc;

// ------------------------------------------------------------ sample inputs

/// A value of field `f` that the catalog's own checks accept.
fn sample(p: &Provider, f: &Field) -> Value {
    if let Some(first) = f.enum_values.first() {
        return json!(first);
    }
    let text =
        |fallback: &str| -> Value {
            let min = f.min_length.unwrap_or(0) as usize;
            let candidates = [
                fallback.to_string(),
                "order-12345678".into(),
                "ABC12345".into(),
                "12345678".into(),
                "4791234567".into(),
                "1234".into(),
                "eur".into(),
                "x".repeat(min.max(1)),
            ];
            let pattern = f.pattern.as_deref().map(|p| regex::Regex::new(p).unwrap());
            let ok = |s: &String| {
                s.chars().count() >= min
                    && f.max_length.is_none_or(|m| s.chars().count() <= m as usize)
                    && pattern.as_ref().is_none_or(|re| re.is_match(s))
            };
            json!(candidates.into_iter().find(ok).unwrap_or_else(|| panic!(
                "no sample fits {}.{} ({:?})",
                p.name, f.name, f.pattern
            )))
        };
    match &f.ty {
        FieldType::String | FieldType::Text => text("sample text"),
        FieldType::Email => text("payer@example.com"),
        FieldType::Url => text("https://example.com/callback"),
        FieldType::Phone => text("4791234567"),
        FieldType::Country => text("NO"),
        FieldType::Currency => json!("EUR"),
        FieldType::Id { kind, .. } => {
            let prefix = p
                .id_kind(kind)
                .and_then(|k| k.prefix.clone())
                .unwrap_or_default();
            let id_pattern = p.id_kind(kind).and_then(|k| k.pattern.clone());
            let mut g = f.clone();
            if g.pattern.is_none() {
                g.pattern = id_pattern;
            }
            g.ty = FieldType::String;
            if prefix.is_empty() {
                sample(p, &g)
            } else {
                json!(format!("{prefix}123"))
            }
        }
        FieldType::Integer => json!(f.min.unwrap_or(1).max(1)),
        FieldType::Decimal => json!(f.min.unwrap_or(1).max(1).to_string()),
        FieldType::Money => json!({
            "amount": "10.00",
            "currency": f.currencies.first().map_or("EUR", String::as_str)
        }),
        FieldType::Bool => json!(true),
        FieldType::Date => json!("2025-03-01"),
        FieldType::Datetime => json!("2025-03-01T10:00:00Z"),
        FieldType::Map => json!({"order": "A-1"}),
        FieldType::Json => json!({}),
        FieldType::Table => {
            let row: Map<String, Value> = f
                .columns
                .iter()
                .map(|c| (c.name.clone(), sample(p, c)))
                .collect();
            json!([row])
        }
    }
}

/// Every input of the action, optional ones too.
fn inputs(p: &Provider, a: &Action) -> Value {
    Value::Object(
        a.inputs
            .iter()
            .map(|f| (f.name.clone(), sample(p, f)))
            .collect(),
    )
}

// ------------------------------------------------------------------- checks

/// Whether the concrete schemas at a place take any key (`additionalProperties`).
fn open_object(concrete: &[At]) -> bool {
    concrete
        .iter()
        .any(|c| match c.schema.get("additionalProperties") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Object(_)) => true,
            _ => false,
        })
}

/// Checks that every key of `v` exists in the schema `at` (at any branch of it).
fn check_value(specs: &Specs, at: &At, v: &Value, here: &str, problems: &mut Vec<String>) {
    let mut concrete = Vec::new();
    expand(specs, at, 0, &mut concrete);
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let children: Vec<At> = concrete
                    .iter()
                    .filter_map(|c| {
                        c.schema.get("properties")?.get(k).map(|s| At {
                            spec: c.spec.clone(),
                            schema: Rc::new(s.clone()),
                            required: false,
                        })
                    })
                    .collect();
                let path = format!("{here}.{k}");
                match children.first() {
                    Some(child) => check_value(specs, child, x, &path, problems),
                    None if open_object(&concrete) => {}
                    None => problems.push(format!("{path}: not in the request schema")),
                }
            }
        }
        Value::Array(list) => {
            let items: Vec<At> = concrete
                .iter()
                .filter_map(|c| {
                    c.schema.get("items").map(|s| At {
                        spec: c.spec.clone(),
                        schema: Rc::new(s.clone()),
                        required: false,
                    })
                })
                .collect();
            match items.first() {
                Some(item) => {
                    for x in list {
                        check_value(specs, item, x, &format!("{here}[]"), problems);
                    }
                }
                None => problems.push(format!("{here}: a list where the schema has none")),
            }
        }
        _ => {}
    }
}

/// Stripe's form pairs as the JSON tree they stand for (`a[b][0]` -> `{"a": {"b": [..]}}`).
fn form_tree(pairs: &[(String, String)]) -> Value {
    let mut tree = Value::Object(Map::new());
    for (k, v) in pairs {
        let key = k.replace("[]", "[0]");
        let segs = path::parse_body(&key).unwrap();
        path::set(&mut tree, &segs, json!(v)).unwrap();
    }
    tree
}

fn check_action(specs: &Specs, p: &Provider, a: &Action, problems: &mut Vec<String>) {
    let Some(spec_name) = a.api.spec.as_deref() else {
        return;
    };
    let at = format!("{}.{}", p.name, a.name);
    let kind = Kind::from_name(&p.name).unwrap();
    let built: Built = match build(kind, p, a, &inputs(p, a)) {
        Ok(b) => b,
        Err(e) => {
            problems.push(format!(
                "{at}: the sample input is refused: {}",
                e.join("; ")
            ));
            return;
        }
    };
    assert!(
        !built.path.contains('{'),
        "{at}: path parameters are filled"
    );
    let Some(op) = Operation::find(specs, spec_name, &a.api.method, &a.api.path) else {
        problems.push(format!(
            "{at}: {} {} is not in {spec_name}",
            a.api.method, a.api.path
        ));
        return;
    };
    let query_names: Vec<String> = op
        .op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|prm| op.at(specs, prm))
        .filter(|prm| prm.schema.get("in").and_then(Value::as_str) == Some("query"))
        .filter_map(|prm| prm.schema.get("name")?.as_str().map(str::to_string))
        .collect();
    for (k, _) in &built.query {
        let base = k.split('[').next().unwrap_or(k);
        if !query_names.iter().any(|n| n == base) {
            problems.push(format!("{at}: query parameter `{k}` is not declared"));
        }
    }
    let tree = match &built.body {
        Body::None => return,
        Body::Form(pairs) => form_tree(pairs),
        Body::Json(v) => v.clone(),
        other => panic!("{at}: unexpected body {other:?}"),
    };
    match op.request(specs) {
        Some(schema) => check_value(specs, &schema, &tree, &at, problems),
        None => problems.push(format!(
            "{at}: a body is sent, but the operation takes none"
        )),
    }
}

#[test]
fn every_action_request_fits_its_spec() {
    let specs = Specs::default();
    let mut problems = Vec::new();
    let mut checked = 0;
    for name in ["stripe", "paypal", "vipps"] {
        let p = provider(name).unwrap();
        for a in &p.actions {
            // No action is skipped silently: each names its spec operation.
            assert!(a.api.spec.is_some(), "{name}.{} names no spec", a.name);
            checked += 1;
            check_action(&specs, p, a, &mut problems);
        }
    }
    assert!(checked >= 39, "only {checked} actions checked");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn a_key_missing_from_the_schema_is_found() {
    let specs = Specs::default();
    let op = Operation::find(&specs, "stripe/spec3.yaml", "POST", "/v1/charges").unwrap();
    let schema = op.request(&specs).unwrap();
    let mut problems = Vec::new();
    let tree = form_tree(&[
        ("amount".into(), "1".into()),
        ("metadata[any]".into(), "x".into()),
        ("nope[inner]".into(), "x".into()),
    ]);
    check_value(&specs, &schema, &tree, "t", &mut problems);
    assert_eq!(problems, ["t.nope: not in the request schema"]);

    // JSON bodies: a misspelled key deep in a PayPal invoice, at the top of a Vipps payment.
    for (provider_name, action, bad, want) in [
        (
            "paypal",
            "create_invoice",
            "/detail",
            "paypal.create_invoice.detail.bogus",
        ),
        (
            "vipps",
            "epayment_create_payment",
            "",
            "vipps.epayment_create_payment.bogus",
        ),
    ] {
        let p = provider(provider_name).unwrap();
        let a = p.action(action).unwrap();
        let kind = Kind::from_name(provider_name).unwrap();
        let built = build(kind, p, a, &inputs(p, a)).unwrap();
        let Body::Json(mut body) = built.body else {
            panic!("{action}: a JSON body")
        };
        body.pointer_mut(bad)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert("bogus".into(), json!(1));
        let op = Operation::find(
            &specs,
            a.api.spec.as_deref().unwrap(),
            &a.api.method,
            &a.api.path,
        )
        .unwrap();
        let mut problems = Vec::new();
        let at = format!("{provider_name}.{action}");
        check_value(
            &specs,
            &op.request(&specs).unwrap(),
            &body,
            &at,
            &mut problems,
        );
        assert_eq!(problems, [format!("{want}: not in the request schema")]);
    }
}

/// Every page request of a Stripe list (the first, capped at 100 rows, and the
/// ones after, with `starting_after`) sends only parameters the operation
/// declares, within their bounds.
#[test]
fn list_page_requests_fit_the_spec() {
    use flowc_runtime::http::{HttpRequest, Method};
    use flowc_runtime::providers::stripe::pages;
    let specs = Specs::default();
    let p = provider("stripe").unwrap();
    let lists: Vec<&Action> = p.actions.iter().filter(|a| pages::is_list(a)).collect();
    assert!(lists.len() >= 2, "list_refunds and find_customer page");
    for a in lists {
        let mut inputs = inputs(p, a);
        inputs["limit"] = json!(250);
        let mut built = build(Kind::Stripe, p, a, &inputs).unwrap();
        assert_eq!(pages::first_page(&mut built.query), Some(250));
        let mut req = HttpRequest::new(Method::Get, "http://127.0.0.1/x");
        req.query = built.query;
        let rows: Vec<Value> = (0..100).map(|i| json!({"id": format!("x_{i}")})).collect();
        let next = pages::next_page(&req, &json!({"data": rows, "has_more": true}), 250).unwrap();
        let op = Operation::find(&specs, "stripe/spec3.yaml", "GET", &a.api.path).unwrap();
        for query in [&req.query, &next.query] {
            for (k, v) in query {
                let base = k.split('[').next().unwrap_or(k);
                let prm = op
                    .op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|prm| op.at(&specs, prm))
                    .find(|prm| prm.schema.get("name").and_then(Value::as_str) == Some(base))
                    .unwrap_or_else(|| panic!("{}: `{k}` is not declared", a.name));
                if let Some(max) = prm
                    .schema
                    .pointer("/schema/maximum")
                    .and_then(Value::as_i64)
                {
                    let n: i64 = v.parse().unwrap();
                    assert!(n <= max, "{}: {k}={v} is over {max}", a.name);
                }
            }
        }
        assert!(
            next.query
                .iter()
                .any(|(k, v)| k == "starting_after" && v == "x_99")
        );
    }
}

/// The event feed's `GET /v1/events` (first poll, and pages walking newer or
/// older from a cursor) sends only parameters the operation declares, with the
/// types it declares: `types` as an array of every event the catalog knows,
/// `limit` an integer of at most 100, the cursors strings.
#[test]
fn event_list_requests_fit_the_spec() {
    use flowc_runtime::providers::stripe::events::{PAGE_LIMIT, Page, list_request};
    let specs = Specs::default();
    let p = provider("stripe").unwrap();
    let types: Vec<&str> = p.events.iter().map(|e| e.name.as_str()).collect();
    assert!(types.len() >= 10, "the catalog's Stripe events: {types:?}");
    let op = Operation::find(&specs, "stripe/spec3.yaml", "GET", "/v1/events").unwrap();
    let declared = |name: &str| {
        op.op
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|prm| op.at(&specs, prm))
            .find(|prm| prm.schema.get("name").and_then(Value::as_str) == Some(name))
            .map(|prm| prm.schema.get("schema").cloned().unwrap_or(Value::Null))
    };
    for page in [
        Page::Newest,
        Page::NewerThan("evt_1"),
        Page::OlderThan("evt_2"),
    ] {
        let req = list_request("http://127.0.0.1:1", &types, &page, 500);
        assert!(
            matches!(&req.target, flowc_runtime::http::Target::Url(u) if u.ends_with("/v1/events")),
            "{:?}",
            req.target
        );
        let mut seen_types = Vec::new();
        for (k, v) in &req.query {
            let (name, array) = match k.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (k.as_str(), false),
            };
            let schema = declared(name).unwrap_or_else(|| panic!("`{k}` is not declared"));
            let ty = schema.get("type").and_then(Value::as_str);
            if array {
                assert_eq!(ty, Some("array"), "`{k}` is sent as an array");
                seen_types.push(v.as_str());
            } else if ty == Some("integer") {
                let n: usize = v.parse().unwrap_or_else(|_| panic!("{k}={v}"));
                assert!((1..=PAGE_LIMIT).contains(&n), "{k}={v}");
            } else {
                assert_eq!(ty, Some("string"), "`{k}`: {schema}");
            }
        }
        assert_eq!(seen_types, types, "every event type is asked for");
    }
}
