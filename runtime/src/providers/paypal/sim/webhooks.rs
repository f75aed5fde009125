//! Webhooks of the simulator: each event is POSTed to every configured URL with
//! PayPal's transmission headers (`PAYPAL-TRANSMISSION-ID`, `-TIME`, `-SIG`,
//! `PAYPAL-CERT-URL`, `PAYPAL-AUTH-ALGO`), retried with backoff on the
//! simulator's clock until a 2xx answer; `POST
//! /v1/notifications/verify-webhook-signature` checks such a delivery; `GET
//! /v1/notifications/webhooks-events` lists the events.
//!
//! PayPal signs with an RSA certificate (`SHA256withRSA` over
//! `transmission_id|transmission_time|webhook_id|crc32(body)`). The simulator
//! signs with an HMAC-SHA256 of its own secret over
//! `transmission_id|transmission_time|webhook_id|sha256(body)`: the secret never
//! leaves it, so — as with PayPal, from a receiver's side — only its verify
//! endpoint can tell a real delivery from a forged one.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::store::{Store, time_text};
use super::{Shared, WebhookTarget};

/// The algorithm named in `PAYPAL-AUTH-ALGO` (PayPal's; the simulator's signature
/// is an HMAC, see the module doc).
pub const AUTH_ALGO: &str = "SHA256withRSA";

/// One event to one webhook.
#[derive(Debug, Clone)]
pub struct Job {
    pub event_id: String,
    pub event_type: String,
    pub webhook_id: String,
    pub url: String,
    pub body: String,
}

/// How a delivery went, for tests and `/_sim/deliveries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub webhook_id: String,
    pub url: String,
    pub attempts: u32,
    /// `pending`, `delivered`, `failed` (retries used up) or `dropped` (a fault).
    pub outcome: String,
    /// The last HTTP status or transport error.
    pub last_result: Option<String>,
}

/// The signature of a transmission (base64).
pub fn sign(
    secret: &[u8],
    transmission_id: &str,
    time: &str,
    webhook_id: &str,
    body: &str,
) -> String {
    let tag = mac(secret, transmission_id, time, webhook_id, body)
        .finalize()
        .into_bytes();
    base64::engine::general_purpose::STANDARD.encode(tag)
}

fn mac(
    secret: &[u8],
    transmission_id: &str,
    time: &str,
    webhook_id: &str,
    body: &str,
) -> Hmac<Sha256> {
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut m = Hmac::<Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(format!("{transmission_id}|{time}|{webhook_id}|{hex}").as_bytes());
    m
}

/// `POST /v1/notifications/verify-webhook-signature`: `SUCCESS` when the
/// signature is the simulator's for this transmission, webhook and event
/// (compared in constant time), else `FAILURE`; 400 when a field is missing.
pub fn verify(secret: &[u8], webhooks: &[WebhookTarget], body: &Value) -> Result<Value, ApiError> {
    let field = |k: &str| -> Result<&str, ApiError> {
        body.get(k).and_then(Value::as_str).ok_or_else(|| {
            ApiError::invalid(
                "MISSING_REQUIRED_PARAMETER",
                "A required field / parameter is missing.",
                Some(&format!("/{k}")),
            )
        })
    };
    let (tid, time, sig, algo, webhook_id) = (
        field("transmission_id")?,
        field("transmission_time")?,
        field("transmission_sig")?,
        field("auth_algo")?,
        field("webhook_id")?,
    );
    field("cert_url")?;
    let event = body
        .get("webhook_event")
        .filter(|e| e.is_object())
        .ok_or_else(|| {
            ApiError::invalid(
                "MISSING_REQUIRED_PARAMETER",
                "A required field / parameter is missing.",
                Some("/webhook_event"),
            )
        })?;
    let known = webhooks.iter().any(|w| w.id == webhook_id);
    let ok = known
        && algo == AUTH_ALGO
        && base64::engine::general_purpose::STANDARD
            .decode(sig)
            .is_ok_and(|tag| {
                mac(secret, tid, time, webhook_id, &event.to_string())
                    .verify_slice(&tag)
                    .is_ok()
            });
    Ok(json!({"verification_status": if ok { "SUCCESS" } else { "FAILURE" }}))
}

/// `GET /v1/notifications/webhooks-events`: newest first, filtered by
/// `start_time`/`end_time` (inclusive) and `event_type`, `page_size` (default
/// 10, at most 300) per page; the `next` link carries the page.
pub fn list(store: &Store, query: &[(String, String)]) -> Result<Value, ApiError> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let time = |k: &str| -> Result<Option<jiff::Timestamp>, ApiError> {
        q(k).map(|v| {
            v.parse::<jiff::Timestamp>().map_err(|_| {
                ApiError::invalid(
                    "INVALID_PARAMETER_SYNTAX",
                    format!("`{k}` is not a date-time."),
                    None,
                )
            })
        })
        .transpose()
    };
    let (start, end) = (time("start_time")?, time("end_time")?);
    let number = |k: &str, default: usize| -> Result<usize, ApiError> {
        q(k).map_or(Ok(default), |v| {
            v.parse::<usize>().map_err(|_| {
                ApiError::invalid(
                    "INVALID_PARAMETER_SYNTAX",
                    format!("`{k}` is not a number."),
                    None,
                )
            })
        })
    };
    let size = number("page_size", 10)?.clamp(1, 300);
    let page = number("page", 1)?.max(1);
    let ty = q("event_type");
    let hits: Vec<&Value> = store
        .events
        .iter()
        .rev()
        .filter(|e| {
            let at = e["create_time"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            ty.is_none_or(|t| e["event_type"] == t)
                && start.is_none_or(|s| at.is_some_and(|a| a >= s))
                && end.is_none_or(|s| at.is_some_and(|a| a <= s))
        })
        .collect();
    let events: Vec<&Value> = hits
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .copied()
        .collect();
    let mut links = Vec::new();
    if hits.len() > page * size {
        let mut next: Vec<(String, String)> =
            query.iter().filter(|(k, _)| k != "page").cloned().collect();
        next.push(("page".into(), (page + 1).to_string()));
        let qs: Vec<String> = next
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        links.push(json!({
            "href": format!("{}/v1/notifications/webhooks-events?{}", store.base_url, qs.join("&")),
            "rel": "next",
            "method": "GET"
        }));
    }
    Ok(json!({"events": events, "count": events.len(), "links": links}))
}

/// Percent-encoding of a query value (what the `next` link needs: `:` and `+` of times).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Takes the events made since the last call and the deliveries they need.
pub fn jobs(store: &mut Store, webhooks: &[WebhookTarget]) -> Vec<Job> {
    let fresh = std::mem::take(&mut store.fresh_events);
    let mut out = Vec::new();
    for event in fresh {
        let body = event.to_string();
        for w in webhooks {
            out.push(Job {
                event_id: event["id"].as_str().unwrap_or_default().to_string(),
                event_type: event["event_type"].as_str().unwrap_or_default().to_string(),
                webhook_id: w.id.clone(),
                url: w.url.clone(),
                body: body.clone(),
            });
        }
    }
    out
}

/// Starts the delivery of each job on the simulator's tokio runtime.
pub fn spawn(shared: &Arc<Shared>, jobs: Vec<Job>) {
    for job in jobs {
        let index = {
            let mut d = shared.lock_deliveries();
            d.push(Delivery {
                event_id: job.event_id.clone(),
                event_type: job.event_type.clone(),
                webhook_id: job.webhook_id.clone(),
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
            finish(sh, index, "dropped", None);
            return;
        }
        let tid = uuid::Uuid::now_v7().to_string();
        let time = time_text(sh.clock.now());
        let sig = sign(&sh.secret, &tid, &time, &job.webhook_id, &job.body);
        let result = sh
            .client
            .post(&job.url)
            .header("Content-Type", "application/json")
            .header("PAYPAL-TRANSMISSION-ID", &tid)
            .header("PAYPAL-TRANSMISSION-TIME", &time)
            .header("PAYPAL-TRANSMISSION-SIG", sig)
            .header(
                "PAYPAL-CERT-URL",
                format!("{}/_sim/certs/sim-cert.pem", sh.base_url),
            )
            .header("PAYPAL-AUTH-ALGO", AUTH_ALGO)
            .header("User-Agent", "PayPal/AUHD-214.0-58830542 (flowc simulator)")
            .body(job.body.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let (ok, said) = match result {
            Ok(r) => (r.status().is_success(), r.status().as_u16().to_string()),
            Err(e) => (false, format!("transport error: {e}")),
        };
        if let Some(d) = sh.lock_deliveries().get_mut(index) {
            d.attempts = attempt as u32 + 1;
            d.last_result = Some(said.clone());
        }
        if ok {
            finish(sh, index, "delivered", Some(said));
            return;
        }
        if let Some(wait) = sh.backoff.get(attempt) {
            let until = crate::clock::add(sh.clock.now(), *wait);
            sh.clock.sleep_until(until).await;
        }
    }
    finish(sh, index, "failed", None);
}

fn finish(sh: &Arc<Shared>, index: usize, outcome: &str, said: Option<String>) {
    if let Some(d) = sh.lock_deliveries().get_mut(index) {
        d.outcome = outcome.into();
        if said.is_some() {
            d.last_result = said;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks() -> Vec<WebhookTarget> {
        vec![WebhookTarget {
            url: "http://127.0.0.1:1/webhooks/paypal".into(),
            id: "WH-SIM".into(),
        }]
    }

    #[test]
    fn only_the_simulators_own_signature_of_the_same_event_verifies() {
        let secret = b"sim-secret";
        let event = json!({"id": "WH-1", "event_type": "INVOICING.INVOICE.PAID", "resource": {"invoice": {"id": "INV2-1"}}});
        let time = "2025-01-01T00:00:00Z";
        let sig = sign(secret, "t-1", time, "WH-SIM", &event.to_string());
        let req = |sig: &str, webhook: &str, event: &Value| {
            json!({"transmission_id": "t-1", "transmission_time": time, "transmission_sig": sig,
                   "auth_algo": AUTH_ALGO, "cert_url": "http://x/cert", "webhook_id": webhook, "webhook_event": event})
        };
        let status =
            |v: Value| verify(secret, &hooks(), &v).unwrap()["verification_status"].clone();
        assert_eq!(status(req(&sig, "WH-SIM", &event)), "SUCCESS");
        let mut forged = event.clone();
        forged["resource"]["invoice"]["id"] = json!("INV2-2");
        assert_eq!(status(req(&sig, "WH-SIM", &forged)), "FAILURE");
        assert_eq!(status(req(&sig, "WH-OTHER", &event)), "FAILURE");
        assert_eq!(status(req("bm90IGl0", "WH-SIM", &event)), "FAILURE");
        let other = sign(b"another-secret", "t-1", time, "WH-SIM", &event.to_string());
        assert_eq!(status(req(&other, "WH-SIM", &event)), "FAILURE");
        let mut missing = req(&sig, "WH-SIM", &event);
        missing.as_object_mut().unwrap().remove("transmission_sig");
        assert_eq!(verify(secret, &hooks(), &missing).unwrap_err().status, 400);
    }
}
