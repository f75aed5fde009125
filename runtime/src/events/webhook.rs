//! Webhooks (`POST /webhooks/{connection}` of `run --listen`): Stripe's signature
//! checked against the connection's `webhook_secret`, then the event stored like
//! a polled one (same deduplication by event id, same trigger starts), without
//! moving the poll cursor. The secret and the signature are never logged.

use std::fmt;

use jiff::Timestamp;
use serde_json::Value;

use super::EventFeed;
use crate::flow::Flow;
use crate::providers::stripe::events::event_head;
use crate::providers::stripe::signature::{TOLERANCE_SECS, verify};
use crate::providers::{Kind, credential, credential_source};
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
        signature: Option<&str>,
        body: &[u8],
        now: Timestamp,
    ) -> Result<WebhookOutcome, WebhookError> {
        let conn = F::connections()
            .iter()
            .find(|c| c.name == connection)
            .ok_or_else(|| WebhookError::NotFound(format!("no connection `{connection}`")))?;
        if Kind::from_name(conn.provider) != Some(Kind::Stripe) {
            return Err(WebhookError::NotFound(format!(
                "connection `{connection}` ({}) takes no webhooks here",
                conn.provider
            )));
        }
        if credential_source(conn, "webhook_secret").is_err() {
            return Err(WebhookError::NotFound(format!(
                "connection `{connection}` has no `webhook_secret` credential"
            )));
        }
        let secret = credential(conn, "webhook_secret")
            .map_err(|e| WebhookError::Unavailable(format!("connection `{connection}`: {e}")))?;
        verify(
            signature,
            body,
            secret.expose(),
            now.as_second(),
            TOLERANCE_SECS,
        )
        .map_err(|e| WebhookError::BadRequest(e.to_string()))?;
        let raw: Value = serde_json::from_slice(body)
            .map_err(|e| WebhookError::BadRequest(format!("the body is not JSON: {e}")))?;
        let head = event_head(&raw).map_err(WebhookError::BadRequest)?;
        let event_id = head.id.to_string();
        let Some(feed) = self.feeds.iter().find(|f| f.conn.name == connection) else {
            return Ok(ignored(event_id));
        };
        if !feed.waits.contains(&head.ty) && !feed.triggers.contains(&head.ty) {
            return Ok(ignored(event_id));
        }
        let (prepared_event, prepared_start) = self
            .prepare(feed, &raw, false, now)
            .map_err(WebhookError::BadRequest)?;
        let (out, _) = self
            .ingest(feed, std::slice::from_ref(&raw), None, false)
            .await
            .map_err(WebhookError::Unavailable)?;
        let FeedOutcome {
            delivered, started, ..
        } = out;
        let duplicate = (prepared_event.is_none() || delivered == 0)
            && (prepared_start.is_none() || started.is_empty());
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
