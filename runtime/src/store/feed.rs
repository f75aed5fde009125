//! What the event feed and the webhook listener need of the store: the feed's
//! cursor, and one transaction that stores a page of provider events
//! (deduplicated by event id), starts the issues of trigger events (one per
//! event id, ever) and moves the cursor past them.

use jiff::Timestamp;
use serde_json::Value;

use super::{NewIssue, StoreResult};
use crate::clock::BoxFuture;

/// A provider event to store and match against waiting issues.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    /// The provider's event id (`evt_…`): the deduplication key.
    pub event_id: String,
    /// The event's name as waits spell it: `invoice.paid`.
    pub name: String,
    /// The object it is about (`data.object.id`): the `for` of a wait.
    pub key: String,
    /// The event's outputs (the wait's payload).
    pub data: Value,
}

/// An issue that a trigger event starts, unless that event started one before.
#[derive(Debug, Clone)]
pub struct FeedStart {
    pub event_id: String,
    pub issue: NewIssue,
}

/// One transaction of the feed or the webhook listener.
#[derive(Debug, Clone)]
pub struct FeedBatch {
    /// The feed (one per connection), for the cursor.
    pub feed: String,
    /// The newest event id handled, when this batch moves the cursor (polls do,
    /// webhooks do not).
    pub cursor: Option<String>,
    pub events: Vec<FeedEvent>,
    pub starts: Vec<FeedStart>,
    pub now: Timestamp,
}

/// What a batch changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedOutcome {
    /// Events stored for the first time.
    pub delivered: usize,
    /// Events seen before (by webhook, poll, or both), changed nothing.
    pub duplicates: usize,
    /// Ids of the issues started.
    pub started: Vec<String>,
}

/// The store side of provider events (a supertrait of [`super::Store`]).
pub trait FeedStore {
    /// The newest event id a feed handled; `Some("")` when it has polled and the
    /// provider had no events yet; `None` before its first poll.
    fn feed_cursor(&self, feed: &str) -> BoxFuture<'static, StoreResult<Option<String>>>;
    /// Stores events, starts trigger issues and moves the cursor, in one transaction.
    fn ingest_events(&self, batch: FeedBatch) -> BoxFuture<'static, StoreResult<FeedOutcome>>;
    /// Whether any issue waits on a match key that starts with `prefix`
    /// (`event:invoice.paid:`).
    fn waiting_on(&self, prefix: &str) -> BoxFuture<'static, StoreResult<bool>>;
    /// Every waiting issue whose match key starts with `prefix`, as (issue id,
    /// match key), by match key: the objects a per-object poll reads
    /// (`crate::events`).
    fn waiting_for(&self, prefix: &str) -> BoxFuture<'static, StoreResult<Vec<(String, String)>>>;
}
