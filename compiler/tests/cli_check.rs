//! `flowc check`: exit codes, directory walking, message formats, and inputs
//! that must give a located diagnostic instead of a panic.

mod cli_support;

use cli_support::{TempDir, fixtures::*, flowc, is_github_annotation, position_of};

/// The keys every JSON diagnostic has.
const JSON_KEYS: [&str; 10] = [
    "file",
    "line",
    "column",
    "end_line",
    "end_column",
    "code",
    "severity",
    "message",
    "labels",
    "help",
];

/// Asserts the JSON Lines shape and returns the objects.
#[track_caller]
fn json_diagnostics(run: &cli_support::Run) -> Vec<serde_json::Value> {
    let lines = run.json_lines();
    for d in &lines {
        for key in JSON_KEYS {
            assert!(d.get(key).is_some(), "`{key}` missing in {d}");
        }
        for key in ["line", "column", "end_line", "end_column"] {
            assert!(d[key].as_u64().is_some_and(|n| n >= 1), "{key} in {d}");
        }
        assert!(d["labels"].is_array(), "{d}");
        assert!(
            matches!(d["severity"].as_str(), Some("error" | "warning")),
            "{d}"
        );
    }
    lines
}

#[test]
fn a_clean_file_exits_0_with_a_summary() {
    for (name, text) in [("c.flow.yaml", CLEAN_YAML), ("c.flow", CLEAN_DSL)] {
        let dir = TempDir::new("clean");
        let file = dir.write(name, text);
        let run = flowc(&["check", &file]);
        run.expect(0);
        assert_eq!(run.stdout, "", "{run:#?}");
        assert!(
            run.stderr
                .ends_with("checked 1 file: 0 errors, 0 warnings\n"),
            "{run:#?}"
        );
    }
}

#[test]
fn warnings_pass_unless_denied() {
    let dir = TempDir::new("warn");
    let file = dir.write("w.flow.yaml", WARNING_YAML);
    let run = flowc(&["check", &file]);
    run.expect(0);
    assert!(run.stdout.contains("W0002"), "{run:#?}");
    assert!(
        run.stderr
            .ends_with("checked 1 file: 0 errors, 1 warning\n"),
        "{run:#?}"
    );
    flowc(&["check", "--deny-warnings", &file]).expect(1);
}

#[test]
fn flow_errors_exit_1_and_point_at_the_reference() {
    for (name, text) in [("e.flow.yaml", ERROR_YAML), ("e.flow", ERROR_DSL)] {
        let dir = TempDir::new("error");
        let file = dir.write(name, text);
        let run = flowc(&["check", &file]);
        run.expect(1);
        assert!(run.stdout.contains("E0101"), "{run:#?}");
        assert!(run.stderr.contains("1 error"), "{run:#?}");

        let run = flowc(&["check", "--message-format", "json", &file]);
        run.expect(1);
        let diags = json_diagnostics(&run);
        let (line, column) = position_of(text, "custmer_email");
        assert!(
            diags.iter().any(|d| d["code"] == "E0101"
                && d["line"] == line
                && d["column"] == column
                && d["file"] == file.as_str()),
            "no E0101 at {line}:{column}: {run:#?}"
        );
    }
}

#[test]
fn directories_are_walked_in_sorted_order() {
    let dir = TempDir::new("walk");
    dir.write("b.flow", ERROR_DSL);
    dir.write("a.flow.yaml", ERROR_YAML);
    dir.write("sub/c.flow.yml", ERROR_YAML);
    dir.write("notes.txt", "not a flow");
    dir.write("x.yaml", "not: a flow");
    dir.write(".hidden/d.flow.yaml", ERROR_YAML);
    let root = dir.path().to_string_lossy().into_owned();
    let run = flowc(&["check", "--message-format", "json", &root]);
    run.expect(1);
    let mut files: Vec<String> = json_diagnostics(&run)
        .iter()
        .map(|d| d["file"].as_str().unwrap_or_default().to_owned())
        .collect();
    files.dedup();
    let expected: Vec<String> = ["a.flow.yaml", "b.flow", "sub/c.flow.yml"]
        .iter()
        .map(|f| dir.path().join(f).to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, expected, "{run:#?}");
    let human = flowc(&["check", &root]);
    assert!(human.stderr.contains("checked 3 files"), "{human:#?}");
    // A file named twice is checked once.
    let a = dir
        .path()
        .join("a.flow.yaml")
        .to_string_lossy()
        .into_owned();
    let twice = flowc(&["check", &a, &root]);
    assert!(twice.stderr.contains("checked 3 files"), "{twice:#?}");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = TempDir::new("usage");
    let missing = dir.path().join("missing.flow.yaml");
    let run = flowc(&["check", &missing.to_string_lossy()]);
    run.expect(2);
    assert!(run.stderr.contains("missing.flow.yaml"), "{run:#?}");

    // An explicit file with an unknown extension.
    let txt = dir.write("flow.txt", CLEAN_YAML);
    flowc(&["check", &txt]).expect(2);

    // A directory without flow files.
    let empty = TempDir::new("empty-dir");
    let run = flowc(&["check", &empty.path().to_string_lossy()]);
    run.expect(2);
    assert!(run.stderr.contains("no flow files"), "{run:#?}");

    // No paths, a bad option value, an unknown subcommand.
    flowc(&["check"]).expect(2);
    let ok = dir.write("ok.flow.yaml", CLEAN_YAML);
    flowc(&["check", "--message-format", "xml", &ok]).expect(2);
    flowc(&["frobnicate"]).expect(2);

    // An IO error wins over flow errors, and the good files are still checked.
    let bad = dir.write("bad.flow", ERROR_DSL);
    let run = flowc(&["check", &bad, &missing.to_string_lossy()]);
    run.expect(2);
    assert!(run.stdout.contains("E0101"), "{run:#?}");
}

#[cfg(unix)]
#[test]
fn an_unreadable_file_exits_2() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("unreadable");
    let file = dir.write("u.flow.yaml", CLEAN_YAML);
    let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000));
    if std::fs::read(&file).is_ok() {
        // Running as root: permissions do not stop reads; nothing to test.
        return;
    }
    flowc(&["check", &file]).expect(2);
}

/// Inputs that cannot be flows must give a located diagnostic and exit 1.
#[test]
fn bad_inputs_give_located_diagnostics_without_panics() {
    let mut binary = vec![0x7f, b'E', b'L', b'F', 0, 1, 2, 0xff, 0xfe];
    binary.extend((0..=255u8).rev());
    // The code expected ("" for any code).
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.flow.yaml", Vec::new(), "E0001"),
        ("empty.flow", Vec::new(), "E0001"),
        ("blank.flow.yaml", b"  \n\n".to_vec(), ""),
        ("blank.flow", b"# nothing\n".to_vec(), ""),
        ("binary.flow.yaml", binary.clone(), "E0002"),
        ("binary.flow", binary, "E0002"),
        ("latin1.flow", b"flow caf\xe9\n".to_vec(), "E0002"),
        (
            "malformed.flow.yaml",
            MALFORMED_YAML.as_bytes().to_vec(),
            "E0003",
        ),
        ("broken.flow", BROKEN_DSL.as_bytes().to_vec(), "E0004"),
    ];
    for (name, bytes, code) in cases {
        let dir = TempDir::new("bad");
        let file = dir.write(name, &bytes);
        for format in ["human", "json", "github"] {
            let run = flowc(&["check", "--message-format", format, &file]);
            run.expect(1);
            assert!(run.stdout.contains(code), "{name} ({format}): {run:#?}");
        }
        let run = flowc(&["check", "--message-format", "json", &file]);
        let diags = json_diagnostics(&run);
        assert!(!diags.is_empty(), "{name}: {run:#?}");
        assert!(
            diags.iter().any(|d| code.is_empty() || d["code"] == code),
            "{name}: {run:#?}"
        );
    }
}

#[test]
fn json_lines_have_one_object_per_diagnostic() {
    let dir = TempDir::new("json");
    let a = dir.write("a.flow.yaml", ERROR_YAML);
    let b = dir.write("b.flow.yaml", WARNING_YAML);
    let json = flowc(&["check", "--message-format", "json", &a, &b]);
    json.expect(1);
    assert_eq!(json.stderr, "", "no summary in JSON mode: {json:#?}");
    let diags = json_diagnostics(&json);
    let github = flowc(&["check", "--message-format", "github", &a, &b]);
    assert_eq!(
        diags.len(),
        github.stdout.lines().count(),
        "{json:#?}\n{github:#?}"
    );
    assert!(diags.iter().any(|d| d["severity"] == "warning"));
    assert!(diags.iter().any(|d| d["severity"] == "error"));
}

#[test]
fn github_annotations_are_one_per_line() {
    let dir = TempDir::new("github");
    let a = dir.write("a.flow.yaml", ERROR_YAML);
    let b = dir.write("b.flow", ERROR_DSL);
    let c = dir.write("c.flow.yaml", WARNING_YAML);
    let run = flowc(&["check", "--message-format", "github", &a, &b, &c]);
    run.expect(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines.len() >= 3, "{run:#?}");
    for line in lines {
        assert!(is_github_annotation(line), "not an annotation: {line:?}");
    }
    assert!(run.stdout.contains("::warning "), "{run:#?}");
}

#[test]
fn human_output_has_no_colour_off_a_terminal() {
    let dir = TempDir::new("colour");
    let file = dir.write("e.flow.yaml", ERROR_YAML);
    let run = flowc(&["check", &file]);
    run.expect(1);
    assert!(!run.stdout.contains('\u{1b}'), "{run:#?}");
    assert!(run.stdout.contains("custmer_email"), "{run:#?}");
}

#[test]
fn github_annotation_matcher() {
    assert!(is_github_annotation(
        "::error file=a.flow,line=1,col=2,endLine=3,endColumn=4,title=E0101 unknown::msg"
    ));
    assert!(is_github_annotation(
        "::warning file=a,line=1,col=2,endLine=3,endColumn=4,title=W::m"
    ));
    assert!(!is_github_annotation(
        "::error file=a,line=x,col=2,endLine=3,endColumn=4,title=W::m"
    ));
    assert!(!is_github_annotation(
        "::error file=a,line=1,col=2,endLine=3,endColumn=4,title=W::"
    ));
    assert!(!is_github_annotation("::notice file=a,line=1::m"));
}
