//! What a running flow binary tells Prometheus (`GET /metrics` of
//! `run --listen`, in the text exposition format): issue runs of this process
//! by outcome, issues started, and, read from the store at each scrape, the
//! issues by state, whether the store answers, and the leases this replica
//! holds (PostgreSQL).

use std::fmt;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::store::{IssueState, Store};

type Labels = Vec<(&'static str, &'static str)>;

/// The metrics of one process.
pub struct Metrics {
    registry: Registry,
    runs: Family<Labels, Counter>,
    started: Counter,
    issues: Family<Labels, Gauge>,
    store_up: Gauge,
    leases: Gauge,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("started", &self.started.get())
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

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("flowc");
        let runs = Family::<Labels, Counter>::default();
        registry.register(
            "issue_runs",
            "Runs of an issue by this process (until it waits, sleeps or ends), by outcome",
            runs.clone(),
        );
        let started = Counter::default();
        registry.register(
            "issues_started",
            "Issues started by this process",
            started.clone(),
        );
        let issues = Family::<Labels, Gauge>::default();
        registry.register("issues", "Issues in the store by state", issues.clone());
        let store_up = Gauge::default();
        registry.register(
            "store_up",
            "1 when the store answered this scrape, else 0",
            store_up.clone(),
        );
        let leases = Gauge::default();
        registry.register(
            "leases_held",
            "Issues this replica holds leases on (PostgreSQL; 0 on SQLite)",
            leases.clone(),
        );
        Metrics {
            registry,
            runs,
            started,
            issues,
            store_up,
            leases,
        }
    }
}

impl Metrics {
    pub fn issue_run(&self, outcome: RunOutcome) {
        self.runs
            .get_or_create(&vec![("outcome", outcome.label())])
            .inc();
    }

    pub fn issues_started(&self, n: usize) {
        self.started.inc_by(n as u64);
    }

    /// The metrics as Prometheus text, with the store's figures read now.
    pub async fn render(&self, store: &dyn Store) -> String {
        match store.counts().await {
            Ok(counts) => {
                self.store_up.set(1);
                for state in IssueState::ALL {
                    let n = counts
                        .iter()
                        .find(|(s, _)| *s == state)
                        .map_or(0, |(_, n)| *n);
                    self.issues
                        .get_or_create(&vec![("state", state.as_str())])
                        .set(n as i64);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the store did not answer");
                self.store_up.set(0);
            }
        }
        self.leases.set(store.leases_held() as i64);
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
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
    async fn the_text_has_runs_issues_by_state_and_the_store() {
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
        let m = Metrics::default();
        m.issue_run(RunOutcome::Done);
        m.issue_run(RunOutcome::Done);
        m.issue_run(RunOutcome::Conflict);
        m.issues_started(1);
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
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
