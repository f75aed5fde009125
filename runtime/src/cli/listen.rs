//! `run --listen`: new records, signals, provider webhooks and events over HTTP.
//!
//! Every route that changes or shows state authenticates: the operator's routes
//! by the operator token ([`operator`]), provider webhooks by the provider's own
//! signature. `GET /healthz` alone is open (it says `ok` and reads nothing).
//! The routes and their credentials: `docs/routes.md`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::operator::{self, OperatorAuth};
use crate::engine::{Engine, StartError};
use crate::events::webhook::WebhookError;
use crate::events::{EventFeed, posted};
use crate::flow::Flow;
use crate::metrics::WebhookVerdict;

type Reply = (StatusCode, axum::Json<Value>);

/// The listener's routes (also what the tests drive). The operator's routes
/// need `operator`'s token (all refused when it has none); webhooks are
/// checked by their provider's signature.
pub fn router<F: Flow>(feed: Arc<EventFeed<F>>, operator: OperatorAuth) -> Router {
    let engine = feed.engine().clone();
    Router::new()
        .route("/issues", post(start::<F>))
        .route("/issues/{id}", get(status::<F>))
        .route("/issues/{id}/signals/{name}", post(signal::<F>))
        .route("/events/{name}", post(event::<F>))
        .route_layer(axum::middleware::from_fn_with_state(
            operator,
            operator::require,
        ))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(engine.clone())
        .merge(
            Router::new()
                .route("/webhooks/{connection}", post(webhook::<F>))
                // Vipps eCom callbacks: `<callbackPrefix>/v2/payments/{orderId}`.
                .route(
                    "/webhooks/{connection}/v2/payments/{order_id}",
                    post(ecom_callback::<F>),
                )
                .with_state(feed),
        )
        .merge(super::health::routes(engine.runtime().clone()))
}

/// A Vipps eCom callback under a callback prefix of `/webhooks/<connection>`:
/// a webhook of the connection (its token is checked against the body's
/// order), posted to that order's own path.
async fn ecom_callback<F: Flow>(
    State(feed): State<Arc<EventFeed<F>>>,
    Path((connection, order_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let body_order = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("orderId")?.as_str().map(str::to_string));
    if body_order.as_deref() != Some(order_id.as_str()) {
        let e = "the callback's orderId is not the order of its path";
        let rt = feed.engine().runtime();
        rt.metrics
            .webhook(provider_of(rt, &connection), WebhookVerdict::Refused);
        tracing::warn!(connection = %connection, error = e, "webhook refused");
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": e})));
    }
    webhook::<F>(State(feed), Path(connection), headers, body).await
}

/// A provider webhook: verified the provider's way on the raw body before
/// anything else; a redelivered event is 200 and changes nothing.
async fn webhook<F: Flow>(
    State(feed): State<Arc<EventFeed<F>>>,
    Path(connection): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let rt = feed.engine().runtime();
    let now = rt.clock.now();
    let answer = feed.webhook(&connection, &headers, &body, now).await;
    let verdict = match &answer {
        Ok(o) if o.duplicate => WebhookVerdict::Duplicate,
        Ok(o) if o.ignored => WebhookVerdict::Ignored,
        Ok(_) => WebhookVerdict::Accepted,
        Err(WebhookError::NotFound(_)) => WebhookVerdict::Unknown,
        Err(WebhookError::BadRequest(_)) => WebhookVerdict::Refused,
        Err(WebhookError::Unavailable(_)) => WebhookVerdict::Unavailable,
    };
    rt.metrics.webhook(provider_of(rt, &connection), verdict);
    match answer {
        Ok(o) => (
            StatusCode::OK,
            axum::Json(json!({
                "event": o.event_id, "duplicate": o.duplicate, "ignored": o.ignored, "started": o.started
            })),
        ),
        Err(e) => {
            let status = match &e {
                WebhookError::NotFound(_) => StatusCode::NOT_FOUND,
                WebhookError::BadRequest(_) => StatusCode::BAD_REQUEST,
                WebhookError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            tracing::warn!(connection = %connection, error = %e, "webhook refused");
            (status, axum::Json(json!({"error": e.to_string()})))
        }
    }
}

/// The provider of the connection a webhook's path names (`unknown` for none:
/// the label never takes what a caller wrote).
fn provider_of(rt: &crate::engine::Runtime, connection: &str) -> &'static str {
    rt.connections
        .iter()
        .find(|c| c.name == connection)
        .map_or("unknown", |c| c.provider)
}

fn invalid(e: StartError) -> Reply {
    match e {
        StartError::Invalid(r) => {
            let errs: Vec<Value> = r
                .errors
                .iter()
                .map(|e| json!({"field": e.field, "message": e.message}))
                .collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({"errors": errs})),
            )
        }
        StartError::Store(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": e.to_string()})),
        ),
    }
}

async fn start<F: Flow>(
    State(engine): State<Engine<F>>,
    axum::Json(record): axum::Json<Value>,
) -> Reply {
    match engine.start(&record).await {
        Ok(id) => (StatusCode::CREATED, axum::Json(json!({"id": id}))),
        Err(e) => invalid(e),
    }
}

async fn status<F: Flow>(State(engine): State<Engine<F>>, Path(id): Path<String>) -> Reply {
    match engine.store().load(&id).await {
        Ok(Some(r)) => (
            StatusCode::OK,
            axum::Json(json!({"id": r.id, "state": r.state, "step": r.step, "error": r.error})),
        ),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no such issue"})),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": e.to_string()})),
        ),
    }
}

async fn signal<F: Flow>(
    State(engine): State<Engine<F>>,
    Path((id, name)): Path<(String, String)>,
    axum::Json(data): axum::Json<Value>,
) -> Reply {
    match engine.signal(&id, &name, data).await {
        Ok(true) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"id": id, "signal": name})),
        ),
        Ok(false) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no active issue with this id"})),
        ),
        Err(e) => invalid(e),
    }
}

/// A provider event an operator hands over, in a generic shape: `{"id": EVENT_ID,
/// "key": OBJECT_ID, "data": {...}}` (e.g. a record of a Buckaroo response
/// file). Only an event a wait of the flow is for (404 otherwise), its `data`
/// checked against the event's outputs in the catalog (400, nothing stored).
async fn event<F: Flow>(
    State(engine): State<Engine<F>>,
    Path(name): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Reply {
    let (Some(eid), Some(key)) = (
        body.get("id").and_then(Value::as_str),
        body.get("key").and_then(Value::as_str),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "an event needs `id` and `key`"})),
        );
    };
    let defs = posted::waited_events::<F>(&name);
    if defs.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("no wait of the flow is for an event `{name}`")})),
        );
    }
    let mut data = body.get("data").cloned().unwrap_or(Value::Null);
    for (provider, def) in defs {
        match posted::check(provider, def, &data) {
            Ok(v) => data = v,
            Err(errors) => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"errors": errors})),
                );
            }
        }
    }
    let rt = engine.runtime();
    match rt
        .store
        .deliver_event(&name, key, eid, data, rt.clock.now())
        .await
    {
        Ok(new) => {
            rt.notify.notify_one();
            (StatusCode::OK, axum::Json(json!({"duplicate": !new})))
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": e.to_string()})),
        ),
    }
}
