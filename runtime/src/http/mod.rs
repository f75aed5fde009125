//! The generic `http` action: methods, bodies, auth, timeouts, idempotency keys,
//! retry classification, and typed mapping of the response into data items.

mod auth;
pub mod budget;

pub use auth::{
    Auth, Secret, TokenCache, env_var, resolve, set_simulated_env, set_simulated_file, strip_query,
};
pub use budget::{Budgets, RateLimit};

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::engine::Runtime;
use crate::flow::StepError;
use crate::retry::{RetryPolicy, StatusClass, classify, parse_retry_after};
use crate::value::ItemDef;

/// The key of `base_urls` that points every absolute URL at a simulator.
pub const SIMULATED: &str = "*";

/// The default timeout of an http call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    fn reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    None,
    Json(Value),
    /// JSON sent as written (a webhook event passed on byte for byte).
    JsonText(String),
    Form(Vec<(String, String)>),
    Xml(String),
    Text(String),
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Url(String),
    /// A path under a connection's base URL (overridable with `FLOWC_<NAME>_BASE_URL`).
    Connection {
        name: &'static str,
        path: String,
    },
}

/// One http call of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: Method,
    pub target: Target,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub auth: Auth,
    pub timeout: Duration,
    /// Declared response fields and their types; `a.b` reads a nested field.
    pub response: &'static [ItemDef],
    /// The header that carries the idempotency key (`Idempotency-Key`,
    /// `PayPal-Request-Id`, …); `None` to send none.
    pub idempotency_header: Option<&'static str>,
    /// The longest key the provider takes in that header ([`fit_key`]);
    /// `None`: no limit.
    pub idempotency_key_max: Option<usize>,
    /// Whether the call changes something (then it goes through the ledger).
    /// GET is not a side effect unless said otherwise.
    pub side_effect: bool,
    pub retry: Option<RetryPolicy>,
    /// Reads the provider's message out of an error body (provider actions set
    /// their own; `None` uses [`provider_message`]).
    pub error_message: Option<MessageReader>,
    /// Classifies an error answer by the provider's typed errors (Stripe); `None`
    /// classifies by the status alone ([`classify`]).
    pub error_class: Option<ErrorClassifier>,
    /// The connection whose request budget every send of this request waits
    /// for, and its rate ([`budget`]).
    pub budget: Option<(&'static str, RateLimit)>,
}

/// What an error answer means for the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth trying again (with this message).
    Retry(String),
    /// Final (with this message).
    Fatal(String),
    /// Not an error of the call: the body is the action's answer (Stripe's
    /// declined card), returned as a response with its status.
    Answer,
}

/// Classifies an error answer (status, body) of a provider.
#[derive(Debug, Clone, Copy)]
pub struct ErrorClassifier(pub fn(u16, &str) -> ErrorClass);

impl PartialEq for ErrorClassifier {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

/// Reads a provider's message out of an error body.
#[derive(Debug, Clone, Copy)]
pub struct MessageReader(pub fn(&str) -> String);

impl PartialEq for MessageReader {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

impl HttpRequest {
    pub fn new(method: Method, url: impl Into<String>) -> HttpRequest {
        HttpRequest::with_target(method, Target::Url(url.into()))
    }

    pub fn to_connection(
        connection: &'static str,
        method: Method,
        path: impl Into<String>,
    ) -> HttpRequest {
        HttpRequest::with_target(
            method,
            Target::Connection {
                name: connection,
                path: path.into(),
            },
        )
    }

    fn with_target(method: Method, target: Target) -> HttpRequest {
        HttpRequest {
            method,
            target,
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::None,
            auth: Auth::None,
            timeout: DEFAULT_TIMEOUT,
            response: &[],
            idempotency_header: Some("Idempotency-Key"),
            idempotency_key_max: None,
            side_effect: method != Method::Get,
            retry: None,
            error_message: None,
            error_class: None,
            budget: None,
        }
    }

    pub fn query(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.query.push((k.into(), v.into()));
        self
    }
    pub fn header(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn json(mut self, v: Value) -> Self {
        self.body = Body::Json(v);
        self
    }
    /// A JSON body sent as written, not re-serialized.
    pub fn json_text(mut self, s: impl Into<String>) -> Self {
        self.body = Body::JsonText(s.into());
        self
    }
    pub fn form(mut self, pairs: Vec<(String, String)>) -> Self {
        self.body = Body::Form(pairs);
        self
    }
    pub fn xml(mut self, s: impl Into<String>) -> Self {
        self.body = Body::Xml(s.into());
        self
    }
    pub fn text(mut self, s: impl Into<String>) -> Self {
        self.body = Body::Text(s.into());
        self
    }
    pub fn auth(mut self, a: Auth) -> Self {
        self.auth = a;
        self
    }
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
    pub fn response(mut self, fields: &'static [ItemDef]) -> Self {
        self.response = fields;
        self
    }
    pub fn idempotency_header(mut self, h: Option<&'static str>) -> Self {
        self.idempotency_header = h;
        self
    }
    /// The longest idempotency key the provider takes (Vipps ePayment: 50).
    pub fn idempotency_key_max(mut self, max: Option<usize>) -> Self {
        self.idempotency_key_max = max;
        self
    }
    pub fn side_effect(mut self, yes: bool) -> Self {
        self.side_effect = yes;
        self
    }
    pub fn retry(mut self, p: RetryPolicy) -> Self {
        self.retry = Some(p);
        self
    }
    pub fn error_message(mut self, f: fn(&str) -> String) -> Self {
        self.error_message = Some(MessageReader(f));
        self
    }

    pub fn budget(mut self, connection: &'static str, rate: Option<RateLimit>) -> Self {
        self.budget = rate.map(|r| (connection, r));
        self
    }
    pub fn error_class(mut self, f: fn(u16, &str) -> ErrorClass) -> Self {
        self.error_class = Some(ErrorClassifier(f));
        self
    }

    /// The provider's message in an error body.
    fn message_of(&self, body: &str) -> String {
        self.error_message
            .map_or_else(|| provider_message(body), |f| (f.0)(body))
    }

    /// The absolute URL.
    pub fn url(&self, base_urls: &HashMap<String, String>) -> Result<String, StepError> {
        match &self.target {
            // In simulation (`*` is set) absolute URLs go to the scripted
            // server too: same path and query, its origin. A URL already at a
            // connection's base (a provider simulator's) stays.
            Target::Url(u) => Ok(simulated(u, base_urls)),
            Target::Connection { name, path } => {
                let base = base_urls
                    .get(*name)
                    .ok_or_else(|| StepError::Fatal(format!("unknown connection `{name}`")))?;
                Ok(format!(
                    "{}/{}",
                    base.trim_end_matches('/'),
                    path.trim_start_matches('/')
                ))
            }
        }
    }

    /// `POST http://host/path` without the query, for logs and history.
    /// The provider this request goes to (`http` for a plain URL), for metrics.
    fn provider(&self, rt: &Runtime) -> &'static str {
        match &self.target {
            Target::Connection { name, .. } => rt
                .connections
                .iter()
                .find(|c| c.name == *name)
                .map_or("http", |c| c.provider),
            // A provider's URL built from its connection's base (an event list).
            Target::Url(u) => rt
                .connections
                .iter()
                .find(|c| {
                    rt.base_urls
                        .get(c.name)
                        .is_some_and(|b| !b.is_empty() && u.starts_with(b.as_str()))
                })
                .map_or("http", |c| c.provider),
        }
    }

    pub fn describe(&self, base_urls: &HashMap<String, String>) -> String {
        let url = self.url(base_urls).unwrap_or_else(|e| e.to_string());
        format!("{} {}", self.method.as_str(), strip_query(&url))
    }
}

/// In simulation (`*` is set) an absolute URL goes to the scripted server:
/// same path and query, its origin. A URL already at a connection's base (a
/// provider simulator's) stays, and so does every URL outside a simulation.
pub fn simulated(u: &str, base_urls: &HashMap<String, String>) -> String {
    match (base_urls.get(SIMULATED), u.split_once("://")) {
        (Some(base), Some((_, rest))) if !at_a_base(u, base_urls) => {
            let path = rest.find('/').map_or("", |i| &rest[i..]);
            format!("{}{path}", base.trim_end_matches('/'))
        }
        _ => u.to_string(),
    }
}

/// Whether `url` is under one of the base URLs.
fn at_a_base(url: &str, base_urls: &HashMap<String, String>) -> bool {
    base_urls.values().any(|b| {
        let b = b.trim_end_matches('/');
        !b.is_empty()
            && url
                .strip_prefix(b)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
    })
}

/// A successful response, mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    /// The declared response fields, type-checked and normalized.
    pub fields: Map<String, Value>,
    /// The raw body (for text and XML responses).
    pub body: String,
}

impl HttpResponse {
    /// A declared field as a Rust value (`resp.get::<String>("id")`), or
    /// the HTTP status (`${step.status}`) unless a field has that name.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, StepError> {
        let v = match self.fields.get(name) {
            Some(v) => v.clone(),
            None if name == "status" => Value::from(self.status),
            None => Value::Null,
        };
        serde_json::from_value(v)
            .map_err(|e| StepError::Fatal(format!("response field `{name}`: {e}")))
    }
}

/// The idempotency key as sent: `key` itself when it fits in `max`
/// characters, else the first `max` hex digits of its SHA-256 (at most 64) —
/// the same on every attempt, so the provider still sees one key per effect.
/// The ledger keeps the whole key; only the header is shortened.
pub fn fit_key(key: &str, max: Option<usize>) -> std::borrow::Cow<'_, str> {
    use sha2::{Digest, Sha256};
    match max {
        Some(max) if key.len() > max => {
            let hex: String = Sha256::digest(key.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            std::borrow::Cow::Owned(hex[..max.min(hex.len())].to_string())
        }
        _ => std::borrow::Cow::Borrowed(key),
    }
}

/// The provider's error message from an error body (Stripe, PayPal, Vipps, OAuth2
/// shapes), else the body's text, shortened.
pub fn provider_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let candidates = [
            v.pointer("/error/message"),
            v.get("message"),
            v.get("detail"),
            v.get("error_description"),
            v.get("title"),
            v.get("error").filter(|e| e.is_string()),
        ];
        if let Some(Some(Value::String(s))) = candidates
            .into_iter()
            .find(|c| matches!(c, Some(Value::String(_))))
        {
            return s.clone();
        }
    }
    let t = body.trim();
    if t.is_empty() || t == "null" || t == "{}" {
        return "(no message)".to_string();
    }
    if t.chars().count() > 300 {
        format!("{}…", t.chars().take(300).collect::<String>())
    } else {
        t.to_string()
    }
}

/// The shared HTTP client, OAuth2 token cache, request budgets, and whether
/// live connections may be called.
#[derive(Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    pub tokens: TokenCache,
    /// One request budget per connection, shared by every issue of the process.
    pub budgets: Budgets,
    /// Whether `mode: live` connections may be called (the binary's `--live`).
    live: std::sync::atomic::AtomicBool,
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new()
    }
}

impl HttpClient {
    pub fn new() -> HttpClient {
        let client = reqwest::Client::builder()
            .user_agent(concat!("flowc-runtime/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(256)
            .build()
            .unwrap_or_default();
        HttpClient {
            client,
            tokens: TokenCache::default(),
            budgets: Budgets::default(),
            live: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Allows (or forbids) calls on `mode: live` connections (`--live`).
    pub fn allow_live(&self, yes: bool) {
        self.live.store(yes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether `mode: live` connections may be called.
    pub fn live_allowed(&self) -> bool {
        self.live.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends a request (once, or twice after a 401 with a refreshed OAuth2 token).
    pub async fn execute(
        &self,
        req: &HttpRequest,
        key: Option<&str>,
        rt: &Runtime,
    ) -> Result<HttpResponse, StepError> {
        let url = req.url(&rt.base_urls)?;
        let what = format!("{} {}", req.method.as_str(), strip_query(&url));
        let mut stale: Option<Secret> = None;
        loop {
            if let Some((connection, rate)) = req.budget {
                self.budgets.acquire(connection, rate, &*rt.clock).await;
            }
            let mut rb = self
                .client
                .request(req.method.reqwest(), &url)
                .timeout(req.timeout);
            if !req.query.is_empty() {
                rb = rb.query(&req.query);
            }
            for (k, v) in &req.headers {
                rb = rb.header(k.as_str(), v.as_str());
            }
            if let (Some(h), Some(k)) = (req.idempotency_header, key) {
                rb = rb.header(h, fit_key(k, req.idempotency_key_max).as_ref());
            }
            rb = match &req.body {
                Body::None => rb,
                Body::Json(v) => rb.json(v),
                Body::JsonText(s) => rb
                    .header("Content-Type", "application/json")
                    .body(s.clone()),
                Body::Form(pairs) => rb.form(pairs),
                Body::Xml(s) => rb.header("Content-Type", "application/xml").body(s.clone()),
                Body::Text(s) => rb
                    .header("Content-Type", "text/plain; charset=utf-8")
                    .body(s.clone()),
            };
            let mut used_token = None;
            rb = match &req.auth {
                Auth::None => rb,
                Auth::Basic { username, password } => rb.basic_auth(
                    resolve(username)?.expose(),
                    Some(resolve(password)?.expose()),
                ),
                Auth::Bearer(src) => rb.header(
                    "Authorization",
                    sensitive(&format!("Bearer {}", resolve(src)?.expose()))?,
                ),
                Auth::Header { name, value } => {
                    let n = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| StepError::Fatal(format!("bad header name `{name}`")))?;
                    rb.header(n, sensitive(resolve(value)?.expose())?)
                }
                Auth::VippsToken {
                    token_url,
                    client_id,
                    client_secret,
                    subscription_key,
                    merchant_serial_number,
                } => {
                    let sub = resolve(subscription_key)?;
                    let t = crate::providers::vipps::token(
                        self,
                        token_url,
                        [
                            resolve(client_id)?,
                            resolve(client_secret)?,
                            sub.clone(),
                            resolve(merchant_serial_number)?,
                        ],
                        rt.clock.now(),
                        stale.as_ref(),
                    )
                    .await?;
                    let h = sensitive(&format!("Bearer {}", t.expose()))?;
                    used_token = Some(t);
                    rb.header("Authorization", h)
                        .header("Ocp-Apim-Subscription-Key", sensitive(sub.expose())?)
                }
                Auth::Headers(headers) => {
                    for (name, value) in headers {
                        let n = HeaderName::from_bytes(name.as_bytes())
                            .map_err(|_| StepError::Fatal(format!("bad header name `{name}`")))?;
                        rb = rb.header(n, sensitive(value.expose())?);
                    }
                    rb
                }
                Auth::OAuth2 {
                    token_url,
                    client_id,
                    client_secret,
                    scope,
                } => {
                    // A token URL of a flow's own (an http step's) is
                    // simulated as its request's URL is.
                    let token_url = simulated(token_url, &rt.base_urls);
                    let t = self
                        .tokens
                        .token(
                            &self.client,
                            &token_url,
                            &resolve(client_id)?,
                            &resolve(client_secret)?,
                            scope.as_deref(),
                            rt.clock.now(),
                            stale.as_ref(),
                        )
                        .await?;
                    let h = sensitive(&format!("Bearer {}", t.expose()))?;
                    used_token = Some(t);
                    rb.header("Authorization", h)
                }
            };
            let sent = rb.send().await;
            rt.metrics.provider_call(
                req.provider(rt),
                sent.as_ref().ok().map(|r| r.status().as_u16()),
            );
            let resp = sent.map_err(|e| StepError::Retry {
                message: format!("{what}: {}", describe_error(&e)),
                retry_after: None,
                policy: req.retry,
            })?;
            let status = resp.status().as_u16();
            if status == 401
                && stale.is_none()
                && matches!(req.auth, Auth::OAuth2 { .. } | Auth::VippsToken { .. })
            {
                // The token may have been revoked early: fetch a new one, once.
                stale = used_token;
                continue;
            }
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, rt.clock.now()));
            let body = resp.text().await.map_err(|e| StepError::Retry {
                message: format!("{what}: reading the response: {}", describe_error(&e)),
                retry_after: None,
                policy: req.retry,
            })?;
            let class = match (classify(status), req.error_class) {
                (StatusClass::Success, _) => None,
                (_, Some(f)) => Some((f.0)(status, &body)),
                _ => None,
            };
            match class {
                Some(ErrorClass::Answer) => {
                    return Ok(HttpResponse {
                        status,
                        fields: Map::new(),
                        body,
                    });
                }
                Some(ErrorClass::Retry(m)) => {
                    return Err(StepError::Retry {
                        message: format!("{what}: HTTP {status}: {m}"),
                        retry_after,
                        policy: req.retry,
                    });
                }
                Some(ErrorClass::Fatal(m)) => {
                    return Err(StepError::Fatal(format!("{what}: HTTP {status}: {m}")));
                }
                None => {}
            }
            return match classify(status) {
                StatusClass::Success => map_response(req, status, body, &what),
                StatusClass::Retry => Err(StepError::Retry {
                    message: format!("{what}: HTTP {status}: {}", req.message_of(&body)),
                    retry_after,
                    policy: req.retry,
                }),
                StatusClass::Fatal => Err(StepError::Fatal(format!(
                    "{what}: HTTP {status}: {}",
                    req.message_of(&body)
                ))),
            };
        }
    }
}

fn sensitive(v: &str) -> Result<HeaderValue, StepError> {
    let mut h = HeaderValue::from_str(v)
        .map_err(|_| StepError::Fatal("a credential holds characters a header cannot".into()))?;
    h.set_sensitive(true);
    Ok(h)
}

fn describe_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "network error"
    };
    let mut msg = kind.to_string();
    let mut src = std::error::Error::source(e);
    if let Some(s) = src.take() {
        msg.push_str(&format!(" ({s})"));
    }
    msg
}

fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |cur, part| match cur {
        Value::Object(o) => o.get(part),
        Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

fn map_response(
    req: &HttpRequest,
    status: u16,
    body: String,
    what: &str,
) -> Result<HttpResponse, StepError> {
    let mut fields = Map::new();
    if !req.response.is_empty() {
        let v: Value = serde_json::from_str(&body).map_err(|_| {
            StepError::Fatal(format!(
                "{what}: HTTP {status}: the response is not JSON, but fields were declared"
            ))
        })?;
        let mut errors = Vec::new();
        for f in req.response {
            match lookup(&v, f.name).filter(|x| !x.is_null()) {
                Some(x) => match crate::value::schema_check(f.ty, x, f.name) {
                    Ok(n) => {
                        fields.insert(f.name.to_string(), n);
                    }
                    Err(e) => errors.extend(e.into_iter().map(|e| format!("response field {e}"))),
                },
                None if f.required => errors.push(format!(
                    "response field `{}`: missing (declared {})",
                    f.name, f.ty
                )),
                None => {
                    fields.insert(f.name.to_string(), Value::Null);
                }
            }
        }
        if !errors.is_empty() {
            return Err(StepError::Fatal(format!(
                "{what}: {}; nothing was stored",
                errors.join("; ")
            )));
        }
    }
    Ok(HttpResponse {
        status,
        fields,
        body,
    })
}

#[cfg(test)]
mod tests;

/// A listener whose connections send small answers at once (`TCP_NODELAY`):
/// without it, an answer written in two segments waits for the client's
/// delayed ACK (40 ms on Linux) whenever the server did not answer at once.
#[doc(hidden)]
pub fn nodelay(
    l: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    l.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    })
}
