//! Provider events into the runtime: one consolidated poll of each connection's
//! event list (not one call per waiting issue), webhooks, and trigger starts.
//! What differs per provider (reading an event, verifying a webhook, listing
//! events) is asked of [`source`]; the rest is provider-neutral.
//!
//! [`EventFeed::poll_due`] is one step that the worker loop (`run`, `run --once`)
//! and `simulate` call with the runtime's clock; [`EventFeed::next_due`] says when
//! to call it again. Every page of events is stored with the cursor that covers
//! it and the issues its trigger events start, in one transaction
//! ([`crate::store::FeedStore::ingest_events`]): a crash never loses or doubles
//! an event, and an event starts at most one issue whether it came by poll, by
//! webhook ([`webhook`]) or both.

pub mod inbox;
pub mod per_object;
mod poll;
pub mod posted;
pub mod source;
pub mod webhook;
mod window;

pub use source::can_poll;

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use flowc_catalog::Event as CatalogEvent;
use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::action::output::map_fields;
use crate::clock::add;
use crate::engine::{Engine, IssueCtx};
use crate::flow::{ConnectionDef, Flow, StepId};
use crate::providers::Kind;
use crate::store::{FeedBatch, FeedEvent, FeedOutcome, FeedStart, NewIssue};

/// Where a stored event's data keeps the time the provider stamped it with
/// ([`source::event_time`]); the engine takes it out before the wait sees the
/// data, and never lets an event older than the last one a wait took move
/// the issue ([`split_time`]).
pub const EVENT_TIME_KEY: &str = "$at";

/// Takes the provider's time out of a stored event's data.
pub fn split_time(mut data: Value) -> (Value, Option<Timestamp>) {
    let at = data
        .as_object_mut()
        .and_then(|m| m.remove(EVENT_TIME_KEY))
        .and_then(|v| v.as_str().and_then(|s| s.parse().ok()));
    (data, at)
}

/// How often a trigger without `every` is polled (it still comes by webhook at once).
pub const DEFAULT_TRIGGER_EVERY: Duration = Duration::from_secs(300);
/// How often a connection's inbox is read while an issue waits for a file event.
pub const INBOX_EVERY: Duration = Duration::from_secs(900);

/// The feed of one connection: the event types it lists and how often.
#[derive(Debug)]
struct ConnFeed {
    conn: &'static ConnectionDef,
    kind: Option<Kind>,
    /// Event types that start issues.
    triggers: Vec<&'static str>,
    /// Event types that waits match.
    waits: Vec<&'static str>,
    /// Event types of waits with a `poll` (what a per-object poll reads).
    polled: Vec<&'static str>,
    /// The smallest `every` of its triggers (None: no trigger).
    trigger_every: Option<Duration>,
    /// The smallest `poll` of its waits (None: webhook only).
    wait_poll: Option<Duration>,
    /// How often its inbox is read, when one of its waits is for an event
    /// that comes as a file ([`source::file_events`]).
    files_every: Option<Duration>,
}

impl ConnFeed {
    fn types(&self) -> Vec<&'static str> {
        let mut t: Vec<&'static str> = self.triggers.iter().chain(&self.waits).copied().collect();
        t.sort_unstable();
        t.dedup();
        t
    }

    fn catalog_event(&self, ty: &str) -> Option<&'static CatalogEvent> {
        flowc_catalog::provider(self.conn.provider)?.event(ty)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Schedule {
    next_due: Option<Timestamp>,
    failures: u32,
}

/// What one poll of a connection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    pub connection: String,
    /// List calls sent (retries included).
    pub calls: usize,
    /// Events the provider listed.
    pub listed: usize,
    pub outcome: FeedOutcome,
    /// Events listed that could not be read (logged, skipped).
    pub skipped: usize,
    /// What went wrong with single records (a malformed row of a response
    /// file, a record for an invoice nobody waits for), one line each.
    pub problems: Vec<String>,
    /// When this connection has its next read, when that is not one poll
    /// interval on (a per-object poll spreads its reads over the interval).
    pub next_due: Option<Timestamp>,
}

/// The event feed of a flow's engine.
pub struct EventFeed<F: Flow> {
    engine: Engine<F>,
    feeds: Vec<ConnFeed>,
    schedule: Mutex<Vec<Schedule>>,
    /// The sweeps of connections polled object by object.
    sweeps: per_object::Sweeps,
}

impl<F: Flow> fmt::Debug for EventFeed<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventFeed")
            .field("feeds", &self.feeds)
            .finish()
    }
}

fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<F: Flow> EventFeed<F> {
    /// The feeds of `F`'s triggers and event waits, one per connection.
    pub fn new(engine: Engine<F>) -> EventFeed<F> {
        let mut feeds: Vec<ConnFeed> = Vec::new();
        let mut feed_of = |name: &str| -> Option<usize> {
            if let Some(i) = feeds.iter().position(|f| f.conn.name == name) {
                return Some(i);
            }
            let conn = F::connections().iter().find(|c| c.name == name)?;
            feeds.push(ConnFeed {
                conn,
                kind: Kind::from_name(conn.provider),
                triggers: Vec::new(),
                waits: Vec::new(),
                polled: Vec::new(),
                trigger_every: None,
                wait_poll: None,
                files_every: None,
            });
            Some(feeds.len() - 1)
        };
        let mut pending = Vec::new();
        for t in F::triggers() {
            if let Some(i) = feed_of(t.connection) {
                pending.push((
                    i,
                    Some((t.event, t.every.unwrap_or(DEFAULT_TRIGGER_EVERY))),
                    None,
                ));
            }
        }
        for w in F::event_feeds() {
            if let Some(i) = feed_of(w.connection) {
                pending.push((i, None, Some((w.event, w.poll))));
            }
        }
        for (i, t, w) in pending {
            let f = &mut feeds[i];
            if let Some((ev, every)) = t {
                f.triggers.push(ev);
                f.trigger_every = min_opt(f.trigger_every, Some(every));
            }
            if let Some((ev, poll)) = w {
                f.waits.push(ev);
                if poll.is_some() && !f.polled.contains(&ev) {
                    f.polled.push(ev);
                }
                f.wait_poll = min_opt(f.wait_poll, poll);
            }
        }
        for f in &mut feeds {
            // Only providers whose event list the runtime reads are polled (the
            // checker refuses `poll`/`every` for the others); their events come
            // by webhook only.
            match f.kind.and_then(source::listing) {
                None => {
                    f.trigger_every = None;
                    f.wait_poll = None;
                }
                // Objects are read for waits only: no list shows new ones.
                Some(source::Listing::PerObject) => f.trigger_every = None,
                Some(_) => {}
            }
            if f.kind
                .is_some_and(|k| source::file_events(k).iter().any(|e| f.waits.contains(e)))
            {
                f.files_every = Some(inbox::every(f.conn.name));
            }
        }
        let schedule = Mutex::new(vec![Schedule::default(); feeds.len()]);
        EventFeed {
            engine,
            feeds,
            schedule,
            sweeps: per_object::Sweeps::default(),
        }
    }

    pub fn engine(&self) -> &Engine<F> {
        &self.engine
    }

    /// Whether the flow has anything to poll at all.
    pub fn is_empty(&self) -> bool {
        self.feeds.is_empty()
    }

    /// When `poll_due` has something to do next (`None`: never, e.g. webhook-only waits).
    pub fn next_due(&self) -> Option<Timestamp> {
        self.polled_due_times().into_iter().map(|(_, at)| at).min()
    }

    /// When `poll_due` next has a call to make, for a simulation that jumps its
    /// virtual clock from one due time to the next: like [`EventFeed::next_due`],
    /// but a connection polled only for waits counts only while an issue waits on
    /// it. (`poll_due` skips such a connection's calls while nobody waits; counting
    /// its interval all the same made a month-long wait between two charges
    /// thousands of empty simulation cycles, seconds of real time.)
    pub async fn next_due_active(&self) -> Option<Timestamp> {
        let mut next: Option<Timestamp> = None;
        for (i, at) in self.polled_due_times() {
            if self.calls_now(&self.feeds[i]).await {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        next
    }

    /// Each polled connection (one with a trigger's `every` or a wait's `poll`)
    /// and when it is next due, by index into `feeds`.
    fn polled_due_times(&self) -> Vec<(usize, Timestamp)> {
        let s = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        self.feeds
            .iter()
            .zip(s.iter())
            .enumerate()
            .filter(|(_, (f, _))| {
                f.trigger_every.is_some() || f.wait_poll.is_some() || f.files_every.is_some()
            })
            .map(|(i, (_, s))| (i, s.next_due.unwrap_or(Timestamp::MIN)))
            .collect()
    }

    /// Whether a poll of this connection makes its list call now: always for a
    /// trigger, for waits only while an issue waits on one of its events.
    async fn calls_now(&self, feed: &ConnFeed) -> bool {
        feed.trigger_every.is_some() || self.someone_waits(feed).await
    }

    /// Whether this process polls `feed` now: replicas on one PostgreSQL store
    /// take turns by a named lease that outlives two intervals, so one of them
    /// polls while it lives and another takes over when it dies.
    async fn holds_feed(&self, feed: &ConnFeed, interval: Duration) -> bool {
        let ttl = interval.saturating_mul(2) + Duration::from_secs(30);
        let name = format!("feed:{}", feed.conn.name);
        match self.engine.store().try_lease(&name, ttl).await {
            Ok(mine) => mine,
            Err(e) => {
                tracing::warn!(connection = feed.conn.name, error = %e, "event feed lease");
                false
            }
        }
    }

    /// Polls every connection that is due at `now` (a trigger's `every`; a wait's
    /// `poll` while an issue waits on the connection). Errors are logged and the
    /// connection is tried again later; the reports of the polls that ran.
    pub async fn poll_due(&self, now: Timestamp) -> Vec<PollReport> {
        let mut reports = Vec::new();
        for (i, feed) in self.feeds.iter().enumerate() {
            let sched = self.schedule.lock().unwrap_or_else(|e| e.into_inner())[i];
            if sched.next_due.is_some_and(|t| t > now) {
                continue;
            }
            let Some(interval) = min_opt(
                min_opt(feed.trigger_every, feed.wait_poll),
                feed.files_every,
            ) else {
                continue;
            };
            let active = self.calls_now(feed).await && self.holds_feed(feed, interval).await;
            let mut next = Schedule {
                next_due: Some(add(now, interval)),
                failures: 0,
            };
            if active {
                match self.poll_one(feed, now).await {
                    Ok(r) => {
                        if let Some(at) = r.next_due {
                            next.next_due = Some(at);
                        }
                        if r.outcome.delivered > 0 || !r.outcome.started.is_empty() {
                            tracing::info!(
                                connection = feed.conn.name,
                                calls = r.calls,
                                delivered = r.outcome.delivered,
                                started = r.outcome.started.len(),
                                "event feed"
                            );
                            self.engine.runtime().notify.notify_one();
                        }
                        reports.push(r);
                    }
                    Err(e) => {
                        let failures = sched.failures + 1;
                        let backoff = Duration::from_secs(30)
                            .saturating_mul(1 << failures.min(10))
                            .min(interval);
                        tracing::warn!(connection = feed.conn.name, error = %e, failures, "event feed poll failed");
                        next = Schedule {
                            next_due: Some(add(now, backoff)),
                            failures,
                        };
                    }
                }
            }
            self.schedule.lock().unwrap_or_else(|e| e.into_inner())[i] = next;
        }
        reports
    }

    /// One connection's list call (when it has one) and inbox (when it has one).
    async fn poll_one(&self, feed: &ConnFeed, now: Timestamp) -> Result<PollReport, String> {
        let per_object = feed.kind.and_then(source::listing) == Some(source::Listing::PerObject);
        let mut report = if let Some(poll) = feed.wait_poll.filter(|_| per_object) {
            // Swept every `poll` of its waits, not every read of an inbox
            // the same connection has (Buckaroo: 15 minutes).
            per_object::poll(self, feed, poll, now).await?
        } else if feed.trigger_every.is_some() || feed.wait_poll.is_some() {
            poll::poll_connection(self, feed).await?
        } else {
            PollReport {
                connection: feed.conn.name.to_string(),
                ..PollReport::default()
            }
        };
        if let Some(files) = feed.files_every {
            inbox::read(self, feed, &mut report).await?;
            // The inbox is read on its own interval, whenever the sweep's
            // next read is.
            report.next_due = report.next_due.map(|t| t.min(add(now, files)));
        }
        Ok(report)
    }

    async fn someone_waits(&self, feed: &ConnFeed) -> bool {
        if feed.wait_poll.is_none() && feed.files_every.is_none() {
            return false;
        }
        for ev in &feed.waits {
            match self
                .engine
                .store()
                .waiting_on(&format!("event:{ev}:"))
                .await
            {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "event feed: cannot read the store");
                    return false;
                }
            }
        }
        false
    }

    /// Stores `events` (oldest first) of a connection: each one of a wait type is
    /// delivered, each one of a trigger type starts an issue (unless `first_poll`),
    /// and the cursor moves to `cursor`, in one transaction.
    async fn ingest(
        &self,
        feed: &ConnFeed,
        events: &[Value],
        cursor: Option<String>,
        first_poll: bool,
    ) -> Result<(FeedOutcome, usize), String> {
        let rt = self.engine.runtime();
        let now = rt.clock.now();
        let mut batch = FeedBatch {
            feed: feed.conn.name.to_string(),
            cursor,
            events: Vec::new(),
            starts: Vec::new(),
            now,
        };
        let mut skipped = 0;
        for raw in events {
            match self.prepare(feed, raw, first_poll, now) {
                Ok((ev, start)) => {
                    batch.events.extend(ev);
                    batch.starts.extend(start);
                }
                Err(e) => {
                    skipped += 1;
                    tracing::warn!(connection = feed.conn.name, error = %e, "event skipped");
                }
            }
        }
        let out = rt
            .store
            .ingest_events(batch)
            .await
            .map_err(|e| e.to_string())?;
        Ok((out, skipped))
    }

    /// One event as what to deliver and whom to start; nothing for a type the
    /// flow does not use.
    fn prepare(
        &self,
        feed: &ConnFeed,
        raw: &Value,
        first_poll: bool,
        now: Timestamp,
    ) -> Result<(Option<FeedEvent>, Option<FeedStart>), String> {
        let kind = feed
            .kind
            .ok_or_else(|| format!("provider `{}` has no event support", feed.conn.provider))?;
        let head = source::event_head(kind, raw)?;
        let (is_wait, is_trigger) = (
            feed.waits.contains(&head.ty),
            feed.triggers.contains(&head.ty) && !first_poll,
        );
        if !is_wait && !is_trigger {
            return Ok((None, None));
        }
        let def = feed
            .catalog_event(head.ty)
            .ok_or_else(|| format!("{}: unknown event type `{}`", head.id, head.ty))?;
        let outputs = map_fields(kind, &def.outputs, raw)
            .map_err(|e| format!("{} ({}): {}", head.id, head.ty, e.join("; ")))?;
        let ev = is_wait.then(|| {
            let mut data = outputs.clone();
            if let Some(at) = source::event_time(kind, raw) {
                data.insert(EVENT_TIME_KEY.into(), Value::String(at.to_string()));
            }
            FeedEvent {
                event_id: head.id.to_string(),
                name: head.ty.to_string(),
                key: head.object_id.to_string(),
                data: Value::Object(data),
            }
        });
        let start = if is_trigger {
            Some(self.start_of(&head.id, head.ty, &outputs, now)?)
        } else {
            None
        };
        Ok((ev, start))
    }

    /// The issue a trigger event starts: every output named like a data item fills
    /// it, validated like any input record.
    fn start_of(
        &self,
        event_id: &str,
        ty: &str,
        outputs: &Map<String, Value>,
        now: Timestamp,
    ) -> Result<FeedStart, String> {
        let record: Map<String, Value> = F::schema()
            .items
            .iter()
            .filter_map(|i| {
                outputs
                    .get(i.name)
                    .filter(|v| !v.is_null())
                    .map(|v| (i.name.to_string(), v.clone()))
            })
            .collect();
        let data = Engine::<F>::validate(&Value::Object(record)).map_err(|errs| {
            let m: Vec<String> = errs.iter().map(ToString::to_string).collect();
            format!("{event_id} ({ty}) starts no issue: {}", m.join("; "))
        })?;
        let first = F::first_step().id();
        let mut ctx = IssueCtx::default();
        ctx.visits.insert(first.to_string(), 1);
        Ok(FeedStart {
            event_id: event_id.to_string(),
            issue: NewIssue {
                id: uuid::Uuid::now_v7().to_string(),
                step: first.to_string(),
                data,
                ctx: serde_json::to_value(&ctx).unwrap_or(Value::Null),
                now,
            },
        })
    }
}

#[cfg(test)]
mod inbox_tests;
#[cfg(test)]
mod paypal_tests;
#[cfg(test)]
mod per_object_epayment_tests;
#[cfg(test)]
mod per_object_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vipps_tests;
