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
                if let Err(e) = path::set(&mut body, &segs, c.value.clone()) {
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
