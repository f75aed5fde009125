//! What a running flow binary tells Prometheus (`GET /metrics` of
//! `run --listen`, in the text exposition format). One set of metrics per
//! process ([`Metrics::global`]): the engine, the HTTP client, the event feeds
//! and the listener count into it through their runtime, the stores directly.
//! Read from the store at each scrape: the issues by state, whether the store
//! answers, and the leases this replica holds (PostgreSQL). What each metric
//! means: `docs/operations.md`.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::{IssueState, Store};

type Labels = Vec<(&'static str, String)>;

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

/// Latency buckets from 0.5 ms to about 33 s (doubling).
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

/// The metrics of one process. Clones share the same figures.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    runs: Family<Labels, Counter>,
    started: Counter,
    issues: Family<Labels, Gauge>,
    store_up: Gauge,
    leases: Gauge,
    steps: Family<Labels, Counter>,
    step_seconds: Histogram,
    retries: Family<Labels, Counter>,
    provider_calls: Family<Labels, Counter>,
    polls: Family<Labels, Counter>,
    webhooks: Family<Labels, Counter>,
    taken_over: Counter,
    expired: Counter,
    commit_seconds: Histogram,
    fsyncs: Counter,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("started", &self.inner.started.get())
            .finish()
    }
}

/// How a run of an issue (until it waits, sleeps, ends or fails) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Committed: it waits, sleeps, ended or failed as the flow says.
    Done,
    /// Changed elsewhere (cancelled, retried, taken over by another replica).
    Conflict,
    /// Stopped by an error (the store); it runs again later.
    Error,
}

impl RunOutcome {
    fn label(self) -> &'static str {
        match self {
            RunOutcome::Done => "done",
            RunOutcome::Conflict => "conflict",
            RunOutcome::Error => "error",
        }
    }
}

/// What became of a provider webhook (`POST /webhooks/<connection>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookVerdict {
    /// Verified and stored (it wakes or starts an issue).
    Accepted,
    /// Verified; an event already stored (a redelivery).
    Duplicate,
    /// Verified; a type the flow does not use.
    Ignored,
    /// Not verified or malformed (400): nothing stored.
    Refused,
    /// No such connection, or it takes no webhooks (404).
    Unknown,
    /// The store did not answer (503): the provider sends it again.
    Unavailable,
}

impl WebhookVerdict {
    fn label(self) -> &'static str {
        match self {
            WebhookVerdict::Accepted => "accepted",
            WebhookVerdict::Duplicate => "duplicate",
            WebhookVerdict::Ignored => "ignored",
            WebhookVerdict::Refused => "refused",
            WebhookVerdict::Unknown => "unknown",
            WebhookVerdict::Unavailable => "unavailable",
        }
    }
}

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Default for Metrics {
    /// The process's metrics ([`Metrics::global`]).
    fn default() -> Metrics {
        Metrics::global().clone()
    }
}

impl Metrics {
    /// The metrics of this process, which `/metrics` shows.
    pub fn global() -> &'static Metrics {
        &GLOBAL
    }

    /// A set of its own (tests of the text format).
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("flowc");
        let runs = Family::<Labels, Counter>::default();
        r.register(
            "issue_runs",
            "Runs of an issue by this process (until it waits, sleeps or ends), by outcome",
            runs.clone(),
        );
        let started = Counter::default();
        r.register(
            "issues_started",
            "Issues started by this process",
            started.clone(),
        );
        let issues = Family::<Labels, Gauge>::default();
        r.register("issues", "Issues in the store by state", issues.clone());
        let store_up = Gauge::default();
        r.register(
            "store_up",
            "1 when the store answered this scrape, else 0",
            store_up.clone(),
        );
        let leases = Gauge::default();
        r.register(
            "leases_held",
            "Issues this replica holds leases on (PostgreSQL; 0 on SQLite)",
            leases.clone(),
        );
        let steps = Family::<Labels, Counter>::default();
        r.register(
            "steps_run",
            "Steps run by this process, by step",
            steps.clone(),
        );
        let step_seconds = latency();
        r.register(
            "step_seconds",
            "How long a step ran (its provider calls included), in seconds",
            step_seconds.clone(),
        );
        let retries = Family::<Labels, Counter>::default();
        r.register(
            "step_retries",
            "Failed attempts of a step that are tried again later, by step",
            retries.clone(),
        );
        let provider_calls = Family::<Labels, Counter>::default();
        r.register(
            "provider_calls",
            "HTTP calls to providers, by provider and status code (`error`: no answer)",
            provider_calls.clone(),
        );
        let polls = Family::<Labels, Counter>::default();
        r.register(
            "poll_calls",
            "Calls listing a provider's events (the consolidated poll), by connection",
            polls.clone(),
        );
        let webhooks = Family::<Labels, Counter>::default();
        r.register(
            "webhooks",
            "Provider webhooks received, by provider and verdict",
            webhooks.clone(),
        );
        let taken_over = Counter::default();
        r.register(
            "leases_taken_over",
            "Issues this replica claimed whose lease had expired under another replica",
            taken_over.clone(),
        );
        let expired = Counter::default();
        r.register(
            "leases_expired",
            "Leases this replica lost: expired before it renewed them, or taken by another replica",
            expired.clone(),
        );
        let commit_seconds = latency();
        r.register(
            "store_commit_seconds",
            "How long a store commit took, until durable, in seconds",
            commit_seconds.clone(),
        );
        let fsyncs = Counter::default();
        r.register(
            "store_fsyncs",
            "Syncs to disk made by this process's store (SQLite; 0 on PostgreSQL, whose server syncs)",
            fsyncs.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry: r,
                runs,
                started,
                issues,
                store_up,
                leases,
                steps,
                step_seconds,
                retries,
                provider_calls,
                polls,
                webhooks,
                taken_over,
                expired,
                commit_seconds,
                fsyncs,
            }),
        }
    }

    pub fn issue_run(&self, outcome: RunOutcome) {
        self.inner
            .runs
            .get_or_create(&labels(&[("outcome", outcome.label())]))
            .inc();
    }

    pub fn issues_started(&self, n: usize) {
        self.inner.started.inc_by(n as u64);
    }

    /// A step ran (whatever its result), for `took`.
    pub fn step_run(&self, step: &str, took: Duration) {
        self.inner
            .steps
            .get_or_create(&labels(&[("step", step)]))
            .inc();
        self.inner.step_seconds.observe(took.as_secs_f64());
    }

    /// A step's attempt failed and is tried again later.
    pub fn step_retry(&self, step: &str) {
        self.inner
            .retries
            .get_or_create(&labels(&[("step", step)]))
            .inc();
    }

    /// An HTTP call to `provider` (`http` for a plain URL) answered `status`,
    /// or none (`None`: no answer).
    pub fn provider_call(&self, provider: &str, status: Option<u16>) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.inner
            .provider_calls
            .get_or_create(&labels(&[("provider", provider), ("status", &status)]))
            .inc();
    }

    /// A call listing the events of `connection`.
    pub fn poll_call(&self, connection: &str) {
        self.inner
            .polls
            .get_or_create(&labels(&[("connection", connection)]))
            .inc();
    }

    /// A webhook for `provider` (`unknown` when the path names no connection).
    pub fn webhook(&self, provider: &str, verdict: WebhookVerdict) {
        self.inner
            .webhooks
            .get_or_create(&labels(&[
                ("provider", provider),
                ("verdict", verdict.label()),
            ]))
            .inc();
    }

    pub fn leases_taken_over(&self, n: u64) {
        self.inner.taken_over.inc_by(n);
    }

    pub fn leases_expired(&self, n: u64) {
        self.inner.expired.inc_by(n);
    }

    pub fn store_commit(&self, took: Duration) {
        self.inner.commit_seconds.observe(took.as_secs_f64());
    }

    pub fn store_fsync(&self) {
        self.inner.fsyncs.inc();
    }

    /// The metrics as Prometheus text, with the store's figures read now.
    pub async fn render(&self, store: &dyn Store) -> String {
        let m = &self.inner;
        match store.counts().await {
            Ok(counts) => {
                m.store_up.set(1);
                for state in IssueState::ALL {
                    let n = counts
                        .iter()
                        .find(|(s, _)| *s == state)
                        .map_or(0, |(_, n)| *n);
                    m.issues
                        .get_or_create(&labels(&[("state", state.as_str())]))
                        .set(n as i64);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the store did not answer");
                m.store_up.set(0);
            }
        }
        m.leases.set(store.leases_held() as i64);
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &m.registry) {
            tracing::warn!(error = %e, "metrics could not be encoded");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewIssue, SqliteOptions, SqliteStore};

    #[tokio::test]
    async fn the_text_has_every_metric_with_its_labels() {
        let store = SqliteStore::open(SqliteOptions::new(":memory:", "m")).unwrap();
        let now = jiff::Timestamp::now();
        store
            .create_issues(vec![NewIssue {
                id: "i".into(),
                step: "a".into(),
                data: serde_json::json!({}),
                ctx: serde_json::json!({}),
                now,
            }])
            .await
            .unwrap();
        let m = Metrics::new();
        m.issue_run(RunOutcome::Done);
        m.issue_run(RunOutcome::Done);
        m.issue_run(RunOutcome::Conflict);
        m.issues_started(1);
        m.step_run("charge", Duration::from_millis(3));
        m.step_retry("charge");
        m.provider_call("stripe", Some(402));
        m.provider_call("http", None);
        m.poll_call("stripe");
        m.webhook("stripe", WebhookVerdict::Refused);
        m.leases_taken_over(2);
        m.leases_expired(1);
        m.store_commit(Duration::from_millis(1));
        m.store_fsync();
        let text = m.render(&store).await;
        for line in [
            "flowc_issue_runs_total{outcome=\"done\"} 2",
            "flowc_issue_runs_total{outcome=\"conflict\"} 1",
            "flowc_issues_started_total 1",
            "flowc_issues{state=\"running\"} 1",
            "flowc_issues{state=\"completed\"} 0",
            "flowc_store_up 1",
            "flowc_leases_held 0",
            "# TYPE flowc_issues gauge",
            "flowc_steps_run_total{step=\"charge\"} 1",
            "flowc_step_seconds_count 1",
            "flowc_step_retries_total{step=\"charge\"} 1",
            "flowc_provider_calls_total{provider=\"stripe\",status=\"402\"} 1",
            "flowc_provider_calls_total{provider=\"http\",status=\"error\"} 1",
            "flowc_poll_calls_total{connection=\"stripe\"} 1",
            "flowc_webhooks_total{provider=\"stripe\",verdict=\"refused\"} 1",
            "flowc_leases_taken_over_total 2",
            "flowc_leases_expired_total 1",
            "flowc_store_commit_seconds_count 1",
            "flowc_store_fsyncs_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
