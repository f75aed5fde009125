//! A flow started by `start: { schedule: { every: 1d } }`, built into its
//! binary: `simulate` starts one issue per tick of three simulated days, and
//! `run --once` then `list` show the next tick.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod flow_build;

use flow_build::{build_flow_text, workspace};

fn dir() -> PathBuf {
    workspace().join("compiler/tests/flow_build")
}

fn binary() -> PathBuf {
    let text = std::fs::read_to_string(dir().join("scheduled_report.flow.yaml")).expect("flow");
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
fn three_simulated_days_start_three_issues() {
    let bin = binary();
    let tmp = tempfile::tempdir().unwrap();
    let scenario = dir().join("scheduled_report.scenario.yaml");
    let out = run(
        &bin,
        &tmp.path().join("unused.db"),
        &["simulate", "--scenario", &scenario.to_string_lossy()],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("three days: 2 of 2 expectations met"),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .matches("(started by an event or a schedule): completed at done")
            .count(),
        3,
        "{stdout}"
    );
}

/// The next midnight UTC after `t`.
fn next_midnight(t: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second((t.as_second().div_euclid(86_400) + 1) * 86_400).unwrap()
}

#[test]
fn list_shows_the_next_tick() {
    let bin = binary();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("report.db");
    let before = jiff::Timestamp::now();
    let out = run(&bin, &store, &["list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("schedule every 1d (catch_up last): next tick ")
            && stderr.contains("not started yet"),
        "{stderr}"
    );
    // The first worker records where the schedule starts; nothing is due yet.
    let out = run(&bin, &store, &["run", "--once"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&bin, &store, &["list"]);
    let after = jiff::Timestamp::now();
    let stderr = text(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("schedule "))
        .unwrap_or_else(|| panic!("no schedule line: {stderr}"));
    // A run across midnight sees the next one.
    let expected: Vec<String> = [before, after]
        .iter()
        .map(|t| {
            format!(
                "schedule every 1d (catch_up last): next tick {}",
                next_midnight(*t)
            )
        })
        .collect();
    assert!(
        expected.iter().any(|e| line == e),
        "{line:?} is none of {expected:?}"
    );
    assert!(
        text(&out.stdout).starts_with("ID "),
        "{}",
        text(&out.stdout)
    );
    assert!(stderr.contains("0 shown"), "{stderr}");
}
