//! Every construct of docs/language.md shows its effect in a built binary:
//! `flow_build/constructs.flow.yaml` (one flow, one build) runs
//! `flow_build/constructs.scenario.yaml` under `simulate`, whose expectations
//! check each construct's effect (a value saved, a branch taken, a request as
//! the scripted server received it, a time waited), and the same binary's
//! `start` refuses records that break each data constraint. The table
//! "Constructs and their tests" in docs/language.md names, for every
//! construct, the expectation or test that would fail if it became a no-op.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod flow_build;

use flow_build::{build_flow_text, workspace};

fn dir() -> PathBuf {
    workspace().join("compiler/tests/flow_build")
}

fn binary() -> PathBuf {
    let text = std::fs::read_to_string(dir().join("constructs.flow.yaml")).expect("flow");
    build_flow_text(&text)
}

fn run(bin: &Path, store: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .env("FLOWC_STORE", store)
        .env("FLOWC_LOG", "warn")
        .args(args)
        .output()
        .expect("the flow binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_construct_has_its_effect_under_simulate() {
    let bin = binary();
    let tmp = tempfile::tempdir().unwrap();
    let scenario = dir().join("constructs.scenario.yaml");
    let out = run(
        &bin,
        &tmp.path().join("unused.db"),
        &["simulate", "--scenario", &scenario.to_string_lossy()],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(!stdout.contains("FAIL "), "{stdout}");
    let expectations = std::fs::read_to_string(&scenario)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("  - issue:") || l.starts_with("  - http:"))
        .count();
    assert!(expectations >= 16, "{expectations}");
    assert!(
        stdout.contains(&format!(
            "constructs: {expectations} of {expectations} expectations met"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("a: completed at done"), "{stdout}");
    assert!(stdout.contains("b: failed at give_up"), "{stdout}");
    assert!(stdout.contains("c: cancelled at stop"), "{stdout}");
}

/// The data constraints (`required`, `pattern`, `max_length`, `min`, `max`,
/// the options of a `select`, the type itself) as the binary's `start`
/// applies them: each record breaks one and is refused, naming it; the valid
/// one starts.
#[test]
fn every_data_constraint_refuses_a_record_that_breaks_it() {
    let bin = binary();
    let tmp = tempfile::tempdir().unwrap();
    let ok = r#""email": "a@example.com", "due": "2025-03-13", "total": {"amount": "5", "currency": "EUR"}"#;
    let records = [
        format!(r#"{{"code": "OK-1", {ok}}}"#),
        // required
        r#"{"code": "NO-1", "due": "2025-03-13", "total": {"amount": "5", "currency": "EUR"}}"#.to_string(),
        // pattern
        format!(r#"{{"code": "lower-1", {ok}}}"#),
        // max_length
        format!(r#"{{"code": "ABCDEFGHIJ-12345", {ok}}}"#),
        // min (money)
        r#"{"code": "MIN-1", "email": "a@example.com", "due": "2025-03-13", "total": {"amount": "0.5", "currency": "EUR"}}"#.to_string(),
        // max (integer)
        format!(r#"{{"code": "MAX-1", "qty": 11, {ok}}}"#),
        // a select's options
        format!(r#"{{"code": "SEL-1", "region": "7", {ok}}}"#),
        // a table column's min
        format!(r#"{{"code": "COL-1", "lines": [{{"name": "x", "n": 0}}], {ok}}}"#),
        // money(EUR) takes EUR only
        r#"{"code": "CUR-1", "email": "a@example.com", "due": "2025-03-13", "total": {"amount": "5", "currency": "JPY"}}"#.to_string(),
        // min and max of a date
        r#"{"code": "DAT-1", "email": "a@example.com", "due": "2024-12-31", "total": {"amount": "5", "currency": "EUR"}}"#.to_string(),
        r#"{"code": "DAT-2", "email": "a@example.com", "due": "2031-01-01", "total": {"amount": "5", "currency": "EUR"}}"#.to_string(),
        // the type: an e-mail address
        r#"{"code": "TYP-1", "email": "not-an-address", "due": "2025-03-13", "total": {"amount": "5", "currency": "EUR"}}"#.to_string(),
    ];
    let file = tmp.path().join("records.jsonl");
    std::fs::write(&file, records.join("\n") + "\n").unwrap();
    let store = tmp.path().join("constructs.db");
    let out = run(
        &bin,
        &store,
        &["start", "--file", &file.to_string_lossy(), "--skip-invalid"],
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("started 1 issues (11 invalid records skipped)"),
        "{all}"
    );
    for (row, says) in [
        (2, "email"),
        (3, "pattern"),
        (4, "longer than 12"),
        (5, "below the minimum 1"),
        (6, "above the maximum 10"),
        (7, "region"),
        (8, "below the minimum 1"),
        (9, "JPY"),
        (10, "before the minimum 2025-01-01"),
        (11, "after the maximum 2030-12-31"),
        (12, "email"),
    ] {
        let line = all
            .lines()
            .find(|l| l.contains(&format!("record {row}")) || l.contains(&format!("row {row}")))
            .unwrap_or_else(|| panic!("nothing about record {row}:\n{all}"));
        assert!(line.contains(says), "record {row}: {line}\n{all}");
    }
}
