//! The HTTP front: `/_sim/` control, faults, the access token endpoint, the
//! token, subscription key and merchant serial number on every call,
//! `X-Request-Id` replays, the request log, then the route.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::store::{LoggedRequest, SimError};
use super::{Shared, WebhookFaults};
use crate::providers::sim_faults::{Fault, RequestFault};

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(super) async fn handle(
    axum::extract::State(sh): axum::extract::State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if path.starts_with("/_sim/") {
        return control(&sh, &method, &path, &body);
    }
    // eCom replays by `X-Request-Id`, ePayment by `Idempotency-Key` (read
    // by its routes); the log shows whichever was sent.
    let request_id = header(&headers, "x-request-id")
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    let logged_id = request_id.clone().or_else(|| {
        header(&headers, "idempotency-key")
            .filter(|k| !k.is_empty())
            .map(str::to_string)
    });
    let verdict = sh.lock_faults().take(&path);
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    let lose = verdict.error == Some(Fault::LoseAnswer);
    let mut retry_after = None;
    let mut replayed = false;
    let (status, answer) = match verdict.error {
        Some(Fault::RateLimit { retry_after_secs }) => {
            retry_after = Some(retry_after_secs);
            let e = SimError::new(429, "VippsError", "429", "Too many requests");
            (e.status, e.body)
        }
        Some(Fault::ServerError | Fault::Delay { .. }) => {
            let e = SimError::new(500, "VippsError", "500", "Internal error");
            (e.status, e.body)
        }
        None | Some(Fault::LoseAnswer) if method == Method::POST && path == "/accesstoken/get" => {
            token(&sh, &headers)
        }
        None | Some(Fault::LoseAnswer) => {
            match api(&sh, &method, &path, &headers, &body, request_id.as_deref()) {
                Ok((s, v, r)) => {
                    replayed = r;
                    (s, v)
                }
                Err(e) => (e.status, e.body),
            }
        }
    };
    if path != "/accesstoken/get" {
        let mut st = sh.lock_store();
        let at = st.now();
        st.log.push(LoggedRequest {
            method: method.to_string(),
            path: path.clone(),
            request_id: logged_id,
            status,
            replayed,
            at,
        });
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (code, axum::Json(answer)).into_response();
    if let Some(s) = retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        resp.headers_mut().insert("Retry-After", v);
    }
    if lose {
        return crate::providers::sim_faults::lose_answer(resp);
    }
    resp
}

/// `POST /accesstoken/get`: all four headers must be the sales unit's.
fn token(sh: &Arc<Shared>, headers: &HeaderMap) -> (u16, Value) {
    let c = &sh.config;
    let ok = [
        ("client_id", &c.client_id),
        ("client_secret", &c.client_secret),
        ("ocp-apim-subscription-key", &c.subscription_key),
        ("merchant-serial-number", &c.merchant_serial_number),
    ]
    .iter()
    .fold(true, |ok, (h, want)| {
        ok & header(headers, h).is_some_and(|v| same(v, want))
    });
    if !ok {
        return (
            401,
            json!({"error": "unauthorized_client",
                   "error_description": "client_id, client_secret, Ocp-Apim-Subscription-Key or Merchant-Serial-Number is wrong"}),
        );
    }
    let mut st = sh.lock_store();
    let now = st.now();
    let token = format!("eyJ0eXAiOiJKV1Qi.sim.{:032x}", rand::random::<u128>());
    let expires = crate::clock::add(now, c.token_ttl);
    st.tokens.insert(token.clone(), expires);
    (
        200,
        json!({
            "token_type": "Bearer",
            "expires_in": c.token_ttl.as_secs().to_string(),
            "ext_expires_in": c.token_ttl.as_secs().to_string(),
            "expires_on": expires.as_second().to_string(),
            "not_before": now.as_second().to_string(),
            "resource": "00000002-0000-0000-c000-000000000000",
            "access_token": token,
        }),
    )
}

type Answer = Result<(u16, Value, bool), SimError>;

fn api(
    sh: &Arc<Shared>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    request_id: Option<&str>,
) -> Answer {
    let mut st = sh.lock_store();
    let now = st.now();
    let token_ok = header(headers, "authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .and_then(|t| st.tokens.get(t))
        .is_some_and(|exp| *exp > now);
    let sub_ok = header(headers, "ocp-apim-subscription-key")
        .is_some_and(|k| same(k, &sh.config.subscription_key));
    if !token_ok || !sub_ok {
        return Err(SimError {
            status: 401,
            body: json!({"error": "invalid_token", "error_description": "Access token or subscription key is missing, wrong or expired"}),
        });
    }
    if let Some(msn) = header(headers, "merchant-serial-number")
        && !same(msn, &sh.config.merchant_serial_number)
    {
        return Err(SimError::new(
            403,
            "Merchant",
            "21",
            "Merchant-Serial-Number is not this sales unit's",
        ));
    }
    if path.starts_with("/epayment/") || path.starts_with("/webhooks/") {
        let json: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body).map_err(|e| {
                SimError::problem(400, "Bad Request", &format!("body is not JSON: {e}"))
            })?
        };
        let key = header(headers, "idempotency-key");
        let (status, v, events, replayed) = st.epayment_route(method.as_str(), path, &json, key)?;
        drop(st);
        sh.send_events(events);
        return Ok((status, v, replayed));
    }
    // eCom's initiate is made idempotent by its order id (a second one is
    // refused), the other calls by `X-Request-Id`.
    let replays = method != Method::GET && path != "/ecomm/v2/payments";
    if let Some(id) = request_id
        && replays
        && let Some((p, s, v)) = st.replies.get(id)
        && p == path
    {
        return Ok((*s, v.clone(), true));
    }
    let json: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| {
            SimError::new(
                400,
                "InvalidRequest",
                "99",
                &format!("body is not JSON: {e}"),
            )
        })?
    };
    let rest = path.strip_prefix("/ecomm/v2/payments");
    let order_op = rest.and_then(|r| r.strip_prefix('/')).and_then(|r| {
        let (order, op) = r.split_once('/')?;
        Some((order.to_string(), op.to_string()))
    });
    let result = match (method.as_str(), rest, order_op.as_ref()) {
        ("POST", Some("" | "/"), _) => st.initiate(&json, request_id),
        ("POST", _, Some((o, op))) if op == "capture" => st.capture(o, &json, request_id),
        ("POST", _, Some((o, op))) if op == "refund" => st.refund(o, &json, request_id),
        ("PUT", _, Some((o, op))) if op == "cancel" => st.cancel(o, &json, request_id),
        ("GET", _, Some((o, op))) if op == "details" => st.details(o),
        _ => Err(SimError::new(
            404,
            "InvalidRequest",
            "404",
            &format!("no route {method} {path}"),
        )),
    };
    let (status, v) = match result {
        Ok(v) => (200, v),
        Err(e) => (e.status, e.body),
    };
    if let Some(id) = request_id
        && replays
        && status < 500
    {
        st.replies
            .insert(id.to_string(), (path.to_string(), status, v.clone()));
    }
    Ok((status, v, false))
}

/// `/_sim/`: the payer, faults, state.
fn control(sh: &Arc<Shared>, method: &Method, path: &str, body: &[u8]) -> Response {
    let reply = |status: u16, v: Value| {
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(v),
        )
            .into_response()
    };
    let rest = path.trim_start_matches("/_sim/");
    match (
        method.as_str(),
        rest.split('/').collect::<Vec<_>>().as_slice(),
    ) {
        ("POST", ["payments", order, what @ ("approve" | "reject")]) => {
            match sh.answer(order, *what == "approve") {
                Ok(d) => reply(200, d),
                Err(e) => reply(e.status, e.body),
            }
        }
        ("POST", ["payments", reference, "expire"]) => match sh.expire(reference) {
            Ok(d) => reply(200, d),
            Err(e) => reply(e.status, e.body),
        },
        ("POST", ["faults"]) => match serde_json::from_slice::<RequestFault>(body) {
            Ok(f) => {
                sh.lock_faults().add(f);
                reply(200, json!({"ok": true}))
            }
            Err(e) => reply(400, json!({"error": e.to_string()})),
        },
        ("POST", ["callbacks", "drop"]) => match serde_json::from_slice::<WebhookFaults>(body) {
            Ok(f) => {
                sh.lock_faults().webhooks = f;
                reply(200, json!({"ok": true}))
            }
            Err(e) => reply(400, json!({"error": e.to_string()})),
        },
        ("GET", ["payments"]) => reply(
            200,
            serde_json::to_value(&sh.lock_store().payments).unwrap_or(Value::Null),
        ),
        ("GET", ["requests"]) => reply(
            200,
            serde_json::to_value(&sh.lock_store().log).unwrap_or(Value::Null),
        ),
        ("GET", ["landing", order]) => reply(200, json!({"orderId": order, "landing": true})),
        _ => reply(
            404,
            json!({"error": format!("no control route {method} {path}")}),
        ),
    }
}
