//! `simulate`'s PayPal: one in-process [`PayPalSim`] per `provider: paypal`
//! connection, on the scenario's virtual clock, taking the connection's own
//! client id and secret (the simulator's when their variables are unset); the
//! scenario's `paypal:` settings, events (the payer paying, a refund, faults,
//! lost webhooks) and expectations on the simulator's state. What Stripe's
//! counterpart ([`super::stripe`]) has in common with it (faults, ids, counts,
//! defaults) is shared from there.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::file::{PayPalAction, PayPalExpect, SimSettings};
use super::stripe::{check_count, default_env, request_fault, resolve_id, webhook_faults};
use crate::clock::Clock;
use crate::flow::ConnectionDef;
use crate::providers::credential;
use crate::providers::paypal::sim::{self, PayPalSim, SimConfig, WebhookTarget};
use crate::store::IssueRow;

use super::sims::SimSet;

/// The flow's PayPal connections.
pub fn paypal_connections(conns: &'static [ConnectionDef]) -> Vec<&'static ConnectionDef> {
    conns.iter().filter(|c| c.provider == "paypal").collect()
}

/// Whether a connection takes webhooks (it has a `webhook_id` credential).
pub fn takes_webhooks(conn: &ConnectionDef) -> bool {
    crate::providers::credential_source(conn, "webhook_id").is_ok()
}

/// The simulators of a scenario, one per PayPal connection.
pub type PayPalSims = SimSet<PayPalSim>;

impl SimSet<PayPalSim> {
    /// Starts one simulator per connection, with the scenario's faults; a
    /// connection with a `webhook_id` gets its webhooks at
    /// `{listener}/webhooks/{connection}` when there is a listener.
    pub async fn start(
        conns: &[&'static ConnectionDef],
        clock: Arc<dyn Clock>,
        settings: &SimSettings,
        listener: Option<&str>,
    ) -> Result<PayPalSims, String> {
        let mut sims = Vec::new();
        let mut webhooks = false;
        for conn in conns {
            let cred = |name: &str, default: &str| -> Result<String, String> {
                default_env(conn, name, default);
                credential(conn, name)
                    .map(|s| s.expose().to_string())
                    .map_err(|e| format!("connection `{}`: {e}", conn.name))
            };
            let mut config = SimConfig {
                clock: clock.clone(),
                client_id: cred("client_id", sim::CLIENT_ID)?,
                client_secret: cred("client_secret", sim::CLIENT_SECRET)?,
                ..SimConfig::default()
            };
            if let Some(base) = listener.filter(|_| takes_webhooks(conn)) {
                config.webhooks.push(WebhookTarget {
                    url: format!("{base}/webhooks/{}", conn.name),
                    id: cred("webhook_id", sim::WEBHOOK_ID)?,
                });
                webhooks = true;
            }
            for f in &settings.faults {
                config.faults.add(request_fault(f)?);
            }
            if let Some(d) = &settings.drop_webhooks {
                config.faults.webhooks = webhook_faults(d)?;
            }
            let sim = PayPalSim::start(config)
                .await
                .map_err(|e| format!("PayPal simulator for `{}`: {e}", conn.name))?;
            sims.push((conn.name, sim));
        }
        Ok(SimSet::new("PayPal", sims, webhooks))
    }

    /// Makes a scenario's PayPal action happen; returns a line for the report.
    pub fn act(
        &self,
        a: &PayPalAction,
        issue: Option<&IssueRow>,
        names: &HashMap<String, String>,
    ) -> Result<String, String> {
        let sim = self.sim(a.connection.as_deref())?;
        let chosen = [
            a.pay_invoice.is_some(),
            a.refund_invoice.is_some(),
            a.fault.is_some(),
            a.drop_webhooks.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if chosen != 1 {
            return Err(
                "say one of `pay_invoice`, `refund_invoice`, `fault`, `drop_webhooks`".into(),
            );
        }
        if a.method.is_some() && a.pay_invoice.is_none() {
            return Err("`method` goes with `pay_invoice`".into());
        }
        if a.amount.is_some() && a.pay_invoice.is_none() && a.refund_invoice.is_none() {
            return Err("`amount` goes with `pay_invoice` or `refund_invoice`".into());
        }
        let amount = match &a.amount {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(v) => return Err(format!("`amount` is a decimal, not {v}")),
        };
        let invoice = if let Some(word) = &a.pay_invoice {
            let id = resolve_id(word, issue, names)?;
            let method = a.method.as_deref().unwrap_or("PAYPAL");
            sim.pay_invoice(&id, amount.as_deref(), method)
                .map_err(|e| format!("pay_invoice {id}: {e}"))?
        } else if let Some(word) = &a.refund_invoice {
            let id = resolve_id(word, issue, names)?;
            sim.refund_invoice(&id, amount.as_deref())
                .map_err(|e| format!("refund_invoice {id}: {e}"))?
        } else if let Some(f) = &a.fault {
            sim.inject(request_fault(f)?);
            return Ok("paypal: fault injected".into());
        } else if let Some(d) = &a.drop_webhooks {
            sim.drop_webhooks(webhook_faults(d)?);
            return Ok("paypal: webhooks dropped".into());
        } else {
            return Err("say what happens at PayPal".into());
        };
        Ok(format!(
            "paypal: invoice {} {} (due {} {})",
            invoice["id"].as_str().unwrap_or_default(),
            invoice["status"].as_str().unwrap_or_default(),
            invoice["due_amount"]["value"].as_str().unwrap_or_default(),
            invoice["due_amount"]["currency_code"]
                .as_str()
                .unwrap_or_default(),
        ))
    }

    /// The failures of an expectation on the simulator's state.
    pub fn check(&self, x: &PayPalExpect) -> Result<Vec<String>, String> {
        let state = self.sim(x.connection.as_deref())?.state();
        let mut failures = Vec::new();
        if let Some(want) = &x.invoices {
            check_count(
                "paypal",
                "invoices",
                "status",
                &state.invoices(),
                want,
                &mut failures,
            );
        }
        if let Some(want) = &x.events {
            check_count(
                "paypal",
                "events",
                "event_type",
                &state.events(),
                want,
                &mut failures,
            );
        }
        if let Some(want) = &x.webhooks {
            let deliveries: Vec<Value> = state
                .deliveries()
                .iter()
                .map(|d| serde_json::json!({"outcome": d.outcome}))
                .collect();
            check_count(
                "paypal",
                "webhook deliveries",
                "outcome",
                &deliveries,
                want,
                &mut failures,
            );
        }
        if let Some(text) = &x.note_contains {
            let invoices = state.invoices();
            if invoices.is_empty() {
                failures.push("paypal: no invoice, so no note".into());
            }
            for inv in invoices {
                let note = inv["detail"]["note"].as_str().unwrap_or_default();
                if !note.contains(text.as_str()) {
                    failures.push(format!(
                        "paypal: the note of invoice {} does not contain {text:?}: {note:?}",
                        inv["id"].as_str().unwrap_or_default()
                    ));
                }
            }
        }
        Ok(failures)
    }
}
