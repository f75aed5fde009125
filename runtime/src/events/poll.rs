//! One consolidated poll of a connection's event list, the provider's way
//! ([`super::source::listing`]): Stripe's `GET /v1/events` by event-id cursor —
//! everything newer than the cursor, page by page (`has_more`), each page
//! stored with the cursor that covers it — here; PayPal's by time window in
//! [`super::window`]. Both send their list calls through [`send_list`].

use std::time::Duration;

use serde_json::Value;

use super::source::{Listing, listing};
use super::{ConnFeed, EventFeed, PollReport};
use crate::action::base_url;
use crate::flow::{Flow, StepError};
use crate::http::HttpRequest;
use crate::providers::stripe::events::{PAGE_LIMIT, Page, list_request, parse_page};

/// Attempts of one list call (429, 5xx and network errors are tried again).
const ATTEMPTS: u32 = 4;
/// The longest wait between two attempts, whatever `Retry-After` says.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// The most pages of one poll (a cursor months old is read over several polls).
pub(super) const MAX_PAGES: usize = 1000;

/// Polls one connection; the report, or why it failed (the cursor then stays
/// where the last stored page left it).
pub(super) async fn poll_connection<F: Flow>(
    feed: &EventFeed<F>,
    conn: &ConnFeed,
) -> Result<PollReport, String> {
    let Some(how) = conn.kind.and_then(listing) else {
        return Err(format!(
            "connection `{}`: polling {} events is not supported (webhooks only)",
            conn.conn.name, conn.conn.provider
        ));
    };
    let rt = feed.engine.runtime();
    let provider = flowc_catalog::provider(conn.conn.provider)
        .ok_or_else(|| format!("unknown provider `{}`", conn.conn.provider))?;
    let base = base_url(&rt.base_urls, conn.conn, provider).map_err(|e| e.to_string())?;
    let types = conn.types();
    let mut report = PollReport {
        connection: conn.conn.name.to_string(),
        ..PollReport::default()
    };
    if how == Listing::PerObject {
        return Err(format!(
            "connection `{}`: {} has no event list (its objects are read one by one)",
            conn.conn.name, conn.conn.provider
        ));
    }
    if how == Listing::TimeWindow {
        super::window::poll(feed, conn, &base, &types, &mut report).await?;
        return Ok(report);
    }
    let cursor = rt
        .store
        .feed_cursor(conn.conn.name)
        .await
        .map_err(|e| e.to_string())?;
    match cursor.as_deref() {
        // The first poll starts from now: the newest event becomes the cursor.
        // Its page is kept for waits (an invoice paid just before its issue
        // began to wait), but starts nothing.
        None => {
            let page = list(feed, conn, &base, &types, &Page::Newest, &mut report).await?;
            let cursor = newest_id(&page.events).unwrap_or_default();
            store_page(feed, conn, page.events, cursor, true, &mut report).await?;
        }
        // Polled before, when the account had no events: all of them are new.
        Some("") => {
            let mut all: Vec<Value> = Vec::new();
            let mut page = list(feed, conn, &base, &types, &Page::Newest, &mut report).await?;
            loop {
                let more = page.has_more;
                let last = page.events.last().and_then(id_of).map(str::to_string);
                all.append(&mut page.events);
                match (more, last) {
                    (true, Some(last)) if report.calls < MAX_PAGES => {
                        page = list(
                            feed,
                            conn,
                            &base,
                            &types,
                            &Page::OlderThan(&last),
                            &mut report,
                        )
                        .await?;
                    }
                    _ => break,
                }
            }
            let cursor = newest_id(&all).unwrap_or_default();
            store_page(feed, conn, all, cursor, false, &mut report).await?;
        }
        Some(c) => {
            let mut cursor = c.to_string();
            for _ in 0..MAX_PAGES {
                let page = list(
                    feed,
                    conn,
                    &base,
                    &types,
                    &Page::NewerThan(&cursor),
                    &mut report,
                )
                .await?;
                let Some(newest) = newest_id(&page.events) else {
                    break;
                };
                cursor = newest;
                let more = page.has_more;
                store_page(feed, conn, page.events, cursor.clone(), false, &mut report).await?;
                if !more {
                    break;
                }
            }
        }
    }
    Ok(report)
}

fn id_of(v: &Value) -> Option<&str> {
    v.get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The newest event of a page (Stripe lists newest first).
fn newest_id(events: &[Value]) -> Option<String> {
    events.first().and_then(id_of).map(str::to_string)
}

/// Stores a page (given newest first) oldest first, with its cursor.
async fn store_page<F: Flow>(
    feed: &EventFeed<F>,
    conn: &ConnFeed,
    mut events: Vec<Value>,
    cursor: String,
    first_poll: bool,
    report: &mut PollReport,
) -> Result<(), String> {
    events.reverse();
    report.listed += events.len();
    let (out, skipped) = feed.ingest(conn, &events, Some(cursor), first_poll).await?;
    report.skipped += skipped;
    report.outcome.delivered += out.delivered;
    report.outcome.duplicates += out.duplicates;
    report.outcome.started.extend(out.started);
    Ok(())
}

/// One Stripe list call.
async fn list<F: Flow>(
    feed: &EventFeed<F>,
    conn: &ConnFeed,
    base: &str,
    types: &[&str],
    page: &Page<'_>,
    report: &mut PollReport,
) -> Result<crate::providers::stripe::events::EventPage, String> {
    let req: HttpRequest = list_request(base, types, page, PAGE_LIMIT);
    parse_page(&send_list(feed, conn, base, req, report).await?)
}

/// One list call of any provider, authorized like the connection's actions,
/// tried again on 429, 5xx and network errors; the answer's body.
pub(super) async fn send_list<F: Flow>(
    feed: &EventFeed<F>,
    conn: &ConnFeed,
    base: &str,
    req: HttpRequest,
    report: &mut PollReport,
) -> Result<String, String> {
    let rt = feed.engine.runtime();
    let kind = conn.kind.ok_or("no provider support")?;
    let req = kind
        .authorize(rt, conn.conn, base, req)
        .map_err(|e| e.to_string())?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        report.calls += 1;
        rt.metrics.poll_call(conn.conn.name);
        match rt.http.execute(&req, None, rt).await {
            Ok(resp) => return Ok(resp.body),
            Err(StepError::Retry {
                message,
                retry_after,
                ..
            }) if attempt < ATTEMPTS => {
                let wait = retry_after
                    .unwrap_or(Duration::from_millis(100) * 2u32.pow(attempt))
                    .min(MAX_RETRY_WAIT);
                tracing::debug!(attempt, error = %message, "event list: trying again");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}
