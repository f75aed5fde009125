//! Stripe: a secret (or restricted) key as a bearer token, checked against the
//! connection's mode; the API version pinned; form-encoded bodies; typed errors
//! ([`errors`]: retried or final by `error.type` and status); a declined card as
//! the result of a failed charge ([`decline`]); list pages followed by
//! `starting_after` ([`pages`]).

pub mod decline;
pub mod errors;
pub mod events;
pub mod pages;
pub mod signature;
pub mod sim;

use flowc_catalog::Action;
use serde_json::{Value, json};

use crate::flow::{ConnectionDef, StepError};
use crate::http::{Auth, HttpRequest, Secret};

/// The API version every request pins (the catalog and the spec are of this version).
pub const API_VERSION: &str = "2023-08-16";

/// Key prefixes allowed per connection mode: a live key never runs on a test
/// connection, nor a test key on a live one.
pub fn check_key(mode: &str, key: &str) -> Result<(), String> {
    let allowed: &[&str] = match mode {
        "live" => &["sk_live_", "rk_live_"],
        _ => &["sk_test_", "rk_test_"],
    };
    if allowed.iter().any(|p| key.starts_with(p)) {
        Ok(())
    } else {
        // Name the prefix it has (never the key), to make the mix-up plain.
        let shown: String = key.chars().take_while(|c| *c != '_').collect();
        let kind = key
            .split('_')
            .nth(1)
            .map(|m| format!("{shown}_{m}_…"))
            .unwrap_or_else(|| "an unknown kind of key".into());
        Err(format!(
            "the Stripe key of a {mode} connection must start with {}; it is {kind}",
            allowed.join(" or ")
        ))
    }
}

pub fn authorize(conn: &ConnectionDef, req: HttpRequest) -> Result<HttpRequest, StepError> {
    let key = super::credential(conn, "secret_key")?;
    check_key(conn.mode, key.expose())
        .map_err(|m| StepError::Fatal(format!("connection `{}`: {m}", conn.name)))?;
    Ok(req
        .header("Stripe-Version", API_VERSION)
        .auth(Auth::Headers(vec![(
            "Authorization".into(),
            Secret::new(format!("Bearer {}", key.expose())),
        )])))
}

/// `expand[]=default_source` where an output reads the default source (a customer's
/// card), which Stripe otherwise returns as a bare id.
pub fn add_expand(action: &Action, body: &mut Value) {
    let wants_source = action.outputs.iter().any(|o| {
        o.api
            .as_deref()
            .is_some_and(|a| a.starts_with("default_source."))
    });
    if wants_source && let Value::Object(o) = body {
        o.insert("expand".into(), json!(["default_source"]));
    }
}

/// Stripe's error message with the parameter it is about (and the decline or
/// error code), API keys cut out.
pub fn error_message(body: &str) -> String {
    errors::StripeError::parse(0, body).to_string()
}

/// Flattens a JSON tree into Stripe's form pairs: `a[b]` for nested keys,
/// `a[0]` for list elements (`expand[]` for the expand list), booleans as
/// `true`/`false`; nulls are left out.
pub fn form_pairs(body: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(o) = body {
        for (k, v) in o {
            flatten(k, v, &mut out);
        }
    }
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push((prefix.to_string(), b.to_string())),
        Value::Number(n) => out.push((prefix.to_string(), n.to_string())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                let key = if prefix == "expand" {
                    "expand[]".to_string()
                } else {
                    format!("{prefix}[{i}]")
                };
                flatten(&key, e, out);
            }
        }
        Value::Object(o) => {
            for (k, e) in o {
                flatten(&format!("{prefix}[{k}]"), e, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_fit_the_mode() {
        assert!(check_key("test", "sk_test_abc").is_ok());
        assert!(check_key("test", "rk_test_abc").is_ok());
        assert!(check_key("live", "sk_live_abc").is_ok());
        let e = check_key("test", "sk_live_secretpart").unwrap_err();
        assert!(e.contains("sk_test_"), "{e}");
        assert!(!e.contains("secretpart"), "the key is never shown: {e}");
        assert!(check_key("live", "sk_test_abc").is_err());
        assert!(check_key("live", "pk_live_abc").is_err());
    }

    #[test]
    fn nested_objects_lists_and_metadata_flatten_to_bracket_keys() {
        let body = json!({
            "amount": 1500,
            "capture": true,
            "expand": ["default_source"],
            "metadata": {"delivery": "D-1", "n": "2"},
            "recurring": {"interval": "month"},
            "items": [{"price": "price_1"}, {"price": "price_2"}],
            "gone": null
        });
        let pairs: Vec<String> = form_pairs(&body)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            pairs,
            [
                "amount=1500",
                "capture=true",
                "expand[]=default_source",
                "items[0][price]=price_1",
                "items[1][price]=price_2",
                "metadata[delivery]=D-1",
                "metadata[n]=2",
                "recurring[interval]=month"
            ]
        );
    }

    #[test]
    fn errors_name_the_parameter() {
        let body = r#"{"error":{"type":"invalid_request_error","message":"Invalid currency: xyz","param":"currency"}}"#;
        assert_eq!(
            error_message(body),
            "Invalid currency: xyz (param: currency)"
        );
        let declined = r#"{"error":{"message":"Your card was declined.","code":"card_declined","decline_code":"insufficient_funds"}}"#;
        assert_eq!(
            error_message(declined),
            "Your card was declined. [insufficient_funds]"
        );
        assert_eq!(error_message("oops"), "oops");
    }
}
