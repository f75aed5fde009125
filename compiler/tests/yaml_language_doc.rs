//! docs/language.md is the contract: every YAML example in it reads without
//! a diagnostic from the YAML front end, round-trips through the printer,
//! and validates against `flowc schema`.

use flowc::schema::json_schema;
use flowc::syntax::strip::without_spans;
use flowc::syntax::yaml;
use flowc::syntax::yaml::node::{Parsed, parse_nodes, to_json};
use flowc::{Source, Syntax};

const DOC: &str = include_str!("../../docs/language.md");

/// The ```yaml blocks of the reference.
fn yaml_blocks() -> Vec<&'static str> {
    DOC.split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .collect()
}

/// Turns one example into whole flow files: step lists go under `steps:`,
/// sections under a `flow:` name, one file per `start:` line; `…`
/// placeholders become empty lists and maps.
fn as_flows(block: &str) -> Vec<String> {
    let block = block.replace("[ … ]", "[]").replace("{ … }", "{}").replace(
        "{ id: add_item, action: stripe.create_invoice_item, with: {} }",
        "{ id: add_item, action: stripe.create_invoice_item }",
    );
    if block.trim_start().starts_with("- ") {
        let steps: String = block.lines().map(|l| format!("  {l}\n")).collect();
        return vec![format!("flow: doc\nsteps:\n{steps}")];
    }
    if block.starts_with("start:") {
        return block.lines().map(|l| format!("flow: doc\n{l}\n")).collect();
    }
    if block.starts_with("flow:") {
        return vec![block.replace("start: …", "start: input")];
    }
    vec![format!("flow: doc\n{block}\n")]
}

#[test]
fn every_yaml_example_reads_prints_and_validates() {
    let blocks = yaml_blocks();
    assert!(blocks.len() >= 10, "found {} yaml blocks", blocks.len());
    let schema = json_schema();
    let validator = jsonschema::draft202012::new(&schema).expect("a valid schema");
    let mut checked = 0;
    for block in blocks {
        for text in as_flows(block) {
            let source = Source::new("doc.flow.yaml", text.as_str(), Syntax::Yaml);
            let (flow, diagnostics) = yaml::parse(&source);
            let messages: Vec<String> = diagnostics
                .iter()
                .map(|d| format!("{} {}", d.code.as_str(), d.message))
                .collect();
            assert!(messages.is_empty(), "{messages:?}\n{text}");
            let flow = flow.expect("a flow");
            let printed = yaml::print(&flow);
            let again = Source::new("printed.flow.yaml", printed.as_str(), Syntax::Yaml);
            let (reparsed, errors) = yaml::parse(&again);
            assert!(errors.is_empty(), "{errors:?}\n{printed}");
            assert_eq!(
                reparsed.as_ref().map(without_spans),
                Some(without_spans(&flow)),
                "\n{printed}"
            );
            let mut found = Vec::new();
            let Parsed::Document(node) = parse_nodes(&text, &mut found) else {
                panic!("{text}")
            };
            let instance = to_json(&node);
            let invalid: Vec<String> = validator
                .iter_errors(&instance)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(invalid.is_empty(), "{invalid:?}\n{text}");
            checked += 1;
        }
    }
    assert!(checked >= 15, "checked {checked}");
}
