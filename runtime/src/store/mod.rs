//! The durable store: issues, their step log (history), the idempotency ledger
//! and the inbox of signals and events.
//!
//! Two implementations: SQLite (`sqlite.rs`, the embedded default: one file,
//! one worker process) and PostgreSQL (`postgres.rs`: several replicas of one
//! flow binary share the database). Every write is one [`Commit`] (one
//! transaction, with optimistic concurrency on the issue's `seq`), and work is
//! taken with `claim_due` (row leases on PostgreSQL; an in-process claim set on
//! SQLite, where one worker owns the file). `conformance.rs` holds the tests
//! every store passes.

mod batch;
#[cfg(test)]
pub(crate) mod conformance;
mod feed;
mod group_commit;
mod postgres;
mod sqlite;

pub use batch::{BatchAdd, BatchAdded, BatchState, BatchStore};
pub use feed::{FeedBatch, FeedEvent, FeedOutcome, FeedStart, FeedStore};
pub use group_commit::StoreStats;
pub use postgres::{PgOptions, PgStore, is_postgres_url};
pub use sqlite::{SqliteOptions, SqliteStore};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::BoxFuture;

/// The state of an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueState {
    Running,
    Waiting,
    Failed,
    Completed,
    Cancelled,
}

impl IssueState {
    pub const ALL: [IssueState; 5] = [
        IssueState::Running,
        IssueState::Waiting,
        IssueState::Failed,
        IssueState::Completed,
        IssueState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IssueState::Running => "running",
            IssueState::Waiting => "waiting",
            IssueState::Failed => "failed",
            IssueState::Completed => "completed",
            IssueState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<IssueState> {
        IssueState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            IssueState::Failed | IssueState::Completed | IssueState::Cancelled
        )
    }
}

impl fmt::Display for IssueState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A store failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One issue as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueRow {
    pub id: String,
    pub state: IssueState,
    pub step: String,
    /// The `Data` struct as JSON.
    pub data: Value,
    /// The engine's per-issue bookkeeping (visits, loops, wait), as JSON.
    pub ctx: Value,
    pub wake_at: Option<Timestamp>,
    pub error: Option<String>,
    pub seq: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A new issue.
#[derive(Debug, Clone)]
pub struct NewIssue {
    pub id: String,
    pub step: String,
    pub data: Value,
    pub ctx: Value,
    pub now: Timestamp,
}

/// The new state of an issue, written only if its `seq` is still `expected_seq`.
#[derive(Debug, Clone)]
pub struct IssueUpdate {
    pub id: String,
    pub expected_seq: i64,
    pub state: IssueState,
    pub step: String,
    /// The `Data` struct as JSON text (serialized by the caller, outside the
    /// store's one-writer-at-a-time section).
    pub data: String,
    /// The engine's bookkeeping as JSON text.
    pub ctx: String,
    pub wake_at: Option<Timestamp>,
    /// What a waiting issue waits for (matched by incoming events).
    pub wait_key: Option<String>,
    pub error: Option<String>,
    pub now: Timestamp,
    /// Give the issue back to other workers (it waits, sleeps or ended).
    pub release: bool,
}

#[cfg(test)]
impl IssueUpdate {
    /// A commit of only this issue's new `state`, with `data` as JSON text and
    /// everything else empty (store tests set the fields they look at).
    pub(crate) fn commit_of(
        id: &str,
        expected_seq: i64,
        state: IssueState,
        data: String,
    ) -> Commit {
        Commit {
            issue: Some(IssueUpdate {
                id: id.to_string(),
                expected_seq,
                state,
                step: "s".into(),
                data,
                ctx: "{}".into(),
                wake_at: None,
                wait_key: None,
                error: None,
                now: Timestamp::now(),
                release: false,
            }),
            ..Commit::default()
        }
    }
}

/// A line of an issue's step log: the route it took, with times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub at: Timestamp,
    pub step: String,
    /// `enter`, `call`, `result`, `retry`, `wait`, `signal`, `timeout`, `completed`, …
    pub event: String,
    pub detail: String,
}

/// "This side effect is about to happen": find or record its idempotency key.
#[derive(Debug, Clone)]
pub struct LedgerBegin {
    pub issue: String,
    pub step: String,
    pub iteration: u32,
    /// The n-th side effect of this step run (0 for the first).
    pub n: u32,
    /// The key to record when there is none yet; an existing key is never replaced.
    pub proposed_key: String,
    pub now: Timestamp,
}

/// The outcome of a side effect, recorded with the state change that follows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LedgerFinish {
    pub key: String,
    /// `done` or `failed`.
    pub status: String,
    /// Status code and mapped response fields (never credentials).
    pub response: Value,
}

/// One transaction: an issue's new state, its log lines, ledger entries, consumed messages.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    pub issue: Option<IssueUpdate>,
    pub history: Vec<(String, HistoryEntry)>,
    pub ledger_finish: Vec<LedgerFinish>,
    pub ledger_begin: Option<LedgerBegin>,
    /// Inbox message ids consumed by this change.
    pub consume: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    /// Written; the issue's new `seq`, and the ledger key when `ledger_begin` was given.
    Done {
        seq: Option<i64>,
        key: Option<String>,
        /// When `ledger_begin` found its entry begun before and never finished
        /// (a retry or a run after a crash: the effect's outcome is unknown),
        /// the time it was first begun; `None` for a first attempt. Read in
        /// the same write, so a provider that looks before repeating costs no
        /// extra read of the ledger.
        unknown_since: Option<Timestamp>,
    },
    /// The issue's `seq` moved on (cancelled or retried elsewhere): nothing written.
    Conflict,
}

/// A signal or event waiting for an issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    /// `signal:NAME` or `event:NAME:KEY`.
    pub match_key: String,
    pub data: Value,
    pub received_at: Timestamp,
}

/// A side effect as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerEntry {
    pub key: String,
    pub step: String,
    pub iteration: u32,
    pub n: u32,
    pub attempts: u32,
    pub status: String,
    pub created_at: Timestamp,
    pub response: Option<Value>,
}

/// The store of one flow.
pub trait Store: FeedStore + BatchStore + Send + Sync + fmt::Debug + 'static {
    fn create_issues(&self, issues: Vec<NewIssue>) -> BoxFuture<'static, StoreResult<()>>;
    fn load(&self, id: &str) -> BoxFuture<'static, StoreResult<Option<IssueRow>>>;
    fn commit(&self, commit: Commit) -> BoxFuture<'static, StoreResult<CommitOutcome>>;
    /// Takes up to `limit` issues that are due (`wake_at <= now`), running or waiting,
    /// and not taken by another worker.
    fn claim_due(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> BoxFuture<'static, StoreResult<Vec<IssueRow>>>;
    /// Gives a claimed issue back without changing it (e.g. after a store error).
    fn release(&self, id: &str);
    /// Forgets every claim (a worker starting on a store it owns).
    fn reset_claims(&self) -> BoxFuture<'static, StoreResult<()>>;
    /// Takes (or keeps) the lease `name` for `ttl` when no other process holds
    /// it: work done by one replica at a time, such as an event feed's poll.
    /// True when this process holds it now. One process owns a SQLite store, so
    /// there it is always true.
    fn try_lease(&self, _name: &str, _ttl: Duration) -> BoxFuture<'static, StoreResult<bool>> {
        Box::pin(async { Ok(true) })
    }
    /// Gives back everything this process holds (a worker stopping): other
    /// replicas take its issues at once instead of after the lease time.
    fn shutdown(&self) -> BoxFuture<'static, StoreResult<()>> {
        Box::pin(async { Ok(()) })
    }
    /// How many issues this process holds leases on (PostgreSQL; for `/metrics`).
    fn leases_held(&self) -> usize {
        0
    }
    /// Whether the store answers (`/readyz`): a cheap read.
    fn ping(&self) -> BoxFuture<'static, StoreResult<()>> {
        let next = self.next_wake();
        Box::pin(async move { next.await.map(|_| ()) })
    }
    /// The earliest `wake_at` of an active issue, if any.
    fn next_wake(&self) -> BoxFuture<'static, StoreResult<Option<Timestamp>>>;
    /// Unconsumed messages for an issue waiting on `match_key`.
    fn messages(&self, id: &str, match_key: &str) -> BoxFuture<'static, StoreResult<Vec<Message>>>;
    /// Records a signal for an issue and wakes it. False if there is no such active issue.
    fn send_signal(
        &self,
        id: &str,
        name: &str,
        data: Value,
        now: Timestamp,
    ) -> BoxFuture<'static, StoreResult<bool>>;
    /// Sends one signal to each of several issues, as [`Store::send_signal`]
    /// does, in one transaction where the store can; how many were active.
    fn send_signals(
        &self,
        ids: Vec<String>,
        name: &str,
        data: Value,
        now: Timestamp,
    ) -> BoxFuture<'static, StoreResult<usize>> {
        let sends: Vec<_> = ids
            .iter()
            .map(|id| self.send_signal(id, name, data.clone(), now))
            .collect();
        Box::pin(async move {
            let mut n = 0;
            for s in sends {
                n += usize::from(s.await?);
            }
            Ok(n)
        })
    }
    /// Records a provider event (deduplicated by `event_id`) and wakes the issues
    /// waiting for it. False for a duplicate.
    fn deliver_event(
        &self,
        name: &str,
        key: &str,
        event_id: &str,
        data: Value,
        now: Timestamp,
    ) -> BoxFuture<'static, StoreResult<bool>>;
    fn list(
        &self,
        state: Option<IssueState>,
        limit: usize,
    ) -> BoxFuture<'static, StoreResult<Vec<IssueRow>>>;
    fn counts(&self) -> BoxFuture<'static, StoreResult<Vec<(IssueState, u64)>>>;
    fn history(&self, id: &str) -> BoxFuture<'static, StoreResult<Vec<HistoryEntry>>>;
    fn ledger(&self, id: &str) -> BoxFuture<'static, StoreResult<Vec<LedgerEntry>>>;
    /// Moves an active issue to `cancelled`. False if it is not active.
    fn cancel(&self, id: &str, now: Timestamp) -> BoxFuture<'static, StoreResult<bool>>;
    /// Moves a failed issue back to running, due now, at the step it failed in.
    fn retry(&self, id: &str, now: Timestamp) -> BoxFuture<'static, StoreResult<bool>>;
    /// Finds an issue by a unique prefix of its id.
    fn resolve_id(&self, prefix: &str) -> BoxFuture<'static, StoreResult<Option<String>>>;
}

/// Opens the store `location` names for flow `flow`: a `postgres://` or
/// `postgresql://` URL (shared by replicas), else a SQLite file.
pub async fn open(location: &str, flow: &str) -> StoreResult<Arc<dyn Store>> {
    if is_postgres_url(location) {
        Ok(Arc::new(
            PgStore::connect(PgOptions::new(location, flow)).await?,
        ))
    } else {
        Ok(Arc::new(SqliteStore::open(SqliteOptions::new(
            location, flow,
        ))?))
    }
}
