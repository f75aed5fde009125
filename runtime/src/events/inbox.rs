//! Events that come back as files (Buckaroo's response files): every file in
//! a connection's inbox directory (`FLOWC_<NAME>_INBOX`, default `inbox`) is
//! read, each record becomes an event with the stable id
//! `<connection>:<file>:<line>`, and all of a file's records are stored in one
//! transaction (deduplicated by that id) before the file is moved aside into
//! `processed/`. Killed in between, the file is read again and its records
//! are duplicates: no record is applied twice, none is skipped.
//!
//! A malformed record is reported with its file and line and the others are
//! applied; a record for an invoice no issue waits for is stored (a wait that
//! comes later still finds it) and reported. Files whose name starts with a
//! dot or ends in `.part`/`.tmp` are still being written and are left alone.

use std::path::{Path, PathBuf};

use super::source::{file_events, read_file};
use super::{ConnFeed, EventFeed, PollReport};
use crate::action::inbox_env;
use crate::flow::Flow;
use crate::store::{FeedBatch, FeedEvent};

/// Where processed files go, inside the inbox.
pub const PROCESSED: &str = "processed";

/// The inbox directory of a connection.
pub fn inbox_dir(connection: &str) -> PathBuf {
    PathBuf::from(crate::http::env_var(&inbox_env(connection)).unwrap_or_else(|| "inbox".into()))
}

/// How often a connection's inbox is read while an issue waits for a file:
/// `FLOWC_<NAME>_INBOX_EVERY` (a duration: `30s`, `5m`), else every
/// [`super::INBOX_EVERY`]. A value that is not a duration is logged and
/// the default taken.
pub fn every(connection: &str) -> std::time::Duration {
    let env = format!("{}_EVERY", inbox_env(connection));
    match crate::http::env_var(&env) {
        None => super::INBOX_EVERY,
        Some(v) => match crate::value::parse_duration(&v) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                tracing::warn!(variable = %env, value = %v, "not a duration: the inbox is read every 15m");
                super::INBOX_EVERY
            }
        },
    }
}

/// The files waiting in an inbox, by name.
fn waiting_files(dir: &Path) -> Result<Vec<String>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read the inbox {}: {e}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.ends_with(".part") && !n.ends_with(".tmp"))
        .collect();
    names.sort();
    Ok(names)
}

/// Reads every waiting file of a connection's inbox.
pub(super) async fn read<F: Flow>(
    feed: &EventFeed<F>,
    conn: &ConnFeed,
    report: &mut PollReport,
) -> Result<(), String> {
    let Some(kind) = conn.kind else {
        return Ok(());
    };
    let Some(ty) = file_events(kind)
        .iter()
        .copied()
        .find(|t| conn.waits.contains(t))
    else {
        return Ok(());
    };
    let name = conn.conn.name;
    let dir = inbox_dir(name);
    for file in waiting_files(&dir)? {
        let path = dir.join(&file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let records = read_file(kind, name, &text).map_err(|e| format!("{file}: {e}"))?;
        let mut events = Vec::new();
        for r in records {
            match r {
                Ok((line, key, data)) => events.push(FeedEvent {
                    event_id: format!("{name}:{file}:{line}"),
                    name: ty.to_string(),
                    key,
                    data: serde_json::Value::Object(data),
                }),
                Err((line, e)) => {
                    report.skipped += 1;
                    let p = format!("{name}: {file} line {line}: {e}");
                    tracing::warn!(connection = name, file = %file, line, error = %e, "response record skipped");
                    report.problems.push(p);
                }
            }
        }
        report.listed += events.len();
        let keys: Vec<(String, String)> = events
            .iter()
            .map(|e| (e.key.clone(), e.event_id.clone()))
            .collect();
        let rt = feed.engine.runtime();
        let out = rt
            .store
            .ingest_events(FeedBatch {
                feed: name.to_string(),
                cursor: None,
                events,
                starts: Vec::new(),
                now: rt.clock.now(),
            })
            .await
            .map_err(|e| format!("{file}: {e}"))?;
        report.outcome.delivered += out.delivered;
        report.outcome.duplicates += out.duplicates;
        for (key, id) in keys {
            let waits = rt
                .store
                .waiting_on(&format!("event:{ty}:{key}"))
                .await
                .map_err(|e| e.to_string())?;
            if !waits {
                let p = format!("{name}: {id}: no issue waits for `{key}`");
                tracing::warn!(connection = name, record = %id, key = %key, "response record for nobody");
                report.problems.push(p);
            }
        }
        move_aside(&dir, &file)?;
        tracing::info!(connection = name, file = %file, "response file applied");
    }
    Ok(())
}

/// Moves an applied file into `processed/` (a name taken there gets a suffix).
fn move_aside(dir: &Path, file: &str) -> Result<(), String> {
    let done = dir.join(PROCESSED);
    std::fs::create_dir_all(&done).map_err(|e| format!("cannot create {}: {e}", done.display()))?;
    let mut to = done.join(file);
    let mut n = 1;
    while to.exists() {
        to = done.join(format!("{file}.{n}"));
        n += 1;
    }
    std::fs::rename(dir.join(file), &to)
        .map_err(|e| format!("cannot move {file} to {}: {e}", to.display()))
}
