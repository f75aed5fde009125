//! The http action against local axum servers: bodies, auth, OAuth2 token cache
//! and refresh on 401, timeouts, idempotency headers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use super::*;
use crate::clock::VirtualClock;
use crate::engine::Runtime;
use crate::flow::SecretSource;
use crate::store::{SqliteOptions, SqliteStore};
use crate::testing::TestServer;
use crate::value::ValueType;

fn runtime(clock: VirtualClock) -> Runtime {
    Runtime {
        store: Arc::new(SqliteStore::open(SqliteOptions::new(":memory:", "t")).unwrap()),
        clock: Arc::new(clock),
        http: HttpClient::new(),
        flow: "t",
        connections: &[],
        default_retry: RetryPolicy::default(),
        base_urls: Default::default(),
        notify: tokio::sync::Notify::new(),
        metrics: Default::default(),
    }
}

fn clock() -> VirtualClock {
    VirtualClock::new("2025-03-01T00:00:00Z".parse().unwrap())
}

#[tokio::test]
async fn bodies_headers_and_auth_are_sent() {
    let (user, pass, token) = (secret("alice"), secret("s3cret"), secret("tok_abc"));
    let s = TestServer::start().await;
    let rt = runtime(clock());
    let c = &rt.http;
    let cases = vec![
        (
            HttpRequest::new(Method::Post, format!("{}/json", s.url()))
                .json(json!({"a": 1}))
                .auth(Auth::Basic {
                    username: user,
                    password: pass,
                }),
            "application/json",
            r#"{"a":1}"#,
            Some("Basic YWxpY2U6czNjcmV0"),
        ),
        (
            HttpRequest::new(Method::Put, format!("{}/form", s.url()))
                .form(vec![("k".into(), "v w".into()), ("n".into(), "1".into())])
                .auth(Auth::Bearer(token)),
            "application/x-www-form-urlencoded",
            "k=v+w&n=1",
            Some("Bearer tok_abc"),
        ),
        (
            HttpRequest::new(Method::Patch, format!("{}/xml", s.url())).xml("<a>1</a>"),
            "application/xml",
            "<a>1</a>",
            None,
        ),
        (
            HttpRequest::new(Method::Delete, format!("{}/text", s.url())).text("hello"),
            "text/plain; charset=utf-8",
            "hello",
            None,
        ),
    ];
    for (req, ctype, body, auth) in cases {
        c.execute(&req, Some("k-1"), &rt).await.unwrap();
        let seen = s.seen().pop().unwrap();
        assert_eq!(
            seen.headers.get("content-type").map(String::as_str),
            Some(ctype)
        );
        assert_eq!(seen.body, body);
        assert_eq!(seen.headers.get("authorization").map(String::as_str), auth);
        assert_eq!(seen.idempotency_key(), Some("k-1"));
    }
    let req = HttpRequest::new(Method::Get, format!("{}/q", s.url()))
        .query("app", "12")
        .header("Accept", "application/json")
        .auth(Auth::Header {
            name: "X-Cybozu-API-Token".into(),
            value: token,
        })
        .idempotency_header(Some("PayPal-Request-Id"));
    assert!(!req.side_effect, "GET is a read");
    c.execute(&req, Some("k-2"), &rt).await.unwrap();
    let seen = s.seen().pop().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.query.as_deref()),
        ("GET", Some("app=12"))
    );
    assert_eq!(
        seen.headers.get("x-cybozu-api-token").map(String::as_str),
        Some("tok_abc")
    );
    assert_eq!(
        seen.headers.get("paypal-request-id").map(String::as_str),
        Some("k-2")
    );

    // A key longer than the provider takes is sent as its digest, the same
    // on every attempt; a short one as it is.
    let long = "vipps_epayment:01a24ff4-9b46-75ac-a7d3-7d5cbe90d516:capture:0";
    let req = HttpRequest::new(Method::Post, format!("{}/capture", s.url()))
        .idempotency_key_max(Some(50));
    for _ in 0..2 {
        c.execute(&req, Some(long), &rt).await.unwrap();
    }
    let sent: Vec<String> = s
        .seen()
        .iter()
        .rev()
        .take(2)
        .map(|r| r.idempotency_key().unwrap().to_string())
        .collect();
    assert_eq!(sent[0], sent[1]);
    assert_eq!(sent[0], fit_key(long, Some(50)));
    assert_eq!(sent[0].len(), 50);
    c.execute(&req, Some("k-3"), &rt).await.unwrap();
    assert_eq!(s.seen().pop().unwrap().idempotency_key(), Some("k-3"));

    // A missing credential names its source, never a value.
    let err = c
        .execute(
            &HttpRequest::new(Method::Get, s.url())
                .auth(Auth::Bearer(SecretSource::Env("FLOWC_T_MISSING"))),
            None,
            &rt,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StepError::Fatal("credential: environment variable FLOWC_T_MISSING is not set".into())
    );
    assert_eq!(format!("{:?}", resolve(&pass).unwrap()), "Secret(***)");
}

/// A secret file holding `v` (the crate forbids `unsafe`, so no `set_var`).
fn secret(v: &str) -> SecretSource {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut f, format!("{v}\n").as_bytes()).unwrap();
    let path = f.into_temp_path().keep().unwrap();
    SecretSource::File(Box::leak(
        path.to_string_lossy().into_owned().into_boxed_str(),
    ))
}

#[derive(Clone, Default)]
struct OAuthState {
    tokens_issued: Arc<AtomicU64>,
    valid: Arc<Mutex<Vec<String>>>,
    api_calls: Arc<AtomicU64>,
    refuse_all: Arc<std::sync::atomic::AtomicBool>,
}

async fn token(
    State(s): State<OAuthState>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Basic Y2lkOmNzZWNyZXQ=")
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"error": "invalid_client", "error_description": "Client Authentication failed"}),
            ),
        );
    }
    assert!(
        body.contains("grant_type=client_credentials") && body.contains("scope=invoicing"),
        "{body}"
    );
    let n = s.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    let t = format!("A21_{n}");
    s.valid.lock().unwrap().push(t.clone());
    (
        StatusCode::OK,
        axum::Json(json!({"access_token": t, "token_type": "Bearer", "expires_in": 3600})),
    )
}

async fn api(State(s): State<OAuthState>, headers: HeaderMap) -> (StatusCode, axum::Json<Value>) {
    s.api_calls.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ok = !s.refuse_all.load(Ordering::SeqCst)
        && s.valid
            .lock()
            .unwrap()
            .iter()
            .any(|t| auth == format!("Bearer {t}"));
    if ok {
        (
            StatusCode::CREATED,
            axum::Json(json!({"id": "INV2-1", "status": "DRAFT", "amount": {"value": "12.50"}})),
        )
    } else {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"name": "AUTHENTICATION_FAILURE", "message": "Authentication failed due to invalid authentication credentials"}),
            ),
        )
    }
}

#[tokio::test]
async fn oauth2_tokens_are_cached_until_expiry_and_refetched_once_on_401() {
    let (cid, csecret) = (secret("cid"), secret("csecret"));
    let st = OAuthState::default();
    let app = Router::new()
        .route("/token", post(token))
        .route("/invoices", post(api))
        .with_state(st.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let clock = clock();
    let rt = runtime(clock.clone());
    static FIELDS: [ItemDef; 2] = [
        ItemDef::new("id", ValueType::String).required(),
        ItemDef::new("amount.value", ValueType::Decimal),
    ];
    let req = HttpRequest::new(Method::Post, format!("{base}/invoices"))
        .json(json!({}))
        .auth(Auth::OAuth2 {
            token_url: format!("{base}/token"),
            client_id: cid,
            client_secret: csecret,
            scope: Some("invoicing".into()),
        })
        .response(&FIELDS);
    for _ in 0..3 {
        let r = rt.http.execute(&req, Some("k"), &rt).await.unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.get::<String>("id").unwrap(), "INV2-1");
        assert_eq!(r.fields["amount.value"], json!("12.50"));
    }
    assert_eq!(st.tokens_issued.load(Ordering::SeqCst), 1, "cached");

    // Expired (by the clock): fetched again.
    clock.advance(Duration::from_secs(3600));
    rt.http.execute(&req, Some("k"), &rt).await.unwrap();
    assert_eq!(st.tokens_issued.load(Ordering::SeqCst), 2);

    // Revoked early: the API says 401, one new token, the call is repeated once.
    st.valid.lock().unwrap().clear();
    let before = st.api_calls.load(Ordering::SeqCst);
    rt.http.execute(&req, Some("k"), &rt).await.unwrap();
    assert_eq!(st.tokens_issued.load(Ordering::SeqCst), 3);
    assert_eq!(st.api_calls.load(Ordering::SeqCst) - before, 2);

    // A token the API keeps refusing: one refresh, then the 401 fails the step.
    st.refuse_all.store(true, Ordering::SeqCst);
    let (tokens, calls) = (
        st.tokens_issued.load(Ordering::SeqCst),
        st.api_calls.load(Ordering::SeqCst),
    );
    match rt.http.execute(&req, Some("k"), &rt).await.unwrap_err() {
        StepError::Fatal(m) => assert!(
            m.contains("HTTP 401") && m.contains("Authentication failed"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(st.tokens_issued.load(Ordering::SeqCst) - tokens, 1);
    assert_eq!(st.api_calls.load(Ordering::SeqCst) - calls, 2);

    // Wrong client credentials: the provider's message, no retry.
    let bad = HttpRequest::new(Method::Post, format!("{base}/invoices")).auth(Auth::OAuth2 {
        token_url: format!("{base}/token"),
        client_id: cid,
        client_secret: secret("wrong"),
        scope: Some("other".into()),
    });
    match rt.http.execute(&bad, None, &rt).await.unwrap_err() {
        StepError::Fatal(m) => assert!(
            m.contains("401") && m.contains("Client Authentication failed"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retryable() {
    let slow = TestServer::start_with(Duration::from_millis(500), true).await;
    let rt = runtime(clock());
    let req = HttpRequest::new(Method::Post, slow.url()).timeout(Duration::from_millis(50));
    match rt.http.execute(&req, Some("k"), &rt).await.unwrap_err() {
        StepError::Retry { message, .. } => assert!(message.contains("timed out"), "{message}"),
        other => panic!("{other:?}"),
    }
    // A port nothing listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let req = HttpRequest::new(Method::Post, format!("http://127.0.0.1:{port}/x"));
    match rt.http.execute(&req, Some("k"), &rt).await.unwrap_err() {
        StepError::Retry { message, .. } => {
            assert!(message.contains("could not connect"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(30));
    assert_eq!(
        HttpRequest::new(Method::Get, "http://x").timeout,
        DEFAULT_TIMEOUT
    );
}

#[test]
fn a_key_too_long_for_the_provider_is_shortened_to_its_digest() {
    let long = "f".repeat(70);
    let fitted = fit_key(&long, Some(50));
    assert_eq!(fitted.len(), 50);
    assert!(fitted.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(fitted, fit_key(&long, Some(50)), "the same every time");
    assert_ne!(
        fitted,
        fit_key(&"f".repeat(71), Some(50)),
        "another key, another digest"
    );
    assert_eq!(fit_key(&long, Some(200)), long.as_str(), "it fits");
    assert_eq!(fit_key(&long, None), long.as_str(), "no limit");
    assert_eq!(fit_key(&long, Some(80)), long.as_str());
    assert_eq!(
        fit_key(&"g".repeat(100), Some(90)).len(),
        64,
        "a digest is at most 64"
    );
}

#[test]
fn provider_messages_are_found_in_common_shapes() {
    assert_eq!(
        provider_message(r#"{"error":{"message":"No such customer"}}"#),
        "No such customer"
    );
    assert_eq!(
        provider_message(r#"{"name":"X","message":"Invalid request"}"#),
        "Invalid request"
    );
    assert_eq!(
        provider_message(r#"{"title":"Bad","detail":"orderId taken"}"#),
        "orderId taken"
    );
    assert_eq!(provider_message("plain text"), "plain text");
}

#[test]
fn simulation_sends_absolute_urls_to_the_scripted_server_but_not_those_at_a_simulator() {
    let base_urls: HashMap<String, String> = [
        (SIMULATED.to_string(), "http://127.0.0.1:1000".to_string()),
        ("slack".to_string(), "http://127.0.0.1:1000".to_string()),
        ("stripe".to_string(), "http://127.0.0.1:2000/".to_string()),
    ]
    .into();
    let url = |u: &str| HttpRequest::new(Method::Get, u).url(&base_urls).unwrap();
    assert_eq!(
        url("https://slack.com/api/chat.postMessage?x=1"),
        "http://127.0.0.1:1000/api/chat.postMessage?x=1"
    );
    assert_eq!(
        url("http://127.0.0.1:2000/v1/charges"),
        "http://127.0.0.1:2000/v1/charges"
    );
    // Another port that merely starts like a base is not at that base.
    assert_eq!(
        url("http://127.0.0.1:20001/v1/charges"),
        "http://127.0.0.1:1000/v1/charges"
    );
    // Outside a simulation, nothing is rewritten.
    let plain = HttpRequest::new(Method::Get, "https://slack.com/api/x")
        .url(&HashMap::new())
        .unwrap();
    assert_eq!(plain, "https://slack.com/api/x");
}
