//! The SQLite store: one file per flow, WAL, schema migrations, and a single
//! writer at a time that groups the commits of concurrent issues into one
//! transaction (one fsync for many state changes: group commit, in `group_commit`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::group_commit::{Claims, Durability, GroupCommit, Job, StoreStats};
use super::{
    Commit, CommitOutcome, HistoryEntry, IssueRow, IssueState, LedgerEntry, Message, NewIssue,
    Store, StoreError, StoreResult,
};
use crate::clock::BoxFuture;

mod batch;
mod feed;

// Invariant: `wake_at` is set only for active (running or waiting) issues, so the
// partial index `issues_wake` alone finds due work.

/// Schema migrations, applied in order; each runs once (table `schema_migrations`).
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE issues (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    step TEXT NOT NULL,
    data TEXT NOT NULL,
    ctx TEXT NOT NULL,
    wake_at INTEGER,
    wait_key TEXT,
    error TEXT,
    seq INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX issues_wake ON issues (wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX issues_state ON issues (state, id);
CREATE INDEX issues_wait_key ON issues (wait_key) WHERE wait_key IS NOT NULL;
CREATE TABLE history (
    n INTEGER PRIMARY KEY,
    issue TEXT NOT NULL,
    at INTEGER NOT NULL,
    step TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX history_issue ON history (issue, n);
CREATE TABLE ledger (
    issue TEXT NOT NULL,
    step TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    n INTEGER NOT NULL,
    key TEXT NOT NULL UNIQUE,
    attempts INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    response TEXT,
    PRIMARY KEY (issue, step, iteration, n)
) WITHOUT ROWID;
CREATE TABLE inbox (
    n INTEGER PRIMARY KEY,
    issue TEXT NOT NULL,
    match_key TEXT NOT NULL,
    data TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    consumed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX inbox_issue ON inbox (issue, match_key) WHERE consumed = 0;
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    match_key TEXT NOT NULL,
    data TEXT NOT NULL,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX events_key ON events (match_key);
CREATE TABLE consumed_events (issue TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (issue, event_id)) WITHOUT ROWID;
"#,
    ),
    // The issue each trigger event started: one per event id, whether it came by
    // webhook, by poll or both (sqlite/feed.rs).
    (
        2,
        "CREATE TABLE trigger_starts (event_id TEXT PRIMARY KEY, issue TEXT NOT NULL, started_at INTEGER NOT NULL) WITHOUT ROWID;",
    ),
    // The spool of batch steps (sqlite/batch.rs): at most one open batch per
    // action and connection; a record once per idempotency key.
    (
        3,
        r#"
CREATE TABLE batches (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    action TEXT NOT NULL,
    connection TEXT NOT NULL,
    number INTEGER NOT NULL,
    opened_at INTEGER NOT NULL,
    close_at INTEGER NOT NULL,
    records INTEGER NOT NULL DEFAULT 0,
    closed_at INTEGER,
    file TEXT,
    UNIQUE (provider, action, connection, number)
);
CREATE UNIQUE INDEX batches_open ON batches (provider, action, connection) WHERE closed_at IS NULL;
CREATE TABLE batch_records (
    key TEXT PRIMARY KEY,
    batch INTEGER NOT NULL,
    n INTEGER NOT NULL,
    issue TEXT NOT NULL,
    record TEXT NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX batch_records_n ON batch_records (batch, n);
"#,
    ),
];

/// How to open a SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The file; `:memory:` for a throwaway store (simulation).
    pub path: PathBuf,
    /// The flow the store belongs to; opening another flow's store is refused.
    pub flow: String,
    /// Durable commits (the default: a commit survives power loss; SQLite's
    /// `synchronous=FULL`, done as NORMAL plus a grouped sync of the WAL), or NORMAL.
    pub synchronous_full: bool,
    /// Most jobs in one transaction.
    pub max_batch: usize,
}

impl SqliteOptions {
    pub fn new(path: impl AsRef<Path>, flow: &str) -> SqliteOptions {
        SqliteOptions {
            path: path.as_ref().to_path_buf(),
            flow: flow.to_string(),
            synchronous_full: true,
            max_batch: 1024,
        }
    }
}

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Arc<GroupCommit>,
    claims: Claims,
}

fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

fn ts(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn parse_json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or(Value::Null)
}

const ISSUE_COLS: &str = "id, state, step, data, ctx, wake_at, error, seq, created_at, updated_at";

fn issue_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IssueRow> {
    let state: String = r.get(1)?;
    Ok(IssueRow {
        id: r.get(0)?,
        state: IssueState::parse(&state).unwrap_or(IssueState::Failed),
        step: r.get(2)?,
        data: parse_json(&r.get::<_, String>(3)?),
        ctx: parse_json(&r.get::<_, String>(4)?),
        wake_at: r.get::<_, Option<i64>>(5)?.map(ts),
        error: r.get(6)?,
        seq: r.get(7)?,
        created_at: ts(r.get(8)?),
        updated_at: ts(r.get(9)?),
    })
}

impl SqliteStore {
    /// Opens (creating and migrating) the store.
    #[allow(clippy::needless_pass_by_value)] // options are a value, like `File::open`
    pub fn open(opts: SqliteOptions) -> StoreResult<SqliteStore> {
        let conn = Connection::open(&opts.path)
            .map_err(|e| StoreError(format!("cannot open store {}: {e}", opts.path.display())))?;
        let journal: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        // Durable commits in WAL mode: NORMAL plus our own sync of the WAL after each
        // group of transactions (see `group_commit`), which equals FULL without
        // making the writer wait for the disk. Without WAL, SQLite's own; a `:memory:`
        // store has nothing to sync.
        let durability = if journal.eq_ignore_ascii_case("memory") {
            Durability::NotSynced
        } else if journal.eq_ignore_ascii_case("wal") {
            if opts.synchronous_full {
                let mut wal = opts.path.clone().into_os_string();
                wal.push("-wal");
                Durability::SyncWal(PathBuf::from(wal))
            } else {
                Durability::NotSynced
            }
        } else {
            Durability::InCommit
        };
        let mode = match durability {
            Durability::SyncWal(_) => "NORMAL",
            _ if opts.synchronous_full => "FULL",
            _ => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA synchronous={mode}; PRAGMA busy_timeout=10000; PRAGMA cache_size=-8000;"
        ))?;
        // Room for every statement the store prepares (the eight issue updates among
        // them), so none is parsed again per job.
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&conn)?;
        let owner: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key='flow'", [], |r| r.get(0))
            .optional()?;
        match owner {
            Some(f) if f != opts.flow => {
                return Err(StoreError(format!(
                    "the store {} belongs to flow `{f}`, not `{}`",
                    opts.path.display(),
                    opts.flow
                )));
            }
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('flow', ?1)",
                    [&opts.flow],
                )?;
            }
        }
        let claims: Claims = Arc::default();
        let writer = GroupCommit::new(conn, claims.clone(), opts.max_batch, durability);
        Ok(SqliteStore { writer, claims })
    }

    /// How many jobs, transactions and fsyncs the store made so far (jobs per fsync
    /// is how well group commit groups).
    pub fn stats(&self) -> StoreStats {
        self.writer.stats()
    }

    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &Claims) -> StoreResult<T> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<T>> {
        let (otx, orx) = tokio::sync::oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |run| {
            // Each job in a savepoint of the group's transaction: a job that fails
            // leaves nothing behind, and the others commit. When the round could
            // not begin, the job does not run at all (outside a transaction its
            // savepoint would commit on its own), and hears the round's error.
            let r = match run {
                Some((conn, claims)) => (|| {
                    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
                    let r = f(conn, claims);
                    if r.is_err() {
                        conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
                    }
                    conn.prepare_cached("RELEASE job")?.execute([])?;
                    r
                })(),
                None => Err(StoreError("the store's transaction did not begin".into())),
            };
            Box::new(move |committed: Result<(), StoreError>| {
                let _ = otx.send(committed.and(r));
            })
        });
        self.writer.submit(job);
        Box::pin(async move {
            orx.await.map_err(|_| {
                // Dropped unanswered: the tokio runtime shut down before the task
                // that was to lead its round ran, or that round panicked.
                StoreError("the store stopped before this change was committed".into())
            })?
        })
    }
}

fn migrate(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    for (version, sql) in MIGRATIONS {
        if *version > current {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let r = conn.execute_batch(sql).and_then(|_| {
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                    params![version, micros(Timestamp::now())],
                )
            });
            match r {
                Ok(_) => conn.execute_batch("COMMIT")?,
                Err(e) => {
                    conn.execute_batch("ROLLBACK")?;
                    return Err(StoreError(format!("migration {version} failed: {e}")));
                }
            }
        }
    }
    Ok(())
}

/// The `UPDATE` of an issue that sets the indexed columns `state`, `wake_at` and
/// `wait_key` only when they change (parameters ?6, ?7, ?8; the others are
/// always set). One statement per combination, each prepared once.
fn issue_update_sql(state: bool, wake_at: bool, wait_key: bool) -> &'static str {
    static SQL: std::sync::LazyLock<[String; 8]> = std::sync::LazyLock::new(|| {
        std::array::from_fn(|mask| {
            let mut set = String::from(
                "UPDATE issues SET step = ?1, data = ?2, ctx = ?3, error = ?4, seq = seq + 1, updated_at = ?5",
            );
            for (bit, col) in [(1, "state = ?6"), (2, "wake_at = ?7"), (4, "wait_key = ?8")] {
                if mask & bit != 0 {
                    set.push_str(", ");
                    set.push_str(col);
                }
            }
            set + " WHERE id = ?9 AND seq = ?10"
        })
    });
    &SQL[usize::from(state) | usize::from(wake_at) << 1 | usize::from(wait_key) << 2]
}

fn has_messages(conn: &Connection, id: &str, key: &str) -> rusqlite::Result<bool> {
    if key.starts_with("event:") {
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM events e WHERE e.match_key = ?2 AND NOT EXISTS \
             (SELECT 1 FROM consumed_events c WHERE c.issue = ?1 AND c.event_id = e.event_id))",
            params![id, key],
            |r| r.get(0),
        )
    } else {
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM inbox WHERE issue = ?1 AND match_key = ?2 AND consumed = 0)",
            params![id, key],
            |r| r.get(0),
        )
    }
}

impl Store for SqliteStore {
    fn create_issues(&self, issues: Vec<NewIssue>) -> BoxFuture<'static, StoreResult<()>> {
        self.call(move |conn, _| {
            let mut ins = conn.prepare_cached(
                "INSERT INTO issues (id, state, step, data, ctx, wake_at, seq, created_at, updated_at) \
                 VALUES (?1, 'running', ?2, ?3, ?4, ?5, 0, ?5, ?5)",
            )?;
            let mut hist = conn.prepare_cached(
                "INSERT INTO history (issue, at, step, event, detail) VALUES (?1, ?2, ?3, 'start', '')",
            )?;
            for i in &issues {
                ins.execute(params![i.id, i.step, json_text(&i.data), json_text(&i.ctx), micros(i.now)])?;
                hist.execute(params![i.id, micros(i.now), i.step])?;
            }
            Ok(())
        })
    }

    fn load(&self, id: &str) -> BoxFuture<'static, StoreResult<Option<IssueRow>>> {
        let id = id.to_string();
        self.call(move |conn, _| {
            Ok(conn
                .prepare_cached(&format!("SELECT {ISSUE_COLS} FROM issues WHERE id = ?1"))?
                .query_row([&id], issue_row)
                .optional()?)
        })
    }

    fn commit(&self, c: Commit) -> BoxFuture<'static, StoreResult<CommitOutcome>> {
        let began = std::time::Instant::now();
        let done = self.call(move |conn, claims| {
            let mut seq = None;
            if let Some(u) = &c.issue {
                // What the indexed columns hold now. An index is rewritten only when
                // its column is in the UPDATE's SET list, whatever the value, so
                // the UPDATE names only the columns that change.
                let stored = conn
                    .prepare_cached(
                        "SELECT state, wake_at, wait_key FROM issues WHERE id = ?1 AND seq = ?2",
                    )?
                    .query_row(params![u.id, u.expected_seq], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, Option<i64>>(1)?,
                            r.get::<_, Option<String>>(2)?,
                        ))
                    })
                    .optional()?;
                let Some((state, wake_at, wait_key)) = stored else {
                    return Ok(CommitOutcome::Conflict);
                };
                let new_wake = u.wake_at.map(micros);
                let sql = issue_update_sql(
                    state != u.state.as_str(),
                    wake_at != new_wake,
                    wait_key != u.wait_key,
                );
                let n = conn.prepare_cached(sql)?.execute(params![
                    u.step,
                    u.data,
                    u.ctx,
                    u.error,
                    micros(u.now),
                    u.state.as_str(),
                    new_wake,
                    u.wait_key,
                    u.id,
                    u.expected_seq
                ])?;
                if n == 0 {
                    return Ok(CommitOutcome::Conflict);
                }
                // A message that came while the engine was deciding to wait wakes it at once.
                if u.state == IssueState::Waiting
                    && let Some(k) = &u.wait_key
                    && has_messages(conn, &u.id, k)?
                {
                    conn.execute(
                        "UPDATE issues SET wake_at = ?1 WHERE id = ?2",
                        params![micros(u.now), u.id],
                    )?;
                }
                seq = Some(u.expected_seq + 1);
            }
            {
                let mut hist = conn.prepare_cached(
                    "INSERT INTO history (issue, at, step, event, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (issue, h) in &c.history {
                    hist.execute(params![issue, micros(h.at), h.step, h.event, h.detail])?;
                }
            }
            for f in &c.ledger_finish {
                conn.prepare_cached(
                    "UPDATE ledger SET status = ?1, response = ?2, updated_at = updated_at WHERE key = ?3",
                )?
                .execute(params![f.status, json_text(&f.response), f.key])?;
            }
            let (mut key, mut unknown_since) = (None, None);
            if let Some(b) = &c.ledger_begin {
                // The first attempt records the proposed key; a later one (a retry, or
                // a run after a crash) counts itself and gets the recorded key back,
                // and, while the entry is unfinished, when it was first begun.
                let (k, since): (String, Option<i64>) = conn
                    .prepare_cached(
                        "INSERT INTO ledger (issue, step, iteration, n, key, attempts, status, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, 1, 'pending', ?6, ?6) \
                         ON CONFLICT (issue, step, iteration, n) DO UPDATE SET attempts = attempts + 1, updated_at = ?6 \
                         RETURNING key, CASE WHEN attempts > 1 AND status = 'pending' THEN created_at END",
                    )?
                    .query_row(
                        params![b.issue, b.step, b.iteration, b.n, b.proposed_key, micros(b.now)],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?;
                key = Some(k);
                unknown_since = since.map(ts);
            }
            for m in &c.consume {
                if let Some(n) = m.strip_prefix("s:") {
                    conn.execute("UPDATE inbox SET consumed = 1 WHERE n = ?1", [n])?;
                } else if let (Some(e), Some(u)) = (m.strip_prefix("e:"), &c.issue) {
                    conn.execute(
                        "INSERT OR IGNORE INTO consumed_events (issue, event_id) VALUES (?1, ?2)",
                        params![u.id, e],
                    )?;
                }
            }
            if let Some(u) = &c.issue
                && u.release
            {
                claims.lock().unwrap_or_else(|e| e.into_inner()).remove(&u.id);
            }
            Ok(CommitOutcome::Done {
                seq,
                key,
                unknown_since,
            })
        });
        Box::pin(async move {
            let r = done.await;
            crate::metrics::Metrics::global().store_commit(began.elapsed());
            r
        })
    }

    fn claim_due(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> BoxFuture<'static, StoreResult<Vec<IssueRow>>> {
        self.call(move |conn, claims| {
            let mut claims = claims.lock().unwrap_or_else(|e| e.into_inner());
            let fetch = (limit + claims.len()) as i64;
            // The ids alone, from the due-time index (it holds the primary key):
            // issues that run keep their due time, so the claimed ones come first,
            // and skipping them must not read their rows.
            let mut due = conn.prepare_cached(
                "SELECT id FROM issues INDEXED BY issues_wake WHERE wake_at <= ?1 \
                 ORDER BY wake_at LIMIT ?2",
            )?;
            let mut ids = due.query(params![micros(now), fetch])?;
            let mut take = Vec::new();
            while take.len() < limit
                && let Some(r) = ids.next()?
            {
                let id = r.get_ref(0)?.as_str().map_err(|e| {
                    StoreError(format!("an issue id in the store is not text: {e}"))
                })?;
                if !claims.contains(id) {
                    take.push(id.to_string());
                }
            }
            let mut load =
                conn.prepare_cached(&format!("SELECT {ISSUE_COLS} FROM issues WHERE id = ?1"))?;
            let mut out = Vec::with_capacity(take.len());
            for id in take {
                let row = load.query_row([&id], issue_row)?;
                claims.insert(id);
                out.push(row);
            }
            Ok(out)
        })
    }

    fn release(&self, id: &str) {
        self.claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    fn reset_claims(&self) -> BoxFuture<'static, StoreResult<()>> {
        self.call(|_, claims| {
            claims.lock().unwrap_or_else(|e| e.into_inner()).clear();
            Ok(())
        })
    }

    fn next_wake(&self) -> BoxFuture<'static, StoreResult<Option<Timestamp>>> {
        self.call(|conn, _| {
            let v: Option<i64> = conn.query_row(
                "SELECT MIN(wake_at) FROM issues INDEXED BY issues_wake WHERE wake_at IS NOT NULL",
                [],
                |r| r.get(0),
            )?;
            Ok(v.map(ts))
        })
    }

    fn messages(&self, id: &str, match_key: &str) -> BoxFuture<'static, StoreResult<Vec<Message>>> {
        let (id, key) = (id.to_string(), match_key.to_string());
        self.call(move |conn, _| {
            let mut out = Vec::new();
            if key.starts_with("event:") {
                let mut st = conn.prepare_cached(
                    "SELECT e.event_id, e.data, e.received_at FROM events e WHERE e.match_key = ?2 AND NOT EXISTS \
                     (SELECT 1 FROM consumed_events c WHERE c.issue = ?1 AND c.event_id = e.event_id) ORDER BY e.received_at",
                )?;
                let rows = st.query_map(params![id, key], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                })?;
                for r in rows {
                    let (eid, data, at) = r?;
                    out.push(Message { id: format!("e:{eid}"), match_key: key.clone(), data: parse_json(&data), received_at: ts(at) });
                }
            } else {
                let mut st = conn.prepare_cached(
                    "SELECT n, data, received_at FROM inbox WHERE issue = ?1 AND match_key = ?2 AND consumed = 0 ORDER BY n",
                )?;
                let rows = st.query_map(params![id, key], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                })?;
                for r in rows {
                    let (n, data, at) = r?;
                    out.push(Message { id: format!("s:{n}"), match_key: key.clone(), data: parse_json(&data), received_at: ts(at) });
                }
            }
            Ok(out)
        })
    }

    fn send_signal(
        &self,
        id: &str,
        name: &str,
        data: Value,
        now: Timestamp,
    ) -> BoxFuture<'static, StoreResult<bool>> {
        let (id, key) = (id.to_string(), format!("signal:{name}"));
        self.call(move |conn, _| {
            let state: Option<String> = conn
                .query_row("SELECT state FROM issues WHERE id = ?1", [&id], |r| r.get(0))
                .optional()?;
            match state.as_deref().and_then(IssueState::parse) {
                Some(s) if !s.is_terminal() => {}
                _ => return Ok(false),
            }
            conn.execute(
                "INSERT INTO inbox (issue, match_key, data, received_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, key, json_text(&data), micros(now)],
            )?;
            conn.execute(
                "UPDATE issues SET wake_at = ?1 WHERE id = ?2 AND state = 'waiting' AND wait_key = ?3",
                params![micros(now), id, key],
            )?;
            Ok(true)
        })
    }

    fn deliver_event(
        &self,
        name: &str,
        key: &str,
        event_id: &str,
        data: Value,
        now: Timestamp,
    ) -> BoxFuture<'static, StoreResult<bool>> {
        let (mk, eid) = (format!("event:{name}:{key}"), event_id.to_string());
        self.call(move |conn, _| {
            let n = conn.execute(
                "INSERT OR IGNORE INTO events (event_id, match_key, data, received_at) VALUES (?1, ?2, ?3, ?4)",
                params![eid, mk, json_text(&data), micros(now)],
            )?;
            if n == 0 {
                return Ok(false);
            }
            conn.execute(
                "UPDATE issues SET wake_at = ?1 WHERE state = 'waiting' AND wait_key = ?2",
                params![micros(now), mk],
            )?;
            Ok(true)
        })
    }

    fn list(
        &self,
        state: Option<IssueState>,
        limit: usize,
    ) -> BoxFuture<'static, StoreResult<Vec<IssueRow>>> {
        self.call(move |conn, _| {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {ISSUE_COLS} FROM issues WHERE (?1 IS NULL OR state = ?1) ORDER BY id LIMIT ?2"
            ))?;
            let rows = st.query_map(params![state.map(IssueState::as_str), limit as i64], issue_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn counts(&self) -> BoxFuture<'static, StoreResult<Vec<(IssueState, u64)>>> {
        self.call(|conn, _| {
            let mut st =
                conn.prepare_cached("SELECT state, COUNT(*) FROM issues GROUP BY state")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            let mut out = Vec::new();
            for r in rows {
                let (s, n) = r?;
                if let Some(s) = IssueState::parse(&s) {
                    out.push((s, n as u64));
                }
            }
            Ok(out)
        })
    }

    fn history(&self, id: &str) -> BoxFuture<'static, StoreResult<Vec<HistoryEntry>>> {
        let id = id.to_string();
        self.call(move |conn, _| {
            let mut st = conn.prepare_cached(
                "SELECT at, step, event, detail FROM history WHERE issue = ?1 ORDER BY n",
            )?;
            let rows = st.query_map([&id], |r| {
                Ok(HistoryEntry {
                    at: ts(r.get(0)?),
                    step: r.get(1)?,
                    event: r.get(2)?,
                    detail: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn ledger(&self, id: &str) -> BoxFuture<'static, StoreResult<Vec<LedgerEntry>>> {
        let id = id.to_string();
        self.call(move |conn, _| {
            let mut st = conn.prepare_cached(
                "SELECT key, step, iteration, n, attempts, status, created_at, response FROM ledger \
                 WHERE issue = ?1 ORDER BY created_at, step, iteration, n",
            )?;
            let rows = st.query_map([&id], |r| {
                Ok(LedgerEntry {
                    key: r.get(0)?,
                    step: r.get(1)?,
                    iteration: r.get(2)?,
                    n: r.get(3)?,
                    attempts: r.get(4)?,
                    status: r.get(5)?,
                    created_at: ts(r.get(6)?),
                    response: r.get::<_, Option<String>>(7)?.map(|s| parse_json(&s)),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn cancel(&self, id: &str, now: Timestamp) -> BoxFuture<'static, StoreResult<bool>> {
        let id = id.to_string();
        self.call(move |conn, _| {
            let n = conn.execute(
                "UPDATE issues SET state = 'cancelled', wake_at = NULL, wait_key = NULL, seq = seq + 1, updated_at = ?1 \
                 WHERE id = ?2 AND state IN ('running', 'waiting')",
                params![micros(now), id],
            )?;
            if n > 0 {
                conn.execute(
                    "INSERT INTO history (issue, at, step, event, detail) \
                     SELECT id, ?1, step, 'cancelled', 'cancelled by the operator' FROM issues WHERE id = ?2",
                    params![micros(now), id],
                )?;
            }
            Ok(n > 0)
        })
    }

    fn retry(&self, id: &str, now: Timestamp) -> BoxFuture<'static, StoreResult<bool>> {
        let id = id.to_string();
        self.call(move |conn, _| {
            let row: Option<(String, String)> = conn
                .query_row("SELECT ctx, state FROM issues WHERE id = ?1", [&id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let Some((ctx, state)) = row else { return Ok(false) };
            if state != "failed" {
                return Ok(false);
            }
            let mut ctx = parse_json(&ctx);
            if let Some(o) = ctx.as_object_mut() {
                o.insert("attempt".into(), Value::from(0));
            }
            conn.execute(
                "UPDATE issues SET state = 'running', wake_at = ?1, error = NULL, ctx = ?2, seq = seq + 1, updated_at = ?1 \
                 WHERE id = ?3",
                params![micros(now), json_text(&ctx), id],
            )?;
            conn.execute(
                "INSERT INTO history (issue, at, step, event, detail) \
                 SELECT id, ?1, step, 'retry', 'retried by the operator' FROM issues WHERE id = ?2",
                params![micros(now), id],
            )?;
            Ok(true)
        })
    }

    fn resolve_id(&self, prefix: &str) -> BoxFuture<'static, StoreResult<Option<String>>> {
        let p = prefix.to_string();
        self.call(move |conn, _| {
            let mut st = conn.prepare_cached(
                "SELECT id FROM issues WHERE id >= ?1 AND id < ?1 || char(1114111) ORDER BY id LIMIT 2",
            )?;
            let ids: Vec<String> = st.query_map([&p], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(if ids.len() == 1 { ids.into_iter().next() } else { ids.into_iter().find(|i| *i == p) })
        })
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use rusqlite::Connection;
    use serde_json::json;

    // Claims, commits, the ledger, signals and events: `store/conformance.rs`,
    // on SQLite and PostgreSQL. Here: what is SQLite's own (its indexes).
    use super::super::{CommitOutcome, IssueState, IssueUpdate, NewIssue, Store};
    use super::{SqliteOptions, SqliteStore, issue_update_sql};

    #[test]
    fn an_issue_update_sets_an_indexed_column_only_when_asked() {
        for mask in 0..8u8 {
            let (state, wake, wait) = (mask & 1 != 0, mask & 2 != 0, mask & 4 != 0);
            let sql = issue_update_sql(state, wake, wait);
            assert_eq!(sql.contains("state = ?6"), state, "{sql}");
            assert_eq!(sql.contains("wake_at = ?7"), wake, "{sql}");
            assert_eq!(sql.contains("wait_key = ?8"), wait, "{sql}");
            assert!(sql.ends_with("WHERE id = ?9 AND seq = ?10"), "{sql}");
        }
    }

    /// The row as a second connection reads it, through each index.
    fn read(path: &std::path::Path, id: &str) -> (String, Option<i64>, Option<String>, i64) {
        let c = Connection::open(path).unwrap();
        let row = c
            .query_row(
                "SELECT state, wake_at, wait_key, seq FROM issues WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        let by_state: Vec<String> = c
            .prepare("SELECT id FROM issues INDEXED BY issues_state WHERE state = ?1")
            .unwrap()
            .query_map([&row.0], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(by_state, vec![id.to_string()], "issues_state");
        if let Some(w) = row.1 {
            let n: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM issues INDEXED BY issues_wake WHERE wake_at = ?1",
                    [w],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "issues_wake");
        }
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        row
    }

    #[tokio::test]
    async fn updates_that_change_some_indexed_columns_keep_every_index_right() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(SqliteOptions::new(&path, "f")).unwrap();
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        store
            .create_issues(vec![NewIssue {
                id: "i1".into(),
                step: "a".into(),
                data: json!({}),
                ctx: json!({}),
                now: t0,
            }])
            .await
            .unwrap();
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        // Each step changes another set of the indexed columns (none, one, all).
        let steps = [
            (IssueState::Running, Some(at(0)), None),
            (IssueState::Running, Some(at(5)), None),
            (IssueState::Waiting, Some(at(5)), None),
            (IssueState::Waiting, Some(at(5)), Some("signal:paid")),
            (IssueState::Running, Some(at(9)), None),
            (IssueState::Waiting, Some(at(20)), Some("signal:sent")),
            (IssueState::Completed, None, None),
        ];
        let mut seq = read(&path, "i1").3;
        for (n, (state, wake_at, wait_key)) in steps.into_iter().enumerate() {
            let mut c = IssueUpdate::commit_of("i1", seq, state, format!("{{\"n\":{n}}}"));
            if let Some(u) = &mut c.issue {
                u.step = format!("s{n}");
                u.wake_at = wake_at;
                u.wait_key = wait_key.map(str::to_string);
                u.now = at(n as i64);
            }
            let out = store.commit(c).await.unwrap();
            assert_eq!(
                out,
                CommitOutcome::Done {
                    seq: Some(seq + 1),
                    key: None,
                    unknown_since: None
                }
            );
            let (s, w, k, new_seq) = read(&path, "i1");
            assert_eq!(
                (s.as_str(), w, k.as_deref()),
                (state.as_str(), wake_at.map(super::micros), wait_key),
                "after update {n}"
            );
            assert_eq!(new_seq, seq + 1);
            seq = new_seq;
            let row = store.load("i1").await.unwrap().unwrap();
            assert_eq!((row.step, row.data), (format!("s{n}"), json!({ "n": n })));
        }
        // A stale seq changes nothing.
        let stale = store
            .commit(IssueUpdate::commit_of(
                "i1",
                seq - 1,
                IssueState::Failed,
                "{}".into(),
            ))
            .await
            .unwrap();
        assert_eq!(stale, CommitOutcome::Conflict);
        assert_eq!(read(&path, "i1").0, "completed");
    }
}
