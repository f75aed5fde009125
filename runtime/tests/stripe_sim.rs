//! The Stripe simulator against the catalog and the spec: every Stripe action
//! of the catalog, built by the runtime's own request builder, is sent to the
//! simulator in a realistic order (ids from earlier answers); every answer is
//! validated against the 200 response schema of its operation in
//! `shared/specs/stripe/spec3.yaml`, and error answers against the spec's
//! `error` schema. OpenAPI's `nullable` becomes a JSON-schema `null` type and
//! `#/components/schemas/…` references become `$defs`, resolved on demand.

use std::collections::{BTreeSet, HashMap};

use flowc_catalog::provider;
use flowc_catalog::specs::{Operation, Specs};
use flowc_runtime::action::request::build;
use flowc_runtime::http::{Body, Method};
use flowc_runtime::providers::Kind;
use flowc_runtime::providers::stripe::sim::{SimConfig, StripeSim};
use serde_json::{Map, Value, json};

const SPEC: &str = "stripe/spec3.yaml";

/// OpenAPI 3.0 schema -> JSON schema; names of referenced components go to `todo`.
fn convert(v: &Value, todo: &mut Vec<String>) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                let name = r.trim_start_matches("#/components/schemas/").to_string();
                todo.push(name.clone());
                return json!({"$ref": format!("#/$defs/{name}")});
            }
            let mut out = Map::new();
            for (k, x) in m {
                let converted = match k.as_str() {
                    "nullable"
                    | "x-expandableFields"
                    | "x-expansionResources"
                    | "x-resourceId"
                    | "description" => continue,
                    // Keys of these are names, not schemas.
                    "properties" => Value::Object(
                        x.as_object()
                            .into_iter()
                            .flatten()
                            .map(|(pk, pv)| (pk.clone(), convert(pv, todo)))
                            .collect(),
                    ),
                    "enum" | "required" => x.clone(),
                    _ => convert(x, todo),
                };
                out.insert(k.clone(), converted);
            }
            if m.get("nullable") == Some(&json!(true)) {
                if let Some(Value::Array(e)) = out.get_mut("enum") {
                    e.push(Value::Null);
                }
                json!({"anyOf": [Value::Object(out), {"type": "null"}]})
            } else {
                Value::Object(out)
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| convert(x, todo)).collect()),
        other => other.clone(),
    }
}

/// Validates answers, with the component schemas converted once.
struct Checker {
    specs: Specs,
    defs: Map<String, Value>,
    problems: Vec<String>,
}

impl Checker {
    fn schema(&mut self, root: &Value) -> Value {
        let mut todo = Vec::new();
        let mut schema = convert(root, &mut todo);
        let spec = self.specs.get(SPEC);
        while let Some(name) = todo.pop() {
            if self.defs.contains_key(&name) {
                continue;
            }
            let found = spec
                .pointer(&format!("/components/schemas/{name}"))
                .unwrap_or_else(|| panic!("no component schema {name}"));
            self.defs.insert(name.clone(), Value::Null);
            let c = convert(&found, &mut todo);
            self.defs.insert(name, c);
        }
        schema["$defs"] = Value::Object(self.defs.clone());
        schema
    }

    fn check(&mut self, what: &str, root: &Value, answer: &Value) {
        let schema = self.schema(root);
        let validator = jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{what}: bad schema: {e}"));
        for e in validator.iter_errors(answer).take(5) {
            self.problems
                .push(format!("{what}: {e} at {}", e.instance_path()));
        }
    }

    fn check_response(&mut self, method: &str, path: &str, answer: &Value) {
        let op = Operation::find(&self.specs, SPEC, method, path)
            .unwrap_or_else(|| panic!("{method} {path} not in the spec"));
        let at = op
            .response(&self.specs)
            .unwrap_or_else(|| panic!("{method} {path}: no 200 schema"));
        let root = (*at.schema).clone();
        self.check(&format!("{method} {path}"), &root, answer);
    }

    fn check_error(&mut self, what: &str, answer: &Value) {
        self.check(what, &json!({"$ref": "#/components/schemas/error"}), answer);
    }
}

struct Client {
    sim: StripeSim,
    http: reqwest::Client,
    checker: Checker,
    used: BTreeSet<String>,
    key: u32,
}

impl Client {
    /// Runs a catalog action with `inputs` and checks the answer's status and schema.
    async fn run(&mut self, action: &str, inputs: Value, status: u16) -> Value {
        let p = provider("stripe").unwrap();
        let a = p.action(action).unwrap();
        let built =
            build(Kind::Stripe, p, a, &inputs).unwrap_or_else(|e| panic!("{action}: {e:?}"));
        let url = format!("{}{}", self.sim.url(), built.path);
        let mut rb = match built.method {
            Method::Get => self.http.get(&url),
            Method::Post => self.http.post(&url),
            Method::Delete => self.http.delete(&url),
            m => panic!("{action}: unexpected {m:?}"),
        };
        rb = rb
            .bearer_auth("sk_test_sim_conformance")
            .query(&built.query);
        if let Body::Form(pairs) = &built.body {
            rb = rb.form(pairs);
        }
        if built.method == Method::Post {
            self.key += 1;
            rb = rb.header("Idempotency-Key", format!("conf-{}", self.key));
        }
        let r = rb.send().await.unwrap();
        let got = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(got, status, "{action}: {body}");
        if got == 200 {
            self.checker
                .check_response(&a.api.method, &a.api.path, &body);
        } else {
            self.checker.check_error(action, &body);
        }
        self.used.insert(action.to_string());
        body
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_catalog_action_works_against_the_simulator_and_matches_the_spec() {
    let sim = StripeSim::start(SimConfig::default()).await.unwrap();
    let mut c = Client {
        sim,
        http: reqwest::Client::new(),
        checker: Checker {
            specs: Specs::default(),
            defs: Map::new(),
            problems: Vec::new(),
        },
        used: BTreeSet::new(),
        key: 0,
    };
    let cus = c
        .run(
            "create_customer",
            json!({"email": "ann@example.com", "name": "Ann", "source": "tok_visa", "metadata": {"plan": "11"}}),
            200,
        )
        .await;
    assert_eq!(
        cus["default_source"]["last4"], "4242",
        "expanded for the card_last4 output"
    );
    let cus_id = id(&cus);
    let found = c
        .run("find_customer", json!({"email": "ann@example.com"}), 200)
        .await;
    assert_eq!(found["data"][0]["id"], json!(cus_id));
    c.run("retrieve_customer", json!({"customer": cus_id}), 200)
        .await;
    c.run(
        "update_customer",
        json!({"customer": cus_id, "name": "Ann B", "default_payment_method": "pm_card_visa"}),
        200,
    )
    .await;
    let prod = c
        .run(
            "create_product",
            json!({"name": "Box", "active": true}),
            200,
        )
        .await;
    let price = c
        .run("create_price", json!({"currency": "EUR", "product": id(&prod), "unit_amount": 1250, "interval": "month"}), 200)
        .await;
    let ch = c
        .run(
            "create_charge",
            json!({"amount": 1500, "currency": "EUR", "customer": cus_id}),
            200,
        )
        .await;
    c.run("retrieve_charge", json!({"charge": id(&ch)}), 200)
        .await;
    let declined = c
        .run(
            "create_charge",
            json!({"amount": 1500, "currency": "EUR", "source": "tok_chargeDeclined"}),
            402,
        )
        .await;
    assert_eq!(declined["error"]["decline_code"], "generic_decline");
    let pi = c
        .run("create_payment_intent", json!({"amount": 2000, "currency": "EUR", "customer": cus_id, "payment_method": "pm_card_visa", "confirm": true}), 200)
        .await;
    assert_eq!(pi["status"], "succeeded");
    c.run("retrieve_payment_intent", json!({"intent": id(&pi)}), 200)
        .await;
    c.run("create_payment_intent", json!({"amount": 2000, "currency": "EUR", "payment_method": "pm_card_chargeDeclined", "confirm": true}), 402)
        .await;
    c.run(
        "create_invoice_item",
        json!({"customer": cus_id, "price": id(&price), "quantity": 2}),
        200,
    )
    .await;
    c.run(
        "create_invoice_item",
        json!({"customer": cus_id, "amount": 500, "currency": "EUR", "description": "Shipping"}),
        200,
    )
    .await;
    let inv = c
        .run(
            "create_invoice",
            json!({"customer": cus_id, "pending_invoice_items_behavior": "include"}),
            200,
        )
        .await;
    assert_eq!(inv["amount_due"], 3000);
    let inv_id = id(&inv);
    c.run("finalize_invoice", json!({"invoice": inv_id}), 200)
        .await;
    c.run("send_invoice", json!({"invoice": inv_id}), 200).await;
    let paid = c.run("pay_invoice", json!({"invoice": inv_id}), 200).await;
    assert_eq!(paid["status"], "paid");
    c.run("retrieve_invoice", json!({"invoice": inv_id}), 200)
        .await;
    let inv2 = c
        .run(
            "create_invoice",
            json!({"customer": cus_id, "collection_method": "send_invoice", "days_until_due": 14}),
            200,
        )
        .await;
    // Stripe's default leaves pending items out; an item can name its draft invoice.
    assert_eq!(inv2["amount_due"], 0);
    c.run(
        "create_invoice_item",
        json!({"customer": cus_id, "invoice": id(&inv2), "amount": 700, "currency": "EUR"}),
        200,
    )
    .await;
    let open = c
        .run("finalize_invoice", json!({"invoice": id(&inv2)}), 200)
        .await;
    assert_eq!(
        (open["status"].as_str(), open["amount_due"].as_i64()),
        (Some("open"), Some(700))
    );
    c.run("void_invoice", json!({"invoice": id(&inv2)}), 200)
        .await;
    c.run("void_invoice", json!({"invoice": id(&inv2)}), 400)
        .await;
    c.run(
        "create_refund",
        json!({"charge": id(&ch), "amount": 500, "reason": "requested_by_customer"}),
        200,
    )
    .await;
    c.run("create_refund", json!({"payment_intent": id(&pi)}), 200)
        .await;
    let refunds = c.run("list_refunds", json!({"charge": id(&ch)}), 200).await;
    assert_eq!(refunds["data"].as_array().unwrap().len(), 1);
    c.run("retrieve_charge", json!({"charge": "ch_missing"}), 404)
        .await;

    let all: BTreeSet<String> = provider("stripe")
        .unwrap()
        .actions
        .iter()
        .map(|a| a.name.clone())
        .collect();
    let missing: Vec<&String> = all.difference(&c.used).collect();
    assert!(
        missing.is_empty(),
        "catalog actions not run against the simulator: {missing:?}"
    );

    // Events and webhook endpoints, by hand (not catalog actions).
    let http = c.http.clone();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", c.sim.url());
        async move {
            let r = http.get(url).bearer_auth("sk_test_x").send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, events) = get("/v1/events?limit=100".into()).await;
    assert_eq!(s, 200);
    c.checker.check_response("GET", "/v1/events", &events);
    let first = id(&events["data"][0]);
    let (_, one) = get(format!("/v1/events/{first}")).await;
    c.checker.check_response("GET", "/v1/events/{id}", &one);
    let we: Value = c
        .http
        .post(format!("{}/v1/webhook_endpoints", c.sim.url()))
        .bearer_auth("sk_test_x")
        .form(&[
            ("url", "http://127.0.0.1:9/hook"),
            ("enabled_events[]", "*"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    c.checker
        .check_response("POST", "/v1/webhook_endpoints", &we);
    let (_, unauth) = {
        let r = c
            .http
            .get(format!("{}/v1/customers", c.sim.url()))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    c.checker.check_error("401", &unauth);

    let types: HashMap<String, usize> =
        c.sim
            .state()
            .event_types()
            .into_iter()
            .fold(HashMap::new(), |mut m, t| {
                *m.entry(t).or_default() += 1;
                m
            });
    for t in [
        "customer.created",
        "charge.succeeded",
        "charge.failed",
        "invoice.paid",
        "invoice.voided",
        "refund.created",
        "payment_intent.succeeded",
    ] {
        assert!(types.contains_key(t), "{t}: {types:?}");
    }
    assert!(
        c.checker.problems.is_empty(),
        "answers that do not fit the spec:\n{}",
        c.checker.problems.join("\n")
    );
    // The checker does catch answers that do not fit.
    let mut broken = cus.clone();
    broken["created"] = json!("yesterday");
    broken["default_source"] = json!({"object": "card"});
    c.checker.check_response("POST", "/v1/customers", &broken);
    c.checker
        .check_error("broken error", &json!({"error": {"type": "oops"}}));
    assert_eq!(c.checker.problems.len(), 3, "{:?}", c.checker.problems);
}
