//! `StepContext`: what a step sees, and the only way it acts on the world.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Runtime;
use crate::flow::StepError;
use crate::http::{HttpRequest, HttpResponse};
use crate::store::{Commit, CommitOutcome, HistoryEntry, IssueUpdate, LedgerBegin, LedgerFinish};

/// Why a step runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Wake {
    /// The step is entered (or run again after a crash or a retry).
    Enter,
    /// A waiting step got its signal.
    Signal { name: String, data: Value },
    /// A waiting step got its provider event.
    Event { name: String, data: Value },
    /// A waiting step's poll interval came round: look (a read), then wait again or go on.
    Poll,
}

/// The context of one run of one step.
#[derive(Debug)]
pub struct StepContext {
    pub(crate) rt: Arc<Runtime>,
    pub(crate) issue: String,
    pub(crate) step: &'static str,
    pub(crate) iteration: u32,
    pub(crate) loops: Vec<usize>,
    pub(crate) wake: Wake,
    pub(crate) now: Timestamp,
    /// The issue as it stands before this step; written with the first side effect.
    pub(crate) base: IssueUpdate,
    /// Log lines, ledger results and consumed messages not yet committed.
    pub(crate) pending: Commit,
    /// Whether `base` and `pending` have been committed by a side effect.
    pub(crate) committed: bool,
    pub(crate) seq: i64,
    pub(crate) effects: u32,
    /// The last effect begun, when its outcome is unknown: its key and when
    /// it was first begun ([`StepContext::outcome_unknown`]).
    pub(crate) unknown: Option<(String, Timestamp)>,
}

impl StepContext {
    pub fn issue_id(&self) -> &str {
        &self.issue
    }

    pub fn step_id(&self) -> &'static str {
        self.step
    }

    /// How many times this issue entered this step before (0 the first time): the
    /// iteration of a `for_each` body or of a `goto` loop. Part of the idempotency key.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The index of the innermost `for_each` item (0 outside a loop).
    pub fn loop_index(&self) -> usize {
        self.loops.last().copied().unwrap_or(0)
    }

    /// The indices of all enclosing `for_each` loops, outermost first.
    pub fn loop_indices(&self) -> &[usize] {
        &self.loops
    }

    pub fn wake(&self) -> &Wake {
        &self.wake
    }

    /// The payload of the signal or event that woke this step, typed.
    pub fn wake_data<T: DeserializeOwned>(&self) -> Result<Option<T>, StepError> {
        match &self.wake {
            Wake::Signal { data, .. } | Wake::Event { data, .. } => {
                serde_json::from_value(data.clone()).map(Some).map_err(|e| {
                    StepError::Fatal(format!("step `{}`: bad payload: {e}", self.step))
                })
            }
            _ => Ok(None),
        }
    }

    /// `now()`: the clock's time when the step started (virtual in simulation).
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// `today()` in the local time zone.
    pub fn today(&self) -> Date {
        self.now.to_zoned(jiff::tz::TimeZone::system()).date()
    }

    /// `uuid()`: stable for this issue, step and iteration (the same after a retry).
    pub fn uuid(&self) -> String {
        let name = format!(
            "{}:{}:{}:{}",
            self.rt.flow, self.issue, self.step, self.iteration
        );
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
    }

    /// The idempotency key this step's next side effect will use, when none is recorded yet.
    pub fn proposed_key(&self) -> String {
        let base = format!(
            "{}:{}:{}:{}",
            self.rt.flow, self.issue, self.step, self.iteration
        );
        if self.effects == 0 {
            base
        } else {
            format!("{base}:{}", self.effects)
        }
    }

    /// Records that a side effect is about to happen: commits the issue's state and
    /// finds (or records) the effect's idempotency key in the ledger. Returns the key.
    pub async fn begin_effect(&mut self, what: &str) -> Result<String, StepError> {
        let proposed = self.proposed_key();
        let n = self.effects;
        self.effects += 1;
        let mut commit = std::mem::take(&mut self.pending);
        let mut base = self.base.clone();
        base.expected_seq = self.seq;
        base.now = self.rt.clock.now();
        commit.issue = Some(base);
        commit.history.push((
            self.issue.clone(),
            HistoryEntry {
                at: self.now,
                step: self.step.to_string(),
                event: "call".into(),
                detail: what.to_string(),
            },
        ));
        commit.ledger_begin = Some(LedgerBegin {
            issue: self.issue.clone(),
            step: self.step.to_string(),
            iteration: self.iteration,
            n,
            proposed_key: proposed,
            now: self.now,
        });
        match self.rt.store.commit(commit).await {
            Ok(CommitOutcome::Done {
                seq,
                key,
                unknown_since,
            }) => {
                if let Some(s) = seq {
                    self.seq = s;
                }
                self.committed = true;
                let key =
                    key.ok_or_else(|| StepError::Store("the ledger returned no key".into()))?;
                self.unknown = unknown_since.map(|t| (key.clone(), t));
                Ok(key)
            }
            Ok(CommitOutcome::Conflict) => Err(StepError::Conflict),
            Err(e) => Err(StepError::Store(e.to_string())),
        }
    }

    /// When the side effect of `key` was begun before and never finished (a
    /// crash or a timeout after sending: its outcome is unknown), the time it
    /// was first begun; `None` for a first attempt or a known outcome.
    /// The ledger said so when the effect was begun ([`Self::begin_effect`]).
    pub fn outcome_unknown(&self, key: &str) -> Option<Timestamp> {
        self.unknown
            .as_ref()
            .filter(|(k, _)| k == key)
            .map(|&(_, t)| t)
    }

    /// Records a side effect's outcome; it is committed with the state change that follows.
    pub fn finish_effect(&mut self, key: String, ok: bool, response: Value) {
        self.pending.ledger_finish.push(LedgerFinish {
            key,
            status: if ok { "done" } else { "failed" }.into(),
            response,
        });
    }

    /// The generic `http` action (and the transport of provider actions): records the
    /// idempotency key before a side-effecting call, sends it in the request's
    /// idempotency header on every attempt, and maps the response into typed fields.
    pub async fn http(&mut self, req: HttpRequest) -> Result<HttpResponse, StepError> {
        let key = if req.side_effect {
            Some(self.begin_effect(&req.describe(&self.rt.base_urls)).await?)
        } else {
            None
        };
        let rt = self.rt.clone();
        let result = rt.http.execute(&req, key.as_deref(), &rt).await;
        let result = result.map_err(|e| match e {
            StepError::Fatal(m) => StepError::Fatal(format!("step `{}`: {m}", self.step)),
            StepError::Retry {
                message,
                retry_after,
                policy,
            } => StepError::Retry {
                message: format!("step `{}`: {message}", self.step),
                retry_after,
                policy: policy.or(req.retry),
            },
            other => other,
        });
        if let Some(k) = key {
            match &result {
                Ok(r) => {
                    self.finish_effect(k, true, json!({"status": r.status, "fields": r.fields}))
                }
                Err(StepError::Fatal(m)) => self.finish_effect(k, false, json!({"error": m})),
                Err(_) => {}
            }
        }
        result
    }
}

impl<F: crate::flow::Flow> super::Engine<F> {
    /// Every connection at `default_url` (as [`super::Engine::with_base_url`]),
    /// except those named in `overrides`, which go to their own URL: `simulate`
    /// points Stripe connections at a Stripe simulator and the rest at its
    /// scripted server. (Lives here, beside the engine, to keep `engine/mod.rs`
    /// untouched while its throughput work is under way.)
    pub fn with_base_urls(
        store: Arc<dyn crate::store::Store>,
        clock: Arc<dyn crate::clock::Clock>,
        default_url: &str,
        overrides: &std::collections::HashMap<String, String>,
    ) -> Result<super::Engine<F>, String> {
        let mut engine = super::Engine::<F>::with_base_url(store, clock, Some(default_url));
        // Nothing else holds the runtime yet: it was made just now.
        let rt = Arc::get_mut(&mut engine.rt)
            .ok_or("the engine's runtime is already shared; its base URLs cannot change")?;
        for (name, url) in overrides {
            rt.base_urls.insert(name.clone(), url.clone());
        }
        Ok(engine)
    }
}
