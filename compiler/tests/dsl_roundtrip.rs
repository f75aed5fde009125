//! The DSL printer and parser agree: every construct parses, prints in the
//! canonical form, and parses back to the same AST (modulo spans); every
//! DSL example in docs/language.md parses.

mod dsl_common;

use dsl_common::{check_spans, parse_ok};
use flowc::ast::{ExprKind, StepKind, TypeKind};
use flowc::syntax::dsl::{parse, print};
use flowc::syntax::strip::without_spans;

const EVERY_CONSTRUCT: &str = include_str!("dsl_fixtures/every_construct.flow");

#[test]
fn every_construct_parses_prints_and_parses_back() {
    let flow = parse_ok(EVERY_CONSTRUCT);
    let printed = print(&flow);
    insta::assert_snapshot!("every_construct_printed", printed);
    let again = parse_ok(&printed);
    assert_eq!(without_spans(&flow), without_spans(&again));
    // Canonical: printing the re-parsed flow gives the same text.
    assert_eq!(print(&again), printed);
}

#[test]
fn spans_point_at_their_text() {
    let flow = parse_ok(EVERY_CONSTRUCT);
    check_spans(EVERY_CONSTRUCT, &flow);
    let printed = print(&flow);
    check_spans(&printed, &parse_ok(&printed));
}

#[test]
fn identifiers_have_their_own_spans() {
    let text = "flow f\nstep go = goto wiat_paid\n";
    let flow = parse_ok(text);
    let StepKind::Goto(target) = &flow.steps[0].kind else {
        panic!("not a goto: {:?}", flow.steps[0].kind)
    };
    assert_eq!(&text[target.span.range()], "wiat_paid");
    assert_eq!(&text[flow.steps[0].id.span.range()], "go");
    assert_eq!(&text[flow.name.span.range()], "f");
}

#[test]
fn types_are_read_as_written() {
    let flow = parse_ok(
        "flow f\ndata {\n  a: money(JPY)\n  b: id(stripe.customer)\n  c: strnig\n  d: money\n}\n",
    );
    assert!(matches!(
        &flow.data[0].ty.kind,
        TypeKind::Money { currency: Some(c) } if c.name == "JPY"
    ));
    assert!(matches!(
        &flow.data[1].ty.kind,
        TypeKind::Id { provider, kind } if provider.name == "stripe" && kind.name == "customer"
    ));
    assert!(matches!(&flow.data[2].ty.kind, TypeKind::Unknown(i) if i.name == "strnig"));
    assert!(matches!(
        &flow.data[3].ty.kind,
        TypeKind::Money { currency: None }
    ));
}

#[test]
fn commas_and_newlines_both_separate_fields() {
    let a = parse_ok("flow f\nstep s = set { a = 1, b = 2, }\n");
    let b = parse_ok("flow f\nstep s = set {\n  a = 1\n  b = 2\n}\n");
    let c = parse_ok("flow f\nstep s = set { a = 1 b = 2 }\n");
    assert_eq!(without_spans(&a), without_spans(&b));
    assert_eq!(without_spans(&a), without_spans(&c));
}

#[test]
fn field_names_that_are_not_identifiers_are_quoted() {
    let text = "flow f\nstep s = stripe.create_customer {\n  \"@type\" = \"x\"\n  \"two words\" = { \"a.b\" = 1 }\n  X-Request-Id = uuid()\n}\n";
    let flow = parse_ok(text);
    let printed = print(&flow);
    assert!(printed.contains("\"@type\" = \"x\""), "{printed}");
    assert!(printed.contains("\"two words\" = {"), "{printed}");
    assert!(printed.contains("X-Request-Id = uuid()"), "{printed}");
    assert_eq!(without_spans(&flow), without_spans(&parse_ok(&printed)));
}

#[test]
fn strings_keep_dollars_and_escapes() {
    let text = "flow f\ndata {\n  a: string pattern \"^D-[0-9]+$\" label \"cost \\${x} \\\"q\\\" \\u{1F600}\"\n}\n";
    let flow = parse_ok(text);
    let item = &flow.data[0];
    assert_eq!(
        item.constraints.pattern.as_ref().map(|p| p.value.as_str()),
        Some("^D-[0-9]+$")
    );
    assert_eq!(
        item.label.as_ref().map(|l| l.value.as_str()),
        Some("cost ${x} \"q\" \u{1F600}")
    );
    let printed = print(&flow);
    assert!(printed.contains("pattern \"^D-[0-9]+$\""), "{printed}");
    assert_eq!(without_spans(&flow), without_spans(&parse_ok(&printed)));
}

#[test]
fn templates_and_expressions_in_values() {
    let flow = parse_ok("flow f\nstep s = fail \"payment for ${delivery_id} never arrived\"\n");
    let StepKind::Fail(e) = &flow.steps[0].kind else {
        panic!()
    };
    assert!(matches!(&e.kind, ExprKind::Template(parts) if parts.len() == 3));
}

#[test]
fn comments_are_ignored_anywhere_between_tokens() {
    let a = parse_ok(
        "# head\nflow f # the name\n# before data\ndata { # open\n  a: string # item\n} # close\nstep s = set { # x\n  a = 1 + # y\n  2\n}\n",
    );
    let b = parse_ok("flow f\ndata { a: string }\nstep s = set { a = 1 + 2 }\n");
    assert_eq!(without_spans(&a), without_spans(&b));
}

/// Every DSL block of the language reference (the unlabelled fences) parses,
/// unless it elides parts with `…`.
#[test]
fn language_reference_examples_parse() {
    let doc = include_str!("../../docs/language.md");
    let mut checked = 0;
    let mut in_fence = false;
    let mut in_block = false;
    let mut block = String::new();
    for line in doc.lines() {
        if let Some(lang) = line.strip_prefix("```") {
            if in_fence {
                in_fence = false;
                if !in_block {
                    continue;
                }
                in_block = false;
                if !block.contains('…') {
                    let text = if block.trim_start().starts_with("flow ") {
                        block.clone()
                    } else {
                        format!("flow doc_example\n{block}")
                    };
                    let (flow, diags) = parse(&dsl_common::source(&text));
                    let rendered = flowc::diagnostic::render::human(
                        &dsl_common::source(&text),
                        &diags.into_sorted(),
                        false,
                    );
                    assert!(
                        flow.is_some(),
                        "example does not parse:\n{text}\n{rendered}"
                    );
                    checked += 1;
                }
                block.clear();
            } else {
                in_fence = true;
                in_block = lang.trim().is_empty();
            }
            continue;
        }
        if in_block {
            block.push_str(line);
            block.push('\n');
        }
    }
    assert!(checked >= 9, "only {checked} examples found");
}
