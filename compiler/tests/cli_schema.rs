//! `flowc schema`: the JSON Schema of the YAML format.

mod cli_support;

use cli_support::flowc;

#[test]
fn schema_prints_a_json_schema() {
    let run = flowc(&["schema"]);
    run.expect(0);
    let schema: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:#?}"));
    assert!(schema.is_object(), "{schema}");
    assert!(schema.get("$schema").is_some(), "{schema}");
    assert_eq!(
        schema,
        flowc::schema::json_schema(),
        "the CLI prints the library's schema"
    );
    // Pretty-printed, one key per line.
    assert!(run.stdout.lines().count() > 10, "{run:#?}");
}
