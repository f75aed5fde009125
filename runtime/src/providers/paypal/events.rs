//! PayPal's webhook events: one event as a webhook or the event list carries it
//! (`{"id": "WH-…", "event_type": "INVOICING.INVOICE.PAID", "create_time": …,
//! "resource": {"invoice": {"id": "INV2-…", …}}}`), the verify call every
//! delivery goes through (`POST /v1/notifications/verify-webhook-signature`),
//! and the event list the poll fallback reads (`GET
//! /v1/notifications/webhooks-events`, by time window, newest first, paged by
//! its `next` link).
//!
//! The runtime never checks a PayPal signature itself: PayPal signs with a
//! certificate named by a URL in the delivery, and fetching and trusting that
//! certificate is what the verify endpoint does for us. Each delivery costs one
//! call; the transmission time is checked first, so a stale replay costs none.

use jiff::Timestamp;
use serde_json::Value;

use crate::http::{HttpRequest, Method};
use crate::providers::EventHead;

/// The verify endpoint under the connection's base URL.
pub const VERIFY_PATH: &str = "/v1/notifications/verify-webhook-signature";
/// The event list under the connection's base URL.
pub const LIST_PATH: &str = "/v1/notifications/webhooks-events";
/// The largest page of the event list.
pub const PAGE_SIZE: usize = 300;
/// How far a delivery's transmission time may be from now (as Stripe's tolerance).
pub const TOLERANCE_SECS: i64 = 300;

/// The headers of a PayPal delivery, in the verify request's field names.
pub const TRANSMISSION_HEADERS: [(&str, &str); 5] = [
    ("paypal-transmission-id", "transmission_id"),
    ("paypal-transmission-time", "transmission_time"),
    ("paypal-transmission-sig", "transmission_sig"),
    ("paypal-cert-url", "cert_url"),
    ("paypal-auth-algo", "auth_algo"),
];

/// What the event layer needs of one event: its id, type and the id of the
/// object it is about (`resource.invoice.id`, else `resource.id`).
pub fn event_head(v: &Value) -> Result<EventHead<'_>, String> {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let id = s("/id").ok_or("an event needs a string `id`")?;
    let ty = s("/event_type").ok_or("an event needs a string `event_type`")?;
    let object_id = s("/resource/invoice/id")
        .or_else(|| s("/resource/id"))
        .ok_or("an event needs `resource.invoice.id` or `resource.id`")?;
    Ok(EventHead {
        id: id.into(),
        ty,
        object_id,
    })
}

/// Why a delivery was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The delivery is not PayPal's (400: nothing changes).
    Refused(String),
    /// The verify call could not be made or answered (503: PayPal sends again).
    Unavailable(String),
}

/// The verify request's body, the delivery's `webhook_event` as received (its
/// bytes, not a re-encoding), or why the delivery is refused before any call:
/// a transmission header missing, a body that is not a JSON object, a
/// transmission time that is not one or is more than the tolerance from `now`.
pub fn verify_body(
    header: &dyn Fn(&str) -> Option<String>,
    webhook_id: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<String, VerifyError> {
    let refused = |m: String| Err(VerifyError::Refused(m));
    let mut fields = serde_json::Map::new();
    for (h, field) in TRANSMISSION_HEADERS {
        match header(h).filter(|v| !v.is_empty() && v.len() <= 2000) {
            Some(v) => {
                fields.insert(field.into(), Value::String(v));
            }
            None => return refused(format!("no {} header", h.to_ascii_uppercase())),
        }
    }
    let time = fields["transmission_time"].as_str().unwrap_or_default();
    let Ok(at) = time.parse::<Timestamp>() else {
        return refused("PAYPAL-TRANSMISSION-TIME is not a date-time".into());
    };
    let age = now.as_second() - at.as_second();
    if age.abs() > TOLERANCE_SECS {
        return refused(format!(
            "the transmission time is {age} s away from now (tolerance {TOLERANCE_SECS} s)"
        ));
    }
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(_) => return refused("the body is not UTF-8".into()),
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(_)) => {}
        Ok(_) => return refused("the body is not a JSON object".into()),
        Err(e) => return refused(format!("the body is not JSON: {e}")),
    }
    fields.insert("webhook_id".into(), Value::String(webhook_id.into()));
    // Every field but the event, then the event's own bytes.
    let head = Value::Object(fields).to_string();
    Ok(format!(
        "{},\"webhook_event\":{}}}",
        &head[..head.len() - 1],
        text.trim()
    ))
}

/// `POST {base}/v1/notifications/verify-webhook-signature` with `body` (from
/// [`verify_body`]); to be authorized like the connection's actions.
pub fn verify_request(base: &str, body: String) -> HttpRequest {
    HttpRequest::new(
        Method::Post,
        format!("{}{VERIFY_PATH}", base.trim_end_matches('/')),
    )
    .json_text(body)
    .idempotency_header(None)
    .side_effect(false)
    .error_message(super::error_message)
}

/// Reads the verify answer: SUCCESS passes, FAILURE refuses the delivery.
pub fn verify_answer(body: &str) -> Result<(), VerifyError> {
    let v: Value = serde_json::from_str(body)
        .map_err(|_| VerifyError::Unavailable("the verify answer is not JSON".into()))?;
    match v.get("verification_status").and_then(Value::as_str) {
        Some("SUCCESS") => Ok(()),
        Some("FAILURE") => Err(VerifyError::Refused(
            "PayPal did not verify the delivery's signature".into(),
        )),
        _ => Err(VerifyError::Unavailable(
            "the verify answer has no verification_status".into(),
        )),
    }
}

/// `GET {base}/v1/notifications/webhooks-events` for the window `start..=end`
/// (one `event_type` when only one is wanted); `page` is the query of a `next`
/// link, which is followed on the connection's own base URL only.
pub fn list_request(
    base: &str,
    start: Timestamp,
    end: Timestamp,
    event_type: Option<&str>,
    page: Option<&[(String, String)]>,
) -> HttpRequest {
    let url = format!("{}{LIST_PATH}", base.trim_end_matches('/'));
    let mut req = HttpRequest::new(Method::Get, url)
        .idempotency_header(None)
        .side_effect(false)
        .error_message(super::error_message);
    match page {
        Some(q) => {
            for (k, v) in q {
                req = req.query(k.clone(), v.clone());
            }
        }
        None => {
            req = req
                .query("page_size", PAGE_SIZE.to_string())
                .query("start_time", start.to_string())
                .query("end_time", end.to_string());
            if let Some(t) = event_type {
                req = req.query("event_type", t);
            }
        }
    }
    req
}

/// A page of the event list: its events and the query of its `next` link.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<Value>,
    pub next: Option<Vec<(String, String)>>,
}

/// Reads a list answer; anything but `{"events": [...]}` is an error.
pub fn parse_page(body: &str) -> Result<EventPage, String> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| format!("the event list is not JSON: {e}"))?;
    let events = v
        .get("events")
        .and_then(Value::as_array)
        .ok_or("the event list has no `events` array")?
        .clone();
    let next = v
        .get("links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|l| l["rel"] == "next")
        .and_then(|l| l["href"].as_str())
        .and_then(|href| href.split_once('?'))
        .map(|(_, q)| {
            q.split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (unescape(k), unescape(v)))
                .collect()
        });
    Ok(EventPage { events, next })
}

/// Percent-decoding of a query part (`+` as a space).
fn unescape(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            (b'+', _, _) => out.push(b' '),
            (c, _, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(time: &str) -> impl Fn(&str) -> Option<String> {
        let time = time.to_string();
        move |h: &str| match h {
            "paypal-transmission-time" => Some(time.clone()),
            "paypal-transmission-id" => Some("t-1".into()),
            "paypal-transmission-sig" => Some("c2ln".into()),
            "paypal-cert-url" => Some("https://api.paypal.com/cert".into()),
            "paypal-auth-algo" => Some("SHA256withRSA".into()),
            _ => None,
        }
    }

    #[test]
    fn the_verify_body_carries_the_event_as_received() {
        let now: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let event = br#"{"id":"WH-1", "event_type":"INVOICING.INVOICE.PAID","resource":{"invoice":{"id":"INV2-1"}}}"#;
        let body = verify_body(&headers("2025-01-01T00:01:00Z"), "WH-HOOK", event, now).unwrap();
        assert!(
            body.ends_with(&format!(
                ",\"webhook_event\":{}}}",
                std::str::from_utf8(event).unwrap()
            )),
            "{body}"
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["webhook_id"], "WH-HOOK");
        assert_eq!(v["transmission_id"], "t-1");
        assert_eq!(v["webhook_event"]["resource"]["invoice"]["id"], "INV2-1");
        let refused = |r: Result<String, VerifyError>| matches!(r, Err(VerifyError::Refused(_)));
        assert!(
            refused(verify_body(
                &headers("2025-01-01T00:06:00Z"),
                "W",
                event,
                now
            )),
            "stale"
        );
        assert!(refused(verify_body(&headers("yesterday"), "W", event, now)));
        assert!(refused(verify_body(
            &headers("2025-01-01T00:00:00Z"),
            "W",
            b"[1]",
            now
        )));
        assert!(refused(verify_body(
            &headers("2025-01-01T00:00:00Z"),
            "W",
            b"{nope",
            now
        )));
        assert!(refused(verify_body(&|_| None, "W", event, now)));
    }

    #[test]
    fn answers_and_pages_are_read_strictly() {
        assert_eq!(
            verify_answer(r#"{"verification_status":"SUCCESS"}"#),
            Ok(())
        );
        assert!(matches!(
            verify_answer(r#"{"verification_status":"FAILURE"}"#),
            Err(VerifyError::Refused(_))
        ));
        assert!(matches!(
            verify_answer("{}"),
            Err(VerifyError::Unavailable(_))
        ));
        let p = parse_page(r#"{"events":[{"id":"WH-1"}],"count":1,"links":[{"rel":"next","href":"http://h/v1/notifications/webhooks-events?start_time=2025-01-01T00%3A00%3A00Z&page=2"}]}"#).unwrap();
        assert_eq!(p.events.len(), 1);
        assert_eq!(
            p.next.unwrap(),
            [
                ("start_time".to_string(), "2025-01-01T00:00:00Z".to_string()),
                ("page".into(), "2".into())
            ]
        );
        assert_eq!(parse_page(r#"{"events":[]}"#).unwrap().next, None);
        assert!(parse_page("{}").is_err());
        let e = json!({"id":"WH-1","event_type":"INVOICING.INVOICE.PAID","resource":{"invoice":{"id":"INV2-9"}}});
        assert_eq!(
            event_head(&e),
            Ok(EventHead {
                id: "WH-1".into(),
                ty: "INVOICING.INVOICE.PAID",
                object_id: "INV2-9"
            })
        );
        assert!(event_head(&json!({"id":"WH-1","event_type":"X","resource":{}})).is_err());
    }
}
