//! `flowc fmt --to yaml|dsl`: conversion both ways, `--write`, refusal on
//! errors, and the round trip of every flow in `flows/` to the same IR.

mod cli_support;

use cli_support::{TempDir, fixtures::*, flow_files, flowc, source_of, syntax_of};
use flowc::{Source, Syntax};

/// Checks `text` as `syntax` with the library.
fn check(name: &str, text: &str, syntax: Syntax) -> flowc::Checked {
    flowc::check(&Source::new(name, text, syntax))
}

#[test]
fn yaml_to_dsl_and_back_keeps_the_ir() {
    let dir = TempDir::new("fmt");
    let yaml = dir.write("c.flow.yaml", CLEAN_YAML);
    let original = check("c.flow.yaml", CLEAN_YAML, Syntax::Yaml);
    assert!(original.ir.is_some(), "{:#?}", original.diagnostics);

    let to_dsl = flowc(&["fmt", &yaml, "--to", "dsl"]);
    to_dsl.expect(0);
    let dsl = check("c.flow", &to_dsl.stdout, Syntax::Dsl);
    assert!(
        !dsl.has_errors(),
        "{:#?}\n{}",
        dsl.diagnostics,
        to_dsl.stdout
    );
    assert_eq!(dsl.ir, original.ir);

    let dsl_file = dir.write("d.flow", &to_dsl.stdout);
    let back = flowc(&["fmt", &dsl_file, "--to", "yaml"]);
    back.expect(0);
    let yaml_again = check("d.flow.yaml", &back.stdout, Syntax::Yaml);
    assert!(!yaml_again.has_errors(), "{:#?}", yaml_again.diagnostics);
    assert_eq!(yaml_again.ir, original.ir);
}

#[test]
fn the_dsl_fixture_lowers_like_the_yaml_fixture() {
    let yaml = check("c.flow.yaml", CLEAN_YAML, Syntax::Yaml);
    let dsl = check("c.flow", CLEAN_DSL, Syntax::Dsl);
    assert!(!yaml.has_errors(), "{:#?}", yaml.diagnostics);
    assert!(!dsl.has_errors(), "{:#?}", dsl.diagnostics);
    assert_eq!(yaml.ir, dsl.ir);
}

#[test]
fn write_puts_the_file_beside_the_input_and_only_rewrites_changes() {
    let dir = TempDir::new("fmt-write");
    let yaml = dir.write("pay.flow.yaml", CLEAN_YAML);
    let run = flowc(&["fmt", &yaml, "--to", "dsl", "--write"]);
    run.expect(0);
    assert_eq!(run.stdout, "", "{run:#?}");
    let target = dir.path().join("pay.flow");
    let written = std::fs::read_to_string(&target).expect("pay.flow written");
    let stdout = flowc(&["fmt", &yaml, "--to", "dsl"]);
    assert_eq!(written, stdout.stdout);

    // Unchanged content: the file is left alone (same modification time).
    let before = std::fs::metadata(&target).and_then(|m| m.modified()).ok();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = flowc(&["fmt", &yaml, "--to", "dsl", "--write"]);
    again.expect(0);
    assert!(again.stderr.contains("unchanged"), "{again:#?}");
    let after = std::fs::metadata(&target).and_then(|m| m.modified()).ok();
    assert_eq!(before, after);

    // And the other way: pay.flow -> pay.flow.yaml replaces the YAML.
    let dsl = target.to_string_lossy().into_owned();
    flowc(&["fmt", &dsl, "--to", "yaml", "--write"]).expect(0);
    let yaml_text = std::fs::read_to_string(&yaml).expect("yaml");
    let round = check("pay.flow.yaml", &yaml_text, Syntax::Yaml);
    assert_eq!(round.ir, check("x", CLEAN_YAML, Syntax::Yaml).ir);
}

#[test]
fn a_flow_with_errors_is_not_converted() {
    let dir = TempDir::new("fmt-err");
    let file = dir.write("e.flow.yaml", ERROR_YAML);
    let run = flowc(&["fmt", &file, "--to", "dsl", "--write"]);
    run.expect(1);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("E0101"), "{run:#?}");
    assert!(!dir.path().join("e.flow").exists());

    let binary = dir.write("b.flow", [0u8, 159, 146, 150]);
    flowc(&["fmt", &binary, "--to", "yaml"]).expect(1);
}

#[test]
fn usage_errors_exit_2() {
    let dir = TempDir::new("fmt-usage");
    let txt = dir.write("c.txt", CLEAN_YAML);
    flowc(&["fmt", &txt, "--to", "dsl"]).expect(2);
    let missing = dir.path().join("nope.flow").to_string_lossy().into_owned();
    flowc(&["fmt", &missing, "--to", "yaml"]).expect(2);
    let yaml = dir.write("c.flow.yaml", CLEAN_YAML);
    flowc(&["fmt", &yaml]).expect(2);
    flowc(&["fmt", &yaml, "--to", "json"]).expect(2);
}

/// Every flow in `flows/` converts to the other syntax (and back) with the
/// same IR, and the converted text checks clean.
#[test]
fn every_flow_round_trips_to_the_same_ir() {
    for path in flow_files() {
        let source = source_of(&path);
        let original = flowc::check(&source);
        assert!(
            !original.has_errors() && original.ir.is_some(),
            "{}: {:#?}",
            path.display(),
            original.diagnostics
        );
        let file = path.to_string_lossy().into_owned();
        let (to, other) = match syntax_of(&path) {
            Some(Syntax::Yaml) => ("dsl", Syntax::Dsl),
            _ => ("yaml", Syntax::Yaml),
        };
        let run = flowc(&["fmt", &file, "--to", to]);
        run.expect(0);
        let converted = check("converted", &run.stdout, other);
        assert!(
            !converted.has_errors(),
            "{} -> {to}: {:#?}\n{}",
            path.display(),
            converted.diagnostics,
            run.stdout
        );
        assert_eq!(converted.ir, original.ir, "{} -> {to}", path.display());

        // And back again.
        let dir = TempDir::new("fmt-flows");
        let name = match other {
            Syntax::Yaml => "back.flow.yaml",
            Syntax::Dsl => "back.flow",
        };
        let written = dir.write(name, &run.stdout);
        let back_to = if to == "dsl" { "yaml" } else { "dsl" };
        let back = flowc(&["fmt", &written, "--to", back_to]);
        back.expect(0);
        let again = check("back", &back.stdout, source.syntax);
        assert_eq!(
            again.ir,
            original.ir,
            "{} -> {to} -> {back_to}",
            path.display()
        );
    }
}
