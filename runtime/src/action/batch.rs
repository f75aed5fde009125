//! Batch actions: each issue adds its record, durably, to the open batch of an
//! action; the batch closes on its schedule or at `max` records and is handed
//! over (Buckaroo direct debit: a request file in the outbox directory, a header
//! line then one line per record, columns in the `file_layout` order); then every
//! issue in it goes on, with the file's name and its record number.
//!
//! The open and closed batches live in the flow's store ([`BatchStore`]), so
//! replicas on PostgreSQL share them: a record enters a batch once (keyed by
//! its step's idempotency key) and a batch closes once, in the store's
//! transaction. The file is written after the close: to a temporary name,
//! synced, then renamed, and recorded in the store. A crash in between leaves
//! the batch closed and unrecorded; the next step of the batch that runs writes
//! the file then, with the same name and bytes (a closed batch's records never
//! change, and the header's time is the close's), unless it is there already.
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
use serde_json::{Map, Value, json};

use super::input::{self, Target};
use super::{ActionResult, lookup};
use crate::clock::add;
use crate::engine::StepContext;
use crate::flow::{StepError, StepId, Transition, Wait, WaitOn};
use crate::providers::buckaroo::request_file;
use crate::store::{BatchAdd, BatchState};

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
    /// `description_prefix`, …). Missing settings take the catalog's defaults.
    /// Files go to the connection's [`outbox_dir`].
    pub settings: Value,
    /// The step's `retry:` policy for a batch file that cannot be written;
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

/// A connection's outbox directory: `FLOWC_<NAME>_OUTBOX`, else `outbox`.
pub fn outbox_dir(connection: &str) -> PathBuf {
    PathBuf::from(crate::http::env_var(&outbox_env(connection)).unwrap_or_else(|| "outbox".into()))
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
        // A hand-written call (a test's) may name its directory in
        // `settings.outbox`; flows cannot (the catalog has no such setting),
        // so theirs is always the connection's `outbox_dir`.
        let dir = match call.settings.get("outbox").and_then(Value::as_str) {
            Some(d) => PathBuf::from(d),
            None => outbox_dir(call.connection),
        };
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
            dir,
            prefix: setting(provider, &call.settings, "file_prefix").unwrap_or_default(),
            extension: setting(provider, &call.settings, "file_extension")
                .unwrap_or_else(|| "csv".into()),
            layout,
            header: None,
        })
    }
}

/// A batch's file name: `<prefix><opened yyyymmdd>-<number, 6 digits>.<extension>`,
/// `number` counting the batches of the action and connection from 1.
pub fn file_name(file: &FileSpec, opened_at: Timestamp, number: i64) -> String {
    format!(
        "{}{}-{number:06}.{}",
        file.prefix,
        opened_at.strftime("%Y%m%d"),
        file.extension
    )
}

/// Writes the file of a closed batch (`records`: its records in order,
/// `closed_at`: the header's time). The same batch always makes the same
/// bytes, so a file of its name already in the outbox with those bytes is
/// this batch, written before a crash kept the store from recording it, or by
/// another replica at the same moment: the outbox holds the batch once either
/// way. A file of its name with other bytes (left by another store, or
/// changed since) is never replaced: an error names it.
pub fn write_batch(
    file: &FileSpec,
    name: &str,
    closed_at: Timestamp,
    records: &[Value],
) -> Result<(), String> {
    std::fs::create_dir_all(&file.dir)
        .map_err(|e| format!("cannot create the outbox {}: {e}", file.dir.display()))?;
    let header = match &file.header {
        Some(h) => Some(request_file::header(
            name,
            closed_at,
            records,
            &h.settings,
            &h.website_key,
        )?),
        None => None,
    };
    let bytes = render_file(header.as_deref(), &file.layout, records)?;
    place(&file.dir.join(name), &bytes)
}

/// Writes a request file: the header record, each record marked `D` after it
/// (Buckaroo's), or without a header record a first line naming the layout's
/// columns and the bare records; to a temporary name, synced, then put into
/// place unless a file of that name is there (see [`write_batch`]).
pub fn write_file(
    path: &Path,
    header: Option<&[String]>,
    layout: &[String],
    records: &[Value],
) -> Result<(), String> {
    place(path, &render_file(header, layout, records)?)
}

/// A request file's bytes (see [`write_file`]).
pub fn render_file(
    header: Option<&[String]>,
    layout: &[String],
    records: &[Value],
) -> Result<Vec<u8>, String> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(Vec::new());
    let io = |e: csv::Error| format!("a request file: {e}");
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
    w.into_inner().map_err(|e| format!("a request file: {e}"))
}

/// Puts `bytes` at `path`, whole: written to a temporary name of this
/// process and moment, synced, then linked into place, which fails rather
/// than replace a file of that name (on a file system without hard links,
/// checked first, then renamed). A file there with the same bytes is
/// success; with other bytes, an error that names it.
fn place(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let shown = path.display();
    let tmp = path.with_file_name(format!(
        ".{}.{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("batch"),
        std::process::id(),
        Timestamp::now().as_nanosecond()
    ));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("writing {shown}: {e}"));
    }
    let same_there = || match std::fs::read(path) {
        Ok(there) if there == bytes => Ok(true),
        Ok(_) => Err(format!(
            "the outbox already holds another file named {shown} (left by another store, or \
             changed since it was written); it is not replaced: move it away and this batch's \
             file is written at the step's next attempt"
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("reading {shown}: {e}")),
    };
    let placed = match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => same_there().map(|_| ()),
        // No hard links here: look, then rename.
        Err(_) => match same_there() {
            Ok(true) => Ok(()),
            Ok(false) => std::fs::rename(&tmp, path).map_err(|e| format!("writing {shown}: {e}")),
            Err(e) => Err(e),
        },
    };
    let _ = std::fs::remove_file(&tmp);
    if placed.is_ok()
        && let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    placed
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
        let added = self
            .rt
            .store
            .batch_add(BatchAdd {
                provider: call.provider.into(),
                action: call.action.into(),
                connection: call.connection.into(),
                key: key.clone(),
                issue: issue.clone(),
                record: Value::Object(record),
                now,
                max: u64::try_from(max).unwrap_or(u64::MAX),
                close_at: call.schedule.close_at(now),
            })
            .await
            .map_err(|e| StepError::Store(format!("batch spool: {e}")))?;
        let file_name = match added.state {
            BatchState::Open => None,
            BatchState::Written { file } => Some(file),
            BatchState::Closed { closed_at, records } => {
                let name = file_name(&file, added.opened_at, added.number);
                let (n, values): (String, Vec<Value>) = (
                    name.clone(),
                    records.iter().map(|(_, r)| r.clone()).collect(),
                );
                tokio::task::spawn_blocking(move || write_batch(&file, &n, closed_at, &values))
                    .await
                    .map_err(|e| StepError::Store(format!("batch file: {e}")))?
                    .map_err(|m| StepError::Retry {
                        message: format!("step `{step}`: {name}: {m}"),
                        retry_after: None,
                        policy: call.retry,
                    })?;
                self.rt
                    .store
                    .batch_written(added.batch, &name)
                    .await
                    .map_err(|e| StepError::Store(format!("batch spool: {e}")))?;
                // Wake the batch's other issues. Should this be lost to a
                // crash, they look again at their next poll.
                let others: Vec<String> = records
                    .into_iter()
                    .map(|(i, _)| i)
                    .filter(|i| *i != issue)
                    .collect();
                if let Err(e) = self
                    .rt
                    .store
                    .send_signals(others, BATCH_SIGNAL, json!({"batch": added.batch}), now)
                    .await
                {
                    tracing::warn!(
                        batch = added.batch,
                        "batch handed over; waking its issues failed: {e}"
                    );
                }
                Some(name)
            }
        };
        match file_name {
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
    fn a_batch_file_is_written_once_with_the_same_bytes_whoever_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = FileSpec {
            dir: dir.path().join("outbox"),
            prefix: "B".into(),
            extension: "csv".into(),
            layout: vec!["a".into()],
            header: None,
        };
        let opened: Timestamp = "2025-03-01T09:30:00Z".parse().unwrap();
        let name = file_name(&file, opened, 7);
        assert_eq!(name, "B20250301-000007.csv");
        let records = [json!({"a": "1"}), json!({"a": 2})];
        write_batch(&file, &name, opened, &records).unwrap();
        let path = file.dir.join(&name);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\r\n1\r\n2\r\n");
        // Found there with its bytes (written before a crash kept it from
        // being recorded, or by another replica): success, written once.
        write_batch(&file, &name, opened, &records).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\r\n1\r\n2\r\n");
        // Another file of its name (another store's batch 7) is never
        // replaced: the error names it.
        std::fs::write(&path, "a\r\nsomeone else's\r\n").unwrap();
        let err = write_batch(&file, &name, opened, &records).unwrap_err();
        assert!(
            err.contains("already holds another file named") && err.contains(&name),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "a\r\nsomeone else's\r\n"
        );
        let left: Vec<_> = std::fs::read_dir(&file.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
    }
}
