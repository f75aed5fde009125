//! `/_sim/…`: the simulator's own endpoints (JSON in and out), outside Stripe's
//! namespace and without auth:
//! - `GET /_sim/state`: object counts per kind and charges per customer;
//! - `GET /_sim/objects/{kind}[?customer=cus_…]`: the objects of a kind;
//! - `GET /_sim/requests`: the request log (method, path, idempotency key, status);
//! - `GET /_sim/deliveries`: webhook deliveries and their outcomes;
//! - `POST /_sim/faults` (a [`RequestFault`]), `POST /_sim/faults/webhooks`
//!   (a [`WebhookFaults`]), `DELETE /_sim/faults`;
//! - `POST /_sim/invoices/{id}/pay`: the customer pays an open invoice out of band;
//! - `POST /_sim/reset`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiError;
use super::faults::{Faults, RequestFault, WebhookFaults};
use super::store::Params;
use super::{Shared, SimState, form, routes, webhooks};

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

pub(super) fn handle(
    sh: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Response {
    let state = SimState { shared: sh.clone() };
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let json_body = || -> Result<Value, ApiError> {
        if body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid(format!("Invalid JSON body: {e}")))
    };
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["state"]) => {
            let store = sh.lock_store();
            let mut counts = BTreeMap::new();
            for kind in [
                "customer",
                "card",
                "product",
                "price",
                "charge",
                "payment_intent",
                "invoiceitem",
                "invoice",
                "refund",
                "event",
                "webhook_endpoint",
            ] {
                counts.insert(kind, store.all(kind).len());
            }
            drop(store);
            reply(
                200,
                json!({
                    "counts": counts,
                    "charges_per_customer": state.charges_per_customer(None),
                    "succeeded_charges_per_customer": state.charges_per_customer(Some("succeeded")),
                }),
            )
        }
        ("GET", ["objects", kind]) => {
            let filter = match form::decode(query.unwrap_or("")) {
                Ok(v) => Params::new(v),
                Err(e) => return err(&e.into()),
            };
            let customer = filter.str("customer").ok().flatten();
            let data: Vec<Value> = state
                .objects(kind)
                .into_iter()
                .filter(|o| {
                    customer
                        .as_deref()
                        .is_none_or(|c| o["customer"].as_str() == Some(c))
                })
                .collect();
            reply(200, json!({"data": data}))
        }
        ("GET", ["requests"]) => reply(200, json!({"data": state.requests()})),
        ("GET", ["deliveries"]) => reply(200, json!({"data": state.deliveries()})),
        ("POST", ["faults"]) => match json_body().and_then(|v| {
            serde_json::from_value::<RequestFault>(v)
                .map_err(|e| ApiError::invalid(format!("Invalid fault: {e}")))
        }) {
            Ok(f) => {
                sh.lock_faults().add(f);
                reply(200, json!({"faults": *sh.lock_faults()}))
            }
            Err(e) => err(&e),
        },
        ("POST", ["faults", "webhooks"]) => {
            match json_body().and_then(|v| {
                serde_json::from_value::<WebhookFaults>(v)
                    .map_err(|e| ApiError::invalid(format!("Invalid webhook faults: {e}")))
            }) {
                Ok(f) if (0.0..=1.0).contains(&f.drop_fraction) => {
                    sh.lock_faults().webhooks = f;
                    reply(200, json!({"faults": *sh.lock_faults()}))
                }
                Ok(_) => err(&ApiError::invalid("drop_fraction must be between 0 and 1")
                    .param("drop_fraction")),
                Err(e) => err(&e),
            }
        }
        ("GET", ["faults"]) => reply(200, json!({"faults": *sh.lock_faults()})),
        ("DELETE", ["faults"]) => {
            *sh.lock_faults() = Faults::default();
            reply(200, json!({"faults": *sh.lock_faults()}))
        }
        ("POST", ["invoices", id, "pay"]) => {
            let source = json_body()
                .ok()
                .and_then(|v| v["source"].as_str().map(str::to_string));
            match pay_invoice(sh, id, source.as_deref()) {
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

/// The customer pays an open invoice on the hosted page (with `source`, a test
/// card token; Visa if none): a charge, the invoice paid, the events.
pub(super) fn pay_invoice(
    sh: &Arc<Shared>,
    id: &str,
    source: Option<&str>,
) -> Result<Value, ApiError> {
    let mut store = sh.lock_store();
    let mut cx = routes::Ctx {
        store: &mut store,
        params: Params::default(),
        key: None,
    };
    let invoice = cx.store.require("invoice", id, "invoice")?;
    if invoice["status"] != "open" {
        return Err(ApiError::invalid(format!(
            "Invoice {id} is {}, not open: only open invoices can be paid.",
            invoice["status"].as_str().unwrap_or("unknown")
        ))
        .code("invoice_not_open"));
    }
    let payer = routes::charges::payer(&cx, source.unwrap_or("tok_visa"), None, "source")?;
    let out = routes::invoices::pay_with(&mut cx, id, Some(payer), false);
    let jobs = webhooks::jobs(&mut store);
    drop(store);
    webhooks::spawn(sh, jobs);
    out
}

/// A Stripe API call made outside the flow (as from the dashboard): the route
/// runs on the state with form-style parameters (string leaves), without auth,
/// faults or the request log; its events are delivered as usual.
pub(super) fn call(
    sh: &Arc<Shared>,
    method: &str,
    path: &str,
    params: Value,
) -> Result<Value, ApiError> {
    let mut store = sh.lock_store();
    let mut cx = routes::Ctx {
        store: &mut store,
        params: Params::new(params),
        key: None,
    };
    let out = routes::dispatch(&mut cx, method, path);
    let jobs = webhooks::jobs(&mut store);
    drop(store);
    webhooks::spawn(sh, jobs);
    out
}

pub(super) fn reset(sh: &Arc<Shared>) {
    sh.lock_store().reset();
    sh.lock_deliveries().clear();
    *sh.lock_faults() = Faults::default();
}
