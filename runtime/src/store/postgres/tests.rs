//! PostgreSQL only: replicas, row leases, fencing, named leases, migrations,
//! a server restart. (What every store does is in `store/conformance.rs`.)

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

use super::{MIGRATIONS, PgOptions, PgStore};
use crate::store::conformance::{commit_of, new_issue, pg_store, t, update};
use crate::store::{Commit, CommitOutcome, IssueState, LedgerBegin, Store};
use crate::testing::TestPostgres;

async fn sql(url: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

fn begin(id: &str, proposed: &str) -> LedgerBegin {
    LedgerBegin {
        issue: id.into(),
        step: "pay".into(),
        iteration: 0,
        n: 0,
        proposed_key: proposed.into(),
        now: t(1),
    }
}

/// The commit before a side effect: the issue stays claimed, the key is recorded.
fn effect(id: &str, seq: i64, proposed: &str) -> Commit {
    let mut u = update(id, seq, IssueState::Running, "pay", 1);
    u.release = false;
    Commit {
        issue: Some(u),
        ledger_begin: Some(begin(id, proposed)),
        ..Commit::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_claim_each_due_issue_once() {
    let pg = TestPostgres::shared();
    let url = pg.create_database();
    let replicas: Vec<Arc<PgStore>> = vec![
        Arc::new(pg_store(&url, Duration::from_secs(30)).await),
        Arc::new(pg_store(&url, Duration::from_secs(30)).await),
        Arc::new(pg_store(&url, Duration::from_secs(30)).await),
    ];
    let issues = (0..300)
        .map(|n| new_issue(&format!("i{n:03}"), 0))
        .collect();
    replicas[0].create_issues(issues).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for r in &replicas {
        let r = r.clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let rows = r.claim_due(t(1), 7).await.unwrap();
                if rows.is_empty() {
                    return mine;
                }
                mine.extend(rows.into_iter().map(|r| r.id));
            }
        });
    }
    let mut all = Vec::new();
    let mut per_replica = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let mine = r.unwrap();
        per_replica.push(mine.len());
        all.extend(mine);
    }
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 300, "claimed {per_replica:?}");
    assert_eq!(distinct.len(), 300, "an issue was claimed twice");
    let held: usize = replicas.iter().map(|r| r.leases_held()).sum();
    assert_eq!(held, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_issues_are_resumed_after_its_leases_expire_with_the_same_keys() {
    let pg = TestPostgres::shared();
    let url = pg.create_database();
    let lease = Duration::from_millis(600);
    let b = pg_store(&url, lease).await;
    b.create_issues(vec![new_issue("i", 0)]).await.unwrap();
    {
        let a = pg_store(&url, lease).await;
        let row = a.claim_due(t(1), 10).await.unwrap().pop().unwrap();
        let out = a.commit(effect("i", row.seq, "key-of-a")).await.unwrap();
        assert!(matches!(out, CommitOutcome::Done { key: Some(ref k), .. } if k == "key-of-a"));
        // `a` dies here (no shutdown: its lease stays until it expires).
    }
    assert!(
        b.claim_due(t(1), 10).await.unwrap().is_empty(),
        "the lease of the dead replica still holds"
    );
    let started = Instant::now();
    let row = loop {
        if let Some(row) = b.claim_due(t(1), 10).await.unwrap().pop() {
            break row;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never resumed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(row.step, "pay");
    match b.commit(effect("i", row.seq, "key-of-b")).await.unwrap() {
        CommitOutcome::Done { key, .. } => assert_eq!(key.as_deref(), Some("key-of-a")),
        CommitOutcome::Conflict => panic!("the new owner conflicts"),
    }
    let ledger = b.ledger("i").await.unwrap();
    assert_eq!((ledger.len(), ledger[0].attempts), (1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_lease_was_taken_over_never_writes_over_the_new_owner() {
    let pg = TestPostgres::shared();
    let url = pg.create_database();
    let a = pg_store(&url, Duration::from_secs(30)).await;
    let b = pg_store(&url, Duration::from_secs(30)).await;
    a.create_issues(vec![new_issue("i", 0)]).await.unwrap();
    let row_a = a.claim_due(t(1), 10).await.unwrap().pop().unwrap();
    // While `a` holds the lease, `b` cannot write the issue even with its seq.
    let out = b
        .commit(commit_of(update(
            "i",
            row_a.seq,
            IssueState::Failed,
            "x",
            1,
        )))
        .await
        .unwrap();
    assert_eq!(out, CommitOutcome::Conflict, "fenced by the lease");
    // `a` stalls past its lease (as if its renewals could not reach the server).
    sql(&url)
        .await
        .execute(
            "UPDATE issues SET lease_until = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let row_b = b.claim_due(t(1), 10).await.unwrap().pop().unwrap();
    assert!(row_b.seq > row_a.seq, "a claim moves the seq on");
    // `a` wakes up and tries to go on: every write conflicts.
    assert_eq!(
        a.commit(effect("i", row_a.seq, "key-of-a")).await.unwrap(),
        CommitOutcome::Conflict
    );
    assert_eq!(
        a.commit(commit_of(update(
            "i",
            row_a.seq,
            IssueState::Completed,
            "done",
            2
        )))
        .await
        .unwrap(),
        CommitOutcome::Conflict
    );
    assert!(
        a.ledger("i").await.unwrap().is_empty(),
        "a's key was not recorded"
    );
    // `b` goes on.
    let out = b.commit(effect("i", row_b.seq, "key-of-b")).await.unwrap();
    assert!(matches!(out, CommitOutcome::Done { key: Some(ref k), .. } if k == "key-of-b"));
    let row = b.load("i").await.unwrap().unwrap();
    assert_eq!(row.state, IssueState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_replica_renews_its_leases_and_gives_them_back_when_it_stops() {
    let pg = TestPostgres::shared();
    let url = pg.create_database();
    let a = pg_store(&url, Duration::from_millis(600)).await;
    let b = pg_store(&url, Duration::from_millis(600)).await;
    a.create_issues(vec![new_issue("i", 0), new_issue("j", 0)])
        .await
        .unwrap();
    assert_eq!(a.claim_due(t(1), 10).await.unwrap().len(), 2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        b.claim_due(t(1), 10).await.unwrap().is_empty(),
        "renewed while its steps run"
    );
    assert_eq!(b.next_wake().await.unwrap(), None, "not b's work");
    a.shutdown().await.unwrap();
    assert_eq!(a.leases_held(), 0);
    assert_eq!(b.claim_due(t(1), 10).await.unwrap().len(), 2, "at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_lease_is_held_by_one_replica_at_a_time() {
    let pg = TestPostgres::shared();
    let url = pg.create_database();
    let a = pg_store(&url, Duration::from_secs(30)).await;
    let b = pg_store(&url, Duration::from_secs(30)).await;
    let ttl = Duration::from_millis(500);
    assert!(a.try_lease("feed:stripe", ttl).await.unwrap());
    assert!(!b.try_lease("feed:stripe", ttl).await.unwrap());
    assert!(
        b.try_lease("feed:paypal", ttl).await.unwrap(),
        "another name"
    );
    assert!(a.try_lease("feed:stripe", ttl).await.unwrap(), "renewed");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(b.try_lease("feed:stripe", ttl).await.unwrap(), "expired");
    assert!(!a.try_lease("feed:stripe", ttl).await.unwrap());
    b.shutdown().await.unwrap();
    assert!(a.try_lease("feed:stripe", ttl).await.unwrap(), "given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_migrate_one_at_a_time_and_a_database_belongs_to_one_flow() {
    let pg = TestPostgres::shared();
    let url = pg.create_database();
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        starts.spawn(async move { PgStore::connect(PgOptions::new(&url, "f")).await });
    }
    while let Some(r) = starts.join_next().await {
        r.unwrap().unwrap();
    }
    let versions: i64 = sql(&url)
        .await
        .query_one("SELECT COUNT(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, MIGRATIONS.len() as i64);
    let e = PgStore::connect(PgOptions::new(&url, "other"))
        .await
        .unwrap_err();
    assert!(e.0.contains("belongs to flow `f`, not `other`"), "{e}");
    let e = PgStore::connect(PgOptions::new("postgres://x@/db?host=/nonexistent", "f"))
        .await
        .unwrap_err();
    assert!(e.0.contains("cannot connect"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_works_again_after_the_server_restarts() {
    let pg = TestPostgres::start();
    let url = pg.create_database();
    let store = pg_store(&url, Duration::from_secs(30)).await;
    store.create_issues(vec![new_issue("i", 0)]).await.unwrap();
    pg.restart();
    let started = Instant::now();
    loop {
        match store.load("i").await {
            Ok(row) => {
                assert_eq!(row.unwrap().id, "i");
                break;
            }
            Err(e) => assert!(
                started.elapsed() < Duration::from_secs(10),
                "still failing: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.create_issues(vec![new_issue("j", 0)]).await.unwrap();
    assert_eq!(store.list(None, 10).await.unwrap().len(), 2);
}

#[test]
fn waits_and_a_finish_of_the_entry_begun_keep_the_transaction() {
    use super::one_statement;
    use crate::store::LedgerFinish;
    let finish = |key: &str| LedgerFinish {
        key: key.into(),
        status: "done".into(),
        response: serde_json::json!({}),
    };
    let mut c = effect("i", 1, "k2");
    assert!(one_statement(&c), "a begin");
    c.ledger_finish = vec![finish("k1")];
    assert!(one_statement(&c), "a begin and a finish of another entry");
    c.ledger_finish = vec![finish("k2")];
    assert!(!one_statement(&c), "the same entry twice");
    let mut w = commit_of(update("i", 1, IssueState::Waiting, "w", 1));
    assert!(one_statement(&w), "waiting without a key (a timer)");
    if let Some(u) = &mut w.issue {
        u.wait_key = Some("signal:go".into());
    }
    assert!(!one_statement(&w), "a wait takes its wake lock first");
    assert!(!one_statement(&Commit::default()), "no issue");
}

#[test]
fn options_never_show_the_password() {
    use super::redacted;
    assert_eq!(
        redacted("postgres://flowc:s3cret@db:5432/billing?sslmode=disable"),
        "postgres://flowc:_@db:5432/billing?sslmode=disable"
    );
    assert_eq!(
        redacted("postgresql://flowc@/db?host=/run/pg"),
        "postgresql://flowc@/db?host=/run/pg"
    );
    assert_eq!(redacted("postgres://db/x"), "postgres://db/x");
    let o = PgOptions::new("postgres://u:hunter2@h/d", "f");
    let shown = format!("{o:?}");
    assert!(
        !shown.contains("hunter2") && shown.contains("u:_@h/d"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_adding_to_batches_at_once_fill_one_batch_after_another() {
    let pg = TestPostgres::shared();
    let url = pg.create_database();
    let mut replicas: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..3 {
        replicas.push(Arc::new(pg_store(&url, Duration::from_secs(30)).await));
    }
    crate::store::conformance::concurrent_batch_adds(replicas).await;
}
