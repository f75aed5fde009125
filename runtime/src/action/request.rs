//! Builds a provider request from the catalog: the method, the path with its
//! parameters, the query, and the body in the provider's encoding.

use flowc_catalog::{Action, Provider};
use serde_json::{Map, Value};

use super::input::{self, Target};
use super::path::{self, Place};
use crate::http::{Body, Method};
use crate::providers::{Encoding, Kind, stripe};

/// A request, built and checked, not yet bound to a base URL or authorized.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub method: Method,
    /// The path with its parameters filled in (percent-encoded).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Body,
}

/// Parses the catalog's method.
pub fn method(action: &Action) -> Result<Method, String> {
    Ok(match action.api.method.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        m => {
            return Err(format!(
                "{} is not an HTTP action (method {m})",
                action.name
            ));
        }
    })
}

/// A scalar as text (path and query parameters, form values).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Percent-encodes a path segment (everything but RFC 3986's unreserved characters).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Validates `inputs` and builds the request. Errors list every problem found.
pub fn build(
    kind: Kind,
    provider: &Provider,
    action: &Action,
    inputs: &Value,
) -> Result<Built, Vec<String>> {
    let method = method(action).map_err(|e| vec![e])?;
    let checked = input::check(kind, provider, action, inputs, Target::Request)?;
    let mut errors = Vec::new();
    let mut path = action.api.path.clone();
    let mut query = Vec::new();
    let mut body = Value::Object(Map::new());
    for c in &checked {
        let api = c.field.api.as_deref().unwrap_or(&c.field.name);
        match path::parse(api) {
            Ok(Place::Path(p)) => {
                path = path.replace(&format!("{{{p}}}"), &encode_segment(&text(&c.value)));
            }
            Ok(Place::Query(q)) => query.push((q, text(&c.value))),
            Ok(Place::Body(segs)) => {
                // A table's rows go where its columns' paths say (`items[].name` -> `items`).
                let segs = match c.field.columns.first().and_then(|col| col.api.as_deref()) {
                    Some(col) => match path::parse_body(col) {
                        Ok(cs) => path::split_each(&cs).map_or(segs, |(pre, _)| pre.to_vec()),
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    },
                    None => segs,
                };
                // Buckaroo's service parameters are name/value pairs of strings.
                let value = if kind == Kind::Buckaroo
                    && segs.iter().any(|s| matches!(s, path::Seg::Match { .. }))
                {
                    Value::String(text(&c.value))
                } else {
                    c.value.clone()
                };
                if let Err(e) = path::set(&mut body, &segs, value) {
                    errors.push(format!("`{}`: {e}", c.field.name));
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if path.contains('{') {
        errors.push(format!("path {path} still has a parameter without a value"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    kind.extra_body(action, &mut body);
    let empty = body.as_object().is_some_and(Map::is_empty);
    let body = match (kind.encoding(), method) {
        // Reads carry their parameters in the query.
        (_, Method::Get | Method::Delete) => {
            if kind.encoding() == Encoding::Form {
                query.extend(stripe::form_pairs(&body));
            }
            Body::None
        }
        (Encoding::Form, _) => Body::Form(stripe::form_pairs(&body)),
        (Encoding::Json, _) if empty => Body::None,
        (Encoding::Json, _) => Body::Json(body),
    };
    Ok(Built {
        method,
        path,
        query,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn built(provider: &str, action: &str, inputs: &Value) -> Built {
        let p = flowc_catalog::provider(provider).unwrap();
        let a = p.action(action).unwrap();
        build(Kind::from_name(provider).unwrap(), p, a, inputs).unwrap()
    }

    #[test]
    fn buckaroo_service_parameters_are_strings() {
        let b = built(
            "buckaroo",
            "pay_per_email",
            &json!({"email": "a@example.com", "last_name": "Jansen", "amount": "12.5",
                   "invoice": "F-1", "expiration_date": "2025-04-01"}),
        );
        let Body::Json(v) = b.body else {
            panic!("JSON")
        };
        assert_eq!(v["AmountDebit"], json!(12.5));
        // Buckaroo needs the service and its action named.
        assert_eq!(v["Services"]["ServiceList"][0]["Name"], "payperemail");
        assert_eq!(
            v["Services"]["ServiceList"][0]["Action"],
            "PaymentInvitation"
        );
        assert_eq!(
            v["Services"]["ServiceList"][0]["Parameters"],
            json!([
                {"Name": "CustomerEmail", "Value": "a@example.com"},
                {"Name": "CustomerLastName", "Value": "Jansen"},
                {"Name": "CustomerGender", "Value": "0"},
                {"Name": "ExpirationDate", "Value": "2025-04-01"},
                {"Name": "MerchantSendsEmail", "Value": "false"}
            ])
        );
    }

    #[test]
    fn path_parameters_are_encoded_and_reads_use_the_query() {
        let b = built(
            "stripe",
            "retrieve_customer",
            &json!({"customer": "cus_a/b c"}),
        );
        assert_eq!(b.method, Method::Get);
        assert_eq!(b.path, "/v1/customers/cus_a%2Fb%20c");
        assert_eq!(
            b.query,
            [("expand[]".to_string(), "default_source".to_string())]
        );
        assert_eq!(b.body, Body::None);
        let b = built("paypal", "get_invoice", &json!({"invoice_id": "INV2-X"}));
        assert_eq!(b.path, "/v2/invoicing/invoices/INV2-X");
        assert_eq!(b.body, Body::None);
    }
}
