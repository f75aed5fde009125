//! `flowc schema`: the JSON Schema is a valid draft 2020-12 schema, accepts
//! a flow using every construct, and rejects what the front end rejects.

use flowc::schema::json_schema;
use flowc::syntax::yaml::node::{Parsed, parse_nodes, to_json};
use serde_json::Value;

const ALL: &str = include_str!("yaml_fixtures/all_constructs.flow.yaml");

/// The YAML as JSON, read the way an editor's YAML tooling reads it.
fn yaml_to_json(text: &str) -> Value {
    let mut diagnostics = Vec::new();
    match parse_nodes(text, &mut diagnostics) {
        Parsed::Document(node) => to_json(&node),
        other => panic!("not a YAML document: {other:?} {diagnostics:?}"),
    }
}

fn errors(text: &str) -> Vec<String> {
    let schema = json_schema();
    let validator = jsonschema::draft202012::new(&schema).expect("a valid schema");
    let instance = yaml_to_json(text);
    validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn the_schema_is_a_valid_2020_12_schema() {
    let schema = json_schema();
    assert!(jsonschema::meta::is_valid(&schema));
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(jsonschema::validator_for(&schema).is_ok());
}

#[test]
fn every_construct_validates() {
    // The fixture also holds two errors that the front end reads and the
    // checker reports (a literal secret, an unknown type); the schema flags
    // them in the editor already.
    let literal = "client_secret: sk_test_literal";
    let unknown_type = "wobble: strng";
    assert!(ALL.contains(literal) && ALL.contains(unknown_type));
    let found = errors(ALL);
    assert!(
        found
            .iter()
            .any(|e| e.contains("/credentials/client_secret")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|e| e.contains("/data/wobble")),
        "{found:?}"
    );
    let clean = ALL
        .replace(literal, "client_secret: { env: PAYPAL_SECRET }")
        .replace(unknown_type, "wobble: string");
    let found = errors(&clean);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn an_unknown_step_key_fails() {
    let text =
        "flow: f\nsteps:\n  - id: w\n    wait: { signal: s }\n    timout: 3d\n    on_timeout: w\n";
    assert!(!errors(text).is_empty());
    let fixed = text.replace("timout", "timeout");
    assert!(errors(&fixed).is_empty(), "{:?}", errors(&fixed));
}

#[test]
fn what_the_front_end_rejects_fails() {
    for text in [
        // an unknown top-level key
        "flow: f\nstpes: []\n",
        // no flow name
        "steps: []\n",
        // a step with two kinds
        "flow: f\nsteps:\n  - { id: a, set: { x: 1 }, goto: b }\n",
        // a step without a kind
        "flow: f\nsteps:\n  - { id: a }\n",
        // a literal secret
        "flow: f\nconnections:\n  s: { provider: stripe, credentials: { secret_key: sk_test_123 } }\n",
        // a wait without a timeout
        "flow: f\nsteps:\n  - { id: a, wait: { signal: s } }\n",
        // an unknown data item key
        "flow: f\ndata:\n  a: { type: string, requird: true }\n",
        // options on a type that is not select
        "flow: f\ndata:\n  a: { type: string, options: { a: b } }\n",
        // an unknown body form
        "flow: f\nsteps:\n  - { id: h, http: { method: POST, url: x, body: { yaml: x } } }\n",
    ] {
        assert!(!errors(text).is_empty(), "accepted:\n{text}");
    }
}

#[test]
fn the_schema_is_deterministic() {
    assert_eq!(json_schema(), json_schema());
}
