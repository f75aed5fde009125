//! [`BatchStore`] on SQLite (tables of migration 3). Each call is one job of
//! the writer, so one transaction, and the writer runs one job at a time:
//! nothing races between reading the open batch and adding to it. Adds from
//! concurrent steps are grouped into one commit (one fsync) like any job.

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, json_text, micros, parse_json, ts};
use crate::clock::BoxFuture;
use crate::store::batch::outbox_key;
use crate::store::{BatchAdd, BatchAdded, BatchState, BatchStore, StoreResult};

fn add(conn: &Connection, a: &BatchAdd) -> StoreResult<BatchAdded> {
    let existing: Option<(i64, i64)> = conn
        .prepare_cached("SELECT batch, n FROM batch_records WHERE key = ?1")?
        .query_row([&a.key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (batch, n) = match existing {
        Some(found) => found,
        None => {
            let open: Option<(i64, i64)> = conn
                .prepare_cached(
                    "SELECT id, records FROM batches WHERE provider = ?1 AND action = ?2 \
                     AND connection = ?3 AND closed_at IS NULL",
                )?
                .query_row(params![a.provider, a.action, a.connection], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let (batch, records) = match open {
                Some(o) => o,
                None => {
                    conn.prepare_cached(
                        "INSERT INTO batches (provider, action, connection, number, opened_at, close_at) \
                         SELECT ?1, ?2, ?3, COALESCE(MAX(number), 0) + 1, ?4, ?5 FROM batches \
                         WHERE provider = ?1 AND action = ?2 AND connection = ?3",
                    )?
                    .execute(params![
                        a.provider,
                        a.action,
                        a.connection,
                        micros(a.now),
                        micros(a.close_at)
                    ])?;
                    (conn.last_insert_rowid(), 0)
                }
            };
            let n = records + 1;
            conn.prepare_cached(
                "INSERT INTO batch_records (key, batch, n, issue, record) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![a.key, batch, n, a.issue, json_text(&a.record)])?;
            conn.prepare_cached("UPDATE batches SET records = ?1 WHERE id = ?2")?
                .execute(params![n, batch])?;
            (batch, n)
        }
    };
    let (number, opened_at, close_at, records, closed_at, file): (
        i64,
        i64,
        i64,
        i64,
        Option<i64>,
        Option<String>,
    ) = conn
        .prepare_cached(
            "SELECT number, opened_at, close_at, records, closed_at, file FROM batches WHERE id = ?1",
        )?
        .query_row([batch], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })?;
    let closed_at = match closed_at {
        Some(at) => Some(at),
        None if records as u64 >= a.max || micros(a.now) >= close_at => {
            conn.prepare_cached("UPDATE batches SET closed_at = ?1 WHERE id = ?2")?
                .execute(params![micros(a.now), batch])?;
            Some(micros(a.now))
        }
        None => None,
    };
    let state = match (closed_at, file) {
        (_, Some(file)) => BatchState::Written { file },
        (Some(at), None) => {
            let mut st = conn.prepare_cached(
                "SELECT issue, record FROM batch_records WHERE batch = ?1 ORDER BY n",
            )?;
            let rows = st.query_map([batch], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut records = Vec::new();
            for row in rows {
                let (issue, record) = row?;
                records.push((issue, parse_json(&record)));
            }
            BatchState::Closed {
                closed_at: ts(at),
                records,
            }
        }
        (None, None) => BatchState::Open,
    };
    Ok(BatchAdded {
        batch,
        number,
        record_number: n,
        opened_at: ts(opened_at),
        close_at: ts(close_at),
        state,
    })
}

impl BatchStore for SqliteStore {
    fn batch_add(&self, a: BatchAdd) -> BoxFuture<'static, StoreResult<BatchAdded>> {
        self.call(move |conn, _| add(conn, &a))
    }

    fn batch_written(&self, batch: i64, file: &str) -> BoxFuture<'static, StoreResult<()>> {
        let file = file.to_string();
        self.call(move |conn, _| {
            conn.prepare_cached(
                "UPDATE batches SET file = ?1 WHERE id = ?2 AND closed_at IS NOT NULL AND file IS NULL",
            )?
            .execute(params![file, batch])?;
            Ok(())
        })
    }

    fn outbox_id(
        &self,
        connection: &str,
        proposed: &str,
    ) -> BoxFuture<'static, StoreResult<String>> {
        let (key, proposed) = (outbox_key(connection), proposed.to_string());
        self.call(move |conn, _| {
            conn.prepare_cached("INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)")?
                .execute(params![key, proposed])?;
            Ok(conn
                .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([&key], |r| r.get(0))?)
        })
    }
}
