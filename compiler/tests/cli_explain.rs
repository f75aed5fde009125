//! `flowc explain`, `--version` and `--help` on every subcommand.

mod cli_support;

use cli_support::flowc;
use flowc::Code;

#[test]
fn every_code_has_a_real_explanation() {
    for code in Code::ALL {
        let run = flowc(&["explain", code.as_str()]);
        run.expect(0);
        assert!(
            run.stdout
                .starts_with(&format!("{}: {}", code.as_str(), code.title())),
            "{run:#?}"
        );
        let body = run.stdout.lines().skip(1).collect::<Vec<_>>().join("\n");
        let body = body.trim();
        assert!(
            body.len() >= 80 && body.lines().count() >= 3,
            "{}: the explanation is too short to help:\n{}",
            code.as_str(),
            run.stdout
        );
    }
}

#[test]
fn codes_are_case_insensitive() {
    let lower = flowc(&["explain", "e0101"]);
    lower.expect(0);
    assert_eq!(lower.stdout, flowc(&["explain", "E0101"]).stdout);
}

#[test]
fn an_unknown_code_exits_2_with_the_known_codes() {
    let run = flowc(&["explain", "E9999"]);
    run.expect(2);
    assert!(run.stderr.contains("E9999"), "{run:#?}");
    for code in Code::ALL {
        assert!(run.stderr.contains(code.as_str()), "{run:#?}");
    }
    flowc(&["explain"]).expect(2);
}

#[test]
fn list_shows_every_code_with_its_title() {
    let run = flowc(&["explain", "--list"]);
    run.expect(0);
    assert_eq!(run.stdout.lines().count(), Code::ALL.len());
    for code in Code::ALL {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(code.as_str()) && l.ends_with(code.title())),
            "{}: {run:#?}",
            code.as_str()
        );
    }
}

#[test]
fn version_and_help() {
    let run = flowc(&["--version"]);
    run.expect(0);
    assert_eq!(
        run.stdout.trim(),
        format!("flowc {}", env!("CARGO_PKG_VERSION"))
    );
    for sub in [
        &[][..],
        &["check"][..],
        &["fmt"],
        &["graph"],
        &["schema"],
        &["explain"],
    ] {
        let mut args = sub.to_vec();
        args.push("--help");
        let run = flowc(&args);
        run.expect(0);
        assert!(run.stdout.contains("Usage: flowc"), "{args:?}: {run:#?}");
    }
}
