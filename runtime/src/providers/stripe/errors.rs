//! Stripe's error object, typed: `{"error": {"type", "code", "decline_code",
//! "message", "param", "charge", "payment_intent"}}`, and what each kind means for
//! a step:
//!
//! | answer                                   | kind            | the step        |
//! |------------------------------------------|-----------------|-----------------|
//! | 402 `card_error`                         | `Card`          | a declined charge, a result (see [`super::decline`]) |
//! | 429 (any type)                           | `RateLimit`     | retried, `Retry-After` honoured |
//! | 409/429 `lock_timeout`                   | `LockTimeout`   | retried         |
//! | 5xx `api_error`                          | `Api`           | retried         |
//! | 400/404 `invalid_request_error`          | `InvalidRequest`| fails, names `param` |
//! | `idempotency_error`                      | `Idempotency`   | fails           |
//! | 401                                      | `Authentication`| fails, with a hint about the key |
//! | 403                                      | `Permission`    | fails, with a hint about restricted keys |
//!
//! Messages never contain an API key: Stripe's own texts may quote a masked key
//! (`Invalid API Key provided: sk_test_****1234`); those words are cut to their prefix.

use std::fmt;

use serde_json::Value;

use crate::http::ErrorClass;
use crate::retry::{StatusClass, classify};

/// Stripe's `error.type`, with the statuses that stand for a kind of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A card was declined (402 `card_error`): Stripe created a failed charge.
    Card,
    /// Too many requests (429).
    RateLimit,
    /// Another request holds the object (`lock_timeout`).
    LockTimeout,
    /// Stripe's own trouble (5xx, `api_error`).
    Api,
    /// The request is wrong (`invalid_request_error`): names the parameter.
    InvalidRequest,
    /// An idempotency key reused with other parameters (`idempotency_error`).
    Idempotency,
    /// The key was refused (401).
    Authentication,
    /// The key may not do this (403; a restricted key without the permission).
    Permission,
    /// Anything else: classified by its status.
    Other,
}

impl ErrorKind {
    /// Whether the same request may succeed later.
    pub fn is_retryable(self, status: u16) -> bool {
        match self {
            ErrorKind::RateLimit | ErrorKind::LockTimeout | ErrorKind::Api => true,
            ErrorKind::Other => classify(status) == StatusClass::Retry,
            _ => false,
        }
    }
}

/// One error answer of Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeError {
    pub status: u16,
    pub kind: ErrorKind,
    /// `error.type` as sent (`card_error`, …), empty when the body has none.
    pub error_type: String,
    pub code: Option<String>,
    pub decline_code: Option<String>,
    pub message: Option<String>,
    pub param: Option<String>,
    /// The failed charge of a card error (`ch_…`).
    pub charge: Option<String>,
    /// The PaymentIntent of a card error, as Stripe returns it (a whole object).
    pub payment_intent: Option<Value>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(redact_keys)
}

/// Cuts API keys out of a text: `sk_test_****1234` -> `sk_test_…`.
pub fn redact_keys(s: &str) -> String {
    const PREFIXES: [&str; 6] = [
        "sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_",
    ];
    s.split(' ')
        .map(|w| match PREFIXES.iter().find(|p| w.contains(*p)) {
            Some(p) => {
                let at = w.find(p).unwrap_or(0);
                format!("{}{p}…", &w[..at])
            }
            None => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl StripeError {
    /// Reads an error answer. A body that is not Stripe's error object still gives
    /// an error of kind `Other` (or the kind its status stands for).
    pub fn parse(status: u16, body: &str) -> StripeError {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let e = v
            .get("error")
            .filter(|e| e.is_object())
            .unwrap_or(&Value::Null);
        let error_type = text(e, "type").unwrap_or_default();
        let code = text(e, "code");
        let kind = if code.as_deref() == Some("lock_timeout") {
            ErrorKind::LockTimeout
        } else {
            match (status, error_type.as_str()) {
                (429, _) => ErrorKind::RateLimit,
                (401, _) => ErrorKind::Authentication,
                (403, _) => ErrorKind::Permission,
                (_, "card_error") => ErrorKind::Card,
                (_, "idempotency_error") => ErrorKind::Idempotency,
                (500..=599, _) | (_, "api_error") => ErrorKind::Api,
                (_, "invalid_request_error") => ErrorKind::InvalidRequest,
                _ => ErrorKind::Other,
            }
        };
        let message = text(e, "message").or_else(|| {
            (!body.trim().is_empty() && e.is_null())
                .then(|| redact_keys(&crate::providers::fallback(body)))
        });
        StripeError {
            status,
            kind,
            error_type,
            code,
            decline_code: text(e, "decline_code"),
            message,
            param: text(e, "param"),
            charge: text(e, "charge"),
            payment_intent: e.get("payment_intent").filter(|p| p.is_object()).cloned(),
        }
    }

    /// What the HTTP layer does with it: retry, fail, or hand the body to the
    /// action as its answer (a card error).
    pub fn class(&self) -> ErrorClass {
        if self.kind == ErrorKind::Card {
            ErrorClass::Answer
        } else if self.kind.is_retryable(self.status) {
            ErrorClass::Retry(self.to_string())
        } else {
            ErrorClass::Fatal(self.to_string())
        }
    }
}

impl fmt::Display for StripeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = self.message.as_deref().unwrap_or("(no message)");
        match self.kind {
            ErrorKind::Authentication => write!(
                f,
                "Stripe refused the API key ({message}); check the connection's \
                 `secret_key` (its env var or file) and that it is a key of this account"
            )?,
            ErrorKind::Permission => write!(
                f,
                "the API key may not do this ({message}); a restricted key (`rk_…`) \
                 needs this permission in the Stripe dashboard"
            )?,
            ErrorKind::Idempotency => write!(
                f,
                "{message} (an idempotency key was reused with other parameters: \
                 the step's inputs changed between attempts)"
            )?,
            ErrorKind::RateLimit => write!(f, "rate limited: {message}")?,
            ErrorKind::LockTimeout => {
                write!(f, "the object is locked by another request: {message}")?
            }
            _ => f.write_str(message)?,
        }
        if let Some(p) = &self.param {
            write!(f, " (param: {p})")?;
        }
        if let Some(c) = self.decline_code.as_ref().or(self.code.as_ref())
            && self.kind != ErrorKind::LockTimeout
        {
            write!(f, " [{c}]")?;
        }
        Ok(())
    }
}

/// The HTTP layer's hook for Stripe's answers (see [`crate::http::ErrorClassifier`]).
pub fn classify_error(status: u16, body: &str) -> ErrorClass {
    StripeError::parse(status, body).class()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(status: u16, body: &str) -> ErrorClass {
        classify_error(status, body)
    }

    #[test]
    fn card_errors_are_answers_with_their_fields() {
        let body = r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","charge":"ch_9"}}"#;
        let e = StripeError::parse(402, body);
        assert_eq!(e.kind, ErrorKind::Card);
        assert_eq!(e.charge.as_deref(), Some("ch_9"));
        assert_eq!(e.decline_code.as_deref(), Some("insufficient_funds"));
        assert_eq!(e.code.as_deref(), Some("card_declined"));
        assert_eq!(class(402, body), ErrorClass::Answer);
    }

    #[test]
    fn rate_limits_locks_and_server_errors_are_retried() {
        let limited = r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}"#;
        assert_eq!(
            class(429, limited),
            ErrorClass::Retry("rate limited: Too many requests [rate_limit]".into())
        );
        let lock = r#"{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"This object cannot be accessed right now"}}"#;
        assert_eq!(StripeError::parse(409, lock).kind, ErrorKind::LockTimeout);
        assert!(matches!(class(409, lock), ErrorClass::Retry(_)));
        let api = r#"{"error":{"type":"api_error","message":"Something went wrong"}}"#;
        assert_eq!(StripeError::parse(500, api).kind, ErrorKind::Api);
        assert!(matches!(class(500, api), ErrorClass::Retry(_)));
        assert!(matches!(
            class(502, "<html>bad gateway</html>"),
            ErrorClass::Retry(_)
        ));
        // A 409 that is not a lock (an idempotent request still in flight is 409 too).
        let busy = r#"{"error":{"type":"idempotency_error","message":"There is currently another in-progress request using this Stripe token"}}"#;
        assert!(matches!(class(409, busy), ErrorClass::Fatal(_)));
    }

    #[test]
    fn final_errors_say_what_is_wrong() {
        let bad = r#"{"error":{"type":"invalid_request_error","message":"Invalid currency: xyz","param":"currency"}}"#;
        assert_eq!(
            class(400, bad),
            ErrorClass::Fatal("Invalid currency: xyz (param: currency)".into())
        );
        let idem = r#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}"#;
        let ErrorClass::Fatal(m) = class(400, idem) else {
            panic!("final")
        };
        assert!(m.contains("inputs changed between attempts"), "{m}");
        let auth = r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****************************abcd"}}"#;
        let ErrorClass::Fatal(m) = class(401, auth) else {
            panic!("final")
        };
        assert!(m.contains("Stripe refused the API key"), "{m}");
        assert!(m.contains("`secret_key`"), "{m}");
        assert!(
            m.contains("sk_test_…") && !m.contains("abcd"),
            "never the key: {m}"
        );
        let ErrorClass::Fatal(m) = class(
            403,
            r#"{"error":{"type":"invalid_request_error","message":"The provided key 'rk_live_*****xyz1' does not have the required permissions"}}"#,
        ) else {
            panic!("final")
        };
        assert!(m.contains("restricted key"), "{m}");
        assert!(!m.contains("xyz1"), "{m}");
        // Not JSON, not Stripe's shape: the status decides, the text is kept.
        assert_eq!(
            class(404, "not found"),
            ErrorClass::Fatal("not found".into())
        );
        assert_eq!(class(400, ""), ErrorClass::Fatal("(no message)".into()));
    }

    #[test]
    fn keys_are_cut_from_any_text() {
        assert_eq!(
            redact_keys("key 'sk_live_abc123' bad"),
            "key 'sk_live_… bad"
        );
        assert_eq!(redact_keys("nothing here"), "nothing here");
    }
}
