//! `/_sim/…`: the simulator's own endpoints (JSON in and out), outside PayPal's
//! namespace and without auth:
//! - `GET /_sim/state`: invoices per status, events per type, deliveries per outcome;
//! - `GET /_sim/invoices`, `GET /_sim/events`, `GET /_sim/requests`, `GET /_sim/deliveries`;
//! - `POST /_sim/invoices/{id}/pay` (`{"amount": "500.00", "method": "PAYPAL"}`,
//!   both optional): the payer pays a sent invoice, in full or in part; another
//!   `method` (`BANK_TRANSFER`…) records a payment made outside PayPal;
//! - `POST /_sim/invoices/{id}/refund` (`{"amount": …}`, optional);
//! - `POST /_sim/faults` (a [`RequestFault`]), `POST /_sim/faults/webhooks`
//!   (a [`WebhookFaults`]), `GET`/`DELETE /_sim/faults`;
//! - `GET /_sim/certs/sim-cert.pem`: what `PAYPAL-CERT-URL` names (a placeholder:
//!   the simulator's signature is checked by its verify endpoint only);
//! - `POST /_sim/reset`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiError;
use super::{Shared, SimState};
use crate::providers::sim_faults::{Faults, RequestFault, WebhookFaults};

fn reply(status: u16, v: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        axum::Json(v),
    )
        .into_response()
}

fn err(e: &ApiError) -> Response {
    reply(e.status, e.body())
}

fn counts<'a>(values: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for v in values {
        *m.entry(v.to_string()).or_insert(0) += 1;
    }
    m
}

pub(super) fn handle(sh: &Arc<Shared>, method: &Method, path: &str, body: &[u8]) -> Response {
    let state = SimState { shared: sh.clone() };
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let json_body = || -> Result<Value, ApiError> {
        if body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(body).map_err(|e| {
            ApiError::invalid(
                "MALFORMED_REQUEST_JSON",
                format!("Invalid JSON body: {e}"),
                None,
            )
        })
    };
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["state"]) => {
            let invoices = state.invoices();
            let events = state.events();
            let deliveries = state.deliveries();
            reply(
                200,
                json!({
                    "invoices": counts(invoices.iter().filter_map(|i| i["status"].as_str())),
                    "events": counts(events.iter().filter_map(|e| e["event_type"].as_str())),
                    "deliveries": counts(deliveries.iter().map(|d| d.outcome.as_str())),
                    "requests": state.requests().len(),
                }),
            )
        }
        ("GET", ["invoices"]) => reply(200, json!({"items": state.invoices()})),
        ("GET", ["events"]) => reply(200, json!({"events": state.events()})),
        ("GET", ["requests"]) => reply(200, json!({"data": state.requests()})),
        ("GET", ["deliveries"]) => reply(200, json!({"data": state.deliveries()})),
        ("GET", ["certs", _]) => (
            StatusCode::OK,
            "-----BEGIN CERTIFICATE-----\nflowc PayPal simulator: signatures are checked by POST /v1/notifications/verify-webhook-signature\n-----END CERTIFICATE-----\n",
        )
            .into_response(),
        ("POST", ["faults"]) => match json_body().and_then(|v| {
            serde_json::from_value::<RequestFault>(v).map_err(|e| {
                ApiError::invalid("INVALID_PARAMETER_VALUE", format!("Invalid fault: {e}"), None)
            })
        }) {
            Ok(f) => {
                sh.lock_faults().add(f);
                reply(200, json!({"faults": *sh.lock_faults()}))
            }
            Err(e) => err(&e),
        },
        ("POST", ["faults", "webhooks"]) => match json_body().and_then(|v| {
            serde_json::from_value::<WebhookFaults>(v).map_err(|e| {
                ApiError::invalid("INVALID_PARAMETER_VALUE", format!("Invalid webhook faults: {e}"), None)
            })
        }) {
            Ok(f) if (0.0..=1.0).contains(&f.drop_fraction) => {
                sh.lock_faults().webhooks = f;
                reply(200, json!({"faults": *sh.lock_faults()}))
            }
            Ok(_) => err(&ApiError::invalid(
                "INVALID_PARAMETER_VALUE",
                "drop_fraction must be between 0 and 1",
                Some("/drop_fraction"),
            )),
            Err(e) => err(&e),
        },
        ("GET", ["faults"]) => reply(200, json!({"faults": *sh.lock_faults()})),
        ("DELETE", ["faults"]) => {
            *sh.lock_faults() = Faults::default();
            reply(200, json!({"faults": *sh.lock_faults()}))
        }
        ("POST", ["invoices", id, "pay"]) => {
            let out = json_body().and_then(|v| {
                let amount = amount_text(&v)?;
                let method = v["method"].as_str().unwrap_or("PAYPAL").to_string();
                pay(sh, id, amount.as_deref(), &method)
            });
            match out {
                Ok(v) => reply(200, v),
                Err(e) => err(&e),
            }
        }
        ("POST", ["invoices", id, "refund"]) => {
            match json_body().and_then(|v| refund(sh, id, amount_text(&v)?.as_deref())) {
                Ok(v) => reply(200, v),
                Err(e) => err(&e),
            }
        }
        ("POST", ["reset"]) => {
            reset(sh);
            reply(200, json!({"reset": true}))
        }
        _ => err(&ApiError::unknown_route(method.as_str(), path)),
    }
}

/// `amount` of a control body: a decimal string or number, or none.
fn amount_text(v: &Value) -> Result<Option<String>, ApiError> {
    match &v["amount"] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(ApiError::invalid(
            "INVALID_PARAMETER_VALUE",
            "`amount` is a decimal string such as \"500.00\"",
            Some("/amount"),
        )),
    }
}

/// A payment on an invoice (see [`super::PayPalSim::pay_invoice`]); the invoice after it.
pub(super) fn pay(
    sh: &Arc<Shared>,
    id: &str,
    amount: Option<&str>,
    method: &str,
) -> Result<Value, ApiError> {
    let mut store = sh.lock_store();
    let amount = amount.map(|a| json!({"value": a}));
    store.pay(id, method, amount.as_ref(), None, None)?;
    let inv = store.invoice(id)?.clone();
    sh.flush(&mut store);
    Ok(inv)
}

/// A refund of a paid invoice; the invoice after it.
pub(super) fn refund(sh: &Arc<Shared>, id: &str, amount: Option<&str>) -> Result<Value, ApiError> {
    let mut store = sh.lock_store();
    let amount = amount.map(|a| json!({"value": a}));
    store.refund(id, amount.as_ref())?;
    let inv = store.invoice(id)?.clone();
    sh.flush(&mut store);
    Ok(inv)
}

pub(super) fn reset(sh: &Arc<Shared>) {
    sh.lock_store().reset();
    sh.lock_deliveries().clear();
    *sh.lock_faults() = Faults::default();
}
