//! Checks the catalog data files for consistency: every file parses, names are
//! unique and well formed, id types point at declared id kinds, tables have
//! columns, defaults and patterns are valid, path parameters line up.
//!
//! Every check collects all problems of all providers and fails once with the
//! whole list, so one run shows everything to fix.

use flowc_catalog::{
    Action, Event, Field, FieldType, Provider, Unit, all_providers, parse_provider, provider,
    provider_names,
};
use regex::Regex;
use std::collections::HashSet;

/// Collects problems and panics with all of them at the end.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, msg: String) {
        self.0.push(msg);
    }
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.0.push(msg());
        }
    }
    fn finish(self) {
        assert!(
            self.0.is_empty(),
            "{} problem(s) in the catalog data:\n  {}",
            self.0.len(),
            self.0.join("\n  ")
        );
    }
}

fn snake_case(s: &str) -> bool {
    let re = Regex::new(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$").unwrap();
    re.is_match(s)
}

fn unique<'a>(
    problems: &mut Problems,
    what: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> HashSet<&'a str> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            problems.push(format!("{what}: `{name}` is declared twice"));
        }
    }
    seen
}

#[test]
fn every_provider_parses_and_is_named_after_its_file() {
    let names: Vec<_> = provider_names().collect();
    assert_eq!(names, ["stripe", "paypal", "vipps", "buckaroo"]);
    for name in names {
        let p = provider(name).unwrap_or_else(|| panic!("no provider `{name}`"));
        assert_eq!(p.name, name);
        assert!(!p.actions.is_empty(), "{name} has no actions");
    }
    assert!(provider("nope").is_none());
    assert_eq!(all_providers().len(), 4);
}

#[test]
fn a_bad_file_is_an_error_not_a_panic() {
    assert!(parse_provider("name: x\n").is_err());
    let unknown_key = "name: x\ntitle: X\nmodes: [test]\ncredentials: []\nactions: []\nbogus: 1\n";
    assert!(parse_provider(unknown_key).is_err());
    let bad_type = "name: x\ntitle: X\nmodes: [test]\ncredentials: []\nactions:\n  - name: a\n    title: A\n    api: {method: GET, path: /a}\n    inputs:\n      - {name: f, type: id(nodot)}\n";
    let err = parse_provider(bad_type).unwrap_err();
    assert!(err.contains("id(provider.kind)"), "{err}");
}

#[test]
fn provider_level_declarations_are_consistent() {
    let mut problems = Problems::default();
    for p in all_providers() {
        let modes = unique(
            &mut problems,
            &format!("{}: modes", p.name),
            p.modes.iter().map(String::as_str),
        );
        problems.check(modes.contains("live"), || {
            format!("{}: has no `live` mode", p.name)
        });
        problems.check(!p.title.is_empty(), || format!("{}: no title", p.name));
        unique(
            &mut problems,
            &format!("{}: credentials", p.name),
            p.credentials.iter().map(|c| c.name.as_str()),
        );
        for c in &p.credentials {
            problems.check(snake_case(&c.name), || {
                format!("{}: credential `{}` is not snake_case", p.name, c.name)
            });
            problems.check(!c.description.is_empty(), || {
                format!("{}: credential `{}` has no description", p.name, c.name)
            });
            for mp in &c.prefixes {
                problems.check(modes.contains(mp.mode.as_str()), || {
                    format!(
                        "{}: credential `{}` has prefixes for unknown mode `{}`",
                        p.name, c.name, mp.mode
                    )
                });
            }
        }
        for u in &p.base_urls {
            problems.check(modes.contains(u.mode.as_str()), || {
                format!("{}: base url for unknown mode `{}`", p.name, u.mode)
            });
            problems.check(u.url.starts_with("https://"), || {
                format!("{}: base url `{}` is not https", p.name, u.url)
            });
        }
        for m in &p.modes {
            problems.check(p.base_urls.iter().any(|u| &u.mode == m), || {
                format!("{}: no base url for mode `{m}`", p.name)
            });
        }
        if let Some(auth) = &p.auth {
            problems.check(
                [
                    "bearer",
                    "oauth2_client_credentials",
                    "access_token",
                    "hmac",
                ]
                .contains(&auth.scheme.as_str()),
                || format!("{}: unknown auth scheme `{}`", p.name, auth.scheme),
            );
            problems.check(!auth.description.is_empty(), || {
                format!("{}: auth has no description", p.name)
            });
        } else {
            problems.push(format!("{}: no auth", p.name));
        }
        unique(
            &mut problems,
            &format!("{}: ids", p.name),
            p.ids.iter().map(|k| k.name.as_str()),
        );
        for k in &p.ids {
            problems.check(snake_case(&k.name), || {
                format!("{}: id kind `{}` is not snake_case", p.name, k.name)
            });
            problems.check(!k.description.is_empty(), || {
                format!("{}: id kind `{}` has no description", p.name, k.name)
            });
            if let Some(pattern) = &k.pattern
                && let Err(e) = Regex::new(pattern)
            {
                problems.push(format!(
                    "{}: id kind `{}`: pattern does not compile: {e}",
                    p.name, k.name
                ));
            }
        }
        unique(
            &mut problems,
            &format!("{}: settings", p.name),
            p.settings.iter().map(|f| f.name.as_str()),
        );
        for f in &p.settings {
            check_field(&mut problems, p, &format!("{}: setting", p.name), f);
        }
    }
    problems.finish();
}

#[test]
fn actions_are_well_formed() {
    let mut problems = Problems::default();
    for p in all_providers() {
        unique(
            &mut problems,
            &format!("{}: actions", p.name),
            p.actions.iter().map(|a| a.name.as_str()),
        );
        for a in &p.actions {
            check_action(&mut problems, p, a);
        }
    }
    problems.finish();
}

#[test]
fn events_are_well_formed() {
    let mut problems = Problems::default();
    for p in all_providers() {
        unique(
            &mut problems,
            &format!("{}: events", p.name),
            p.events.iter().map(|e| e.name.as_str()),
        );
        for e in &p.events {
            check_event(&mut problems, p, e);
        }
    }
    problems.finish();
}

fn one_line(s: &str) -> bool {
    !s.trim().is_empty() && !s.contains('\n')
}

fn check_action(problems: &mut Problems, p: &Provider, a: &Action) {
    let at = format!("{}.{}", p.name, a.name);
    problems.check(snake_case(&a.name), || {
        format!("{at}: action name is not snake_case")
    });
    problems.check(!a.title.is_empty(), || format!("{at}: no title"));
    problems.check(one_line(&a.description), || {
        format!("{at}: the description must be one non-empty line")
    });
    let method = a.api.method.as_str();
    problems.check(
        ["GET", "POST", "PUT", "PATCH", "DELETE", "FILE"].contains(&method),
        || format!("{at}: unknown method `{method}`"),
    );
    if method == "FILE" {
        problems.check(a.batch, || format!("{at}: a FILE action must be a batch"));
        problems.check(a.api.spec.is_none(), || {
            format!("{at}: a FILE action has no spec operation")
        });
    } else {
        problems.check(a.api.path.starts_with('/'), || {
            format!("{at}: path `{}` must start with `/`", a.api.path)
        });
    }
    if method == "GET" {
        problems.check(!a.side_effect, || {
            format!("{at}: a GET cannot be a side effect")
        });
    }
    if let Some(spec) = &a.api.spec {
        problems.check(!spec.starts_with('/') && !spec.contains(".."), || {
            format!("{at}: spec `{spec}` must be relative to shared/specs")
        });
    }

    // Path parameters and the inputs that fill them line up.
    let params = path_params(&a.api.path);
    for param in &params {
        let input = a
            .inputs
            .iter()
            .find(|f| f.api.as_deref() == Some(&format!("{{{param}}}")));
        match input {
            Some(f) => problems.check(f.required, || {
                format!(
                    "{at}: input `{}` fills a path parameter, so it is required",
                    f.name
                )
            }),
            None if method == "FILE" => {}
            None => problems.push(format!("{at}: no input fills path parameter `{{{param}}}`")),
        }
    }
    for f in &a.inputs {
        if let Some(api) = &f.api {
            if let Some(name) = api.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                problems.check(params.iter().any(|p| p == name), || {
                    format!(
                        "{at}: input `{}` maps to `{api}`, which is not in path `{}`",
                        f.name, a.api.path
                    )
                });
            }
        } else {
            // Request-file records have no API path; everything else does.
            problems.check(method == "FILE", || {
                format!("{at}: input `{}` has no `api` path", f.name)
            });
        }
    }

    unique(
        problems,
        &format!("{at}: inputs"),
        a.inputs.iter().map(|f| f.name.as_str()),
    );
    unique(
        problems,
        &format!("{at}: outputs"),
        a.outputs.iter().map(|f| f.name.as_str()),
    );
    for f in &a.inputs {
        check_field(problems, p, &format!("{at}: input"), f);
    }
    for f in &a.outputs {
        check_field(problems, p, &format!("{at}: output"), f);
    }
}

fn check_event(problems: &mut Problems, p: &Provider, e: &Event) {
    let at = format!("{}.{}", p.name, e.name);
    problems.check(
        !e.name.is_empty() && !e.name.contains(char::is_whitespace),
        || format!("{at}: event names have no spaces"),
    );
    problems.check(!e.title.is_empty(), || format!("{at}: no title"));
    problems.check(one_line(&e.description), || {
        format!("{at}: the description must be one non-empty line")
    });
    problems.check(e.webhook || e.poll || e.file, || {
        format!("{at}: an event must come by webhook, by polling or by file")
    });
    if e.poll {
        problems.check(e.api.is_some(), || {
            format!("{at}: a polled event needs the `api` it polls")
        });
    }
    if let Some(api) = &e.api {
        problems.check(api.path.starts_with('/'), || {
            format!("{at}: path `{}` must start with `/`", api.path)
        });
    }
    match &e.object {
        Some(kind) => problems.check(p.id_kind(kind).is_some(), || {
            format!("{at}: object `{kind}` is not an id kind of {}", p.name)
        }),
        None => problems.push(format!("{at}: no `object` id kind")),
    }
    unique(
        problems,
        &format!("{at}: outputs"),
        e.outputs.iter().map(|f| f.name.as_str()),
    );
    for f in &e.outputs {
        check_field(problems, p, &format!("{at}: output"), f);
    }
}

fn path_params(path: &str) -> Vec<String> {
    let re = Regex::new(r"\{([^}]+)\}").unwrap();
    re.captures_iter(path).map(|c| c[1].to_owned()).collect()
}

fn is_stringy(ty: &FieldType) -> bool {
    matches!(
        ty,
        FieldType::String
            | FieldType::Text
            | FieldType::Email
            | FieldType::Phone
            | FieldType::Url
            | FieldType::Id { .. }
    )
}

fn check_field(problems: &mut Problems, p: &Provider, at: &str, f: &Field) {
    let at = format!("{at} `{}`", f.name);
    problems.check(snake_case(&f.name), || {
        format!("{at}: name is not snake_case")
    });
    problems.check(one_line(&f.description), || {
        format!("{at}: the description must be one non-empty line")
    });

    if let FieldType::Id {
        provider: owner,
        kind,
    } = &f.ty
    {
        let known = provider(owner).and_then(|o| o.id_kind(kind));
        problems.check(known.is_some(), || {
            format!("{at}: id({owner}.{kind}) is not a declared id kind")
        });
        problems.check(owner == &p.name, || {
            format!("{at}: id({owner}.{kind}) belongs to another provider")
        });
    }

    // Tables, and only tables, have columns.
    if f.ty == FieldType::Table {
        problems.check(!f.columns.is_empty(), || {
            format!("{at}: a table needs columns")
        });
        unique(
            problems,
            &format!("{at}: columns"),
            f.columns.iter().map(|c| c.name.as_str()),
        );
        for c in &f.columns {
            problems.check(c.ty != FieldType::Table, || {
                format!("{at}: column `{}` is a nested table", c.name)
            });
            if let (Some(table_api), Some(col_api)) = (&f.api, &c.api) {
                problems.check(col_api.starts_with(&format!("{table_api}[]")), || {
                    format!(
                        "{at}: column `{}` path `{col_api}` is not under `{table_api}[]`",
                        c.name
                    )
                });
            }
            check_field(problems, p, &format!("{at} column"), c);
        }
    } else {
        problems.check(f.columns.is_empty(), || {
            format!("{at}: only `table` fields have columns")
        });
    }

    // Constraints only where they mean something.
    if !f.enum_values.is_empty() {
        problems.check(f.ty == FieldType::String, || {
            format!("{at}: `enum` needs type `string`")
        });
        unique(
            problems,
            &format!("{at}: enum"),
            f.enum_values.iter().map(String::as_str),
        );
    }
    if f.min.is_some() || f.max.is_some() {
        problems.check(
            matches!(f.ty, FieldType::Integer | FieldType::Decimal),
            || format!("{at}: `min`/`max` need an integer or decimal"),
        );
        if let (Some(min), Some(max)) = (f.min, f.max) {
            problems.check(min <= max, || format!("{at}: min {min} > max {max}"));
        }
    }
    if f.max_length.is_some() || f.min_length.is_some() {
        problems.check(
            is_stringy(&f.ty) || matches!(f.ty, FieldType::Decimal | FieldType::Money),
            || format!("{at}: lengths need a string-like, decimal or money field"),
        );
        if let (Some(min), Some(max)) = (f.min_length, f.max_length) {
            problems.check(min <= max, || format!("{at}: min_length > max_length"));
        }
    }
    match (f.unit, &f.ty) {
        (None, FieldType::Money) => problems.push(format!("{at}: a money field needs a `unit`")),
        (None, _) | (Some(_), FieldType::Money) => {}
        (Some(Unit::MinorUnits), FieldType::Integer) => {}
        (Some(unit), ty) => problems.push(format!("{at}: unit {unit:?} on a {ty:?} field")),
    }
    if !f.currencies.is_empty() {
        problems.check(f.ty == FieldType::Money, || {
            format!("{at}: `currencies` is for money fields (currency fields use `enum`)")
        });
        let iso = Regex::new("^[A-Z]{3}$").unwrap();
        for c in &f.currencies {
            problems.check(iso.is_match(c), || {
                format!("{at}: `{c}` is not an ISO 4217 code")
            });
        }
    }
    let pattern = match &f.pattern {
        Some(src) => match Regex::new(src) {
            Ok(re) => Some(re),
            Err(e) => {
                problems.push(format!("{at}: pattern does not compile: {e}"));
                None
            }
        },
        None => None,
    };
    if let Some(default) = &f.default
        && let Err(why) = default_is_valid(f, default, pattern.as_ref())
    {
        problems.push(format!("{at}: default `{default}` {why}"));
    }
}

fn default_is_valid(f: &Field, d: &str, pattern: Option<&Regex>) -> Result<(), String> {
    let re = |src: &str| Regex::new(src).unwrap();
    let ok = match &f.ty {
        FieldType::String | FieldType::Text => true,
        FieldType::Integer => d.parse::<i64>().is_ok(),
        FieldType::Decimal => re(r"^-?[0-9]+(\.[0-9]+)?$").is_match(d),
        FieldType::Bool => d == "true" || d == "false",
        FieldType::Date => valid_date(d),
        FieldType::Datetime => {
            d.len() > 10
                && valid_date(&d[..10])
                && re(r"^T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$")
                    .is_match(&d[10..])
        }
        FieldType::Email => re(r"^[^@\s]+@[^@\s]+$").is_match(d),
        FieldType::Phone => re(r"^\+?[0-9 ]+$").is_match(d),
        FieldType::Url => d.starts_with("https://") || d.starts_with("http://"),
        FieldType::Currency => re("^([A-Z]{3}|[a-z]{3})$").is_match(d),
        FieldType::Country => re("^[A-Z]{2}$").is_match(d),
        FieldType::Money
        | FieldType::Map
        | FieldType::Table
        | FieldType::Json
        | FieldType::Id { .. } => {
            return Err(format!("is not allowed: a {:?} field has no default", f.ty));
        }
    };
    if !ok {
        return Err(format!("is not a valid {:?}", f.ty));
    }
    if !f.enum_values.is_empty() && !f.enum_values.iter().any(|v| v == d) {
        return Err(format!("is not one of {:?}", f.enum_values));
    }
    if let Some(re) = pattern
        && !re.is_match(d)
    {
        return Err(format!("does not match `{re}`"));
    }
    let len = u32::try_from(d.chars().count()).unwrap();
    if f.max_length.is_some_and(|max| len > max) || f.min_length.is_some_and(|min| len < min) {
        return Err("breaks the length limits".to_owned());
    }
    if matches!(f.ty, FieldType::Integer | FieldType::Decimal) {
        // Integer part is enough to compare against the integer bounds.
        let whole: f64 = d.parse().unwrap();
        if f.min.is_some_and(|min| whole < min as f64)
            || f.max.is_some_and(|max| whole > max as f64)
        {
            return Err("is out of range".to_owned());
        }
    }
    Ok(())
}

fn valid_date(d: &str) -> bool {
    let re = Regex::new(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$").unwrap();
    let Some(c) = re.captures(d) else {
        return false;
    };
    let (y, m, day): (u32, u32, u32) = (
        c[1].parse().unwrap(),
        c[2].parse().unwrap(),
        c[3].parse().unwrap(),
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// The flows in DESIGN.md need these; renaming one breaks flows, so it is
/// pinned here.
#[test]
fn the_actions_and_events_the_seed_flows_use_exist() {
    let want: &[(&str, &[&str], &[&str])] = &[
        (
            "stripe",
            &[
                "create_customer",
                "find_customer",
                "update_customer",
                "create_product",
                "create_price",
                "create_charge",
                "retrieve_charge",
                "create_payment_intent",
                "retrieve_payment_intent",
                "create_invoice_item",
                "create_invoice",
                "finalize_invoice",
                "send_invoice",
                "pay_invoice",
                "void_invoice",
                "retrieve_invoice",
                "create_refund",
                "list_refunds",
            ],
            &["charge.succeeded", "refund.created", "invoice.paid"],
        ),
        (
            "paypal",
            &[
                "create_invoice",
                "send_invoice",
                "remind_invoice",
                "cancel_invoice",
                "get_invoice",
                "search_invoices",
                "record_payment",
                "generate_next_invoice_number",
            ],
            &[
                "INVOICING.INVOICE.PAID",
                "INVOICING.INVOICE.CANCELLED",
                "INVOICING.INVOICE.REFUNDED",
            ],
        ),
        (
            "vipps",
            &[
                "initiate_payment",
                "get_payment_details",
                "capture_payment",
                "cancel_payment",
                "refund_payment",
                "epayment_create_payment",
                "epayment_get_payment",
                "epayment_get_events",
                "epayment_capture",
                "epayment_cancel",
                "epayment_refund",
            ],
            &[
                "ecom.reserved",
                "ecom.status_changed",
                "epayments.payment.authorized.v1",
            ],
        ),
        (
            "buckaroo",
            &[
                "direct_debit_batch",
                "transaction_request",
                "pay_per_email",
                "transaction_status",
            ],
            &["response_file", "push"],
        ),
    ];
    let mut problems = Problems::default();
    for (name, actions, events) in want {
        let p = provider(name).unwrap();
        for a in *actions {
            problems.check(p.action(a).is_some(), || format!("{name}: no action `{a}`"));
        }
        for e in *events {
            problems.check(p.event(e).is_some(), || format!("{name}: no event `{e}`"));
        }
    }
    // Stripe's "new charge" and "new refund" triggers.
    let stripe = provider("stripe").unwrap();
    for e in ["charge.succeeded", "refund.created"] {
        problems.check(stripe.event(e).is_some_and(|e| e.trigger), || {
            format!("stripe: `{e}` must be a trigger")
        });
    }
    // The batch and its response file.
    let buckaroo = provider("buckaroo").unwrap();
    problems.check(
        buckaroo
            .action("direct_debit_batch")
            .is_some_and(|a| a.batch),
        || "buckaroo: direct_debit_batch must be a batch".to_owned(),
    );
    problems.check(
        buckaroo.event("response_file").is_some_and(|e| e.file),
        || "buckaroo: response_file must be a file event".to_owned(),
    );
    problems.finish();
}

/// Stripe amounts are integer minor units; PayPal's are decimal strings.
#[test]
fn amounts_carry_the_providers_unit() {
    let stripe = provider("stripe").unwrap();
    let amount = stripe
        .action("create_charge")
        .unwrap()
        .input("amount")
        .unwrap();
    assert_eq!(amount.ty, FieldType::Integer);
    assert_eq!(amount.unit, Some(Unit::MinorUnits));
    assert!(amount.required);
    let charge = stripe.action("create_charge").unwrap();
    assert!(!charge.input("customer").unwrap().required);
    assert!(!charge.input("source").unwrap().required);

    let paypal = provider("paypal").unwrap();
    let items = paypal
        .action("create_invoice")
        .unwrap()
        .input("items")
        .unwrap();
    let unit_amount = items
        .columns
        .iter()
        .find(|c| c.name == "unit_amount")
        .unwrap();
    assert_eq!(unit_amount.ty, FieldType::Money);
    assert_eq!(unit_amount.unit, Some(Unit::DecimalString));
}

/// The embedded JSON (written by build.rs) says exactly what the YAML says.
#[test]
fn embedded_catalog_equals_the_yaml_data_files() {
    for name in provider_names() {
        let path = format!("{}/data/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
        let yaml = std::fs::read_to_string(&path).expect("data file");
        let from_yaml = parse_provider(&yaml).expect("data file parses");
        let embedded = provider(name).expect("provider is embedded");
        assert_eq!(
            serde_json::to_value(&from_yaml).expect("serializes"),
            serde_json::to_value(embedded).expect("serializes"),
            "{name}"
        );
    }
}
