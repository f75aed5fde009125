//! What `run` checks before it works on anything: every credential of every
//! connection can be read (a missing one would fail each issue at its first
//! call; refusing to start names them all at once instead), and on
//! PostgreSQL, that this replica writes batch files into the outbox every
//! other replica writes into.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::flow::ConnectionDef;
use crate::flow::SecretSource;
use crate::http::resolve;
use crate::store::Store;

/// Every credential that cannot be read, as "connection `c`: credential `k`:
/// why" (the source is named, never a value). Empty when all are there.
pub fn missing_credentials(connections: &[ConnectionDef]) -> Vec<String> {
    let mut out = Vec::new();
    for c in connections {
        for (name, src) in c.credentials {
            let problem = match resolve(src) {
                Ok(secret) if secret.expose().is_empty() => Some(match src {
                    SecretSource::Env(v) => format!("environment variable {v} is empty"),
                    SecretSource::File(f) => format!("secret file {f} is empty"),
                }),
                Ok(_) => None,
                Err(e) => Some(e.to_string()),
            };
            if let Some(p) = problem {
                out.push(format!("connection `{}`: credential `{name}`: {p}", c.name));
            }
        }
    }
    out
}

/// The file in an outbox directory that names it (a random id, written by
/// the first replica that writes batch files there).
pub const OUTBOX_ID_FILE: &str = ".flowc-outbox-id";

/// Whether this replica's outbox of each batch connection is the one the
/// store knows (by the id file in it): the replica that closes a batch writes
/// its file, and after a crash between a close and its record another one
/// writes it again unless it finds it there, so replicas writing into
/// different directories could hand the same batch over twice. `outboxes`:
/// (connection, its outbox directory here). One line per connection whose
/// outbox is another; empty when all are shared.
pub async fn unshared_outboxes(store: &dyn Store, outboxes: &[(&str, PathBuf)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for (c, dir) in outboxes {
        let c = *c;
        if seen.contains(&c) {
            continue;
        }
        seen.push(c);
        if let Err(e) = check_outbox(store, c, dir).await {
            out.push(format!("connection `{c}`: {e}"));
        }
    }
    out
}

async fn check_outbox(store: &dyn Store, c: &str, dir: &Path) -> Result<(), String> {
    let path = dir.join(OUTBOX_ID_FILE);
    let env = crate::action::outbox_env(c);
    let other = |mine: &str, known: &str| {
        format!(
            "the outbox {} is not the one the flow's other replicas write batch files into (its \
             {OUTBOX_ID_FILE} says {mine}, the store says {known}); point {env} at that shared \
             directory (if the outbox moved, move its {OUTBOX_ID_FILE} along)",
            dir.display()
        )
    };
    let known = |proposed: String| async move {
        store
            .outbox_id(c, &proposed)
            .await
            .map_err(|e| format!("reading the outbox id: {e}"))
    };
    if let Some(mine) = read_id(&path)? {
        let known = known(mine.clone()).await?;
        return if known == mine {
            Ok(())
        } else {
            Err(other(&mine, &known))
        };
    }
    // No id file: record a new id unless the store has one.
    let fresh = uuid::Uuid::now_v7().to_string();
    let known = known(fresh.clone()).await?;
    if known == fresh {
        let mine = write_id(dir, &path, &fresh)?;
        return if mine == known {
            Ok(())
        } else {
            Err(other(&mine, &known))
        };
    }
    // The store has one: a replica on this directory may be writing it now.
    for _ in 0..20 {
        if let Some(mine) = read_id(&path)? {
            return if mine == known {
                Ok(())
            } else {
                Err(other(&mine, &known))
            };
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(format!(
        "the outbox {} has no {OUTBOX_ID_FILE}, but the flow's replicas write batch files into \
         an outbox whose id is {known}: point {env} at that shared directory, or, if this is it \
         and its id file was lost, write {known} into {}",
        dir.display(),
        path.display()
    ))
}

fn read_id(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Writes `id` as the outbox's id file, whole (a temporary file linked into
/// place), unless one is there already; the id the directory has.
fn write_id(dir: &Path, path: &Path, id: &str) -> Result<String, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the outbox {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".flowc-outbox-id.{id}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(format!("{id}\n").as_bytes())?;
        f.sync_all()
    };
    write().map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(id.to_string()),
        // Another replica on this directory wrote it first.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_id(path)?.ok_or_else(|| format!("{} vanished", path.display()))
        }
        Err(e) => Err(format!("cannot write {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_missing_credential_is_named_with_its_source() {
        // PATH is set wherever tests run: present, so not named.
        static CREDS: [(&str, SecretSource); 3] = [
            (
                "secret_key",
                SecretSource::Env("FLOWC_PREFLIGHT_TEST_MISSING"),
            ),
            ("token", SecretSource::Env("PATH")),
            ("file_key", SecretSource::File("/nonexistent/flowc/secret")),
        ];
        let conn = ConnectionDef {
            name: "stripe",
            provider: "stripe",
            mode: "test",
            base_url: "",
            credentials: &CREDS,
        };
        let missing = missing_credentials(&[conn]);
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(
            missing[0].starts_with("connection `stripe`: credential `secret_key`:")
                && missing[0].contains("FLOWC_PREFLIGHT_TEST_MISSING"),
            "{missing:?}"
        );
        assert!(
            missing[1].contains("`file_key`") && missing[1].contains("/nonexistent/flowc/secret"),
            "{missing:?}"
        );
        assert!(missing_credentials(&[]).is_empty());
    }

    #[tokio::test]
    async fn replicas_writing_into_another_outbox_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqliteStore::open(crate::store::SqliteOptions::new(
            dir.path().join("s.db"),
            "f",
        ))
        .unwrap();
        let (shared, other) = (dir.path().join("shared"), dir.path().join("other"));
        let c = "bk";
        assert!(
            unshared_outboxes(&store, &[(c, shared.clone())])
                .await
                .is_empty()
        );
        let id = std::fs::read_to_string(shared.join(OUTBOX_ID_FILE)).unwrap();
        // A second replica on the same directory: the same id.
        assert!(
            unshared_outboxes(&store, &[(c, shared.clone())])
                .await
                .is_empty()
        );
        assert_eq!(
            std::fs::read_to_string(shared.join(OUTBOX_ID_FILE)).unwrap(),
            id
        );
        // A replica with a directory of its own (named once, however many
        // batch steps write into it).
        let refused = unshared_outboxes(&store, &[(c, other.clone()), (c, other.clone())]).await;
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            !other.join(OUTBOX_ID_FILE).exists(),
            "no id is made up for a directory the store does not know"
        );
        assert!(
            refused[0].starts_with("connection `bk`: the outbox")
                && refused[0].contains(&other.display().to_string())
                && refused[0].contains("FLOWC_BK_OUTBOX")
                && refused[0].contains(&format!("write {} into", id.trim())),
            "{refused:?}"
        );
        // A directory with an id file of its own.
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join(OUTBOX_ID_FILE), "elsewhere\n").unwrap();
        let refused = unshared_outboxes(&store, &[(c, other.clone())]).await;
        assert!(
            refused.len() == 1 && refused[0].contains("says elsewhere"),
            "{refused:?}"
        );
    }
}
