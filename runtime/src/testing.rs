//! A local HTTP test server that records every request (with its idempotency key)
//! and answers from a script: for the runtime's own tests, the crash test, the
//! benchmarks, and `simulate`'s scripted http answers. Binds 127.0.0.1 only.
//! [`TestPostgres`] (in `testing/postgres.rs`): a throwaway PostgreSQL server
//! for the PostgreSQL store's tests, the failover test and the replicas bench.
//! [`wait_flow::WaitFlow`]: the one wait-only flow of the event layer's tests
//! and benchmarks, made from a small spec.

pub mod postgres;
#[doc(hidden)]
pub mod wait_flow;

pub use postgres::TestPostgres;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Seen {
    pub fn idempotency_key(&self) -> Option<&str> {
        self.headers.get("idempotency-key").map(String::as_str)
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug, Default)]
struct Inner {
    seen: Vec<Seen>,
    /// "METHOD /path" -> answers to give, in order, before the default.
    script: HashMap<String, VecDeque<Reply>>,
    /// Answers already given per idempotency key (a provider's deduplication).
    by_key: HashMap<String, (u16, Value)>,
    counter: u64,
}

/// The recording server.
#[derive(Debug, Clone)]
pub struct TestServer {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    delay: Duration,
    record: bool,
}

impl TestServer {
    /// Starts a server on 127.0.0.1 (a free port) in the current tokio runtime.
    pub async fn start() -> TestServer {
        TestServer::start_with(Duration::ZERO, true).await
    }

    /// With a delay before each answer (a provider's latency), and optionally
    /// without keeping every request (for benchmarks).
    pub async fn start_with(delay: Duration, record: bool) -> TestServer {
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let server = TestServer {
            addr,
            inner,
            delay,
            record,
        };
        let app = Router::new().fallback(handle).with_state(server.clone());
        tokio::spawn(async move {
            let _ = axum::serve(crate::http::nodelay(listener), app).await;
        });
        server
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues answers for `METHOD /path` (e.g. `"POST /v1/charges"`).
    pub fn script(&self, route: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        i.script
            .entry(route.to_string())
            .or_default()
            .extend(replies);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .clone()
    }

    pub fn count(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).counter
    }
}

async fn handle(
    State(s): State<TestServer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !s.delay.is_zero() {
        tokio::time::sleep(s.delay).await;
    }
    let path = uri.path().to_string();
    let route = format!("{method} {path}");
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let reply = {
        let mut i = s.inner.lock().unwrap_or_else(|e| e.into_inner());
        i.counter += 1;
        if s.record {
            let h = headers
                .iter()
                .filter_map(|(k, v)| {
                    v.to_str()
                        .ok()
                        .map(|v| (k.as_str().to_string(), v.to_string()))
                })
                .collect();
            i.seen.push(Seen {
                method: method.to_string(),
                path: path.clone(),
                query: uri.query().map(str::to_string),
                headers: h,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        let scripted = i.script.get_mut(&route).and_then(VecDeque::pop_front);
        match scripted {
            Some(r) => r,
            None => {
                // A provider: the same key gets the same answer.
                if let Some((st, b)) = key.as_ref().and_then(|k| i.by_key.get(k)) {
                    Reply::json(*st, b.clone())
                } else if route == "GET /v1/events" {
                    // An event list with nothing new (script the events a test needs).
                    Reply::json(
                        200,
                        json!({"object": "list", "data": [], "has_more": false}),
                    )
                } else {
                    let n = i.counter;
                    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let b = json!({"id": format!("obj_{n}"), "path": path, "echo": req});
                    if let Some(k) = key {
                        i.by_key.insert(k, (200, b.clone()));
                    }
                    Reply::json(200, b)
                }
            }
        }
    };
    let mut resp = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(reply.body),
    )
        .into_response();
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}
