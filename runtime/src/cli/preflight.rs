//! What `run` checks before it works on anything: every credential of every
//! connection can be read (a missing one would fail each issue at its first
//! call; refusing to start names them all at once instead), and on a
//! PostgreSQL store, no batch step spools into a file replicas do not share.

use crate::flow::ConnectionDef;
use crate::flow::SecretSource;
use crate::http::resolve;

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

/// `FLOWC_SHARED_OUTBOX`: set to `1` when every replica on a PostgreSQL
/// store runs on one machine (or a shared file system with working locks)
/// with the same outbox directories, so that their batch spools are one.
pub const SHARED_OUTBOX_ENV: &str = "FLOWC_SHARED_OUTBOX";

/// Why `run` on a PostgreSQL store refuses the flow's batch steps: their open
/// batches live in a SQLite spool beside each connection's outbox, not in the
/// database, so replicas on separate machines would each close batches of
/// their own and an issue resumed elsewhere after a crash could put its
/// record in two files. One line per step; empty on SQLite, without batch
/// steps, or when the operator says the outbox is shared.
pub fn unshared_batches(
    batch_steps: &[(&str, &str)],
    postgres: bool,
    shared_outbox: Option<&str>,
) -> Vec<String> {
    if !postgres || shared_outbox.is_some_and(|v| v.trim() == "1") {
        return Vec::new();
    }
    batch_steps
        .iter()
        .map(|(step, action)| {
            format!(
                "step `{step}` is a batch step ({action}): replicas on PostgreSQL do not share \
                 its batch spool, which is a file beside the outbox; run this flow on SQLite \
                 (one process), or set {SHARED_OUTBOX_ENV}=1 when every replica runs on one \
                 machine with the same outbox directory"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_steps_on_postgresql_are_refused_by_name_unless_the_outbox_is_shared() {
        let steps = [("collect", "buckaroo.direct_debit_batch")];
        let refused = unshared_batches(&steps, true, None);
        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].starts_with("step `collect` is a batch step (buckaroo.direct_debit_batch)"),
            "{refused:?}"
        );
        assert!(refused[0].contains("FLOWC_SHARED_OUTBOX=1"), "{refused:?}");
        assert!(unshared_batches(&steps, true, Some("0")).len() == 1);
        assert!(unshared_batches(&steps, true, Some("1")).is_empty());
        assert!(unshared_batches(&steps, false, None).is_empty(), "SQLite");
        assert!(unshared_batches(&[], true, None).is_empty());
    }

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
}
