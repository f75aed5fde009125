//! End-to-end benchmark of `flowc check` as a whole process (what CI and an
//! editor's "check on save" pay): `cargo bench -p flowc --bench check`.
//!
//! Cases, each timed over N runs after a warm-up (`FLOWC_BENCH_RUNS`
//! overrides N):
//! - the process floor: `flowc --version` (start-up and exit, no work);
//! - a typical flow: the biggest file in `flows/` (a realistic fixture while
//!   `flows/` is empty);
//! - a generated 5,000-step flow, in YAML and in the DSL: Stripe actions with
//!   inputs and expressions, `set`s, `if`s and waits with timeouts, fully
//!   type-checked.
//!
//! For each: median and p95 wall time per file, lines per second, and the
//! ratio to the process floor. Targets: a typical flow ≤ 5 ms, 5,000 steps
//! ≤ 100 ms.
//!
//! For comparison: the Step Functions linter asl-validator takes ~0.4 s on an
//! 8-state machine and ~0.9 s on 5,000 states on this kind of machine, and
//! checks no types (figures from the issue). When it is installed (set
//! `ASL_VALIDATOR` to its `asl-validator` script, or have it on `PATH`, e.g.
//! `npm install asl-validator` and `ASL_VALIDATOR=node_modules/.bin/asl-validator`),
//! this bench measures it on equivalent state machines too; otherwise that
//! part is skipped.
//!
//! `FLOWC_BENCH_DIR=DIR` writes the generated files into DIR and keeps them
//! (to profile the compiler on them).

// Only the realistic fixture is used here.
#[allow(dead_code)]
#[path = "../tests/cli_support/fixtures.rs"]
mod fixtures;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The release binary cargo built for this bench.
const FLOWC: &str = env!("CARGO_BIN_EXE_flowc");

/// Steps in the generated flow.
const STEPS: usize = 5_000;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then a single quick run is enough to show the bench works.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = std::env::var("FLOWC_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1 } else { 50 });
    // `FLOWC_BENCH_DIR` keeps the generated flows there (for profiling).
    let keep = std::env::var_os("FLOWC_BENCH_DIR").map(PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("flowc-bench-{}", std::process::id()))
    });
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        std::process::exit(2);
    }

    let (typical_name, typical) = typical_flow(&dir);
    let yaml = dir.join("generated.flow.yaml");
    let dsl = dir.join("generated.flow");
    write(&yaml, &generate_yaml(STEPS));
    write(&dsl, &generate_dsl(STEPS));

    println!("flowc check, whole process, {runs} runs each ({FLOWC})\n");
    let targets = [
        (typical_name, typical, Duration::from_millis(5)),
        (
            "5,000 steps, YAML".to_owned(),
            yaml,
            Duration::from_millis(100),
        ),
        (
            "5,000 steps, DSL".to_owned(),
            dsl,
            Duration::from_millis(100),
        ),
    ];
    let files: Vec<String> = targets
        .iter()
        .map(|(_, path, _)| path.to_string_lossy().into_owned())
        .collect();
    let mut commands: Vec<Vec<&str>> = vec![vec![FLOWC, "--version"]];
    for ((name, _, _), file) in targets.iter().zip(&files) {
        let args = vec![FLOWC, "check", "--message-format", "json", file.as_str()];
        verify_clean(&args, name);
        commands.push(args);
    }
    // Round robin, so that load from elsewhere on the machine hits every
    // case alike.
    let stats = measure_all(&commands, runs);
    let floor = &stats[0];
    print_header();
    print_row("flowc --version (process floor)", floor, None, floor);
    let mut misses = Vec::new();
    for ((name, path, target), s) in targets.iter().zip(&stats[1..]) {
        let lines = std::fs::read_to_string(path).map_or(0, |t| t.lines().count());
        print_row(name, s, Some(lines), floor);
        if s.median > *target {
            misses.push(format!(
                "{name}: median {} > target {}",
                ms(s.median),
                ms(*target)
            ));
        }
    }
    println!("\ntargets: typical flow <= 5 ms, 5,000 steps <= 100 ms (median wall time)");
    if misses.is_empty() {
        println!("all targets met");
    } else {
        for m in &misses {
            println!("MISSED {m}");
        }
    }

    asl_validator(&dir, runs.min(10), floor);
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Wall times of `runs` runs, sorted.
#[derive(Debug)]
struct Stats {
    median: Duration,
    p95: Duration,
}

fn measure(args: &[&str], runs: usize) -> Stats {
    measure_all(&[args.to_vec()], runs).remove(0)
}

/// Times every command `runs` times, one run of each in turn.
fn measure_all(commands: &[Vec<&str>], runs: usize) -> Vec<Stats> {
    let runs = runs.max(1);
    // Warm the page cache and the binary.
    for args in commands {
        for _ in 0..runs.min(3) {
            run(args);
        }
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); commands.len()];
    for _ in 0..runs {
        for (args, t) in commands.iter().zip(&mut times) {
            t.push(run(args));
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort();
            let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
            Stats {
                median: at(0.5),
                p95: at(0.95),
            }
        })
        .collect()
}

/// One run's wall time (output discarded).
fn run(args: &[&str]) -> Duration {
    let start = Instant::now();
    let status = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let elapsed = start.elapsed();
    if let Err(e) = status {
        eprintln!("cannot run {}: {e}", args[0]);
        std::process::exit(2);
    }
    elapsed
}

/// Warns when a benchmarked flow does not check clean: then the numbers do
/// not measure full type checking.
fn verify_clean(args: &[&str], name: &str) {
    let out = Command::new(args[0]).args(&args[1..]).output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let first: Vec<&str> = text.lines().take(3).collect();
            eprintln!(
                "warning: `{name}` does not check clean (exit {:?}, {} diagnostics), e.g.:\n  {}",
                out.status.code(),
                text.lines().count(),
                first.join("\n  ")
            );
        }
        Err(e) => eprintln!("warning: cannot run flowc: {e}"),
    }
}

fn print_header() {
    println!(
        "{:<42} {:>7} {:>10} {:>10} {:>12} {:>9}",
        "case", "lines", "median", "p95", "lines/s", "x floor"
    );
}

fn print_row(name: &str, s: &Stats, lines: Option<usize>, floor: &Stats) {
    let per_second = match lines {
        Some(l) if !s.median.is_zero() => format!("{:.0}", l as f64 / s.median.as_secs_f64()),
        _ => "-".into(),
    };
    let ratio = s.median.as_secs_f64() / floor.median.as_secs_f64().max(1e-9);
    let lines = lines.map_or_else(|| "-".to_owned(), |l| l.to_string());
    println!(
        "{name:<42} {lines:>7} {:>10} {:>10} {per_second:>12} {ratio:>8.2}x",
        ms(s.median),
        ms(s.p95)
    );
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("cannot write {}: {e}", path.display());
        std::process::exit(2);
    }
}

/// The biggest flow in `flows/`, or the realistic fixture when there is none.
fn typical_flow(dir: &Path) -> (String, PathBuf) {
    let flows = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows");
    let flows = flows.canonicalize().unwrap_or(flows);
    let biggest = std::fs::read_dir(&flows)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| flowc::Syntax::from_path(n).is_some())
        })
        .max_by_key(|p| (std::fs::metadata(p).map_or(0, |m| m.len()), p.clone()));
    match biggest {
        Some(path) => {
            let name = path
                .file_name()
                .map(|n| format!("typical: {}", n.to_string_lossy()))
                .unwrap_or_default();
            (name, path)
        }
        None => {
            let path = dir.join("typical.flow.yaml");
            write(&path, fixtures::CLEAN_YAML);
            ("typical: fixture".into(), path)
        }
    }
}

// ---------------------------------------------------------------- generated flows

/// Data items and connection shared by both generated variants.
const DATA_YAML: &str = r#"data:
  delivery_id: { type: string, required: true, max_length: 64 }
  customer_email: { type: email, required: true }
  total: { type: money(JPY), required: true, min: 1 }
  customer_id: { type: id(stripe.customer) }
  charge_id: { type: id(stripe.charge) }
  attempts: { type: integer, default: 0 }
  approved: { type: bool, default: false }
  note: { type: text }
connections:
  stripe:
    provider: stripe
    mode: test
    credentials:
      secret_key: { env: STRIPE_SECRET_KEY }
start: input
"#;

/// A flow of `n` top-level steps in YAML, cycling through five kinds.
fn generate_yaml(n: usize) -> String {
    let mut out =
        String::from("flow: generated\ndescription: A generated flow for the benchmark.\n");
    out.push_str(DATA_YAML);
    out.push_str("steps:\n");
    for i in 0..n {
        let _ = match i % 5 {
            0 => write!(
                out,
                r#"  - id: customer_{i}
    action: stripe.create_customer
    with:
      email: ${{customer_email}}
      name: "Customer ${{delivery_id}} #{i}"
      metadata: {{ delivery: "${{delivery_id}}", step: "{i}" }}
    save:
      customer_id: ${{customer_{i}.id}}
"#
            ),
            1 => write!(
                out,
                r#"  - id: count_{i}
    set:
      attempts: ${{attempts + 1}}
      note: 'step {i} of ${{delivery_id}}: ${{format_date(today(), "era_ja")}}'
"#
            ),
            2 => write!(
                out,
                r#"  - id: large_{i}
    if: ${{minor_units(total) > {i} && !approved}}
    then:
      - {{ id: approve_{i}, set: {{ approved: true }} }}
    else:
      - {{ id: note_{i}, set: {{ note: "small: ${{delivery_id}}" }} }}
"#
            ),
            3 => write!(
                out,
                r#"  - id: charge_{i}
    action: stripe.create_charge
    with:
      amount: ${{minor_units(total) * 2 - {i}}}
      currency: jpy
      customer: ${{customer_id}}
      description: "Delivery ${{delivery_id}} (${{attempts}})"
    save:
      charge_id: ${{charge_{i}.id}}
"#
            ),
            _ => write!(
                out,
                r#"  - id: confirm_{i}
    wait:
      signal: confirmed_{i}
      data: {{ comment: text }}
    timeout: 14d
    on_timeout: give_up
"#
            ),
        };
    }
    out.push_str("  - id: done\n    end: completed\n");
    out.push_str("  - id: give_up\n    fail: \"charge ${charge_id} was never confirmed\"\n");
    out
}

/// [`generate_yaml`] in the DSL.
fn generate_dsl(n: usize) -> String {
    let mut out = String::from(
        r#"flow generated "A generated flow for the benchmark."

data {
  delivery_id: string required max_length 64
  customer_email: email required
  total: money(JPY) required min 1
  customer_id: id(stripe.customer)
  charge_id: id(stripe.charge)
  attempts: integer default 0
  approved: bool default false
  note: text
}

connection stripe: stripe test {
  secret_key = env("STRIPE_SECRET_KEY")
}

start input

"#,
    );
    for i in 0..n {
        let _ = match i % 5 {
            0 => write!(
                out,
                r#"step customer_{i} = stripe.create_customer {{
  email = customer_email
  name = "Customer ${{delivery_id}} #{i}"
  metadata = {{ delivery = delivery_id step = "{i}" }}
}} save {{
  customer_id = customer_{i}.id
}}
"#
            ),
            1 => write!(
                out,
                r#"step count_{i} = set {{
  attempts = attempts + 1
  note = "step {i} of ${{delivery_id}}: ${{format_date(today(), "era_ja")}}"
}}
"#
            ),
            2 => write!(
                out,
                r#"step large_{i} = if minor_units(total) > {i} && !approved {{
  step approve_{i} = set {{ approved = true }}
}} else {{
  step note_{i} = set {{ note = "small: ${{delivery_id}}" }}
}}
"#
            ),
            3 => write!(
                out,
                r#"step charge_{i} = stripe.create_charge {{
  amount = minor_units(total) * 2 - {i}
  currency = "jpy"
  customer = customer_id
  description = "Delivery ${{delivery_id}} (${{attempts}})"
}} save {{
  charge_id = charge_{i}.id
}}
"#
            ),
            _ => write!(
                out,
                "step confirm_{i} = wait signal confirmed_{i} {{ comment: text }}\n  timeout 14d on_timeout give_up\n"
            ),
        };
    }
    out.push_str("step done = end completed\n");
    out.push_str("step give_up = fail \"charge ${charge_id} was never confirmed\"\n");
    out
}

// ---------------------------------------------------------------- asl-validator

/// Times asl-validator on an 8-state and a 5,000-state machine, when present.
fn asl_validator(dir: &Path, runs: usize, floor: &Stats) {
    let program = std::env::var("ASL_VALIDATOR").unwrap_or_else(|_| "asl-validator".into());
    let present = Command::new(&program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        println!(
            "\nasl-validator: not installed, comparison skipped \
             (set ASL_VALIDATOR to its script to include it)"
        );
        return;
    }
    println!(
        "\nasl-validator (Step Functions linter, no type checking), {runs} runs each \
         (x floor: against `flowc --version`):"
    );
    print_header();
    for states in [8, STEPS] {
        let path = dir.join(format!("machine_{states}.json"));
        write(&path, &state_machine(states));
        let file = path.to_string_lossy().into_owned();
        let args = [program.as_str(), "--silent", "--json-path", file.as_str()];
        let stats = measure(&args, runs);
        let lines = std::fs::read_to_string(&path).map_or(0, |t| t.lines().count());
        print_row(
            &format!("asl-validator, {states} states"),
            &stats,
            Some(lines),
            floor,
        );
    }
}

/// A chain of `n` states: Task, Choice and Wait states, then Succeed/Fail.
fn state_machine(n: usize) -> String {
    let mut states = Vec::new();
    let name = |i: usize| format!("S{i}");
    for i in 0..n {
        let next = if i + 1 < n {
            name(i + 1)
        } else {
            "Done".into()
        };
        let state = match i % 3 {
            0 => format!(
                r#""{}": {{ "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {{ "FunctionName": "charge", "Payload.$": "$" }}, "Next": "{next}" }}"#,
                name(i)
            ),
            1 => format!(
                r#""{}": {{ "Type": "Choice", "Choices": [ {{ "Variable": "$.total", "NumericGreaterThan": {i}, "Next": "{next}" }} ], "Default": "GiveUp" }}"#,
                name(i)
            ),
            _ => format!(
                r#""{}": {{ "Type": "Wait", "Seconds": 60, "Next": "{next}" }}"#,
                name(i)
            ),
        };
        states.push(state);
    }
    states.push(r#""Done": { "Type": "Succeed" }"#.into());
    states.push(r#""GiveUp": { "Type": "Fail", "Error": "NotPaid" }"#.into());
    format!(
        "{{\n  \"StartAt\": \"S0\",\n  \"States\": {{\n    {}\n  }}\n}}\n",
        states.join(",\n    ")
    )
}
