//! The HTTP front: `/_sim/` control, faults, the token endpoint, bearer-token
//! auth, JSON bodies, `PayPal-Request-Id` idempotency, the request log, then the
//! route under the store's lock, then webhook deliveries.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::error::ApiError;
use super::store::{LoggedRequest, Store, StoredAnswer};
use super::{Shared, control, webhooks};
use crate::providers::sim_faults::Fault;

pub(super) async fn handle(
    State(sh): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if path.starts_with("/_sim/") || path == "/_sim" {
        return control::handle(&sh, &method, &path, &body);
    }
    let query: Vec<(String, String)> = Query::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    let request_id = headers
        .get("paypal-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    let verdict = sh.lock_faults().take(&path);
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    let lose = verdict.error == Some(Fault::LoseAnswer);
    let (status, answer, replayed, retry_after) = match verdict.error {
        Some(Fault::RateLimit { retry_after_secs }) => {
            let e = ApiError::rate_limited();
            (e.status, Some(e.body()), false, Some(retry_after_secs))
        }
        Some(Fault::ServerError | Fault::Delay { .. }) => {
            let e = ApiError::server();
            (e.status, Some(e.body()), false, None)
        }
        None | Some(Fault::LoseAnswer) if method == Method::POST && path == "/v1/oauth2/token" => {
            let (s, a) = token(&sh, &headers, &body);
            (s, Some(a), false, None)
        }
        None | Some(Fault::LoseAnswer) => {
            let (s, a, r) = answer(
                &sh,
                &method,
                &path,
                &query,
                &headers,
                &body,
                request_id.as_deref(),
            );
            (s, a, r, None)
        }
    };
    sh.lock_store().log.push(LoggedRequest {
        method: method.to_string(),
        path: path.clone(),
        request_id: request_id.clone(),
        status,
        replayed,
    });
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match answer {
        Some(v) => (code, axum::Json(v)).into_response(),
        None => code.into_response(),
    };
    let h = resp.headers_mut();
    h.insert("Paypal-Debug-Id", HeaderValue::from_static("f00dcafe0000"));
    if let Some(s) = retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        h.insert("Retry-After", v);
    }
    if lose {
        return crate::providers::sim_faults::lose_answer(resp);
    }
    resp
}

/// `POST /v1/oauth2/token`: Basic auth with the app's id and secret,
/// `grant_type=client_credentials`; a bearer token that expires after the
/// configured time on the simulator's clock.
fn token(sh: &Arc<Shared>, headers: &HeaderMap, body: &[u8]) -> (u16, Value) {
    let invalid_client = (
        401,
        json!({"error": "invalid_client", "error_description": "Client Authentication failed"}),
    );
    let Some(basic) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return invalid_client;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
        return invalid_client;
    };
    let text = String::from_utf8_lossy(&decoded);
    let (id, secret) = text.split_once(':').unwrap_or((&text, ""));
    let id_ok = constant_eq(id.as_bytes(), sh.client_id.as_bytes());
    let secret_ok = constant_eq(secret.as_bytes(), sh.client_secret.as_bytes());
    if !(id_ok && secret_ok) {
        return invalid_client;
    }
    let form = String::from_utf8_lossy(body);
    if !form
        .split('&')
        .any(|p| p == "grant_type=client_credentials")
    {
        return (
            400,
            json!({"error": "unsupported_grant_type", "error_description": "Grant Type is NULL or not supported"}),
        );
    }
    let mut store = sh.lock_store();
    let token = format!("A21AA{}", store.new_id("", 6).replace('-', ""));
    let expires = crate::clock::add(store.now(), sh.token_ttl);
    store.tokens.insert(token.clone(), expires);
    (
        200,
        json!({
            "scope": "https://uri.paypal.com/services/invoicing https://uri.paypal.com/services/applications/webhooks",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": sh.token_ttl.as_secs(),
            "nonce": format!("{}flowc-sim", store.now_text()),
        }),
    )
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A bearer token the token endpoint gave and that has not expired.
fn authorized(store: &Store, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| store.tokens.get(t.trim()))
        .is_some_and(|exp| *exp > store.now())
}

/// Auth, the body, idempotency and the route; (status, body, replayed).
fn answer(
    sh: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
    request_id: Option<&str>,
) -> (u16, Option<Value>, bool) {
    let fail = |e: ApiError| (e.status, Some(e.body()), false);
    let mut store = sh.lock_store();
    if !authorized(&store, headers) {
        return fail(ApiError::unauthorized());
    }
    let json_body = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => v,
            Err(e) => {
                return fail(ApiError::invalid(
                    "MALFORMED_REQUEST_JSON",
                    format!("The request JSON is not well formed: {e}"),
                    None,
                ));
            }
        }
    };
    // PayPal's invoicing API declares no `PayPal-Request-Id` (its spec has no
    // such parameter): a repeated invoicing call is applied again.
    let idempotent =
        *method == Method::POST && request_id.is_some() && !path.starts_with("/v2/invoicing/");
    if idempotent
        && let Some(k) = request_id
        && let Some(s) = store.idempotency.get(k)
        && s.method == method.as_str()
        && s.path == path
    {
        return (
            s.status,
            Some(s.answer.clone()).filter(|a| !a.is_null()),
            true,
        );
    }
    let representation = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.contains("return=representation"));
    let (status, out) = match route(
        sh,
        &mut store,
        method.as_str(),
        path,
        query,
        &json_body,
        representation,
    ) {
        Ok((s, v)) => (s, v),
        Err(e) => (e.status, Some(e.body())),
    };
    // PayPal keeps the answer of a request id (not of a failed server answer).
    if idempotent
        && status < 500
        && let Some(k) = request_id
    {
        store.idempotency.insert(
            k.to_string(),
            StoredAnswer {
                method: method.to_string(),
                path: path.to_string(),
                status,
                answer: out.clone().unwrap_or(Value::Null),
            },
        );
    }
    sh.flush(&mut store);
    (status, out, false)
}

/// The routes of PayPal's API the simulator serves.
fn route(
    sh: &Arc<Shared>,
    store: &mut Store,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &Value,
    representation: bool,
) -> Result<(u16, Option<Value>), ApiError> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let num = |k: &str, d: usize| q(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let ok = |v: Value| Ok((200, Some(v)));
    match (method, segs.as_slice()) {
        ("POST", ["v2", "invoicing", "invoices"]) => {
            let inv = store.create_invoice(body)?;
            if representation {
                Ok((201, Some(inv)))
            } else {
                let id = inv["id"].as_str().unwrap_or_default();
                Ok((
                    201,
                    Some(
                        json!({"rel": "self", "href": format!("{}/v2/invoicing/invoices/{id}", store.base_url), "method": "GET"}),
                    ),
                ))
            }
        }
        ("GET", ["v2", "invoicing", "invoices"]) => ok(store.search(
            &json!({}),
            num("page", 1),
            num("page_size", 20),
            q("total_required") == Some("true"),
        )),
        ("GET", ["v2", "invoicing", "invoices", id]) => ok(store.invoice(id)?.clone()),
        ("PUT", ["v2", "invoicing", "invoices", id]) => ok(store.update_invoice(id, body)?),
        ("DELETE", ["v2", "invoicing", "invoices", id]) => {
            store.delete_invoice(id)?;
            Ok((204, None))
        }
        ("POST", ["v2", "invoicing", "invoices", id, "send"]) => ok(store.send_invoice(id)?),
        ("POST", ["v2", "invoicing", "invoices", id, "remind"]) => {
            store.remind_invoice(id)?;
            Ok((204, None))
        }
        ("POST", ["v2", "invoicing", "invoices", id, "cancel"]) => {
            store.cancel_invoice(id)?;
            Ok((204, None))
        }
        ("POST", ["v2", "invoicing", "invoices", id, "payments"]) => {
            let method = body.get("method").and_then(Value::as_str).ok_or_else(|| {
                ApiError::invalid(
                    "MISSING_REQUIRED_PARAMETER",
                    "A required field / parameter is missing.",
                    Some("/method"),
                )
            })?;
            let id = store.pay(
                id,
                method,
                body.get("amount"),
                body.get("payment_date").and_then(Value::as_str),
                body.get("note").and_then(Value::as_str),
            )?;
            ok(json!({"payment_id": id}))
        }
        ("POST", ["v2", "invoicing", "invoices", id, "refunds"]) => {
            let id = store.refund(id, body.get("amount"))?;
            ok(json!({"refund_id": id}))
        }
        ("POST", ["v2", "invoicing", "search-invoices"]) => ok(store.search(
            body,
            num("page", 1),
            num("page_size", 20),
            q("total_required") == Some("true"),
        )),
        ("POST", ["v2", "invoicing", "generate-next-invoice-number"]) => {
            ok(json!({"invoice_number": store.next_number()}))
        }
        ("POST", ["v1", "notifications", "verify-webhook-signature"]) => {
            ok(webhooks::verify(&sh.secret, &sh.webhooks, body)?)
        }
        ("GET", ["v1", "notifications", "webhooks-events"]) => ok(webhooks::list(store, query)?),
        ("GET", ["v1", "notifications", "webhooks-events", id]) => store
            .events
            .iter()
            .find(|e| e["id"] == *id)
            .cloned()
            .map_or_else(|| Err(ApiError::not_found("webhook event", id)), ok),
        _ => Err(ApiError::unknown_route(method, path)),
    }
}
