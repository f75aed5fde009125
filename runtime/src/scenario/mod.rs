//! `simulate --scenario FILE`: input records, external events at given times and
//! expected end states, run on a virtual clock. Every `provider: stripe`,
//! `provider: paypal` and `provider: buckaroo` connection talks to its own
//! in-process simulator on that clock (its webhooks or pushes, when the
//! connection takes them, reach the flow as on `run --listen`); every other connection and absolute URL points at a local
//! scripted server. A month of billing in milliseconds. The file format is in
//! docs/scenarios.md.

mod buckaroo;
mod expect;
mod file;
mod outbox;
mod paypal;
mod sims;
mod stripe;
#[cfg(test)]
mod tests;
mod vipps;

pub use file::*;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::Value;

use crate::clock::{Clock, VirtualClock, add};
use crate::engine::Engine;
use crate::events::EventFeed;
use crate::flow::Flow;
use crate::store::{PgOptions, PgStore, SqliteOptions, SqliteStore, Store};
use crate::testing::{Reply, TestServer};
use crate::value::parse_duration;

/// The outcome of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// One line per failed check.
    pub failures: Vec<String>,
    /// How many expectations failed (one can fail several checks).
    pub unmet: usize,
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

/// Runs a scenario file, on PostgreSQL when `store` is a database's URL
/// (see [`simulate_on`]); returns the exit code.
pub async fn simulate_file<F: Flow>(path: &Path, store: Option<&str>) -> i32 {
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
    match simulate_on::<F>(&scenario, store).await {
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
                n - report.unmet.min(n),
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

/// Runs a scenario (on an in-memory SQLite store).
pub async fn simulate<F: Flow>(sc: &Scenario) -> Result<Report, String> {
    simulate_on::<F>(sc, None).await
}

/// Runs a scenario on the PostgreSQL database `store` names (a `postgres://`
/// URL), in a schema of its own that is dropped at the end, or, for `None`,
/// on an in-memory SQLite store.
pub async fn simulate_on<F: Flow>(sc: &Scenario, store: Option<&str>) -> Result<Report, String> {
    let Some(url) = store else {
        let sqlite = SqliteStore::open(SqliteOptions::new(":memory:", F::name()))
            .map_err(|e| e.to_string())?;
        return simulate_in::<F>(sc, Arc::new(sqlite)).await;
    };
    let mut opts = PgOptions::new(url, F::name());
    opts.schema = Some(format!(
        "flowc_sim_{}",
        &uuid::Uuid::now_v7().simple().to_string()[16..]
    ));
    let pg = PgStore::connect(opts).await.map_err(|e| e.to_string())?;
    let report = simulate_in::<F>(sc, Arc::new(pg.clone())).await;
    pg.drop_schema().await.map_err(|e| e.to_string())?;
    report
}

async fn simulate_in<F: Flow>(sc: &Scenario, store: Arc<dyn Store>) -> Result<Report, String> {
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
    let clock = VirtualClock::new(start);
    // The scenario's values, for the Buckaroo gateways, which take their
    // connections' keys as they start (set again below, after the Stripe and
    // PayPal simulators' defaults).
    for (k, v) in &sc.env {
        crate::http::set_simulated_env(k, v);
    }

    // Stripe and PayPal connections get their simulators; those that take
    // webhooks get them on a local listener, as `run --listen` would.
    let stripe_conns = stripe::stripe_connections(F::connections());
    let paypal_conns = paypal::paypal_connections(F::connections());
    // Vipps's callbacks need no credential of their own: always a listener.
    let vipps_conns = vipps::vipps_connections(F::connections());
    let buckaroo_conns = buckaroo::buckaroo_connections(F::connections());
    let listener = if stripe_conns.iter().any(|c| stripe::takes_webhooks(c))
        || paypal_conns.iter().any(|c| paypal::takes_webhooks(c))
        || !vipps_conns.is_empty()
        || buckaroo_conns.iter().any(|c| buckaroo::takes_pushes(c))
    {
        Some(
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("webhook listener: {e}"))?,
        )
    } else {
        None
    };
    let listener_url = listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| format!("http://{a}"));
    let sims = stripe::StripeSims::start(
        &stripe_conns,
        Arc::new(clock.clone()),
        &sc.stripe,
        listener_url.as_deref(),
    )
    .await?;
    if sims.is_empty() && (!sc.stripe.faults.is_empty() || sc.stripe.drop_webhooks.is_some()) {
        return Err("`stripe:` settings, but the flow has no Stripe connection".into());
    }
    let outboxes = outbox::Outboxes::prepare(F::connections())?;
    let mut buckaroo_sims = buckaroo::BuckarooSims::start(
        &buckaroo_conns,
        Arc::new(clock.clone()),
        &sc.buckaroo,
        &outboxes,
        F::connection_settings(),
        listener_url.as_deref(),
    )
    .await?;
    let paypal_sims = paypal::PayPalSims::start(
        &paypal_conns,
        Arc::new(clock.clone()),
        &sc.paypal,
        listener_url.as_deref(),
    )
    .await?;
    if paypal_sims.is_empty() && (!sc.paypal.faults.is_empty() || sc.paypal.drop_webhooks.is_some())
    {
        return Err("`paypal:` settings, but the flow has no PayPal connection".into());
    }
    let vipps_sims = vipps::VippsSims::start(
        &vipps_conns,
        Arc::new(clock.clone()),
        &sc.vipps,
        listener_url.as_deref(),
    )
    .await?;
    if vipps_sims.is_empty() && (!sc.vipps.faults.is_empty() || sc.vipps.drop_webhooks.is_some()) {
        return Err("`vipps:` settings, but the flow has no Vipps connection".into());
    }
    // The scenario's placeholders win over the simulation's defaults.
    for (k, v) in &sc.env {
        crate::http::set_simulated_env(k, v);
    }
    let mut sim_urls = sims.urls();
    sim_urls.extend(paypal_sims.urls());
    sim_urls.extend(vipps_sims.urls());
    sim_urls.extend(buckaroo_sims.gateways.urls());
    let engine = Engine::<F>::with_base_urls(
        store.clone(),
        Arc::new(clock.clone()),
        &server.url(),
        &sim_urls,
    )?;
    // The flow's event feeds poll the simulators on the virtual clock.
    let feed = Arc::new(EventFeed::new(engine.clone()));
    // Its schedules tick on the virtual clock too.
    let schedules = crate::schedule::Schedules::new(engine.clone())?;
    if let Some(l) = listener {
        // Only the simulators' signed webhooks come here: the scenario starts,
        // signals and delivers events itself, so the operator routes are off.
        let app = crate::cli::listen::router(
            feed.clone(),
            crate::cli::operator::OperatorAuth::refuse_all(),
        );
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
    }

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
    let mut names: HashMap<String, String> = HashMap::new();
    let mut lines = Vec::new();
    let mut next_action = 0;
    // A Stripe action's events are owed a poll: the simulation goes on until
    // the feed has looked once after it (a lost webhook is found so).
    let mut poll_owed = false;
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
                Action::Event(e)
                    if e.stripe.is_some() || e.paypal.is_some() || e.vipps.is_some() =>
                {
                    let all = (&sims, &paypal_sims, &vipps_sims);
                    let line = sim_event(&engine, all, e, &ids, &mut names).await?;
                    lines.push(format!("{}: {line}", e.at));
                    poll_owed = !feed.is_empty();
                }
                Action::Event(e) => apply_event(&engine, e, &ids, now).await?,
            }
            next_action += 1;
        }
        sims.settle().await;
        schedules
            .start_due(clock.now())
            .await
            .map_err(|e| e.to_string())?;
        paypal_sims.settle().await;
        vipps_sims.settle().await;
        lines.extend(buckaroo_sims.step(clock.now())?);
        buckaroo_sims.gateways.settle().await;
        let polls = feed.poll_due(clock.now()).await;
        for p in polls.iter().flat_map(|r| &r.problems) {
            lines.push(format!("{}: {p}", clock.now()));
        }
        if !polls.is_empty() {
            poll_owed = false;
        }
        engine.run_due(16).await.map_err(|e| e.to_string())?;
        lines.extend(buckaroo_sims.step(clock.now())?);
        sims.settle().await;
        paypal_sims.settle().await;
        vipps_sims.settle().await;
        buckaroo_sims.gateways.settle().await;
        let wake = store.next_wake().await.map_err(|e| e.to_string())?;
        // The feed keeps the simulation going only while something else does
        // (an issue is active, a scenario action is to come, a poll is owed).
        let busy = wake.is_some() || next_action < actions.len() || poll_owed;
        let feed_due = if busy {
            feed.next_due_active().await
        } else {
            None
        };
        let next = [
            wake,
            actions.get(next_action).map(|a| a.0),
            feed_due,
            schedules.next_due(),
            buckaroo_sims.next_due(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(t) if t <= until => clock.advance_to(t.max(clock.now())),
            _ => break,
        }
    }

    let mut failures = Vec::new();
    let mut names_sorted: Vec<&String> = ids.keys().collect();
    names_sorted.sort();
    for name in names_sorted {
        if let Some(row) = store.load(&ids[name]).await.map_err(|e| e.to_string())? {
            lines.push(format!("{name}: {}", describe(&row)));
        }
    }
    let started = store
        .list(None, 1_000_000)
        .await
        .map_err(|e| e.to_string())?;
    for row in started
        .iter()
        .filter(|r| !ids.values().any(|id| id == &r.id))
    {
        lines.push(format!(
            "issue {} (started by an event or a schedule): {}",
            row.id,
            describe(row)
        ));
    }
    lines.extend(outboxes.lines());
    let mut unmet = 0;
    for x in &sc.expect {
        let f = expect::check(
            x,
            store.as_ref(),
            &ids,
            &sims,
            &paypal_sims,
            &buckaroo_sims,
            &vipps_sims,
            &server,
        )
        .await?;
        unmet += usize::from(!f.is_empty());
        failures.extend(f);
    }
    let elapsed = clock.now().duration_since(start).unsigned_abs();
    Ok(Report {
        failures,
        unmet,
        lines,
        virtual_elapsed: elapsed,
    })
}

/// `completed at done`, with the error of a failed issue.
fn describe(row: &crate::store::IssueRow) -> String {
    let err = row
        .error
        .as_deref()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    format!("{} at {}{err}", row.state, row.step)
}

/// A scenario event that acts on a simulator (Stripe's, PayPal's or Vipps's).
async fn sim_event<F: Flow>(
    engine: &Engine<F>,
    (sims, paypal_sims, vipps_sims): (&stripe::StripeSims, &paypal::PayPalSims, &vipps::VippsSims),
    e: &ScenarioEvent,
    ids: &HashMap<String, String>,
    names: &mut HashMap<String, String>,
) -> Result<String, String> {
    let (label, alone) = match (&e.stripe, &e.paypal, &e.vipps) {
        (Some(_), None, None) => ("stripe", true),
        (None, Some(_), None) => ("paypal", true),
        (None, None, Some(_)) => ("vipps", true),
        _ => ("stripe`, `paypal` or `vipps", false),
    };
    if !alone || e.signal.is_some() || e.cancel || e.event.is_some() {
        return Err(format!(
            "event at {}: `{label}` goes alone (no `signal`, `cancel`, `event` or other provider)",
            e.at
        ));
    }
    let row = match &e.issue {
        Some(n) => {
            let id = ids
                .get(n)
                .ok_or_else(|| format!("event at {}: no record `{n}` has started", e.at))?;
            Some(
                engine
                    .store()
                    .load(id)
                    .await
                    .map_err(|err| err.to_string())?
                    .ok_or("issue vanished")?,
            )
        }
        None => None,
    };
    let out = match (&e.stripe, &e.paypal, &e.vipps) {
        (Some(a), _, _) => sims.act(a, row.as_ref(), names),
        (_, Some(a), _) => paypal_sims.act(a, row.as_ref(), names),
        (_, _, Some(a)) => vipps_sims.act(a, row.as_ref(), names),
        _ => Err("no provider action".into()),
    };
    out.map_err(|err| format!("event at {}: {err}", e.at))
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
            "event at {}: say `signal`, `cancel`, `event`, `stripe` or `paypal`",
            e.at
        ));
    }
    Ok(())
}
