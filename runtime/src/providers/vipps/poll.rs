//! What the per-object poll (`crate::events::per_object`) reads of one Vipps
//! payment, since neither eCom nor ePayment lists events:
//!
//! - an eCom order (`ecom.*` waits): `GET /ecomm/v2/payments/{orderId}/details`;
//!   its transaction log, newest first by time ([`super::details`]), is one
//!   `ecom.status_changed` (the identity of its newest entry, as a callback's
//!   companion has) and, for the operations a callback reports, the
//!   callback-shaped `ecom.reserved`/`ecom.sale`/`ecom.cancelled`/
//!   `ecom.rejected` with the callback's identity, so a callback and a poll
//!   finding the same operation count once;
//! - an ePayment payment (`epayments.payment.*` waits):
//!   `GET /epayment/v1/payments/{reference}/events`, every entry an event with
//!   the identity its webhook has.
//!
//! A payment is settled when nothing more can happen to it: cancelled, voided,
//! rejected, aborted, expired, terminated, or refunded down to zero; the poll
//! reads it no more.

use serde_json::{Value, json};

use crate::http::{HttpRequest, Method};

/// Whether `key` can be put in a payment path as it is (eCom order ids and
/// ePayment references are letters, digits and `-`; the poll refuses others
/// rather than encode them).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a wait on event type `ty` is read from ePayment's event log
/// (else from eCom's details).
fn is_epayment(ty: &str) -> bool {
    ty.starts_with("epayments.")
}

/// The read of payment `key` for a wait on `ty`.
pub fn read_request(base: &str, ty: &str, key: &str) -> HttpRequest {
    let base = base.trim_end_matches('/');
    let url = if is_epayment(ty) {
        format!("{base}/epayment/v1/payments/{key}/events")
    } else {
        format!("{base}/ecomm/v2/payments/{key}/details")
    };
    HttpRequest::new(Method::Get, url)
        .idempotency_header(None)
        .side_effect(false)
        .error_message(super::error_message)
}

/// The events one read found (raw, normalized, oldest first) and whether the
/// payment is settled.
pub fn read_answer(ty: &str, key: &str, body: &str) -> Result<(Vec<Value>, bool), String> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| format!("payment `{key}`: not JSON: {e}"))?;
    if is_epayment(ty) {
        epayment_events(key, v)
    } else {
        ecom_events(key, v)
    }
}

fn ecom_events(key: &str, mut details: Value) -> Result<(Vec<Value>, bool), String> {
    if details.get("orderId").and_then(Value::as_str) != Some(key) {
        return Err(format!("payment `{key}`: the details are of another order"));
    }
    super::details::newest_first(&mut details);
    let Some(newest) = details.pointer("/transactionLogHistory/0").cloned() else {
        // Nothing happened yet (not even INITIATE): no event.
        return Ok((Vec::new(), false));
    };
    let op = newest
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let success = newest
        .get("operationSuccess")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let remaining_refund = details
        .pointer("/transactionSummary/remainingAmountToRefund")
        .and_then(Value::as_i64);
    let refunded = details
        .pointer("/transactionSummary/refundedAmount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let settled = match op {
        "CANCEL" | "VOID" => true,
        "RESERVE" | "SALE" if !success => true,
        "REFUND" => success && refunded > 0 && remaining_refund == Some(0),
        _ => false,
    };
    let mut events = Vec::new();
    // The operation as the callback would have reported it.
    let status = match (op, success) {
        ("RESERVE", true) => Some("RESERVED"),
        ("SALE", true) => Some("SALE"),
        ("CANCEL" | "VOID", _) => Some("CANCELLED"),
        ("RESERVE" | "SALE", false) => Some("REJECTED"),
        _ => None,
    };
    if let Some(status) = status
        && newest
            .get("transactionId")
            .and_then(Value::as_str)
            .is_some()
    {
        let mut cb = json!({
            "orderId": key,
            "transactionInfo": {
                "status": status,
                "amount": newest.get("amount"),
                "transactionId": newest.get("transactionId"),
                "timeStamp": newest.get("timeStamp"),
            }
        });
        if super::webhook::normalize(&mut cb).is_ok() {
            events.push(cb);
        }
    }
    super::webhook::normalize(&mut details)?;
    events.push(details);
    Ok((events, settled))
}

fn epayment_events(key: &str, log: Value) -> Result<(Vec<Value>, bool), String> {
    let Value::Array(mut entries) = log else {
        return Err(format!("payment `{key}`: the event log is not a list"));
    };
    let time = |e: &Value| {
        e.get("timestamp")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
    };
    entries.sort_by_key(|e| time(e));
    let mut events = Vec::new();
    let (mut captured, mut refunded, mut closed) = (0i64, 0i64, false);
    for mut e in entries {
        if e.get("reference").and_then(Value::as_str) != Some(key) {
            continue;
        }
        let ok = e.get("success").and_then(Value::as_bool).unwrap_or(false);
        let value = e
            .pointer("/amount/value")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        match e.get("name").and_then(Value::as_str).unwrap_or_default() {
            "CAPTURED" if ok => captured += value,
            "REFUNDED" if ok => refunded += value,
            "ABORTED" | "EXPIRED" | "TERMINATED" | "CANCELLED" if ok => closed = true,
            _ => {}
        }
        if super::webhook::normalize(&mut e).is_ok() {
            events.push(e);
        }
    }
    let settled = closed || (captured > 0 && refunded >= captured);
    Ok((events, settled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(log: &Value, refunded: i64, remaining: i64) -> String {
        json!({"orderId": "ORD-1", "transactionSummary": {
            "capturedAmount": 1000, "refundedAmount": refunded,
            "remainingAmountToCapture": 0, "remainingAmountToRefund": remaining},
            "transactionLogHistory": log})
        .to_string()
    }

    fn entry(op: &str, ok: bool, tx: &str, at: &str) -> Value {
        json!({"operation": op, "operationSuccess": ok, "amount": 1000,
               "transactionId": tx, "timeStamp": at})
    }

    #[test]
    fn ecom_details_are_a_status_change_and_the_callback_they_imply() {
        let body = details(
            &json!([
                entry("INITIATE", true, "1", "2025-01-01T00:00:00Z"),
                entry("RESERVE", true, "2", "2025-01-01T00:01:00Z")
            ]),
            0,
            0,
        );
        let (events, settled) = read_answer("ecom.status_changed", "ORD-1", &body).unwrap();
        assert!(!settled);
        let ids: Vec<&str> = events
            .iter()
            .map(|e| e["flowcEventId"].as_str().unwrap())
            .collect();
        // The callback's identity (order/status/transaction) and the details'.
        assert_eq!(
            ids,
            ["ORD-1/RESERVED/2", "ORD-1/RESERVE/2/2025-01-01T00:01:00Z"]
        );
        // A CAPTURE listed after a later REFUND: the refund is the newest.
        let body = details(
            &json!([
                entry("REFUND", true, "4", "2025-02-01T00:00:00Z"),
                entry("CAPTURE", true, "3", "2025-01-01T00:02:00Z")
            ]),
            400,
            600,
        );
        let (events, settled) = read_answer("ecom.status_changed", "ORD-1", &body).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["transactionLogHistory"][0]["operation"], "REFUND");
        assert!(!settled, "600 øre are still refundable");
        let body = details(
            &json!([entry("REFUND", true, "4", "2025-02-01T00:00:00Z")]),
            1000,
            0,
        );
        assert!(
            read_answer("ecom.status_changed", "ORD-1", &body)
                .unwrap()
                .1
        );
        for (op, ok) in [("CANCEL", true), ("VOID", true), ("RESERVE", false)] {
            let body = details(&json!([entry(op, ok, "9", "2025-01-01T00:00:00Z")]), 0, 0);
            assert!(
                read_answer("ecom.status_changed", "ORD-1", &body)
                    .unwrap()
                    .1,
                "{op}"
            );
        }
        // Another order's details are refused.
        assert!(read_answer("ecom.status_changed", "ORD-2", &body).is_err());
        assert!(read_answer("ecom.status_changed", "ORD-1", "nope").is_err());
    }

    #[test]
    fn an_epayment_log_is_its_events_and_settles_when_refunded_or_closed() {
        let ev = |name: &str, psp: &str, value: i64, at: &str| {
            json!({"reference": "pay-0001", "pspReference": psp, "name": name,
                   "amount": {"currency": "NOK", "value": value},
                   "timestamp": at, "success": true})
        };
        let log = json!([
            ev("REFUNDED", "4", 1000, "2025-01-03T00:00:00Z"),
            ev("CREATED", "1", 1000, "2025-01-01T00:00:00Z"),
            ev("AUTHORIZED", "2", 1000, "2025-01-01T00:01:00Z"),
            ev("CAPTURED", "3", 1000, "2025-01-02T00:00:00Z"),
        ]);
        let ty = "epayments.payment.captured.v1";
        let (events, settled) = read_answer(ty, "pay-0001", &log.to_string()).unwrap();
        let ids: Vec<&str> = events
            .iter()
            .map(|e| e["flowcEventId"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "pay-0001/CREATED/1",
                "pay-0001/AUTHORIZED/2",
                "pay-0001/CAPTURED/3",
                "pay-0001/REFUNDED/4"
            ]
        );
        assert!(settled);
        let open = json!([ev("CAPTURED", "3", 1000, "2025-01-02T00:00:00Z")]);
        assert!(!read_answer(ty, "pay-0001", &open.to_string()).unwrap().1);
        assert!(read_answer(ty, "pay-0001", "{}").is_err());
    }

    #[test]
    fn only_plain_keys_go_into_a_path() {
        assert!(valid_key("ORD-123"));
        for k in ["", "a/b", "a?b", "../x", &"x".repeat(65)] {
            assert!(!valid_key(k), "{k}");
        }
        let req = read_request("http://v/", "ecom.status_changed", "ORD-1");
        assert!(format!("{:?}", req.target).contains("/ecomm/v2/payments/ORD-1/details"));
    }
}
