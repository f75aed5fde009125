//! Group commit for the SQLite store: one writer thread runs every job that is
//! waiting in one transaction and commits once; a syncer thread makes each group
//! durable (one `fdatasync` of the WAL) and only then answers the group's callers.
//! The writer does not wait for the disk: it gathers and runs the next group while
//! the previous one is being synced (a two-stage pipeline), so a round costs
//! max(run, sync) rather than run + sync.
//!
//! Durability is the same as SQLite's `synchronous=FULL` in WAL mode (which is
//! NORMAL plus a sync of the WAL at each commit): the connection runs with
//! `synchronous=NORMAL` (SQLite still syncs at checkpoints and WAL restarts), and
//! no caller hears "committed" before the WAL frames of its transaction, and of
//! every transaction before it, are on disk. Reads answered by a later group are
//! answered after that group's sync, so nobody acts on state that is not durable.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use rusqlite::Connection;

use super::StoreError;

pub(super) type Finisher = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
pub(super) type Job = Box<dyn FnOnce(&Connection, &Claims) -> Finisher + Send>;
pub(super) type Claims = Arc<Mutex<HashSet<String>>>;

/// What the store's writer did so far (see `SqliteStore::stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Jobs (commits, claims, reads) run by the writer.
    pub jobs: u64,
    /// Transactions committed (each holds one or more jobs).
    pub transactions: u64,
    /// Syncs of the WAL to disk (each covers one or more transactions that wrote).
    pub fsyncs: u64,
}

impl StoreStats {
    /// The difference from an earlier reading.
    pub fn since(self, earlier: StoreStats) -> StoreStats {
        StoreStats {
            jobs: self.jobs - earlier.jobs,
            transactions: self.transactions - earlier.transactions,
            fsyncs: self.fsyncs - earlier.fsyncs,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    jobs: AtomicU64,
    transactions: AtomicU64,
    fsyncs: AtomicU64,
}

impl Counters {
    pub(super) fn read(&self) -> StoreStats {
        StoreStats {
            jobs: self.jobs.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
        }
    }
}

/// How a committed transaction becomes durable.
#[derive(Debug, Clone)]
pub(super) enum Durability {
    /// SQLite syncs inside COMMIT (`synchronous=FULL`), or nobody asked for a sync
    /// (NORMAL, `:memory:`): answer at once.
    InCommit,
    /// `synchronous=NORMAL` in WAL mode, and the syncer thread syncs this WAL file
    /// after each group, before answering.
    SyncWal(PathBuf),
}

/// One committed transaction waiting for its sync.
struct Group {
    finishers: Vec<Finisher>,
    committed: Result<(), StoreError>,
    wrote: bool,
}

impl Group {
    fn answer(self, synced: &Result<(), StoreError>) {
        let r = self.committed.and_then(|()| synced.clone());
        for f in self.finishers {
            f(r.clone());
        }
    }
}

/// Starts the writer (and, with [`Durability::SyncWal`], the syncer) thread;
/// returns the queue of jobs.
pub(super) fn spawn(
    conn: Connection,
    claims: Claims,
    max_batch: usize,
    durability: Durability,
    counters: Arc<Counters>,
) -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    let synced = match durability {
        Durability::InCommit => None,
        Durability::SyncWal(wal) => {
            // A rendezvous: the writer hands over a group when the syncer is done with
            // the previous one, and meanwhile gathers the next (bigger) group.
            let (gtx, grx) = mpsc::sync_channel::<Group>(0);
            let c = counters.clone();
            std::thread::Builder::new()
                .name("flowc-store-sync".into())
                .spawn(move || syncer(&grx, &wal, &c))?;
            Some(gtx)
        }
    };
    std::thread::Builder::new()
        .name("flowc-store".into())
        .spawn(move || writer(&conn, &rx, &claims, max_batch, synced.as_ref(), &counters))?;
    Ok(tx)
}

/// The writer: takes every job that is waiting, runs them in one transaction,
/// commits once, then answers them all (or has the syncer answer them).
fn writer(
    conn: &Connection,
    rx: &mpsc::Receiver<Job>,
    claims: &Claims,
    max_batch: usize,
    syncer: Option<&mpsc::SyncSender<Group>>,
    counters: &Counters,
) {
    while let Ok(first) = rx.recv() {
        let changes_before = conn.total_changes();
        let began = conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from);
        if let Err(e) = began {
            first(conn, claims)(Err(e));
            continue;
        }
        let mut finishers: Vec<Finisher> = vec![first(conn, claims)];
        while finishers.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => finishers.push(job(conn, claims)),
                Err(_) => break,
            }
        }
        let committed = conn.execute_batch("COMMIT").map_err(StoreError::from);
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        let wrote = committed.is_ok() && conn.total_changes() != changes_before;
        counters
            .jobs
            .fetch_add(finishers.len() as u64, Ordering::Relaxed);
        counters.transactions.fetch_add(1, Ordering::Relaxed);
        let group = Group {
            finishers,
            committed,
            wrote,
        };
        match syncer {
            Some(s) => {
                if let Err(mpsc::SendError(g)) = s.send(group) {
                    g.answer(&Err(StoreError("the store's syncer stopped".into())));
                }
            }
            None => {
                if wrote {
                    counters.fsyncs.fetch_add(1, Ordering::Relaxed);
                }
                group.answer(&Ok(()));
            }
        }
    }
}

/// The syncer: for each group (in commit order), a sync of the WAL when it (or a
/// group before it, already synced) wrote, then the answers.
fn syncer(rx: &mpsc::Receiver<Group>, wal: &Path, counters: &Counters) {
    let mut file: Option<(File, u64)> = None;
    while let Ok(first) = rx.recv() {
        let mut groups = vec![first];
        while let Ok(g) = rx.try_recv() {
            groups.push(g);
        }
        let synced = if groups.iter().any(|g| g.wrote) {
            counters.fsyncs.fetch_add(1, Ordering::Relaxed);
            sync_wal(&mut file, wal)
                .map_err(|e| StoreError(format!("cannot sync {}: {e}", wal.display())))
        } else {
            Ok(())
        };
        if let Err(e) = &synced {
            tracing::error!(error = %e, "store commit not durable");
        }
        for g in groups {
            g.answer(&synced);
        }
    }
}

/// `fdatasync` of the WAL file, (re)opening it when it is new or was replaced;
/// a new file's directory entry is synced too.
fn sync_wal(file: &mut Option<(File, u64)>, wal: &Path) -> std::io::Result<()> {
    let ino = std::fs::metadata(wal)?.ino();
    let f = match file {
        Some((f, i)) if *i == ino => f,
        _ => {
            let f = File::open(wal)?;
            if let Some(dir) = wal.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                File::open(dir)?.sync_all()?;
            }
            &mut file.insert((f, ino)).0
        }
    };
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::super::{NewIssue, SqliteOptions, SqliteStore, Store};
    use jiff::Timestamp;
    use serde_json::json;

    #[tokio::test]
    async fn commits_are_synced_and_grouped_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let store = SqliteStore::open(SqliteOptions::new(&path, "g")).unwrap();
        let before = store.stats();
        // Many concurrent jobs: answered only after a sync, in fewer transactions.
        let jobs: Vec<_> = (0..50)
            .map(|i| {
                store.create_issues(vec![NewIssue {
                    id: format!("i{i}"),
                    step: "s".into(),
                    data: json!({"n": i}),
                    ctx: json!({}),
                    now: Timestamp::now(),
                }])
            })
            .collect();
        for j in jobs {
            j.await.unwrap();
        }
        let s = store.stats().since(before);
        assert_eq!(s.jobs, 50);
        assert!(s.fsyncs >= 1, "{s:?}");
        assert!(s.fsyncs <= s.transactions && s.transactions <= 50, "{s:?}");
        // A read alone needs no sync.
        let f = store.stats().fsyncs;
        assert!(store.load("i7").await.unwrap().is_some());
        assert_eq!(store.stats().fsyncs, f);
        drop(store);
        let again = SqliteStore::open(SqliteOptions::new(&path, "g")).unwrap();
        assert_eq!(
            again.load("i49").await.unwrap().unwrap().data,
            json!({"n": 49})
        );
    }
}
