//! Every flow in `flows/`: the four systems of the brief are there in both
//! syntaxes, every file checks clean without warnings, the YAML and DSL
//! versions of a flow lower to the same IR, and every YAML flow validates
//! against the JSON Schema of `flowc schema`. (The round trip through
//! `flowc fmt` is tested in `compiler/tests/cli_fmt.rs`.)

use flowc::syntax::yaml::node::{Parsed, parse_nodes, to_json};
use flowc::{Source, Syntax};
use flowc_workspace_tests::flow_files;
use std::path::{Path, PathBuf};

fn source(path: &Path) -> Source {
    let name = path.to_string_lossy().into_owned();
    let syntax = Syntax::from_path(&name).expect("flow file extension");
    let text = std::fs::read_to_string(path).expect("readable flow file");
    Source::new(name, text, syntax)
}

fn checked_ir(source: &Source) -> flowc::ir::Flow {
    let checked = flowc::check(source);
    assert!(
        !checked.has_errors(),
        "{} has errors:\n{}",
        source.name,
        flowc::diagnostic::render::human(source, &checked.diagnostics, false)
    );
    checked.ir.expect("a clean flow lowers to IR")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn there_are_flows_in_both_syntaxes_for_the_four_systems() {
    let names: Vec<String> = flow_files().iter().map(|p| file_name(p)).collect();
    for system in ["paypal", "stripe", "vipps", "buckaroo"] {
        let yaml = names
            .iter()
            .any(|n| n.starts_with(system) && n.ends_with(".flow.yaml"));
        let dsl = names
            .iter()
            .any(|n| n.starts_with(system) && n.ends_with(".flow"));
        assert!(
            yaml && dsl,
            "flows/ needs a {system} flow in YAML and in the DSL"
        );
    }
}

#[test]
fn every_flow_checks_clean_without_warnings() {
    for path in flow_files() {
        let source = source(&path);
        let checked = flowc::check(&source);
        assert!(
            checked.diagnostics.is_empty(),
            "{}:\n{}",
            source.name,
            flowc::diagnostic::render::human(&source, &checked.diagnostics, false)
        );
    }
}

#[test]
fn yaml_and_dsl_versions_of_a_flow_lower_to_the_same_ir() {
    let mut pairs = 0;
    for path in flow_files() {
        let name = path.to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".flow.yaml") else {
            continue;
        };
        let dsl_path = PathBuf::from(format!("{stem}.flow"));
        assert!(dsl_path.exists(), "{name} has no DSL twin");
        assert_eq!(
            checked_ir(&source(&path)),
            checked_ir(&source(&dsl_path)),
            "{name} and its DSL twin differ"
        );
        pairs += 1;
    }
    assert!(
        pairs >= 4,
        "expected at least four YAML/DSL pairs, found {pairs}"
    );
}

#[test]
fn every_yaml_flow_validates_against_the_json_schema() {
    let schema = flowc::schema::json_schema();
    let validator =
        jsonschema::validator_for(&schema).expect("flowc schema is a valid JSON Schema");
    let mut validated = 0;
    for path in flow_files() {
        let source = source(&path);
        if source.syntax != Syntax::Yaml {
            continue;
        }
        let mut diagnostics = Vec::new();
        let instance = match parse_nodes(&source.text, &mut diagnostics) {
            Parsed::Document(node) => to_json(&node),
            _ => panic!("{} is not a YAML document", source.name),
        };
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}:\n{}", source.name, errors.join("\n"));
        validated += 1;
    }
    assert!(
        validated >= 4,
        "expected at least four YAML flows, found {validated}"
    );
}
