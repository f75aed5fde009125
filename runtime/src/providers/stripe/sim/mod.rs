//! A stateful Stripe simulator: an HTTP server on 127.0.0.1 that answers like
//! Stripe API version 2023-08-16 for the endpoints the catalog uses (customers,
//! products, prices, charges, payment intents, invoice items, invoices, refunds,
//! events, webhook endpoints), with Stripe's test cards, idempotency keys, events
//! and signed webhook deliveries, plus fault injection and state queries under
//! `/_sim/` (not Stripe's namespace).
//!
//! In-process: `StripeSim::start(SimConfig::default()).await?`, then point the
//! connection at [`StripeSim::url`]; the server stops when the handle is dropped.
//! Standalone: `flowc sim stripe --listen 127.0.0.1:12111`.
//! Every `created` and webhook timestamp comes from the configured clock, so
//! `simulate` runs it on its virtual clock.

pub mod cards;
mod control;
pub mod error;
pub use crate::providers::sim_faults as faults;
pub mod form;
mod routes;
mod server;
pub mod store;
mod webhooks;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::clock::{Clock, SystemClock};
pub use error::ApiError;
pub use faults::{Fault, Faults, RequestFault, WebhookFaults};
pub use store::LoggedRequest;
pub use webhooks::Delivery;

/// A webhook endpoint to register at start (as `POST /v1/webhook_endpoints` would).
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub url: String,
    /// Event types (`*` for all, `invoice.*`…).
    pub events: Vec<String>,
    /// A fixed `whsec_…` secret; a random one if none.
    pub secret: Option<String>,
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen: a loopback address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The source of `created` and webhook timestamps, and of retry sleeps.
    pub clock: Arc<dyn Clock>,
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
            webhooks: Vec::new(),
            webhook_backoff: [1, 2, 4, 8, 16, 60, 300, 1800, 3600]
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
    /// The runtime the simulator was started on: webhook deliveries run there,
    /// also when a change comes from a handle call outside it (`pay_invoice`
    /// from a test's own thread).
    runtime: tokio::runtime::Handle,
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
}

/// A running simulator; dropping it stops the server and the deliveries.
#[derive(Debug)]
pub struct StripeSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Secrets of the endpoints registered from the config, in order.
    secrets: Vec<String>,
    server: tokio::task::JoinHandle<()>,
}

pub use crate::providers::sim_server::StartError;

impl StripeSim {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(config: SimConfig) -> Result<StripeSim, StartError> {
        let (listener, addr) = crate::providers::sim_server::bind(config.listen).await?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            store: Mutex::new(store::Store::new(
                config.clock.clone(),
                format!("http://{addr}"),
            )),
            faults: Mutex::new(config.faults.clone()),
            deliveries: Mutex::default(),
            clock: config.clock.clone(),
            client,
            backoff: config.webhook_backoff.clone(),
            in_flight: AtomicUsize::new(0),
            shutdown,
            runtime: tokio::runtime::Handle::current(),
        });
        let mut secrets = Vec::new();
        for w in &config.webhooks {
            secrets.push(register(&shared, w));
        }
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let server = crate::providers::sim_server::serve(listener, app, &shared.shutdown);
        Ok(StripeSim {
            addr,
            shared,
            secrets,
            server,
        })
    }

    /// `http://127.0.0.1:PORT`: the base URL to give a Stripe connection.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The signing secrets of the webhooks given in the config, in order.
    pub fn webhook_secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Registers a webhook endpoint; returns its signing secret.
    pub fn add_webhook(&self, target: &WebhookTarget) -> String {
        register(&self.shared, target)
    }

    /// Queries of the simulator's objects, requests and deliveries.
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

    /// Removes every fault.
    pub fn clear_faults(&self) {
        *self.shared.lock_faults() = Faults::default();
    }

    /// The customer pays an open invoice out of band (on the hosted page): it is
    /// marked paid, with a charge on a test Visa card and the events. Callable
    /// from any thread: the webhooks go out on the simulator's runtime.
    pub fn pay_invoice(&self, id: &str) -> Result<Value, ApiError> {
        control::pay_invoice(&self.shared, id, None)
    }

    /// An API call made outside the flow, as from Stripe's dashboard (`POST`,
    /// `/v1/charges`, `{"amount": "500", …}`: form-style string leaves): no auth,
    /// no faults, not in the request log; its events and webhooks happen as usual.
    pub fn call(&self, method: &str, path: &str, params: Value) -> Result<Value, ApiError> {
        control::call(&self.shared, method, path, params)
    }

    /// Forgets every object, event, key, logged request and delivery.
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

impl Drop for StripeSim {
    fn drop(&mut self) {
        let _ = self.shared.shutdown.send(true);
        self.server.abort();
    }
}

fn register(shared: &Arc<Shared>, w: &WebhookTarget) -> String {
    let mut store = shared.lock_store();
    let cx = routes::Ctx {
        store: &mut store,
        params: store::Params::default(),
        key: None,
    };
    let id = cx.store.new_id("we_");
    let secret = w.secret.clone().unwrap_or_else(routes::events::new_secret);
    let endpoint = serde_json::json!({
        "id": id,
        "object": "webhook_endpoint",
        "api_version": null,
        "application": null,
        "created": cx.store.now(),
        "description": "registered at start",
        "enabled_events": w.events,
        "livemode": false,
        "metadata": {},
        "status": "enabled",
        "url": w.url,
    });
    cx.store.insert("webhook_endpoint", endpoint);
    cx.store.secrets.insert(id, secret.clone());
    secret
}

/// Read access to a simulator's state (a cheap handle; each call locks briefly).
#[derive(Debug, Clone)]
pub struct SimState {
    shared: Arc<Shared>,
}

impl SimState {
    /// Every object of a kind (`customer`, `charge`, `invoice`, `event`…), oldest first.
    pub fn objects(&self, kind: &str) -> Vec<Value> {
        self.shared
            .lock_store()
            .all(kind)
            .into_iter()
            .cloned()
            .collect()
    }

    /// One object by id (any kind).
    pub fn object(&self, kind: &str, id: &str) -> Option<Value> {
        self.shared.lock_store().get(kind, id).cloned()
    }

    /// How many objects of a kind exist.
    pub fn count(&self, kind: &str) -> usize {
        self.shared.lock_store().all(kind).len()
    }

    /// Per customer id, its charges of `status` (`succeeded`, `failed`, or any with `None`).
    pub fn charges_per_customer(&self, status: Option<&str>) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for c in self.objects("charge") {
            if status.is_some_and(|s| c["status"].as_str() != Some(s)) {
                continue;
            }
            if let Some(cus) = c["customer"].as_str() {
                *out.entry(cus.to_string()).or_insert(0) += 1;
            }
        }
        out
    }

    /// Event types, oldest first.
    pub fn event_types(&self) -> Vec<String> {
        self.objects("event")
            .iter()
            .filter_map(|e| e["type"].as_str().map(str::to_string))
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
