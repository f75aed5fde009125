//! A stateful Vipps simulator (eCom v2 and ePayment v1): an HTTP server on 127.0.0.1 that
//! answers like Vipps for what flowc uses, in the shapes and status codes of
//! `shared/specs/vipps/ecom/swagger.yaml`:
//!
//! - `POST /accesstoken/get` checks all four headers (`client_id`,
//!   `client_secret`, `Ocp-Apim-Subscription-Key`, `Merchant-Serial-Number`);
//!   every other call needs its bearer token (expiring on the simulator's
//!   clock), the subscription key and the merchant serial number;
//! - initiate (an order id used before is refused, `merchantInfo.
//!   merchantSerialNumber` must be the sales unit's), capture (full or
//!   partial), refund (several, partial), cancel (`CANCEL` before the payer
//!   answers, `VOID` after), details with the transaction log; `X-Request-Id`
//!   makes a repeated call answer as the first did;
//! - the payer approving or rejecting ([`VippsSim::approve`],
//!   [`VippsSim::reject`], or `POST /_sim/payments/{orderId}/approve|reject`)
//!   sends the callback once to `<callbackPrefix>/v2/payments/{orderId}` with
//!   the payment's `authToken` (droppable: a lost callback is not sent again);
//!   a payer who never answers is simply no call (an ePayment payment then
//!   expires when told: [`VippsSim::expire`]);
//! - faults (429 with `Retry-After`, 500, slow, a lost answer) shared with the
//!   other simulators ([`crate::providers::sim_faults`]), over
//!   `POST /_sim/faults` too; every time is the simulator's clock's.
//!
//! ePayment v1 (`shared/specs/vipps/epayment/epayment.v1.yml`) beside it,
//! under the same token, subscription key and faults ([`epayment`]): create
//! (`Idempotency-Key` honoured), get, the event log, capture, refund (several,
//! partial), cancel; the payer's `approve`/`reject` authorize or abort an
//! ePayment payment too. Webhooks registered over the Webhooks API
//! (`POST /webhooks/v1/webhooks`, answering `id` and `secret`) or in
//! [`SimConfig::webhooks`] receive every ePayment event, signed as Vipps signs
//! them (HMAC-SHA256 over method, path and query, `x-ms-date`, host and
//! `x-ms-content-sha256`), droppable like the callbacks. See
//! docs/vipps-simulator.md.
//!
//! In-process: `VippsSim::start(SimConfig::default()).await?`; standalone:
//! `flowc sim vipps --listen 127.0.0.1:12113`.

pub mod epayment;
mod server;
pub mod store;

#[cfg(test)]
mod epayment_tests;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::clock::{Clock, SystemClock};
pub use crate::providers::sim_faults::{Fault, Faults, RequestFault, WebhookFaults};
pub use crate::providers::sim_server::StartError;
pub use store::{LoggedRequest, Payment, SimError};

/// The credentials the simulator takes by default.
pub const CLIENT_ID: &str = "flowc-sim-vipps-client-id";
pub const CLIENT_SECRET: &str = "flowc-sim-vipps-client-secret";
pub const SUBSCRIPTION_KEY: &str = "flowc-sim-vipps-subscription-key";
pub const MSN: &str = "123456";
/// The webhook secret `simulate` gives a connection's unset `webhook_secret`.
pub const WEBHOOK_SECRET: &str = "flowc-sim-vipps-webhook-secret";

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// A loopback address (port 0 picks a free port).
    pub listen: SocketAddr,
    pub clock: Arc<dyn Clock>,
    pub client_id: String,
    pub client_secret: String,
    pub subscription_key: String,
    pub merchant_serial_number: String,
    /// How long an access token lasts (Vipps: a day).
    pub token_ttl: Duration,
    pub faults: Faults,
    /// Where callbacks go instead of the callback prefix's scheme and host
    /// (its path kept): `simulate` points them at its local listener, since a
    /// flow's prefix names its public host.
    pub callback_base: Option<String>,
    /// Webhooks registered from the start: `(url, secret)`, each receiving
    /// every ePayment event (more can be registered over the Webhooks API).
    pub webhooks: Vec<(String, String)>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            clock: Arc::new(SystemClock),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            subscription_key: SUBSCRIPTION_KEY.into(),
            merchant_serial_number: MSN.into(),
            token_ttl: Duration::from_secs(86_400),
            faults: Faults::default(),
            callback_base: None,
            webhooks: Vec::new(),
        }
    }
}

/// One callback sent (or dropped).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub order_id: String,
    pub status: String,
    /// `delivered`, `refused` (the merchant answered non-2xx), `failed`
    /// (unreachable) or `dropped` (a fault).
    pub outcome: String,
    pub http_status: Option<u16>,
}

#[derive(Debug)]
struct Shared {
    store: Mutex<store::Store>,
    faults: Mutex<Faults>,
    deliveries: Mutex<Vec<Delivery>>,
    client: reqwest::Client,
    in_flight: AtomicUsize,
    shutdown: watch::Sender<bool>,
    runtime: tokio::runtime::Handle,
    config: SimConfig,
    base_url: String,
}

impl Shared {
    fn lock_store(&self) -> MutexGuard<'_, store::Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a callback once, on the simulator's runtime (or drops it).
    fn send(self: &Arc<Self>, mut cb: store::Callback) {
        if let Some(base) = &self.config.callback_base
            && let Ok(u) = reqwest::Url::parse(&cb.url)
        {
            cb.url = format!("{}{}", base.trim_end_matches('/'), u.path());
        }
        let status = cb.body["transactionInfo"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let order_id = cb.body["orderId"].as_str().unwrap_or_default().to_string();
        if self.lock_faults().drop_delivery() {
            self.deliveries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Delivery {
                    order_id,
                    status,
                    outcome: "dropped".into(),
                    http_status: None,
                });
            return;
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let sh = self.clone();
        self.runtime.spawn(async move {
            let mut rb = sh.client.post(&cb.url).json(&cb.body);
            if let Some(t) = &cb.auth_token {
                rb = rb.header("Authorization", t);
            }
            let (outcome, http_status) = match rb.send().await {
                Ok(r) if r.status().is_success() => ("delivered", Some(r.status().as_u16())),
                Ok(r) => ("refused", Some(r.status().as_u16())),
                Err(_) => ("failed", None),
            };
            sh.deliveries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Delivery {
                    order_id,
                    status,
                    outcome: outcome.into(),
                    http_status,
                });
            sh.in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Sends ePayment events to every webhook registered for their type,
    /// signed with its secret (each droppable like a callback).
    fn send_events(self: &Arc<Self>, events: Vec<Value>) {
        if events.is_empty() {
            return;
        }
        let (hooks, msn, date) = {
            let st = self.lock_store();
            let date = st.now().strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
            (st.webhooks.clone(), st.msn.clone(), date)
        };
        for mut e in events {
            let name = e["name"].as_str().unwrap_or_default().to_string();
            let ty = super::webhook::event_type(&name);
            let reference = e["reference"].as_str().unwrap_or_default().to_string();
            e["msn"] = Value::String(msn.clone());
            let body = e.to_string();
            for hook in hooks.iter().filter(|h| h.events.contains(&ty)) {
                let mut url = hook.url.clone();
                if let Some(base) = &self.config.callback_base
                    && let Ok(u) = reqwest::Url::parse(&url)
                {
                    let query = u.query().map(|q| format!("?{q}")).unwrap_or_default();
                    url = format!("{}{}{query}", base.trim_end_matches('/'), u.path());
                }
                let Ok(u) = reqwest::Url::parse(&url) else {
                    continue;
                };
                let host = match u.port() {
                    Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
                    None => u.host_str().unwrap_or_default().to_string(),
                };
                let path_and_query = match u.query() {
                    Some(q) => format!("{}?{q}", u.path()),
                    None => u.path().to_string(),
                };
                let hash = super::webhook::content_hash(body.as_bytes());
                let auth = super::webhook::authorization(
                    &hook.secret,
                    &path_and_query,
                    &date,
                    &host,
                    &hash,
                );
                let delivery = |outcome: &str, http_status| Delivery {
                    order_id: reference.clone(),
                    status: name.clone(),
                    outcome: outcome.into(),
                    http_status,
                };
                if self.lock_faults().drop_delivery() {
                    self.lock_deliveries().push(delivery("dropped", None));
                    continue;
                }
                self.in_flight.fetch_add(1, Ordering::SeqCst);
                let sh = self.clone();
                let rb = self
                    .client
                    .post(u)
                    .header("Content-Type", "application/json")
                    .header("x-ms-date", &date)
                    .header("x-ms-content-sha256", hash)
                    .header("Authorization", auth)
                    .body(body.clone());
                let done = delivery("", None);
                self.runtime.spawn(async move {
                    let (outcome, http_status) = match rb.send().await {
                        Ok(r) if r.status().is_success() => {
                            ("delivered", Some(r.status().as_u16()))
                        }
                        Ok(r) => ("refused", Some(r.status().as_u16())),
                        Err(_) => ("failed", None),
                    };
                    sh.lock_deliveries().push(Delivery {
                        outcome: outcome.into(),
                        http_status,
                        ..done
                    });
                    sh.in_flight.fetch_sub(1, Ordering::SeqCst);
                });
            }
        }
    }

    fn lock_deliveries(&self) -> MutexGuard<'_, Vec<Delivery>> {
        self.deliveries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expire(self: &Arc<Self>, reference: &str) -> Result<Value, SimError> {
        let (event, payment) = {
            let mut st = self.lock_store();
            let event = st.epayment_expire(reference)?;
            (event, st.epayment(reference).map(|p| p.get()))
        };
        self.send_events(vec![event]);
        Ok(payment.unwrap_or_default())
    }

    fn answer(self: &Arc<Self>, order: &str, approve: bool) -> Result<Value, SimError> {
        let epayment = {
            let mut st = self.lock_store();
            match st.epayment(order).is_some() {
                true => Some((
                    st.epayment_answer(order, approve)?,
                    st.epayment(order).map(|p| p.get()),
                )),
                false => None,
            }
        };
        if let Some((event, payment)) = epayment {
            self.send_events(vec![event]);
            return Ok(payment.unwrap_or_default());
        }
        let (cb, details) = {
            let mut st = self.lock_store();
            let cb = st.answer(order, approve)?;
            (cb, st.details(order)?)
        };
        self.send(cb);
        Ok(details)
    }
}

/// A running simulator; dropping it stops the server.
#[derive(Debug)]
pub struct VippsSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl VippsSim {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(config: SimConfig) -> Result<VippsSim, StartError> {
        let (listener, addr) = crate::providers::sim_server::bind(config.listen).await?;
        let base_url = format!("http://{addr}");
        let (shutdown, _) = watch::channel(false);
        let mut store = store::Store::new(
            config.clock.clone(),
            config.merchant_serial_number.clone(),
            base_url.clone(),
        );
        for (i, (url, secret)) in config.webhooks.iter().enumerate() {
            store.webhooks.push(epayment::Webhook {
                id: format!("configured-{i}"),
                url: url.clone(),
                secret: secret.clone(),
                events: epayment::EVENT_NAMES
                    .iter()
                    .map(|n| super::webhook::event_type(n))
                    .collect(),
            });
        }
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            faults: Mutex::new(config.faults.clone()),
            deliveries: Mutex::default(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            in_flight: AtomicUsize::new(0),
            shutdown,
            runtime: tokio::runtime::Handle::current(),
            config,
            base_url,
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let server = crate::providers::sim_server::serve(listener, app, &shared.shutdown);
        Ok(VippsSim {
            addr,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:PORT`: the base URL to give a Vipps connection.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The payer approves the payment request in the app: it is reserved and
    /// the callback goes out. The payment's details.
    pub fn approve(&self, order: &str) -> Result<Value, SimError> {
        self.shared.answer(order, true)
    }

    /// The payer rejects it: a failed reservation, callback `REJECTED`.
    pub fn reject(&self, order: &str) -> Result<Value, SimError> {
        self.shared.answer(order, false)
    }

    /// The merchant refunds in the portal (no call of the flow's, no
    /// callback): all that is refundable, or `amount` øre. The details.
    /// An ePayment payment gets a `REFUNDED` event (and its webhooks); its
    /// state is answered.
    pub fn refund(&self, order: &str, amount: Option<i64>) -> Result<Value, SimError> {
        let epayment = {
            let mut st = self.shared.lock_store();
            match st
                .epayment(order)
                .map(|p| (p.captured - p.refunded, p.currency.clone()))
            {
                Some((left, currency)) => {
                    let body = serde_json::json!({"modificationAmount":
                        {"value": amount.unwrap_or(left), "currency": currency}});
                    let (_, v, events) = st.epayment_refund(order, &body, None)?;
                    Some((v, events))
                }
                None => None,
            }
        };
        if let Some((v, events)) = epayment {
            self.shared.send_events(events);
            return Ok(v);
        }
        let mut st = self.shared.lock_store();
        let mut tx = serde_json::json!({"transactionText": "Refunded in the portal"});
        if let Some(a) = amount {
            tx["amount"] = serde_json::json!(a);
        }
        let body = serde_json::json!({"merchantInfo": {"merchantSerialNumber": st.msn}, "transaction": tx});
        st.refund(order, &body, None)?;
        st.details(order)
    }

    /// Adds a request fault.
    pub fn inject(&self, fault: RequestFault) {
        self.shared.lock_faults().add(fault);
    }

    /// An ePayment payment the payer never answered expires (Vipps
    /// MobilePay's timeout): `EXPIRED`, and its webhooks. The payment.
    pub fn expire(&self, reference: &str) -> Result<Value, SimError> {
        self.shared.expire(reference)
    }

    /// Sets which callbacks are lost.
    pub fn drop_callbacks(&self, faults: WebhookFaults) {
        self.shared.lock_faults().webhooks = faults;
    }

    /// Every payment, oldest first.
    pub fn payments(&self) -> Vec<Payment> {
        self.shared.lock_store().payments.clone()
    }

    /// Every ePayment payment, oldest first.
    pub fn epayments(&self) -> Vec<epayment::EPayment> {
        self.shared.lock_store().epayments.clone()
    }

    /// One ePayment payment's event log, as `GET …/events` answers.
    pub fn epayment_events(&self, reference: &str) -> Option<Value> {
        self.shared.lock_store().epayment_events(reference).ok()
    }

    /// One payment's details, as `GET …/details` answers.
    pub fn details(&self, order: &str) -> Option<Value> {
        self.shared.lock_store().details(order).ok()
    }

    /// Every API request answered, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock_store().log.clone()
    }

    /// Every callback and webhook delivery, in the order they were sent
    /// (an ePayment delivery's `order_id` is the reference, `status` the
    /// event's name).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared
            .deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// An access token of the simulated sales unit, fetched as a merchant's
    /// client fetches one (`POST /accesstoken/get` with its four headers):
    /// for tests and benchmarks that call the simulator themselves.
    pub async fn access_token(&self) -> Result<String, String> {
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/accesstoken/get", self.url()))
            .header("client_id", CLIENT_ID)
            .header("client_secret", CLIENT_SECRET)
            .header("Ocp-Apim-Subscription-Key", SUBSCRIPTION_KEY)
            .header("Merchant-Serial-Number", MSN)
            .send()
            .await
            .map_err(|e| format!("access token: {e}"))?
            .json()
            .await
            .map_err(|e| format!("access token: {e}"))?;
        answer["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("access token: no `access_token` in {answer}"))
    }

    /// Waits until no callback is in flight (or the timeout passes).
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

impl Drop for VippsSim {
    fn drop(&mut self) {
        let _ = self.shared.shutdown.send(true);
        self.server.abort();
    }
}
