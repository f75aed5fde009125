//! `simulate`'s Buckaroo: per `provider: buckaroo` connection an in-process
//! JSON gateway ([`GatewaySim`]) on the scenario's clock, signing its pushes
//! with the connection's keys and posting them to the local listener
//! (`/webhooks/<connection>`, as on `run --listen`), and, for a connection
//! with an outbox and an inbox, the file simulator ([`FileSim`]) that answers
//! its request files. The scenario's `buckaroo:` settings say how both answer.

use std::sync::Arc;

use jiff::Timestamp;

use super::file::BuckarooSettings;
use super::outbox::Outboxes;
use super::sims::SimSet;
use super::stripe::{request_fault, webhook_faults};
use crate::clock::Clock;
use crate::flow::{ConnectionDef, SecretSource};
use crate::providers::buckaroo::gateway_sim::{GatewayConfig, GatewaySim, Payer};
use crate::providers::buckaroo::sim::{FileConfig, FileSim, Outcome};
use crate::providers::credential;
use crate::value::parse_duration;

/// The flow's Buckaroo connections.
pub fn buckaroo_connections(conns: &'static [ConnectionDef]) -> Vec<&'static ConnectionDef> {
    conns.iter().filter(|c| c.provider == "buckaroo").collect()
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
            .map(|(_, out, inbox)| FileSim::new(out, inbox, files.clone()))
            .collect();
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
