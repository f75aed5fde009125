//! [`BatchStore`] on PostgreSQL (tables of migration 3), shared by replicas.
//! A call is one transaction that holds the row lock of its batch from the
//! moment it reads it: adds to one batch queue up behind each other, so
//! record numbers follow each other and the count that closes a batch is
//! exact; a batch closed meanwhile by another replica is seen closed. The
//! partial unique index `batches_open` keeps one open batch per action and
//! connection, whichever replicas open one at the same moment.

use super::{PgStore, json_text, micros, parse_json, ts};
use crate::clock::BoxFuture;
use crate::store::batch::outbox_key;
use crate::store::{BatchAdd, BatchAdded, BatchState, BatchStore, StoreError, StoreResult};

/// How often an add looks again for the open batch when other replicas keep
/// closing it between its insert and its lock (each round is one statement
/// pair; more than a few means something is wrong).
const OPEN_ROUNDS: usize = 8;

async fn add(tx: &deadpool_postgres::Transaction<'_>, a: &BatchAdd) -> StoreResult<BatchAdded> {
    let existing = tx
        .query_opt(
            "SELECT batch, n FROM batch_records WHERE key = $1",
            &[&a.key],
        )
        .await?;
    let (batch, n) = match existing {
        Some(r) => {
            let batch: i64 = r.get(0);
            // Lock it as an add does: its closing is decided below.
            tx.execute("SELECT 1 FROM batches WHERE id = $1 FOR UPDATE", &[&batch])
                .await?;
            (batch, r.get::<_, i64>(1))
        }
        None => {
            let (batch, records) = open_batch(tx, a).await?;
            let n = records + 1;
            tx.execute(
                "INSERT INTO batch_records (key, batch, n, issue, record) VALUES ($1, $2, $3, $4, $5)",
                &[&a.key, &batch, &n, &a.issue, &json_text(&a.record)],
            )
            .await?;
            tx.execute(
                "UPDATE batches SET records = $1 WHERE id = $2",
                &[&n, &batch],
            )
            .await?;
            (batch, n)
        }
    };
    let row = tx
        .query_one(
            "SELECT number, opened_at, close_at, records, closed_at, file FROM batches WHERE id = $1",
            &[&batch],
        )
        .await?;
    let (number, opened_at, close_at, records): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let (closed_at, file): (Option<i64>, Option<String>) = (row.get(4), row.get(5));
    let now = micros(a.now);
    let closed_at = match closed_at {
        Some(at) => Some(at),
        None if u64::try_from(records).unwrap_or(0) >= a.max || now >= close_at => {
            tx.execute(
                "UPDATE batches SET closed_at = $1 WHERE id = $2",
                &[&now, &batch],
            )
            .await?;
            Some(now)
        }
        None => None,
    };
    let state = match (closed_at, file) {
        (_, Some(file)) => BatchState::Written { file },
        (Some(at), None) => {
            let rows = tx
                .query(
                    "SELECT issue, record FROM batch_records WHERE batch = $1 ORDER BY n",
                    &[&batch],
                )
                .await?;
            BatchState::Closed {
                closed_at: ts(at),
                records: rows
                    .iter()
                    .map(|r| (r.get::<_, String>(0), parse_json(r.get(1))))
                    .collect(),
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

/// The open batch of the add's action and connection, locked, with its
/// record count: the one there is, or a new one.
async fn open_batch(
    tx: &deadpool_postgres::Transaction<'_>,
    a: &BatchAdd,
) -> StoreResult<(i64, i64)> {
    for _ in 0..OPEN_ROUNDS {
        // Numbered after the connection's last batch. Whichever conflict
        // this meets (a batch opened meanwhile, or its number taken by one
        // opened and closed meanwhile), the select below tells.
        tx.execute(
            "INSERT INTO batches (provider, action, connection, number, opened_at, close_at) \
             SELECT $1, $2, $3, COALESCE(MAX(number), 0) + 1, $4, $5 FROM batches \
             WHERE provider = $1 AND action = $2 AND connection = $3 \
             ON CONFLICT DO NOTHING",
            &[
                &a.provider,
                &a.action,
                &a.connection,
                &micros(a.now),
                &micros(a.close_at),
            ],
        )
        .await?;
        // Under READ COMMITTED, a row another transaction closed while this
        // one waited for its lock is checked again and left out: look again.
        if let Some(r) = tx
            .query_opt(
                "SELECT id, records FROM batches WHERE provider = $1 AND action = $2 \
                 AND connection = $3 AND closed_at IS NULL FOR UPDATE",
                &[&a.provider, &a.action, &a.connection],
            )
            .await?
        {
            return Ok((r.get(0), r.get(1)));
        }
    }
    Err(StoreError(format!(
        "batch spool: no open batch of {}.{} on `{}` after {OPEN_ROUNDS} tries (replicas keep closing it)",
        a.provider, a.action, a.connection
    )))
}

impl BatchStore for PgStore {
    fn batch_add(&self, a: BatchAdd) -> BoxFuture<'static, StoreResult<BatchAdded>> {
        let this = self.clone();
        Box::pin(async move {
            let mut client = this.client().await?;
            let tx = client.transaction().await?;
            let added = add(&tx, &a).await?;
            tx.commit().await?;
            Ok(added)
        })
    }

    fn batch_written(&self, batch: i64, file: &str) -> BoxFuture<'static, StoreResult<()>> {
        let this = self.clone();
        let file = file.to_string();
        Box::pin(async move {
            let c = this.client().await?;
            c.execute(
                "UPDATE batches SET file = $1 WHERE id = $2 AND closed_at IS NOT NULL AND file IS NULL",
                &[&file, &batch],
            )
            .await?;
            Ok(())
        })
    }

    fn outbox_id(
        &self,
        connection: &str,
        proposed: &str,
    ) -> BoxFuture<'static, StoreResult<String>> {
        let this = self.clone();
        let (key, proposed) = (outbox_key(connection), proposed.to_string());
        Box::pin(async move {
            let c = this.client().await?;
            c.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &proposed],
            )
            .await?;
            Ok(
                c.query_one("SELECT value FROM meta WHERE key = $1", &[&key])
                    .await?
                    .get(0),
            )
        })
    }
}
