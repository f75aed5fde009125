//! `simulate --scenario FILE`: input records, external events at given times and
//! expected end states, run on a virtual clock against a local scripted server
//! (every connection's base URL points at it). A month of billing in milliseconds.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::clock::{Clock, VirtualClock, add};
use crate::engine::Engine;
use crate::events::EventFeed;
use crate::flow::Flow;
use crate::store::{IssueState, SqliteOptions, SqliteStore, Store};
use crate::testing::{Reply, TestServer};
use crate::value::parse_duration;

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: Option<String>,
    /// The virtual clock's start (default 2025-01-01T00:00:00Z).
    #[serde(default)]
    pub start: Option<String>,
    /// Stop after this long (a duration such as `40d`; default 400d).
    #[serde(default)]
    pub until: Option<String>,
    /// Scripted answers of the local server, in order per route; other requests
    /// get 200 with `{"id": "obj_N"}` (the same answer again for a repeated key).
    #[serde(default)]
    pub http: Vec<HttpRule>,
    /// Input records (none for a flow started by provider events: script the
    /// provider's event list under `http` instead, e.g. `GET /v1/events`).
    #[serde(default)]
    pub records: Vec<ScenarioRecord>,
    #[serde(default)]
    pub events: Vec<ScenarioEvent>,
    #[serde(default)]
    pub expect: Vec<Expectation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRule {
    /// `METHOD /path`.
    pub route: String,
    #[serde(default = "ok")]
    pub status: u16,
    #[serde(default)]
    pub body: Value,
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// How many times this answer is given (default 1).
    #[serde(default = "one")]
    pub times: usize,
}

fn ok() -> u16 {
    200
}
fn one() -> usize {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRecord {
    /// The name events and expectations use for this record's issue.
    pub name: String,
    pub data: Value,
    /// When it starts (default: at the start).
    #[serde(default)]
    pub at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEvent {
    /// A duration after the start (`3d`) or a timestamp.
    pub at: String,
    #[serde(default)]
    pub issue: Option<String>,
    /// Send this signal to `issue`.
    #[serde(default)]
    pub signal: Option<String>,
    /// Cancel `issue`.
    #[serde(default)]
    pub cancel: bool,
    /// A provider event: its name, the object key it is about, its id.
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub data: Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub issue: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub step: Option<String>,
    /// Data items that must have these values.
    #[serde(default)]
    pub data: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub error_contains: Option<String>,
}

/// The outcome of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub failures: Vec<String>,
    pub lines: Vec<String>,
    pub virtual_elapsed: Duration,
}

fn at_of(s: &str, start: Timestamp) -> Result<Timestamp, String> {
    if let Ok(d) = parse_duration(s) {
        return Ok(add(start, d));
    }
    s.parse::<Timestamp>()
        .map_err(|_| format!("`{s}` is neither a duration (3d) nor a timestamp"))
}

/// Runs a scenario file; returns the exit code.
pub async fn simulate_file<F: Flow>(path: &Path) -> i32 {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return 2;
        }
    };
    let scenario: Scenario = match serde_saphyr::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return 2;
        }
    };
    let wall = Instant::now();
    match simulate::<F>(&scenario).await {
        Ok(report) => {
            for l in &report.lines {
                println!("{l}");
            }
            for f in &report.failures {
                println!("FAIL {f}");
            }
            let n = scenario.expect.len();
            println!(
                "{}: {} of {n} expectations met; {:.1} days simulated in {:.0?}",
                scenario.name.as_deref().unwrap_or("scenario"),
                n - report.failures.len().min(n),
                report.virtual_elapsed.as_secs_f64() / 86_400.0,
                wall.elapsed()
            );
            if report.failures.is_empty() { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// Runs a scenario.
pub async fn simulate<F: Flow>(sc: &Scenario) -> Result<Report, String> {
    let start = match &sc.start {
        Some(s) => s.parse::<Timestamp>().map_err(|e| format!("start: {e}"))?,
        None => Timestamp::from_second(1_735_689_600).unwrap_or(Timestamp::UNIX_EPOCH),
    };
    let until = add(
        start,
        parse_duration(sc.until.as_deref().unwrap_or("400d")).map_err(|e| e.to_string())?,
    );
    let server = TestServer::start().await;
    for r in &sc.http {
        let mut reply = Reply::json(r.status, r.body.clone());
        for (k, v) in &r.headers {
            reply = reply.header(k, v);
        }
        server.script(&r.route, std::iter::repeat_n(reply, r.times));
    }
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(SqliteOptions::new(":memory:", F::name())).map_err(|e| e.to_string())?,
    );
    let clock = VirtualClock::new(start);
    let engine =
        Engine::<F>::with_base_url(store.clone(), Arc::new(clock.clone()), Some(&server.url()));

    enum Action<'a> {
        Start(&'a ScenarioRecord),
        Event(&'a ScenarioEvent),
    }
    let mut actions: Vec<(Timestamp, Action<'_>)> = Vec::new();
    for r in &sc.records {
        let at =
            r.at.as_deref()
                .map(|a| at_of(a, start))
                .transpose()?
                .unwrap_or(start);
        actions.push((at, Action::Start(r)));
    }
    for e in &sc.events {
        actions.push((at_of(&e.at, start)?, Action::Event(e)));
    }
    actions.sort_by_key(|(t, _)| *t);
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut next_action = 0;
    // The flow's event feeds poll the scripted server on the virtual clock.
    let feed = EventFeed::new(engine.clone());
    for _ in 0..1_000_000 {
        let now = clock.now();
        while next_action < actions.len() && actions[next_action].0 <= now {
            match &actions[next_action].1 {
                Action::Start(r) => {
                    let id = engine
                        .start(&r.data)
                        .await
                        .map_err(|e| format!("record `{}`: {e}", r.name))?;
                    ids.insert(r.name.clone(), id);
                }
                Action::Event(e) => apply_event(&engine, e, &ids, now).await?,
            }
            next_action += 1;
        }
        feed.poll_due(clock.now()).await;
        engine.run_due(16).await.map_err(|e| e.to_string())?;
        let wake = store.next_wake().await.map_err(|e| e.to_string())?;
        // The feed keeps the simulation going only while something else does
        // (an issue is active or a scenario action is to come).
        let busy = wake.is_some() || next_action < actions.len();
        let feed_due = feed.next_due().filter(|_| busy);
        let next = [wake, actions.get(next_action).map(|a| a.0), feed_due]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) if t <= until => clock.advance_to(t.max(clock.now())),
            _ => break,
        }
    }

    let mut failures = Vec::new();
    let mut lines = Vec::new();
    let mut names: Vec<&String> = ids.keys().collect();
    names.sort();
    for name in names {
        if let Some(row) = store.load(&ids[name]).await.map_err(|e| e.to_string())? {
            let err = row
                .error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            lines.push(format!("{name}: {} at {}{err}", row.state, row.step));
        }
    }
    for x in &sc.expect {
        let Some(id) = ids.get(&x.issue) else {
            failures.push(format!("{}: no such record in the scenario", x.issue));
            continue;
        };
        let row = store
            .load(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("issue vanished")?;
        if let Some(s) = &x.state {
            if IssueState::parse(s).is_none() {
                failures.push(format!("{}: unknown state `{s}`", x.issue));
            } else if row.state.as_str() != s {
                failures.push(format!(
                    "{}: expected state {s}, got {} at step {}{}",
                    x.issue,
                    row.state,
                    row.step,
                    row.error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ));
            }
        }
        if let Some(st) = &x.step
            && &row.step != st
        {
            failures.push(format!("{}: expected step {st}, got {}", x.issue, row.step));
        }
        if let Some(want) = &x.error_contains
            && !row.error.as_deref().unwrap_or("").contains(want.as_str())
        {
            failures.push(format!(
                "{}: expected an error containing `{want}`, got {:?}",
                x.issue, row.error
            ));
        }
        for (k, v) in x.data.iter().flatten() {
            let got = row.data.get(k).cloned().unwrap_or(Value::Null);
            if &got != v {
                failures.push(format!("{}: expected {k} = {v}, got {got}", x.issue));
            }
        }
    }
    let elapsed = clock.now().duration_since(start).unsigned_abs();
    Ok(Report {
        failures,
        lines,
        virtual_elapsed: elapsed,
    })
}

async fn apply_event<F: Flow>(
    engine: &Engine<F>,
    e: &ScenarioEvent,
    ids: &HashMap<String, String>,
    now: Timestamp,
) -> Result<(), String> {
    let issue = |name: &Option<String>| -> Result<String, String> {
        let n = name.as_deref().ok_or("this event needs `issue`")?;
        ids.get(n)
            .cloned()
            .ok_or_else(|| format!("event at {}: no record `{n}` has started", e.at))
    };
    if let Some(sig) = &e.signal {
        let data = if e.data.is_null() {
            Value::Object(Default::default())
        } else {
            e.data.clone()
        };
        engine
            .signal(&issue(&e.issue)?, sig, data)
            .await
            .map_err(|err| format!("signal `{sig}`: {err}"))?;
    } else if e.cancel {
        engine
            .store()
            .cancel(&issue(&e.issue)?, now)
            .await
            .map_err(|err| err.to_string())?;
    } else if let Some(name) = &e.event {
        let key = e.key.as_deref().ok_or("an event needs `key`")?;
        let id =
            e.id.clone()
                .unwrap_or_else(|| format!("evt_{name}_{key}_{}", now.as_second()));
        engine
            .store()
            .deliver_event(name, key, &id, e.data.clone(), now)
            .await
            .map_err(|err| err.to_string())?;
    } else {
        return Err(format!(
            "event at {}: say `signal`, `cancel` or `event`",
            e.at
        ));
    }
    Ok(())
}
