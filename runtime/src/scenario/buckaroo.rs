//! `simulate`'s Buckaroo: per `provider: buckaroo` connection an in-process
//! JSON gateway ([`GatewaySim`]) on the scenario's clock, signing its pushes
//! with the connection's keys and posting them to the local listener
//! (`/webhooks/<connection>`, as on `run --listen`), and, for a connection
//! with an outbox and an inbox, the file simulator ([`FileSim`]) that answers
//! its request files. The scenario's `buckaroo:` settings say how both answer.

use std::sync::Arc;

use jiff::Timestamp;

use serde_json::{Value, json};

use super::file::{BuckarooExpect, BuckarooSettings};
use super::outbox::Outboxes;
use super::sims::SimSet;
use super::stripe::{check_count, request_fault, webhook_faults};
use crate::clock::Clock;
use crate::flow::{ConnectionDef, SecretSource};
use crate::providers::buckaroo::gateway_sim::{GatewayConfig, GatewaySim, Payer};
use crate::providers::buckaroo::request_file;
use crate::providers::buckaroo::sim::{FileConfig, FileSim, Outcome};
use crate::providers::credential;
use crate::value::parse_duration;

/// The flow's Buckaroo connections.
pub fn buckaroo_connections(conns: &'static [ConnectionDef]) -> Vec<&'static ConnectionDef> {
    conns.iter().filter(|c| c.provider == "buckaroo").collect()
}

/// A connection's `file_layout`, as the flow writes its request files: its
/// setting, else the catalog's default.
fn file_layout(settings: &[(&str, &str, &str)], conn: &str) -> String {
    let given: serde_json::Map<String, Value> = settings
        .iter()
        .filter(|(c, _, _)| *c == conn)
        .map(|(_, k, v)| ((*k).to_string(), Value::String((*v).to_string())))
        .collect();
    request_file::setting(&Value::Object(given), "file_layout").unwrap_or_default()
}

/// Whether a connection takes pushes (it has a `secret_key` to check them).
pub fn takes_pushes(conn: &ConnectionDef) -> bool {
    crate::providers::credential_source(conn, "secret_key").is_ok()
}

/// A scenario's simulated Buckaroo: the gateways and the file exchanges.
#[derive(Debug)]
pub struct BuckarooSims {
    pub gateways: SimSet<GatewaySim>,
    files: Vec<FileSim>,
}

impl BuckarooSims {
    pub async fn start(
        conns: &[&'static ConnectionDef],
        clock: Arc<dyn Clock>,
        settings: &BuckarooSettings,
        boxes: &Outboxes,
        conn_settings: &[(&str, &str, &str)],
        listener: Option<&str>,
    ) -> Result<BuckarooSims, String> {
        if conns.is_empty() {
            let used = !settings.outcomes.is_empty()
                || settings.delay.is_some()
                || !settings.invitations.is_empty()
                || !settings.faults.is_empty()
                || settings.drop_pushes.is_some();
            if used {
                return Err("`buckaroo:` settings, but the flow has no Buckaroo connection".into());
            }
        }
        let mut files = FileConfig::default();
        if let Some(d) = &settings.delay {
            files.delay = parse_duration(d).map_err(|e| format!("buckaroo.delay: {e}"))?;
        }
        if let Some(d) = &settings.reverse_after {
            files.reverse_after =
                parse_duration(d).map_err(|e| format!("buckaroo.reverse_after: {e}"))?;
        }
        for (k, v) in &settings.outcomes {
            files.outcomes.insert(
                k.clone(),
                Outcome::parse(v).map_err(|e| format!("buckaroo.outcomes.{k}: {e}"))?,
            );
        }
        let mut gateway = GatewayConfig {
            clock,
            ..GatewayConfig::default()
        };
        if let Some(d) = &settings.pay_after {
            gateway.pay_after =
                parse_duration(d).map_err(|e| format!("buckaroo.pay_after: {e}"))?;
        }
        for (k, v) in &settings.invitations {
            gateway.payers.insert(
                k.clone(),
                Payer::parse(v).map_err(|e| format!("buckaroo.invitations.{k}: {e}"))?,
            );
        }
        for f in &settings.faults {
            gateway.faults.add(request_fault(f)?);
        }
        if let Some(d) = &settings.drop_pushes {
            gateway.faults.webhooks = webhook_faults(d)?;
        }
        let mut gateways = Vec::new();
        let mut pushes = false;
        for conn in conns {
            // The gateway's requests are signed with the connection's keys: a
            // simulation gives them placeholder values while they are missing.
            for (name, src) in conn.credentials {
                match src {
                    SecretSource::Env(v) => {
                        if crate::http::env_var(v).is_none() {
                            crate::http::set_simulated_env(v, &format!("flowc-sim-{name}"));
                        }
                    }
                    SecretSource::File(p) => {
                        crate::http::set_simulated_file(p, &format!("flowc-sim-{name}"));
                    }
                }
            }
            let cred = |name: &str| {
                credential(conn, name)
                    .map(|s| s.expose().to_string())
                    .map_err(|e| format!("connection `{}`: {e}", conn.name))
            };
            let mut config = GatewayConfig {
                website_key: cred("website_key")?,
                secret_key: cred("secret_key")?,
                push_url: None,
                ..gateway.clone()
            };
            if let Some(base) = listener.filter(|_| takes_pushes(conn)) {
                config.push_url = Some(format!("{base}/webhooks/{}", conn.name));
                pushes = true;
            }
            let sim = GatewaySim::start(config)
                .await
                .map_err(|e| format!("Buckaroo simulator for `{}`: {e}", conn.name))?;
            gateways.push((conn.name, sim));
        }
        let files = boxes
            .exchanges()
            .into_iter()
            .map(|(conn, out, inbox)| {
                let config = FileConfig {
                    layout: file_layout(conn_settings, conn),
                    ..files.clone()
                };
                FileSim::new(out, inbox, config).map_err(|e| format!("connection `{conn}`: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(BuckarooSims {
            gateways: SimSet::new("Buckaroo", gateways, pushes),
            files,
        })
    }

    /// Answers request files and applies the gateway's status changes due at
    /// `now` (their pushes go out); one line per file or change.
    pub fn step(&mut self, now: Timestamp) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        for f in &mut self.files {
            lines.extend(f.step(now)?);
        }
        for (_, g) in &self.gateways.sims {
            lines.extend(g.step(now));
        }
        Ok(lines)
    }

    /// When a file or a status change is next due.
    pub fn next_due(&self) -> Option<Timestamp> {
        let files = self.files.iter().filter_map(FileSim::next_due);
        let gateways = self.gateways.sims.iter().filter_map(|(_, g)| g.next_due());
        files.chain(gateways).min()
    }
}

impl BuckarooSims {
    /// The failures of an expectation on a gateway's state.
    pub fn check(&self, x: &BuckarooExpect) -> Result<Vec<String>, String> {
        let g = self.gateways.sim(x.connection.as_deref())?;
        let mut failures = Vec::new();
        if let Some(want) = &x.transactions {
            let ts: Vec<Value> = g
                .transactions()
                .iter()
                .map(|t| json!({"status": crate::providers::buckaroo::status_name(t.status)}))
                .collect();
            check_count(
                "buckaroo",
                "transactions",
                "status",
                &ts,
                want,
                &mut failures,
            );
        }
        if let Some(want) = &x.pushes {
            let ds: Vec<Value> = g
                .deliveries()
                .iter()
                .map(|d| json!({"outcome": d.outcome}))
                .collect();
            check_count("buckaroo", "pushes", "outcome", &ds, want, &mut failures);
        }
        if let Some(want) = &x.requests {
            let rs: Vec<Value> = g
                .requests()
                .iter()
                .map(|(m, p, _)| {
                    let route = if p.starts_with("/json/Transaction/Status/") {
                        "/json/Transaction/Status"
                    } else {
                        p.as_str()
                    };
                    json!({"route": format!("{m} {route}")})
                })
                .collect();
            check_count("buckaroo", "requests", "route", &rs, want, &mut failures);
        }
        Ok(failures)
    }
}
