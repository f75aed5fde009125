//! The operator's credential of `run --listen`: a bearer token that every
//! operator route (`POST /issues`, `GET /issues/{id}`, signals, `POST
//! /events/{name}`) requires. Provider webhooks are not operator routes: each
//! provider signs its own (see [`crate::events::webhook`]).
//!
//! The token comes from `FLOWC_OPERATOR_TOKEN`, or from the file
//! `FLOWC_OPERATOR_TOKEN_FILE` names (a mounted secret; one trailing newline is
//! dropped), never both. Only its SHA-256 digest is kept; a presented token is
//! hashed and the digests compared in constant time (`subtle`), so neither the
//! token's bytes nor its length show in the answer's timing.
//!
//! Without a token the operator routes are **refused** on the listener (403,
//! nothing changes), rather than served on a second, loopback-only address: a
//! loopback port is open to every local user and to anything that can be made
//! to send a request from the host (a proxy, a server-side request forgery),
//! and the same work is already at hand without HTTP through the binary's own
//! commands (`start`, `signal`, `status`), which the store file's permissions
//! guard. One rule, one listener: whoever reaches the port needs the token.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The variable that holds the operator token.
pub const TOKEN_ENV: &str = "FLOWC_OPERATOR_TOKEN";
/// The variable that names a file holding the operator token.
pub const TOKEN_FILE_ENV: &str = "FLOWC_OPERATOR_TOKEN_FILE";
/// The shortest token accepted, in bytes (e.g. `openssl rand -hex 32` gives 64).
pub const MIN_TOKEN_LEN: usize = 32;

/// Whether (and by which token) the operator routes are open.
#[derive(Clone, Default)]
pub struct OperatorAuth {
    /// The SHA-256 digest of the token; `None`: the operator routes are refused.
    digest: Option<[u8; 32]>,
}

impl fmt::Debug for OperatorAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorAuth")
            .field("configured", &self.digest.is_some())
            .finish()
    }
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl OperatorAuth {
    /// No token: every operator route is refused.
    pub fn refuse_all() -> OperatorAuth {
        OperatorAuth { digest: None }
    }

    /// Operator routes open to this token (at least [`MIN_TOKEN_LEN`] bytes,
    /// without whitespace).
    pub fn with_token(token: &str) -> Result<OperatorAuth, String> {
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "the operator token is too short ({} bytes; at least {MIN_TOKEN_LEN}, e.g. \
                 `openssl rand -hex 32`)",
                token.len()
            ));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the operator token holds whitespace or control characters".into());
        }
        Ok(OperatorAuth {
            digest: Some(digest(token.as_bytes())),
        })
    }

    /// From the environment: [`TOKEN_ENV`], or the file [`TOKEN_FILE_ENV`]
    /// names; neither: refused routes. Both, an unreadable file or a bad token
    /// are errors (the listener does not start).
    pub fn from_env() -> Result<OperatorAuth, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        OperatorAuth::from_sources(var(TOKEN_ENV), var(TOKEN_FILE_ENV))
    }

    fn from_sources(token: Option<String>, file: Option<String>) -> Result<OperatorAuth, String> {
        match (token, file) {
            (Some(_), Some(_)) => Err(format!(
                "both {TOKEN_ENV} and {TOKEN_FILE_ENV} are set; set one"
            )),
            (Some(t), None) => {
                OperatorAuth::with_token(&t).map_err(|e| format!("{TOKEN_ENV}: {e}"))
            }
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    format!("{TOKEN_FILE_ENV}: cannot read the operator token from {path}: {e}")
                })?;
                let t = text
                    .strip_suffix('\n')
                    .map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
                OperatorAuth::with_token(t).map_err(|e| format!("{TOKEN_FILE_ENV} ({path}): {e}"))
            }
            (None, None) => Ok(OperatorAuth::refuse_all()),
        }
    }

    /// Whether a token is configured (else the operator routes are refused).
    pub fn is_configured(&self) -> bool {
        self.digest.is_some()
    }

    /// Whether the request's `Authorization: Bearer …` carries the token.
    fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(expected) = &self.digest else {
            return Err(Refusal::NotConfigured);
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(Refusal::Missing)?;
        if bool::from(digest(presented.as_bytes()).ct_eq(expected)) {
            Ok(())
        } else {
            Err(Refusal::Wrong)
        }
    }
}

/// Why an operator request was refused; nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotConfigured,
    Missing,
    Wrong,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Refusal::NotConfigured => (
                StatusCode::FORBIDDEN,
                format!(
                    "the operator routes are off: no operator token is configured \
                     (set {TOKEN_ENV} or {TOKEN_FILE_ENV})"
                ),
            ),
            Refusal::Missing => (
                StatusCode::UNAUTHORIZED,
                "an operator route needs `Authorization: Bearer <operator token>`".to_string(),
            ),
            Refusal::Wrong => (
                StatusCode::UNAUTHORIZED,
                "the operator token is not right".to_string(),
            ),
        };
        let mut r = (status, axum::Json(json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"flowc operator\""),
            );
        }
        r
    }
}

/// The middleware in front of every operator route: the token is checked
/// before the body is read, so a refused request changes nothing.
pub async fn require(State(auth): State<OperatorAuth>, req: Request, next: Next) -> Response {
    match auth.check(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(r) => {
            tracing::warn!(
                method = %req.method(),
                path = req.uri().path(),
                refusal = ?r,
                "operator request refused"
            );
            r.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef-op";

    fn bearer(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn only_the_configured_token_passes() {
        let auth = OperatorAuth::with_token(TOKEN).unwrap();
        assert_eq!(auth.check(&bearer(&format!("Bearer {TOKEN}"))), Ok(()));
        assert_eq!(auth.check(&bearer(&format!("bearer {TOKEN}"))), Ok(()));
        assert_eq!(auth.check(&HeaderMap::new()), Err(Refusal::Missing));
        assert_eq!(
            auth.check(&bearer(&format!("Basic {TOKEN}"))),
            Err(Refusal::Missing)
        );
        assert_eq!(
            auth.check(&bearer(&format!("Bearer {TOKEN}x"))),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            auth.check(&bearer(&format!("Bearer {}", &TOKEN[1..]))),
            Err(Refusal::Wrong)
        );
        assert_eq!(auth.check(&bearer("Bearer ")), Err(Refusal::Wrong));
        let off = OperatorAuth::refuse_all();
        assert_eq!(
            off.check(&bearer(&format!("Bearer {TOKEN}"))),
            Err(Refusal::NotConfigured)
        );
    }

    #[test]
    fn the_token_comes_from_one_source_and_is_never_shown() {
        assert!(
            !OperatorAuth::from_sources(None, None)
                .unwrap()
                .is_configured()
        );
        assert!(
            OperatorAuth::from_sources(Some(TOKEN.into()), None)
                .unwrap()
                .is_configured()
        );
        let e = OperatorAuth::from_sources(Some(TOKEN.into()), Some("/x".into())).unwrap_err();
        assert!(e.contains("set one"), "{e}");
        let e = OperatorAuth::from_sources(Some("tiny-secret".into()), None).unwrap_err();
        assert!(e.contains("too short") && !e.contains("tiny-secret"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
        let auth = OperatorAuth::from_sources(None, Some(file.to_str().unwrap().into())).unwrap();
        assert_eq!(auth.check(&bearer(&format!("Bearer {TOKEN}"))), Ok(()));
        let e = OperatorAuth::from_sources(None, Some("/no/such/token".into())).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        assert!(!format!("{auth:?}").contains(TOKEN));
        assert_eq!(format!("{auth:?}"), "OperatorAuth { configured: true }");
    }
}
