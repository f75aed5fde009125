//! Buckaroo's JSON gateway, simulated: an HTTP server on 127.0.0.1 that takes
//! `POST /json/Transaction` (a PayPerEmail invitation, or another service's
//! payment) and `GET /json/Transaction/Status/{key}`, each request's `hmac`
//! signature checked with the connection's website key and secret key as
//! Buckaroo checks it (401 otherwise, nothing stored), its body checked as
//! Buckaroo does (a 200 answer with status 491 and `RequestErrors`). Each
//! status change of a transaction is pushed, signed as Buckaroo signs pushes,
//! to the push target (the simulator's own, else the request's `PushURL`);
//! a failed delivery is tried again on the clock, a dropped one is lost (the
//! status call still tells). What a payer does with an invitation is chosen
//! per invoice ([`Payer`]): pay it by iDEAL some time later, or let it expire
//! at the end of its `ExpirationDate`. Faults (429, 5xx, slow answers) and
//! lost pushes come from [`crate::providers::sim_faults`]. Time is the given
//! clock's: `simulate` moves it and calls [`GatewaySim::step`].
//!
//! A repeated request for an invoice whose transaction of the same service is
//! still open answers that transaction: the runtime sends no idempotency key
//! to Buckaroo, and an invitation retried after a lost answer is not sent twice.

mod pushes;
mod server;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::clock::{Clock, SystemClock};
pub use crate::providers::sim_faults::{Fault, Faults, RequestFault, WebhookFaults};
pub use crate::providers::sim_server::StartError;
pub use pushes::Delivery;

/// The website key a simulation gives a connection whose variable is unset.
pub const WEBSITE_KEY: &str = "flowc-sim-website_key";

/// What the payer does with a PayPerEmail invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payer {
    /// Pays it by iDEAL, `pay_after` after the invitation (status 190).
    PaysByIdeal,
    /// Never pays: at the end of its `ExpirationDate` the invitation expires
    /// (status 890, sub code `S990` in the simulator; Buckaroo does not
    /// document the code of an expired invitation).
    LetsItExpire,
}

impl Payer {
    pub fn parse(s: &str) -> Result<Payer, String> {
        match s {
            "paid_by_ideal" => Ok(Payer::PaysByIdeal),
            "expires" => Ok(Payer::LetsItExpire),
            other => Err(format!(
                "unknown invitation outcome `{other}` (paid_by_ideal, expires)"
            )),
        }
    }
}

/// How to start a gateway simulator.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// A loopback address (port 0 picks a free port).
    pub listen: SocketAddr,
    pub clock: Arc<dyn Clock>,
    /// The connection's credentials: requests must be signed with them, and
    /// pushes are.
    pub website_key: String,
    pub secret_key: String,
    /// Where pushes go; `None`: to each transaction's `PushURL`.
    pub push_url: Option<String>,
    /// Per invoice number; an invoice not named lets its invitation expire.
    pub payers: HashMap<String, Payer>,
    /// From an invitation to its payment by a payer who pays.
    pub pay_after: Duration,
    /// Waits between push attempts after a failed one (their count + 1 attempts).
    pub push_backoff: Vec<Duration>,
    pub faults: Faults,
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            clock: Arc::new(SystemClock),
            website_key: WEBSITE_KEY.into(),
            secret_key: "flowc-sim-secret_key".into(),
            push_url: None,
            payers: HashMap::new(),
            pay_after: Duration::from_secs(86_400),
            push_backoff: [60, 600, 3600, 6 * 3600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            faults: Faults::default(),
        }
    }
}

/// One transaction the gateway knows.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub key: String,
    pub invoice: String,
    /// The service requested (`payperemail`, `ideal`, …).
    pub service: String,
    /// The method it was paid by (`ideal` for a paid invitation).
    pub service_code: String,
    pub amount: Value,
    pub currency: String,
    pub status: i64,
    pub sub_code: Option<(&'static str, &'static str)>,
    pub changed: Timestamp,
    pub push_url: Option<String>,
    pub customer_name: String,
    pub pay_link: Option<String>,
}

impl Transaction {
    /// The transaction as the status call answers it and a push carries it.
    pub fn json(&self) -> Value {
        let description = super::status_name(self.status)
            .map(describe)
            .unwrap_or_default();
        let services = match &self.pay_link {
            Some(link) => json!([{"Name": self.service, "Action": null,
                "Parameters": [{"Name": "PayLink", "Value": link}]}]),
            None => json!([]),
        };
        json!({
            "Key": self.key,
            "Status": {
                "Code": {"Code": self.status, "Description": description},
                "SubCode": self.sub_code.map(|(c, d)| json!({"Code": c, "Description": d})),
                "DateTime": local_time(self.changed),
            },
            "RequiredAction": null,
            "Services": services,
            "CustomParameters": null,
            "AdditionalParameters": null,
            "RequestErrors": null,
            "Invoice": self.invoice,
            "ServiceCode": self.service_code,
            "IsTest": true,
            "Currency": self.currency,
            "AmountDebit": self.amount,
            "TransactionType": "C001",
            "MutationType": 1,
            "RelatedTransactions": null,
            "ConsumerMessage": null,
            "Order": null,
            "IssuingCountry": null,
            "StartRecurrent": false,
            "Recurring": false,
            "CustomerName": self.customer_name,
            "PayerHash": null,
            "PaymentKey": null,
        })
    }
}

/// `Awaiting consumer` from `awaiting_consumer`.
fn describe(name: &str) -> String {
    let mut s = name.replace('_', " ");
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s
}

/// Buckaroo writes times without a zone (`2025-03-03T10:00:00`).
fn local_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A status change due at a time.
#[derive(Debug, Clone)]
enum Due {
    /// The transaction's status becomes this.
    Status {
        key: String,
        code: i64,
        sub: Option<(&'static str, &'static str)>,
        service_code: Option<&'static str>,
    },
    /// A push to be tried again.
    Push { push: pushes::Push },
}

#[derive(Debug, Default)]
struct State {
    transactions: Vec<Transaction>,
    due: Vec<(Timestamp, Due)>,
    /// Every API request answered: (method, path, status).
    log: Vec<(String, String, u16)>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    faults: Mutex<Faults>,
    deliveries: Mutex<Vec<Delivery>>,
    in_flight: AtomicUsize,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    shutdown: watch::Sender<bool>,
    base_url: String,
    config: GatewayConfig,
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_deliveries(&self) -> MutexGuard<'_, Vec<Delivery>> {
        self.deliveries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running gateway simulator; dropping it stops the server.
#[derive(Debug)]
pub struct GatewaySim {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl GatewaySim {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(config: GatewayConfig) -> Result<GatewaySim, StartError> {
        let (listener, addr) = crate::providers::sim_server::bind(config.listen).await?;
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            faults: Mutex::new(config.faults.clone()),
            deliveries: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            clock: config.clock.clone(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            runtime: tokio::runtime::Handle::current(),
            shutdown,
            base_url: format!("http://{addr}"),
            config,
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let server = crate::providers::sim_server::serve(listener, app, &shared.shutdown);
        Ok(GatewaySim { shared, server })
    }

    /// `http://127.0.0.1:PORT`: the base URL to give a Buckaroo connection.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Applies the status changes due at `now` (their pushes go out) and
    /// tries failed pushes again; one line per change.
    pub fn step(&self, now: Timestamp) -> Vec<String> {
        let mut lines = Vec::new();
        let mut out = Vec::new();
        {
            let mut st = self.shared.lock_state();
            let (ready, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut st.due)
                .into_iter()
                .partition(|(t, _)| *t <= now);
            st.due = rest;
            for (_, due) in ready {
                match due {
                    Due::Status {
                        key,
                        code,
                        sub,
                        service_code,
                    } => {
                        let Some(t) = st.transactions.iter_mut().find(|t| t.key == key) else {
                            continue;
                        };
                        t.status = code;
                        t.sub_code = sub;
                        t.changed = now;
                        if let Some(s) = service_code {
                            t.service_code = s.into();
                        }
                        lines.push(format!(
                            "buckaroo: transaction {} (invoice {}) is {}",
                            t.key,
                            t.invoice,
                            super::status_name(code).unwrap_or("?")
                        ));
                        if let Some(p) = pushes::of(&self.shared, t) {
                            out.push(p);
                        }
                    }
                    Due::Push { push } => out.push(push),
                }
            }
        }
        for p in out {
            pushes::spawn(&self.shared, p);
        }
        lines
    }

    /// When a status change or a push attempt is next due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.shared.lock_state().due.iter().map(|d| d.0).min()
    }

    /// Waits (at most `timeout`, real time) until no push is in flight.
    pub async fn settle(&self, timeout: Duration) -> bool {
        let end = tokio::time::Instant::now() + timeout;
        while self.shared.in_flight.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }

    pub fn inject(&self, fault: RequestFault) {
        self.shared.lock_faults().add(fault);
    }

    pub fn drop_pushes(&self, faults: WebhookFaults) {
        self.shared.lock_faults().webhooks = faults;
    }

    /// Every transaction, oldest first.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.shared.lock_state().transactions.clone()
    }

    /// Every push delivery, in the order they were started.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock_deliveries().clone()
    }

    /// Every API request answered: (method, path, HTTP status).
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.shared.lock_state().log.clone()
    }
}

impl Drop for GatewaySim {
    fn drop(&mut self) {
        let _ = self.shared.shutdown.send(true);
        self.server.abort();
    }
}
