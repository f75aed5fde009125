//! `/v1/events` (list with `type`, `types[]`, `created[…]` filters and both
//! cursors; retrieve) and `/v1/webhook_endpoints` (create, retrieve, list, delete).

use serde_json::{Value, json};

use super::super::error::ApiError;
use super::super::store::{Params, page};
use super::Ctx;

/// `charge.*` style patterns of `type` and `enabled_events`.
pub fn type_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

/// `created=N` or `created[gt|gte|lt|lte]=N`.
fn created_filter(p: &Params) -> Result<Vec<(String, i64)>, ApiError> {
    let bad = |s: &str| ApiError::invalid(format!("Invalid integer: {s}")).param("created");
    match p.0.get("created") {
        None => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![("eq".into(), s.parse().map_err(|_| bad(s))?)]),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let s = v.as_str().unwrap_or_default();
                if !["gt", "gte", "lt", "lte"].contains(&k.as_str()) {
                    return Err(ApiError::invalid(format!(
                        "Received unknown parameter: created[{k}]"
                    ))
                    .code("parameter_unknown")
                    .param(&format!("created[{k}]")));
                }
                Ok((k.clone(), s.parse().map_err(|_| bad(s))?))
            })
            .collect(),
        Some(_) => Err(bad("created")),
    }
}

pub fn list(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&[
        "type",
        "types",
        "created",
        "limit",
        "starting_after",
        "ending_before",
        "delivery_success",
    ])?;
    let one = p.str("type")?;
    let many: Option<Vec<String>> = match p.0.get("types") {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        ),
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(_) => {
            return Err(
                ApiError::invalid("Invalid types: must be a list of strings.").param("types"),
            );
        }
    };
    if one.is_some() && many.is_some() {
        return Err(
            ApiError::invalid("You may pass either `type` or `types`, but not both.")
                .param("types"),
        );
    }
    if many.as_ref().is_some_and(|m| m.len() > 20) {
        return Err(ApiError::invalid("Invalid types: at most 20 types.").param("types"));
    }
    let created = created_filter(&p)?;
    let all = cx.store.all("event");
    let keep = |e: &Value| {
        let t = e["type"].as_str().unwrap_or_default();
        let c = e["created"].as_i64().unwrap_or(0);
        one.as_deref().is_none_or(|x| type_matches(x, t))
            && many
                .as_ref()
                .is_none_or(|m| m.iter().any(|x| type_matches(x, t)))
            && created.iter().all(|(op, n)| match op.as_str() {
                "gt" => c > *n,
                "gte" => c >= *n,
                "lt" => c < *n,
                "lte" => c <= *n,
                _ => c == *n,
            })
    };
    page(&all, keep, &p, "/v1/events")
}

pub fn retrieve(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    cx.store.require("event", id, "id")
}

pub fn create_endpoint(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&[
        "url",
        "enabled_events",
        "description",
        "metadata",
        "api_version",
        "connect",
    ])?;
    let url = p.required_str("url")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ApiError::invalid(format!("Invalid URL: {url}"))
            .code("url_invalid")
            .param("url"));
    }
    let events: Vec<String> = match p.0.get("enabled_events") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => return Err(ApiError::missing("enabled_events")),
    };
    let id = cx.store.new_id("we_");
    let secret = new_secret();
    let endpoint = json!({
        "id": id,
        "object": "webhook_endpoint",
        "api_version": p.str("api_version")?,
        "application": null,
        "created": cx.store.now(),
        "description": p.str("description")?,
        "enabled_events": events,
        "livemode": false,
        "metadata": p.metadata()?.unwrap_or_default(),
        "status": "enabled",
        "url": url,
    });
    cx.store.insert("webhook_endpoint", endpoint.clone());
    cx.store.secrets.insert(id, secret.clone());
    // The secret is shown once, in the answer to the create call.
    let mut out = endpoint;
    out["secret"] = json!(secret);
    Ok(out)
}

/// A `whsec_…` signing secret.
pub fn new_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 24] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("whsec_{hex}")
}

pub fn retrieve_endpoint(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    cx.store.require("webhook_endpoint", id, "webhook_endpoint")
}

pub fn list_endpoints(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&["limit", "starting_after", "ending_before"])?;
    let all: Vec<&Value> = cx
        .store
        .all("webhook_endpoint")
        .into_iter()
        .filter(|e| e["deleted"] != json!(true))
        .collect();
    page(&all, |_| true, &p, "/v1/webhook_endpoints")
}

pub fn delete_endpoint(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    cx.store
        .require("webhook_endpoint", id, "webhook_endpoint")?;
    cx.store.update(id, |e| {
        e["deleted"] = json!(true);
        e["status"] = json!("disabled");
    });
    cx.store.secrets.remove(id);
    Ok(json!({"id": id, "object": "webhook_endpoint", "deleted": true}))
}
