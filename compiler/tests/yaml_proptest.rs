//! Random and mutated YAML never panics the front end; and whenever a file
//! parses without errors, its printed form parses back to an equal AST.
//!
//! `PROPTEST_CASES` raises the number of cases (default 2000 per property).

use flowc::ast::*;
use flowc::syntax::expr::{parse_expr, parse_template};
use flowc::syntax::strip::without_spans;
use flowc::syntax::yaml;
use flowc::{Source, Span, Syntax};
use proptest::prelude::*;

const FIXTURE: &str = include_str!("yaml_fixtures/all_constructs.flow.yaml");

/// Pieces of YAML and of the flow language, to build and mutate inputs from.
const TOKENS: &[&str] = &[
    "flow: ",
    "steps:\n",
    "data:\n",
    "start: ",
    "connections:\n",
    "  - ",
    "    ",
    "id: ",
    "fail: ",
    "set: ",
    "wait: ",
    "timer: ",
    "if: ",
    "then:\n",
    "action: ",
    "http: ",
    "with: ",
    "type: ",
    "money(JPY)",
    "id(stripe.customer)",
    "select",
    "table",
    "options: ",
    "columns: ",
    "${",
    "}",
    "$${",
    "${a.b}",
    "${f(1, \"x\")}",
    "\"",
    "'",
    "''",
    "\\",
    "\\n",
    "\t",
    "&a ",
    "*a",
    "!t ",
    "!!str ",
    "{",
    "}",
    "[",
    "]",
    ", ",
    ": ",
    ":",
    "\n",
    "\r\n",
    "# c",
    "|",
    "|-",
    ">",
    "-",
    "---\n",
    "...\n",
    "?",
    " ",
    "  ",
    "x",
    "1",
    "-5",
    "12.50",
    "7d",
    "true",
    "null",
    "~",
    "é",
    "令和",
    "\u{feff}",
    "\u{2028}",
    "%YAML 1.2\n",
    "input",
    "none",
    "end: ",
    "goto: ",
    "{ env: X }",
    "required: true",
    "when: ",
    "cases:\n",
    "for_each: ",
    "as: ",
    "do:\n",
];

fn token() -> impl Strategy<Value = String> {
    prop::sample::select(TOKENS).prop_map(str::to_owned)
}

/// A string of YAML-ish tokens.
fn tokens() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 0..60).prop_map(|ts| ts.concat())
}

/// The fixture with a few spans replaced by random tokens.
fn mutated() -> impl Strategy<Value = String> {
    prop::collection::vec((any::<prop::sample::Index>(), 0usize..12, tokens()), 1..4).prop_map(
        |edits| {
            let mut text = FIXTURE.to_owned();
            for (at, len, insert) in edits {
                let start = floor_char(&text, at.index(text.len() + 1));
                let end = floor_char(&text, (start + len).min(text.len()));
                text.replace_range(start..end, &insert);
            }
            text
        },
    )
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Parses; when there are no errors, checks that print -> parse is stable.
fn check(text: &str) {
    let source = Source::new("p.flow.yaml", text, Syntax::Yaml);
    let (flow, diagnostics) = yaml::parse(&source);
    // Every span is inside the file.
    for d in diagnostics.iter() {
        for l in &d.labels {
            assert!(
                l.span.start <= l.span.end && l.span.end as usize <= text.len(),
                "{d:?}"
            );
        }
    }
    let Some(flow) = flow else { return };
    if diagnostics.has_errors() {
        let _ = yaml::print(&flow);
        return;
    }
    let printed = yaml::print(&flow);
    let again = Source::new("printed.flow.yaml", printed.as_str(), Syntax::Yaml);
    let (reparsed, errors) = yaml::parse(&again);
    assert!(
        errors.is_empty(),
        "printed YAML has errors: {errors:?}\n{printed}\n--- from\n{text}"
    );
    let reparsed = reparsed.expect("printed YAML parses");
    assert_eq!(
        without_spans(&reparsed),
        without_spans(&flow),
        "\n{printed}\n--- from\n{text}"
    );
}

/// Text mixing YAML indicators, template syntax and arbitrary characters.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop_oneof![token(), "\\PC{0,3}"], 0..8).prop_map(|ts| ts.concat()),
        "\\PC{0,20}",
        any::<String>(),
    ]
}

/// A flow holding `text` in every place that takes text, and `value` (an
/// expression) as a value.
fn flow_with(text: &str, value: Expr) -> Flow {
    let str_ = |v: &str| Str {
        value: v.to_owned(),
        span: Span::default(),
    };
    let ident = |v: &str| Ident {
        name: v.to_owned(),
        span: Span::default(),
    };
    let text_expr = Expr {
        kind: ExprKind::Str(text.to_owned()),
        span: Span::default(),
    };
    let option = SelectOption {
        id: str_(text),
        label: str_(text),
        span: Span::default(),
    };
    let item = DataItem {
        name: ident("item"),
        ty: TypeExpr {
            kind: TypeKind::Select {
                options: vec![option],
            },
            span: Span::default(),
        },
        label: Some(str_(text)),
        constraints: Constraints {
            pattern: Some(str_(text)),
            default: Some(value.clone()),
            ..Constraints::default()
        },
        span: Span::default(),
    };
    let field = |name: &str, v: Expr| Field {
        name: ident(name),
        value: Value::Expr(v),
        span: Span::default(),
    };
    let connection = Connection {
        name: ident("c"),
        provider: ident("stripe"),
        mode: None,
        credentials: vec![Credential {
            name: ident("secret_key"),
            source: CredentialSource::Literal(str_(text)),
            span: Span::default(),
        }],
        settings: vec![
            field(text, value.clone()),
            field("other", text_expr.clone()),
        ],
        span: Span::default(),
    };
    let step = |id: &str, kind: StepKind| Step {
        id: ident(id),
        kind,
        span: Span::default(),
    };
    let assign = |target: &str, v: Expr| Assign {
        target: ident(target),
        value: v,
        span: Span::default(),
    };
    Flow {
        name: ident("f"),
        description: Some(str_(text)),
        data: vec![item],
        connections: vec![connection],
        start: vec![Start {
            kind: StartKind::Schedule(ScheduleStart {
                schedule: Schedule::Cron(str_(text)),
                timezone: Some(str_(text)),
                catch_up: None,
            }),
            span: Span::default(),
        }],
        steps: vec![
            step(
                "a",
                StepKind::Set(vec![
                    assign("item", value.clone()),
                    assign("other", text_expr.clone()),
                ]),
            ),
            step("b", StepKind::Fail(value.clone())),
            step("c", StepKind::Fail(text_expr)),
            step(
                "d",
                StepKind::Action(ActionStep {
                    action: DottedName {
                        parts: vec![ident("stripe"), ident("x")],
                        span: Span::default(),
                    },
                    connection: None,
                    inputs: vec![Field {
                        name: ident("m"),
                        value: Value::Map(vec![field(text, value)], Span::default()),
                        span: Span::default(),
                    }],
                    save: Vec::new(),
                    retry: None,
                }),
            ),
        ],
        span: Span::default(),
    }
}

/// Prints `flow` and reads it back: no errors and an equal AST.
fn assert_round_trip(flow: &Flow) {
    let printed = yaml::print(flow);
    let source = Source::new("printed.flow.yaml", printed.as_str(), Syntax::Yaml);
    let (reparsed, errors) = yaml::parse(&source);
    assert!(
        errors.is_empty(),
        "printed YAML has errors: {errors:?}\n{printed}"
    );
    let reparsed = reparsed.expect("printed YAML parses");
    assert_eq!(without_spans(&reparsed), without_spans(flow), "\n{printed}");
}

/// Token soup of the expression language.
fn expr_text() -> impl Strategy<Value = String> {
    const EXPR: &[&str] = &[
        "a",
        "b.c",
        "env.HOME",
        "1",
        "-",
        "12.50",
        "7d",
        "\"s\"",
        "\"${a}\"",
        "\"$\"",
        "\"\\\"\"",
        "\"é: #\"",
        "\"a\\$${b}\"",
        "true",
        "null",
        "(",
        ")",
        "f(",
        ",",
        "+",
        "*",
        "/",
        "%",
        "==",
        "!=",
        "<",
        ">=",
        "&&",
        "||",
        "!",
        "not ",
        " and ",
        " or ",
        " ",
    ];
    prop::collection::vec(prop::sample::select(EXPR), 1..14).prop_map(|ts| ts.concat())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_tokens_never_panic(text in tokens()) {
        check(&text);
    }

    #[test]
    fn mutated_fixture_never_panics(text in mutated()) {
        check(&text);
    }

    #[test]
    fn any_text_and_template_round_trips(text in tricky_text()) {
        // As plain text everywhere, and as a template / expression value.
        let value = parse_template(&text, 0).unwrap_or(Expr {
            kind: ExprKind::Str(text.clone()),
            span: Span::default(),
        });
        assert_round_trip(&without_spans(&flow_with(&text, value)));
    }

    #[test]
    fn any_expression_round_trips(text in expr_text()) {
        if let Ok(e) = parse_expr(&text, 0) {
            assert_round_trip(&without_spans(&flow_with("t", e)));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }
}

#[test]
fn the_fixture_itself_round_trips() {
    check(FIXTURE);
}
