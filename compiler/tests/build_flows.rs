//! The generated crates compile, pass `cargo clippy -- -D warnings`, run,
//! and share one target dir without rebuilding the runtime's dependencies.
//!
//! All builds go to one persistent target dir under cargo's test tmp dir
//! (`target/tmp/flowc-flows`): the first run builds flowc_runtime and its
//! dependencies once (minutes on two cores), later runs are warm.
//!
//! Every flow in `flows/` is built: http steps, provider actions and batch
//! steps all compile against `flowc_runtime`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

mod flow_build;

use flow_build::{build, flow_crate, generate, toolchain, workspace};
use flowc::Syntax;
use flowc::driver::Toolchain;

/// The names of every flow in `flows/` (one per YAML file).
fn all_flows() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace().join("flows"))
        .expect("flows/")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".flow.yaml").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 6,
        "flows/ should hold the six flows: {names:?}"
    );
    names
}

/// The `flowc` under test; `FLOWC_BIN` overrides it (when other builds
/// share the target dir and may replace cargo's copy meanwhile).
fn flowc_bin() -> PathBuf {
    std::env::var_os("FLOWC_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_flowc")))
}

#[test]
fn generated_crates_build_and_pass_clippy() {
    let t = toolchain();
    for flow in all_flows() {
        let flow = flow.as_str();
        let krate = flow_crate(flow);
        let bin = build(&krate, &t);
        assert!(bin.exists(), "{} was not built", bin.display());
        let out = Command::new(&t.cargo)
            .args(["clippy", "--quiet", "--manifest-path"])
            .arg(t.crate_dir(&krate).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&t.target_dir)
            .args(["--", "-D", "warnings"])
            .output()
            .expect("cargo clippy");
        assert!(
            out.status.success(),
            "clippy on the generated {flow}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `flowc run FLOW -- simulate --scenario FILE`, as the README shows it (with
/// the credentials the flow reads from the environment).
fn simulate(flow: &str, scenario: &str) -> (bool, String) {
    let out = Command::new(flowc_bin())
        .current_dir(workspace())
        .env("FLOWC_TARGET_DIR", toolchain().target_dir)
        .env("KINTONE_API_TOKEN", "test-token")
        .args([
            "run",
            &format!("flows/{flow}.flow.yaml"),
            "--",
            "simulate",
            "--scenario",
        ])
        .arg(scenario)
        .output()
        .expect("flowc run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn kintone_flow_runs_its_scenarios_end_to_end() {
    let flow = "kintone_delivery_sync";
    let (ok, out) = simulate(flow, "examples/kintone_delivery_sync/happy.scenario.yaml");
    assert!(ok, "{out}");
    assert!(out.contains("2 of 2 expectations met"), "{out}");
    assert!(out.contains("two_items: completed at done"), "{out}");
    let (ok, out) = simulate(
        flow,
        "examples/kintone_delivery_sync/rejected.scenario.yaml",
    );
    assert!(ok, "{out}");
    assert!(out.contains("bad_app: failed at post_line"), "{out}");
}

/// The README's first command (the main job) is the PayPal flow's main
/// scenario, and it does what the README says: every delivery from invoice to
/// confirmed payment against the PayPal simulator, every expectation met.
#[test]
fn the_readme_main_job_takes_deliveries_to_confirmed_payment() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let first = readme
        .lines()
        .find(|l| l.starts_with("cargo run"))
        .expect("a cargo run line in README.md");
    let flow = "paypal_delivery_invoice";
    let scenario = "examples/paypal_delivery_invoice/happy.scenario.yaml";
    assert_eq!(
        first,
        format!(
            "cargo run --release -p flowc -- run flows/{flow}.flow.yaml -- simulate --scenario {scenario}"
        )
    );
    let (code, out) = simulate_without_env(flow, &workspace().join(scenario));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("4 of 4 expectations met"), "{out}");
    for who in ["uk", "japan", "germany"] {
        assert!(out.contains(&format!("{who}: completed at done")), "{out}");
    }
}

/// `flowc run FLOW -- simulate --scenario FILE` with nothing in the
/// environment: Stripe connections get the simulator and a test key, and each
/// scenario's `env:` the placeholders it needs.
fn simulate_without_env(flow: &str, scenario: &Path) -> (Option<i32>, String) {
    let out = Command::new(flowc_bin())
        .current_dir(workspace())
        .env("FLOWC_TARGET_DIR", toolchain().target_dir)
        .env_remove("STRIPE_SECRET_KEY")
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .env_remove("FLOWC_STRIPE_BASE_URL")
        .env_remove("PAYPAL_CLIENT_ID")
        .env_remove("PAYPAL_CLIENT_SECRET")
        .env_remove("PAYPAL_WEBHOOK_ID")
        .env_remove("FLOWC_PAYPAL_BASE_URL")
        .args([
            "run",
            &format!("flows/{flow}.flow.yaml"),
            "--",
            "simulate",
            "--scenario",
        ])
        .arg(scenario)
        .output()
        .expect("flowc run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// `N of M expectations met` in a simulation's output.
fn met(out: &str) -> Option<(usize, usize)> {
    let line = out.lines().find(|l| l.contains(" expectations met"))?;
    let head = line.split(" expectations met").next()?;
    let mut words = head.rsplit(' ');
    let total = words.next()?.parse().ok()?;
    (words.next()? == "of").then_some(())?;
    Some((words.next()?.parse().ok()?, total))
}

/// The flows with a connection to a simulated provider (`stripe`, `paypal`),
/// that provider, and their scenarios.
fn simulated_flows_and_scenarios() -> Vec<(String, &'static str, Vec<PathBuf>)> {
    let mut out = Vec::new();
    for flow in all_flows() {
        let text = std::fs::read_to_string(workspace().join(format!("flows/{flow}.flow.yaml")))
            .expect("flow file");
        let Some(provider) = ["stripe", "paypal"]
            .into_iter()
            .find(|p| text.contains(&format!("provider: {p}")))
        else {
            continue;
        };
        let dir = workspace().join("examples").join(&flow);
        let mut scenarios: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{flow} has no scenarios in {}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".scenario.yaml"))
            .collect();
        scenarios.sort();
        assert!(!scenarios.is_empty(), "{flow} has no scenarios");
        out.push((flow, provider, scenarios));
    }
    out
}

#[test]
fn every_stripe_and_paypal_flow_runs_its_scenarios_against_the_simulator() {
    let flows = simulated_flows_and_scenarios();
    let names: Vec<&str> = flows.iter().map(|(f, _, _)| f.as_str()).collect();
    for want in [
        "paypal_delivery_invoice",
        "stripe_charge_refund_triggers",
        "stripe_customer_charges",
        "stripe_invoice_reminders",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let broken_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("broken-scenarios");
    std::fs::create_dir_all(&broken_dir).expect("tmp dir");
    for (flow, provider, scenarios) in &flows {
        // An expectation on the simulator that cannot hold.
        let (impossible, named) = match *provider {
            "paypal" => (
                "paypal: { invoices: 999 }",
                "FAIL paypal: expected 999 invoices, the simulator has ",
            ),
            _ => (
                "stripe: { customers: 999 }",
                "FAIL stripe: expected 999 customers, the simulator has ",
            ),
        };
        for scenario in scenarios {
            let shown = scenario.display();
            let (code, out) = simulate_without_env(flow, scenario);
            assert_eq!(code, Some(0), "{shown}:\n{out}");
            let (n, total) = met(&out).unwrap_or_else(|| panic!("{shown}: no summary\n{out}"));
            assert!(total > 0 && n == total, "{shown}: {n} of {total}\n{out}");
            assert!(!out.contains("FAIL "), "{shown}:\n{out}");

            // The same scenario with one expectation that cannot hold: exit 1,
            // the failure named, one expectation short.
            let text = std::fs::read_to_string(scenario).expect("scenario");
            let last_key = text
                .lines()
                .rfind(|l| !l.starts_with([' ', '#', '-']) && !l.is_empty())
                .unwrap_or_default();
            assert_eq!(last_key, "expect:", "{shown}: `expect:` comes last");
            let broken = broken_dir.join(scenario.file_name().expect("name"));
            std::fs::write(&broken, format!("{}\n  - {impossible}\n", text.trim_end()))
                .expect("write");
            let (code, out) = simulate_without_env(flow, &broken);
            assert_eq!(code, Some(1), "{shown} (broken):\n{out}");
            assert!(out.contains(named), "{shown} (broken):\n{out}");
            assert_eq!(
                met(&out),
                Some((total, total + 1)),
                "{shown} (broken):\n{out}"
            );
        }
    }
}

/// A second flow, different from every flow in `flows/`.
const OTHER_FLOW: &str = r#"
flow: second_flow_for_cache_test
data:
  order: { type: integer, required: true }
  receipt: { type: string }
start: input
steps:
  - id: post
    http:
      method: POST
      url: "https://example.com/orders/${order}"
      response: { id: string }
    save: { receipt: "${post.id}" }
  - id: done
    end: completed
"#;

/// The mtimes of the heavy dependencies' artifacts in `deps/`.
fn dep_mtimes(t: &Toolchain) -> Vec<(String, SystemTime)> {
    let deps = t.target_dir.join("debug").join("deps");
    let mut out: Vec<(String, SystemTime)> = std::fs::read_dir(&deps)
        .expect("deps/")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let heavy = [
                "libtokio-",
                "libreqwest-",
                "librusqlite-",
                "libflowc_runtime-",
            ]
            .iter()
            .any(|p| name.starts_with(p) && name.ends_with(".rlib"));
            let mtime = e.metadata().and_then(|m| m.modified()).ok()?;
            heavy.then_some((name, mtime))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_second_flow_reuses_the_compiled_runtime() {
    let t = toolchain();
    build(&flow_crate("kintone_delivery_sync"), &t);
    let before = dep_mtimes(&t);
    for dep in [
        "libtokio-",
        "libreqwest-",
        "librusqlite-",
        "libflowc_runtime-",
    ] {
        assert!(
            before.iter().any(|(n, _)| n.starts_with(dep)),
            "no {dep}*.rlib in the shared target dir"
        );
    }
    let other = generate("second.flow.yaml", OTHER_FLOW, Syntax::Yaml);
    let bin = build(&other, &t);
    assert!(bin.exists());
    assert_eq!(
        before,
        dep_mtimes(&t),
        "building a second flow recompiled the runtime or its dependencies"
    );
}
