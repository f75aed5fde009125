//! [`FeedStore`] on PostgreSQL: the cursor lives in `meta` (`feed_cursor:<feed>`),
//! trigger starts in `trigger_starts`. A batch is one transaction, which takes
//! the wake locks of its events first (in order), so waiting issues are woken
//! as on SQLite whichever replica ingests.

use super::{PgStore, insert_issues, json_text, lock_keys, micros, wake_lock};
use crate::clock::BoxFuture;
use crate::store::{FeedBatch, FeedOutcome, FeedStore, NewIssue, StoreResult};

fn cursor_key(feed: &str) -> String {
    format!("feed_cursor:{feed}")
}

impl FeedStore for PgStore {
    fn feed_cursor(&self, feed: &str) -> BoxFuture<'static, StoreResult<Option<String>>> {
        let rows = self.query(
            "SELECT value FROM meta WHERE key = $1",
            vec![Box::new(cursor_key(feed))],
            |r| r.try_get::<_, String>(0),
        );
        Box::pin(async move { Ok(rows.await?.into_iter().next()) })
    }

    fn ingest_events(&self, b: FeedBatch) -> BoxFuture<'static, StoreResult<FeedOutcome>> {
        let this = self.clone();
        Box::pin(async move {
            let now = micros(b.now);
            let mut out = FeedOutcome::default();
            let mut client = this.client().await?;
            let tx = client.transaction().await?;
            let keys: Vec<String> = b
                .events
                .iter()
                .map(|e| format!("event:{}:{}", e.name, e.key))
                .collect();
            lock_keys(&tx, keys.iter().map(|k| wake_lock("", k)).collect()).await?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO events (event_id, match_key, data, received_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (event_id) DO NOTHING",
                )
                .await?;
            let wake = tx
                .prepare_cached(
                    "UPDATE issues SET wake_at = $1 WHERE state = 'waiting' AND wait_key = $2",
                )
                .await?;
            for (e, mk) in b.events.iter().zip(&keys) {
                let n = tx
                    .execute(&insert, &[&e.event_id, mk, &json_text(&e.data), &now])
                    .await?;
                if n == 0 {
                    out.duplicates += 1;
                    continue;
                }
                out.delivered += 1;
                tx.execute(&wake, &[&now, mk]).await?;
            }
            let mut starts: Vec<(&NewIssue, String)> = Vec::new();
            if !b.starts.is_empty() {
                let claim = tx
                    .prepare_cached(
                        "INSERT INTO trigger_starts (event_id, issue, started_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (event_id) DO NOTHING",
                    )
                    .await?;
                for s in &b.starts {
                    let n = tx
                        .execute(&claim, &[&s.event_id, &s.issue.id, &now])
                        .await?;
                    if n > 0 {
                        starts.push((&s.issue, format!("event {}", s.event_id)));
                        out.started.push(s.issue.id.clone());
                    }
                }
            }
            insert_issues(&tx, &starts).await?;
            if let Some(c) = &b.cursor {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&cursor_key(&b.feed), c],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(out)
        })
    }

    fn waiting_on(&self, prefix: &str) -> BoxFuture<'static, StoreResult<bool>> {
        let rows = self.query(
            "SELECT EXISTS (SELECT 1 FROM issues WHERE wait_key >= $1 AND wait_key < $1 || chr(1114111) \
             AND state = 'waiting')",
            vec![Box::new(prefix.to_string())],
            |r| r.try_get::<_, bool>(0),
        );
        Box::pin(async move { Ok(rows.await?.into_iter().next().unwrap_or(false)) })
    }

    fn waiting_for(&self, prefix: &str) -> BoxFuture<'static, StoreResult<Vec<(String, String)>>> {
        self.query(
            "SELECT id, wait_key FROM issues WHERE wait_key >= $1 AND wait_key < $1 || chr(1114111) \
             AND state = 'waiting' ORDER BY wait_key, id",
            vec![Box::new(prefix.to_string())],
            |r| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, String>(1)?)),
        )
    }
}
