//! Vipps MobilePay: an access token from `POST /accesstoken/get` (headers
//! `client_id`, `client_secret`, `Ocp-Apim-Subscription-Key`,
//! `Merchant-Serial-Number`), cached in the runtime's token cache; every call sends
//! the token, the subscription key and the merchant serial number. eCom calls carry
//! `X-Request-Id`, ePayment calls `Idempotency-Key`. Errors: eCom answers a list
//! `[{"errorCode", "errorMessage"}]`, ePayment a problem `{"title", "detail",
//! "extraDetails"}`; the access token call `{"error", "error_description"}`.
//!
//! eCom bodies get the merchant serial number and the payment's callback token
//! from the connection ([`merchant_info`], [`auth_token`]).

pub mod auth_token;
pub mod callback;
pub mod details;
pub mod exactly_once;
pub mod merchant_info;
pub mod poll;
pub mod sim;
pub mod webhook;

use std::time::Duration;

use flowc_catalog::Action;
use serde_json::Value;

use jiff::Timestamp;

use crate::flow::{ConnectionDef, StepError};
use crate::http::{Auth, HttpClient, HttpRequest, Secret, Target};
use crate::retry::{StatusClass, classify};

/// The token endpoint under the connection's base URL.
pub const TOKEN_PATH: &str = "/accesstoken/get";

/// eCom (`/ecomm/…`) takes `X-Request-Id`; ePayment `Idempotency-Key`.
pub fn idempotency_header(action: &Action) -> &'static str {
    if action.api.path.starts_with("/ecomm/") {
        "X-Request-Id"
    } else {
        "Idempotency-Key"
    }
}

/// ePayment's `Idempotency-Key` is at most 50 characters (`epayment.v1.yml`);
/// eCom's spec sets no length for `X-Request-Id`.
pub fn idempotency_key_max(action: &Action) -> Option<usize> {
    (idempotency_header(action) == "Idempotency-Key").then_some(50)
}

/// Adds the token, the fixed headers and what eCom bodies take from the
/// connection ([`merchant_info::complete`]) to a request bound for `base_url`.
pub fn authorize(
    conn: &ConnectionDef,
    base_url: &str,
    mut req: HttpRequest,
) -> Result<HttpRequest, StepError> {
    let msn = super::credential(conn, "merchant_serial_number")?;
    let path = match &req.target {
        Target::Url(u) => u
            .strip_prefix(base_url.trim_end_matches('/'))
            .unwrap_or(u)
            .to_string(),
        Target::Connection { path, .. } => path.clone(),
    };
    if path.starts_with("/ecomm/") {
        let key = super::credential(conn, "client_secret")?;
        merchant_info::complete(req.method, &path, &mut req.body, msn.expose(), &key)
            .map_err(|e| StepError::Fatal(format!("Vipps request: {e}; nothing was sent")))?;
    }
    Ok(req
        .header("Merchant-Serial-Number", msn.expose())
        .header("Vipps-System-Name", "flowc")
        .header("Vipps-System-Version", env!("CARGO_PKG_VERSION"))
        .auth(Auth::VippsToken {
            token_url: format!("{}{TOKEN_PATH}", base_url.trim_end_matches('/')),
            client_id: *super::credential_source(conn, "client_id")?,
            client_secret: *super::credential_source(conn, "client_secret")?,
            subscription_key: *super::credential_source(conn, "subscription_key")?,
            merchant_serial_number: *super::credential_source(conn, "merchant_serial_number")?,
        }))
}

/// A valid access token: the cached one, or a new one when there is none, it
/// expired, or it is `stale` (just refused with 401). `credentials` are the client
/// id, client secret, subscription key and merchant serial number.
pub async fn token(
    http: &HttpClient,
    token_url: &str,
    credentials: [Secret; 4],
    now: Timestamp,
    stale: Option<&Secret>,
) -> Result<Secret, StepError> {
    let cache_key = format!("vipps\u{1f}{token_url}\u{1f}{}", credentials[0].expose());
    let client = http.client().clone();
    let url = token_url.to_string();
    http.tokens
        .cached(&cache_key, now, stale, || {
            fetch_token(client, url, credentials)
        })
        .await
}

async fn fetch_token(
    client: reqwest::Client,
    url: String,
    [client_id, client_secret, sub_key, msn]: [Secret; 4],
) -> Result<(Secret, Duration), StepError> {
    let resp = client
        .post(&url)
        .header("client_id", client_id.expose())
        .header("client_secret", client_secret.expose())
        .header("Ocp-Apim-Subscription-Key", sub_key.expose())
        .header("Merchant-Serial-Number", msn.expose())
        .header("Content-Length", "0")
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| StepError::Retry {
            message: format!("Vipps access token request: {}", e.without_url()),
            retry_after: None,
            policy: None,
        })?;
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    match classify(status) {
        StatusClass::Success => {}
        StatusClass::Retry => {
            return Err(StepError::Retry {
                message: format!("Vipps access token request: HTTP {status}"),
                retry_after: None,
                policy: None,
            });
        }
        StatusClass::Fatal => {
            return Err(StepError::Fatal(format!(
                "Vipps access token request refused: HTTP {status}: {}",
                error_message(&body)
            )));
        }
    }
    let v: Value = serde_json::from_str(&body)
        .map_err(|_| StepError::Fatal("Vipps access token response is not JSON".into()))?;
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            StepError::Fatal("Vipps access token response has no access_token".into())
        })?;
    // Vipps writes `expires_in` as a string of seconds ("86398").
    let secs = match v.get("expires_in") {
        Some(Value::String(s)) => s.parse().unwrap_or(3600),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(3600),
        _ => 3600,
    };
    Ok((Secret::new(token), Duration::from_secs(secs)))
}

/// The message of a Vipps error body, in any of its three shapes.
pub fn error_message(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return super::fallback(body);
    };
    if let Some(list) = v.as_array() {
        let msgs: Vec<String> = list
            .iter()
            .filter_map(|e| {
                let m = super::first_string(e, &["/errorMessage"])?;
                Some(match super::first_string(e, &["/errorCode"]) {
                    Some(c) => format!("{m} [{c}]"),
                    None => m.to_string(),
                })
            })
            .collect();
        if !msgs.is_empty() {
            return msgs.join("; ");
        }
    }
    if let Some(d) = super::first_string(&v, &["/detail", "/title", "/error_description"]) {
        let mut out = d.to_string();
        let extra: Vec<String> = v
            .get("extraDetails")
            .or_else(|| v.get("errors"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let reason = super::first_string(e, &["/reason", "/message"])?;
                Some(match super::first_string(e, &["/name", "/field"]) {
                    Some(n) => format!("{n}: {reason}"),
                    None => reason.to_string(),
                })
            })
            .collect();
        if !extra.is_empty() {
            out.push_str(&format!(" ({})", extra.join("; ")));
        }
        return out;
    }
    super::fallback(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_shape_reads() {
        assert_eq!(
            error_message(
                r#"[{"errorGroup":"Payment","errorCode":"41","errorMessage":"Insufficient funds"}]"#
            ),
            "Insufficient funds [41]"
        );
        assert_eq!(
            error_message(
                r#"{"type":"x","title":"Bad Request","detail":"Invalid amount","extraDetails":[{"name":"amount.value","reason":"must be positive"}]}"#
            ),
            "Invalid amount (amount.value: must be positive)"
        );
        assert_eq!(
            error_message(r#"{"error":"unauthorized_client","error_description":"Bad client id"}"#),
            "Bad client id"
        );
    }

    /// Every ePayment action sends a key of at most 50 characters (the
    /// spec's `Idempotency-Key`); eCom's `X-Request-Id` has no such limit.
    #[test]
    fn epayment_keys_are_held_to_fifty_characters() {
        let p = flowc_catalog::provider("vipps").unwrap();
        let long = format!("vipps_epayment:{}:request_payment:0", "0".repeat(36));
        for a in &p.actions {
            let max = crate::providers::Kind::Vipps.idempotency_key_max(a);
            let sent = crate::http::fit_key(&long, max);
            if a.api.path.starts_with("/epayment/") {
                assert_eq!(max, Some(50), "{}", a.name);
                assert!(sent.len() <= 50, "{}: {sent}", a.name);
            } else {
                assert_eq!(max, None, "{}", a.name);
                assert_eq!(sent, long.as_str());
            }
        }
    }
}
