//! The gateway's pushes: a transaction's status, `{"Transaction": …}`, POSTed
//! to the push target with `Authorization: hmac websiteKey:signature:nonce:time`
//! signed over that URL and the body as Buckaroo signs them. A delivery that
//! does not get a 2xx is tried again after the next wait of the backoff (on
//! the clock, through [`super::GatewaySim::step`]); a dropped one (a fault) is
//! lost.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rand::Rng;
use serde::Serialize;

use super::{Due, Shared, Transaction};
use crate::providers::buckaroo::{authorization, signature};

/// One push to send (again).
#[derive(Debug, Clone)]
pub struct Push {
    pub url: String,
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Its row in the delivery list.
    pub index: usize,
}

/// How a push went, for tests and expectations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub key: String,
    pub status: i64,
    pub url: String,
    pub attempts: u32,
    /// `pending`, `delivered`, `failed` (attempts used up) or `dropped`.
    pub outcome: String,
    pub last_result: Option<String>,
}

/// The push of a transaction's current status, when it has somewhere to go.
pub(super) fn of(sh: &Arc<Shared>, t: &Transaction) -> Option<Push> {
    let url = sh.config.push_url.clone().or_else(|| t.push_url.clone())?;
    let body = serde_json::json!({"Transaction": t.json()}).to_string();
    let index = {
        let mut d = sh.lock_deliveries();
        d.push(Delivery {
            key: t.key.clone(),
            status: t.status,
            url: url.clone(),
            attempts: 0,
            outcome: "pending".into(),
            last_result: None,
        });
        d.len() - 1
    };
    Some(Push {
        url,
        body,
        attempts: 0,
        index,
    })
}

/// Sends one attempt of a push on the simulator's runtime.
pub(super) fn spawn(sh: &Arc<Shared>, push: Push) {
    if sh.lock_faults().drop_delivery() {
        finish(sh, push.index, "dropped", None);
        return;
    }
    sh.in_flight.fetch_add(1, Ordering::SeqCst);
    let shared = sh.clone();
    sh.runtime.spawn(async move {
        let mut shutdown = shared.shutdown.subscribe();
        tokio::select! {
            () = attempt(&shared, push) => {}
            _ = shutdown.wait_for(|s| *s) => {}
        }
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    });
}

async fn attempt(sh: &Arc<Shared>, mut push: Push) {
    let time = sh.clock.now().as_second();
    let nonce: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    let cfg = &sh.config;
    let sig = signature(
        &cfg.website_key,
        &cfg.secret_key,
        "POST",
        &push.url,
        time,
        &nonce,
        push.body.as_bytes(),
    );
    let result = sh
        .client
        .post(&push.url)
        .header("Content-Type", "application/json")
        .header(
            "Authorization",
            authorization(&cfg.website_key, &sig, &nonce, time),
        )
        .header("Culture", "nl-NL")
        .body(push.body.clone())
        .send()
        .await;
    push.attempts += 1;
    let (ok, said) = match result {
        Ok(r) => (r.status().is_success(), r.status().as_u16().to_string()),
        Err(e) => (false, format!("transport error: {e}")),
    };
    if let Some(d) = sh.lock_deliveries().get_mut(push.index) {
        d.attempts = push.attempts;
        d.last_result = Some(said.clone());
    }
    if ok {
        finish(sh, push.index, "delivered", Some(said));
        return;
    }
    match cfg.push_backoff.get(push.attempts as usize - 1) {
        Some(wait) => {
            let at = crate::clock::add(sh.clock.now(), *wait);
            sh.lock_state().due.push((at, Due::Push { push }));
        }
        None => finish(sh, push.index, "failed", None),
    }
}

fn finish(sh: &Arc<Shared>, index: usize, outcome: &str, said: Option<String>) {
    if let Some(d) = sh.lock_deliveries().get_mut(index) {
        d.outcome = outcome.into();
        if said.is_some() {
            d.last_result = said;
        }
    }
}
