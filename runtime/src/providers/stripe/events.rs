//! Stripe's events: the list request the event feed sends (`GET /v1/events`,
//! newest first; `ending_before` walks towards newer events, `starting_after`
//! towards older ones), its page, and one event as a webhook or the list
//! carries it (`{"id": "evt_…", "type": "invoice.paid", "data": {"object": {…}}}`).

use serde_json::Value;

use crate::http::{HttpRequest, Method};
pub use crate::providers::EventHead;

/// Stripe's largest page.
pub const PAGE_LIMIT: usize = 100;

/// Which way a list request pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page<'a> {
    /// The newest events (the first poll, or the first page of a full walk).
    Newest,
    /// The page of events just newer than this id.
    NewerThan(&'a str),
    /// The page of events just older than this id.
    OlderThan(&'a str),
}

/// `GET {base}/v1/events?limit=…&types[]=…` with the page's cursor.
pub fn list_request(base: &str, types: &[&str], page: &Page<'_>, limit: usize) -> HttpRequest {
    let url = format!("{}/v1/events", base.trim_end_matches('/'));
    let mut req = HttpRequest::new(Method::Get, url)
        .query("limit", limit.clamp(1, PAGE_LIMIT).to_string())
        .idempotency_header(None)
        .side_effect(false)
        .error_message(super::error_message);
    for t in types {
        req = req.query("types[]", *t);
    }
    match page {
        Page::Newest => req,
        Page::NewerThan(id) => req.query("ending_before", *id),
        Page::OlderThan(id) => req.query("starting_after", *id),
    }
}

/// A page of `GET /v1/events`: the events as Stripe lists them (newest first).
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<Value>,
    pub has_more: bool,
}

/// Reads a list answer; anything but `{"data": [...], "has_more": bool}` is an error.
pub fn parse_page(body: &str) -> Result<EventPage, String> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| format!("the event list is not JSON: {e}"))?;
    let events = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or("the event list has no `data` array")?
        .clone();
    let has_more = v
        .get("has_more")
        .and_then(Value::as_bool)
        .ok_or("the event list has no `has_more`")?;
    Ok(EventPage { events, has_more })
}

/// The id, type and object id of an event, or why it is not a Stripe event.
pub fn event_head(v: &Value) -> Result<EventHead<'_>, String> {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let id = s("/id").ok_or("an event needs a string `id`")?;
    if v.get("object")
        .and_then(Value::as_str)
        .is_some_and(|o| o != "event")
    {
        return Err(format!("`{id}` is not an event"));
    }
    let ty = s("/type").ok_or("an event needs a string `type`")?;
    let object_id = s("/data/object/id").ok_or("an event needs `data.object.id`")?;
    Ok(EventHead {
        id: id.into(),
        ty,
        object_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_list_request_filters_types_and_pages_by_cursor() {
        let r = list_request(
            "http://127.0.0.1:1/",
            &["charge.succeeded", "refund.created"],
            &Page::NewerThan("evt_9"),
            500,
        );
        let q: Vec<String> = r.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            q,
            [
                "limit=100",
                "types[]=charge.succeeded",
                "types[]=refund.created",
                "ending_before=evt_9"
            ]
        );
        assert_eq!(
            r.url(&Default::default()).unwrap(),
            "http://127.0.0.1:1/v1/events"
        );
        assert!(!r.side_effect);
        assert_eq!(r.idempotency_header, None);
    }

    #[test]
    fn pages_and_events_are_read_strictly() {
        let p = parse_page(r#"{"object":"list","data":[{"id":"evt_1"}],"has_more":true}"#).unwrap();
        assert!(p.has_more);
        assert_eq!(p.events.len(), 1);
        assert!(parse_page("{}").is_err());
        assert!(parse_page("not json").is_err());
        assert!(parse_page(r#"{"data":[],"has_more":"no"}"#).is_err());
        let e = json!({"id":"evt_1","object":"event","type":"charge.succeeded","data":{"object":{"id":"ch_1"}}});
        assert_eq!(
            event_head(&e),
            Ok(EventHead {
                id: "evt_1".into(),
                ty: "charge.succeeded",
                object_id: "ch_1"
            })
        );
        assert!(event_head(&json!({"id":"ch_1","object":"charge"})).is_err());
        assert!(event_head(&json!({"id":"evt_1","type":"x","data":{}})).is_err());
        assert!(event_head(&json!([1, 2])).is_err());
    }
}
