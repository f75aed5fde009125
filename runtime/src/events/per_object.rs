//! The poll of a provider with no event list ([`Listing::PerObject`]: Vipps's
//! eCom details, ePayment's event log): each object an issue waits on, with a
//! `poll`, is read on its own ([`source::read_object`]).
//!
//! - Only objects of issues waiting now on a polled wait of the connection are
//!   read ([`crate::store::FeedStore::waiting_for`]), each once per sweep
//!   however many issues wait on it; an object found settled (nothing more
//!   can happen to it) is not read again.
//! - One request budget per connection, shared by every issue: reads are at
//!   least `1 / budget` apart (the provider's documented read limit,
//!   [`source::poll_budget`], or `FLOWC_<CONNECTION>_POLL_BUDGET`: `120/m`,
//!   `2/s`), and spread evenly over the poll interval (a sweep of `n` objects
//!   reads one every `interval / n`, when that is slower). A sweep that needs
//!   longer than the interval takes as long as the budget says; the next one
//!   begins when it ends.
//! - A read the provider throttles (429) or cannot answer (5xx, network) is not
//!   tried again at once: the object goes back to the head of the sweep and
//!   the connection reads nothing more until `Retry-After` (else a second or
//!   the spacing, whichever is longer) has passed — a retry spends the budget
//!   like any read.
//! - What a read finds goes through [`EventFeed::ingest`], as a webhook's
//!   events do: deduplicated by event id, matched to the waits by object.
//!
//! Each [`EventFeed::poll_due`] makes the reads that are due on the runtime's
//! clock (on a virtual clock, one) and says when the next is
//! ([`PollReport::next_due`]), so a sweep never holds the worker up and a
//! simulation jumps from read to read.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jiff::Timestamp;

use super::source::{self, read_object};
use super::{ConnFeed, EventFeed, PollReport};
use crate::action::base_url;
use crate::clock::add;
use crate::engine::Runtime;
use crate::flow::{ConnectionDef, Flow, StepError, base_url_env};
use crate::http::HttpRequest;
use crate::http::budget::RateLimit;
use crate::providers::Kind;

/// How long a throttled connection waits when the provider says nothing.
const BUSY_WAIT: Duration = Duration::from_secs(1);
/// The longest wait after a throttled read, whatever `Retry-After` says.
const MAX_BUSY_WAIT: Duration = Duration::from_secs(300);

/// Why one read failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// The provider throttled or could not answer (429, 5xx, network): the
    /// connection waits, the object is read again.
    Busy {
        message: String,
        retry_after: Option<Duration>,
    },
    /// This object cannot be read (unknown, malformed answer): skipped in
    /// this sweep.
    Object(String),
}

/// Sends a per-object read of one connection: authorized as its actions are,
/// counted ([`Reader::calls`]), not tried again (the sweep does that, under
/// the budget).
#[derive(Debug)]
pub struct Reader<'a> {
    rt: &'a Runtime,
    conn: &'static ConnectionDef,
    kind: Kind,
    base: String,
    calls: AtomicUsize,
}

impl Reader<'_> {
    /// The connection's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Reads sent so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// Sends one GET; its body.
    pub async fn get(&self, req: HttpRequest) -> Result<String, ReadError> {
        let req = self
            .kind
            .authorize(self.rt, self.conn, &self.base, req)
            .map_err(|e| ReadError::Object(e.to_string()))?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        match self.rt.http.execute(&req, None, self.rt).await {
            Ok(resp) => Ok(resp.body),
            Err(StepError::Retry {
                message,
                retry_after,
                ..
            }) => Err(ReadError::Busy {
                message,
                retry_after,
            }),
            Err(e) => Err(ReadError::Object(e.to_string())),
        }
    }
}

/// One object to read: the event type of its wait and its key.
type Object = (&'static str, String);

/// The sweep of one connection.
#[derive(Debug, Default)]
struct Sweep {
    /// Objects still to read in this sweep, in order.
    queue: VecDeque<Object>,
    /// When the current (or last) sweep began.
    began: Option<Timestamp>,
    /// The time between two reads in this sweep.
    spacing: Duration,
    /// When the next read may go: the budget.
    next_read: Option<Timestamp>,
    /// Objects found settled (by the read they share), never read again.
    settled: HashSet<(String, String)>,
}

/// The sweeps of a feed, one per connection polled object by object.
#[derive(Debug, Default)]
pub(super) struct Sweeps(Mutex<HashMap<&'static str, Sweep>>);

/// `FLOWC_<CONNECTION>_POLL_BUDGET`.
pub fn budget_env(connection: &str) -> String {
    base_url_env(connection).replace("_BASE_URL", "_POLL_BUDGET")
}

/// The connection's read budget, in reads per second.
fn budget(conn: &ConnFeed, kind: Kind) -> Result<f64, String> {
    let var = budget_env(conn.conn.name);
    match crate::http::env_var(&var) {
        None => Ok(source::poll_budget(kind)),
        Some(v) => match RateLimit::parse(&v).map_err(|e| format!("{var}: {e}"))? {
            Some(r) => Ok(r.per_second),
            None => Err(format!("{var}: a per-object poll needs a budget")),
        },
    }
}

/// What the reads of one wait type share: the catalog's read (its API path).
fn read_of(conn: &ConnFeed, ty: &str) -> String {
    conn.catalog_event(ty)
        .and_then(|e| e.api.as_ref())
        .map_or_else(|| ty.to_string(), |a| a.path.clone())
}

/// Makes the reads of `conn` that are due now; the report says when the next
/// one is.
pub(super) async fn poll<F: Flow>(
    feed: &EventFeed<F>,
    conn: &ConnFeed,
    interval: Duration,
    now: Timestamp,
) -> Result<PollReport, String> {
    let rt = feed.engine.runtime();
    let kind = conn.kind.ok_or("no provider support")?;
    let per_second = budget(conn, kind)?;
    let min_spacing = Duration::from_secs_f64(1.0 / per_second);
    let provider = flowc_catalog::provider(conn.conn.provider)
        .ok_or_else(|| format!("unknown provider `{}`", conn.conn.provider))?;
    let reader = Reader {
        rt,
        conn: conn.conn,
        kind,
        base: base_url(&rt.base_urls, conn.conn, provider).map_err(|e| e.to_string())?,
        calls: AtomicUsize::new(0),
    };
    let mut report = PollReport {
        connection: conn.conn.name.to_string(),
        ..PollReport::default()
    };
    let mut sweep = {
        let mut all = feed.sweeps.0.lock().unwrap_or_else(|e| e.into_inner());
        all.remove(conn.conn.name).unwrap_or_default()
    };
    let result = run(
        feed,
        conn,
        &reader,
        &mut sweep,
        interval,
        min_spacing,
        now,
        &mut report,
    )
    .await;
    report.calls = reader.calls();
    let next = match (sweep.queue.is_empty(), sweep.began) {
        (false, _) => sweep.next_read.unwrap_or(now),
        (true, Some(b)) => add(b, interval).max(sweep.next_read.unwrap_or(now)),
        (true, None) => add(now, interval),
    };
    report.next_due = Some(next.max(now));
    feed.sweeps
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(conn.conn.name, sweep);
    result.map(|()| report)
}

#[allow(clippy::too_many_arguments)]
async fn run<F: Flow>(
    feed: &EventFeed<F>,
    conn: &ConnFeed,
    reader: &Reader<'_>,
    sweep: &mut Sweep,
    interval: Duration,
    min_spacing: Duration,
    now: Timestamp,
    report: &mut PollReport,
) -> Result<(), String> {
    let rt = feed.engine.runtime();
    if sweep.queue.is_empty() {
        if sweep.began.is_some_and(|b| now < add(b, interval)) {
            return Ok(());
        }
        sweep.queue = objects(feed, conn, sweep).await?;
        sweep.began = Some(now);
        let n = u32::try_from(sweep.queue.len().max(1)).unwrap_or(u32::MAX);
        sweep.spacing = (interval / n).max(min_spacing);
    }
    loop {
        let at = rt.clock.now();
        if sweep.next_read.is_some_and(|t| t > at) {
            return Ok(());
        }
        let Some((ty, key)) = sweep.queue.pop_front() else {
            return Ok(());
        };
        sweep.next_read = Some(add(at, sweep.spacing));
        match read_object(reader.kind, reader, ty, &key).await {
            Ok(read) => {
                report.listed += read.events.len();
                if read.settled {
                    sweep.settled.insert((read_of(conn, ty), key));
                }
                let (out, skipped) = feed.ingest(conn, &read.events, None, true).await?;
                report.skipped += skipped;
                report.outcome.delivered += out.delivered;
                report.outcome.duplicates += out.duplicates;
            }
            Err(ReadError::Busy {
                message,
                retry_after,
            }) => {
                let wait = retry_after
                    .unwrap_or(BUSY_WAIT)
                    .max(sweep.spacing)
                    .min(MAX_BUSY_WAIT);
                tracing::debug!(connection = conn.conn.name, object = %key, error = %message, "per-object poll: throttled");
                report.problems.push(format!("{key}: {message}"));
                sweep.queue.push_front((ty, key));
                sweep.next_read = Some(add(rt.clock.now(), wait));
                return Ok(());
            }
            Err(ReadError::Object(message)) => {
                tracing::warn!(connection = conn.conn.name, object = %key, error = %message, "per-object poll: read failed");
                report.problems.push(format!("{key}: {message}"));
            }
        }
        if rt.clock.is_virtual() {
            return Ok(());
        }
    }
}

/// The objects a new sweep reads: each key waited on (with a `poll`) once per
/// read, settled ones left out.
async fn objects<F: Flow>(
    feed: &EventFeed<F>,
    conn: &ConnFeed,
    sweep: &Sweep,
) -> Result<VecDeque<Object>, String> {
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut out = VecDeque::new();
    for ty in &conn.polled {
        let prefix = format!("event:{ty}:");
        let waiting = feed
            .engine
            .store()
            .waiting_for(&prefix)
            .await
            .map_err(|e| e.to_string())?;
        let read = read_of(conn, ty);
        for (_, wait_key) in waiting {
            let Some(key) = wait_key.strip_prefix(&prefix) else {
                continue;
            };
            let id = (read.clone(), key.to_string());
            if sweep.settled.contains(&id) || !seen.insert(id) {
                continue;
            }
            out.push_back((*ty, key.to_string()));
        }
    }
    Ok(out)
}
