//! Delivery of events to webhook endpoints: each event is POSTed to every
//! enabled endpoint whose `enabled_events` match, signed with the endpoint's
//! secret (`Stripe-Signature`, timestamp from the simulator's clock), retried
//! with backoff (sleeping on the simulator's clock) until a 2xx answer.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::Shared;
use super::routes::events::type_matches;
use super::store::Store;
use crate::providers::stripe::signature;

/// One event to one endpoint.
#[derive(Debug, Clone)]
pub struct Job {
    pub event_id: String,
    pub event_type: String,
    pub endpoint: String,
    pub url: String,
    pub secret: String,
    pub body: String,
}

/// How a delivery went, for tests and `/_sim/deliveries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub endpoint: String,
    pub url: String,
    pub attempts: u32,
    /// `pending`, `delivered`, `failed` (retries used up) or `dropped` (a fault).
    pub outcome: String,
    /// The last HTTP status or transport error.
    pub last_result: Option<String>,
}

/// Takes the events made since the last call and the deliveries they need;
/// sets each event's `pending_webhooks`.
pub fn jobs(store: &mut Store) -> Vec<Job> {
    let fresh = std::mem::take(&mut store.fresh_events);
    let endpoints: Vec<Value> = store
        .all("webhook_endpoint")
        .into_iter()
        .filter(|e| e["status"] == "enabled")
        .cloned()
        .collect();
    let mut out = Vec::new();
    for event in fresh {
        let ty = event["type"].as_str().unwrap_or_default().to_string();
        let id = event["id"].as_str().unwrap_or_default().to_string();
        let targets: Vec<&Value> = endpoints
            .iter()
            .filter(|e| {
                e["enabled_events"].as_array().is_some_and(|l| {
                    l.iter()
                        .any(|p| p.as_str().is_some_and(|p| type_matches(p, &ty)))
                })
            })
            .collect();
        if targets.is_empty() {
            continue;
        }
        let n = targets.len();
        let event = store.update(&id, |e| e["pending_webhooks"] = json!(n));
        let body = event.to_string();
        for t in targets {
            let endpoint = t["id"].as_str().unwrap_or_default().to_string();
            let Some(secret) = store.secrets.get(&endpoint).cloned() else {
                continue;
            };
            out.push(Job {
                event_id: id.clone(),
                event_type: ty.clone(),
                endpoint,
                url: t["url"].as_str().unwrap_or_default().to_string(),
                secret,
                body: body.clone(),
            });
        }
    }
    out
}

/// Starts the delivery of each job on the simulator's tokio runtime (whichever
/// thread the change came from).
pub fn spawn(shared: &Arc<Shared>, jobs: Vec<Job>) {
    for job in jobs {
        let index = {
            let mut d = shared.lock_deliveries();
            d.push(Delivery {
                event_id: job.event_id.clone(),
                event_type: job.event_type.clone(),
                endpoint: job.endpoint.clone(),
                url: job.url.clone(),
                attempts: 0,
                outcome: "pending".into(),
                last_result: None,
            });
            d.len() - 1
        };
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let sh = shared.clone();
        shared.runtime.spawn(async move {
            let mut shutdown = sh.shutdown.subscribe();
            tokio::select! {
                _ = deliver(&sh, &job, index) => {}
                _ = shutdown.wait_for(|s| *s) => {}
            }
            sh.in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

async fn deliver(sh: &Arc<Shared>, job: &Job, index: usize) {
    let tries = sh.backoff.len() + 1;
    for attempt in 0..tries {
        if sh.lock_faults().drop_delivery() {
            finish(sh, job, index, "dropped", None);
            return;
        }
        let t = sh.clock.now().as_second();
        let header = signature::sign(&job.secret, t, job.body.as_bytes());
        let result = sh
            .client
            .post(&job.url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header("Stripe-Signature", header)
            .header(
                "User-Agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks; flowc simulator)",
            )
            .body(job.body.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let (ok, said) = match result {
            Ok(r) => (r.status().is_success(), r.status().as_u16().to_string()),
            Err(e) => (false, format!("transport error: {e}")),
        };
        {
            let mut d = sh.lock_deliveries();
            if let Some(d) = d.get_mut(index) {
                d.attempts = attempt as u32 + 1;
                d.last_result = Some(said.clone());
            }
        }
        if ok {
            finish(sh, job, index, "delivered", Some(said));
            return;
        }
        if let Some(wait) = sh.backoff.get(attempt) {
            let until = crate::clock::add(sh.clock.now(), *wait);
            sh.clock.sleep_until(until).await;
        }
    }
    finish(sh, job, index, "failed", None);
}

fn finish(sh: &Arc<Shared>, job: &Job, index: usize, outcome: &str, said: Option<String>) {
    if let Some(d) = sh.lock_deliveries().get_mut(index) {
        d.outcome = outcome.into();
        if said.is_some() {
            d.last_result = said;
        }
    }
    if outcome == "delivered" {
        sh.lock_store().update(&job.event_id, |e| {
            let n = e["pending_webhooks"].as_i64().unwrap_or(1);
            e["pending_webhooks"] = json!((n - 1).max(0));
        });
    }
}
