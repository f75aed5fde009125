//! The YAML front end reads every construct of docs/language.md, and its
//! printer writes YAML that reads back to an equal AST (modulo spans).

use flowc::ast::*;
use flowc::syntax::strip::without_spans;
use flowc::syntax::yaml;
use flowc::{Source, Syntax};

const ALL: &str = include_str!("yaml_fixtures/all_constructs.flow.yaml");

fn parse_ok(name: &str, text: &str) -> Flow {
    let source = Source::new(name, text, Syntax::Yaml);
    let (flow, diagnostics) = yaml::parse(&source);
    let messages: Vec<String> = diagnostics
        .iter()
        .map(|d| {
            let (line, col) = source.line_col(d.primary_span().start);
            format!("{} {line}:{col} {}", d.code.as_str(), d.message)
        })
        .collect();
    assert!(
        messages.is_empty(),
        "{name}:\n{}\n---\n{text}",
        messages.join("\n")
    );
    flow.expect("a flow")
}

#[test]
fn every_construct_round_trips() {
    let flow = parse_ok("all_constructs.flow.yaml", ALL);
    let printed = yaml::print(&flow);
    insta::assert_snapshot!("all_constructs_printed", printed);
    let again = parse_ok("printed.flow.yaml", &printed);
    assert_eq!(without_spans(&again), without_spans(&flow));
    // Printing is a fixed point.
    assert_eq!(yaml::print(&again), printed);
}
