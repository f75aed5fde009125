//! The simulator's state: every object by id (as the JSON Stripe would answer),
//! creation order per object kind, events, idempotency answers, the request log.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::cards::Card;
use super::error::ApiError;
use crate::clock::Clock;

/// An answer kept for an idempotency key.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub method: String,
    pub path: String,
    /// The decoded parameters (compared, not the raw bytes: order may differ).
    pub body: Value,
    pub status: u16,
    pub answer: Value,
}

/// One request as the simulator saw it (for tests' "called exactly once" checks).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub status: u16,
    /// Whether the answer was replayed from the idempotency store.
    pub replayed: bool,
}

/// Everything the simulator knows.
#[derive(Debug)]
pub struct Store {
    clock: Arc<dyn Clock>,
    /// Where the simulator listens, for `hosted_invoice_url` and the like.
    pub base_url: String,
    counter: u64,
    objects: HashMap<String, Value>,
    order: HashMap<&'static str, Vec<String>>,
    /// Test cards behind `card_…` sources and payment methods (their decline behaviour).
    pub(super) cards: HashMap<String, Card>,
    /// Webhook endpoint id -> signing secret (never part of an answer but the first).
    pub(super) secrets: HashMap<String, String>,
    /// Events created since the last drain, for webhook delivery.
    pub(super) fresh_events: Vec<Value>,
    pub(super) idempotency: HashMap<String, StoredAnswer>,
    pub(super) log: Vec<LoggedRequest>,
}

impl Store {
    pub fn new(clock: Arc<dyn Clock>, base_url: String) -> Store {
        Store {
            clock,
            base_url,
            counter: 0,
            objects: HashMap::new(),
            order: HashMap::new(),
            cards: HashMap::new(),
            secrets: HashMap::new(),
            fresh_events: Vec::new(),
            idempotency: HashMap::new(),
            log: Vec::new(),
        }
    }

    /// Forgets every object, event, key and logged request (the clock stays).
    pub fn reset(&mut self) {
        *self = Store::new(self.clock.clone(), std::mem::take(&mut self.base_url));
    }

    /// Now in unix seconds, on the simulator's clock.
    pub fn now(&self) -> i64 {
        self.clock.now().as_second()
    }

    /// A fresh id with Stripe's prefix (`cus_`, `ch_`…): deterministic per simulator.
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let mut n = self.counter;
        let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut tail = [b'0'; 10];
        for slot in tail.iter_mut().rev() {
            *slot = alphabet[(n % 62) as usize];
            n /= 62;
        }
        format!("{prefix}Sim{}", String::from_utf8_lossy(&tail))
    }

    /// Adds a new object of `kind` (its `object` field, e.g. `customer`).
    pub fn insert(&mut self, kind: &'static str, object: Value) -> Value {
        let id = object["id"].as_str().unwrap_or_default().to_string();
        self.order.entry(kind).or_default().push(id.clone());
        self.objects.insert(id, object.clone());
        object
    }

    /// An object by id, if it is of `kind`.
    pub fn get(&self, kind: &str, id: &str) -> Option<&Value> {
        self.objects
            .get(id)
            .filter(|o| o["object"].as_str() == Some(kind))
    }

    /// An object by id or Stripe's 404.
    pub fn require(&self, kind: &str, id: &str, param: &str) -> Result<Value, ApiError> {
        self.get(kind, id)
            .cloned()
            .ok_or_else(|| ApiError::no_such(kind, id, param))
    }

    /// Changes an object in place.
    pub fn update(&mut self, id: &str, change: impl FnOnce(&mut Value)) -> Value {
        match self.objects.get_mut(id) {
            Some(o) => {
                change(o);
                o.clone()
            }
            None => Value::Null,
        }
    }

    /// How many objects of `kind` were made.
    pub fn count(&self, kind: &str) -> usize {
        self.order.get(kind).map_or(0, Vec::len)
    }

    /// Every object of `kind`, oldest first.
    pub fn all(&self, kind: &str) -> Vec<&Value> {
        self.order
            .get(kind)
            .into_iter()
            .flatten()
            .filter_map(|id| self.objects.get(id))
            .collect()
    }

    /// Records an event about `object` (a snapshot of it) for listing and delivery.
    pub fn emit(&mut self, event_type: &str, object: &Value, idempotency_key: Option<&str>) {
        let id = self.new_id("evt_");
        let event = json!({
            "id": id,
            "object": "event",
            "api_version": super::super::API_VERSION,
            "created": self.now(),
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": 0,
            "request": { "id": null, "idempotency_key": idempotency_key },
            "type": event_type,
        });
        self.insert("event", event.clone());
        self.fresh_events.push(event);
    }
}

/// Parameters of a request, decoded from the form body or query string.
#[derive(Debug, Clone, Default)]
pub struct Params(pub serde_json::Map<String, Value>);

impl Params {
    pub fn new(v: Value) -> Params {
        match v {
            Value::Object(m) => Params(m),
            _ => Params::default(),
        }
    }

    /// A string parameter (present and a plain value).
    pub fn str(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::bad_param(
                name,
                format!("Invalid string: {name} must be a string, not an object or a list."),
            )),
        }
    }

    pub fn required_str(&self, name: &str) -> Result<String, ApiError> {
        match self.str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::missing(name)),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.str(name)? {
            None => Ok(None),
            Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
                ApiError::invalid(format!("Invalid integer: {s}"))
                    .code("parameter_invalid_integer")
                    .param(name)
            }),
        }
    }

    pub fn required_int(&self, name: &str) -> Result<i64, ApiError> {
        self.int(name)?.ok_or_else(|| ApiError::missing(name))
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.str(name)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(s) => Err(ApiError::invalid(format!("Invalid boolean: {s}"))
                .code("parameter_invalid_boolean")
                .param(name)),
        }
    }

    /// An amount: a non-negative integer.
    pub fn amount(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.int(name)? {
            Some(a) if a < 0 => Err(ApiError::invalid(format!(
                "Invalid {name}: it must be a positive integer."
            ))
            .code("parameter_invalid_integer")
            .param(name)),
            other => Ok(other),
        }
    }

    /// A currency: three lowercase letters (Stripe lowercases what it gets).
    pub fn currency(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.str(name)? {
            None => Ok(None),
            Some(c) if c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()) => {
                Ok(Some(c.to_ascii_lowercase()))
            }
            Some(c) => Err(ApiError::invalid(format!("Invalid currency: {c}"))
                .code("parameter_invalid_string")
                .param(name)),
        }
    }

    /// `metadata[k]=v`: an object of strings (empty value = unset, as with Stripe).
    pub fn metadata(&self) -> Result<Option<serde_json::Map<String, Value>>, ApiError> {
        match self.0.get("metadata") {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(serde_json::Map::new())),
            Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(Some(m.clone())),
            Some(_) => Err(ApiError::invalid(
                "Invalid metadata: it must be a hash of string keys to string values.",
            )
            .param("metadata")),
        }
    }

    /// The `expand[]` list.
    pub fn expand(&self) -> Vec<String> {
        match self.0.get("expand") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    /// Refuses parameters the endpoint does not know (Stripe's `Received unknown parameter`).
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        for k in self.0.keys() {
            if k != "expand" && !known.contains(&k.as_str()) {
                return Err(
                    ApiError::invalid(format!("Received unknown parameter: {k}"))
                        .code("parameter_unknown")
                        .param(k),
                );
            }
        }
        Ok(())
    }
}

/// Applies metadata changes: new keys set, empty values remove.
pub fn merge_metadata(target: &mut Value, changes: serde_json::Map<String, Value>) {
    if !target["metadata"].is_object() {
        target["metadata"] = json!({});
    }
    if changes.is_empty() {
        target["metadata"] = json!({});
        return;
    }
    if let Value::Object(m) = &mut target["metadata"] {
        for (k, v) in changes {
            if v.as_str() == Some("") {
                m.remove(&k);
            } else {
                m.insert(k, v);
            }
        }
    }
}

/// One page of a Stripe list: newest first, `limit` 1–100 (default 10),
/// `starting_after` (older than the cursor) or `ending_before` (the page just
/// newer than the cursor, still newest first), `has_more`.
/// `items` are all objects of the kind, oldest first; `keep` is the filter. Cursors
/// are found among all of them (a cursor need not pass the filter). Only the
/// objects on the page are copied: a list over thousands of objects (the
/// customer search of every sign-up) stays a scan of references.
pub fn page(
    items: &[&Value],
    keep: impl Fn(&Value) -> bool,
    params: &Params,
    url: &str,
) -> Result<Value, ApiError> {
    let limit = match params.int("limit")? {
        None => 10,
        Some(l) if (1..=100).contains(&l) => l as usize,
        Some(l) => {
            return Err(ApiError::invalid(format!(
                "Invalid limit: must be an integer between 1 and 100 (got {l})."
            ))
            .code("parameter_invalid_integer")
            .param("limit"));
        }
    };
    // Index (oldest first) of the cursor object.
    let position = |param: &str, id: &str| -> Result<usize, ApiError> {
        items
            .iter()
            .position(|o| o["id"].as_str() == Some(id))
            .ok_or_else(|| ApiError::no_such("object", id, param))
    };
    // The first `limit` objects that pass the filter, in the iterator's order
    // (one more is looked at to learn `has_more`).
    let first = |objects: &mut dyn Iterator<Item = &&Value>| {
        let mut out: Vec<Value> = objects
            .filter(|o| keep(o))
            .take(limit + 1)
            .map(|o| (*o).clone())
            .collect();
        let more = out.len() > limit;
        out.truncate(limit);
        (out, more)
    };
    let (data, has_more) = match (params.str("starting_after")?, params.str("ending_before")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "You may only specify one of these parameters: ending_before, starting_after.",
            ));
        }
        (Some(after), None) => {
            let i = position("starting_after", &after)?;
            first(&mut items[..i].iter().rev())
        }
        (None, Some(before)) => {
            // The `limit` objects just newer than the cursor, given newest first.
            let i = position("ending_before", &before)?;
            let (mut newer, more) = first(&mut items[i + 1..].iter());
            newer.reverse();
            (newer, more)
        }
        (None, None) => first(&mut items.iter().rev()),
    };
    Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": url }))
}
