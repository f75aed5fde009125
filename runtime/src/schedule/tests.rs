//! Schedule tests: tick computation (epoch-aligned `every`, cron in a time
//! zone across DST changes) and scheduled starts on a store: one issue per
//! tick in a simulation, across restarts (per catch-up policy) and with two
//! workers, never two for one tick.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

#[path = "../../tests/flows/scheduled.rs"]
mod scheduled;

use scheduled::{DAY, Daily};

use super::{CatchUp, ScheduleDef, Schedules, TickDef, Ticker, parse_cron, parse_timezone};
use crate::clock::{Clock, VirtualClock, add};
use crate::engine::Engine;
use crate::flow::Flow;
use crate::store::{IssueState, SqliteOptions, SqliteStore, Store};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn ticks(t: &Ticker, from: &str, n: usize) -> Vec<String> {
    t.ticks_between(ts(from), Timestamp::MAX, n)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn every_ticks_at_whole_multiples_of_its_interval_since_the_epoch() {
    let daily = Ticker::every(DAY).unwrap();
    assert_eq!(daily.label(), "every 1d");
    assert_eq!(
        ticks(&daily, "2025-03-01T10:30:00Z", 2),
        ["2025-03-02T00:00:00Z", "2025-03-03T00:00:00Z"]
    );
    // A tick is never "after" itself.
    assert_eq!(
        daily.next_after(ts("2025-03-02T00:00:00Z")),
        Some(ts("2025-03-03T00:00:00Z"))
    );
    assert_eq!(
        daily.last_at_or_before(ts("2025-03-02T00:00:00Z")),
        Some(ts("2025-03-02T00:00:00Z"))
    );
    assert_eq!(
        daily.last_at_or_before(ts("2025-03-02T23:59:59Z")),
        Some(ts("2025-03-02T00:00:00Z"))
    );
    let quarter = Ticker::every(Duration::from_secs(900)).unwrap();
    assert_eq!(quarter.label(), "every 15m");
    assert_eq!(
        ticks(&quarter, "2025-03-01T10:07:13Z", 2),
        ["2025-03-01T10:15:00Z", "2025-03-01T10:30:00Z"]
    );
    assert_eq!(
        Ticker::every(Duration::from_secs(90)).unwrap().label(),
        "every 90s"
    );
    assert!(Ticker::every(Duration::ZERO).is_err());
}

#[test]
fn cron_keeps_its_local_time_across_dst_changes() {
    // 09:00 on weekdays in Amsterdam: 08:00Z in winter (CET), 07:00Z in summer (CEST).
    let t = Ticker::cron("0 9 * * 1-5", "Europe/Amsterdam").unwrap();
    assert_eq!(t.label(), "cron 0 9 * * 1-5 Europe/Amsterdam");
    assert_eq!(
        ticks(&t, "2025-03-27T12:00:00Z", 3),
        // Fri 28 March (CET), then Mon 31 March (CEST, after the change on Sunday 30).
        [
            "2025-03-28T08:00:00Z",
            "2025-03-31T07:00:00Z",
            "2025-04-01T07:00:00Z"
        ]
    );
    assert_eq!(
        ticks(&t, "2025-10-24T12:00:00Z", 2),
        // Mon 27 October is back on CET (the change was on Sunday 26).
        ["2025-10-27T08:00:00Z", "2025-10-28T08:00:00Z"]
    );
    // Without a time zone: UTC.
    let utc = Ticker::cron("0 9 * * *", "UTC").unwrap();
    assert_eq!(
        ticks(&utc, "2025-03-29T12:00:00Z", 2),
        ["2025-03-30T09:00:00Z", "2025-03-31T09:00:00Z"]
    );
}

#[test]
fn cron_in_a_dst_gap_runs_after_the_gap_and_once_in_an_overlap() {
    // 02:30 does not exist in Amsterdam on 30 March 2025 (02:00 CET -> 03:00
    // CEST): as in Vixie cron, the job runs right after the gap, at 03:00 CEST.
    let t = Ticker::cron("30 2 * * *", "Europe/Amsterdam").unwrap();
    assert_eq!(
        ticks(&t, "2025-03-29T12:00:00Z", 3),
        [
            "2025-03-30T01:00:00Z",
            "2025-03-31T00:30:00Z",
            "2025-04-01T00:30:00Z"
        ]
    );
    // 02:30 happens twice on 26 October 2025 (03:00 CEST -> 02:00 CET): once.
    assert_eq!(
        ticks(&t, "2025-10-25T12:00:00Z", 2),
        ["2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"]
    );
    // A wildcard job follows the wall clock: none in the gap, both passes of
    // the repeated hour.
    let half = Ticker::cron("*/30 * * * *", "Europe/Amsterdam").unwrap();
    assert_eq!(
        ticks(&half, "2025-03-30T00:15:00Z", 3),
        [
            "2025-03-30T00:30:00Z",
            "2025-03-30T01:00:00Z",
            "2025-03-30T01:30:00Z"
        ]
    );
    assert_eq!(
        ticks(&half, "2025-10-25T23:45:00Z", 5),
        [
            "2025-10-26T00:00:00Z", // 02:00 CEST
            "2025-10-26T00:30:00Z", // 02:30 CEST
            "2025-10-26T01:00:00Z", // 02:00 CET
            "2025-10-26T01:30:00Z", // 02:30 CET
            "2025-10-26T02:00:00Z", // 03:00 CET
        ]
    );
}

#[test]
fn cron_expressions_and_time_zones_are_checked() {
    assert!(parse_cron("0 9 * * 1-5").is_ok());
    assert!(parse_cron("0 9 * * MON-FRI").is_ok());
    // Five fields and nothing else: no seconds, no years, no `@daily`.
    for bad in [
        "@daily",
        "0 9 * *",
        "0 0 9 * * 1-5",
        "61 * * * *",
        "0 25 * * *",
        "x * * * *",
        "",
    ] {
        assert!(parse_cron(bad).is_err(), "{bad:?} accepted");
    }
    let never = parse_cron("0 0 30 2 *").unwrap_err();
    assert!(never.contains("never"), "{never}");
    assert!(parse_timezone("Europe/Amsterdam").is_ok());
    assert!(parse_timezone("UTC").is_ok());
    let e = parse_timezone("Europe/Amsterdamm").unwrap_err();
    assert!(e.contains("Europe/Amsterdamm"), "{e}");
    assert!(parse_timezone("").is_err());
    assert!(Ticker::cron("0 9 * * *", "Mars/Olympus").is_err());
}

// ---------------------------------------------------------------- starts

fn memory_store() -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(SqliteOptions::new(":memory:", Daily::NAME)).unwrap())
}

fn file_store(path: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(SqliteOptions::new(path, Daily::NAME)).unwrap())
}

/// A worker's schedules on `store` at the virtual clock's time.
fn worker(store: &Arc<dyn Store>, clock: &VirtualClock, catch_up: CatchUp) -> Schedules<Daily> {
    let defs: &'static [ScheduleDef] = Box::leak(Box::new([ScheduleDef {
        tick: TickDef::Every(DAY),
        catch_up,
    }]));
    let engine = Engine::<Daily>::new(store.clone(), Arc::new(clock.clone()));
    Schedules::with_defs(engine, defs).unwrap()
}

async fn issues(store: &Arc<dyn Store>) -> usize {
    store.list(None, 1_000_000).await.unwrap().len()
}

/// The history line of each issue's start: which tick started it.
async fn started_ticks(store: &Arc<dyn Store>) -> Vec<String> {
    let mut out = Vec::new();
    for row in store.list(None, 1_000_000).await.unwrap() {
        let h = store.history(&row.id).await.unwrap();
        out.push(h[0].detail.clone());
    }
    out.sort();
    out
}

#[tokio::test]
async fn three_simulated_days_start_three_issues_with_the_defaults() {
    let scenario: crate::scenario::Scenario = serde_saphyr::from_str(
        "start: 2025-01-01T00:00:00Z\nuntil: 3d\nexpect:\n  - { match: {}, count: 3, state: completed, data: { kind: daily } }\n",
    )
    .unwrap();
    let report = crate::scenario::simulate::<Daily>(&scenario).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    // Ticks at the end of each day: 2, 3 and 4 January, midnight UTC.
    assert_eq!(report.virtual_elapsed, 3 * DAY);
    // Starting off the tick: two days from noon hold two midnights.
    let scenario: crate::scenario::Scenario = serde_saphyr::from_str(
        "start: 2025-01-01T12:00:00Z\nuntil: 2d\nexpect:\n  - { match: {}, count: 2 }\n",
    )
    .unwrap();
    let report = crate::scenario::simulate::<Daily>(&scenario).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
}

#[tokio::test]
async fn a_running_worker_starts_one_issue_per_tick() {
    let store = memory_store();
    let clock = VirtualClock::new(ts("2025-01-01T10:00:00Z"));
    let w = worker(&store, &clock, CatchUp::Last);
    // The first look records the cursor; ticks before it are not caught up.
    assert!(w.start_due(clock.now()).await.unwrap().is_empty());
    assert_eq!(w.next_due(), Some(ts("2025-01-02T00:00:00Z")));
    assert_eq!(issues(&store).await, 0);
    for day in 2..=4 {
        let tick = ts(&format!("2025-01-0{day}T00:00:00Z"));
        clock.advance_to(w.next_due().unwrap());
        assert_eq!(clock.now(), tick);
        let r = w.start_due(clock.now()).await.unwrap();
        assert_eq!((r[0].ticks.clone(), r[0].started.len()), (vec![tick], 1));
        // Looking again at the same time starts nothing.
        assert!(w.start_due(clock.now()).await.unwrap().is_empty());
    }
    assert_eq!(issues(&store).await, 3);
    assert_eq!(
        started_ticks(&store).await,
        [
            "event schedule:every 1d@2025-01-02T00:00:00Z",
            "event schedule:every 1d@2025-01-03T00:00:00Z",
            "event schedule:every 1d@2025-01-04T00:00:00Z",
        ]
    );
}

/// Stops the worker at a tick, advances four days and a half, restarts a new
/// worker on the reopened store file: the issues it starts.
async fn restart(catch_up: CatchUp) -> (Arc<dyn Store>, tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sched.db");
    let clock = VirtualClock::new(ts("2025-01-01T10:00:00Z"));
    {
        let store = file_store(&path);
        let w = worker(&store, &clock, catch_up);
        w.start_due(clock.now()).await.unwrap();
        clock.advance_to(ts("2025-01-02T00:00:00Z"));
        assert_eq!(w.start_due(clock.now()).await.unwrap()[0].started.len(), 1);
    }
    // Down from 2 January until the 6th, noon: ticks on the 3rd, 4th, 5th and 6th were missed.
    clock.advance_to(ts("2025-01-06T12:00:00Z"));
    let store = file_store(&path);
    let w = worker(&store, &clock, catch_up);
    let r = w.start_due(clock.now()).await.unwrap();
    let started = r
        .iter()
        .flat_map(|r| r.ticks.iter().map(ToString::to_string))
        .collect();
    // A second look, a second worker, and a restart at the same time start nothing more.
    assert!(w.start_due(clock.now()).await.unwrap().is_empty());
    let again = worker(&store, &clock, catch_up);
    assert!(again.start_due(clock.now()).await.unwrap().is_empty());
    (store, dir, started)
}

#[tokio::test]
async fn a_restart_catches_up_the_newest_missed_tick_only_by_default() {
    let (store, _dir, started) = restart(CatchUp::Last).await;
    assert_eq!(started, ["2025-01-06T00:00:00Z"]);
    assert_eq!(
        started_ticks(&store).await,
        [
            "event schedule:every 1d@2025-01-02T00:00:00Z",
            "event schedule:every 1d@2025-01-06T00:00:00Z",
        ]
    );
}

#[tokio::test]
async fn a_restart_with_catch_up_all_starts_every_missed_tick_once() {
    let (store, _dir, started) = restart(CatchUp::All).await;
    assert_eq!(
        started,
        [
            "2025-01-03T00:00:00Z",
            "2025-01-04T00:00:00Z",
            "2025-01-05T00:00:00Z",
            "2025-01-06T00:00:00Z"
        ]
    );
    assert_eq!(issues(&store).await, 5);
    // Every issue runs (and ends) as any other.
    let engine = Engine::<Daily>::new(
        store.clone(),
        Arc::new(VirtualClock::new(ts("2025-01-06T12:00:00Z"))),
    );
    engine.run_due(8).await.unwrap();
    let done = store.list(Some(IssueState::Completed), 100).await.unwrap();
    assert_eq!(done.len(), 5);
    assert!(done.iter().all(|r| r.data["kind"] == "daily"), "{done:?}");
}

#[tokio::test]
async fn two_workers_at_one_tick_start_one_issue() {
    let store = memory_store();
    let clock = VirtualClock::new(ts("2025-01-01T10:00:00Z"));
    let (a, b) = (
        worker(&store, &clock, CatchUp::All),
        worker(&store, &clock, CatchUp::All),
    );
    a.start_due(clock.now()).await.unwrap();
    b.start_due(clock.now()).await.unwrap();
    for day in 0..3 {
        clock.advance_to(add(ts("2025-01-02T00:00:00Z"), DAY * day));
        let (ra, rb) = tokio::join!(a.start_due(clock.now()), b.start_due(clock.now()));
        let n: usize = ra
            .unwrap()
            .iter()
            .chain(rb.unwrap().iter())
            .map(|r| r.started.len())
            .sum();
        assert_eq!(n, 1, "day {day}");
    }
    assert_eq!(issues(&store).await, 3);
}

#[tokio::test]
async fn status_shows_the_next_tick_and_the_missed_ones() {
    let store = memory_store();
    let clock = VirtualClock::new(ts("2025-01-01T10:00:00Z"));
    let w = worker(&store, &clock, CatchUp::Last);
    let s = w.status(clock.now()).await.unwrap();
    assert_eq!(s[0].next, Some(ts("2025-01-02T00:00:00Z")));
    assert_eq!(
        s[0].to_string(),
        "schedule every 1d (catch_up last): next tick 2025-01-02T00:00:00Z; not started yet (the first `run` starts from its own time)"
    );
    w.start_due(clock.now()).await.unwrap();
    clock.advance_to(ts("2025-01-03T12:00:00Z"));
    let s = w.status(clock.now()).await.unwrap();
    assert_eq!(
        s[0].to_string(),
        "schedule every 1d (catch_up last): next tick 2025-01-04T00:00:00Z; 2 missed since 2025-01-01T10:00:00Z, the next `run` starts the newest"
    );
    w.start_due(clock.now()).await.unwrap();
    assert_eq!(
        w.status(clock.now()).await.unwrap()[0].to_string(),
        "schedule every 1d (catch_up last): next tick 2025-01-04T00:00:00Z"
    );
}

#[tokio::test]
async fn a_flow_without_schedules_has_nothing_to_do() {
    let clock = VirtualClock::new(ts("2025-01-01T10:00:00Z"));
    let engine = Engine::<Daily>::new(memory_store(), Arc::new(clock));
    let none = Schedules::with_defs(engine, &[]).unwrap();
    assert!(none.is_empty());
    assert_eq!(none.next_due(), None);
}

#[test]
fn ticks_are_whole_whatever_the_time_they_are_computed_from() {
    // The wall clock has nanoseconds; a tick (the start's key) never does.
    let cron = Ticker::cron("0 9 * * *", "Europe/Amsterdam").unwrap();
    let every = Ticker::every(DAY).unwrap();
    for t in [
        ts("2025-03-02T08:00:00.5Z"),
        ts("2025-03-02T07:59:59.999999999Z"),
        ts("2025-03-02T12:34:56.789Z"),
    ] {
        for ticker in [&cron, &every] {
            let next = ticker.next_after(t).unwrap();
            let last = ticker.last_at_or_before(t).unwrap();
            assert!(next > t && last <= t, "{ticker:?} at {t}: {last} {next}");
            assert_eq!(next.subsec_nanosecond(), 0, "{ticker:?} at {t}: {next}");
            assert_eq!(last.subsec_nanosecond(), 0, "{ticker:?} at {t}: {last}");
        }
    }
    assert_eq!(
        cron.next_after(ts("2025-03-02T08:00:00.5Z")),
        Some(ts("2025-03-03T08:00:00Z"))
    );
    assert_eq!(
        cron.last_at_or_before(ts("2025-03-02T08:00:00.5Z")),
        Some(ts("2025-03-02T08:00:00Z"))
    );
    assert_eq!(
        cron.next_after(ts("2025-03-02T07:59:59.9Z")),
        Some(ts("2025-03-02T08:00:00Z"))
    );
}

/// Polls `issues` (real time, at most 5 s) until there are `n`.
async fn until_issues(store: &Arc<dyn Store>, n: usize) {
    for _ in 0..500 {
        if issues(store).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} issues, have {}", issues(store).await);
}

#[tokio::test]
async fn the_worker_loop_starts_each_tick_as_the_clock_reaches_it() {
    let store = memory_store();
    let clock = VirtualClock::new(ts("2025-01-01T10:00:00Z"));
    let engine = Engine::<Daily>::new(store.clone(), Arc::new(clock.clone()));
    let (stop, rx) = tokio::sync::watch::channel(false);
    super::start_worker(&engine, false, rx).await.unwrap();
    // The loop's first look records its start.
    for _ in 0..500 {
        if store
            .feed_cursor("schedule:every 1d")
            .await
            .unwrap()
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    clock.advance_to(ts("2025-01-01T23:59:59Z"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(issues(&store).await, 0);
    clock.advance_to(ts("2025-01-02T00:00:00Z"));
    until_issues(&store, 1).await;
    clock.advance_to(ts("2025-01-03T00:00:00Z"));
    until_issues(&store, 2).await;
    stop.send(true).unwrap();
    // Stopped: a later tick starts nothing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    clock.advance_to(ts("2025-01-04T00:00:00Z"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(issues(&store).await, 2);
}
