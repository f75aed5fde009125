//! A stateful PayPal simulator: an HTTP server on 127.0.0.1 that answers like
//! PayPal's REST API for what flowc uses: the OAuth2 token endpoint
//! (`/v1/oauth2/token`, the client id and secret checked by Basic auth, tokens
//! expiring on the simulator's clock), Invoicing v2 (create — a number used
//! before is refused with 422 `DUPLICATE_INVOICE_NUMBER` —, update, send,
//! remind, cancel, get, list, search, record a payment, refund, delete a draft,
//! next invoice number), webhook deliveries with PayPal's transmission headers,
//! `POST /v1/notifications/verify-webhook-signature` for them, and the event list
//! `GET /v1/notifications/webhooks-events`; in the shapes and status codes of
//! shared/specs/paypal/invoicing_v2.json and notifications_webhooks_v1.json.
//! `PayPal-Request-Id` makes a POST idempotent. Faults (429, 5xx, slow answers,
//! dropped webhooks), the payer paying an invoice and state queries are under
//! `/_sim/` (not PayPal's namespace); see docs/paypal-simulator.md.
//!
//! In-process: `PayPalSim::start(SimConfig::default()).await?`, then point the
//! connection at [`PayPalSim::url`]; the server stops when the handle is dropped.
//! Standalone: `flowc sim paypal --listen 127.0.0.1:12112`.

mod control;
pub mod error;
mod server;
pub mod store;
mod webhooks;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::clock::{Clock, SystemClock};
pub use crate::providers::sim_faults::{Fault, Faults, RequestFault, WebhookFaults};
pub use error::ApiError;
pub use store::LoggedRequest;
pub use webhooks::{AUTH_ALGO, Delivery};

/// The REST app's client id the simulator takes by default.
pub const CLIENT_ID: &str = "flowc-sim-client-id";
/// The REST app's secret the simulator takes by default.
pub const CLIENT_SECRET: &str = "flowc-sim-client-secret";
/// The id of the webhook a simulator delivers to by default (the connection's
/// `webhook_id` credential).
pub const WEBHOOK_ID: &str = "WH-FLOWC-SIM-0001";

/// A webhook: where events are POSTed, and its id (part of what is signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub url: String,
    pub id: String,
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen: a loopback address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The source of every time the simulator writes, of token expiry and of
    /// webhook retry sleeps.
    pub clock: Arc<dyn Clock>,
    /// The REST app's credentials the token endpoint takes.
    pub client_id: String,
    pub client_secret: String,
    /// How long an access token lasts (PayPal: about 9 hours).
    pub token_ttl: Duration,
    pub webhooks: Vec<WebhookTarget>,
    /// Waits between webhook delivery attempts (their count + 1 is the number of attempts).
    pub webhook_backoff: Vec<Duration>,
    pub faults: Faults,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            clock: Arc::new(SystemClock),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            token_ttl: Duration::from_secs(32_400),
            webhooks: Vec::new(),
            webhook_backoff: [60, 300, 1800, 3600, 7200, 21_600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            faults: Faults::default(),
        }
    }
}

/// State shared by the server, the webhook deliveries and the handle.
#[derive(Debug)]
struct Shared {
    store: Mutex<store::Store>,
    faults: Mutex<Faults>,
    deliveries: Mutex<Vec<Delivery>>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    backoff: Vec<Duration>,
    in_flight: AtomicUsize,
    shutdown: watch::Sender<bool>,
    /// The runtime the simulator was started on: webhook deliveries run there.
    runtime: tokio::runtime::Handle,
    /// The signing secret (random per simulator; never in an answer).
    secret: Vec<u8>,
    base_url: String,
    client_id: String,
    client_secret: String,
    token_ttl: Duration,
    webhooks: Vec<WebhookTarget>,
}

impl Shared {
    fn lock_store(&self) -> MutexGuard<'_, store::Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_deliveries(&self) -> MutexGuard<'_, Vec<Delivery>> {
        self.deliveries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Delivers the events the last change made.
    fn flush(self: &Arc<Self>, store: &mut store::Store) {
        let jobs = webhooks::jobs(store, &self.webhooks);
        webhooks::spawn(self, jobs);
    }
}

/// A running simulator; dropping it stops the server and the deliveries.
#[derive(Debug)]
pub struct PayPalSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

pub use crate::providers::sim_server::StartError;

impl PayPalSim {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(config: SimConfig) -> Result<PayPalSim, StartError> {
        let (listener, addr) = crate::providers::sim_server::bind(config.listen).await?;
        let base_url = format!("http://{addr}");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            store: Mutex::new(store::Store::new(config.clock.clone(), base_url.clone())),
            faults: Mutex::new(config.faults.clone()),
            deliveries: Mutex::default(),
            clock: config.clock.clone(),
            client,
            backoff: config.webhook_backoff.clone(),
            in_flight: AtomicUsize::new(0),
            shutdown,
            runtime: tokio::runtime::Handle::current(),
            secret: rand::random::<[u8; 32]>().to_vec(),
            base_url,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            token_ttl: config.token_ttl,
            webhooks: config.webhooks.clone(),
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let server = crate::providers::sim_server::serve(listener, app, &shared.shutdown);
        Ok(PayPalSim {
            addr,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:PORT`: the base URL to give a PayPal connection.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queries of the simulator's invoices, events, requests and deliveries.
    pub fn state(&self) -> SimState {
        SimState {
            shared: self.shared.clone(),
        }
    }

    /// Adds a request fault.
    pub fn inject(&self, fault: RequestFault) {
        self.shared.lock_faults().add(fault);
    }

    /// Sets the webhook delivery faults.
    pub fn drop_webhooks(&self, faults: WebhookFaults) {
        self.shared.lock_faults().webhooks = faults;
    }

    /// The payer pays a sent invoice (`method` PAYPAL) or the merchant records a
    /// payment made outside PayPal (BANK_TRANSFER, CASH…): `amount` (a decimal
    /// string) or all that is due. Callable from any thread: the webhooks go
    /// out on the simulator's runtime. Returns the invoice as it is then.
    pub fn pay_invoice(
        &self,
        id: &str,
        amount: Option<&str>,
        method: &str,
    ) -> Result<Value, ApiError> {
        control::pay(&self.shared, id, amount, method)
    }

    /// The merchant refunds a paid invoice (all of it, or `amount`).
    pub fn refund_invoice(&self, id: &str, amount: Option<&str>) -> Result<Value, ApiError> {
        control::refund(&self.shared, id, amount)
    }

    /// Forgets every invoice, event, token, logged request and delivery.
    pub fn reset(&self) {
        control::reset(&self.shared);
    }

    /// Waits until no webhook delivery is in flight (or the timeout passes);
    /// returns whether they all finished.
    pub async fn settle(&self, timeout: Duration) -> bool {
        let end = tokio::time::Instant::now() + timeout;
        while self.shared.in_flight.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

impl Drop for PayPalSim {
    fn drop(&mut self) {
        let _ = self.shared.shutdown.send(true);
        self.server.abort();
    }
}

/// Read access to a simulator's state (a cheap handle; each call locks briefly).
#[derive(Debug, Clone)]
pub struct SimState {
    shared: Arc<Shared>,
}

impl SimState {
    /// Every invoice, oldest first.
    pub fn invoices(&self) -> Vec<Value> {
        self.shared.lock_store().invoices().to_vec()
    }

    /// One invoice by id.
    pub fn invoice(&self, id: &str) -> Option<Value> {
        self.shared.lock_store().invoice(id).ok().cloned()
    }

    /// Every webhook event, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.shared.lock_store().events.clone()
    }

    /// Event types, oldest first.
    pub fn event_types(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|e| e["event_type"].as_str().map(str::to_string))
            .collect()
    }

    /// Every API request answered (not `/_sim/` ones), oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock_store().log.clone()
    }

    /// Every webhook delivery, in the order they were started.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock_deliveries().clone()
    }
}
