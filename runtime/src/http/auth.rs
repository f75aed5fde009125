//! Credentials and auth: secrets from the environment or a secret file (never in
//! logs or state), basic, bearer, custom headers, and OAuth2 client credentials
//! with a token cache.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

use crate::clock::add;
use crate::flow::{SecretSource, StepError};
use crate::retry::{StatusClass, classify, parse_retry_after};

/// A secret value. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value that must not be shown (a token, a signature, a key).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Values that environment variables take while they are unset, set by
/// `simulate` only (a fixed test key for a Stripe connection, placeholders a
/// scenario gives): a simulation needs no environment, and a variable that is
/// set always wins.
static SIMULATED_ENV: std::sync::LazyLock<std::sync::RwLock<HashMap<String, String>>> =
    std::sync::LazyLock::new(Default::default);

/// In a simulation: environment variable `name` reads as `value` while it is unset.
pub fn set_simulated_env(name: &str, value: &str) {
    SIMULATED_ENV
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), value.to_string());
}

/// In a simulation: a secret file that cannot be read reads as `value` (the
/// file, when there is one, wins).
pub fn set_simulated_file(path: &str, value: &str) {
    set_simulated_env(&format!("file:{path}"), value);
}

fn simulated_file(path: &str) -> Option<String> {
    SIMULATED_ENV
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&format!("file:{path}"))
        .cloned()
}

/// Environment variable `name`, else its simulated value (see [`set_simulated_env`]).
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().or_else(|| {
        SIMULATED_ENV
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    })
}

/// Reads a credential. The error names the source, never the value.
pub fn resolve(src: &SecretSource) -> Result<Secret, StepError> {
    match src {
        SecretSource::Env(name) => env_var(name)
            .map(|v| Secret(v.trim().to_string()))
            .ok_or_else(|| {
                StepError::Fatal(format!(
                    "credential: environment variable {name} is not set"
                ))
            }),
        SecretSource::File(path) => std::fs::read_to_string(path)
            .map(|v| Secret(v.trim().to_string()))
            .or_else(|e| simulated_file(path).map(Secret).ok_or(e))
            .map_err(|e| {
                StepError::Fatal(format!("credential: cannot read secret file {path}: {e}"))
            }),
    }
}

/// How a request authenticates.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    None,
    Basic {
        username: SecretSource,
        password: SecretSource,
    },
    Bearer(SecretSource),
    OAuth2 {
        token_url: String,
        client_id: SecretSource,
        client_secret: SecretSource,
        scope: Option<String>,
    },
    /// A custom header such as `X-Cybozu-API-Token`.
    Header {
        name: String,
        value: SecretSource,
    },
    /// Vipps MobilePay's access token (`POST /accesstoken/get` with the client id,
    /// secret, subscription key and merchant serial number as headers), cached like
    /// OAuth2's and fetched again once after a 401; the subscription key is sent too.
    VippsToken {
        token_url: String,
        client_id: SecretSource,
        client_secret: SecretSource,
        subscription_key: SecretSource,
        merchant_serial_number: SecretSource,
    },
    /// Headers whose values are already resolved (provider actions: a bearer token
    /// from a provider's own token call, a request signature). Never logged.
    Headers(Vec<(String, Secret)>),
}

#[derive(Debug, Clone)]
struct Token {
    access_token: Secret,
    expires_at: Timestamp,
}

/// OAuth2 client-credentials tokens, cached per (token URL, client id, scope) until
/// they expire; one fetch at a time per key.
#[derive(Debug, Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Token>>>>>,
    fetches: std::sync::atomic::AtomicU64,
}

/// A token is renewed this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

impl TokenCache {
    /// How many tokens were fetched (for tests and metrics).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A token from a provider's own token call (not OAuth2's form): the cached
    /// one under `key` while it is valid and is not `stale` (the token the API just
    /// refused with 401), else the result of `fetch` (the token and how long it
    /// lives), cached. One fetch at a time per key.
    pub async fn cached<F, Fut>(
        &self,
        key: &str,
        now: Timestamp,
        stale: Option<&Secret>,
        fetch: F,
    ) -> Result<Secret, StepError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, Duration), StepError>>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(key.to_string()).or_default().clone()
        };
        let mut guard = slot.lock().await;
        if let Some(t) = guard.as_ref()
            && t.expires_at > add(now, EXPIRY_MARGIN)
            && stale != Some(&t.access_token)
        {
            return Ok(t.access_token.clone());
        }
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (token, lives) = fetch().await?;
        *guard = Some(Token {
            access_token: token.clone(),
            expires_at: add(now, lives),
        });
        Ok(token)
    }

    /// A valid token: the cached one, or a new one when there is none, it expired,
    /// or `stale` (the token that the API just refused with 401) is the cached one.
    #[allow(clippy::too_many_arguments)] // the OAuth2 parameters, each distinct
    pub async fn token(
        &self,
        client: &reqwest::Client,
        token_url: &str,
        client_id: &Secret,
        client_secret: &Secret,
        scope: Option<&str>,
        now: Timestamp,
        stale: Option<&Secret>,
    ) -> Result<Secret, StepError> {
        let key = format!(
            "{token_url}\u{1f}{}\u{1f}{}",
            client_id.expose(),
            scope.unwrap_or("")
        );
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(key).or_default().clone()
        };
        let mut guard = slot.lock().await;
        if let Some(t) = guard.as_ref()
            && t.expires_at > add(now, EXPIRY_MARGIN)
            && stale != Some(&t.access_token)
        {
            return Ok(t.access_token.clone());
        }
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let resp = client
            .post(token_url)
            .basic_auth(client_id.expose(), Some(client_secret.expose()))
            .header("Accept", "application/json")
            .form(&form)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| StepError::Retry {
                message: format!(
                    "OAuth2 token request to {}: {}",
                    strip_query(token_url),
                    e.without_url()
                ),
                retry_after: None,
                policy: None,
            })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now));
        let body = resp.text().await.unwrap_or_default();
        match classify(status) {
            StatusClass::Success => {}
            StatusClass::Retry => {
                return Err(StepError::Retry {
                    message: format!("OAuth2 token request: HTTP {status}"),
                    retry_after,
                    policy: None,
                });
            }
            StatusClass::Fatal => {
                return Err(StepError::Fatal(format!(
                    "OAuth2 token request refused: HTTP {status}: {}",
                    super::provider_message(&body)
                )));
            }
        }
        let v: serde_json::Value = serde_json::from_str(&body)
            .map_err(|_| StepError::Fatal("OAuth2 token response is not JSON".into()))?;
        let access = v
            .get("access_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| StepError::Fatal("OAuth2 token response has no access_token".into()))?;
        let expires_in = v.get("expires_in").and_then(|e| e.as_u64()).unwrap_or(3600);
        let token = Token {
            access_token: Secret(access.to_string()),
            expires_at: add(now, Duration::from_secs(expires_in)),
        };
        let out = token.access_token.clone();
        *guard = Some(token);
        Ok(out)
    }
}

/// A URL without its query string (queries may carry tokens; logs must not).
pub fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}
