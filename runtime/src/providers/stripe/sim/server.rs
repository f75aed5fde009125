//! The HTTP front: faults, auth, parameter decoding, idempotency, the request
//! log, then [`routes::dispatch`] under the store's lock (so two requests with
//! one idempotency key never both create an object), then webhook deliveries.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::error::ApiError;
use super::faults::Fault;
use super::store::{LoggedRequest, Params, StoredAnswer};
use super::{Shared, control, form, routes, webhooks};

pub(super) async fn handle(
    State(sh): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if path.starts_with("/_sim/") || path == "/_sim" {
        return control::handle(&sh, &method, &path, uri.query(), &body);
    }
    if method == Method::GET && path.starts_with("/i/") {
        return hosted_page(&sh, &path);
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let verdict = sh.lock_faults().take(&path);
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    let lose = verdict.error == Some(Fault::LoseAnswer);
    let (status, answer, replayed, extra) = match verdict.error {
        Some(Fault::RateLimit { retry_after_secs }) => {
            let e = ApiError::rate_limited();
            (
                e.status,
                e.body(),
                false,
                Some(("Retry-After", retry_after_secs.to_string())),
            )
        }
        Some(Fault::ServerError | Fault::Delay { .. }) => {
            let e = ApiError::server();
            (e.status, e.body(), false, None)
        }
        None | Some(Fault::LoseAnswer) => {
            let (status, answer, replayed) = answer(
                &sh,
                &method,
                &path,
                uri.query(),
                &headers,
                &body,
                key.as_deref(),
            );
            (status, answer, replayed, None)
        }
    };
    {
        let mut store = sh.lock_store();
        store.log.push(LoggedRequest {
            method: method.to_string(),
            path: path.clone(),
            idempotency_key: key.clone(),
            status,
            replayed,
        });
    }
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(answer),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        "Stripe-Version",
        HeaderValue::from_static(super::super::API_VERSION),
    );
    if let Some(k) = key.as_deref().and_then(|k| HeaderValue::from_str(k).ok()) {
        h.insert("Idempotency-Key", k);
    }
    if replayed {
        h.insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    }
    if let Some((name, value)) = extra
        && let Ok(v) = HeaderValue::from_str(&value)
    {
        h.insert(name, v);
    }
    if lose {
        return crate::providers::sim_faults::lose_answer(resp);
    }
    resp
}

/// The key from `Authorization: Bearer sk_test_…` (or Basic with the key as user name).
fn api_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let raw = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "You did not provide an API key. You need to provide your API key in the Authorization header, \
                 using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        })?;
    let key = if let Some(k) = raw.strip_prefix("Bearer ") {
        k.trim().to_string()
    } else if let Some(b) = raw.strip_prefix("Basic ") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|_| ApiError::unauthorized("Invalid Basic authorization header."))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        text.split(':').next().unwrap_or_default().to_string()
    } else {
        return Err(ApiError::unauthorized(
            "Invalid authorization header: use Bearer auth.",
        ));
    };
    if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
        Ok(key)
    } else {
        // Shown like Stripe does: the start and the last four only.
        let tail: String = key
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let head: String = key.chars().take_while(|c| *c != '_').collect();
        Err(ApiError::unauthorized(format!(
            "Invalid API Key provided: {head}_****{tail} (the simulator takes test keys only: sk_test_… or rk_test_…)"
        )))
    }
}

/// Auth, parameters, idempotency and the route; returns (status, body, replayed).
fn answer(
    sh: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    key: Option<&str>,
) -> (u16, Value, bool) {
    let fail = |e: ApiError| (e.status, e.body(), false);
    if let Err(e) = api_key(headers) {
        return fail(e);
    }
    let params = match decode_params(method, query, body) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let idempotent = *method == Method::POST && key.is_some_and(|k| !k.is_empty());
    let stored_params = Value::Object(params.0.clone());
    let mut store = sh.lock_store();
    if idempotent && let Some(k) = key {
        if let Some(s) = store.idempotency.get(k) {
            return if s.method == method.as_str() && s.path == path && s.body == stored_params {
                (s.status, s.answer.clone(), true)
            } else {
                fail(ApiError::idempotency(k))
            };
        }
        if k.len() > 255 {
            return fail(
                ApiError::invalid("Idempotency keys are limited to 255 characters.")
                    .param("Idempotency-Key"),
            );
        }
    }
    let mut cx = routes::Ctx {
        store: &mut store,
        params,
        key: key.filter(|_| idempotent),
    };
    let (status, answer) = match routes::dispatch(&mut cx, method.as_str(), path) {
        Ok(v) => (200, v),
        Err(e) => (e.status, e.body()),
    };
    if idempotent && let Some(k) = key {
        store.idempotency.insert(
            k.to_string(),
            StoredAnswer {
                method: method.to_string(),
                path: path.to_string(),
                body: stored_params,
                status,
                answer: answer.clone(),
            },
        );
    }
    let jobs = webhooks::jobs(&mut store);
    drop(store);
    webhooks::spawn(sh, jobs);
    (status, answer, false)
}

fn decode_params(method: &Method, query: Option<&str>, body: &[u8]) -> Result<Params, ApiError> {
    let mut params = form::decode(query.unwrap_or(""))?;
    if *method == Method::POST && !body.is_empty() {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::invalid("The request body is not valid UTF-8."))?;
        if text.trim_start().starts_with('{') {
            return Err(ApiError::invalid(
                "Invalid request: Stripe takes form-encoded bodies (application/x-www-form-urlencoded), not JSON.",
            ));
        }
        let from_body = form::decode(text)?;
        if let (Value::Object(p), Value::Object(b)) = (&mut params, from_body) {
            p.extend(b);
        }
    }
    Ok(Params::new(params))
}

/// `hosted_invoice_url`: a minimal page naming the invoice, its amount and status.
fn hosted_page(sh: &Arc<Shared>, path: &str) -> Response {
    let id = path.trim_start_matches("/i/").trim_end_matches("/pdf");
    match sh.lock_store().get("invoice", id) {
        Some(i) => axum::response::Html(format!(
            "<!doctype html><title>Invoice {}</title><h1>Invoice {}</h1><p>Amount due: {} {}</p><p>Status: {}</p>",
            i["number"].as_str().unwrap_or(id),
            i["number"].as_str().unwrap_or(id),
            i["amount_due"],
            i["currency"].as_str().unwrap_or_default().to_uppercase(),
            i["status"].as_str().unwrap_or_default(),
        ))
        .into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({"error": {"type": "invalid_request_error", "message": "No such invoice"}}))).into_response(),
    }
}
