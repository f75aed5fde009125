//! Leases on PostgreSQL: the renewal of the issue leases a replica holds, giving
//! them back, and named leases for work one replica does at a time.

use std::sync::Arc;
use std::time::Duration;

use super::{PgStore, lease_secs};
use crate::clock::BoxFuture;
use crate::store::StoreResult;

/// Renews this replica's issue leases every third of the lease time, until
/// every clone of the store is dropped. A renewal skips rows that a commit
/// holds locked at that moment (the next one renews them).
pub(super) fn spawn_renewal(store: &PgStore) {
    let weak = Arc::downgrade(&store.inner);
    let every = (store.inner.lease / 3).max(Duration::from_millis(10));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { return };
            let store = PgStore { inner };
            if let Err(e) = store.renew().await {
                tracing::warn!(error = %e, "renewing issue leases failed");
            }
        }
    });
}

impl PgStore {
    /// Renews the leases this replica holds; counts those that lapsed (past
    /// their expiry when renewed) or were lost (another replica took the issue
    /// over: this one stops renewing it, and its commits there conflict).
    pub(super) async fn renew(&self) -> StoreResult<()> {
        let ids: Vec<String> = self.held().iter().cloned().collect();
        if ids.is_empty() {
            return Ok(());
        }
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "WITH mine AS (SELECT id, lease_until < now() AS late FROM issues \
                 WHERE id = ANY($2) AND lease_owner = $1 FOR UPDATE SKIP LOCKED), \
                 renewed AS (UPDATE issues i SET lease_until = now() + make_interval(secs => $3) \
                 FROM mine WHERE i.id = mine.id RETURNING mine.late) \
                 SELECT (SELECT count(*) FROM renewed WHERE late), \
                 ARRAY(SELECT id FROM issues WHERE id = ANY($2) AND lease_owner <> $1)",
            )
            .await?;
        let row = c
            .query_one(
                &st,
                &[&self.inner.owner, &ids, &lease_secs(self.inner.lease)],
            )
            .await?;
        let late: i64 = row.try_get(0)?;
        let lost: Vec<String> = row.try_get(1)?;
        if late > 0 || !lost.is_empty() {
            tracing::warn!(
                lapsed = late,
                lost = lost.len(),
                "issue leases expired before this replica renewed them"
            );
            let mut held = self.held();
            for id in &lost {
                held.remove(id);
            }
        }
        crate::metrics::Metrics::global().leases_expired(late as u64 + lost.len() as u64);
        Ok(())
    }

    /// Clears this replica's leases on these issues (they are due to anyone again).
    pub(super) async fn give_back(&self, ids: &[String]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "UPDATE issues SET lease_owner = NULL, lease_until = NULL \
                 WHERE id = ANY($2) AND lease_owner = $1",
            )
            .await?;
        c.execute(&st, &[&self.inner.owner, &ids]).await?;
        Ok(())
    }
}

/// Takes or renews the named lease `name` for `ttl` when it is free, expired or
/// already this replica's; true when this replica holds it now.
pub(super) fn try_named(
    store: &PgStore,
    name: &str,
    ttl: Duration,
) -> BoxFuture<'static, StoreResult<bool>> {
    let (this, name) = (store.clone(), name.to_string());
    Box::pin(async move {
        let c = this.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO leases (name, owner, until) VALUES ($1, $2, now() + make_interval(secs => $3)) \
                 ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until \
                 WHERE leases.owner = excluded.owner OR leases.until < now() \
                 RETURNING owner",
            )
            .await?;
        let rows = c
            .query(&st, &[&name, &this.inner.owner, &lease_secs(ttl)])
            .await?;
        Ok(!rows.is_empty())
    })
}

/// Gives back every named lease this replica holds (at shutdown).
pub(super) async fn give_back_named(store: &PgStore) -> StoreResult<()> {
    let c = store.client().await?;
    c.execute("DELETE FROM leases WHERE owner = $1", &[&store.inner.owner])
        .await?;
    Ok(())
}
