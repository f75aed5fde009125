//! Unit tests of the checker on ASTs built in code (independent of the
//! front ends). Expressions are parsed with the shared expression parser.

use super::check;
use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::ir;
use crate::span::Span;
use crate::syntax::expr::parse_expr;
use std::cell::Cell;

thread_local! {
    /// A running offset so every node gets its own span.
    static NEXT: Cell<usize> = const { Cell::new(0) };
}

fn span(len: usize) -> Span {
    NEXT.with(|n| {
        let start = n.get();
        n.set(start + len + 1);
        Span::new(start, start + len)
    })
}

fn id(name: &str) -> Ident {
    Ident {
        name: name.to_owned(),
        span: span(name.len()),
    }
}

fn s(value: &str) -> Str {
    Str {
        value: value.to_owned(),
        span: span(value.len() + 2),
    }
}

fn e(src: &str) -> Expr {
    let base = span(src.len()).start as usize;
    parse_expr(src, base).unwrap_or_else(|d| panic!("{src}: {}", d.message))
}

fn dotted(text: &str) -> DottedName {
    let parts: Vec<Ident> = text.split('.').map(id).collect();
    let span = parts[0].span.join(parts[parts.len() - 1].span);
    DottedName { parts, span }
}

fn ty(kind: TypeKind) -> TypeExpr {
    TypeExpr {
        kind,
        span: span(4),
    }
}

fn item(name: &str, kind: TypeKind) -> DataItem {
    DataItem {
        name: id(name),
        ty: ty(kind),
        label: None,
        constraints: Constraints::default(),
        span: span(1),
    }
}

fn money(cur: &str) -> TypeKind {
    TypeKind::Money {
        currency: Some(id(cur)),
    }
}

fn field(name: &str, value: &str) -> Field {
    Field {
        name: id(name),
        value: Value::Expr(e(value)),
        span: span(1),
    }
}

fn assign(target: &str, value: &str) -> Assign {
    Assign {
        target: id(target),
        value: e(value),
        span: span(1),
    }
}

fn step(name: &str, kind: StepKind) -> Step {
    Step {
        id: id(name),
        kind,
        span: span(1),
    }
}

fn action(name: &str, action: &str, inputs: &[(&str, &str)]) -> Step {
    step(
        name,
        StepKind::Action(ActionStep {
            action: dotted(action),
            connection: None,
            inputs: inputs.iter().map(|(n, v)| field(n, v)).collect(),
            save: Vec::new(),
            retry: None,
        }),
    )
}

fn set(name: &str, assigns: &[(&str, &str)]) -> Step {
    step(
        name,
        StepKind::Set(assigns.iter().map(|(t, v)| assign(t, v)).collect()),
    )
}

fn end(name: &str) -> Step {
    step(name, StepKind::End(None))
}

fn stripe_connection(name: &str, mode: Option<&str>) -> Connection {
    Connection {
        name: id(name),
        provider: id("stripe"),
        mode: mode.map(id),
        credentials: vec![Credential {
            name: id("secret_key"),
            source: CredentialSource::Env(s("STRIPE_SECRET_KEY")),
            span: span(1),
        }],
        settings: Vec::new(),
        span: span(1),
    }
}

fn flow(data: Vec<DataItem>, connections: Vec<Connection>, steps: Vec<Step>) -> Flow {
    Flow {
        name: id("test_flow"),
        description: None,
        data,
        connections,
        start: vec![Start {
            kind: StartKind::Input,
            span: span(5),
        }],
        steps,
        span: span(1),
    }
}

fn codes(f: &Flow) -> Vec<Code> {
    let (_, diags) = check(f);
    diags.iter().map(|d| d.code).collect()
}

fn diags(f: &Flow) -> Vec<Diagnostic> {
    check(f).1.into_iter().collect()
}

fn errors(f: &Flow) -> Vec<Code> {
    let (_, diags) = check(f);
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code)
        .collect()
}

/// A flow that uses `total: money(JPY)` and a Stripe connection.
fn charge_flow(inputs: &[(&str, &str)]) -> Flow {
    flow(
        vec![
            item("total", money("JPY")),
            item("customer_id", id_type("stripe", "customer")),
        ],
        vec![stripe_connection("stripe", Some("test"))],
        vec![
            action("charge", "stripe.create_charge", inputs),
            end("done"),
        ],
    )
}

fn id_type(provider: &str, kind: &str) -> TypeKind {
    TypeKind::Id {
        provider: id(provider),
        kind: id(kind),
    }
}

#[test]
fn a_valid_charge_flow_lowers_to_ir() {
    let f = charge_flow(&[
        ("amount", "minor_units(total)"),
        ("currency", "\"jpy\""),
        ("customer", "customer_id"),
    ]);
    let (ir, diags) = check(&f);
    assert!(diags.is_empty(), "{:?}", diags.iter().collect::<Vec<_>>());
    let ir = ir.expect("lowered");
    let ir::StepKind::Action(a) = &ir.steps[0].kind else {
        panic!("not an action")
    };
    assert_eq!(a.connection, "stripe");
    assert_eq!(a.provider, "stripe");
    assert_eq!(
        ir.data[0].ty,
        crate::check::types::Type::Money(Some("JPY".into()))
    );
    let ir::Value::Expr(amount) = &a.inputs[0].value else {
        panic!()
    };
    assert_eq!(amount.ty, crate::check::types::Type::Integer);
}

#[test]
fn unknown_reference_suggests_and_does_not_cascade() {
    let f = flow(
        vec![item("customer_email", TypeKind::Email)],
        vec![],
        vec![
            set("s", &[("customer_email", "trim(upper(custmer_email))")]),
            end("e"),
        ],
    );
    let ds = diags(&f);
    assert_eq!(ds.len(), 1, "{ds:#?}");
    assert_eq!(ds[0].code, Code::UnknownReference);
    assert_eq!(
        ds[0].help.as_deref(),
        Some("did you mean `customer_email`?")
    );
    assert_eq!(ds[0].labels.len(), 2);
}

#[test]
fn env_is_a_string_and_needs_no_declaration() {
    let f = flow(
        vec![item("url", TypeKind::Url)],
        vec![],
        vec![set("s", &[("url", "env.ACCOUNTING_URL")]), end("e")],
    );
    assert_eq!(codes(&f), vec![]);
}

#[test]
fn decimal_where_minor_units_wanted() {
    let f = charge_flow(&[
        ("amount", "total"),
        ("currency", "\"jpy\""),
        ("customer", "customer_id"),
    ]);
    let ds = diags(&f);
    assert_eq!(ds.len(), 1, "{ds:#?}");
    assert_eq!(ds[0].code, Code::MinorUnitsExpected);
    assert_eq!(
        ds[0].help.as_deref(),
        Some("Stripe wants integer minor units: use `minor_units(total)`")
    );
}

#[test]
fn missing_and_unknown_inputs() {
    let f = charge_flow(&[("amout", "minor_units(total)")]);
    let c = errors(&f);
    assert!(c.contains(&Code::MissingInput), "{c:?}");
    assert!(c.contains(&Code::UnknownInput), "{c:?}");
}

#[test]
fn currency_of_the_amount_and_the_currency_input_agree() {
    let f = charge_flow(&[("amount", "minor_units(total)"), ("currency", "\"eur\"")]);
    assert_eq!(errors(&f), vec![Code::CurrencyMismatch]);
}

#[test]
fn money_of_two_currencies_does_not_add() {
    let f = flow(
        vec![
            item("a", money("JPY")),
            item("b", money("EUR")),
            item("c", TypeKind::Money { currency: None }),
        ],
        vec![],
        vec![
            set("s", &[("c", "a + b"), ("a", "money(1, \"EUR\")")]),
            end("e"),
        ],
    );
    assert_eq!(
        errors(&f),
        vec![Code::CurrencyMismatch, Code::CurrencyMismatch]
    );
}

#[test]
fn provider_id_kinds_do_not_mix() {
    let f = flow(
        vec![
            item("customer", id_type("stripe", "customer")),
            item("invoice", id_type("paypal", "invoice")),
        ],
        vec![],
        vec![set("s", &[("invoice", "customer")]), end("e")],
    );
    assert_eq!(errors(&f), vec![Code::ProviderIdMismatch]);
}

#[test]
fn select_options_are_checked_everywhere() {
    let options = TypeKind::Select {
        options: vec![
            SelectOption {
                id: s("8"),
                label: s("East Asia"),
                span: span(1),
            },
            SelectOption {
                id: s("81"),
                label: s("Japan"),
                span: span(1),
            },
        ],
    };
    let mut region = item("region", options);
    region.constraints.default = Some(e("\"99\""));
    let f = flow(
        vec![region, item("ok", TypeKind::Bool)],
        vec![],
        vec![
            set("s", &[("region", "\"7\""), ("ok", "region == \"82\"")]),
            end("e"),
        ],
    );
    let ds = diags(&f);
    let c: Vec<Code> = ds.iter().map(|d| d.code).collect();
    assert_eq!(c, vec![Code::SelectOption; 3]);
    assert!(
        ds[0]
            .help
            .as_deref()
            .unwrap_or("")
            .contains("`81` is under `8`")
    );
}

#[test]
fn for_each_over_a_non_table() {
    let f = flow(
        vec![item("total", money("JPY"))],
        vec![],
        vec![
            step(
                "each",
                StepKind::ForEach(ForEachStep {
                    over: e("total"),
                    var: id("line"),
                    steps: vec![set("inner", &[("total", "line.amount")])],
                }),
            ),
            end("e"),
        ],
    );
    let ds = diags(&f);
    assert_eq!(ds.len(), 1, "{ds:#?}");
    assert_eq!(ds[0].code, Code::LoopOverNonTable);
    assert!(ds[0].labels[0].message.contains("money(JPY)"));
}

#[test]
fn loop_variables_and_columns() {
    let columns = vec![
        item("description", TypeKind::String),
        item("amount", money("JPY")),
    ];
    let f = flow(
        vec![
            item("lines", TypeKind::Table { columns }),
            item("total", money("JPY")),
        ],
        vec![],
        vec![
            step(
                "each",
                StepKind::ForEach(ForEachStep {
                    over: e("lines"),
                    var: id("line"),
                    steps: vec![set(
                        "inner",
                        &[("total", "line.amount"), ("line.amount", "line.amont")],
                    )],
                }),
            ),
            set("after", &[("total", "sum(lines.amount) + line.amount")]),
            end("e"),
        ],
    );
    assert_eq!(errors(&f), vec![Code::UnknownField, Code::UnknownReference]);
}

#[test]
fn builtins_are_typed() {
    let f = flow(
        vec![
            item("due", TypeKind::Date),
            item("note", TypeKind::String),
            item("n", TypeKind::Integer),
        ],
        vec![],
        vec![
            set(
                "s",
                &[
                    ("note", "format_date(due, \"era_ja\")"),
                    ("note", "format_date(note, \"iso\")"),
                    ("n", "len(note, note)"),
                    ("n", "nope(1)"),
                    ("due", "date(\"2025-02-30\")"),
                    ("n", "minor_units(money(12.50, \"EUR\"))"),
                    ("due", "today() + days(3)"),
                ],
            ),
            end("e"),
        ],
    );
    assert_eq!(
        errors(&f),
        vec![
            Code::TypeMismatch,
            Code::WrongArity,
            Code::UnknownFunction,
            Code::MalformedLiteral
        ]
    );
}

#[test]
fn operators_on_wrong_types() {
    let f = flow(
        vec![item("name", TypeKind::String), item("ok", TypeKind::Bool)],
        vec![],
        vec![
            set("s", &[("ok", "name + 1 > 2"), ("ok", "!name")]),
            end("e"),
        ],
    );
    assert_eq!(
        errors(&f),
        vec![Code::InvalidOperands, Code::InvalidOperands]
    );
}

#[test]
fn duplicate_ids_everywhere() {
    let f = flow(
        vec![
            item("total", TypeKind::Integer),
            item("total", TypeKind::Integer),
        ],
        vec![
            stripe_connection("stripe", None),
            stripe_connection("stripe", None),
        ],
        vec![
            set("total", &[]),
            step(
                "branch",
                StepKind::If(IfStep {
                    condition: e("true"),
                    then: vec![set("x", &[])],
                    otherwise: vec![set("x", &[])],
                }),
            ),
            end("e"),
        ],
    );
    let c = errors(&f);
    assert_eq!(
        c.iter().filter(|c| **c == Code::DuplicateId).count(),
        4,
        "{c:?}"
    );
}

#[test]
fn jumps_waits_and_unreachable_steps() {
    let wait = step(
        "wait_paid",
        StepKind::Wait(WaitStep {
            on: WaitOn::Event {
                event: dotted("stripe.invoice.paid"),
                connection: None,
                matching: None,
                poll: Some(e("5s")),
            },
            timeout: None,
            on_timeout: None,
            save: vec![],
        }),
    );
    let f = flow(
        vec![],
        vec![stripe_connection("stripe", Some("test"))],
        vec![
            wait,
            step("jump", StepKind::Goto(id("wait_payd"))),
            set("dead", &[]),
            step(
                "branch",
                StepKind::If(IfStep {
                    condition: e("true"),
                    then: vec![set("inner", &[])],
                    otherwise: vec![],
                }),
            ),
            step("into", StepKind::Goto(id("inner"))),
        ],
    );
    let c = codes(&f);
    for code in [
        Code::WaitWithoutTimeout,
        Code::WaitWithoutOnTimeout,
        Code::ShortPollInterval,
        Code::UnknownStep,
        Code::UnreachableStep,
        Code::InvalidJumpTarget,
    ] {
        assert!(c.contains(&code), "{code:?} missing from {c:?}");
    }
    // One unreachable run gives one diagnostic.
    assert_eq!(c.iter().filter(|c| **c == Code::UnreachableStep).count(), 1);
}

#[test]
fn empty_flow() {
    assert_eq!(
        errors(&flow(vec![], vec![], vec![])),
        vec![Code::EmptySteps]
    );
}

#[test]
fn connections_modes_and_credentials() {
    let mut literal = stripe_connection("stripe_live", None);
    literal.credentials[0].source = CredentialSource::Literal(s("sk_live_abcdefghijkl"));
    let mut bad_mode = stripe_connection("other", Some("production"));
    bad_mode.credentials[0].name = id("secret_kee");
    let f = flow(
        vec![],
        vec![literal, bad_mode],
        vec![action("c", "stripe.create_customer", &[]), end("e")],
    );
    let ds = diags(&f);
    let c: Vec<Code> = ds.iter().map(|d| d.code).collect();
    for code in [
        Code::LiteralSecret,
        Code::LiveWithoutMode,
        Code::UnknownMode,
        Code::UnknownCredential,
        Code::MissingCredential,
        Code::AmbiguousConnection,
    ] {
        assert!(c.contains(&code), "{code:?} missing from {c:?}");
    }
    for d in &ds {
        assert!(!d.message.contains("sk_live_abc"), "{}", d.message);
    }
}

#[test]
fn secrets_in_strings_are_found() {
    let f = flow(
        vec![item("note", TypeKind::String)],
        vec![],
        vec![
            set("s", &[("note", "\"key: sk_test_abcdefgh1234\"")]),
            end("e"),
        ],
    );
    assert_eq!(errors(&f), vec![Code::LiteralSecret]);
}

#[test]
fn unknown_provider_action_event() {
    let f = flow(
        vec![],
        vec![stripe_connection("stripe", Some("test"))],
        vec![
            action("a", "strpe.create_charge", &[]),
            action("b", "stripe.create_chrge", &[]),
            step(
                "w",
                StepKind::Wait(WaitStep {
                    on: WaitOn::Event {
                        event: dotted("stripe.invoice.payed"),
                        connection: Some(id("strip")),
                        matching: None,
                        poll: None,
                    },
                    timeout: Some(e("1d")),
                    on_timeout: Some(id("a")),
                    save: vec![],
                }),
            ),
            set("r", &[]),
        ],
    );
    assert_eq!(
        errors(&f),
        vec![
            Code::UnknownProvider,
            Code::UnknownAction,
            Code::UnknownEvent
        ]
    );
}

#[test]
fn step_results_are_typed() {
    let mut charge = action(
        "charge",
        "stripe.create_charge",
        &[("amount", "100"), ("currency", "\"jpy\"")],
    );
    if let StepKind::Action(a) = &mut charge.kind {
        a.save = vec![assign("charge_id", "charge.idd"), assign("n", "charge.id")];
    }
    let f = flow(
        vec![
            item("charge_id", TypeKind::String),
            item("n", TypeKind::Integer),
        ],
        vec![stripe_connection("stripe", Some("test"))],
        vec![charge, end("e")],
    );
    let ds = diags(&f);
    let c: Vec<Code> = ds.iter().map(|d| d.code).collect();
    assert_eq!(c, vec![Code::UnknownField, Code::TypeMismatch], "{ds:#?}");
    assert_eq!(ds[0].help.as_deref(), Some("did you mean `id`?"));
}

#[test]
fn constraints_fit_their_types() {
    let mut code = item("code", TypeKind::Integer);
    code.constraints.pattern = Some(s("^[0-9]+$"));
    let mut name = item("name", TypeKind::String);
    name.constraints.max_length = Some(e("3"));
    name.constraints.default = Some(e("\"abcdef\""));
    let mut count = item("count", TypeKind::Integer);
    count.constraints.min = Some(e("1"));
    count.constraints.default = Some(e("0"));
    let f = flow(vec![code, name, count], vec![], vec![end("e")]);
    let c = errors(&f);
    assert_eq!(
        c,
        vec![
            Code::InvalidConstraint,
            Code::ConstraintViolation,
            Code::ConstraintViolation
        ]
    );
}

#[test]
fn unused_data_items_warn() {
    let f = flow(
        vec![item("unused", TypeKind::String)],
        vec![],
        vec![end("e")],
    );
    let (ir, diags) = check(&f);
    assert_eq!(
        diags.iter().map(|d| d.code).collect::<Vec<_>>(),
        vec![Code::UnusedDataItem]
    );
    assert!(ir.is_some(), "warnings do not stop lowering");
}

#[test]
fn enum_and_pattern_of_provider_inputs() {
    let f = charge_flow(&[
        ("amount", "100"),
        ("currency", "\"JPY\""),
        ("customer", "customer_id"),
    ]);
    assert_eq!(errors(&f), vec![Code::ConstraintViolation]);
}

#[test]
fn start_events_must_be_triggers() {
    let mut f = flow(
        vec![],
        vec![stripe_connection("stripe", Some("test"))],
        vec![end("e")],
    );
    f.start = vec![Start {
        kind: StartKind::Event {
            event: dotted("stripe.invoice.paid"),
            connection: None,
            every: Some(e("10s")),
        },
        span: span(1),
    }];
    assert_eq!(codes(&f), vec![Code::InvalidStart, Code::ShortPollInterval]);
}

#[test]
fn batch_actions_need_batch_steps() {
    let f = flow(
        vec![],
        vec![Connection {
            name: id("buckaroo"),
            provider: id("buckaroo"),
            mode: Some(id("test")),
            credentials: vec![],
            settings: vec![],
            span: span(1),
        }],
        vec![
            action("collect", "buckaroo.direct_debit_batch", &[]),
            end("e"),
        ],
    );
    assert!(errors(&f).contains(&Code::NotABatchAction));
}

#[test]
fn unknown_type_suggests() {
    let f = flow(
        vec![item("n", TypeKind::Unknown(id("integr")))],
        vec![],
        vec![set("s", &[("n", "1")]), end("e")],
    );
    let ds = diags(&f);
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].code, Code::UnknownType);
    assert_eq!(ds[0].help.as_deref(), Some("did you mean `integer`?"));
}

#[test]
fn the_checker_is_fast_on_large_flows() {
    let mut steps = Vec::new();
    for i in 0..5000 {
        steps.push(set(&format!("s{i}"), &[("n", &format!("n + {i}"))]));
    }
    steps.push(end("e"));
    let f = flow(vec![item("n", TypeKind::Integer)], vec![], steps);
    let start = std::time::Instant::now();
    let (ir, diags) = check(&f);
    assert!(diags.is_empty());
    assert!(ir.is_some());
    // Generous for debug builds; release is far below 100 ms.
    assert!(start.elapsed().as_millis() < 2000, "{:?}", start.elapsed());
}

#[test]
fn tables_given_to_provider_tables_name_the_missing_columns() {
    let columns = vec![
        item("description", TypeKind::String),
        item("quantity", TypeKind::Integer),
    ];
    let f = flow(
        vec![item("lines", TypeKind::Table { columns })],
        vec![Connection {
            name: id("paypal"),
            provider: id("paypal"),
            mode: Some(id("sandbox")),
            credentials: vec![
                Credential {
                    name: id("client_id"),
                    source: CredentialSource::Env(s("PAYPAL_CLIENT_ID")),
                    span: span(1),
                },
                Credential {
                    name: id("client_secret"),
                    source: CredentialSource::Env(s("PAYPAL_CLIENT_SECRET")),
                    span: span(1),
                },
            ],
            settings: vec![],
            span: span(1),
        }],
        vec![
            action(
                "invoice",
                "paypal.create_invoice",
                &[("currency", "\"JPY\""), ("items", "lines")],
            ),
            end("e"),
        ],
    );
    let ds = diags(&f);
    let mismatch = ds
        .iter()
        .find(|d| d.code == Code::TypeMismatch)
        .expect("E0201");
    assert!(
        mismatch.message.contains("no column `name`"),
        "{}",
        mismatch.message
    );
}

#[test]
fn date_format_typos() {
    let f = flow(
        vec![item("due", TypeKind::Date), item("note", TypeKind::String)],
        vec![],
        vec![
            set(
                "s",
                &[
                    ("note", "format_date(due, \"era_jp\")"),
                    ("note", "format_date(due, \"%Y年\")"),
                ],
            ),
            end("e"),
        ],
    );
    assert_eq!(errors(&f), vec![Code::MalformedLiteral]);
}

/// 5,000 action steps, each reading the previous step's result.
fn large_action_flow() -> Flow {
    let mut steps = Vec::new();
    for i in 0..5000 {
        let customer = if i == 0 {
            "customer_id".to_owned()
        } else {
            format!("c{}.customer", i - 1)
        };
        let mut step = action(
            &format!("c{i}"),
            "stripe.create_charge",
            &[
                ("amount", "minor_units(total) + 1"),
                ("currency", "\"jpy\""),
                ("customer", &customer),
                (
                    "description",
                    "\"Delivery ${delivery_id} on ${format_date(today(), \"era_ja\")}\"",
                ),
            ],
        );
        if let StepKind::Action(a) = &mut step.kind {
            a.save = vec![assign("charge_id", &format!("c{i}.id"))];
        }
        steps.push(step);
    }
    steps.push(end("e"));
    flow(
        vec![
            item("total", money("JPY")),
            item("customer_id", id_type("stripe", "customer")),
            item("delivery_id", TypeKind::String),
            item("charge_id", id_type("stripe", "charge")),
        ],
        vec![stripe_connection("stripe", Some("test"))],
        steps,
    )
}

#[test]
fn large_action_flows_check_quickly() {
    let f = large_action_flow();
    // The catalog is parsed on first use; time a warm check.
    let _ = check(&flow(
        vec![],
        vec![stripe_connection("stripe", None)],
        vec![end("e")],
    ));
    let mut elapsed = std::time::Duration::MAX;
    let runs = std::env::var("FLOWC_CHECK_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    for _ in 0..runs {
        let start = std::time::Instant::now();
        let _ = check(&f);
        elapsed = elapsed.min(start.elapsed());
    }
    let (ir, diags) = check(&f);
    assert!(diags.is_empty(), "{:?}", diags.iter().next());
    assert_eq!(ir.map(|ir| ir.steps.len()), Some(5001));
    // Debug builds are slow; release checks this flow in a few milliseconds.
    assert!(elapsed.as_millis() < 3000, "{elapsed:?}");
    eprintln!("checked 5,000 action steps in {elapsed:?}");
}

#[test]
fn a_table_priced_in_another_currency() {
    let columns = vec![
        item("name", TypeKind::String),
        item("quantity", TypeKind::Integer),
        item("unit_amount", money("EUR")),
    ];
    let mut f = flow(
        vec![item("lines", TypeKind::Table { columns })],
        vec![],
        vec![
            action(
                "invoice",
                "paypal.create_invoice",
                &[("currency", "\"JPY\""), ("items", "lines")],
            ),
            end("e"),
        ],
    );
    f.connections = vec![Connection {
        name: id("paypal"),
        provider: id("paypal"),
        mode: Some(id("sandbox")),
        credentials: ["client_id", "client_secret"]
            .iter()
            .map(|n| Credential {
                name: id(n),
                source: CredentialSource::Env(s("X")),
                span: span(1),
            })
            .collect(),
        settings: vec![],
        span: span(1),
    }];
    assert_eq!(errors(&f), vec![Code::CurrencyMismatch]);
}
