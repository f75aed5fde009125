//! Batch actions: each issue adds its record, durably, to the open batch of an
//! action; the batch closes on its schedule or at `max` records and is handed
//! over (Buckaroo direct debit: a request file in the outbox directory, a header
//! line then one line per record, columns in the `file_layout` order); then every
//! issue in it goes on, with the file's name and its record number.
//!
//! The open batches live in a small SQLite file beside the outbox
//! (`<outbox>/.flowc-batches.sqlite`): a record is added, and a batch closed and
//! its file written, each in one transaction, so a crash loses nothing and never
//! writes a record twice (a record is keyed by its step's idempotency key). Files
//! are written to a temporary name, synced, then renamed.
//!
//! Generated code:
//! ```text
//! match cx.batch(BatchCall { .. }).await? {
//!     BatchStatus::HandedOver(r) => { data.file = r.get("file_name")?; Ok(Transition::Next(..)) }
//!     BatchStatus::Pending(p) => Ok(p.wait(Step::ThisStep)),
//! }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use flowc_catalog::{Action, Provider};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::input::{self, Target};
use super::{ActionResult, lookup};
use crate::clock::add;
use crate::engine::StepContext;
use crate::flow::{StepError, StepId, Transition, Wait, WaitOn};
use crate::providers::buckaroo::request_file;

/// The signal that wakes the issues of a batch when it is handed over.
pub const BATCH_SIGNAL: &str = "flowc.batch";

/// The longest an issue in an open batch waits before it looks at the batch again.
const BATCH_POLL_CAP: Duration = Duration::from_secs(3600);

/// When an open batch closes (besides reaching `max` records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSchedule {
    /// This long after its first record.
    Every(Duration),
    /// At the next `hour:minute` (UTC) after its first record.
    DailyAt { hour: i8, minute: i8 },
}

impl BatchSchedule {
    /// When a batch opened at `opened` closes.
    pub fn close_at(self, opened: Timestamp) -> Timestamp {
        match self {
            BatchSchedule::Every(d) => add(opened, d),
            BatchSchedule::DailyAt { hour, minute } => {
                let day = opened.to_zoned(jiff::tz::TimeZone::UTC).date();
                let at = |d: jiff::civil::Date| {
                    d.at(hour.clamp(0, 23), minute.clamp(0, 59), 0, 0)
                        .to_zoned(jiff::tz::TimeZone::UTC)
                        .map(|z| z.timestamp())
                        .unwrap_or(opened)
                };
                let today = at(day);
                if today > opened {
                    today
                } else {
                    day.tomorrow().map_or(opened, at)
                }
            }
        }
    }
}

/// One record of a batch step, as generated code writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchCall {
    pub provider: &'static str,
    pub action: &'static str,
    pub connection: &'static str,
    /// The record's inputs by their catalog names, in the runtime's JSON shapes.
    pub inputs: Value,
    /// Most records in one batch (0: the connection's `max_records` setting, else no limit).
    pub max: usize,
    pub schedule: BatchSchedule,
    /// The connection's settings (`file_prefix`, `file_extension`, `file_layout`,
    /// `description_prefix`, …; `outbox`: the directory files go to, overridden by
    /// `FLOWC_<CONNECTION>_OUTBOX`). Missing settings take the catalog's defaults.
    pub settings: Value,
    /// The step's `retry:` policy for a spool or outbox that cannot be written;
    /// `None`: the flow's default.
    pub retry: Option<crate::retry::RetryPolicy>,
}

/// Where a batch record stands.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchStatus {
    /// The batch was handed over: the action's outputs (`file_name`, `record_number`).
    HandedOver(ActionResult),
    /// The batch is still open: wait (the step runs again when it is handed over).
    Pending(BatchPending),
}

/// An open batch the record waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPending {
    /// When the batch closes by its schedule.
    pub close_at: Timestamp,
    /// How often the waiting step looks again (the batch may close by size elsewhere).
    pub poll: Duration,
}

/// What the batch step returns in its batch: the same as [`ActionResult`].
pub type BatchResult = ActionResult;

impl BatchPending {
    /// The transition that waits for the hand-over and then runs `step` (the batch
    /// step itself) again, which then returns [`BatchStatus::HandedOver`].
    pub fn wait<S: StepId>(self, step: S) -> Transition<S> {
        Transition::Wait(Wait {
            on: WaitOn::Signal(BATCH_SIGNAL),
            // Polls keep the step's iteration (and so its key); a timeout would not.
            timeout: Duration::from_secs(10 * 365 * 86_400),
            on_timeout: step,
            poll: Some(self.poll),
        })
    }
}

/// `FLOWC_<NAME>_OUTBOX`, the variable that names a connection's outbox
/// directory (`simulate` gives each connection a temporary one while it is unset).
pub fn outbox_env(connection: &str) -> String {
    format!("FLOWC_{}_OUTBOX", env_name(connection))
}

/// `FLOWC_<NAME>_INBOX`, the variable that names the directory a connection's
/// response files arrive in (default `inbox`; `simulate` gives each
/// connection a temporary one while it is unset).
pub fn inbox_env(connection: &str) -> String {
    format!("FLOWC_{}_INBOX", env_name(connection))
}

/// A connection's name as environment variables spell it: upper case, every
/// other character `_`.
pub fn env_name(connection: &str) -> String {
    connection
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The request file's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSpec {
    pub dir: PathBuf,
    pub prefix: String,
    pub extension: String,
    pub layout: Vec<String>,
    /// The header record a provider opens its files with (Buckaroo's); without
    /// one, the first line names the columns.
    pub header: Option<HeaderSpec>,
}

/// What a Buckaroo request file's header record is made of besides its records.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderSpec {
    pub settings: request_file::Settings,
    /// The connection's website key (it identifies the merchant; not a secret).
    pub website_key: String,
}

fn setting(provider: &Provider, settings: &Value, name: &str) -> Option<String> {
    match settings.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => provider
            .settings
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.default.clone()),
    }
}

impl FileSpec {
    fn of(provider: &Provider, action: &Action, call: &BatchCall) -> Result<FileSpec, String> {
        let env = outbox_env(call.connection);
        let dir = crate::http::env_var(&env)
            .or_else(|| setting(provider, &call.settings, "outbox"))
            .unwrap_or_else(|| "outbox".into());
        let layout: Vec<String> = setting(provider, &call.settings, "file_layout")
            .map(|l| l.split(',').map(|c| c.trim().to_string()).collect())
            .unwrap_or_else(|| action.inputs.iter().map(|f| f.name.clone()).collect());
        let known =
            |c: &str| action.input(c).is_some() || action.file_columns.iter().any(|f| f.name == c);
        if let Some(bad) = layout.iter().find(|c| !known(c)) {
            return Err(format!(
                "file_layout: `{bad}` is neither an input of {} nor one of its derived columns",
                action.name
            ));
        }
        Ok(FileSpec {
            dir: PathBuf::from(dir),
            prefix: setting(provider, &call.settings, "file_prefix").unwrap_or_default(),
            extension: setting(provider, &call.settings, "file_extension")
                .unwrap_or_else(|| "csv".into()),
            layout,
            header: None,
        })
    }
}

/// Where the record stands after adding it.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    pub batch: i64,
    pub record_number: i64,
    /// The file, once the batch is handed over.
    pub file: Option<String>,
    pub close_at: Timestamp,
    /// The other issues of a batch this call closed (to wake them).
    pub wake: Vec<String>,
}

/// The durable spool of open and closed batches.
#[derive(Debug)]
pub struct Spool {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL, action TEXT NOT NULL, connection TEXT NOT NULL,
    opened_at INTEGER NOT NULL, close_at INTEGER NOT NULL,
    closed_at INTEGER, file TEXT
);
CREATE INDEX IF NOT EXISTS batches_open ON batches (provider, action, connection) WHERE closed_at IS NULL;
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY, batch INTEGER NOT NULL, n INTEGER NOT NULL,
    issue TEXT NOT NULL, record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_batch ON records (batch, n);
";

#[allow(clippy::needless_pass_by_value)] // used as `map_err(sql)`
fn sql(e: rusqlite::Error) -> String {
    format!("batch spool: {e}")
}

impl Spool {
    /// Opens (creating) the spool of an outbox directory.
    pub fn open(dir: &Path) -> Result<Spool, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the outbox {}: {e}", dir.display()))?;
        let conn = Connection::open(dir.join(".flowc-batches.sqlite")).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
            .map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        Ok(Spool { conn })
    }

    /// Adds a record (once per key), and closes its batch when it is full or due.
    #[allow(clippy::too_many_arguments)] // one record's whole context, each distinct
    pub fn add(
        &mut self,
        call: (&str, &str, &str),
        key: &str,
        issue: &str,
        record: &Map<String, Value>,
        now: Timestamp,
        max: usize,
        schedule: BatchSchedule,
        file: &FileSpec,
    ) -> Result<Added, String> {
        let (provider, action, connection) = call;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let existing: Option<(i64, i64)> = tx
            .query_row("SELECT batch, n FROM records WHERE key = ?1", [key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(sql)?;
        let (batch, n) = match existing {
            Some(x) => x,
            None => {
                let open: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM batches WHERE provider = ?1 AND action = ?2 AND connection = ?3 AND closed_at IS NULL ORDER BY id LIMIT 1",
                        params![provider, action, connection],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql)?;
                let batch = match open {
                    Some(b) => b,
                    None => {
                        tx.execute(
                            "INSERT INTO batches (provider, action, connection, opened_at, close_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![provider, action, connection, now.as_second(), schedule.close_at(now).as_second()],
                        )
                        .map_err(sql)?;
                        tx.last_insert_rowid()
                    }
                };
                let n: i64 = tx
                    .query_row(
                        "SELECT COALESCE(MAX(n), 0) + 1 FROM records WHERE batch = ?1",
                        [batch],
                        |r| r.get(0),
                    )
                    .map_err(sql)?;
                tx.execute(
                    "INSERT INTO records (key, batch, n, issue, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![key, batch, n, issue, Value::Object(record.clone()).to_string()],
                )
                .map_err(sql)?;
                (batch, n)
            }
        };
        let (opened_at, close_at, mut file_name): (i64, i64, Option<String>) = tx
            .query_row(
                "SELECT opened_at, close_at, file FROM batches WHERE id = ?1",
                [batch],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(sql)?;
        let count: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM records WHERE batch = ?1",
                [batch],
                |r| r.get(0),
            )
            .map_err(sql)?;
        let close_at = Timestamp::from_second(close_at).unwrap_or(now);
        let mut wake = Vec::new();
        if file_name.is_none() && (count as usize >= max || now >= close_at) {
            let mut rows = Vec::new();
            {
                let mut st = tx
                    .prepare("SELECT issue, record FROM records WHERE batch = ?1 ORDER BY n")
                    .map_err(sql)?;
                let it = st
                    .query_map([batch], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(sql)?;
                for row in it {
                    rows.push(row.map_err(sql)?);
                }
            }
            let opened = Timestamp::from_second(opened_at).unwrap_or(now);
            let name = format!(
                "{}{}-{batch:06}.{}",
                file.prefix,
                opened.strftime("%Y%m%d"),
                file.extension
            );
            let records: Vec<Value> = rows
                .iter()
                .map(|(_, r)| serde_json::from_str(r).unwrap_or(Value::Null))
                .collect();
            let header = match &file.header {
                Some(h) => Some(request_file::header(
                    &name,
                    now,
                    &records,
                    &h.settings,
                    &h.website_key,
                )?),
                None => None,
            };
            write_file(
                &file.dir.join(&name),
                header.as_deref(),
                &file.layout,
                &records,
            )?;
            tx.execute(
                "UPDATE batches SET closed_at = ?1, file = ?2 WHERE id = ?3",
                params![now.as_second(), name, batch],
            )
            .map_err(sql)?;
            wake = rows
                .into_iter()
                .map(|(i, _)| i)
                .filter(|i| i != issue)
                .collect();
            file_name = Some(name);
        }
        tx.commit().map_err(sql)?;
        Ok(Added {
            batch,
            record_number: n,
            file: file_name,
            close_at,
            wake,
        })
    }
}

/// The records of a request file that was handed over, in file order, as the
/// spool of its outbox holds them (what a simulator of the provider reads to
/// know each record's fields whatever the file's layout).
pub fn file_records(dir: &Path, file: &str) -> Result<Vec<Value>, String> {
    let conn = Connection::open_with_flags(
        dir.join(".flowc-batches.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(sql)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
    let mut stmt = conn
        .prepare(
            "SELECT r.record FROM records r JOIN batches b ON r.batch = b.id \
             WHERE b.file = ?1 ORDER BY r.n",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([file], |r| r.get::<_, String>(0))
        .map_err(sql)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(serde_json::from_str(&r.map_err(sql)?).unwrap_or(Value::Null));
    }
    Ok(out)
}

/// Writes a request file: the header record, each record marked `D` after it
/// (Buckaroo's), or without a header record a first line naming the layout's
/// columns and the bare records; to a temporary name, synced, then renamed
/// into place.
pub fn write_file(
    path: &Path,
    header: Option<&[String]>,
    layout: &[String],
    records: &[Value],
) -> Result<(), String> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(Vec::new());
    let io = |e: csv::Error| format!("writing {}: {e}", path.display());
    match header {
        Some(h) => w.write_record(h).map_err(io)?,
        None => w.write_record(layout).map_err(io)?,
    }
    for r in records {
        let marker = header.map(|_| request_file::RECORD.to_string());
        let line: Vec<String> = marker
            .into_iter()
            .chain(layout.iter().map(|c| match r.get(c) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }))
            .collect();
        w.write_record(&line).map_err(io)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("batch")
    ));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| format!("writing {}: {e}", path.display()))
}

impl StepContext {
    /// Adds this issue's record to the open batch of an action (once: the record is
    /// keyed by the step's idempotency key), closing the batch when it is full or
    /// due. Returns the outputs once the batch is handed over, else
    /// [`BatchStatus::Pending`]: the step then waits with [`BatchPending::wait`].
    pub async fn batch(&mut self, call: BatchCall) -> Result<BatchStatus, StepError> {
        let step = self.step;
        let name = format!("{}.{}", call.provider, call.action);
        let fatal = |m: String| StepError::Fatal(format!("step `{step}`: {name}: {m}"));
        let (kind, provider, action) = lookup(call.provider, call.action)?;
        if !action.batch {
            return Err(fatal("not a batch action: use cx.action".into()));
        }
        let conn = self.connection(call.connection)?;
        let checked =
            input::check(kind, provider, action, &call.inputs, Target::Record).map_err(|e| {
                fatal(format!(
                    "invalid input: {}; nothing was written",
                    e.join("; ")
                ))
            })?;
        let mut record: Map<String, Value> = checked
            .into_iter()
            .map(|c| (c.field.name.clone(), c.value))
            .collect();
        let mut file = FileSpec::of(provider, action, &call).map_err(fatal)?;
        if call.provider == "buckaroo" {
            let settings = request_file::Settings::of(&call.settings).map_err(fatal)?;
            let currency = call
                .inputs
                .pointer("/amount/currency")
                .and_then(Value::as_str);
            request_file::complete_record(&mut record, currency, &settings, self.today())
                .map_err(fatal)?;
            let website_key = crate::providers::credential(conn, "website_key")?;
            file.header = Some(HeaderSpec {
                settings,
                website_key: website_key.expose().to_string(),
            });
        }
        let max = match call.max {
            0 => setting(provider, &call.settings, "max_records")
                .and_then(|m| m.parse().ok())
                .unwrap_or(usize::MAX),
            m => m,
        };
        let key = self.begin_effect(&format!("batch {name}")).await?;
        let (issue, now) = (self.issue.clone(), self.rt.clock.now());
        let (p, a, c) = (call.provider, call.action, call.connection);
        let schedule = call.schedule;
        let k = key.clone();
        let added = tokio::task::spawn_blocking(move || {
            Spool::open(&file.dir)?.add((p, a, c), &k, &issue, &record, now, max, schedule, &file)
        })
        .await
        .map_err(|e| StepError::Store(format!("batch spool: {e}")))?
        .map_err(|m| StepError::Retry {
            message: format!("step `{step}`: {name}: {m}"),
            retry_after: None,
            policy: call.retry,
        })?;
        for other in &added.wake {
            let _ = self
                .rt
                .store
                .send_signal(other, BATCH_SIGNAL, json!({"batch": added.batch}), now)
                .await;
        }
        match added.file {
            Some(f) => {
                let mut fields = Map::new();
                fields.insert("file_name".into(), Value::String(f));
                fields.insert("record_number".into(), json!(added.record_number));
                self.finish_effect(key, true, json!({"fields": fields}));
                Ok(BatchStatus::HandedOver(ActionResult {
                    provider: call.provider,
                    action: call.action,
                    status: 0,
                    fields,
                }))
            }
            None => {
                // Polled at its closing time (a batch that fills up first wakes
                // its issues with a signal), and at least hourly besides, should
                // a wake-up signal be lost to a crash right after the close.
                let left = added.close_at.duration_since(now).as_secs().max(1);
                Ok(BatchStatus::Pending(BatchPending {
                    close_at: added.close_at,
                    poll: Duration::from_secs(left.min(BATCH_POLL_CAP.as_secs() as i64) as u64),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_close_after_a_while_or_at_the_next_time_of_day() {
        let t: Timestamp = "2025-03-01T09:30:00Z".parse().unwrap();
        let every = BatchSchedule::Every(Duration::from_secs(3600));
        assert_eq!(every.close_at(t), "2025-03-01T10:30:00Z".parse().unwrap());
        let later = BatchSchedule::DailyAt {
            hour: 17,
            minute: 0,
        };
        assert_eq!(later.close_at(t), "2025-03-01T17:00:00Z".parse().unwrap());
        let passed = BatchSchedule::DailyAt {
            hour: 9,
            minute: 30,
        };
        assert_eq!(passed.close_at(t), "2025-03-02T09:30:00Z".parse().unwrap());
    }

    #[test]
    fn a_record_is_added_once_per_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = FileSpec {
            dir: dir.path().to_path_buf(),
            prefix: "B".into(),
            extension: "csv".into(),
            layout: vec!["a".into()],
            header: None,
        };
        let t: Timestamp = "2025-03-01T09:30:00Z".parse().unwrap();
        let rec: Map<String, Value> = [("a".to_string(), json!("1"))].into_iter().collect();
        let sched = BatchSchedule::Every(Duration::from_secs(60));
        let call = ("buckaroo", "direct_debit_batch", "c");
        let mut spool = Spool::open(dir.path()).unwrap();
        let a = spool
            .add(call, "k1", "i1", &rec, t, 2, sched, &file)
            .unwrap();
        let again = spool
            .add(call, "k1", "i1", &rec, t, 2, sched, &file)
            .unwrap();
        assert_eq!((a.record_number, again.record_number), (1, 1));
        assert_eq!(again.file, None, "one record, not two");
        // Reopened (a restart): the open batch is still there.
        let mut spool = Spool::open(dir.path()).unwrap();
        let b = spool
            .add(call, "k2", "i2", &rec, t, 2, sched, &file)
            .unwrap();
        assert_eq!(b.record_number, 2);
        assert_eq!(b.file.as_deref(), Some("B20250301-000001.csv"));
        assert_eq!(b.wake, ["i1"]);
        let text = std::fs::read_to_string(dir.path().join("B20250301-000001.csv")).unwrap();
        assert_eq!(text, "a\r\n1\r\n1\r\n");
    }
}
