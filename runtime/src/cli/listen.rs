//! `run --listen`: new records, signals, provider webhooks and events over HTTP.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::engine::{Engine, StartError};
use crate::events::EventFeed;
use crate::events::webhook::WebhookError;
use crate::flow::Flow;

type Reply = (StatusCode, axum::Json<Value>);

/// The listener's routes (also what the tests drive).
pub fn router<F: Flow>(feed: Arc<EventFeed<F>>) -> Router {
    let engine = feed.engine().clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/issues", post(start::<F>))
        .route("/issues/{id}", get(status::<F>))
        .route("/issues/{id}/signals/{name}", post(signal::<F>))
        .route("/events/{name}", post(event::<F>))
        .with_state(engine.clone())
        .merge(
            Router::new()
                .route("/webhooks/{connection}", post(webhook::<F>))
                .with_state(feed),
        )
        .merge(super::health::routes(engine.runtime().clone()))
}

/// A provider webhook: the signature is checked on the raw body before anything
/// else; a redelivered event is 200 and changes nothing.
async fn webhook<F: Flow>(
    State(feed): State<Arc<EventFeed<F>>>,
    Path(connection): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let now = feed.engine().runtime().clock.now();
    match feed.webhook(&connection, signature, &body, now).await {
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

/// A provider event in a generic shape: `{"id": EVENT_ID, "key": OBJECT_ID, "data": {...}}`.
/// (Provider-specific webhook verification comes with the provider adapters.)
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
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"error": "an event needs `id` and `key`"})),
        );
    };
    let data = body.get("data").cloned().unwrap_or(Value::Null);
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
