//! `run --listen`: new records, signals and provider events over HTTP.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::engine::{Engine, StartError};
use crate::flow::Flow;

type Reply = (StatusCode, axum::Json<Value>);

pub(super) fn router<F: Flow>(engine: Engine<F>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/issues", post(start::<F>))
        .route("/issues/{id}", get(status::<F>))
        .route("/issues/{id}/signals/{name}", post(signal::<F>))
        .route("/events/{name}", post(event::<F>))
        .with_state(engine)
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
