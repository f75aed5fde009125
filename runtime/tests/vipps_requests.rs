//! Every Vipps action's request, as the runtime sends it (built from the
//! catalog, then completed from the connection by `vipps::authorize`: the
//! merchant serial number and the payment's callback token), validated with the
//! `jsonschema` crate against the request schema of its operation in
//! `shared/specs/vipps/` (eCom v2 and ePayment v1): required properties, types,
//! enums, lengths, patterns and formats. A body without
//! `merchantInfo.merchantSerialNumber` is shown to fail.

use flowc_catalog::specs::{Operation, Specs};
use flowc_catalog::{Action, Field, FieldType, Provider, provider};
use flowc_runtime::action::request::build;
use flowc_runtime::flow::{ConnectionDef, SecretSource};
use flowc_runtime::http::{Body, HttpRequest, set_simulated_env};
use flowc_runtime::providers::Kind;
use flowc_runtime::providers::vipps;
use serde_json::{Value, json};

const BASE: &str = "http://127.0.0.1:9";

/// A value of `f` within the catalog's bounds (which copy the spec's).
fn sample(p: &Provider, f: &Field) -> Value {
    if let Some(first) = f.enum_values.first() {
        return json!(first);
    }
    let pattern = f
        .pattern
        .clone()
        .or_else(|| match &f.ty {
            FieldType::Id { kind, .. } => p.id_kind(kind).and_then(|k| k.pattern.clone()),
            _ => None,
        })
        .map(|p| regex::Regex::new(&p).unwrap());
    let min = f.min_length.unwrap_or(0) as usize;
    let fits = |s: &&str| {
        s.chars().count() >= min
            && f.max_length.is_none_or(|m| s.chars().count() <= m as usize)
            && pattern.as_ref().is_none_or(|re| re.is_match(s))
    };
    let text = |first: &'static str| {
        let found = [
            first,
            "ORD-2025-0001",
            "12345678",
            "4791234567",
            "sample text",
        ]
        .into_iter()
        .find(fits)
        .unwrap_or_else(|| panic!("no sample fits {}", f.name));
        json!(found)
    };
    match &f.ty {
        FieldType::String | FieldType::Text | FieldType::Id { .. } => text("ORD-2025-0001"),
        FieldType::Url => text("https://shop.example.no/vipps"),
        FieldType::Phone => text("12345678"),
        FieldType::Integer => json!(f.min.unwrap_or(100).max(100)),
        FieldType::Money => json!({
            "amount": "10.00",
            "currency": f.currencies.first().map_or("NOK", String::as_str)
        }),
        FieldType::Bool => json!(true),
        FieldType::Datetime => json!("2025-03-01T10:00:00Z"),
        FieldType::Map => json!({"order": "A-1"}),
        other => panic!("{}: no sample for {other:?}", f.name),
    }
}

/// A connection whose credentials are simulated environment values (no real
/// variable is read or set).
fn connection() -> &'static ConnectionDef {
    const CREDS: [(&str, &str, &str); 4] = [
        ("client_id", "FLOWC_TEST_VIPPS_REQ_CLIENT_ID", "client-id"),
        (
            "client_secret",
            "FLOWC_TEST_VIPPS_REQ_CLIENT_SECRET",
            "client-secret",
        ),
        (
            "subscription_key",
            "FLOWC_TEST_VIPPS_REQ_SUB_KEY",
            "sub-key",
        ),
        (
            "merchant_serial_number",
            "FLOWC_TEST_VIPPS_REQ_MSN",
            "123456",
        ),
    ];
    static CONN: std::sync::OnceLock<ConnectionDef> = std::sync::OnceLock::new();
    CONN.get_or_init(|| {
        for (_, env, value) in CREDS {
            set_simulated_env(env, value);
        }
        let creds: Vec<(&'static str, SecretSource)> = CREDS
            .iter()
            .map(|(name, env, _)| (*name, SecretSource::Env(env)))
            .collect();
        ConnectionDef {
            name: "vipps",
            provider: "vipps",
            mode: "test",
            base_url: BASE,
            credentials: Box::leak(creds.into_boxed_slice()),
        }
    })
}

/// The body the runtime sends for action `a` with every input set.
fn sent_body(p: &Provider, a: &Action, conn: &ConnectionDef) -> Option<Value> {
    let inputs: serde_json::Map<String, Value> = a
        .inputs
        .iter()
        .map(|f| (f.name.clone(), sample(p, f)))
        .collect();
    let built = build(Kind::Vipps, p, a, &Value::Object(inputs))
        .unwrap_or_else(|e| panic!("{}: {e:?}", a.name));
    let mut req = HttpRequest::new(built.method, format!("{BASE}{}", built.path));
    req.body = built.body;
    let req = vipps::authorize(conn, BASE, req).unwrap();
    match req.body {
        Body::None => None,
        Body::Json(v) => Some(v),
        other => panic!("{}: {other:?}", a.name),
    }
}

/// The one external document the ePayment spec refers to (its `receipt`), read
/// from `shared/specs/` instead of the network; any other URL is refused.
struct LocalSpecs {
    order_management: Value,
}

const ORDER_MANAGEMENT_URL: &str =
    "https://raw.githubusercontent.com/vippsas/vipps-order-management-api/2.3.24/docs/swagger.yaml";

impl jsonschema::Retrieve for LocalSpecs {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        if uri.as_str() == ORDER_MANAGEMENT_URL {
            Ok(self.order_management.clone())
        } else {
            Err(format!("{uri}: not a local spec").into())
        }
    }
}

/// ePayment's `Customer` is a `oneOf` of a phone number, a QR code and a
/// customer token whose branches require nothing, so every customer matches all
/// three and JSON Schema refuses it; the spec's text means "one of these
/// properties". Read as `anyOf`, each branch's properties are still checked.
fn one_of_as_any_of(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(branches) = m.remove("oneOf") {
                m.insert("anyOf".into(), branches);
            }
            m.values_mut().for_each(one_of_as_any_of);
        }
        Value::Array(a) => a.iter_mut().for_each(one_of_as_any_of),
        _ => {}
    }
}

/// The errors of `body` against the request schema of `a`'s operation.
fn problems(specs: &Specs, a: &Action, body: &Value) -> Vec<String> {
    let spec_name = a.api.spec.as_deref().unwrap();
    let op = Operation::find(specs, spec_name, &a.api.method, &a.api.path)
        .unwrap_or_else(|| panic!("{}: not in {spec_name}", a.name));
    let at = op
        .request(specs)
        .unwrap_or_else(|| panic!("{}: the operation takes no body", a.name));
    schema_problems(specs, spec_name, &at.schema, body, &a.name)
}

/// The errors of `body` against `schema`, a schema of spec `spec_name`.
fn schema_problems(
    specs: &Specs,
    spec_name: &str,
    schema: &Value,
    body: &Value,
    label: &str,
) -> Vec<String> {
    let components = specs
        .get(spec_name)
        .pointer("/components")
        .expect("components");
    // The spec's `#/components/…` references resolve inside this document.
    let mut schema = json!({"allOf": [schema], "components": *components});
    one_of_as_any_of(&mut schema);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .with_retriever(LocalSpecs {
            order_management: (*specs
                .get("vipps/order-management-2.3.24/swagger.yaml")
                .pointer("")
                .expect("the order management spec"))
            .clone(),
        })
        .build(&schema)
        .unwrap_or_else(|e| panic!("{label}: bad schema: {e}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{label}: {e} at `{}`", e.instance_path()))
        .collect()
}

#[test]
fn every_vipps_request_body_validates_against_its_spec() {
    let specs = Specs::default();
    let p = provider("vipps").unwrap();
    let conn = connection();
    let mut found = Vec::new();
    let mut checked = Vec::new();
    for a in &p.actions {
        let Some(body) = sent_body(p, a, conn) else {
            // No body: only where the operation's body is optional.
            let op = Operation::find(
                &specs,
                a.api.spec.as_deref().unwrap(),
                &a.api.method,
                &a.api.path,
            )
            .unwrap();
            let required = op
                .op
                .pointer("/requestBody/required")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            assert!(!required, "{}: the spec requires a body", a.name);
            continue;
        };
        found.extend(problems(&specs, a, &body));
        checked.push(a.name.as_str());
    }
    assert_eq!(
        checked,
        [
            "initiate_payment",
            "capture_payment",
            "cancel_payment",
            "refund_payment",
            "epayment_create_payment",
            "epayment_capture",
            "epayment_refund"
        ]
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The bodies `flows/vipps_epayment.flow.yaml` sends, with the inputs its
/// steps give (a push message with the payer's phone and no return URL, a
/// payment page with both; the capture of the whole amount), validate
/// against `epayment.v1.yml`; its `get` and `cancel` send no body. A
/// reference one character too short is shown to fail.
#[test]
fn the_epayment_flows_requests_validate_against_the_spec() {
    let specs = Specs::default();
    let p = provider("vipps").unwrap();
    let conn = connection();
    let body = |action: &str, inputs: Value| {
        let a = p.action(action).unwrap();
        let built = build(Kind::Vipps, p, a, &inputs).unwrap_or_else(|e| panic!("{action}: {e:?}"));
        let mut req = HttpRequest::new(built.method, format!("{BASE}{}", built.path));
        req.body = built.body;
        match vipps::authorize(conn, BASE, req).unwrap().body {
            Body::Json(v) => (a, Some(v)),
            Body::None => (a, None),
            other => panic!("{action}: {other:?}"),
        }
    };
    let amount = json!({"amount": "100.00", "currency": "NOK"});
    let create = |user_flow: &str, return_url: Option<&str>| {
        let mut inputs = json!({"reference": "pay-A-1001", "amount": amount,
            "payment_method": "WALLET", "user_flow": user_flow,
            "phone_number": "4791234567", "payment_description": "Order A-1001"});
        if let Some(u) = return_url {
            inputs["return_url"] = json!(u);
        }
        inputs
    };
    let mut found = Vec::new();
    for inputs in [
        create("PUSH_MESSAGE", None),
        create("WEB_REDIRECT", Some("https://www.example.no/ordre/A-1001")),
    ] {
        let (a, sent) = body("epayment_create_payment", inputs);
        let sent = sent.expect("a create has a body");
        assert_eq!(sent["amount"], json!({"value": 10000, "currency": "NOK"}));
        found.extend(problems(&specs, a, &sent));
    }
    let (a, sent) = body(
        "epayment_capture",
        json!({"reference": "pay-A-1001", "amount": amount}),
    );
    found.extend(problems(&specs, a, &sent.unwrap()));
    for action in ["epayment_get_payment", "epayment_cancel"] {
        assert_eq!(body(action, json!({"reference": "pay-A-1001"})).1, None);
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    let (a, sent) = body("epayment_create_payment", create("PUSH_MESSAGE", None));
    let mut short = sent.unwrap();
    short["reference"] = json!("pay-A-1");
    assert!(!problems(&specs, a, &short).is_empty());
}

#[test]
fn a_body_without_the_merchant_serial_number_is_refused() {
    let specs = Specs::default();
    let p = provider("vipps").unwrap();
    let conn = connection();
    for name in [
        "initiate_payment",
        "capture_payment",
        "cancel_payment",
        "refund_payment",
    ] {
        let a = p.action(name).unwrap();
        let mut body = sent_body(p, a, conn).unwrap();
        assert_eq!(body["merchantInfo"]["merchantSerialNumber"], "123456");
        assert!(problems(&specs, a, &body).is_empty());
        body["merchantInfo"]
            .as_object_mut()
            .unwrap()
            .remove("merchantSerialNumber");
        let found = problems(&specs, a, &body);
        assert!(
            found.iter().any(|e| e.contains("merchantSerialNumber")),
            "{name}: {found:?}"
        );
    }
}

#[test]
fn the_payment_request_carries_its_callback_token_not_the_secret() {
    let p = provider("vipps").unwrap();
    let a = p.action("initiate_payment").unwrap();
    let conn = connection();
    let body = sent_body(p, a, conn).unwrap();
    let info = &body["merchantInfo"];
    let order = body["transaction"]["orderId"].as_str().unwrap();
    let token = info["authToken"].as_str().unwrap();
    let key = flowc_runtime::http::Secret::new("client-secret");
    assert!(vipps::auth_token::verify(
        &key,
        "123456",
        order,
        Some(token)
    ));
    assert!(!body.to_string().contains("client-secret"));
    // A retry of the same order sends the same token; another order another.
    assert_eq!(
        sent_body(p, a, conn).unwrap()["merchantInfo"]["authToken"],
        token
    );
    assert!(info["callbackPrefix"].is_string() && info["fallBack"].is_string());
}

/// The Vipps simulator's answers, over loopback, validate against the
/// response schemas of the eCom spec (and its errors against `ErrorArray`);
/// shown to fail on an answer whose `orderId` is not a string.
#[tokio::test]
async fn the_simulators_answers_validate_against_the_ecom_spec() {
    use vipps::sim::{MSN, SUBSCRIPTION_KEY, SimConfig, VippsSim};
    const SPEC: &str = "vipps/ecom/swagger.yaml";
    let specs = Specs::default();
    let sim = VippsSim::start(SimConfig::default()).await.unwrap();
    let client = reqwest::Client::new();
    let token = sim.access_token().await.unwrap();
    let call = |method: &str, path: String, body: Option<Value>| {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = client
            .request(m, format!("{}{path}", sim.url()))
            .bearer_auth(&token)
            .header("Ocp-Apim-Subscription-Key", SUBSCRIPTION_KEY)
            .header("Merchant-Serial-Number", MSN);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        async move {
            let r = rb.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let merchant = json!({"merchantSerialNumber": MSN});
    let tx = |amount: Option<i64>| {
        let mut t = json!({"transactionText": "flowc"});
        if let Some(a) = amount {
            t["amount"] = json!(a);
        }
        json!({"merchantInfo": merchant, "transaction": t})
    };
    let initiate = json!({"merchantInfo": {"merchantSerialNumber": MSN,
        "callbackPrefix": "http://127.0.0.1:9/webhooks/vipps", "fallBack": "https://shop.example.no/x"},
        "customerInfo": {"mobileNumber": "91234567"},
        "transaction": {"orderId": "ORD-SPEC-1", "amount": 1000, "transactionText": "flowc"}});
    let mut answers = vec![(
        "POST",
        "/ecomm/v2/payments",
        call("POST", "/ecomm/v2/payments".into(), Some(initiate.clone())).await,
    )];
    sim.approve("ORD-SPEC-1").unwrap();
    let p = "/ecomm/v2/payments/ORD-SPEC-1";
    for (m, op, body) in [
        ("POST", "capture", Some(tx(Some(600)))),
        ("POST", "refund", Some(tx(Some(100)))),
        ("GET", "details", None),
    ] {
        let path: &'static str = match op {
            "capture" => "/ecomm/v2/payments/{orderId}/capture",
            "refund" => "/ecomm/v2/payments/{orderId}/refund",
            _ => "/ecomm/v2/payments/{orderId}/details",
        };
        answers.push((m, path, call(m, format!("{p}/{op}"), body).await));
    }
    call(
        "POST",
        "/ecomm/v2/payments".into(),
        Some(json!({"merchantInfo": {"merchantSerialNumber": MSN,
        "callbackPrefix": "http://127.0.0.1:9/w", "fallBack": "https://x.no"},
        "transaction": {"orderId": "ORD-SPEC-2", "amount": 1000, "transactionText": "t"}})),
    )
    .await;
    answers.push((
        "PUT",
        "/ecomm/v2/payments/{orderId}/cancel",
        call(
            "PUT",
            "/ecomm/v2/payments/ORD-SPEC-2/cancel".into(),
            Some(tx(None)),
        )
        .await,
    ));
    for (method, path, (status, body)) in &answers {
        assert_eq!(*status, 200, "{method} {path}: {body}");
        let op = Operation::find(&specs, SPEC, method, path).unwrap();
        let at = op.response(&specs).unwrap();
        let errs = schema_problems(&specs, SPEC, &at.schema, body, path);
        assert!(errs.is_empty(), "{errs:#?}");
        let mut broken = body.clone();
        broken["orderId"] = json!(123);
        assert!(
            !schema_problems(&specs, SPEC, &at.schema, &broken, path).is_empty(),
            "{path}: an answer whose orderId is a number must fail"
        );
    }
    // An error (the same order id again) in the spec's ErrorArray shape.
    let (status, err) = call("POST", "/ecomm/v2/payments".into(), Some(initiate)).await;
    assert_eq!(status, 400);
    let errs = schema_problems(
        &specs,
        SPEC,
        &json!({"$ref": "#/components/schemas/ErrorArray"}),
        &err,
        "error",
    );
    assert!(errs.is_empty(), "{errs:#?}");
}

/// The simulator's ePayment answers, over loopback, validate against the
/// response schemas of `epayment.v1.yml` (create, get, capture, refund,
/// cancel, the event log; errors against `Problem`); shown to fail on an
/// answer whose `reference` is not a string. The spec's `PaymentEvent` lists
/// `paymentAction` as required but defines no such property (an older
/// version's name for `name`), so the log's entries are checked without it.
#[tokio::test]
async fn the_simulators_epayment_answers_validate_against_the_spec() {
    use vipps::sim::{MSN, SUBSCRIPTION_KEY, SimConfig, VippsSim};
    const SPEC: &str = "vipps/epayment/epayment.v1.yml";
    let specs = Specs::default();
    let sim = VippsSim::start(SimConfig::default()).await.unwrap();
    let client = reqwest::Client::new();
    let token = sim.access_token().await.unwrap();
    let call = |method: &str, path: String, body: Option<Value>, key: &str| {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = client
            .request(m, format!("{}{path}", sim.url()))
            .bearer_auth(&token)
            .header("Ocp-Apim-Subscription-Key", SUBSCRIPTION_KEY)
            .header("Merchant-Serial-Number", MSN)
            .header("Idempotency-Key", key);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        async move {
            let r = rb.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let create = |reference: &str| {
        json!({"amount": {"value": 1000, "currency": "NOK"},
               "paymentMethod": {"type": "WALLET"},
               "customer": {"phoneNumber": "4791234567"},
               "reference": reference, "userFlow": "WEB_REDIRECT",
               "returnUrl": "https://shop.example.no/done", "paymentDescription": "Socks"})
    };
    let amount = |v: i64| json!({"modificationAmount": {"value": v, "currency": "NOK"}});
    let p = "/epayment/v1/payments";
    let created = call("POST", p.into(), Some(create("pay-spec-1")), "s1").await;
    sim.approve("pay-spec-1").unwrap();
    let mut answers = vec![("POST", p.to_string(), created)];
    let r = "/epayment/v1/payments/{reference}";
    for (m, op, body, key) in [
        ("POST", "capture", Some(amount(600)), "s2"),
        ("POST", "refund", Some(amount(100)), "s3"),
        ("POST", "refund", Some(amount(200)), "s4"),
        ("GET", "", None, "g1"),
    ] {
        let path = format!(
            "{p}/pay-spec-1{}",
            if op.is_empty() {
                String::new()
            } else {
                format!("/{op}")
            }
        );
        let spec_path = if op.is_empty() {
            r.to_string()
        } else {
            format!("{r}/{op}")
        };
        answers.push((m, spec_path, call(m, path, body, key).await));
    }
    call("POST", p.into(), Some(create("pay-spec-2")), "s5").await;
    answers.push((
        "POST",
        format!("{r}/cancel"),
        call("POST", format!("{p}/pay-spec-2/cancel"), None, "s6").await,
    ));
    for (method, path, (status, body)) in &answers {
        assert!(matches!(status, 200 | 201), "{method} {path}: {body}");
        let op = Operation::find(&specs, SPEC, method, path)
            .unwrap_or_else(|| panic!("{method} {path}: not in the spec"));
        let at = op.response(&specs).unwrap();
        let errs = schema_problems(&specs, SPEC, &at.schema, body, path);
        assert!(errs.is_empty(), "{errs:#?}");
        let mut broken = body.clone();
        broken["reference"] = json!(123);
        assert!(
            !schema_problems(&specs, SPEC, &at.schema, &broken, path).is_empty(),
            "{path}: an answer whose reference is a number must fail"
        );
    }
    // The event log: a list of PaymentEvent (less the undefined `paymentAction`).
    let (status, log) = call("GET", format!("{p}/pay-spec-1/events"), None, "g2").await;
    assert_eq!(status, 200);
    assert_eq!(log.as_array().unwrap().len(), 5, "{log}");
    let mut event = (*specs
        .get(SPEC)
        .pointer("/components/schemas/PaymentEvent")
        .unwrap())
    .clone();
    event["required"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r != "paymentAction");
    let list = json!({"type": "array", "items": event});
    let errs = schema_problems(&specs, SPEC, &list, &log, "events");
    assert!(errs.is_empty(), "{errs:#?}");
    let mut broken = log.clone();
    broken[2]["name"] = json!("SHIPPED");
    assert!(!schema_problems(&specs, SPEC, &list, &broken, "events").is_empty());
    // An error (the reference again, under another key) is a Problem.
    let (status, err) = call("POST", p.into(), Some(create("pay-spec-1")), "s7").await;
    assert_eq!(status, 409);
    let problem = json!({"$ref": "#/components/schemas/Problem"});
    let errs = schema_problems(&specs, SPEC, &problem, &err, "error");
    assert!(errs.is_empty(), "{errs:#?}");
}
