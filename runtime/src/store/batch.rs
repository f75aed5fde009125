//! What batch steps need of the store: the spool of their open and closed
//! batches (`action::batch`). It lives in the flow's store so that replicas on
//! PostgreSQL share it: a record enters a batch once (keyed by its step's
//! idempotency key), each batch closes once, by size or by time, whichever
//! replica adds or looks last, and a closed batch's records never change, so
//! its file is the same bytes whoever writes it.
//!
//! A batch goes open -> closed (no record joins it any more; its file is to be
//! written) -> written (its file is in the outbox, under the name recorded).
//! The file is written between the two, outside the store's transaction; a
//! crash there leaves the batch closed, and the next step that looks at it
//! writes the file (the same name and bytes) and records it.

use jiff::Timestamp;
use serde_json::Value;

use super::StoreResult;
use crate::clock::BoxFuture;

/// One record for the open batch of `(provider, action, connection)`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchAdd {
    pub provider: String,
    pub action: String,
    pub connection: String,
    /// The step's idempotency key: a record is added once per key.
    pub key: String,
    pub issue: String,
    pub record: Value,
    pub now: Timestamp,
    /// The most records a batch holds; it closes when it has this many.
    pub max: u64,
    /// When a batch opened now closes by its schedule (a batch already open
    /// keeps the time it was opened with).
    pub close_at: Timestamp,
}

/// Where a record's batch stands after [`BatchStore::batch_add`].
#[derive(Debug, Clone, PartialEq)]
pub struct BatchAdded {
    /// The batch's id in the store.
    pub batch: i64,
    /// Its number among the batches of its action and connection, from 1
    /// (the number its file's name carries).
    pub number: i64,
    /// The record's place in its batch, from 1.
    pub record_number: i64,
    pub opened_at: Timestamp,
    pub close_at: Timestamp,
    pub state: BatchState,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BatchState {
    /// Records may still join it.
    Open,
    /// Closed (by this call or before) and its file not yet recorded as
    /// written: what to write. The records as (issue, record), in order.
    Closed {
        closed_at: Timestamp,
        records: Vec<(String, Value)>,
    },
    /// Its file is written, under this name.
    Written { file: String },
}

/// The store side of batch steps (a supertrait of [`super::Store`]).
pub trait BatchStore {
    /// In one transaction: adds the record to the open batch of its action and
    /// connection (opening one when there is none), unless a record with its
    /// key is in a batch already; then closes that batch when it is full or
    /// due at `now`. Two calls never put records in two open batches of one
    /// action and connection, nor give two records one number.
    fn batch_add(&self, add: BatchAdd) -> BoxFuture<'static, StoreResult<BatchAdded>>;
    /// Records that a closed batch's file is written under `file`. The first
    /// name recorded stays.
    fn batch_written(&self, batch: i64, file: &str) -> BoxFuture<'static, StoreResult<()>>;
    /// The identity of a connection's outbox directory as the store knows
    /// it: `proposed` when none is recorded yet (it is recorded then), else
    /// the one recorded first. Replicas compare it with the id file in their
    /// outbox to know they all write into one directory (`cli::preflight`).
    fn outbox_id(
        &self,
        connection: &str,
        proposed: &str,
    ) -> BoxFuture<'static, StoreResult<String>>;
}

/// Where a connection's outbox identity is kept (the `meta` table).
pub(crate) fn outbox_key(connection: &str) -> String {
    format!("outbox_id:{connection}")
}
