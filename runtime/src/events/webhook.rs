//! Webhooks (`POST /webhooks/{connection}` of `run --listen`): the delivery is
//! verified the provider's way ([`super::source::verify`]: Stripe's signature
//! against the connection's `webhook_secret`, PayPal's by its verify endpoint
//! with the connection's `webhook_id`), then the event is stored like a polled
//! one (same deduplication by event id, same trigger starts), without moving
//! the poll cursor. Secrets and signatures are never logged.

use std::fmt;

use axum::http::HeaderMap;
use jiff::Timestamp;
use serde_json::Value;

use super::{EventFeed, source};
use crate::flow::Flow;
use crate::providers::Kind;
use crate::store::FeedOutcome;

/// Why a webhook was refused; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookError {
    /// No such connection, or not one that takes webhooks (404).
    NotFound(String),
    /// The signature, the body or the event is not right (400).
    BadRequest(String),
    /// The secret cannot be read or the store failed (503: the provider sends again).
    Unavailable(String),
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookError::NotFound(m)
            | WebhookError::BadRequest(m)
            | WebhookError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// What an accepted webhook did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookOutcome {
    pub event_id: String,
    /// Seen before (by webhook or poll): nothing changed.
    pub duplicate: bool,
    /// Of a type the flow neither waits for nor starts on.
    pub ignored: bool,
    /// The issue it started, for a trigger event.
    pub started: Option<String>,
}

impl<F: Flow> EventFeed<F> {
    /// Checks and stores one webhook delivery for `connection`.
    pub async fn webhook(
        &self,
        connection: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Result<WebhookOutcome, WebhookError> {
        let conn = F::connections()
            .iter()
            .find(|c| c.name == connection)
            .ok_or_else(|| WebhookError::NotFound(format!("no connection `{connection}`")))?;
        let Some(kind) = Kind::from_name(conn.provider) else {
            return Err(WebhookError::NotFound(format!(
                "connection `{connection}` ({}) takes no webhooks here",
                conn.provider
            )));
        };
        source::verify(self.engine.runtime(), conn, kind, headers, body, now).await?;
        let mut raw: Value = serde_json::from_slice(body)
            .map_err(|e| WebhookError::BadRequest(format!("the body is not JSON: {e}")))?;
        source::normalize(kind, &mut raw).map_err(WebhookError::BadRequest)?;
        let head = source::event_head(kind, &raw).map_err(WebhookError::BadRequest)?;
        let event_id = head.id.to_string();
        let Some(feed) = self.feeds.iter().find(|f| f.conn.name == connection) else {
            return Ok(ignored(event_id));
        };
        // The delivery, and what it also stands for, that the flow uses.
        let uses = |r: &Value| {
            source::event_head(kind, r)
                .is_ok_and(|h| feed.waits.contains(&h.ty) || feed.triggers.contains(&h.ty))
        };
        let companions = source::companions(kind, &raw);
        let used: Vec<Value> = std::iter::once(raw)
            .chain(companions)
            .filter(|r| uses(r))
            .collect();
        if used.is_empty() {
            return Ok(ignored(event_id));
        }
        let (mut wants_event, mut wants_start) = (false, false);
        for r in &used {
            let (e, s) = self
                .prepare(feed, r, false, now)
                .map_err(WebhookError::BadRequest)?;
            wants_event |= e.is_some();
            wants_start |= s.is_some();
        }
        let (out, _) = self
            .ingest(feed, &used, None, false)
            .await
            .map_err(WebhookError::Unavailable)?;
        let FeedOutcome {
            delivered, started, ..
        } = out;
        let duplicate = (!wants_event || delivered == 0) && (!wants_start || started.is_empty());
        if !duplicate {
            self.engine.runtime().notify.notify_one();
        }
        tracing::info!(connection, event = %event_id, duplicate, "webhook");
        Ok(WebhookOutcome {
            event_id,
            duplicate,
            ignored: false,
            started: started.into_iter().next(),
        })
    }
}

fn ignored(event_id: String) -> WebhookOutcome {
    WebhookOutcome {
        event_id,
        duplicate: false,
        ignored: true,
        started: None,
    }
}
