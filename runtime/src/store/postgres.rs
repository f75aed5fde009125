//! The PostgreSQL store: the same [`Store`] as SQLite, shared by several
//! replicas of one flow binary (`--store postgres://…`).
//!
//! - Every [`Commit`] is one transaction on a pooled connection, written only if
//!   the issue's `seq` is still the expected one.
//! - Due work is taken with row leases: [`Store::claim_due`] picks due rows
//!   `FOR UPDATE SKIP LOCKED` whose lease is free or expired, and writes this
//!   replica as their `lease_owner` until `lease_until` (the server's clock).
//!   A background task renews the leases this replica holds (every third of the
//!   lease time) while their steps run; a commit that gives the issue back
//!   clears the lease. A replica that dies stops renewing; once its leases
//!   expire another replica claims the issues and runs them again, with the
//!   keys already in the idempotency ledger.
//! - Fencing: a claim moves the issue's `seq` on, and a commit also requires
//!   that no other replica holds the lease. A replica whose lease was taken
//!   over therefore never writes over the new owner: its commits conflict.
//! - A waiting issue and the signal or event that wakes it meet under one
//!   advisory transaction lock (per issue and signal, per event match key), so
//!   a message that arrives while the issue is deciding to wait is never missed.
//! - Work that one replica does at a time (an event feed's poll) takes a named
//!   lease (table `leases`, [`Store::try_lease`]).
//! - Migrations are versioned (`schema_migrations`) and applied at start under
//!   a session advisory lock, by one replica at a time.

mod batch;
mod feed;
mod lease;

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use jiff::Timestamp;
use serde_json::Value;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

use super::{
    Commit, CommitOutcome, HistoryEntry, IssueRow, IssueState, LedgerEntry, Message, NewIssue,
    Store, StoreError, StoreResult,
};
use crate::clock::BoxFuture;

/// The session advisory lock migrations run under (any constant; "flowcmig").
const MIGRATION_LOCK: i64 = 0x666c_6f77_636d_6967;

/// Schema migrations, applied in order; each runs once (table `schema_migrations`).
/// Times of the flow (`wake_at`, `created_at`, …) are microseconds since the
/// epoch on the flow's clock, as in SQLite; leases are on the server's clock.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE issues (
    id TEXT COLLATE "C" PRIMARY KEY,
    state TEXT NOT NULL,
    step TEXT NOT NULL,
    data TEXT NOT NULL,
    ctx TEXT NOT NULL,
    wake_at BIGINT,
    wait_key TEXT COLLATE "C",
    error TEXT,
    seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ
);
CREATE INDEX issues_wake ON issues (wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX issues_state ON issues (state, id);
CREATE INDEX issues_wait_key ON issues (wait_key) WHERE wait_key IS NOT NULL;
CREATE INDEX issues_lease ON issues (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE TABLE history (
    n BIGSERIAL PRIMARY KEY,
    issue TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    step TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX history_issue ON history (issue, n);
CREATE TABLE ledger (
    issue TEXT COLLATE "C" NOT NULL,
    step TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    n INTEGER NOT NULL,
    key TEXT NOT NULL UNIQUE,
    attempts INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    response TEXT,
    PRIMARY KEY (issue, step, iteration, n)
);
CREATE TABLE inbox (
    n BIGSERIAL PRIMARY KEY,
    issue TEXT COLLATE "C" NOT NULL,
    match_key TEXT NOT NULL,
    data TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    consumed BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX inbox_issue ON inbox (issue, match_key) WHERE NOT consumed;
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    match_key TEXT NOT NULL,
    data TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX events_key ON events (match_key);
CREATE TABLE consumed_events (issue TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (issue, event_id));
CREATE TABLE trigger_starts (event_id TEXT PRIMARY KEY, issue TEXT NOT NULL, started_at BIGINT NOT NULL);
CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until TIMESTAMPTZ NOT NULL);
"#,
    ),
    (
        2,
        // Due work in the order SQLite takes it: by due time, then oldest first.
        r#"
CREATE INDEX issues_wake_id ON issues (wake_at, id) WHERE wake_at IS NOT NULL;
DROP INDEX issues_wake;
"#,
    ),
    (
        3,
        // The spool of batch steps (postgres/batch.rs): at most one open batch
        // per action and connection; a record once per idempotency key.
        r#"
CREATE TABLE batches (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider TEXT NOT NULL,
    action TEXT NOT NULL,
    connection TEXT NOT NULL,
    number BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    close_at BIGINT NOT NULL,
    records BIGINT NOT NULL DEFAULT 0,
    closed_at BIGINT,
    file TEXT,
    UNIQUE (provider, action, connection, number)
);
CREATE UNIQUE INDEX batches_open ON batches (provider, action, connection) WHERE closed_at IS NULL;
CREATE TABLE batch_records (
    key TEXT PRIMARY KEY,
    batch BIGINT NOT NULL REFERENCES batches (id),
    n BIGINT NOT NULL,
    issue TEXT NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (batch, n)
);
"#,
    ),
];

/// How to connect to a PostgreSQL store.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/db` or `postgresql:///db?host=/run/postgresql`.
    pub url: String,
    /// The flow the store belongs to; a database of another flow is refused.
    pub flow: String,
    /// How long a claimed issue stays this replica's without a renewal: after a
    /// crash, its issues wait this long before another replica resumes them.
    pub lease: Duration,
    /// Connections in the pool.
    pub pool_size: usize,
    /// A schema of its own to keep the tables in, created when missing (a
    /// simulation's throwaway tables; see [`PgStore::drop_schema`]). `None`:
    /// the URL's `search_path`, by default `public`.
    pub schema: Option<String>,
}

impl PgOptions {
    /// Defaults: 30 s leases (`FLOWC_LEASE_SECS` changes it), 16 connections
    /// (`FLOWC_PG_POOL`).
    pub fn new(url: &str, flow: &str) -> PgOptions {
        let env = |name: &str| -> Option<f64> {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v > 0.0)
        };
        PgOptions {
            url: url.to_string(),
            flow: flow.to_string(),
            lease: Duration::from_secs_f64(env("FLOWC_LEASE_SECS").unwrap_or(30.0).max(0.1)),
            pool_size: env("FLOWC_PG_POOL").map_or(16, |n| n.clamp(1.0, 1000.0) as usize),
            schema: None,
        }
    }
}

impl fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redacted(&self.url))
            .field("flow", &self.flow)
            .field("lease", &self.lease)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// The URL without its password (`postgres://user:_@host/db`), for logs and `Debug`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let password = if userinfo.contains(':') { ":_" } else { "" };
            format!(
                "{scheme}://{user}{password}@{host}{}",
                &rest[authority_end..]
            )
        }
        None => url.to_string(),
    }
}

/// Whether a `--store` value names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The PostgreSQL implementation of [`Store`]. Clones share one pool and one
/// replica identity.
#[derive(Debug, Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    /// The schema of its own, when it was given one.
    schema: Option<String>,
    /// This replica's name in `lease_owner`: host, process and a random part.
    owner: String,
    lease: Duration,
    /// The issues this replica holds leases on (renewed by the lease task).
    held: Mutex<HashSet<String>>,
    /// Leases being given back in the background ([`Store::release`]):
    /// [`Store::shutdown`] waits for them, so a stopping replica leaves none
    /// behind to expire.
    releasing: Mutex<tokio::task::JoinSet<()>>,
}

/// A PostgreSQL error with the server's message when there is one.
pub(super) fn pg_err(e: &tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError(format!("postgres: {} ({})", db.message(), db.code().code())),
        None => StoreError(format!("postgres: {e}")),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        pg_err(&e)
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> StoreError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => pg_err(&e),
            e => StoreError(format!("postgres: no connection: {e}")),
        }
    }
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

fn issue_row(r: &tokio_postgres::Row) -> Result<IssueRow, tokio_postgres::Error> {
    let state: String = r.try_get(1)?;
    Ok(IssueRow {
        id: r.try_get(0)?,
        state: IssueState::parse(&state).unwrap_or(IssueState::Failed),
        step: r.try_get(2)?,
        data: parse_json(r.try_get(3)?),
        ctx: parse_json(r.try_get(4)?),
        wake_at: r.try_get::<_, Option<i64>>(5)?.map(ts),
        error: r.try_get(6)?,
        seq: r.try_get(7)?,
        created_at: ts(r.try_get(8)?),
        updated_at: ts(r.try_get(9)?),
    })
}

/// The advisory transaction lock under which a waiting issue and its wake-up
/// meet: per match key for provider events (one event wakes every issue that
/// waits on it), per issue and key for signals. FNV-1a, stable across builds.
pub(super) fn wake_lock(issue: &str, match_key: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(b"flowc-wake\0");
    if !match_key.starts_with("event:") {
        eat(issue.as_bytes());
        eat(b"\0");
    }
    eat(match_key.as_bytes());
    h as i64
}

/// `SELECT pg_advisory_xact_lock(…)` for each key, in ascending order (so two
/// transactions that take several never wait on each other in a cycle).
async fn lock_keys(
    tx: &deadpool_postgres::Transaction<'_>,
    mut keys: Vec<i64>,
) -> Result<(), tokio_postgres::Error> {
    keys.sort_unstable();
    keys.dedup();
    let st = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1)")
        .await?;
    for k in keys {
        tx.execute(&st, &[&k]).await?;
    }
    Ok(())
}

fn lease_secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl PgStore {
    /// Connects, applies the migrations (one replica at a time), checks the
    /// database belongs to this flow, and starts renewing leases.
    pub async fn connect(opts: PgOptions) -> StoreResult<PgStore> {
        let mut config = tokio_postgres::Config::from_str(&opts.url)
            .map_err(|e| StoreError(format!("bad PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name(format!("flowc {}", opts.flow));
        if let Some(schema) = &opts.schema {
            create_schema(&config, schema).await?;
            config.options(format!("-csearch_path={schema}"));
        }
        migrate(&config, &opts.flow).await?;
        let mgr = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(opts.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(10)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| StoreError(format!("cannot make the PostgreSQL pool: {e}")))?;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        let owner = format!(
            "{host}:{}:{}",
            std::process::id(),
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        let store = PgStore {
            inner: Arc::new(Inner {
                schema: opts.schema.clone(),
                pool,
                owner,
                lease: opts.lease,
                held: Mutex::new(HashSet::new()),
                releasing: Mutex::default(),
            }),
        };
        lease::spawn_renewal(&store);
        Ok(store)
    }

    /// Drops the schema of its own ([`PgOptions::schema`]) with every table
    /// in it: the end of a simulation. Nothing for a store without one.
    pub async fn drop_schema(&self) -> StoreResult<()> {
        let Some(schema) = &self.inner.schema else {
            return Ok(());
        };
        let c = self.client().await?;
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quoted(schema)))
            .await?;
        Ok(())
    }

    /// This replica's name in `lease_owner` and `leases.owner`.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.inner.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        Ok(self.inner.pool.get().await?)
    }

    /// Runs one query on a pooled connection and maps its rows.
    fn query<T: Send + 'static>(
        &self,
        sql: &'static str,
        params: Vec<Box<dyn ToSql + Sync + Send>>,
        map: impl Fn(&tokio_postgres::Row) -> Result<T, tokio_postgres::Error> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<Vec<T>>> {
        let this = self.clone();
        Box::pin(async move {
            let c = this.client().await?;
            let st = c.prepare_cached(sql).await?;
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            let rows = c.query(&st, &refs).await?;
            Ok(rows.iter().map(map).collect::<Result<Vec<_>, _>>()?)
        })
    }
}

/// An identifier in double quotes (any `"` doubled).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn create_schema(config: &tokio_postgres::Config, schema: &str) -> StoreResult<()> {
    let (client, conn) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError(format!("cannot connect to PostgreSQL: {}", pg_err(&e))))?;
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    let r = client
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", quoted(schema)))
        .await;
    drop(client);
    let _ = task.await;
    r.map_err(|e| StoreError(format!("cannot create schema `{schema}`: {}", pg_err(&e))))
}

async fn migrate(config: &tokio_postgres::Config, flow: &str) -> StoreResult<()> {
    // A connection of its own: the session lock goes with it, whatever happens.
    let (mut client, conn) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError(format!("cannot connect to PostgreSQL: {}", pg_err(&e))))?;
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    let r = async {
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .await?;
        let current: i64 = client
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        for (version, sql) in MIGRATIONS {
            if *version > current {
                let tx = client.transaction().await?;
                tx.batch_execute(sql).await.map_err(|e| {
                    StoreError(format!("migration {version} failed: {}", pg_err(&e)))
                })?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                    &[version, &micros(Timestamp::now())],
                )
                .await?;
                tx.commit().await?;
            }
        }
        client
            .execute(
                "INSERT INTO meta (key, value) VALUES ('flow', $1) ON CONFLICT (key) DO NOTHING",
                &[&flow],
            )
            .await?;
        let owner: String = client
            .query_one("SELECT value FROM meta WHERE key = 'flow'", &[])
            .await?
            .get(0);
        if owner != flow {
            return Err(StoreError(format!(
                "this PostgreSQL database belongs to flow `{owner}`, not `{flow}` (one database, or schema, per flow)"
            )));
        }
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        Ok::<(), StoreError>(())
    }
    .await;
    drop(client);
    let _ = task.await;
    r
}

fn has_messages_sql(key: &str) -> &'static str {
    if key.starts_with("event:") {
        "SELECT EXISTS (SELECT 1 FROM events e WHERE e.match_key = $2 AND NOT EXISTS \
         (SELECT 1 FROM consumed_events c WHERE c.issue = $1 AND c.event_id = e.event_id))"
    } else {
        "SELECT EXISTS (SELECT 1 FROM inbox WHERE issue = $1 AND match_key = $2 AND NOT consumed)"
    }
}

const INSERT_ISSUES: &str = "INSERT INTO issues (id, state, step, data, ctx, wake_at, seq, created_at, updated_at) \
     SELECT id, 'running', step, data, ctx, t, 0, t, t \
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[]) AS u(id, step, data, ctx, t)";

const INSERT_HISTORY: &str = "INSERT INTO history (issue, at, step, event, detail) \
     SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[])";

/// History lines as the five arrays of [`INSERT_HISTORY`].
#[derive(Default)]
struct HistoryRows {
    issue: Vec<String>,
    at: Vec<i64>,
    step: Vec<String>,
    event: Vec<String>,
    detail: Vec<String>,
}

impl HistoryRows {
    fn push(&mut self, issue: &str, at: Timestamp, step: &str, event: &str, detail: &str) {
        self.issue.push(issue.to_string());
        self.at.push(micros(at));
        self.step.push(step.to_string());
        self.event.push(event.to_string());
        self.detail.push(detail.to_string());
    }

    async fn insert(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> Result<(), tokio_postgres::Error> {
        if self.issue.is_empty() {
            return Ok(());
        }
        let st = tx.prepare_cached(INSERT_HISTORY).await?;
        tx.execute(
            &st,
            &[&self.issue, &self.at, &self.step, &self.event, &self.detail],
        )
        .await?;
        Ok(())
    }
}

/// Inserts new issues and their `start` lines; `detail` per issue.
async fn insert_issues(
    tx: &deadpool_postgres::Transaction<'_>,
    issues: &[(&NewIssue, String)],
) -> Result<(), tokio_postgres::Error> {
    if issues.is_empty() {
        return Ok(());
    }
    let mut cols: [Vec<String>; 4] = Default::default();
    let mut at = Vec::with_capacity(issues.len());
    let mut hist = HistoryRows::default();
    for (i, detail) in issues {
        cols[0].push(i.id.clone());
        cols[1].push(i.step.clone());
        cols[2].push(json_text(&i.data));
        cols[3].push(json_text(&i.ctx));
        at.push(micros(i.now));
        hist.push(&i.id, i.now, &i.step, "start", detail);
    }
    let st = tx.prepare_cached(INSERT_ISSUES).await?;
    tx.execute(&st, &[&cols[0], &cols[1], &cols[2], &cols[3], &at])
        .await?;
    hist.insert(tx).await
}

/// Whether a commit can be one statement (one round trip, atomic by itself):
/// it changes an issue that does not begin to wait (a wait takes its wake lock
/// first), and does not finish the ledger entry it begins (one statement must
/// not change a row twice). A ledger row's key is the key first proposed for
/// it, and proposed keys are a function of the row's issue, step, iteration
/// and number, so a finish of another key is a finish of another row (the
/// second call of a step finishing its first, a step finishing the last step's).
fn one_statement(c: &Commit) -> bool {
    let Some(u) = &c.issue else { return false };
    let waits = u.state == IssueState::Waiting && u.wait_key.is_some();
    let both = c
        .ledger_begin
        .as_ref()
        .is_some_and(|b| c.ledger_finish.iter().any(|f| f.key == b.proposed_key));
    let other = c.ledger_begin.as_ref().is_some_and(|b| b.issue != u.id);
    let consumes = c.consume.iter().all(|m| {
        m.starts_with("e:")
            || m.strip_prefix("s:")
                .is_some_and(|n| n.parse::<i64>().is_ok())
    });
    !waits && !both && !other && consumes
}

/// [`one_statement`]'s commit: every change in a data-modifying CTE, each
/// written only when the issue's update matched (its `seq` and lease).
const COMMIT_ONE: &str = "WITH u AS (\
       UPDATE issues SET step = $1, data = $2, ctx = $3, error = $4, seq = seq + 1, updated_at = $5, \
       state = $6, wake_at = $7, wait_key = $8, \
       lease_owner = CASE WHEN $11 THEN NULL ELSE lease_owner END, \
       lease_until = CASE WHEN $11 THEN NULL ELSE lease_until END \
       WHERE id = $9 AND seq = $10 AND (lease_owner IS NULL OR lease_owner = $12) RETURNING id), \
     h AS (INSERT INTO history (issue, at, step, event, detail) \
       SELECT * FROM UNNEST($13::text[], $14::int8[], $15::text[], $16::text[], $17::text[]) \
       WHERE EXISTS (SELECT 1 FROM u)), \
     f AS (UPDATE ledger l SET status = x.s, response = x.r \
       FROM UNNEST($18::text[], $19::text[], $20::text[]) AS x(k, s, r) \
       WHERE l.key = x.k AND EXISTS (SELECT 1 FROM u)), \
     b AS (INSERT INTO ledger (issue, step, iteration, n, key, attempts, status, created_at, updated_at) \
       SELECT $9, $21::text, $22::int4, $23::int4, $24::text, 1, 'pending', $25::int8, $25::int8 \
       WHERE $21::text IS NOT NULL AND EXISTS (SELECT 1 FROM u) \
       ON CONFLICT (issue, step, iteration, n) DO UPDATE SET attempts = ledger.attempts + 1, \
       updated_at = excluded.updated_at \
       RETURNING key, CASE WHEN attempts > 1 AND status = 'pending' THEN created_at END AS since), \
     ci AS (UPDATE inbox SET consumed = TRUE WHERE n = ANY($26::int8[]) AND EXISTS (SELECT 1 FROM u)), \
     ce AS (INSERT INTO consumed_events (issue, event_id) SELECT $9, e FROM UNNEST($27::text[]) AS e \
       WHERE EXISTS (SELECT 1 FROM u) ON CONFLICT DO NOTHING) \
     SELECT (SELECT COUNT(*) FROM u), (SELECT key FROM b), (SELECT since FROM b)";

impl PgStore {
    /// A commit in one statement (see [`one_statement`]).
    async fn commit_one_statement(&self, c: Commit) -> StoreResult<CommitOutcome> {
        let Some(u) = &c.issue else {
            return Err(StoreError("a one-statement commit needs an issue".into()));
        };
        let mut hist = HistoryRows::default();
        for (issue, h) in &c.history {
            hist.push(issue, h.at, &h.step, &h.event, &h.detail);
        }
        let f_key: Vec<&str> = c.ledger_finish.iter().map(|f| f.key.as_str()).collect();
        let f_status: Vec<&str> = c.ledger_finish.iter().map(|f| f.status.as_str()).collect();
        let f_resp: Vec<String> = c
            .ledger_finish
            .iter()
            .map(|f| json_text(&f.response))
            .collect();
        let b = c.ledger_begin.as_ref();
        let inbox: Vec<i64> = c
            .consume
            .iter()
            .filter_map(|m| m.strip_prefix("s:")?.parse().ok())
            .collect();
        let events: Vec<&str> = c
            .consume
            .iter()
            .filter_map(|m| m.strip_prefix("e:"))
            .collect();
        let client = self.client().await?;
        let st = client.prepare_cached(COMMIT_ONE).await?;
        let row = client
            .query_one(
                &st,
                &[
                    &u.step,
                    &u.data,
                    &u.ctx,
                    &u.error,
                    &micros(u.now),
                    &u.state.as_str(),
                    &u.wake_at.map(micros),
                    &u.wait_key,
                    &u.id,
                    &u.expected_seq,
                    &u.release,
                    &self.inner.owner,
                    &hist.issue,
                    &hist.at,
                    &hist.step,
                    &hist.event,
                    &hist.detail,
                    &f_key,
                    &f_status,
                    &f_resp,
                    &b.map(|b| b.step.as_str()),
                    &b.map(|b| b.iteration as i32),
                    &b.map(|b| b.n as i32),
                    &b.map(|b| b.proposed_key.as_str()),
                    &b.map(|b| micros(b.now)),
                    &inbox,
                    &events,
                ],
            )
            .await?;
        if row.get::<_, i64>(0) == 0 {
            return Ok(CommitOutcome::Conflict);
        }
        if u.release {
            self.held().remove(&u.id);
        }
        Ok(CommitOutcome::Done {
            seq: Some(u.expected_seq + 1),
            key: row.get(1),
            unknown_since: row.get::<_, Option<i64>>(2).map(ts),
        })
    }

    async fn commit_inner(&self, c: Commit) -> StoreResult<CommitOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut seq = None;
        if let Some(u) = &c.issue {
            let waits_on = u
                .wait_key
                .as_deref()
                .filter(|_| u.state == IssueState::Waiting);
            if let Some(k) = waits_on {
                lock_keys(&tx, vec![wake_lock(&u.id, k)]).await?;
            }
            let st = tx
                .prepare_cached(
                    "UPDATE issues SET step = $1, data = $2, ctx = $3, error = $4, seq = seq + 1, \
                     updated_at = $5, state = $6, wake_at = $7, wait_key = $8, \
                     lease_owner = CASE WHEN $11 THEN NULL ELSE lease_owner END, \
                     lease_until = CASE WHEN $11 THEN NULL ELSE lease_until END \
                     WHERE id = $9 AND seq = $10 AND (lease_owner IS NULL OR lease_owner = $12)",
                )
                .await?;
            let n = tx
                .execute(
                    &st,
                    &[
                        &u.step,
                        &u.data,
                        &u.ctx,
                        &u.error,
                        &micros(u.now),
                        &u.state.as_str(),
                        &u.wake_at.map(micros),
                        &u.wait_key,
                        &u.id,
                        &u.expected_seq,
                        &u.release,
                        &self.inner.owner,
                    ],
                )
                .await?;
            if n == 0 {
                drop(tx);
                return Ok(CommitOutcome::Conflict);
            }
            // A message that came while the engine was deciding to wait wakes it at once.
            if let Some(k) = waits_on {
                let st = tx.prepare_cached(has_messages_sql(k)).await?;
                let pending: bool = tx.query_one(&st, &[&u.id, &k]).await?.get(0);
                if pending {
                    let st = tx
                        .prepare_cached("UPDATE issues SET wake_at = $1 WHERE id = $2")
                        .await?;
                    tx.execute(&st, &[&micros(u.now), &u.id]).await?;
                }
            }
            seq = Some(u.expected_seq + 1);
        }
        let mut hist = HistoryRows::default();
        for (issue, h) in &c.history {
            hist.push(issue, h.at, &h.step, &h.event, &h.detail);
        }
        hist.insert(&tx).await?;
        for f in &c.ledger_finish {
            let st = tx
                .prepare_cached("UPDATE ledger SET status = $1, response = $2 WHERE key = $3")
                .await?;
            tx.execute(&st, &[&f.status, &json_text(&f.response), &f.key])
                .await?;
        }
        let (mut key, mut unknown_since) = (None, None);
        if let Some(b) = &c.ledger_begin {
            // The first attempt records the proposed key; a later one (a retry, a run
            // after a crash, another replica after a failover) counts itself and
            // gets the recorded key back, and, while the entry is unfinished, when
            // it was first begun.
            let st = tx
                .prepare_cached(
                    "INSERT INTO ledger (issue, step, iteration, n, key, attempts, status, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 1, 'pending', $6, $6) \
                     ON CONFLICT (issue, step, iteration, n) DO UPDATE SET attempts = ledger.attempts + 1, updated_at = $6 \
                     RETURNING key, CASE WHEN attempts > 1 AND status = 'pending' THEN created_at END",
                )
                .await?;
            let row = tx
                .query_one(
                    &st,
                    &[
                        &b.issue,
                        &b.step,
                        &(b.iteration as i32),
                        &(b.n as i32),
                        &b.proposed_key,
                        &micros(b.now),
                    ],
                )
                .await?;
            key = Some(row.get::<_, String>(0));
            unknown_since = row.get::<_, Option<i64>>(1).map(ts);
        }
        for m in &c.consume {
            if let Some(n) = m.strip_prefix("s:").and_then(|n| n.parse::<i64>().ok()) {
                let st = tx
                    .prepare_cached("UPDATE inbox SET consumed = TRUE WHERE n = $1")
                    .await?;
                tx.execute(&st, &[&n]).await?;
            } else if let (Some(e), Some(u)) = (m.strip_prefix("e:"), &c.issue) {
                let st = tx
                    .prepare_cached(
                        "INSERT INTO consumed_events (issue, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    )
                    .await?;
                tx.execute(&st, &[&u.id, &e]).await?;
            }
        }
        tx.commit().await?;
        if let Some(u) = &c.issue
            && u.release
        {
            self.held().remove(&u.id);
        }
        Ok(CommitOutcome::Done {
            seq,
            key,
            unknown_since,
        })
    }
}

impl Store for PgStore {
    fn create_issues(&self, issues: Vec<NewIssue>) -> BoxFuture<'static, StoreResult<()>> {
        let this = self.clone();
        Box::pin(async move {
            let mut client = this.client().await?;
            let tx = client.transaction().await?;
            let with_detail: Vec<(&NewIssue, String)> =
                issues.iter().map(|i| (i, String::new())).collect();
            insert_issues(&tx, &with_detail).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn load(&self, id: &str) -> BoxFuture<'static, StoreResult<Option<IssueRow>>> {
        let rows = self.query(
            "SELECT id, state, step, data, ctx, wake_at, error, seq, created_at, updated_at FROM issues WHERE id = $1",
            vec![Box::new(id.to_string())],
            issue_row,
        );
        Box::pin(async move { Ok(rows.await?.into_iter().next()) })
    }

    fn commit(&self, c: Commit) -> BoxFuture<'static, StoreResult<CommitOutcome>> {
        let this = self.clone();
        Box::pin(async move {
            let began = std::time::Instant::now();
            let r = if one_statement(&c) {
                this.commit_one_statement(c).await
            } else {
                this.commit_inner(c).await
            };
            crate::metrics::Metrics::global().store_commit(began.elapsed());
            r
        })
    }

    fn claim_due(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> BoxFuture<'static, StoreResult<Vec<IssueRow>>> {
        let this = self.clone();
        Box::pin(async move {
            // Due, and no live lease: free, expired (its replica died), or given back.
            // Taking it moves `seq` on, which fences out an earlier owner.
            // The lease a row had tells a takeover (another replica's, expired)
            // from a free row (given back, or never taken).
            let sql = format!(
                "WITH due AS (SELECT id, lease_owner AS was FROM issues WHERE wake_at <= $1 \
                 AND (lease_until IS NULL OR lease_until < now()) \
                 ORDER BY wake_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 UPDATE issues i SET lease_owner = $3, lease_until = now() + make_interval(secs => $4), \
                 seq = i.seq + 1 FROM due WHERE i.id = due.id \
                 RETURNING {}, due.was IS NOT NULL AND due.was <> $3",
                ISSUE_COLS
                    .split(", ")
                    .map(|c| format!("i.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let c = this.client().await?;
            let st = c.prepare_cached(&sql).await?;
            let rows = c
                .query(
                    &st,
                    &[
                        &micros(now),
                        &(limit as i64),
                        &this.inner.owner,
                        &lease_secs(this.inner.lease),
                    ],
                )
                .await?;
            let mut out = rows.iter().map(issue_row).collect::<Result<Vec<_>, _>>()?;
            let taken_over = rows
                .iter()
                .filter(|r| r.try_get::<_, bool>(10).unwrap_or(false))
                .count();
            if taken_over > 0 {
                tracing::info!(
                    issues = taken_over,
                    "took over issues whose leases expired under another replica"
                );
                crate::metrics::Metrics::global().leases_taken_over(taken_over as u64);
            }
            // Due first, then oldest first (ids are time-ordered), as on SQLite.
            out.sort_by(|a, b| (a.wake_at, &a.id).cmp(&(b.wake_at, &b.id)));
            this.held().extend(out.iter().map(|r| r.id.clone()));
            Ok(out)
        })
    }

    fn release(&self, id: &str) {
        if !self.held().remove(id) {
            return;
        }
        // The lease is given back in the background; should that fail, it expires.
        let (this, id) = (self.clone(), id.to_string());
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            let mut releasing = self
                .inner
                .releasing
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            // Forget the ones done, so the set holds only those in flight.
            while releasing.try_join_next().is_some() {}
            releasing.spawn_on(
                async move {
                    if let Err(e) = this.give_back(&[id]).await {
                        tracing::debug!(error = %e, "giving a lease back failed; it expires");
                    }
                },
                &h,
            );
        }
    }

    fn reset_claims(&self) -> BoxFuture<'static, StoreResult<()>> {
        self.shutdown()
    }

    fn shutdown(&self) -> BoxFuture<'static, StoreResult<()>> {
        let this = self.clone();
        Box::pin(async move {
            let mut releasing = std::mem::take(
                &mut *this
                    .inner
                    .releasing
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            );
            while releasing.join_next().await.is_some() {}
            let ids: Vec<String> = this.held().drain().collect();
            this.give_back(&ids).await?;
            lease::give_back_named(&this).await
        })
    }

    fn leases_held(&self) -> usize {
        self.held().len()
    }

    fn ping(&self) -> BoxFuture<'static, StoreResult<()>> {
        let rows = self.query("SELECT 1", vec![], |_| Ok(()));
        Box::pin(async move { rows.await.map(|_| ()) })
    }

    fn try_lease(&self, name: &str, ttl: Duration) -> BoxFuture<'static, StoreResult<bool>> {
        lease::try_named(self, name, ttl)
    }

    fn next_wake(&self) -> BoxFuture<'static, StoreResult<Option<Timestamp>>> {
        // Issues another replica holds are not this one's next work; should that
        // replica die, the worker's idle poll finds them once their leases expire.
        let rows = self.query(
            "SELECT MIN(wake_at) FROM issues WHERE wake_at IS NOT NULL \
             AND (lease_until IS NULL OR lease_until < now())",
            vec![],
            |r| r.try_get::<_, Option<i64>>(0),
        );
        Box::pin(async move { Ok(rows.await?.into_iter().flatten().next().map(ts)) })
    }

    fn messages(&self, id: &str, match_key: &str) -> BoxFuture<'static, StoreResult<Vec<Message>>> {
        let key = match_key.to_string();
        let params: Vec<Box<dyn ToSql + Sync + Send>> =
            vec![Box::new(id.to_string()), Box::new(key.clone())];
        if key.starts_with("event:") {
            self.query(
                "SELECT e.event_id, e.data, e.received_at FROM events e WHERE e.match_key = $2 AND NOT EXISTS \
                 (SELECT 1 FROM consumed_events c WHERE c.issue = $1 AND c.event_id = e.event_id) \
                 ORDER BY e.received_at, e.event_id",
                params,
                move |r| {
                    Ok(Message {
                        id: format!("e:{}", r.try_get::<_, String>(0)?),
                        match_key: key.clone(),
                        data: parse_json(r.try_get(1)?),
                        received_at: ts(r.try_get(2)?),
                    })
                },
            )
        } else {
            self.query(
                "SELECT n, data, received_at FROM inbox WHERE issue = $1 AND match_key = $2 AND NOT consumed ORDER BY n",
                params,
                move |r| {
                    Ok(Message {
                        id: format!("s:{}", r.try_get::<_, i64>(0)?),
                        match_key: key.clone(),
                        data: parse_json(r.try_get(1)?),
                        received_at: ts(r.try_get(2)?),
                    })
                },
            )
        }
    }

    fn send_signal(
        &self,
        id: &str,
        name: &str,
        data: Value,
        now: Timestamp,
    ) -> BoxFuture<'static, StoreResult<bool>> {
        let this = self.clone();
        let (id, key) = (id.to_string(), format!("signal:{name}"));
        Box::pin(async move {
            let mut client = this.client().await?;
            let tx = client.transaction().await?;
            lock_keys(&tx, vec![wake_lock(&id, &key)]).await?;
            let state: Option<String> = tx
                .query_opt("SELECT state FROM issues WHERE id = $1", &[&id])
                .await?
                .map(|r| r.get(0));
            match state.as_deref().and_then(IssueState::parse) {
                Some(s) if !s.is_terminal() => {}
                _ => return Ok(false),
            }
            tx.execute(
                "INSERT INTO inbox (issue, match_key, data, received_at) VALUES ($1, $2, $3, $4)",
                &[&id, &key, &json_text(&data), &micros(now)],
            )
            .await?;
            tx.execute(
                "UPDATE issues SET wake_at = $1 WHERE id = $2 AND state = 'waiting' AND wait_key = $3",
                &[&micros(now), &id, &key],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn send_signals(
        &self,
        ids: Vec<String>,
        name: &str,
        data: Value,
        now: Timestamp,
    ) -> BoxFuture<'static, StoreResult<usize>> {
        let this = self.clone();
        let key = format!("signal:{name}");
        Box::pin(async move {
            let mut client = this.client().await?;
            let tx = client.transaction().await?;
            lock_keys(&tx, ids.iter().map(|id| wake_lock(id, &key)).collect()).await?;
            let (data, now) = (json_text(&data), micros(now));
            // Into the inbox of each active issue, and wake those waiting on it.
            let sent = tx
                .execute(
                    "INSERT INTO inbox (issue, match_key, data, received_at) \
                     SELECT id, $2, $3, $4 FROM issues WHERE id = ANY($1) \
                     AND state IN ('running', 'waiting')",
                    &[&ids, &key, &data, &now],
                )
                .await?;
            tx.execute(
                "UPDATE issues SET wake_at = $1 WHERE id = ANY($2) AND state = 'waiting' AND wait_key = $3",
                &[&now, &ids, &key],
            )
            .await?;
            tx.commit().await?;
            Ok(usize::try_from(sent).unwrap_or(usize::MAX))
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
        let this = self.clone();
        let (mk, eid) = (format!("event:{name}:{key}"), event_id.to_string());
        Box::pin(async move {
            let mut client = this.client().await?;
            let tx = client.transaction().await?;
            lock_keys(&tx, vec![wake_lock("", &mk)]).await?;
            let n = tx
                .execute(
                    "INSERT INTO events (event_id, match_key, data, received_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (event_id) DO NOTHING",
                    &[&eid, &mk, &json_text(&data), &micros(now)],
                )
                .await?;
            if n == 0 {
                return Ok(false);
            }
            tx.execute(
                "UPDATE issues SET wake_at = $1 WHERE state = 'waiting' AND wait_key = $2",
                &[&micros(now), &mk],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn list(
        &self,
        state: Option<IssueState>,
        limit: usize,
    ) -> BoxFuture<'static, StoreResult<Vec<IssueRow>>> {
        self.query(
            "SELECT id, state, step, data, ctx, wake_at, error, seq, created_at, updated_at FROM issues \
             WHERE ($1::text IS NULL OR state = $1) ORDER BY id LIMIT $2",
            vec![
                Box::new(state.map(|s| s.as_str().to_string())),
                Box::new(limit.min(i64::MAX as usize) as i64),
            ],
            issue_row,
        )
    }

    fn counts(&self) -> BoxFuture<'static, StoreResult<Vec<(IssueState, u64)>>> {
        let rows = self.query(
            "SELECT state, COUNT(*) FROM issues GROUP BY state ORDER BY state",
            vec![],
            |r| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)?)),
        );
        Box::pin(async move {
            Ok(rows
                .await?
                .into_iter()
                .filter_map(|(s, n)| Some((IssueState::parse(&s)?, n as u64)))
                .collect())
        })
    }

    fn history(&self, id: &str) -> BoxFuture<'static, StoreResult<Vec<HistoryEntry>>> {
        self.query(
            "SELECT at, step, event, detail FROM history WHERE issue = $1 ORDER BY n",
            vec![Box::new(id.to_string())],
            |r| {
                Ok(HistoryEntry {
                    at: ts(r.try_get(0)?),
                    step: r.try_get(1)?,
                    event: r.try_get(2)?,
                    detail: r.try_get(3)?,
                })
            },
        )
    }

    fn ledger(&self, id: &str) -> BoxFuture<'static, StoreResult<Vec<LedgerEntry>>> {
        self.query(
            "SELECT key, step, iteration, n, attempts, status, created_at, response FROM ledger \
             WHERE issue = $1 ORDER BY created_at, step, iteration, n",
            vec![Box::new(id.to_string())],
            |r| {
                Ok(LedgerEntry {
                    key: r.try_get(0)?,
                    step: r.try_get(1)?,
                    iteration: r.try_get::<_, i32>(2)? as u32,
                    n: r.try_get::<_, i32>(3)? as u32,
                    attempts: r.try_get::<_, i32>(4)? as u32,
                    status: r.try_get(5)?,
                    created_at: ts(r.try_get(6)?),
                    response: r.try_get::<_, Option<&str>>(7)?.map(parse_json),
                })
            },
        )
    }

    fn cancel(&self, id: &str, now: Timestamp) -> BoxFuture<'static, StoreResult<bool>> {
        let this = self.clone();
        let id = id.to_string();
        Box::pin(async move {
            let mut client = this.client().await?;
            let tx = client.transaction().await?;
            let n = tx
                .execute(
                    "UPDATE issues SET state = 'cancelled', wake_at = NULL, wait_key = NULL, seq = seq + 1, \
                     updated_at = $1, lease_owner = NULL, lease_until = NULL \
                     WHERE id = $2 AND state IN ('running', 'waiting')",
                    &[&micros(now), &id],
                )
                .await?;
            if n > 0 {
                tx.execute(
                    "INSERT INTO history (issue, at, step, event, detail) \
                     SELECT id, $1, step, 'cancelled', 'cancelled by the operator' FROM issues WHERE id = $2",
                    &[&micros(now), &id],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn retry(&self, id: &str, now: Timestamp) -> BoxFuture<'static, StoreResult<bool>> {
        let this = self.clone();
        let id = id.to_string();
        Box::pin(async move {
            let mut client = this.client().await?;
            let tx = client.transaction().await?;
            let row = tx
                .query_opt(
                    "SELECT ctx FROM issues WHERE id = $1 AND state = 'failed' FOR UPDATE",
                    &[&id],
                )
                .await?;
            let Some(row) = row else { return Ok(false) };
            let mut ctx = parse_json(row.get(0));
            if let Some(o) = ctx.as_object_mut() {
                o.insert("attempt".into(), Value::from(0));
            }
            tx.execute(
                "UPDATE issues SET state = 'running', wake_at = $1, error = NULL, ctx = $2, seq = seq + 1, \
                 updated_at = $1 WHERE id = $3",
                &[&micros(now), &json_text(&ctx), &id],
            )
            .await?;
            tx.execute(
                "INSERT INTO history (issue, at, step, event, detail) \
                 SELECT id, $1, step, 'retry', 'retried by the operator' FROM issues WHERE id = $2",
                &[&micros(now), &id],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn resolve_id(&self, prefix: &str) -> BoxFuture<'static, StoreResult<Option<String>>> {
        let p = prefix.to_string();
        let rows = self.query(
            "SELECT id FROM issues WHERE id >= $1 AND id < $1 || chr(1114111) ORDER BY id LIMIT 2",
            vec![Box::new(p.clone())],
            |r| r.try_get::<_, String>(0),
        );
        Box::pin(async move {
            let ids = rows.await?;
            Ok(if ids.len() == 1 {
                ids.into_iter().next()
            } else {
                ids.into_iter().find(|i| *i == p)
            })
        })
    }
}

#[cfg(test)]
mod tests;
