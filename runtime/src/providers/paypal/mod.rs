//! PayPal: OAuth2 client credentials (`/v1/oauth2/token`, through the runtime's
//! token cache), JSON bodies, `PayPal-Request-Id` on side effects (the invoicing
//! API does not honour it: [`exactly_once`] looks before repeating), errors as
//! `{"name", "message", "details": [{"field", "issue", "description"}]}`;
//! its webhook events ([`events`]: verified by PayPal's verify endpoint, listed
//! for the poll fallback), invoices made and sent exactly once though the
//! invoicing API takes no idempotency key ([`exactly_once`]) and a simulator ([`sim`]).

pub mod events;
pub mod exactly_once;
pub mod sim;

use serde_json::Value;

use crate::flow::{ConnectionDef, StepError};
use crate::http::{Auth, HttpRequest};

/// The token endpoint under the connection's base URL.
pub const TOKEN_PATH: &str = "/v1/oauth2/token";

pub fn authorize(
    conn: &ConnectionDef,
    base_url: &str,
    req: HttpRequest,
) -> Result<HttpRequest, StepError> {
    Ok(req
        // Answer with the whole object (an invoice), not just a link to it.
        .header("Prefer", "return=representation")
        .auth(Auth::OAuth2 {
            token_url: format!("{}{TOKEN_PATH}", base_url.trim_end_matches('/')),
            client_id: *super::credential_source(conn, "client_id")?,
            client_secret: *super::credential_source(conn, "client_secret")?,
            scope: None,
        }))
}

/// PayPal's message with each detail's issue, description and field.
pub fn error_message(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return super::fallback(body);
    };
    let Some(message) = super::first_string(&v, &["/message", "/error_description"]) else {
        return super::fallback(body);
    };
    let details: Vec<String> = v
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| {
            let issue = super::first_string(d, &["/issue"]).unwrap_or("");
            let text = super::first_string(d, &["/description"]).unwrap_or("");
            let mut s = [issue, text]
                .iter()
                .filter(|x| !x.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(": ");
            if let Some(f) = super::first_string(d, &["/field"]) {
                s.push_str(&format!(" (field: {f})"));
            }
            s
        })
        .collect();
    if details.is_empty() {
        message.to_string()
    } else {
        format!("{message}: {}", details.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_follow_the_message() {
        let body = r#"{"name":"VALIDATION_ERROR","message":"Invalid request - see details.","details":[{"field":"/detail/currency_code","issue":"INVALID_CURRENCY","description":"Currency is not supported."}]}"#;
        assert_eq!(
            error_message(body),
            "Invalid request - see details.: INVALID_CURRENCY: Currency is not supported. (field: /detail/currency_code)"
        );
        assert_eq!(error_message(r#"{"message":"Not found"}"#), "Not found");
    }
}
