//! Routes for operators on `run --listen`: `/readyz` (the store answers) and
//! `/metrics` (Prometheus text, see [`crate::metrics`]). `/healthz` (the
//! process is up) is in `listen.rs`.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use std::sync::Arc;

use crate::engine::Runtime;

/// `/readyz` and `/metrics`.
pub fn routes(rt: Arc<Runtime>) -> Router {
    Router::new()
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(rt)
}

/// 200 when the store answers, else 503 (a load balancer sends nothing here).
async fn ready(State(rt): State<Arc<Runtime>>) -> impl IntoResponse {
    match rt.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready".to_string()),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the store does not answer: {e}"),
        ),
    }
}

async fn metrics(State(rt): State<Arc<Runtime>>) -> impl IntoResponse {
    let text = rt.metrics.render(rt.store.as_ref()).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::SystemClock;
    use crate::http::HttpClient;
    use crate::retry::RetryPolicy;

    async fn serve(rt: Arc<Runtime>) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(l, routes(rt)).await;
        });
        format!("http://{addr}")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ready_while_the_store_answers_and_metrics_in_prometheus_text() {
        // On PostgreSQL, so that the store can go away under the listener.
        let pg = crate::testing::TestPostgres::start();
        let url = pg.create_database();
        let store =
            crate::store::conformance::pg_store(&url, std::time::Duration::from_secs(30)).await;
        let rt = Arc::new(Runtime {
            store: Arc::new(store),
            clock: Arc::new(SystemClock),
            http: HttpClient::new(),
            flow: "f",
            connections: &[],
            default_retry: RetryPolicy::default(),
            base_urls: Default::default(),
            notify: tokio::sync::Notify::new(),
            // Its own figures, not the process's (other tests start issues).
            metrics: crate::metrics::Metrics::new(),
        });
        rt.metrics.issues_started(3);
        let base = serve(rt).await;
        let c = reqwest::Client::new();
        let r = c.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = c.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
        let text = r.text().await.unwrap();
        assert!(text.contains("flowc_issues_started_total 3"), "{text}");
        assert!(text.contains("flowc_store_up 1"), "{text}");
        drop(pg);
        let r = c.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 503, "the database is gone");
        let text = c
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("flowc_store_up 0"), "{text}");
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod metrics_tests;
