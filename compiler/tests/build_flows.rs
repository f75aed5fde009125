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
        names.len() >= 9,
        "flows/ should hold the nine flows: {names:?}"
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

/// The flows with a connection to a simulated provider (`stripe`, `paypal`, `vipps`),
/// that provider, and their scenarios.
fn simulated_flows_and_scenarios() -> Vec<(String, &'static str, Vec<PathBuf>)> {
    let mut out = Vec::new();
    for flow in all_flows() {
        let text = std::fs::read_to_string(workspace().join(format!("flows/{flow}.flow.yaml")))
            .expect("flow file");
        let Some(provider) = ["stripe", "paypal", "vipps"]
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
fn every_stripe_paypal_and_vipps_flow_runs_its_scenarios_against_the_simulator() {
    let flows = simulated_flows_and_scenarios();
    let names: Vec<&str> = flows.iter().map(|(f, _, _)| f.as_str()).collect();
    for want in [
        "paypal_delivery_invoice",
        "stripe_charge_refund_triggers",
        "stripe_customer_charges",
        "stripe_invoice_reminders",
        "vipps_epayment",
        "vipps_payment_status",
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
            "vipps" => (
                "vipps: { payments: 999 }",
                "FAIL vipps: expected 999 payments, the simulator has ",
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

/// The Buckaroo flow's batch step under `simulate`: two invoices, twelve
/// simulated hours while their batch is open and after it closed, one request
/// file with each invoice's record once. (An issue that re-entered its batch
/// step while the batch was open got a new idempotency key at every wake-up,
/// and its record was added to the file again: 612 records for two invoices.)
/// The second invoice has no BIC and no mandate date, optional data items:
/// the BIC's column is empty and the mandate date is the connection's
/// `sepa_mandate_date`; its IBAN fails its check digits.
#[test]
fn buckaroo_batch_writes_each_invoice_once() {
    let outbox = tempfile::tempdir().expect("tmp dir");
    let out = Command::new(flowc_bin())
        .current_dir(workspace())
        .env("FLOWC_TARGET_DIR", toolchain().target_dir)
        .env("FLOWC_BUCKAROO_OUTBOX", outbox.path())
        .args([
            "run",
            "flows/buckaroo_direct_debit.flow.yaml",
            "--",
            "simulate",
            "--scenario",
            "examples/buckaroo_direct_debit/batched.scenario.yaml",
        ])
        .output()
        .expect("flowc run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert_eq!(met(&text), Some((2, 2)), "{text}");
    let mut files: Vec<String> = std::fs::read_dir(outbox.path())
        .expect("outbox")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    files.sort();
    assert_eq!(files, ["ACME_DD_20250303-000001.csv"], "{text}");
    let file = std::fs::read_to_string(outbox.path().join(&files[0])).expect("request file");
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "a header record and one record per invoice:\n{file}"
    );
    assert_eq!(
        lines[0],
        "H,ACME_DD_20250303-000001.csv,2025-03-03T06:00:00Z,2,37.50,EUR,SIMULATED_WEBSITE_KEY,Acme Telecom,1",
        "{file}"
    );
    assert_eq!(
        lines[1],
        "D,INV-1,25.00,EUR,21,J. de Vries,NL91ABNA0417164300,ABNANL2A,NL,MDT-0001,2021-06-01,2025-03-10,2025-03-17,Acme Telecom factuur INV-1,nl-NL,machtiging,,",
        "{file}"
    );
    // No BIC: an empty column; no mandate date: the setting's. The IBAN
    // fails its check digits: the dummy account, iDEAL, and with
    // PayPerEmail on, the invitation's columns.
    assert_eq!(
        lines[2],
        "D,INV-2,12.50,EUR,21,A. Jansen,0000000000,,NL,MDT-0002,2013-12-11,2025-03-10,2025-03-17,Acme Telecom factuur INV-2,nl-NL,ideal,a.jansen@example.nl,ideal",
        "{file}"
    );
}

/// Two brands side by side (`flows/buckaroo_multi_brand`): each brand's
/// invoices go into its own request file, whose header record carries that
/// brand's website key, brand name and instance number.
#[test]
fn each_brand_writes_its_own_request_file_with_its_own_header() {
    let (acme, bolt) = (
        tempfile::tempdir().expect("tmp dir"),
        tempfile::tempdir().expect("tmp dir"),
    );
    let out = Command::new(flowc_bin())
        .current_dir(workspace())
        .env("FLOWC_TARGET_DIR", toolchain().target_dir)
        .env("FLOWC_ACME_OUTBOX", acme.path())
        .env("FLOWC_BOLT_OUTBOX", bolt.path())
        .args([
            "run",
            "flows/buckaroo_multi_brand.flow",
            "--",
            "simulate",
            "--scenario",
            "examples/buckaroo_multi_brand/two_brands.scenario.yaml",
        ])
        .output()
        .expect("flowc run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert_eq!(met(&text), Some((4, 4)), "{text}");
    let read = |dir: &Path, name: &str| {
        let files: Vec<String> = std::fs::read_dir(dir)
            .expect("outbox")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        assert_eq!(files, [name], "{text}");
        std::fs::read_to_string(dir.join(name)).expect("request file")
    };
    let a = read(acme.path(), "ACME_DD_20250303-000001.csv");
    let b = read(bolt.path(), "BOLT_DD_20250303-000001.csv");
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    assert_eq!(
        a[0],
        "H,ACME_DD_20250303-000001.csv,2025-03-03T06:00:00Z,2,35.00,EUR,ACME_WEBSITE_KEY,Acme Telecom,1"
    );
    assert_eq!(
        b[0],
        "H,BOLT_DD_20250303-000001.csv,2025-03-03T06:00:00Z,2,19.75,EUR,BOLT_WEBSITE_KEY,Bolt Mobile,2"
    );
    // Issues started together join in either order.
    let invoices = |lines: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = lines[1..]
            .iter()
            .map(|l| l.split(',').nth(1).unwrap_or_default().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(invoices(&a), ["A-1", "A-2"]);
    assert_eq!(invoices(&b), ["B-1", "B-2"]);
    assert!(
        b.iter().any(|l| l.contains(",Bolt Mobile factuur B-1,")),
        "{b:?}"
    );
}

/// `flowc test` with the scenarios of `examples/` (relative to the
/// workspace, where it runs).
fn flowc_test(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(flowc_bin())
        .current_dir(workspace())
        .env("FLOWC_TARGET_DIR", toolchain().target_dir)
        .env_remove("FLOWC_BUCKAROO_OUTBOX")
        .env_remove("STRIPE_SECRET_KEY")
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .env_remove("KINTONE_API_TOKEN")
        .arg("test")
        .args(args)
        .output()
        .expect("flowc test");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every scenario under `examples/<flow>/` of every flow in `flows/`, as
/// `flow/scenario`.
fn every_scenario() -> Vec<String> {
    let mut out = Vec::new();
    for flow in all_flows() {
        let Ok(dir) = std::fs::read_dir(workspace().join("examples").join(&flow)) else {
            continue;
        };
        for e in dir.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(s) = name.strip_suffix(".scenario.yaml") {
                out.push(format!("{flow}/{s}"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn flowc_test_runs_every_scenario_of_every_flow() {
    let (code, out, err) = flowc_test(&["flows"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let scenarios = every_scenario();
    assert!(scenarios.len() >= 10, "{scenarios:?}");
    let ok: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("ok    "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect();
    assert_eq!(ok, scenarios, "one line per scenario, in order:\n{out}");
    assert!(
        out.lines()
            .any(|l| l == format!("scenarios: {} passed, 0 failed", scenarios.len())),
        "{out}"
    );
    // The Buckaroo scenario's request file went to a temporary outbox, not to
    // `outbox/` of the directory the simulation ran in.
    assert!(!workspace().join("outbox").exists());
}

#[test]
fn flowc_test_reports_a_failing_scenario_and_exits_1() {
    let examples = tempfile::tempdir().expect("tmp dir");
    let dir = examples.path().join("kintone_delivery_sync");
    std::fs::create_dir_all(&dir).expect("dir");
    let happy = workspace().join("examples/kintone_delivery_sync/happy.scenario.yaml");
    let text = std::fs::read_to_string(happy).expect("scenario");
    std::fs::write(dir.join("a_happy.scenario.yaml"), &text).expect("write");
    let broken = text.replace("records_posted: 2", "records_posted: 3");
    assert_ne!(broken, text);
    std::fs::write(dir.join("b_broken.scenario.yaml"), broken).expect("write");
    std::fs::write(dir.join("c_unreadable.scenario.yaml"), "records: [").expect("write");
    let examples = examples.path().to_str().expect("utf-8 path");
    let flow = "flows/kintone_delivery_sync.flow.yaml";

    let (code, out, err) = flowc_test(&[flow, "--examples", examples]);
    assert_eq!(code, Some(1), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ok    kintone_delivery_sync/a_happy (2 of 2 expectations"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("FAIL  kintone_delivery_sync/b_broken (1 of 2 expectations"),
        "{out}"
    );
    assert!(
        lines[2].contains("expected records_posted = 3, got 2"),
        "the failed check is shown:\n{out}"
    );
    assert!(
        lines[3].starts_with("ERROR kintone_delivery_sync/c_unreadable (did not run"),
        "{out}"
    );
    assert_eq!(
        lines.last(),
        Some(&"scenarios: 1 passed, 2 failed"),
        "{out}"
    );

    let (code, out, err) = flowc_test(&[flow, "--examples", examples, "--message-format", "json"]);
    assert_eq!(code, Some(1), "{out}{err}");
    let objects: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let outcomes: Vec<(&str, &str)> = objects
        .iter()
        .filter(|o| o["type"] == "scenario")
        .map(|o| {
            (
                o["scenario"].as_str().unwrap(),
                o["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("a_happy", "passed"),
            ("b_broken", "failed"),
            ("c_unreadable", "error")
        ]
    );
    assert_eq!(objects[1]["met"], 1);
    assert_eq!(objects[1]["expectations"], 2);
    let summary = objects.last().expect("a summary");
    assert_eq!(
        (
            summary["type"].as_str(),
            summary["passed"].as_u64(),
            summary["failed"].as_u64()
        ),
        (Some("summary"), Some(1), Some(2))
    );

    // No scenario directory at all: reported, not a failure.
    let empty = tempfile::tempdir().expect("tmp dir");
    let (code, out, err) = flowc_test(&[flow, "--examples", empty.path().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("none  kintone_delivery_sync: no scenarios"),
        "{out}"
    );
    assert!(out.ends_with("scenarios: 0 passed, 0 failed\n"), "{out}");
}
