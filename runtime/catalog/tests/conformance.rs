//! Checks the catalog against the providers' OpenAPI files in `shared/specs/`
//! (beside the repository: `$CARGO_MANIFEST_DIR/../../../shared/specs`).
//!
//! For every action, event poll and token call with `api.spec` set, the spec
//! has that path with that method. For every field with an `api` path into
//! the spec's request or response, the path exists there, and where the spec
//! states them: the enum values are the same, the max length and pattern are
//! the same (inputs), a required input is required, and the JSON type fits
//! the catalog type. Event names and event outputs are checked against the
//! spec's event lists and payload schemas where the specs have them.
//!
//! Stripe's spec3.yaml is 4 MB: parsing all of it takes seconds in a debug
//! build, so the test cuts out just the operations and component schemas it
//! needs (the file is laid out regularly: paths at indent 2, methods at 4,
//! component schemas at 4) and parses only those.

use flowc_catalog::specs::{At, Operation, Specs, expand};
use flowc_catalog::{Action, Event, Field, FieldType, Provider, all_providers, provider};
use serde_json::Value;
use std::collections::BTreeSet;
use std::rc::Rc;

// ----------------------------------------------------------------- spec files

enum Seg {
    Prop(String),
    /// A list element: `[0]` (fixed: required if the list is) or `[]`
    /// (every element: a table's rows, whose columns are required per row).
    Index {
        fixed: bool,
    },
}

/// Splits a body path (`a.b[0].c`, `items[].x`, `recurring[interval]`).
/// `None` for paths this test cannot follow (Buckaroo's `[Name=…]`).
fn segments(path: &str) -> Option<Vec<Seg>> {
    let mut segs = Vec::new();
    let mut word = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !word.is_empty() {
                    segs.push(Seg::Prop(std::mem::take(&mut word)));
                }
            }
            '[' => {
                if !word.is_empty() {
                    segs.push(Seg::Prop(std::mem::take(&mut word)));
                }
                let inner: String = chars.by_ref().take_while(|&c| c != ']').collect();
                if inner.is_empty() {
                    segs.push(Seg::Index { fixed: false });
                } else if inner.chars().all(|c| c.is_ascii_digit()) {
                    segs.push(Seg::Index { fixed: true });
                } else if inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    segs.push(Seg::Prop(inner));
                } else {
                    return None;
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        segs.push(Seg::Prop(word));
    }
    Some(segs)
}

/// The schemas at `path` below `root` (empty when the path is not there).
fn walk(specs: &Specs, root: At, path: &[Seg]) -> Vec<At> {
    let mut here = vec![root];
    for seg in path {
        let mut next = Vec::new();
        for at in &here {
            let mut concrete = Vec::new();
            expand(specs, at, 0, &mut concrete);
            for c in concrete {
                match seg {
                    Seg::Prop(name) => {
                        if let Some(child) = c.schema.get("properties").and_then(|p| p.get(name)) {
                            let listed = c
                                .schema
                                .get("required")
                                .and_then(Value::as_array)
                                .is_some_and(|r| r.iter().any(|n| n == name.as_str()));
                            next.push(At {
                                spec: c.spec.clone(),
                                schema: Rc::new(child.clone()),
                                required: at.required && listed,
                            });
                        }
                    }
                    Seg::Index { fixed } => {
                        if let Some(items) = c.schema.get("items") {
                            next.push(At {
                                spec: c.spec.clone(),
                                schema: Rc::new(items.clone()),
                                required: !fixed || at.required,
                            });
                        }
                    }
                }
            }
        }
        here = next;
        if here.is_empty() {
            break;
        }
    }
    here
}

/// What the concrete schemas at a place say about the value.
#[derive(Default, Debug)]
struct Facts {
    types: BTreeSet<String>,
    enums: Option<BTreeSet<String>>,
    max_length: Option<u64>,
    pattern: Option<String>,
    required: bool,
}

fn facts(specs: &Specs, found: &[At]) -> Facts {
    let mut f = Facts::default();
    for at in found {
        f.required |= at.required;
        let mut concrete = Vec::new();
        expand(specs, at, 0, &mut concrete);
        for c in concrete {
            let s = &c.schema;
            if let Some(t) = s.get("type").and_then(Value::as_str) {
                f.types.insert(t.to_owned());
            }
            if s.get("properties").is_some() {
                f.types.insert("object".to_owned());
            }
            if let Some(values) = s.get("enum").and_then(Value::as_array) {
                // Stripe adds "" to clear a field; it is not a value to send.
                let set = f.enums.get_or_insert_with(BTreeSet::new);
                set.extend(values.iter().filter_map(scalar).filter(|v| !v.is_empty()));
            }
            if let Some(n) = s.get("maxLength").and_then(Value::as_u64) {
                f.max_length = Some(f.max_length.map_or(n, |m| m.max(n)));
            }
            if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                f.pattern = Some(p.to_owned());
            }
        }
    }
    f
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The JSON types a catalog type may have in a spec.
fn fits(ty: &FieldType, types: &BTreeSet<String>) -> bool {
    if types.is_empty() {
        return true; // the spec says nothing
    }
    let ok: &[&str] = match ty {
        FieldType::Integer => &["integer"],
        FieldType::Decimal => &["string", "number"],
        FieldType::Bool => &["boolean"],
        FieldType::Datetime => &["string", "integer"],
        FieldType::Money | FieldType::Map | FieldType::Json => &["object"],
        FieldType::Table => &["array"],
        _ => &["string"],
    };
    types.iter().any(|t| ok.contains(&t.as_str()))
}

fn is_stringy(ty: &FieldType) -> bool {
    matches!(
        ty,
        FieldType::String
            | FieldType::Text
            | FieldType::Email
            | FieldType::Phone
            | FieldType::Url
            | FieldType::Decimal
            | FieldType::Id { .. }
    )
}

// ------------------------------------------------------------------- checks

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.0.push(msg());
        }
    }
    fn finish(self) {
        assert!(
            self.0.is_empty(),
            "{} difference(s) between the catalog and the specs:\n  {}",
            self.0.len(),
            self.0.join("\n  ")
        );
    }
}

/// Where a field's `api` path lands in a request, or `None` when the path is
/// not one this test can follow.
fn input_place(specs: &Specs, op: &Operation, api: &str) -> Option<Vec<At>> {
    if let Some(name) = api.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        return Some(op.parameter(specs, "path", name).into_iter().collect());
    }
    if let Some(name) = api.strip_prefix('?') {
        return Some(op.parameter(specs, "query", name).into_iter().collect());
    }
    let segs = segments(api)?;
    Some(match op.request(specs) {
        Some(body) => walk(specs, body, &segs),
        None => vec![],
    })
}

fn check_input(specs: &Specs, problems: &mut Problems, at: &str, op: &Operation, f: &Field) {
    let Some(api) = &f.api else { return };
    let Some(found) = input_place(specs, op, api) else {
        return;
    };
    problems.check(!found.is_empty(), || {
        format!("{at}: `{api}` is not in the spec's request")
    });
    if found.is_empty() {
        return;
    }
    let facts = facts(specs, &found);
    problems.check(fits(&f.ty, &facts.types), || {
        format!("{at}: type {:?}, but the spec says {:?}", f.ty, facts.types)
    });
    problems.check(!facts.required || f.required, || {
        format!("{at}: the spec requires `{api}`; mark it required")
    });
    check_enum(problems, at, f, &facts);
    // Stripe gives enums a maxLength too; the enum says more.
    if is_stringy(&f.ty) && f.enum_values.is_empty() {
        if let Some(max) = facts.max_length {
            problems.check(f.max_length.map(u64::from) == Some(max), || {
                format!("{at}: max_length {:?}, the spec says {max}", f.max_length)
            });
        }
        if let Some(p) = &facts.pattern {
            problems.check(f.pattern.as_deref() == Some(p.as_str()), || {
                format!("{at}: pattern {:?}, the spec says {p:?}", f.pattern)
            });
        }
    }
    if f.ty == FieldType::Money {
        check_money(specs, problems, at, f, &found, true);
    }
    if f.ty == FieldType::Table {
        for c in &f.columns {
            check_input(specs, problems, &format!("{at} column `{}`", c.name), op, c);
        }
    }
}

fn check_enum(problems: &mut Problems, at: &str, f: &Field, facts: &Facts) {
    let catalog: BTreeSet<String> = f.enum_values.iter().cloned().collect();
    match &facts.enums {
        Some(spec) if !catalog.is_empty() => problems.check(&catalog == spec, || {
            format!("{at}: enum {catalog:?}, the spec lists {spec:?}")
        }),
        Some(spec) => problems.check(f.ty != FieldType::String || spec.len() <= 1, || {
            format!("{at}: the spec has the enum {spec:?}; copy it")
        }),
        None => problems.check(catalog.is_empty(), || {
            format!("{at}: enum {catalog:?}, but the spec has no enum here")
        }),
    }
}

/// A money object's currency list, value pattern and value length.
fn check_money(
    specs: &Specs,
    problems: &mut Problems,
    at: &str,
    f: &Field,
    found: &[At],
    input: bool,
) {
    let child = |name: &str| -> Vec<At> {
        found
            .iter()
            .flat_map(|a| walk(specs, a.clone(), &[Seg::Prop(name.to_owned())]))
            .collect()
    };
    let mut currency = child("currency_code");
    currency.extend(child("currency"));
    let value = child("value");
    problems.check(!currency.is_empty() && !value.is_empty(), || {
        format!("{at}: a money field, but the spec has no currency and value here")
    });
    let currency = facts(specs, &currency);
    let listed: BTreeSet<String> = f.currencies.iter().cloned().collect();
    if let Some(spec) = &currency.enums {
        problems.check(!input || &listed == spec, || {
            format!("{at}: currencies {listed:?}, the spec lists {spec:?}")
        });
    } else {
        problems.check(listed.is_empty(), || {
            format!("{at}: currencies {listed:?}, but the spec has no list")
        });
    }
    let value = facts(specs, &value);
    if input {
        if let Some(p) = &value.pattern {
            problems.check(f.pattern.as_deref() == Some(p.as_str()), || {
                format!("{at}: pattern {:?}, the spec's value has {p:?}", f.pattern)
            });
        }
        if let Some(max) = value.max_length {
            problems.check(f.max_length.map(u64::from) == Some(max), || {
                format!(
                    "{at}: max_length {:?}, the spec's value has {max}",
                    f.max_length
                )
            });
        }
    }
}

/// Checks an output path below `root` (a response or event payload schema).
fn check_output(specs: &Specs, problems: &mut Problems, at: &str, root: &At, f: &Field, api: &str) {
    let Some(segs) = segments(api) else { return };
    let found = walk(specs, root.clone(), &segs);
    problems.check(!found.is_empty(), || {
        format!("{at}: `{api}` is not in the spec's payload")
    });
    if found.is_empty() {
        return;
    }
    let facts = facts(specs, &found);
    problems.check(fits(&f.ty, &facts.types), || {
        format!("{at}: type {:?}, but the spec says {:?}", f.ty, facts.types)
    });
    check_enum(problems, at, f, &facts);
    if f.ty == FieldType::Money {
        check_money(specs, problems, at, f, &found, false);
    }
    if f.ty == FieldType::Table {
        for c in &f.columns {
            if let Some(capi) = &c.api {
                check_output(
                    specs,
                    problems,
                    &format!("{at} column `{}`", c.name),
                    root,
                    c,
                    capi,
                );
            }
        }
    }
}

fn check_action(specs: &Specs, problems: &mut Problems, p: &Provider, a: &Action) {
    let Some(spec) = &a.api.spec else { return };
    let at = format!("{}.{}", p.name, a.name);
    let Some(op) = Operation::find(specs, spec, &a.api.method, &a.api.path) else {
        problems.0.push(format!(
            "{at}: {spec} has no {} {}",
            a.api.method, a.api.path
        ));
        return;
    };
    for f in &a.inputs {
        check_input(
            specs,
            problems,
            &format!("{at}: input `{}`", f.name),
            &op,
            f,
        );
    }
    let response = op.response(specs);
    for f in &a.outputs {
        let Some(api) = &f.api else { continue };
        let fat = format!("{at}: output `{}`", f.name);
        match &response {
            Some(root) => check_output(specs, problems, &fat, root, f, api),
            None => problems
                .0
                .push(format!("{fat}: the operation has no response body")),
        }
    }
}

/// The schema an event's outputs are read from, where a spec has it.
fn event_payload(specs: &Specs, p: &Provider, e: &Event, api: &str) -> Option<At> {
    let schema = |spec: &str, pointer: &str| -> Option<At> {
        let spec = specs.get(spec);
        let schema = spec.pointer(pointer)?;
        Some(At {
            spec,
            schema,
            required: true,
        })
    };
    match p.name.as_str() {
        "stripe" => {
            let object = e.object.as_deref()?;
            if api.starts_with("data.object.") {
                let mut at = schema(
                    "stripe/spec3.yaml",
                    &format!("/components/schemas/{object}"),
                )?;
                // Outputs say `data.object.x`: put the object where they look.
                at.schema = Rc::new(serde_json::json!({
                    "properties": {"data": {"properties": {"object": *at.schema}}}
                }));
                Some(at)
            } else {
                schema("stripe/spec3.yaml", "/components/schemas/event")
            }
        }
        "paypal" => {
            if api.starts_with("resource.invoice.") {
                let mut at = schema("paypal/invoicing_v2.json", "/components/schemas/invoice")?;
                at.schema = Rc::new(serde_json::json!({
                    "properties": {"resource": {"properties": {"invoice": *at.schema}}}
                }));
                Some(at)
            } else {
                schema(
                    "paypal/notifications_webhooks_v1.json",
                    "/components/schemas/event",
                )
            }
        }
        "vipps" if e.name.starts_with("epayments.") => schema(
            "vipps/epayment/epayment.v1.yml",
            "/components/schemas/WebhookEvent",
        ),
        "vipps" if e.name == "ecom.status_changed" => {
            let poll = e.api.as_ref()?;
            Operation::find(specs, poll.spec.as_deref()?, &poll.method, &poll.path)?.response(specs)
        }
        "vipps" => Operation::find(
            specs,
            "vipps/ecom/ms_import.yaml",
            "POST",
            "/callbackPrefix/v2/payments/{orderId}",
        )?
        .request(specs),
        _ => None,
    }
}

#[test]
fn every_spec_operation_exists_and_every_field_matches_it() {
    let specs = Specs::default();
    let mut problems = Problems::default();
    let mut checked = 0;
    for p in all_providers() {
        if let Some(Some(api)) = p.auth.as_ref().map(|a| &a.api)
            && let Some(spec) = &api.spec
        {
            problems.check(
                Operation::find(&specs, spec, &api.method, &api.path).is_some(),
                || {
                    format!(
                        "{}: auth: {spec} has no {} {}",
                        p.name, api.method, api.path
                    )
                },
            );
        }
        for a in &p.actions {
            if a.api.spec.is_some() {
                checked += 1;
            }
            check_action(&specs, &mut problems, p, a);
        }
        for e in &p.events {
            let at = format!("{}.{}", p.name, e.name);
            if let Some(api) = &e.api
                && let Some(spec) = &api.spec
            {
                problems.check(
                    Operation::find(&specs, spec, &api.method, &api.path).is_some(),
                    || format!("{at}: {spec} has no {} {}", api.method, api.path),
                );
            }
            for f in &e.outputs {
                let Some(api) = &f.api else { continue };
                if let Some(root) = event_payload(&specs, p, e, api) {
                    let fat = format!("{at}: output `{}`", f.name);
                    check_output(&specs, &mut problems, &fat, &root, f, api);
                }
            }
        }
    }
    assert!(checked > 30, "only {checked} actions name a spec operation");
    problems.finish();
}

#[test]
fn stripe_event_names_are_in_the_specs_event_list() {
    let specs = Specs::default();
    let op = Operation::find(&specs, "stripe/spec3.yaml", "POST", "/v1/webhook_endpoints")
        .expect("POST /v1/webhook_endpoints");
    let body = op.request(&specs).expect("request body");
    let found = walk(
        &specs,
        body,
        &[
            Seg::Prop("enabled_events".to_owned()),
            Seg::Index { fixed: false },
        ],
    );
    let names = facts(&specs, &found).enums.expect("enabled_events enum");
    assert!(names.len() > 100, "{names:?}");
    let stripe = provider("stripe").unwrap();
    let unknown: Vec<_> = stripe
        .events
        .iter()
        .filter(|e| !names.contains(&e.name))
        .map(|e| e.name.as_str())
        .collect();
    assert!(unknown.is_empty(), "not Stripe event types: {unknown:?}");
}

#[test]
fn vipps_epayment_webhook_names_follow_the_payment_event_names() {
    let specs = Specs::default();
    let spec = specs.get("vipps/epayment/epayment.v1.yml");
    let names = spec
        .pointer("/components/schemas/PaymentEventName/enum")
        .expect("PaymentEventName");
    let expected: BTreeSet<String> = names
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "epayments.payment.{}.v1",
                n.as_str().unwrap().to_lowercase()
            )
        })
        .collect();
    let vipps = provider("vipps").unwrap();
    let catalog: BTreeSet<String> = vipps
        .events
        .iter()
        .filter(|e| e.name.starts_with("epayments."))
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(catalog, expected);
}

/// The walker itself: a path that is not in the spec is reported, so the
/// checks above can fail.
#[test]
fn a_wrong_path_or_enum_is_caught() {
    let specs = Specs::default();
    let op = Operation::find(&specs, "stripe/spec3.yaml", "POST", "/v1/invoices").unwrap();
    let body = op.request(&specs).unwrap();
    let method = walk(
        &specs,
        body.clone(),
        &segments("collection_method").unwrap(),
    );
    let enums = facts(&specs, &method).enums.unwrap();
    assert_eq!(
        enums.into_iter().collect::<Vec<_>>(),
        ["charge_automatically", "send_invoice"]
    );
    assert!(walk(&specs, body, &segments("no_such_field").unwrap()).is_empty());

    let op = Operation::find(
        &specs,
        "paypal/invoicing_v2.json",
        "POST",
        "/v2/invoicing/invoices",
    )
    .unwrap();
    let body = op.request(&specs).unwrap();
    let email = walk(
        &specs,
        body.clone(),
        &segments("primary_recipients[0].billing_info.email_address").unwrap(),
    );
    assert_eq!(facts(&specs, &email).max_length, Some(254));
    let currency = walk(&specs, body, &segments("detail.currency_code").unwrap());
    assert!(facts(&specs, &currency).required);
    assert!(Operation::find(&specs, "paypal/invoicing_v2.json", "GET", "/v2/nope").is_none());
}
