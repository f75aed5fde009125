//! `flowc test [FLOW|DIR…]`: builds each flow and runs its scenarios
//! (`<examples>/<flow file stem>/*.scenario.yaml`, see docs/scenarios.md)
//! with the binary's `simulate`, printing one line per scenario and a
//! summary. Exit 0 when every scenario passes, 1 when one fails or a flow
//! does not build, 2 on usage or IO errors. What CI runs instead of a shell
//! loop over `flowc run FLOW -- simulate --scenario FILE`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use flowc::Syntax;
use serde_json::json;

use super::Exit;
use super::files::{self, Input, IoError};
use super::output::{self, MessageFormat, Stream};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Flow files, or directories to search for flow files (default:
    /// `flows`). A flow written in both syntaxes in one directory
    /// (`x.flow.yaml` and `x.flow`) is tested once, from its YAML file.
    #[arg(value_name = "FLOW|DIR")]
    paths: Vec<PathBuf>,
    /// The directory holding each flow's scenarios, as
    /// `<DIR>/<flow file stem>/*.scenario.yaml`.
    #[arg(long, value_name = "DIR", default_value = "examples")]
    examples: PathBuf,
    /// Build the flows with optimizations.
    #[arg(long)]
    release: bool,
    /// How to report: lines for people (default), JSON Lines (one object per
    /// scenario, then a summary), or GitHub Actions annotations for failures.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    /// Run the scenarios on this PostgreSQL database (`postgres://…`), each in
    /// a schema of its own that is dropped at the end, instead of in memory.
    #[arg(long, env = "FLOWC_STORE", value_name = "URL")]
    store: Option<String>,
}

/// How one scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Exit 0: every expectation held.
    Passed,
    /// Exit 1: an expectation did not hold.
    Failed,
    /// Any other exit: the scenario could not run (a bad file, a crash).
    Error,
}

impl Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
        }
    }
}

/// One scenario's run, as read from the binary's output.
#[derive(Debug, Clone)]
struct ScenarioRun {
    flow: String,
    file: PathBuf,
    name: String,
    outcome: Outcome,
    /// `N of M expectations met`, when the simulation got that far.
    met: Option<(usize, usize)>,
    /// The `FAIL …` lines, and `error: …` lines of a run that could not run.
    failures: Vec<String>,
    seconds: f64,
}

/// The totals of a run.
#[derive(Debug, Default)]
struct Totals {
    passed: usize,
    failed: usize,
    /// Flows that do not build (diagnostics printed, or a build error).
    unbuilt: Vec<String>,
    /// Flows with no scenario file.
    without: Vec<String>,
}

/// Runs `flowc test`.
pub fn run(args: &Args) -> Exit {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("flows")]
    } else {
        args.paths.clone()
    };
    let (inputs, io_errors) = files::collect(&paths);
    if !io_errors.is_empty() || inputs.is_empty() {
        for e in &io_errors {
            output::eprint_line(&format!("error: {e}"));
        }
        if io_errors.is_empty() {
            output::eprint_line(&format!("error: {}", IoError("no flow files found".into())));
        }
        return Exit::Usage;
    }
    let format = args.message_format;
    let mut totals = Totals::default();
    for (stem, input) in flows_once(inputs) {
        let scenarios = match scenario_files(&args.examples.join(&stem)) {
            Ok(s) => s,
            Err(e) => {
                output::eprint_line(&format!("error: {e}"));
                return Exit::Usage;
            }
        };
        let bin = match super::build::compile(&input.path, args.release) {
            Ok(bin) => bin,
            Err(_) => {
                report_flow(format, &stem, &input.path, "build_failed");
                totals.unbuilt.push(stem);
                continue;
            }
        };
        if scenarios.is_empty() {
            report_flow(format, &stem, &input.path, "no_scenarios");
            totals.without.push(stem);
            continue;
        }
        for file in scenarios {
            let run = run_scenario(&bin, &stem, &file, args.store.as_deref());
            match run.outcome {
                Outcome::Passed => totals.passed += 1,
                Outcome::Failed | Outcome::Error => totals.failed += 1,
            }
            report_scenario(format, &run);
        }
    }
    report_totals(format, &totals, &args.examples);
    if totals.failed > 0 || !totals.unbuilt.is_empty() {
        Exit::FlowErrors
    } else {
        Exit::Clean
    }
}

/// The flow file name without its extension: `x` for `x.flow.yaml` or `x.flow`.
fn stem(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    [".flow.yaml", ".flow.yml", ".flow"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .map(str::to_owned)
}

/// The flows to test, with their stems: one per directory and stem, the YAML
/// file where a flow is written in both syntaxes (they lower to one IR).
fn flows_once(mut inputs: Vec<Input>) -> Vec<(String, Input)> {
    inputs.sort_by_key(|i| {
        (
            i.path.parent().map(Path::to_path_buf),
            stem(&i.path),
            i.syntax != Syntax::Yaml,
        )
    });
    let mut seen = HashSet::new();
    inputs
        .into_iter()
        .filter_map(|i| {
            let stem = stem(&i.path)?;
            let dir = i.path.parent().map(Path::to_path_buf);
            seen.insert((dir, stem.clone())).then_some((stem, i))
        })
        .collect()
}

/// The `*.scenario.yaml` files of a directory, sorted; none when it does not exist.
fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>, IoError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(IoError(format!(
                "cannot read directory `{}`: {}",
                dir.display(),
                files::describe(&e)
            )));
        }
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".scenario.yaml") && !n.starts_with('.'))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Runs `BIN simulate --scenario FILE` and reads what it printed.
fn run_scenario(bin: &Path, flow: &str, file: &Path, store: Option<&str>) -> ScenarioRun {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".scenario.yaml"))
        .unwrap_or_default()
        .to_string();
    let started = Instant::now();
    let mut cmd = Command::new(bin);
    if let Some(url) = store {
        cmd.arg("--store").arg(url);
    }
    let out = cmd.arg("simulate").arg("--scenario").arg(file).output();
    let seconds = started.elapsed().as_secs_f64();
    let mut run = ScenarioRun {
        flow: flow.to_string(),
        file: file.to_path_buf(),
        name,
        outcome: Outcome::Error,
        met: None,
        failures: Vec::new(),
        seconds,
    };
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            run.failures.push(format!(
                "cannot run `{}`: {}",
                bin.display(),
                files::describe(&e)
            ));
            return run;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    run.met = stdout.lines().find_map(expectations_met);
    run.failures = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL "))
        .map(str::to_owned)
        .collect();
    run.outcome = match out.status.code() {
        Some(0) => Outcome::Passed,
        Some(1) => Outcome::Failed,
        code => {
            run.failures.extend(
                stderr
                    .lines()
                    .filter_map(|l| l.strip_prefix("error: "))
                    .map(str::to_owned),
            );
            if run.failures.is_empty() {
                run.failures.push(match code {
                    Some(c) => format!("the simulation exited with status {c}"),
                    None => "the simulation was killed by a signal".into(),
                });
            }
            Outcome::Error
        }
    };
    run
}

/// `(N, M)` from a simulation's closing line `NAME: N of M expectations met; …`.
fn expectations_met(line: &str) -> Option<(usize, usize)> {
    let head = line.split(" expectations met").next()?;
    if head.len() == line.len() {
        return None;
    }
    let mut words = head.rsplit(' ');
    let total = words.next()?.parse().ok()?;
    (words.next()? == "of").then_some(())?;
    Some((words.next()?.parse().ok()?, total))
}

fn report_flow(format: MessageFormat, flow: &str, file: &Path, outcome: &str) {
    let text = match format {
        MessageFormat::Json => {
            json!({"type": "flow", "flow": flow, "file": file, "outcome": outcome}).to_string()
        }
        _ if outcome == "build_failed" => {
            let line = format!("FAIL  {flow}: {} does not build", file.display());
            if format == MessageFormat::Github {
                format!("::error file={}::{line}", file.display())
            } else {
                line
            }
        }
        _ => format!("none  {flow}: no scenarios"),
    };
    output::write(Stream::Stdout, &format!("{text}\n"));
}

fn report_scenario(format: MessageFormat, run: &ScenarioRun) {
    let label = format!("{}/{}", run.flow, run.name);
    let met = run
        .met
        .map(|(n, m)| format!("{n} of {m} expectations"))
        .unwrap_or_else(|| "did not run".into());
    let text = match format {
        MessageFormat::Json => json!({
            "type": "scenario",
            "flow": run.flow,
            "scenario": run.name,
            "file": run.file,
            "outcome": run.outcome.as_str(),
            "met": run.met.map(|(n, _)| n),
            "expectations": run.met.map(|(_, m)| m),
            "failures": run.failures,
            "seconds": (run.seconds * 1000.0).round() / 1000.0,
        })
        .to_string(),
        MessageFormat::Human | MessageFormat::Github => {
            let status = match run.outcome {
                Outcome::Passed => "ok   ",
                Outcome::Failed => "FAIL ",
                Outcome::Error => "ERROR",
            };
            let mut text = format!("{status} {label} ({met}, {:.1} s)", run.seconds);
            for f in &run.failures {
                text.push_str(&format!("\n      {f}"));
            }
            if format == MessageFormat::Github && run.outcome != Outcome::Passed {
                // One annotation on the scenario file; `%0A` is a newline there.
                text.push_str(&format!(
                    "\n::error file={},title=scenario {label} {}::{}",
                    run.file.display(),
                    run.outcome.as_str(),
                    run.failures.join("%0A")
                ));
            }
            text
        }
    };
    output::write(Stream::Stdout, &format!("{text}\n"));
}

fn report_totals(format: MessageFormat, t: &Totals, examples: &Path) {
    let text = match format {
        MessageFormat::Json => json!({
            "type": "summary",
            "passed": t.passed,
            "failed": t.failed,
            "flows_not_built": t.unbuilt,
            "flows_without_scenarios": t.without,
        })
        .to_string(),
        MessageFormat::Human | MessageFormat::Github => {
            let mut text = String::new();
            if !t.unbuilt.is_empty() {
                text.push_str(&format!(
                    "{} not built: {}\n",
                    output::plural(t.unbuilt.len(), "flow"),
                    t.unbuilt.join(", ")
                ));
            }
            if !t.without.is_empty() {
                text.push_str(&format!(
                    "{} without scenarios in {}: {}\n",
                    output::plural(t.without.len(), "flow"),
                    examples.display(),
                    t.without.join(", ")
                ));
            }
            text.push_str(&format!(
                "scenarios: {} passed, {} failed",
                t.passed, t.failed
            ));
            text
        }
    };
    output::write(Stream::Stdout, &format!("{text}\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(path: &str) -> Input {
        let path = PathBuf::from(path);
        let syntax = files::syntax_of(&path).expect("a flow file name");
        Input { path, syntax }
    }

    #[test]
    fn a_flow_in_both_syntaxes_is_tested_once_from_its_yaml_file() {
        let flows = flows_once(vec![
            input("flows/b.flow"),
            input("flows/a.flow"),
            input("flows/b.flow.yaml"),
            input("other/b.flow"),
        ]);
        let got: Vec<(String, String)> = flows
            .iter()
            .map(|(s, i)| (s.clone(), i.path.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), "flows/a.flow".to_string()),
                ("b".to_string(), "flows/b.flow.yaml".to_string()),
                ("b".to_string(), "other/b.flow".to_string()),
            ]
        );
    }

    #[test]
    fn the_closing_line_of_a_simulation_is_read() {
        assert_eq!(
            expectations_met("plan: 2 of 3 expectations met; 1.0 days simulated in 4ms"),
            Some((2, 3))
        );
        assert_eq!(expectations_met("inv1: waiting at queue"), None);
        assert_eq!(expectations_met("x: many of 3 expectations met"), None);
    }
}
