//! `simulate`'s Stripe: one in-process [`StripeSim`] per `provider: stripe`
//! connection, on the scenario's virtual clock; the scenario's `stripe:`
//! settings, events (an invoice paid, a charge, a refund, faults) and
//! expectations on the simulator's state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::file::{
    Count, DropWebhooks, FaultSpec, RefundSpec, StripeAction, StripeExpect, StripeSettings,
};
use crate::clock::Clock;
use crate::flow::{ConnectionDef, SecretSource};
use crate::http::set_simulated_env;
use crate::providers::stripe::sim::{
    Fault, RequestFault, SimConfig, StripeSim, WebhookFaults, WebhookTarget,
};
use crate::providers::{credential, credential_source};
use crate::store::IssueRow;

use super::sims::SimSet;
use crate::value::parse_duration;

/// The key a Stripe connection uses in a simulation when its variable is unset
/// (a test key: the simulator refuses live keys, and so does a test connection).
pub const TEST_KEY: &str = "sk_test_flowc_simulated";
/// The webhook signing secret in a simulation when its variable is unset.
pub const WEBHOOK_SECRET: &str = "whsec_flowc_simulated";

/// The flow's Stripe connections.
pub fn stripe_connections(conns: &'static [ConnectionDef]) -> Vec<&'static ConnectionDef> {
    conns.iter().filter(|c| c.provider == "stripe").collect()
}

/// Whether a connection takes webhooks (it has a `webhook_secret` credential).
pub fn takes_webhooks(conn: &ConnectionDef) -> bool {
    credential_source(conn, "webhook_secret").is_ok()
}

/// Gives a credential read from an unset environment variable its simulated value.
pub(super) fn default_env(conn: &ConnectionDef, name: &str, value: &str) {
    if let Ok(SecretSource::Env(var)) = credential_source(conn, name) {
        set_simulated_env(var, value);
    }
}

/// The simulators of a scenario, one per Stripe connection.
pub type StripeSims = SimSet<StripeSim>;

impl SimSet<StripeSim> {
    /// Starts one simulator per connection in `conns`, with the scenario's
    /// faults; a connection with a `webhook_secret` gets its webhooks at
    /// `{listener}/webhooks/{connection}` when there is a listener.
    pub async fn start(
        conns: &[&'static ConnectionDef],
        clock: Arc<dyn Clock>,
        settings: &StripeSettings,
        listener: Option<&str>,
    ) -> Result<StripeSims, String> {
        let mut sims = Vec::new();
        let mut webhooks = false;
        for conn in conns {
            default_env(conn, "secret_key", TEST_KEY);
            let mut targets = Vec::new();
            if let Some(base) = listener.filter(|_| takes_webhooks(conn)) {
                default_env(conn, "webhook_secret", WEBHOOK_SECRET);
                let secret = credential(conn, "webhook_secret")
                    .map_err(|e| format!("connection `{}`: {e}", conn.name))?;
                targets.push(WebhookTarget {
                    url: format!("{base}/webhooks/{}", conn.name),
                    events: vec!["*".into()],
                    secret: Some(secret.expose().to_string()),
                });
                webhooks = true;
            }
            let mut config = SimConfig {
                clock: clock.clone(),
                webhooks: targets,
                ..SimConfig::default()
            };
            for f in &settings.faults {
                config.faults.add(request_fault(f)?);
            }
            if let Some(d) = &settings.drop_webhooks {
                config.faults.webhooks = webhook_faults(d)?;
            }
            let sim = StripeSim::start(config)
                .await
                .map_err(|e| format!("Stripe simulator for `{}`: {e}", conn.name))?;
            sims.push((conn.name, sim));
        }
        Ok(SimSet::new("Stripe", sims, webhooks))
    }

    /// Makes a scenario's Stripe action happen; returns a line for the report.
    /// `issue` is the event's issue (its data items name ids); `names` the ids
    /// earlier actions made `as`.
    pub fn act(
        &self,
        a: &StripeAction,
        issue: Option<&IssueRow>,
        names: &mut HashMap<String, String>,
    ) -> Result<String, String> {
        let sim = self.sim(a.connection.as_deref())?;
        let id_of = |word: &str| resolve_id(word, issue, names);
        let chosen = [
            a.pay_invoice.is_some(),
            a.create_customer.is_some(),
            a.create_charge.is_some(),
            a.refund.is_some(),
            a.fault.is_some(),
            a.drop_webhooks.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if chosen != 1 {
            return Err(
                "say one of `pay_invoice`, `create_customer`, `create_charge`, \
                 `refund`, `fault`, `drop_webhooks`"
                    .into(),
            );
        }
        let made = if let Some(inv) = &a.pay_invoice {
            let id = id_of(inv)?;
            sim.pay_invoice(&id)
                .map_err(|e| format!("pay_invoice {id}: {}", e.message))?
        } else if let Some(c) = &a.create_customer {
            let mut p = Map::new();
            p.insert("email".into(), json!(c.email));
            if let Some(n) = &c.name {
                p.insert("name".into(), json!(n));
            }
            if let Some(src) = &c.source {
                p.insert("source".into(), json!(src));
            }
            sim.call("POST", "/v1/customers", Value::Object(p))
                .map_err(|e| format!("create_customer: {}", e.message))?
        } else if let Some(c) = &a.create_charge {
            let mut p = Map::new();
            p.insert("amount".into(), json!(c.amount.to_string()));
            p.insert("currency".into(), json!(c.currency.to_lowercase()));
            if let Some(cus) = &c.customer {
                p.insert("customer".into(), json!(id_of(cus)?));
            }
            if let Some(src) = &c.source {
                p.insert("source".into(), json!(src));
            } else if c.customer.is_none() {
                p.insert("source".into(), json!("tok_visa"));
            }
            if let Some(d) = &c.description {
                p.insert("description".into(), json!(d));
            }
            match sim.call("POST", "/v1/charges", Value::Object(p)) {
                Ok(v) => v,
                // A declined card still makes a (failed) charge and its event.
                Err(e) if e.status == 402 => {
                    return Ok(format!("stripe: create_charge declined ({})", e.message));
                }
                Err(e) => return Err(format!("create_charge: {}", e.message)),
            }
        } else if let Some(r) = &a.refund {
            let (charge, amount, reason) = match r {
                RefundSpec::Charge(c) => (c, None, None),
                RefundSpec::Detailed(d) => (&d.charge, d.amount, d.reason.as_ref()),
            };
            let mut p = Map::new();
            p.insert("charge".into(), json!(id_of(charge)?));
            if let Some(a) = amount {
                p.insert("amount".into(), json!(a.to_string()));
            }
            if let Some(r) = reason {
                p.insert("reason".into(), json!(r));
            }
            sim.call("POST", "/v1/refunds", Value::Object(p))
                .map_err(|e| format!("refund: {}", e.message))?
        } else if let Some(f) = &a.fault {
            sim.inject(request_fault(f)?);
            return Ok("stripe: fault injected".into());
        } else if let Some(d) = &a.drop_webhooks {
            sim.drop_webhooks(webhook_faults(d)?);
            return Ok("stripe: webhooks dropped".into());
        } else {
            unreachable!("one action was checked above")
        };
        let id = made["id"].as_str().unwrap_or_default().to_string();
        let what = made["object"].as_str().unwrap_or("object");
        if let Some(n) = &a.name {
            names.insert(n.clone(), id.clone());
        }
        Ok(format!(
            "stripe: {what} {id}{}",
            a.name
                .as_deref()
                .map(|n| format!(" (as {n})"))
                .unwrap_or_default()
        ))
    }

    /// The failures of an expectation on the simulator's state.
    pub fn check(&self, x: &StripeExpect) -> Result<Vec<String>, String> {
        let state = self.sim(x.connection.as_deref())?.state();
        let mut failures = Vec::new();
        let kinds = [
            ("customers", "customer", &x.customers),
            ("charges", "charge", &x.charges),
            ("refunds", "refund", &x.refunds),
            ("invoices", "invoice", &x.invoices),
            ("invoiceitems", "invoiceitem", &x.invoiceitems),
            ("payment_intents", "payment_intent", &x.payment_intents),
            ("events", "event", &x.events),
        ];
        let deliveries = || -> Vec<Value> {
            state
                .deliveries()
                .iter()
                .map(|d| json!({"outcome": d.outcome}))
                .collect()
        };
        let kinds = kinds
            .into_iter()
            .chain([("webhook deliveries", "delivery", &x.webhooks)]);
        for (plural, kind, want) in kinds {
            let Some(want) = want else { continue };
            let objects = if kind == "delivery" {
                deliveries()
            } else {
                state.objects(kind)
            };
            // Events are counted per type, deliveries per outcome, other
            // objects per status.
            let field = match kind {
                "event" => "type",
                "delivery" => "outcome",
                _ => "status",
            };
            check_count("stripe", plural, field, &objects, want, &mut failures);
        }
        Ok(failures)
    }
}

/// The failures of a count of a simulator's objects: all of them, or per value
/// of `field` (a status, an event type, a delivery outcome).
pub(super) fn check_count(
    who: &str,
    plural: &str,
    field: &str,
    objects: &[Value],
    want: &Count,
    failures: &mut Vec<String>,
) {
    match want {
        Count::Total(n) if objects.len() != *n => failures.push(format!(
            "{who}: expected {n} {plural}, the simulator has {}",
            objects.len()
        )),
        Count::Total(_) => {}
        Count::Per(per) => {
            for (status, n) in per {
                let got = objects
                    .iter()
                    .filter(|o| o[field].as_str() == Some(status.as_str()))
                    .count();
                if got != *n {
                    failures.push(format!(
                        "{who}: expected {n} {plural} with {field} {status}, the simulator has {got}"
                    ));
                }
            }
        }
    }
}

/// An id named in a Stripe or PayPal action: a data item of the event's issue, else a
/// name an earlier action gave (`as`), else the id itself.
pub(super) fn resolve_id(
    word: &str,
    issue: Option<&IssueRow>,
    names: &HashMap<String, String>,
) -> Result<String, String> {
    if let Some(row) = issue {
        return match row.data.get(word) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Null) | None => Err(format!(
                "the issue has no value in data item `{word}` (at step {})",
                row.step
            )),
            Some(v) => Err(format!("data item `{word}` is {v}, not an id")),
        };
    }
    Ok(names.get(word).cloned().unwrap_or_else(|| word.to_string()))
}

fn duration(s: &str, what: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| format!("{what}: {e}"))
}

/// A scenario fault as the simulator's.
pub fn request_fault(f: &FaultSpec) -> Result<RequestFault, String> {
    let fault = match (f.status, &f.delay) {
        (Some(429), None) => Fault::RateLimit {
            retry_after_secs: f
                .retry_after
                .as_deref()
                .map(|r| duration(r, "retry_after"))
                .transpose()?
                .map_or(1, |d| d.as_secs().max(1)),
        },
        (Some(500), None) if f.retry_after.is_none() => Fault::ServerError,
        (None, Some(d)) if f.retry_after.is_none() => Fault::Delay {
            millis: u64::try_from(duration(d, "delay")?.as_millis()).unwrap_or(u64::MAX),
        },
        (Some(s), None) if s != 429 && s != 500 => {
            return Err(format!(
                "fault status {s}: the simulator fails with 429 or 500"
            ));
        }
        (Some(_), Some(_)) => return Err("a fault has `status` or `delay`, not both".into()),
        (None, None) => return Err("a fault needs `status` (429, 500) or `delay`".into()),
        _ => return Err("`retry_after` goes with `status: 429` only".into()),
    };
    Ok(RequestFault {
        fault,
        count: f.count,
        path_prefix: f.path.clone(),
    })
}

/// Scenario webhook drops as the simulator's.
pub fn webhook_faults(d: &DropWebhooks) -> Result<WebhookFaults, String> {
    if !(0.0..=1.0).contains(&d.fraction) {
        return Err(format!(
            "drop_webhooks fraction {} is not between 0 and 1",
            d.fraction
        ));
    }
    Ok(WebhookFaults {
        drop_next: d.next,
        drop_fraction: d.fraction,
    })
}
