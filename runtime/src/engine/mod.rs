//! The durable engine: runs issues step by step, commits state before and after
//! every side effect, schedules retries, timers, waits and polls on the clock.

mod context;

pub use context::{StepContext, Wake};

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::clock::{BoxFuture, Clock, add};
use crate::flow::{ConnectionDef, Flow, Outcome, StepError, StepId, Transition, WaitOn};
use crate::http::HttpClient;
use crate::retry::RetryPolicy;
use crate::store::{
    Commit, CommitOutcome, HistoryEntry, IssueRow, IssueState, IssueUpdate, NewIssue, Store,
    StoreError,
};
use crate::value::FieldError;

/// What every issue of a running flow shares.
pub struct Runtime {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub http: HttpClient,
    pub flow: &'static str,
    pub connections: &'static [ConnectionDef],
    pub default_retry: RetryPolicy,
    /// Base URL of each connection: the flow's, `FLOWC_<NAME>_BASE_URL`, or a
    /// simulation's local server.
    pub base_urls: std::collections::HashMap<String, String>,
    /// Woken when new work arrives in this process (a start, a signal).
    pub notify: Notify,
    /// Counters for `/metrics`.
    pub metrics: crate::metrics::Metrics,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("flow", &self.flow)
            .field("store", &self.store)
            .finish()
    }
}

/// The engine's bookkeeping for one issue (the `ctx` column).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IssueCtx {
    /// How many times each step was entered.
    #[serde(default)]
    pub visits: BTreeMap<String, u32>,
    /// Open `for_each` loops, innermost last.
    #[serde(default)]
    pub loops: Vec<LoopFrame>,
    #[serde(default)]
    pub wait: Option<WaitCtx>,
    /// Failed attempts of the current step (reset on a new step and by `retry`).
    #[serde(default)]
    pub attempt: u32,
    /// The provider's time of the newest event each wait (by match key) took:
    /// an event older is consumed without moving the issue
    /// (`crate::events::split_time`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub newest: BTreeMap<String, Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoopFrame {
    pub index: usize,
    pub count: usize,
    pub body: String,
    pub after: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum WaitCtx {
    Timer {
        until: Timestamp,
        next: String,
    },
    Wait {
        match_key: String,
        deadline: Timestamp,
        on_timeout: String,
        #[serde(default)]
        poll_secs: Option<u64>,
        #[serde(default)]
        next_poll: Option<Timestamp>,
    },
}

/// Worker settings.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Issues worked on at once.
    pub concurrency: usize,
    /// Run what is due now and return (for cron).
    pub once: bool,
    /// Look at the store at least this often for work from other processes.
    pub idle_poll: Duration,
    /// After shutdown, how long the issues in flight may run on (until they
    /// wait, sleep or end) before the rest are stopped where they are: a call
    /// in flight is cut, and its step runs again, elsewhere or later, with the
    /// idempotency key already in the ledger.
    pub stop_within: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: 64,
            once: false,
            idle_poll: Duration::from_secs(1),
            stop_within: Duration::from_secs(20),
        }
    }
}

type ClaimFuture = BoxFuture<'static, Result<Vec<IssueRow>, StoreError>>;

/// Runs the issues of flow `F`.
pub struct Engine<F: Flow> {
    rt: Arc<Runtime>,
    _flow: PhantomData<fn() -> F>,
}

impl<F: Flow> Clone for Engine<F> {
    fn clone(&self) -> Self {
        Engine {
            rt: self.rt.clone(),
            _flow: PhantomData,
        }
    }
}

impl<F: Flow> fmt::Debug for Engine<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").field("rt", &self.rt).finish()
    }
}

/// Why a record was not started.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError {
    /// 1-based record (row or line) number in its input.
    pub row: usize,
    pub errors: Vec<FieldError>,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msgs: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        write!(f, "record {}: {}", self.row, msgs.join("; "))
    }
}

fn new_issue_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The `wake_at` a running issue is stored with: the one it has if that is due
/// (unchanged from step to step, so the due-time index is not rewritten), else
/// `now` (an issue woken early, by a signal or an event). Either way it is due,
/// so a worker that restarts after a crash runs the issue again.
fn running_wake_at(stored: Option<Timestamp>, now: Timestamp) -> Timestamp {
    stored.filter(|w| *w <= now).unwrap_or(now)
}

fn store_err(e: StoreError) -> StepError {
    StepError::Store(e.0)
}

/// The update that fails an issue with `error` and keeps the data and ctx of
/// its stored `row` as they are (for an issue whose own cannot be used).
fn failed_keeping_row(
    row: &IssueRow,
    expected_seq: i64,
    step: &str,
    error: String,
    now: Timestamp,
) -> IssueUpdate {
    IssueUpdate {
        id: row.id.clone(),
        expected_seq,
        state: IssueState::Failed,
        step: step.to_string(),
        data: row.data.to_string(),
        ctx: row.ctx.to_string(),
        wake_at: None,
        wait_key: None,
        error: Some(error),
        now,
        release: true,
    }
}

fn hist(at: Timestamp, step: &str, event: &str, detail: impl Into<String>) -> HistoryEntry {
    HistoryEntry {
        at,
        step: step.to_string(),
        event: event.to_string(),
        detail: detail.into(),
    }
}

impl<F: Flow> Engine<F> {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Engine<F> {
        Engine::with_base_url(store, clock, None)
    }

    /// With every connection pointed at one base URL (a simulator or test server).
    pub fn with_base_url(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        base_url: Option<&str>,
    ) -> Engine<F> {
        let mut base_urls: std::collections::HashMap<String, String> = F::connections()
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    base_url.map_or_else(|| c.resolved_base_url(), str::to_string),
                )
            })
            .collect();
        if let Some(url) = base_url {
            // Plain `http` steps with absolute URLs face the simulator too.
            base_urls.insert(crate::http::SIMULATED.to_string(), url.to_string());
        }
        let rt = Runtime {
            base_urls,
            store,
            clock,
            http: HttpClient::new(),
            flow: F::name(),
            connections: F::connections(),
            default_retry: F::default_retry(),
            notify: Notify::new(),
            metrics: crate::metrics::Metrics::default(),
        };
        Engine {
            rt: Arc::new(rt),
            _flow: PhantomData,
        }
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.rt
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.rt.store
    }

    /// Validates a record against the flow's schema and the `Data` type.
    pub fn validate(record: &Value) -> Result<Value, Vec<FieldError>> {
        let normalized = F::schema().validate(record)?;
        let data: F::Data = serde_json::from_value(normalized).map_err(|e| {
            vec![FieldError {
                field: String::new(),
                message: format!("does not fit the flow's data: {e}"),
            }]
        })?;
        serde_json::to_value(&data).map_err(|e| {
            vec![FieldError {
                field: String::new(),
                message: e.to_string(),
            }]
        })
    }

    /// Starts issues from already validated records (see [`Engine::validate`]), in one
    /// transaction. Returns their ids.
    pub async fn start_validated(&self, records: Vec<Value>) -> Result<Vec<String>, StoreError> {
        let now = self.rt.clock.now();
        let first = F::first_step().id();
        let mut ctx = IssueCtx::default();
        ctx.visits.insert(first.to_string(), 1);
        let ctx = serde_json::to_value(&ctx).unwrap_or(Value::Null);
        let issues: Vec<NewIssue> = records
            .into_iter()
            .map(|data| NewIssue {
                id: new_issue_id(),
                step: first.to_string(),
                data,
                ctx: ctx.clone(),
                now,
            })
            .collect();
        let ids = issues.iter().map(|i| i.id.clone()).collect();
        let n = issues.len();
        self.rt.store.create_issues(issues).await?;
        self.rt.metrics.issues_started(n);
        self.rt.notify.notify_one();
        Ok(ids)
    }

    /// Validates and starts one record.
    pub async fn start(&self, record: &Value) -> Result<String, StartError> {
        let v = Self::validate(record)
            .map_err(|errors| StartError::Invalid(RecordError { row: 1, errors }))?;
        let ids = self
            .start_validated(vec![v])
            .await
            .map_err(StartError::Store)?;
        Ok(ids.into_iter().next().unwrap_or_default())
    }

    /// Sends a signal to an issue, validating its payload against the flow's signal schema.
    pub async fn signal(&self, id: &str, name: &str, data: Value) -> Result<bool, StartError> {
        let data = match F::signal_schema(name) {
            Some(schema) => schema
                .validate(&data)
                .map_err(|errors| StartError::Invalid(RecordError { row: 1, errors }))?,
            None => data,
        };
        let ok = self
            .rt
            .store
            .send_signal(id, name, data, self.rt.clock.now())
            .await
            .map_err(StartError::Store)?;
        self.rt.notify.notify_one();
        Ok(ok)
    }

    /// Runs everything that is due now, and everything that becomes due while doing
    /// so at the current time; returns how many issue runs there were.
    pub async fn run_due(&self, concurrency: usize) -> Result<usize, StoreError> {
        self.run(
            RunOptions {
                concurrency,
                once: true,
                ..RunOptions::default()
            },
            None,
        )
        .await
    }

    /// The worker loop. With `once`, returns when nothing is due; otherwise runs until
    /// `shutdown` resolves.
    ///
    /// Due issues are claimed ahead (up to `concurrency` more than run), in batches,
    /// while others run: a finished issue's slot is refilled at once, without waiting
    /// for a store round trip. A new batch is claimed once half of those claimed
    /// ahead are taken, not at every finished issue: fewer, larger claims.
    pub async fn run(
        &self,
        opts: RunOptions,
        mut shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> Result<usize, StoreError> {
        self.rt.store.reset_claims().await?;
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut ready: VecDeque<IssueRow> = VecDeque::new();
        // A claim in flight: how many it asked for, and its answer.
        let mut claiming: Option<(usize, ClaimFuture)> = None;
        // Whether something happened since the last claim that may have made work due.
        let mut look = true;
        let mut stopping = false;
        let mut runs = 0usize;
        let concurrency = opts.concurrency.max(1);
        loop {
            while tasks.len() < concurrency
                && let Some(row) = ready.pop_front()
            {
                runs += 1;
                let rt = self.rt.clone();
                tasks.spawn(async move { drive::<F>(rt, row).await });
            }
            let want = 2 * concurrency - tasks.len() - ready.len();
            if claiming.is_none() && look && ready.len() * 2 <= concurrency && want > 0 {
                look = false;
                // In a task of its own: a store call may lead a group-commit round
                // on the caller's thread (see `store::group_commit`), and this loop
                // must go on refilling slots meanwhile.
                let (store, now) = (self.rt.store.clone(), self.rt.clock.now());
                let claim = tokio::spawn(async move { store.claim_due(now, want).await });
                claiming = Some((
                    want,
                    Box::pin(async move {
                        claim
                            .await
                            .map_err(|e| StoreError(format!("claiming due issues failed: {e}")))?
                    }),
                ));
            }
            if opts.once && tasks.is_empty() && ready.is_empty() && claiming.is_none() {
                return Ok(runs);
            }
            let idle = tasks.is_empty() && ready.is_empty() && claiming.is_none();
            let next = if idle {
                // A store that is away (a database restarting) is looked at again
                // after the idle poll; the worker does not stop for it.
                self.rt.store.next_wake().await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "the store is unavailable; looking again soon");
                    None
                })
            } else {
                None
            };
            let now = self.rt.clock.now();
            let cap = if self.rt.clock.is_virtual() {
                Timestamp::MAX
            } else {
                add(now, opts.idle_poll)
            };
            let until = next.map_or(cap, |n| n.min(cap));
            let sleep = self.rt.clock.sleep_until(until);
            let stop = async {
                match shutdown.as_mut() {
                    Some(rx) => {
                        let _ = rx.wait_for(|v| *v).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let claim_idle = claiming.is_none();
            let claim = async {
                match claiming.as_mut() {
                    Some((want, f)) => (*want, f.await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                (want, rows) = claim => {
                    claiming = None;
                    match rows {
                        Ok(rows) => {
                            // A full batch: there may be more due right now.
                            look |= rows.len() == want;
                            ready.extend(rows);
                        }
                        // Not with `once` (it reports the error); otherwise the
                        // claim is tried again after the idle poll.
                        Err(e) if opts.once => return Err(e),
                        Err(e) => {
                            tracing::warn!(error = %e, "claiming due issues failed; trying again soon");
                        }
                    }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {
                    while tasks.try_join_next().is_some() {}
                    look = true;
                }
                _ = sleep, if !opts.once || (tasks.is_empty() && claim_idle) => {
                    look = true;
                }
                _ = self.rt.notify.notified() => {
                    look = true;
                }
                _ = stop => {
                    stopping = true;
                }
            }
            if stopping {
                let drained = async { while tasks.join_next().await.is_some() {} };
                if tokio::time::timeout(opts.stop_within, drained)
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        issues = tasks.len(),
                        "shutdown: stopping the issues still in flight; they resume elsewhere"
                    );
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                }
                if let Some((_, f)) = claiming.take() {
                    ready.extend(f.await.unwrap_or_default());
                }
                for row in ready {
                    self.rt.store.release(&row.id);
                }
                return Ok(runs);
            }
        }
    }

    /// Runs one issue now if it is active (tests, `simulate`).
    pub async fn drive_id(&self, id: &str) -> Result<(), StoreError> {
        if let Some(row) = self.rt.store.load(id).await?
            && !row.state.is_terminal()
        {
            drive::<F>(self.rt.clone(), row).await;
        }
        Ok(())
    }
}

/// Why `start` or `signal` refused.
#[derive(Debug)]
pub enum StartError {
    Invalid(RecordError),
    Store(StoreError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Invalid(e) => e.fmt(f),
            StartError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StartError {}

/// Runs one claimed issue until it waits, sleeps, ends or fails.
async fn drive<F: Flow>(rt: Arc<Runtime>, row: IssueRow) {
    let id = row.id.clone();
    use crate::metrics::RunOutcome;
    match drive_inner::<F>(&rt, row).await {
        Ok(()) => rt.metrics.issue_run(RunOutcome::Done),
        Err(StepError::Conflict) => {
            tracing::debug!(issue = %id, "changed elsewhere; stopped");
            rt.store.release(&id);
            rt.metrics.issue_run(RunOutcome::Conflict);
        }
        Err(e) => {
            tracing::error!(issue = %id, error = %e, "issue run stopped; it will be picked up again");
            rt.store.release(&id);
            rt.metrics.issue_run(RunOutcome::Error);
        }
    }
}

struct IssueRun<F: Flow> {
    id: String,
    state: IssueState,
    step: F::Step,
    data: F::Data,
    ctx: IssueCtx,
    seq: i64,
    error: Option<String>,
    /// The `wake_at` a running issue keeps while it runs: due (so a worker that
    /// restarts after a crash picks it up again), and the same from step to step,
    /// so the store's due-time index is not rewritten at every step.
    due_at: Option<Timestamp>,
    pending: Commit,
}

impl<F: Flow> IssueRun<F> {
    fn enter(&mut self, step: F::Step, now: Timestamp, detail: &str) {
        self.step = step;
        *self.ctx.visits.entry(step.id().to_string()).or_insert(0) += 1;
        self.ctx.attempt = 0;
        self.ctx.wait = None;
        self.state = IssueState::Running;
        self.pending
            .history
            .push((self.id.clone(), hist(now, step.id(), "enter", detail)));
    }

    /// The issue as it stands, to commit; or why its data or ctx cannot be
    /// serialized (never for the generated data types; then the issue must
    /// fail with [`IssueRun::fail_unstorable`], not be stored without them).
    fn update(
        &self,
        now: Timestamp,
        wake_at: Option<Timestamp>,
        release: bool,
    ) -> Result<IssueUpdate, String> {
        let wait_key = match &self.ctx.wait {
            Some(WaitCtx::Wait { match_key, .. }) if self.state == IssueState::Waiting => {
                Some(match_key.clone())
            }
            _ => None,
        };
        let data = serde_json::to_string(&self.data)
            .map_err(|e| format!("the issue's data cannot be stored: {e}"))?;
        let ctx = serde_json::to_string(&self.ctx)
            .map_err(|e| format!("the issue's progress cannot be stored: {e}"))?;
        Ok(IssueUpdate {
            id: self.id.clone(),
            expected_seq: self.seq,
            state: self.state,
            step: self.step.id().to_string(),
            data,
            ctx,
            wake_at,
            wait_key,
            error: self.error.clone(),
            now,
            release,
        })
    }

    /// Fails an issue whose data or ctx cannot be serialized, with the reason:
    /// it keeps the data and ctx the store holds for it (as last committed),
    /// read back here, on this rare path, rather than kept at every step.
    async fn fail_unstorable(
        &mut self,
        rt: &Runtime,
        now: Timestamp,
        reason: String,
    ) -> Result<(), StepError> {
        tracing::error!(issue = %self.id, step = self.step.id(), error = %reason, "issue failed");
        let Some(row) = rt.store.load(&self.id).await.map_err(store_err)? else {
            return Err(StepError::Conflict);
        };
        self.pending.history.push((
            self.id.clone(),
            hist(now, self.step.id(), "failed", reason.clone()),
        ));
        self.state = IssueState::Failed;
        let update = failed_keeping_row(&row, self.seq, self.step.id(), reason, now);
        self.commit_update(rt, update).await
    }

    /// The `wake_at` of the issue while a step runs (see [`running_wake_at`]).
    fn running_wake(&mut self, now: Timestamp) -> Timestamp {
        let at = running_wake_at(self.due_at, now);
        self.due_at = Some(at);
        at
    }

    /// Commits the issue as it stands (and everything pending), giving it back.
    async fn commit(&mut self, rt: &Runtime, wake_at: Option<Timestamp>) -> Result<(), StepError> {
        let now = rt.clock.now();
        match self.update(now, wake_at, true) {
            Ok(update) => self.commit_update(rt, update).await,
            Err(reason) => self.fail_unstorable(rt, now, reason).await,
        }
    }

    /// Commits this update of the issue and everything pending.
    async fn commit_update(&mut self, rt: &Runtime, update: IssueUpdate) -> Result<(), StepError> {
        let mut c = std::mem::take(&mut self.pending);
        c.issue = Some(update);
        match rt.store.commit(c).await.map_err(store_err)? {
            CommitOutcome::Done { seq, .. } => {
                self.seq = seq.unwrap_or(self.seq);
                Ok(())
            }
            CommitOutcome::Conflict => Err(StepError::Conflict),
        }
    }

    async fn finish(
        &mut self,
        rt: &Runtime,
        state: IssueState,
        error: Option<String>,
    ) -> Result<(), StepError> {
        let now = rt.clock.now();
        self.state = state;
        self.error = error.clone();
        self.ctx.wait = None;
        let event = state.as_str();
        self.pending.history.push((
            self.id.clone(),
            hist(now, self.step.id(), event, error.unwrap_or_default()),
        ));
        tracing::info!(issue = %self.id, step = self.step.id(), state = event, "issue ended");
        self.commit(rt, None).await
    }
}

async fn drive_inner<F: Flow>(rt: &Arc<Runtime>, row: IssueRow) -> Result<(), StepError> {
    let ctx = IssueCtx::deserialize(&row.ctx).unwrap_or_default();
    let data = F::Data::deserialize(&row.data);
    let step = F::Step::from_id(&row.step);
    let (data, step) = match (data, step) {
        (Ok(d), Some(s)) => (d, s),
        (d, s) => {
            // A store written by another version of the flow: fail loudly, change nothing else.
            let msg = match (d.err(), s) {
                (Some(e), _) => format!("stored data does not fit this flow's data: {e}"),
                (None, _) => format!("unknown step `{}` (was the flow changed?)", row.step),
            };
            let now = rt.clock.now();
            let c = Commit {
                issue: Some(failed_keeping_row(
                    &row,
                    row.seq,
                    &row.step,
                    msg.clone(),
                    now,
                )),
                history: vec![(row.id.clone(), hist(now, &row.step, "failed", msg))],
                ..Commit::default()
            };
            rt.store.commit(c).await.map_err(store_err)?;
            return Ok(());
        }
    };
    let mut run = IssueRun::<F> {
        id: row.id,
        state: row.state,
        step,
        data,
        ctx,
        seq: row.seq,
        error: None,
        due_at: row.wake_at,
        pending: Commit::default(),
    };
    let mut wake = Wake::Enter;
    let mut resumed_wait = false;
    for _ in 0..100_000 {
        let now = rt.clock.now();
        if run.state == IssueState::Waiting {
            match run.ctx.wait.clone() {
                Some(WaitCtx::Timer { until, next }) => {
                    if now < until {
                        return run.commit(rt, Some(until)).await;
                    }
                    let next = F::Step::from_id(&next)
                        .ok_or_else(|| StepError::Fatal(format!("unknown step `{next}`")))?;
                    run.enter(next, now, "timer");
                    wake = Wake::Enter;
                }
                Some(WaitCtx::Wait {
                    match_key,
                    deadline,
                    on_timeout,
                    poll_secs,
                    next_poll,
                }) => {
                    let msgs = rt
                        .store
                        .messages(&run.id, &match_key)
                        .await
                        .map_err(store_err)?;
                    // A message this run consumed already (its consume is not
                    // committed yet: a `goto` led back into the same wait) is
                    // not taken twice.
                    let fresh = msgs
                        .into_iter()
                        .find(|m| !run.pending.consume.contains(&m.id));
                    if let Some(m) = fresh {
                        run.pending.consume.push(m.id.clone());
                        let (data, at) = crate::events::split_time(m.data);
                        if let Some(at) = at {
                            if run.ctx.newest.get(&match_key).is_some_and(|n| at < *n) {
                                run.pending.history.push((
                                    run.id.clone(),
                                    hist(
                                        now,
                                        run.step.id(),
                                        "stale",
                                        format!("{match_key} of {at}"),
                                    ),
                                ));
                                continue;
                            }
                            run.ctx.newest.insert(match_key.clone(), at);
                        }
                        let m = crate::store::Message { data, ..m };
                        let (kind, name) = match match_key.split_once(':') {
                            Some((k, rest)) => (k.to_string(), rest.to_string()),
                            None => (String::new(), match_key.clone()),
                        };
                        run.pending.history.push((
                            run.id.clone(),
                            hist(now, run.step.id(), &kind, name.clone()),
                        ));
                        wake = if kind == "event" {
                            Wake::Event { name, data: m.data }
                        } else {
                            Wake::Signal { name, data: m.data }
                        };
                        run.state = IssueState::Running;
                        resumed_wait = true;
                    } else if now >= deadline {
                        let target = F::Step::from_id(&on_timeout).ok_or_else(|| {
                            StepError::Fatal(format!("unknown step `{on_timeout}`"))
                        })?;
                        run.pending.history.push((
                            run.id.clone(),
                            hist(now, run.step.id(), "timeout", on_timeout.clone()),
                        ));
                        run.enter(target, now, "on_timeout");
                        wake = Wake::Enter;
                    } else if next_poll.is_some_and(|p| now >= p) {
                        if let (Some(WaitCtx::Wait { next_poll: np, .. }), Some(secs)) =
                            (&mut run.ctx.wait, poll_secs)
                        {
                            *np = Some(add(now, Duration::from_secs(secs)));
                        }
                        wake = Wake::Poll;
                        run.state = IssueState::Running;
                        resumed_wait = true;
                    } else {
                        let wake_at = next_poll.map_or(deadline, |p| p.min(deadline));
                        return run.commit(rt, Some(wake_at)).await;
                    }
                }
                None => run.state = IssueState::Running,
            }
        }

        // Run the step on a copy of the data: a failed step leaves no half-changes.
        let mut data = run.data.clone();
        let iteration = run
            .ctx
            .visits
            .get(run.step.id())
            .copied()
            .unwrap_or(1)
            .saturating_sub(1);
        let mut cx = StepContext {
            rt: rt.clone(),
            issue: run.id.clone(),
            step: run.step.id(),
            iteration,
            loops: run.ctx.loops.iter().map(|l| l.index).collect(),
            wake: std::mem::replace(&mut wake, Wake::Enter),
            now,
            base: {
                let wake = run.running_wake(now);
                match run.update(now, Some(wake), false) {
                    Ok(base) => base,
                    // Fail it before the step's side effects, not after.
                    Err(reason) => return run.fail_unstorable(rt, now, reason).await,
                }
            },
            pending: std::mem::take(&mut run.pending),
            committed: false,
            seq: run.seq,
            effects: 0,
            unknown: None,
        };
        let began = std::time::Instant::now();
        let result = F::run_step(run.step, &mut data, &mut cx).await;
        rt.metrics.step_run(run.step.id(), began.elapsed());
        run.seq = cx.seq;
        run.pending = std::mem::take(&mut cx.pending);
        let now = rt.clock.now();
        let was_resumed = std::mem::replace(&mut resumed_wait, false);
        match result {
            Ok(Transition::Next(s)) => {
                run.data = data;
                run.enter(s, now, "");
            }
            Ok(Transition::EnterLoop { count, body, after }) => {
                run.data = data;
                if count == 0 {
                    run.enter(after, now, "for_each: no items");
                } else {
                    run.ctx.loops.push(LoopFrame {
                        index: 0,
                        count,
                        body: body.id().to_string(),
                        after: after.id().to_string(),
                    });
                    run.enter(body, now, "for_each item 0");
                }
            }
            Ok(Transition::LoopNext) => {
                run.data = data;
                let Some(frame) = run.ctx.loops.last_mut() else {
                    return run
                        .finish(
                            rt,
                            IssueState::Failed,
                            Some(format!(
                                "step `{}` ends a for_each body outside a loop",
                                run.step.id()
                            )),
                        )
                        .await;
                };
                frame.index += 1;
                let (index, count) = (frame.index, frame.count);
                let (body, after) = (frame.body.clone(), frame.after.clone());
                if index < count {
                    let s = F::Step::from_id(&body)
                        .ok_or_else(|| StepError::Fatal(format!("unknown step `{body}`")))?;
                    run.enter(s, now, &format!("for_each item {index}"));
                } else {
                    run.ctx.loops.pop();
                    let s = F::Step::from_id(&after)
                        .ok_or_else(|| StepError::Fatal(format!("unknown step `{after}`")))?;
                    run.enter(s, now, "for_each done");
                }
            }
            Ok(Transition::Wait(w)) => {
                run.data = data;
                let match_key = w.on.match_key();
                // A provider event is polled for all waiting issues at once by the
                // connection's event feed (`crate::events`), which wakes the issue it
                // is about; re-running each waiting step at its poll interval would
                // only cost a wake-up and a commit per issue. Other waits (a batch's
                // hand-over) keep their per-issue polls.
                let poll = match w.on {
                    WaitOn::Event { .. } => None,
                    WaitOn::Signal(_) => w.poll,
                };
                let keep = match &run.ctx.wait {
                    Some(WaitCtx::Wait {
                        match_key: k,
                        deadline,
                        next_poll,
                        ..
                    }) if was_resumed && *k == match_key => Some((*deadline, *next_poll)),
                    _ => None,
                };
                // A resumed wait keeps its deadline; its next poll comes no later
                // than the step now asks (a batch polls at its closing time).
                let (deadline, next_poll) = match keep {
                    Some((deadline, kept)) => (
                        deadline,
                        match (kept, poll.map(|p| add(now, p))) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        },
                    ),
                    None => (add(now, w.timeout), poll.map(|p| add(now, p))),
                };
                if keep.is_none() {
                    let what = match &w.on {
                        WaitOn::Signal(n) => format!("signal {n}"),
                        WaitOn::Event { name, key } => format!("event {name} for {key}"),
                    };
                    run.pending.history.push((
                        run.id.clone(),
                        hist(
                            now,
                            run.step.id(),
                            "wait",
                            format!("{what} until {deadline}"),
                        ),
                    ));
                }
                run.ctx.wait = Some(WaitCtx::Wait {
                    match_key,
                    deadline,
                    on_timeout: w.on_timeout.id().to_string(),
                    poll_secs: poll.map(|p| p.as_secs().max(1)),
                    next_poll,
                });
                run.state = IssueState::Waiting;
            }
            Ok(Transition::Timer { until, next }) => {
                run.data = data;
                run.pending.history.push((
                    run.id.clone(),
                    hist(now, run.step.id(), "timer", format!("until {until}")),
                ));
                run.ctx.wait = Some(WaitCtx::Timer {
                    until,
                    next: next.id().to_string(),
                });
                run.state = IssueState::Waiting;
            }
            Ok(Transition::End(o)) => {
                run.data = data;
                let st = match o {
                    Outcome::Completed => IssueState::Completed,
                    Outcome::Cancelled => IssueState::Cancelled,
                };
                return run.finish(rt, st, None).await;
            }
            Ok(Transition::Fail(msg)) => {
                run.data = data;
                return run.finish(rt, IssueState::Failed, Some(msg)).await;
            }
            Err(StepError::Retry {
                message,
                retry_after,
                policy,
            }) => {
                let policy = policy.unwrap_or(rt.default_retry);
                run.ctx.attempt += 1;
                let attempt = run.ctx.attempt;
                if attempt >= policy.max_attempts {
                    let msg = format!("{message} (gave up after {attempt} attempts)");
                    return run.finish(rt, IssueState::Failed, Some(msg)).await;
                }
                rt.metrics.step_retry(run.step.id());
                let delay = policy.delay(attempt, retry_after, &mut rand::rng());
                let at = add(now, delay);
                tracing::warn!(issue = %run.id, step = run.step.id(), attempt, error = %message, retry_at = %at, "retrying");
                run.pending.history.push((
                    run.id.clone(),
                    hist(
                        now,
                        run.step.id(),
                        "retry",
                        format!("attempt {attempt} failed: {message}; next at {at}"),
                    ),
                ));
                // Data stays as before the step: the step runs again from its start.
                return run.commit(rt, Some(at)).await;
            }
            Err(StepError::Fatal(msg)) => {
                tracing::warn!(issue = %run.id, step = run.step.id(), error = %msg, "step failed");
                return run.finish(rt, IssueState::Failed, Some(msg)).await;
            }
            Err(e) => return Err(e),
        }
    }
    run.finish(
        rt,
        IssueState::Failed,
        Some("more than 100000 steps without waiting (an endless loop?)".into()),
    )
    .await
}

#[cfg(test)]
mod tests;
