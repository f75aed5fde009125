//! What `run` checks before it works on anything: every credential of every
//! connection can be read. A missing one would fail each issue at its first
//! call; refusing to start names them all at once instead.

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
}
