//! Scheduled starts: `start: { schedule: { every: 1d } }` and
//! `{ cron: "0 9 * * 1-5", timezone: Europe/Amsterdam, catch_up: all }`.
//!
//! A schedule starts one issue per tick, exactly once per tick: the tick's
//! time is the start's key (`schedule:<schedule>@<tick>`, in the store's
//! `trigger_starts`, the table that makes one provider event start one issue),
//! and the newest tick handled is the schedule's cursor (`meta`), written in
//! the same transaction as the starts ([`crate::store::FeedStore::ingest_events`]).
//! A restart, `run --once` from the system's cron, or a second worker never
//! starts a tick twice.
//!
//! Ticks missed while no worker ran are caught up by the flow's policy: the
//! newest one only ([`CatchUp::Last`], the default) or every one
//! ([`CatchUp::All`]). The first worker on a store starts from its own time:
//! ticks before it are not caught up.
//!
//! `every: D` ticks at whole multiples of D since 1970-01-01T00:00:00Z
//! (`every: 1d` at midnight UTC), so every worker computes the same ticks. A
//! cron expression has the five standard fields and ticks in its time zone
//! (UTC unless the flow names one), with Vixie cron's handling of DST (via
//! `croner`): a fixed time skipped by a spring-forward runs right after the
//! gap, a fixed time repeated by a fall-back runs once; wildcard and step
//! fields follow the wall clock.
//!
//! A scheduled issue starts with the data items' defaults (the checker
//! rejects a required item without a default in a flow with a schedule,
//! E0509).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

use crate::clock::{Clock, add};
use crate::engine::{Engine, IssueCtx};
use crate::flow::{Flow, StepId};
use crate::store::{FeedBatch, FeedStart, NewIssue, StoreError};

/// How a schedule ticks, as generated code declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickDef {
    /// `every: 1d`: at whole multiples of the interval since the Unix epoch.
    Every(Duration),
    /// `cron: "0 9 * * 1-5"` in an IANA time zone (`UTC` when the flow names none).
    Cron {
        expr: &'static str,
        timezone: &'static str,
    },
}

/// Which missed ticks a schedule starts when a worker comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    /// The newest missed tick only.
    #[default]
    Last,
    /// Every missed tick, oldest first.
    All,
}

impl CatchUp {
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Last => "last",
            CatchUp::All => "all",
        }
    }

    /// `last` or `all`, as the flow language spells them.
    pub fn parse(s: &str) -> Option<CatchUp> {
        match s {
            "last" => Some(CatchUp::Last),
            "all" => Some(CatchUp::All),
            _ => None,
        }
    }
}

/// A scheduled start of a flow (`fn schedules()` of generated code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleDef {
    pub tick: TickDef,
    pub catch_up: CatchUp,
}

/// A cron expression of the five standard fields (minute hour day-of-month
/// month day-of-week; names such as `MON` and `JAN` too), read as the checker
/// and the runtime both read it. An expression that never matches
/// (`0 0 30 2 *`) is refused too.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    let fields = expr.split_whitespace().count();
    if fields != 5 {
        return Err(format!("{fields} fields, not five"));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        // Vixie cron: a restricted day of month and day of week match either.
        .dom_and_dow(false)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string().trim_end_matches('.').to_string())?;
    // A fixed reference, so that the answer never depends on today.
    let reference = Timestamp::UNIX_EPOCH.to_zoned(TimeZone::UTC);
    cron.find_next_occurrence(&reference, false)
        .map_err(|_| "it never matches a date".to_string())?;
    Ok(cron)
}

/// An IANA time zone name (`Europe/Amsterdam`, `UTC`), from the system's
/// time zone database or, without one, the copy bundled into the binary.
pub fn parse_timezone(name: &str) -> Result<TimeZone, String> {
    if name.is_empty() {
        return Err("an empty time zone name".into());
    }
    TimeZone::get(name).map_err(|_| {
        format!("`{name}` is not a time zone (IANA names such as `Europe/Amsterdam` or `UTC`)")
    })
}

/// Every time zone name the database knows (for "did you mean" help).
pub fn timezone_names() -> Vec<String> {
    jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_string())
        .collect()
}

/// `1d`, `90m`, `45s`: a duration in its largest whole unit.
fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() != 0 || s == 0 {
        return format!("{}ms", d.as_millis());
    }
    for (unit, n) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s.is_multiple_of(n) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

/// A schedule's tick times.
#[derive(Clone)]
pub struct Ticker {
    kind: Kind,
    /// `every 1d`, `cron 0 9 * * 1-5 Europe/Amsterdam`: the schedule's key.
    label: String,
}

#[derive(Clone)]
enum Kind {
    /// The interval in nanoseconds (> 0).
    Every(i128),
    Cron(Box<Cron>, TimeZone),
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl Ticker {
    pub fn every(d: Duration) -> Result<Ticker, String> {
        let nanos = d.as_nanos();
        if nanos == 0 {
            return Err("a schedule cannot run every 0 seconds".into());
        }
        Ok(Ticker {
            kind: Kind::Every(i128::try_from(nanos).map_err(|_| "interval too long")?),
            label: format!("every {}", duration_text(d)),
        })
    }

    pub fn cron(expr: &str, timezone: &str) -> Result<Ticker, String> {
        let cron = parse_cron(expr).map_err(|e| format!("cron `{expr}`: {e}"))?;
        let tz = parse_timezone(timezone)?;
        let fields: Vec<&str> = expr.split_whitespace().collect();
        Ok(Ticker {
            kind: Kind::Cron(Box::new(cron), tz),
            label: format!("cron {} {timezone}", fields.join(" ")),
        })
    }

    pub fn from_def(def: &TickDef) -> Result<Ticker, String> {
        match *def {
            TickDef::Every(d) => Ticker::every(d),
            TickDef::Cron { expr, timezone } => Ticker::cron(expr, timezone),
        }
    }

    /// `every 1d` or `cron 0 9 * * 1-5 UTC`: names the schedule in keys and output.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The first tick strictly after `t` (`None` past the end of time).
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(n) => {
                let k = t.as_nanosecond().div_euclid(*n) + 1;
                Timestamp::from_nanosecond(k.checked_mul(*n)?).ok()
            }
            Kind::Cron(cron, tz) => {
                let mut from = t.to_zoned(tz.clone());
                // croner works in whole seconds; never give back `t` itself.
                for _ in 0..3 {
                    let next = cron.find_next_occurrence(&from, false).ok()?;
                    if next.timestamp() > t {
                        return Some(next.timestamp());
                    }
                    from = next;
                }
                None
            }
        }
    }

    /// The newest tick at or before `t`.
    pub fn last_at_or_before(&self, t: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(n) => {
                let k = t.as_nanosecond().div_euclid(*n);
                Timestamp::from_nanosecond(k.checked_mul(*n)?).ok()
            }
            Kind::Cron(cron, tz) => {
                let prev = cron
                    .find_previous_occurrence(&t.to_zoned(tz.clone()), true)
                    .ok()?
                    .timestamp();
                (prev <= t).then_some(prev)
            }
        }
    }

    /// Up to `limit` ticks in `(after, upto]`, oldest first.
    pub fn ticks_between(&self, after: Timestamp, upto: Timestamp, limit: usize) -> Vec<Timestamp> {
        let mut out = Vec::new();
        let mut t = after;
        while out.len() < limit {
            match self.next_after(t) {
                Some(n) if n <= upto => {
                    out.push(n);
                    t = n;
                }
                _ => break,
            }
        }
        out
    }
}

/// Ticks started in one transaction at most, when a long downtime is caught up.
const CHUNK: usize = 500;

/// One schedule of the flow, with its cursor as last read or written.
#[derive(Debug)]
struct Entry {
    ticker: Ticker,
    catch_up: CatchUp,
    /// The newest tick handled (`None`: not read yet).
    cursor: Mutex<Option<Timestamp>>,
}

impl Entry {
    /// The cursor's name in the store.
    fn feed(&self) -> String {
        format!("schedule:{}", self.ticker.label())
    }

    fn cached(&self) -> Option<Timestamp> {
        *self.cursor.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_cached(&self, t: Timestamp) {
        *self.cursor.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
    }
}

/// What one schedule did at one look.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// The schedule's label (`every 1d`).
    pub schedule: String,
    /// The ticks handled, oldest first (per the catch-up policy).
    pub ticks: Vec<Timestamp>,
    /// Ids of the issues started (a tick that started one before starts none).
    pub started: Vec<String>,
    /// Ticks passed over by `catch_up: last`.
    pub skipped: usize,
}

/// A schedule as `list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleStatus {
    pub schedule: String,
    pub catch_up: CatchUp,
    /// The newest tick handled; `None` before the first `run`.
    pub cursor: Option<Timestamp>,
    /// Ticks since the cursor up to now that no worker has handled yet (at most 10,000 counted).
    pub missed: usize,
    /// The next tick after now.
    pub next: Option<Timestamp>,
}

impl fmt::Display for ScheduleStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "schedule {} (catch_up {}): next tick {}",
            self.schedule,
            self.catch_up.as_str(),
            self.next.map_or_else(|| "never".into(), |t| t.to_string())
        )?;
        match (self.cursor, self.missed) {
            (None, _) => write!(
                f,
                "; not started yet (the first `run` starts from its own time)"
            ),
            (Some(_), 0) => Ok(()),
            (Some(c), n) => {
                let more = if n >= MISSED_COUNTED { "+" } else { "" };
                let what = match self.catch_up {
                    CatchUp::Last => "the next `run` starts the newest",
                    CatchUp::All => "the next `run` starts them all",
                };
                write!(f, "; {n}{more} missed since {c}, {what}")
            }
        }
    }
}

const MISSED_COUNTED: usize = 10_000;

/// The scheduled starts of a flow's engine.
pub struct Schedules<F: Flow> {
    engine: Engine<F>,
    entries: Vec<Entry>,
}

impl<F: Flow> fmt::Debug for Schedules<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedules")
            .field("entries", &self.entries)
            .finish()
    }
}

impl<F: Flow> Schedules<F> {
    /// The schedules of `F` (`fn schedules()`); an error names a schedule the
    /// runtime cannot read (the checker accepts none such).
    pub fn new(engine: Engine<F>) -> Result<Schedules<F>, String> {
        Self::with_defs(engine, F::schedules())
    }

    /// The schedules `defs` for `F`'s engine (tests give their own).
    pub fn with_defs(engine: Engine<F>, defs: &[ScheduleDef]) -> Result<Schedules<F>, String> {
        let mut entries: Vec<Entry> = Vec::new();
        for d in defs {
            let ticker = Ticker::from_def(&d.tick).map_err(|e| format!("schedule: {e}"))?;
            // The same schedule twice is one schedule (one key per tick).
            if entries.iter().any(|e| e.ticker.label() == ticker.label()) {
                continue;
            }
            entries.push(Entry {
                ticker,
                catch_up: d.catch_up,
                cursor: Mutex::new(None),
            });
        }
        Ok(Schedules { engine, entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// When [`Schedules::start_due`] has something to do next: the earliest
    /// next tick (`Some(MIN)` while a schedule has not read its cursor yet).
    pub fn next_due(&self) -> Option<Timestamp> {
        self.entries
            .iter()
            .filter_map(|e| match e.cached() {
                None => Some(Timestamp::MIN),
                Some(c) => e.ticker.next_after(c),
            })
            .min()
    }

    /// Starts the issues of every tick due at `now`, per schedule and policy.
    /// The first look of a store only records `now` as its cursor.
    pub async fn start_due(&self, now: Timestamp) -> Result<Vec<TickReport>, StoreError> {
        let mut reports = Vec::new();
        for e in &self.entries {
            let r = self.start_due_one(e, now).await?;
            if !r.ticks.is_empty() {
                tracing::info!(
                    schedule = %r.schedule,
                    ticks = r.ticks.len(),
                    started = r.started.len(),
                    skipped = r.skipped,
                    "scheduled starts"
                );
                self.engine.runtime().notify.notify_one();
                reports.push(r);
            }
        }
        Ok(reports)
    }

    async fn read_cursor(&self, e: &Entry) -> Result<Option<Timestamp>, StoreError> {
        let stored = self.engine.store().feed_cursor(&e.feed()).await?;
        Ok(stored.and_then(|s| match s.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                tracing::warn!(schedule = e.ticker.label(), cursor = %s, "unreadable schedule cursor; starting from now");
                None
            }
        }))
    }

    async fn start_due_one(&self, e: &Entry, now: Timestamp) -> Result<TickReport, StoreError> {
        let mut report = TickReport {
            schedule: e.ticker.label().to_string(),
            ..TickReport::default()
        };
        // Read every time: another worker may have moved it.
        let Some(cursor) = self.read_cursor(e).await? else {
            self.commit(e, now, Vec::new(), now).await?;
            return Ok(report);
        };
        e.set_cached(cursor);
        let mut cursor = cursor;
        match e.catch_up {
            CatchUp::Last => {
                let Some(last) = e.ticker.last_at_or_before(now).filter(|t| *t > cursor) else {
                    return Ok(report);
                };
                report.skipped = e
                    .ticker
                    .ticks_between(cursor, last, MISSED_COUNTED)
                    .len()
                    .saturating_sub(1);
                report.started = self.commit(e, last, vec![last], now).await?;
                report.ticks.push(last);
            }
            CatchUp::All => loop {
                let ticks = e.ticker.ticks_between(cursor, now, CHUNK);
                let Some(&last) = ticks.last() else { break };
                report
                    .started
                    .extend(self.commit(e, last, ticks.clone(), now).await?);
                report.ticks.extend(ticks);
                cursor = last;
            },
        }
        Ok(report)
    }

    /// Starts one issue per tick (unless the tick started one before) and moves
    /// the cursor to `cursor`, in one transaction.
    async fn commit(
        &self,
        e: &Entry,
        cursor: Timestamp,
        ticks: Vec<Timestamp>,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let mut starts = Vec::with_capacity(ticks.len());
        if !ticks.is_empty() {
            match Engine::<F>::validate(&Value::Object(Default::default())) {
                Ok(data) => {
                    let first = F::first_step().id();
                    let mut ctx = IssueCtx::default();
                    ctx.visits.insert(first.to_string(), 1);
                    let ctx = serde_json::to_value(&ctx).unwrap_or(Value::Null);
                    for t in ticks {
                        starts.push(FeedStart {
                            event_id: format!("schedule:{}@{t}", e.ticker.label()),
                            issue: NewIssue {
                                id: uuid::Uuid::now_v7().to_string(),
                                step: first.to_string(),
                                data: data.clone(),
                                ctx: ctx.clone(),
                                now,
                            },
                        });
                    }
                }
                Err(errs) => {
                    // The checker refuses such a flow (E0509); an old binary
                    // on a changed schema still says so rather than looping.
                    let m: Vec<String> = errs.iter().map(ToString::to_string).collect();
                    tracing::error!(schedule = e.ticker.label(), error = %m.join("; "), "scheduled tick starts no issue");
                }
            }
        }
        let out = self
            .engine
            .store()
            .ingest_events(FeedBatch {
                feed: e.feed(),
                cursor: Some(cursor.to_string()),
                events: Vec::new(),
                starts,
                now,
            })
            .await?;
        e.set_cached(cursor);
        Ok(out.started)
    }

    /// Each schedule's cursor, missed ticks and next tick at `now` (for `list`).
    pub async fn status(&self, now: Timestamp) -> Result<Vec<ScheduleStatus>, StoreError> {
        let mut out = Vec::new();
        for e in &self.entries {
            let cursor = self.read_cursor(e).await?;
            let missed = cursor.map_or(0, |c| e.ticker.ticks_between(c, now, MISSED_COUNTED).len());
            out.push(ScheduleStatus {
                schedule: e.ticker.label().to_string(),
                catch_up: e.catch_up,
                cursor,
                missed,
                next: e.ticker.next_after(now),
            });
        }
        Ok(out)
    }

    /// Starts due ticks on the runtime's clock until `stop`: the worker's loop.
    pub async fn run_loop(&self, clock: &dyn Clock, stop: &mut tokio::sync::watch::Receiver<bool>) {
        loop {
            let now = clock.now();
            let mut until = add(now, Duration::from_secs(60));
            match self.start_due(now).await {
                Ok(_) => {
                    if let Some(t) = self.next_due() {
                        until = until.min(t);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "scheduled starts: the store failed; trying again");
                    until = add(now, Duration::from_secs(5));
                }
            }
            tokio::select! {
                _ = clock.sleep_until(until) => {}
                _ = stop.wait_for(|v| *v) => return,
            }
        }
    }
}

/// The schedules' part of a worker (`run`): with `once`, starts the ticks
/// due now; else starts them as they come, on the engine's clock, until
/// `stop`. Nothing for a flow without a schedule.
pub async fn start_worker<F: Flow>(
    engine: &Engine<F>,
    once: bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let schedules = Arc::new(Schedules::new(engine.clone())?);
    if schedules.is_empty() {
        return Ok(());
    }
    let clock = engine.runtime().clock.clone();
    if once {
        schedules
            .start_due(clock.now())
            .await
            .map_err(|e| e.to_string())?;
    } else {
        tokio::spawn(async move { schedules.run_loop(clock.as_ref(), &mut stop).await });
    }
    Ok(())
}

/// `list`'s lines about the schedules: each one's next and missed ticks.
pub async fn status_lines<F: Flow>(engine: &Engine<F>) -> Result<Vec<String>, String> {
    let schedules = Schedules::new(engine.clone())?;
    let now = engine.runtime().clock.now();
    let status = schedules.status(now).await.map_err(|e| e.to_string())?;
    Ok(status.iter().map(ToString::to_string).collect())
}

#[cfg(test)]
mod tests;
