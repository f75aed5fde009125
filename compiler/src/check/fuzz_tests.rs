//! Property test: the checker never panics, whatever the AST (random
//! structure, names that do and do not resolve, inverted spans).

use super::check;
use crate::ast::*;
use crate::span::Span;
use crate::syntax::expr::parse_expr;
use proptest::prelude::*;

const NAMES: &[&str] = &[
    "total",
    "lines",
    "line",
    "customer_id",
    "charge",
    "done",
    "wait_paid",
    "env",
    "region",
    "x",
    "stripe",
    "paypal",
    "",
];

const EXPRS: &[&str] = &[
    "total",
    "total + 1",
    "lines",
    "lines.amount",
    "sum(lines.amount)",
    "sum(lines)",
    "minor_units(total)",
    "money(1, \"EUR\")",
    "money(1, x)",
    "line.amount",
    "line",
    "charge.id",
    "charge.id.x",
    "charge",
    "env.X",
    "env",
    "env.X.Y",
    "format_date(today(), \"era_jp\")",
    "format_date(x, x)",
    "nope()",
    "!x",
    "-total",
    "\"sk_live_abcdefghijk\"",
    "\"2025-02-30\"",
    "null",
    "7d",
    "1s",
    "0s",
    "region == \"99\"",
    "len()",
    "coalesce(x, 1)",
    "date(x)",
    "x / 0",
    "99999999999999999999",
    "-1.5",
    "\"a ${x} b ${lines}\"",
    "true && 1",
    "today() - today()",
    "now() + 2w",
    "round(total, 2)",
    "upper(trim(lower(x)))",
    "uuid()",
    "days(3)",
    "amount(total) * 2",
    "currency(total)",
    "datetime(\"2025-03-13T09:00:00Z\")",
];

fn ident(name: &str, span: Span) -> Ident {
    Ident {
        name: name.to_owned(),
        span,
    }
}

fn any_span() -> impl Strategy<Value = Span> {
    (0u32..400, 0u32..400).prop_map(|(a, b)| Span { start: a, end: b })
}

fn any_name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(str::to_owned)
}

fn any_ident() -> impl Strategy<Value = Ident> {
    (any_name(), any_span()).prop_map(|(n, s)| ident(&n, s))
}

fn any_expr() -> impl Strategy<Value = Expr> {
    (prop::sample::select(EXPRS), 0usize..300).prop_map(|(src, base)| {
        parse_expr(src, base).unwrap_or(Expr {
            kind: ExprKind::Null,
            span: Span::point(base),
        })
    })
}

fn any_dotted() -> impl Strategy<Value = DottedName> {
    (
        prop::collection::vec(
            prop::sample::select(
                &[
                    "stripe",
                    "paypal",
                    "buckaroo",
                    "vipps",
                    "create_charge",
                    "create_customer",
                    "direct_debit_batch",
                    "invoice",
                    "paid",
                    "INVOICING",
                    "charge",
                    "succeeded",
                    "nope",
                ][..],
            ),
            0..4,
        ),
        any_span(),
    )
        .prop_map(|(parts, span)| DottedName {
            parts: parts.iter().map(|p| ident(p, span)).collect(),
            span,
        })
}

fn any_type() -> impl Strategy<Value = TypeExpr> {
    let leaf = prop_oneof![
        Just(TypeKind::String),
        Just(TypeKind::Integer),
        Just(TypeKind::Decimal),
        Just(TypeKind::Bool),
        Just(TypeKind::Date),
        Just(TypeKind::Email),
        Just(TypeKind::Money { currency: None }),
        any_ident().prop_map(|c| TypeKind::Money { currency: Some(c) }),
        (any_ident(), any_ident()).prop_map(|(provider, kind)| TypeKind::Id { provider, kind }),
        any_ident().prop_map(TypeKind::Unknown),
        prop::collection::vec(any_ident(), 0..4).prop_map(|ids| TypeKind::Select {
            options: ids
                .into_iter()
                .map(|i| SelectOption {
                    id: Str {
                        value: i.name.clone(),
                        span: i.span,
                    },
                    label: Str {
                        value: i.name,
                        span: i.span,
                    },
                    span: i.span,
                })
                .collect(),
        }),
    ];
    (leaf, any_span()).prop_map(|(kind, span)| TypeExpr { kind, span })
}

fn any_item() -> impl Strategy<Value = DataItem> {
    (
        any_ident(),
        any_type(),
        prop::option::of(any_expr()),
        prop::option::of(any_expr()),
        prop::option::of(any_expr()),
        any_span(),
    )
        .prop_map(|(name, ty, default, min, max_length, span)| DataItem {
            name,
            ty,
            label: None,
            constraints: Constraints {
                required: None,
                default,
                min,
                max: None,
                pattern: Some(Str {
                    value: "^(a".into(),
                    span,
                }),
                max_length,
            },
            span,
        })
}

fn any_table_item() -> impl Strategy<Value = DataItem> {
    (
        any_ident(),
        prop::collection::vec(any_item(), 0..4),
        any_span(),
    )
        .prop_map(|(name, columns, span)| DataItem {
            name,
            ty: TypeExpr {
                kind: TypeKind::Table { columns },
                span,
            },
            label: None,
            constraints: Constraints::default(),
            span,
        })
}

fn any_field() -> impl Strategy<Value = Field> {
    (any_ident(), any_expr(), any_span()).prop_map(|(name, e, span)| Field {
        name,
        value: Value::Expr(e),
        span,
    })
}

fn any_assign() -> impl Strategy<Value = Assign> {
    (any_ident(), any_expr(), any_span()).prop_map(|(target, value, span)| Assign {
        target,
        value,
        span,
    })
}

fn leaf_step_kind() -> impl Strategy<Value = StepKind> {
    prop_oneof![
        (
            any_dotted(),
            prop::option::of(any_ident()),
            prop::collection::vec(any_field(), 0..4),
            prop::collection::vec(any_assign(), 0..2)
        )
            .prop_map(
                |(action, connection, inputs, save)| StepKind::Action(ActionStep {
                    action,
                    connection,
                    inputs,
                    save,
                    retry: None,
                })
            ),
        (
            any_dotted(),
            prop::option::of(any_expr()),
            prop::option::of(any_expr()),
            prop::option::of(any_ident())
        )
            .prop_map(
                |(event, matching, timeout, on_timeout)| StepKind::Wait(WaitStep {
                    on: WaitOn::Event {
                        event,
                        connection: None,
                        matching,
                        poll: timeout.clone(),
                    },
                    timeout,
                    on_timeout,
                    save: vec![],
                })
            ),
        (any_ident(), prop::collection::vec(any_item(), 0..3)).prop_map(|(name, fields)| {
            StepKind::Wait(WaitStep {
                on: WaitOn::Signal { name, fields },
                timeout: None,
                on_timeout: None,
                save: vec![],
            })
        }),
        any_expr().prop_map(|e| StepKind::Timer(TimerStep::Until(e))),
        any_expr().prop_map(|e| StepKind::Timer(TimerStep::For(e))),
        prop::collection::vec(any_assign(), 0..3).prop_map(StepKind::Set),
        any_expr().prop_map(StepKind::Fail),
        prop::option::of(any_ident()).prop_map(StepKind::End),
        any_ident().prop_map(StepKind::Goto),
        (any_dotted(), prop::collection::vec(any_field(), 0..3)).prop_map(|(action, inputs)| {
            StepKind::Batch(BatchStep {
                action,
                connection: None,
                schedule: None,
                max: None,
                inputs,
                save: vec![],
                retry: None,
            })
        }),
        (
            any_ident(),
            any_expr(),
            prop::collection::vec(any_item(), 0..2)
        )
            .prop_map(|(method, url, response)| StepKind::Http(HttpStep {
                method,
                url,
                auth: None,
                headers: vec![],
                query: vec![],
                body: None,
                timeout: None,
                response,
                save: vec![],
                retry: None,
            })),
    ]
}

fn any_steps() -> impl Strategy<Value = Vec<Step>> {
    let step = (any_ident(), leaf_step_kind(), any_span()).prop_map(|(id, kind, span)| Step {
        id,
        kind,
        span,
    });
    prop::collection::vec(step, 0..5).prop_recursive(3, 24, 4, |inner| {
        prop::collection::vec(
            prop_oneof![
                (any_ident(), any_expr(), inner.clone(), inner.clone()).prop_map(
                    |(id, condition, then, otherwise)| Step {
                        span: id.span,
                        id,
                        kind: StepKind::If(IfStep {
                            condition,
                            then,
                            otherwise,
                        }),
                    }
                ),
                (any_ident(), any_expr(), any_ident(), inner.clone()).prop_map(
                    |(id, over, var, steps)| Step {
                        span: id.span,
                        id,
                        kind: StepKind::ForEach(ForEachStep { over, var, steps }),
                    }
                ),
                (any_ident(), any_expr(), any_expr(), inner.clone(), inner).prop_map(
                    |(id, on, value, steps, default)| Step {
                        span: id.span,
                        id,
                        kind: StepKind::Switch(SwitchStep {
                            on,
                            cases: vec![Case {
                                values: vec![value.clone(), value],
                                steps,
                                span: Span::default(),
                            }],
                            default: Some(default),
                        }),
                    }
                ),
            ],
            0..3,
        )
    })
}

fn any_connection() -> impl Strategy<Value = Connection> {
    (
        any_ident(),
        prop::sample::select(&["stripe", "paypal", "buckaroo", "vipps", "nope"][..]),
        prop::option::of(any_ident()),
        any_span(),
    )
        .prop_map(|(name, provider, mode, span)| Connection {
            name,
            provider: ident(provider, span),
            mode,
            credentials: vec![Credential {
                name: ident("secret_key", span),
                source: CredentialSource::Literal(Str {
                    value: "sk_live_abcdefghijkl".into(),
                    span,
                }),
                span,
            }],
            settings: vec![],
            span,
        })
}

fn any_flow() -> impl Strategy<Value = Flow> {
    (
        prop::collection::vec(any_item(), 0..5),
        prop::option::of(any_table_item()),
        prop::collection::vec(any_connection(), 0..3),
        any_steps(),
        any_dotted(),
    )
        .prop_map(|(mut data, table, connections, steps, event)| {
            data.extend(table);
            Flow {
                name: ident("fuzz", Span::default()),
                description: None,
                data,
                connections,
                start: vec![Start {
                    kind: StartKind::Event {
                        event,
                        connection: None,
                        every: None,
                    },
                    span: Span::default(),
                }],
                steps,
                span: Span::default(),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_checker_never_panics(flow in any_flow()) {
        let (ir, diags) = check(&flow);
        // IR only without errors.
        prop_assert!(ir.is_none() || !diags.has_errors());
    }
}
