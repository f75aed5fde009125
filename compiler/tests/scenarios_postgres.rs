//! Every scenario of every flow in `flows/` ends the same on PostgreSQL as on
//! SQLite: the built binary's `simulate` runs each scenario twice, in memory
//! and with `--store postgres://…` (a throwaway server the test starts; each
//! run in a schema of its own), and the two outputs — every issue's end
//! state and step, every expectation, every outbox line — are the same but
//! for generated issue ids and wall-clock times.
//!
//! The flows are built into the shared test target dir
//! (`target/tmp/flowc-flows`, see `flow_build`), warm after `build_flows`.

use std::path::{Path, PathBuf};
use std::process::Command;

mod flow_build;

use flow_build::{build_flow, workspace};
use flowc_runtime::testing::TestPostgres;

/// Every flow in `flows/` (one per YAML file) with its scenario files.
fn flows_and_scenarios() -> Vec<(String, Vec<PathBuf>)> {
    let mut flows: Vec<String> = std::fs::read_dir(workspace().join("flows"))
        .expect("flows/")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".flow.yaml").map(str::to_owned)
        })
        .collect();
    flows.sort();
    flows
        .into_iter()
        .map(|flow| {
            let mut scenarios: Vec<PathBuf> =
                std::fs::read_dir(workspace().join("examples").join(&flow))
                    .map(|d| {
                        d.filter_map(Result::ok)
                            .map(|e| e.path())
                            .filter(|p| {
                                p.file_name()
                                    .and_then(|n| n.to_str())
                                    .is_some_and(|n| n.ends_with(".scenario.yaml"))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
            scenarios.sort();
            (flow, scenarios)
        })
        .collect()
}

/// `BIN [--store URL] simulate --scenario FILE`: exit code and stdout, with
/// nothing of the provider credentials in the environment (as `flowc test`).
fn simulate(bin: &Path, scenario: &Path, store: Option<&str>) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(bin);
    cmd.current_dir(workspace());
    for var in [
        "FLOWC_STORE",
        "FLOWC_BUCKAROO_OUTBOX",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "FLOWC_STRIPE_BASE_URL",
        "PAYPAL_CLIENT_ID",
        "PAYPAL_CLIENT_SECRET",
        "PAYPAL_WEBHOOK_ID",
        "FLOWC_PAYPAL_BASE_URL",
        "KINTONE_API_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    if let Some(url) = store {
        cmd.arg("--store").arg(url);
    }
    let out = cmd
        .arg("simulate")
        .arg("--scenario")
        .arg(scenario)
        .output()
        .expect("run the flow binary");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The output with issue ids (UUIDs) as `<id>` and the summary's wall-clock
/// time cut off.
fn normalized(out: &str) -> String {
    out.lines()
        .map(|l| {
            let l = match l.find(" simulated in ") {
                Some(i) => &l[..i],
                None => l,
            };
            without_line_numbers(&without_paypal_invoices(&without_ports(&without_uuids(l))))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// PayPal's invoice ids (`INV2-` and five groups of four) as `INV2-<id>`:
/// the simulator numbers invoices in the order their calls arrive, and issues
/// that run at once may call in either order on either store.
fn without_paypal_invoices(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("INV2-") {
        let (head, tail) = rest.split_at(i + "INV2-".len());
        out.push_str(head);
        let id = tail
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
            .count();
        out.push_str("<id>");
        rest = &tail[id..];
    }
    out.push_str(rest);
    out
}

/// A response file's `line N` as `line <n>`: issues that run at once add
/// their records to a batch in either order (on either store), so a record's
/// line in the file is not a result of the scenario; which record it is, is
/// (the issue that keeps waiting).
fn without_line_numbers(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(" line ") {
        let (head, tail) = rest.split_at(i + " line ".len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("<n>");
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// `127.0.0.1:PORT` as `127.0.0.1:<port>` (each run's local servers get
/// ports of their own).
fn without_ports(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("127.0.0.1:") {
        let (head, tail) = rest.split_at(i + "127.0.0.1:".len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("<port>");
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

fn without_uuids(s: &str) -> String {
    const SHAPE: [usize; 5] = [8, 4, 4, 4, 12];
    let b = s.as_bytes();
    let is_uuid_at = |i: usize| {
        let mut j = i;
        for (k, n) in SHAPE.iter().enumerate() {
            if j + n > b.len() || !b[j..j + n].iter().all(u8::is_ascii_hexdigit) {
                return false;
            }
            j += n;
            if k < 4 {
                if b.get(j) != Some(&b'-') {
                    return false;
                }
                j += 1;
            }
        }
        true
    };
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        if s.is_char_boundary(i) && is_uuid_at(i) {
            out.push_str("<id>");
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[test]
fn generated_ids_and_ports_are_cut_out() {
    assert_eq!(
        without_uuids("issue 019af0c2-1d2e-7c3b-9a8f-0123456789ab (started): x 令和"),
        "issue <id> (started): x 令和"
    );
    assert_eq!(without_uuids("in_0123456789ab"), "in_0123456789ab");
    assert_eq!(
        without_line_numbers("x.response.csv line 4: status code"),
        "x.response.csv line <n>: status code"
    );
    assert_eq!(
        without_paypal_invoices("invoice INV2-0006-8QQY-4XPS-ENY5-LMDD PAID"),
        "invoice INV2-<id> PAID"
    );
    assert_eq!(
        without_ports("POST http://127.0.0.1:44903/k and 127.0.0.1:1"),
        "POST http://127.0.0.1:<port>/k and 127.0.0.1:<port>"
    );
}

#[test]
fn every_flow_s_scenarios_end_the_same_on_postgresql_as_on_sqlite() {
    let pg = TestPostgres::start();
    let url = pg.create_database();
    let mut compared = 0;
    for (flow, scenarios) in flows_and_scenarios() {
        if scenarios.is_empty() {
            continue;
        }
        let bin = build_flow(&flow);
        for scenario in &scenarios {
            let what = format!("{flow}: {}", scenario.display());
            let (lite_code, lite, lite_err) = simulate(&bin, scenario, None);
            let (pg_code, on_pg, pg_err) = simulate(&bin, scenario, Some(&url));
            assert_eq!(
                (lite_code, pg_code),
                (Some(0), Some(0)),
                "{what}: both pass\n--- SQLite:\n{lite}{lite_err}\n--- PostgreSQL:\n{on_pg}{pg_err}"
            );
            assert!(lite.contains("expectations met"), "{what}: {lite}");
            assert_eq!(
                normalized(&lite),
                normalized(&on_pg),
                "{what}: the same results on both stores"
            );
            compared += 1;
        }
    }
    assert!(compared >= 20, "every scenario of examples/: {compared}");

    // Each simulation dropped its schema: only `public` is left.
    let schemas = Command::new(pg_bin("psql"))
        .args(["-At", "-d", &url, "-c"])
        .arg("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'flowc_sim_%'")
        .output()
        .expect("psql");
    assert_eq!(
        String::from_utf8_lossy(&schemas.stdout).trim(),
        "0",
        "{}",
        String::from_utf8_lossy(&schemas.stderr)
    );
}

/// A PostgreSQL client program from the server's bin directory.
fn pg_bin(name: &str) -> PathBuf {
    flowc_runtime::testing::postgres::find_bin_dir()
        .expect("PostgreSQL's binaries")
        .join(name)
}
