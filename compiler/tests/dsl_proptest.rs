//! Property tests of the DSL front end and the expression language:
//! - random and mutated input never panics `parse`; what parses, prints and
//!   parses back to the same AST;
//! - random ASTs (flows and expressions) print and parse back equal, modulo
//!   spans.
//!
//! Case counts default to a few thousand; `PROPTEST_CASES` raises them.

mod dsl_common;

use dsl_common::source;
use flowc::Span;
use flowc::ast::*;
use flowc::syntax::dsl::{parse, print};
use flowc::syntax::expr::{parse_expr, print_expr};
use flowc::syntax::strip::{expr_without_spans, without_spans};
use proptest::prelude::*;
use proptest::test_runner::Config;

const EVERY_CONSTRUCT: &str = include_str!("dsl_fixtures/every_construct.flow");

/// `PROPTEST_CASES`, or `default`.
fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Parses; if the text is a valid flow, checks that it prints canonically
/// and parses back to the same AST.
fn parse_and_round_trip(text: &str) -> Result<(), TestCaseError> {
    let (flow, diags) = parse(&source(text));
    if let Some(flow) = flow {
        prop_assert!(diags.is_empty());
        let printed = print(&flow);
        let (again, diags) = parse(&source(&printed));
        let rendered: Vec<_> = diags.iter().map(|d| d.message.clone()).collect();
        let Some(again) = again else {
            return Err(TestCaseError::fail(format!(
                "printed flow does not parse: {rendered:?}\n{printed}"
            )));
        };
        prop_assert_eq!(without_spans(&flow), without_spans(&again), "{}", printed);
        prop_assert_eq!(print(&again), printed);
    } else {
        prop_assert!(diags.has_errors(), "no flow and no error for {:?}", text);
    }
    Ok(())
}

// ---------------------------------------------------------------- mutations

/// Tokens that mutations insert: keywords, punctuation, literals, trouble.
const TOKENS: &[&str] = &[
    "step",
    "flow",
    "data",
    "connection",
    "start",
    "{",
    "}",
    "(",
    ")",
    "=",
    ":",
    ",",
    ".",
    "\"",
    "\\",
    "${",
    "#",
    "\n",
    " ",
    "-",
    "!",
    "||",
    "wait",
    "signal",
    "http",
    "if",
    "else",
    "switch",
    "case",
    "default",
    "for_each",
    "in",
    "set",
    "fail",
    "end",
    "goto",
    "batch",
    "save",
    "retry",
    "via",
    "timeout",
    "on_timeout",
    "poll",
    "for",
    "required",
    "min",
    "table",
    "select",
    "money(",
    "id(",
    "env(\"X\")",
    "1d",
    "12.50",
    "99999999999999999999",
    "\u{0}",
    "\u{7f}",
    "令和",
    "\r\n",
    "\t",
    "x",
    "a.b",
    "\"s\"",
    "\"${x}\"",
    "\\u{110000}",
];

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(a, t)| Edit::Insert(a, t)),
        (any::<usize>(), 1..80usize).prop_map(|(a, n)| Edit::Duplicate(a, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// The char boundary at or before `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut t = text.to_owned();
    for e in edits {
        match *e {
            Edit::Delete(a, n) => {
                let s = boundary(&t, a);
                let end = boundary(&t, (s + n).min(t.len()));
                t.replace_range(s..end.max(s), "");
            }
            Edit::Insert(a, tok) => {
                let s = boundary(&t, a);
                t.insert_str(s, TOKENS[tok]);
            }
            Edit::Duplicate(a, n) => {
                let s = boundary(&t, a);
                let end = boundary(&t, (s + n).min(t.len())).max(s);
                let piece = t[s..end].to_owned();
                t.insert_str(end, &piece);
            }
            Edit::Truncate(a) => {
                let s = boundary(&t, a);
                t.truncate(s);
            }
        }
    }
    t
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn mutated_flows_never_panic(edits in prop::collection::vec(edit(), 1..6)) {
        let text = apply(EVERY_CONSTRUCT, &edits);
        parse_and_round_trip(&text)?;
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        let (_, _) = parse(&source(&text));
        let _ = parse_expr(&text, 0);
    }

    #[test]
    fn random_tokens_never_panic(toks in prop::collection::vec(0..TOKENS.len(), 0..60)) {
        let text: String = toks.iter().map(|&t| TOKENS[t]).collect::<Vec<_>>().join(" ");
        parse_and_round_trip(&format!("flow f\n{text}"))?;
        let _ = parse_expr(&text, 0);
    }
}

// ---------------------------------------------------------------- random ASTs

fn sp() -> Span {
    Span::default()
}

const EXPR_KEYWORDS: &[&str] = &["true", "false", "null", "and", "or", "not"];

/// DSL keywords, used as names to make sure they stay usable as names.
const DSL_WORDS: &[&str] = &[
    "step",
    "flow",
    "data",
    "connection",
    "start",
    "wait",
    "signal",
    "http",
    "if",
    "else",
    "switch",
    "case",
    "default",
    "for_each",
    "in",
    "set",
    "fail",
    "end",
    "goto",
    "batch",
    "save",
    "retry",
    "via",
    "timeout",
    "on_timeout",
    "poll",
    "for",
    "required",
    "min",
    "max",
    "label",
    "pattern",
    "max_length",
    "table",
    "select",
    "money",
    "id",
    "env",
    "input",
    "every",
    "cron",
    "event",
    "auth",
    "header",
    "query",
    "body",
    "response",
    "json",
    "form",
    "text",
    "none",
];

fn name_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_][a-z0-9_]{0,7}".prop_filter("not an expression keyword", |s| {
            !EXPR_KEYWORDS.contains(&s.as_str())
        }),
        1 => prop::sample::select(DSL_WORDS).prop_map(str::to_owned),
    ]
}

fn ident() -> impl Strategy<Value = Ident> {
    name_text().prop_map(|name| Ident { name, span: sp() })
}

/// Any text: field names, strings, labels.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z_][a-zA-Z0-9_-]{0,8}",
        2 => "\\PC{0,12}",
        1 => "[ -~]{0,10}",
        1 => prop::sample::select(&["${x}", "$", "\\", "\"", "\n", "a$", "{}", "\u{1}", "令和"][..])
            .prop_map(str::to_owned),
    ]
}

fn text_ident() -> impl Strategy<Value = Ident> {
    any_text().prop_map(|name| Ident { name, span: sp() })
}

/// Data item and credential names: any text but the empty one.
fn item_name() -> impl Strategy<Value = Ident> {
    text_ident().prop_filter("not empty", |i| !i.name.is_empty())
}

/// Targets of `set` / `save`: a name or a dotted path (expression
/// keywords included: they are printed quoted).
fn target_ident() -> impl Strategy<Value = Ident> {
    prop_oneof![
        3 => name_text(),
        1 => (name_text(), name_text()).prop_map(|(a, b)| format!("{a}.{b}")),
        1 => prop::sample::select(EXPR_KEYWORDS).prop_map(str::to_owned),
    ]
    .prop_map(|name| Ident { name, span: sp() })
}

fn s(value: String) -> Str {
    Str { value, span: sp() }
}

fn str_lit() -> impl Strategy<Value = Str> {
    any_text().prop_map(s)
}

fn dotted(min: usize) -> impl Strategy<Value = DottedName> {
    prop::collection::vec(ident(), min..4).prop_map(|parts| DottedName { parts, span: sp() })
}

fn e(kind: ExprKind) -> Expr {
    Expr { kind, span: sp() }
}

fn leaf_expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (i64::MIN + 1..=i64::MAX).prop_map(|n| e(ExprKind::Int(n))),
        ("-?[0-9]{1,5}\\.[0-9]{1,4}").prop_map(|d| e(ExprKind::Decimal(d))),
        any_text().prop_map(|t| e(ExprKind::Str(t))),
        any::<bool>().prop_map(|b| e(ExprKind::Bool(b))),
        Just(e(ExprKind::Null)),
        (any::<u64>(), 0..5usize).prop_map(|(value, u)| {
            let unit = [
                DurationUnit::Seconds,
                DurationUnit::Minutes,
                DurationUnit::Hours,
                DurationUnit::Days,
                DurationUnit::Weeks,
            ][u];
            e(ExprKind::Duration(Duration { value, unit }))
        }),
        prop::collection::vec(ident(), 1..4).prop_map(|p| e(ExprKind::Path(p))),
    ]
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    prop::sample::select(vec![
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Rem,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::And,
        BinaryOp::Or,
    ])
}

/// Template parts: text and expressions, never two texts in a row, at
/// least one expression (the parser's normal form).
fn template(inner: BoxedStrategy<Expr>) -> impl Strategy<Value = Expr> {
    prop::collection::vec((prop::option::of("[^\\\\]{1,6}"), inner), 1..4).prop_flat_map(|pieces| {
        let tail = prop::option::of("[^\\\\]{1,6}");
        tail.prop_map(move |tail| {
            let mut parts = Vec::new();
            for (text, expr) in pieces.clone() {
                if let Some(t) = text {
                    parts.push(TemplatePart::Text(t));
                }
                parts.push(TemplatePart::Expr(expr));
            }
            if let Some(t) = tail {
                parts.push(TemplatePart::Text(t));
            }
            e(ExprKind::Template(parts))
        })
    })
}

fn expr() -> BoxedStrategy<Expr> {
    leaf_expr()
        .prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                (binary_op(), inner.clone(), inner.clone()).prop_map(|(op, l, r)| e(
                    ExprKind::Binary {
                        op,
                        lhs: Box::new(l),
                        rhs: Box::new(r)
                    }
                )),
                (any::<bool>(), inner.clone())
                    // The parser folds `-` into a number literal.
                    .prop_filter("no negated number literal", |(neg, o)| {
                        !*neg || !matches!(o.kind, ExprKind::Int(_) | ExprKind::Decimal(_))
                    })
                    .prop_map(|(neg, o)| e(ExprKind::Unary {
                        op: if neg { UnaryOp::Neg } else { UnaryOp::Not },
                        operand: Box::new(o)
                    })),
                (ident(), prop::collection::vec(inner.clone(), 0..3))
                    .prop_map(|(f, args)| e(ExprKind::Call { function: f, args })),
                template(inner),
            ]
        })
        .boxed()
}

fn field(depth: u32) -> BoxedStrategy<Field> {
    let value = if depth == 0 {
        expr().prop_map(Value::Expr).boxed()
    } else {
        prop_oneof![
            3 => expr().prop_map(Value::Expr),
            1 => prop::collection::vec(field(depth - 1), 0..3).prop_map(|f| Value::Map(f, sp())),
        ]
        .boxed()
    };
    (text_ident(), value)
        .prop_map(|(name, value)| Field {
            name,
            value,
            span: sp(),
        })
        .boxed()
}

fn fields() -> impl Strategy<Value = Vec<Field>> {
    prop::collection::vec(field(2), 0..3)
}

fn assigns() -> impl Strategy<Value = Vec<Assign>> {
    prop::collection::vec(
        (target_ident(), expr()).prop_map(|(target, value)| Assign {
            target,
            value,
            span: sp(),
        }),
        0..3,
    )
}

fn type_kind(depth: u32) -> BoxedStrategy<TypeKind> {
    let known = [
        "string", "text", "integer", "decimal", "bool", "date", "datetime", "email", "phone",
        "url", "money", "id", "select", "table",
    ];
    let mut options = vec![
        Just(TypeKind::String).boxed(),
        Just(TypeKind::Text).boxed(),
        Just(TypeKind::Integer).boxed(),
        Just(TypeKind::Decimal).boxed(),
        Just(TypeKind::Bool).boxed(),
        Just(TypeKind::Date).boxed(),
        Just(TypeKind::Datetime).boxed(),
        Just(TypeKind::Email).boxed(),
        Just(TypeKind::Phone).boxed(),
        Just(TypeKind::Url).boxed(),
        prop::option::of(ident())
            .prop_map(|currency| TypeKind::Money { currency })
            .boxed(),
        (ident(), ident())
            .prop_map(|(provider, kind)| TypeKind::Id { provider, kind })
            .boxed(),
        prop::collection::vec(
            (str_lit(), str_lit()).prop_map(|(id, label)| SelectOption {
                id,
                label,
                span: sp(),
            }),
            0..3,
        )
        .prop_map(|options| TypeKind::Select { options })
        .boxed(),
        ident()
            .prop_filter("not a known type", move |i| {
                !known.contains(&i.name.as_str())
            })
            .prop_map(TypeKind::Unknown)
            .boxed(),
    ];
    if depth > 0 {
        options.push(
            prop::collection::vec(data_item(depth - 1), 0..3)
                .prop_map(|columns| TypeKind::Table { columns })
                .boxed(),
        );
    }
    proptest::strategy::Union::new(options).boxed()
}

fn data_item(depth: u32) -> BoxedStrategy<DataItem> {
    (
        item_name(),
        type_kind(depth),
        prop::option::of(str_lit()),
        any::<bool>(),
        prop::option::of(expr()),
        prop::option::of(expr()),
        prop::option::of(expr()),
        prop::option::of(str_lit()),
        prop::option::of(expr()),
    )
        .prop_map(
            |(name, kind, label, required, default, min, max, pattern, max_length)| DataItem {
                name,
                ty: TypeExpr { kind, span: sp() },
                label,
                constraints: Constraints {
                    required: required.then(sp),
                    default,
                    min,
                    max,
                    pattern,
                    max_length,
                },
                span: sp(),
            },
        )
        .boxed()
}

fn data_items() -> impl Strategy<Value = Vec<DataItem>> {
    prop::collection::vec(data_item(1), 0..3)
}

fn credential() -> impl Strategy<Value = Credential> {
    (item_name(), 0..3usize, str_lit()).prop_map(|(name, k, v)| Credential {
        name,
        source: match k {
            0 => CredentialSource::Env(v),
            1 => CredentialSource::SecretFile(v),
            _ => CredentialSource::Literal(v),
        },
        span: sp(),
    })
}

/// An auth credential: its name is its role, as the parser gives it.
fn role_credential(role: &'static str) -> impl Strategy<Value = Credential> {
    credential().prop_map(move |mut c| {
        c.name = Ident {
            name: role.into(),
            span: sp(),
        };
        c
    })
}

fn schedule() -> impl Strategy<Value = Schedule> {
    prop_oneof![
        str_lit().prop_map(Schedule::Cron),
        expr().prop_map(Schedule::Every)
    ]
}

fn retry() -> impl Strategy<Value = Option<Retry>> {
    prop::option::of(
        (
            prop::option::of(expr()),
            prop::option::of(expr()),
            prop::option::of(expr()),
        )
            .prop_map(|(max_attempts, backoff, max_backoff)| Retry {
                max_attempts,
                backoff,
                max_backoff,
                span: sp(),
            }),
    )
}

fn auth() -> impl Strategy<Value = HttpAuthKind> {
    prop_oneof![
        Just(HttpAuthKind::None),
        (role_credential("username"), role_credential("password"))
            .prop_map(|(username, password)| HttpAuthKind::Basic { username, password }),
        role_credential("token").prop_map(|token| HttpAuthKind::Bearer { token }),
        (
            expr(),
            role_credential("client_id"),
            role_credential("client_secret"),
            prop::option::of(expr())
        )
            .prop_map(|(token_url, client_id, client_secret, scope)| {
                HttpAuthKind::OAuth2 {
                    token_url,
                    client_id,
                    client_secret,
                    scope,
                }
            }),
        (str_lit(), role_credential("value"))
            .prop_map(|(name, value)| HttpAuthKind::Header { name, value }),
    ]
}

fn body() -> impl Strategy<Value = HttpBodyKind> {
    prop_oneof![
        expr().prop_map(|x| HttpBodyKind::Json(Value::Expr(x))),
        fields().prop_map(|f| HttpBodyKind::Json(Value::Map(f, sp()))),
        fields().prop_map(HttpBodyKind::Form),
        expr().prop_map(HttpBodyKind::Xml),
        expr().prop_map(HttpBodyKind::Text),
    ]
}

fn http_step() -> impl Strategy<Value = StepKind> {
    (
        (
            ident(),
            expr(),
            prop::option::of(auth()),
            fields(),
            fields(),
        ),
        (
            prop::option::of(body()),
            prop::option::of(expr()),
            data_items(),
            assigns(),
            retry(),
        ),
    )
        .prop_map(
            |((method, url, auth, headers, query), (body, timeout, response, save, retry))| {
                StepKind::Http(HttpStep {
                    method,
                    url,
                    auth: auth.map(|kind| HttpAuth { kind, span: sp() }),
                    headers,
                    query,
                    body: body.map(|kind| HttpBody { kind, span: sp() }),
                    timeout,
                    response,
                    save,
                    retry,
                })
            },
        )
}

fn wait_step() -> impl Strategy<Value = StepKind> {
    let on = prop_oneof![
        (
            dotted(2),
            prop::option::of(ident()),
            prop::option::of(expr()),
            prop::option::of(expr()),
        )
            .prop_map(|(event, connection, matching, poll)| WaitOn::Event {
                event,
                connection,
                matching,
                poll
            }),
        (ident(), data_items()).prop_map(|(name, fields)| WaitOn::Signal { name, fields }),
    ];
    (
        on,
        prop::option::of(expr()),
        prop::option::of(ident()),
        assigns(),
    )
        .prop_map(|(on, timeout, on_timeout, save)| {
            StepKind::Wait(WaitStep {
                on,
                timeout,
                on_timeout,
                save,
            })
        })
}

fn leaf_step_kind() -> BoxedStrategy<StepKind> {
    prop_oneof![
        (
            dotted(2),
            prop::option::of(ident()),
            fields(),
            assigns(),
            retry()
        )
            .prop_map(
                |(action, connection, inputs, save, retry)| StepKind::Action(ActionStep {
                    action,
                    connection,
                    inputs,
                    save,
                    retry
                })
            ),
        http_step(),
        wait_step(),
        expr().prop_map(|x| StepKind::Timer(TimerStep::Until(x))),
        expr().prop_map(|x| StepKind::Timer(TimerStep::For(x))),
        assigns().prop_map(StepKind::Set),
        expr().prop_map(StepKind::Fail),
        prop::option::of(ident()).prop_map(StepKind::End),
        ident().prop_map(StepKind::Goto),
        (
            dotted(2),
            prop::option::of(ident()),
            prop::option::of(schedule()),
            prop::option::of(expr()),
            fields(),
            assigns(),
            retry()
        )
            .prop_map(|(action, connection, schedule, max, inputs, save, retry)| {
                StepKind::Batch(BatchStep {
                    action,
                    connection,
                    schedule,
                    max,
                    inputs,
                    save,
                    retry,
                })
            }),
    ]
    .boxed()
}

fn step_of(kind: BoxedStrategy<StepKind>) -> BoxedStrategy<Step> {
    (ident(), kind)
        .prop_map(|(id, kind)| Step {
            id,
            kind,
            span: sp(),
        })
        .boxed()
}

fn step() -> BoxedStrategy<Step> {
    step_of(leaf_step_kind())
        .prop_recursive(2, 8, 3, |inner| {
            let steps = prop::collection::vec(inner, 0..3);
            let kind = prop_oneof![
                (expr(), steps.clone(), steps.clone()).prop_map(|(condition, then, otherwise)| {
                    StepKind::If(IfStep {
                        condition,
                        then,
                        otherwise,
                    })
                }),
                (
                    expr(),
                    prop::collection::vec(
                        (prop::collection::vec(expr(), 1..3), steps.clone()).prop_map(
                            |(values, steps)| Case {
                                values,
                                steps,
                                span: sp()
                            }
                        ),
                        0..3
                    ),
                    prop::option::of(steps.clone())
                )
                    .prop_map(|(on, cases, default)| StepKind::Switch(
                        SwitchStep { on, cases, default }
                    )),
                (expr(), ident(), steps).prop_map(|(over, var, steps)| {
                    StepKind::ForEach(ForEachStep { over, var, steps })
                }),
            ]
            .boxed();
            step_of(kind)
        })
        .boxed()
}

fn connection() -> impl Strategy<Value = Connection> {
    (
        ident(),
        ident(),
        prop::option::of(ident()),
        prop::collection::vec(credential(), 0..3),
        fields(),
    )
        .prop_map(|(name, provider, mode, credentials, settings)| Connection {
            name,
            provider,
            mode,
            credentials,
            settings,
            span: sp(),
        })
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        Just(StartKind::Input),
        (
            schedule(),
            prop::option::of(str_lit()),
            prop::option::of(ident())
        )
            .prop_map(|(schedule, timezone, catch_up)| StartKind::Schedule(
                ScheduleStart {
                    schedule,
                    timezone,
                    catch_up
                }
            )),
        (
            dotted(2),
            prop::option::of(ident()),
            prop::option::of(expr())
        )
            .prop_map(|(event, connection, every)| StartKind::Event {
                event,
                connection,
                every
            }),
    ]
    .prop_map(|kind| Start { kind, span: sp() })
}

fn flow() -> impl Strategy<Value = Flow> {
    (
        ident(),
        prop::option::of(str_lit()),
        prop::collection::vec(data_item(2), 0..4),
        prop::collection::vec(connection(), 0..3),
        prop::collection::vec(start(), 0..3),
        prop::collection::vec(step(), 0..5),
    )
        .prop_map(
            |(name, description, data, connections, start, steps)| Flow {
                name,
                description,
                data,
                connections,
                start,
                steps,
                span: sp(),
            },
        )
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn printed_expressions_parse_back(x in expr()) {
        let printed = print_expr(&x);
        let parsed = parse_expr(&printed, 0)
            .map_err(|d| TestCaseError::fail(format!("{printed}: {}", d.message)))?;
        prop_assert_eq!(expr_without_spans(&parsed), expr_without_spans(&x), "{}", printed);
    }

}

/// Random flows print and parse back. Generating them takes a deep stack in
/// debug builds (proptest's nested strategies), so this runs in a thread
/// with a large one.
#[test]
fn printed_flows_parse_back() {
    let run = || {
        let mut runner = proptest::test_runner::TestRunner::new(config(2000));
        let result = runner.run(&flow(), |f| {
            let printed = print(&f);
            let (parsed, diags) = parse(&source(&printed));
            let messages: Vec<_> = diags.iter().map(|d| d.message.clone()).collect();
            let Some(parsed) = parsed else {
                return Err(TestCaseError::fail(format!("{messages:?}\n{printed}")));
            };
            prop_assert_eq!(without_spans(&parsed), without_spans(&f), "{}", printed);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    };
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(run)
        .expect("spawn the test thread")
        .join()
        .expect("random flows print and parse back");
}
