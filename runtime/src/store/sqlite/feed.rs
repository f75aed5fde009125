//! [`FeedStore`] on SQLite: the cursor lives in `meta` (`feed_cursor:<feed>`),
//! trigger starts in `trigger_starts` (migration 2). Everything of a batch is
//! one job of the writer, so one transaction: a crash never keeps the cursor
//! without its events, nor the events without the cursor.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, json_text, micros};
use crate::clock::BoxFuture;
use crate::store::{FeedBatch, FeedOutcome, FeedStore, StoreResult};

// `+state`: these go by the wait-key index, not the state index. By the state
// index SQLite read every waiting issue for each key: a response file of
// 100,000 records checked against 100,000 waiting issues never finished.
const WAITING_ON: &str = "SELECT EXISTS (SELECT 1 FROM issues WHERE wait_key >= ?1 \
    AND wait_key < ?1 || char(1114111) AND +state = 'waiting')";
const WAITING_FOR: &str = "SELECT id, wait_key FROM issues WHERE wait_key >= ?1 \
    AND wait_key < ?1 || char(1114111) AND +state = 'waiting' ORDER BY wait_key, id";

fn cursor_key(feed: &str) -> String {
    format!("feed_cursor:{feed}")
}

impl FeedStore for SqliteStore {
    fn feed_cursor(&self, feed: &str) -> BoxFuture<'static, StoreResult<Option<String>>> {
        let key = cursor_key(feed);
        self.call(move |conn, _| {
            Ok(conn
                .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([&key], |r| r.get(0))
                .optional()?)
        })
    }

    fn ingest_events(&self, b: FeedBatch) -> BoxFuture<'static, StoreResult<FeedOutcome>> {
        self.call(move |conn, _| {
            let now = micros(b.now);
            let mut out = FeedOutcome::default();
            for e in &b.events {
                let mk = format!("event:{}:{}", e.name, e.key);
                let n = conn
                    .prepare_cached(
                        "INSERT OR IGNORE INTO events (event_id, match_key, data, received_at) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![e.event_id, mk, json_text(&e.data), now])?;
                if n == 0 {
                    out.duplicates += 1;
                    continue;
                }
                out.delivered += 1;
                conn.prepare_cached(
                    "UPDATE issues SET wake_at = ?1 WHERE state = 'waiting' AND wait_key = ?2",
                )?
                .execute(params![now, mk])?;
            }
            for s in &b.starts {
                let n = conn
                    .prepare_cached(
                        "INSERT OR IGNORE INTO trigger_starts (event_id, issue, started_at) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![s.event_id, s.issue.id, now])?;
                if n == 0 {
                    continue;
                }
                let i = &s.issue;
                conn.prepare_cached(
                    "INSERT INTO issues (id, state, step, data, ctx, wake_at, seq, created_at, updated_at) \
                     VALUES (?1, 'running', ?2, ?3, ?4, ?5, 0, ?5, ?5)",
                )?
                .execute(params![i.id, i.step, json_text(&i.data), json_text(&i.ctx), micros(i.now)])?;
                conn.prepare_cached(
                    "INSERT INTO history (issue, at, step, event, detail) VALUES (?1, ?2, ?3, 'start', ?4)",
                )?
                .execute(params![i.id, micros(i.now), i.step, format!("event {}", s.event_id)])?;
                out.started.push(i.id.clone());
            }
            if let Some(c) = &b.cursor {
                conn.prepare_cached(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![cursor_key(&b.feed), c])?;
            }
            Ok(out)
        })
    }

    fn waiting_on(&self, prefix: &str) -> BoxFuture<'static, StoreResult<bool>> {
        let p = prefix.to_string();
        self.call(move |conn, _| {
            Ok(conn
                .prepare_cached(WAITING_ON)?
                .query_row([&p], |r| r.get(0))?)
        })
    }

    fn waiting_for(&self, prefix: &str) -> BoxFuture<'static, StoreResult<Vec<(String, String)>>> {
        let p = prefix.to_string();
        self.call(move |conn, _| {
            let mut st = conn.prepare_cached(WAITING_FOR)?;
            let rows = st.query_map([&p], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{WAITING_FOR, WAITING_ON};
    use crate::store::{SqliteOptions, SqliteStore};

    #[test]
    fn the_wait_key_lookups_go_by_the_wait_key_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SqliteStore::open(SqliteOptions::new(path.to_str().unwrap(), "f")).unwrap());
        let c = rusqlite::Connection::open(&path).unwrap();
        for sql in [WAITING_ON, WAITING_FOR] {
            let plan: Vec<String> = c
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(["event:x:"], |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let plan = plan.join(" / ");
            assert!(
                plan.contains("USING INDEX issues_wait_key"),
                "{sql}: {plan}"
            );
        }
    }
}
