//! The poll of an event list read by time window (PayPal's `GET
//! /v1/notifications/webhooks-events?start_time=…&end_time=…`, newest first,
//! paged by its `next` link): every event from a little before the end of the
//! last window read whole to now, in one batch with the new cursor (the window's
//! end).
//!
//! Why the event list and not `search-invoices` by status and date (the other
//! way to find a payment whose webhook was lost), for PayPal:
//! - it lists the very events the webhooks deliver, with the same ids, so the
//!   store's deduplication by event id makes an event found by webhook and by
//!   poll count once — `search-invoices` has no event ids, and a poll would have
//!   to make some up from status changes, remembering every open invoice's
//!   last status;
//! - one call per page covers every open issue of the connection, and the
//!   pages cover only what happened since the last poll; `search-invoices` has
//!   no "changed since" filter, so each poll would page through every open
//!   invoice of the account, and a PAID then REFUNDED invoice between two polls
//!   would show only its last status;
//! - the catalog's event outputs are paths into the event, which the list
//!   carries as the webhook does.
//!
//! The cost: PayPal lists the events of the app's webhooks, so a connection
//! that polls needs a webhook subscribed to its events (docs/paypal-simulator.md).

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::poll::{MAX_PAGES, send_list};
use super::{ConnFeed, EventFeed, PollReport};
use crate::flow::Flow;
use crate::providers::paypal::events::{list_request, parse_page};

/// How far before the last window's end the next one starts: an event stamped a
/// little before it became listable, or by a clock a little apart, is still
/// read (read twice, it is deduplicated by its id).
const OVERLAP: Duration = Duration::from_secs(300);
/// How far back the first poll of a connection looks: events from before it
/// are kept for waits (an invoice paid just before its issue began to wait),
/// but start no issue.
const FIRST_LOOKBACK: Duration = Duration::from_secs(86_400);

/// Polls one connection whose events are listed by time window.
pub(super) async fn poll<F: Flow>(
    feed: &EventFeed<F>,
    conn: &ConnFeed,
    base: &str,
    types: &[&str],
    report: &mut PollReport,
) -> Result<(), String> {
    let rt = feed.engine.runtime();
    let now = rt.clock.now();
    let cursor = rt
        .store
        .feed_cursor(conn.conn.name)
        .await
        .map_err(|e| e.to_string())?;
    let first_poll = cursor.is_none();
    let start = match cursor.as_deref().map(str::parse::<Timestamp>) {
        Some(Ok(t)) => before(t, OVERLAP),
        Some(Err(_)) | None => before(now, FIRST_LOOKBACK),
    };
    let only = match types {
        [one] => Some(*one),
        _ => None,
    };
    let mut events: Vec<Value> = Vec::new();
    let mut page: Option<Vec<(String, String)>> = None;
    let mut whole = false;
    for _ in 0..MAX_PAGES {
        let req = list_request(base, start, now, only, page.as_deref());
        let body = send_list(feed, conn, base, req, report).await?;
        let mut p = parse_page(&body)?;
        events.append(&mut p.events);
        match p.next {
            Some(next) => page = Some(next),
            None => {
                whole = true;
                break;
            }
        }
    }
    // Oldest first, as they happened (the list is newest first).
    events.sort_by(|a, b| {
        let t = |e: &Value| e["create_time"].as_str().unwrap_or_default().to_string();
        t(a).cmp(&t(b))
    });
    report.listed += events.len();
    // A window not read to its end keeps the old cursor: the next poll reads
    // it again (what was stored now is deduplicated then).
    let next_cursor = if whole {
        Some(now.to_string())
    } else {
        tracing::warn!(
            connection = conn.conn.name,
            "event list: more than {MAX_PAGES} pages, read again next time"
        );
        cursor.clone()
    };
    let (out, skipped) = feed.ingest(conn, &events, next_cursor, first_poll).await?;
    report.skipped += skipped;
    report.outcome.delivered += out.delivered;
    report.outcome.duplicates += out.duplicates;
    report.outcome.started.extend(out.started);
    Ok(())
}

/// `t - d`, saturating at the start of time.
fn before(t: Timestamp, d: Duration) -> Timestamp {
    let sd = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    t.checked_sub(sd).unwrap_or(Timestamp::MIN)
}
