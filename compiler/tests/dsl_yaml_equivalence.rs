//! YAML and the DSL say the same things: a flow written in either converts
//! to the other and back to the same AST (modulo spans).

mod dsl_common;

use dsl_common::parse_ok;
use flowc::ast::Flow;
use flowc::syntax::strip::without_spans;
use flowc::syntax::{dsl, yaml};
use flowc::{Source, Syntax};

const DSL: &str = include_str!("dsl_fixtures/every_construct.flow");
const YAML: &str = include_str!("yaml_fixtures/all_constructs.flow.yaml");

fn parse_yaml(text: &str) -> Flow {
    let src = Source::new("test.flow.yaml", text, Syntax::Yaml);
    let (flow, diags) = yaml::parse(&src);
    let diags: Vec<_> = diags.into_iter().collect();
    assert!(
        diags.is_empty(),
        "YAML diagnostics:\n{}\n{text}",
        flowc::diagnostic::render::human(&src, &diags, false)
    );
    flow.expect("a YAML flow without diagnostics")
}

#[test]
fn dsl_flow_converts_to_yaml_and_back() {
    let flow = parse_ok(DSL);
    let as_yaml = yaml::print(&flow);
    let from_yaml = parse_yaml(&as_yaml);
    assert_eq!(
        without_spans(&from_yaml),
        without_spans(&flow),
        "\n{as_yaml}"
    );
}

#[test]
fn yaml_flow_converts_to_dsl_and_back() {
    let flow = parse_yaml(YAML);
    let as_dsl = dsl::print(&flow);
    let from_dsl = parse_ok(&as_dsl);
    assert_eq!(without_spans(&from_dsl), without_spans(&flow), "\n{as_dsl}");
    // And on to YAML again: the same flow.
    let again = parse_yaml(&yaml::print(&from_dsl));
    assert_eq!(without_spans(&again), without_spans(&flow));
}
