//! eCom v2 callbacks: Vipps posts one per payment to
//! `<callbackPrefix>/v2/payments/{orderId}` (with `run --listen`, a prefix of
//! `https://<host>/webhooks/<connection>`), with the payment's `authToken` in
//! `Authorization` ([`super::auth_token`]). The token is derived again from the
//! body's `orderId` and compared in constant time, and the body's
//! `merchantSerialNumber` must be the connection's; anything else is refused
//! before the body is read further. The callback's `transactionInfo.status`
//! names the catalog event (`RESERVED`/`RESERVE` -> `ecom.reserved`, `SALE` ->
//! `ecom.sale`, `CANCELLED` -> `ecom.cancelled`, `REJECTED` -> `ecom.rejected`);
//! its identity is the order id, status and transaction id.

use serde_json::{Value, json};

use crate::http::Secret;

/// Whether a delivery is an eCom callback rather than a signed ePayment
/// webhook (which always carries `x-ms-date`).
pub fn is_callback(header: &dyn Fn(&str) -> Option<String>) -> bool {
    header("x-ms-date").is_none()
}

/// Checks a callback: its `Authorization` is its order's token and its
/// merchant serial number the connection's.
pub fn verify(
    authorization: Option<&str>,
    body: &[u8],
    msn: &str,
    key: &Secret,
) -> Result<(), String> {
    if authorization.is_none() {
        return Err("no `Authorization` header".into());
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let order_id = v
        .get("orderId")
        .and_then(Value::as_str)
        .ok_or("a callback needs a string `orderId`")?;
    if !super::auth_token::verify(key, msn, order_id, authorization) {
        return Err("the `Authorization` is not this payment's token".into());
    }
    if v.get("merchantSerialNumber").and_then(Value::as_str) != Some(msn) {
        return Err("the callback is for another merchant serial number".into());
    }
    Ok(())
}

/// Whether a body is an eCom callback (`orderId` and `transactionInfo`).
pub fn is_callback_body(v: &Value) -> bool {
    v.get("orderId").is_some() && v.get("transactionInfo").is_some()
}

/// The catalog event of a callback status.
pub fn event_name(status: &str) -> Option<&'static str> {
    Some(match status {
        "RESERVED" | "RESERVE" => "ecom.reserved",
        "SALE" => "ecom.sale",
        "CANCELLED" => "ecom.cancelled",
        "REJECTED" => "ecom.rejected",
        _ => return None,
    })
}

/// The identity of a callback: order id, status and transaction id.
pub fn event_id(v: &Value) -> Result<String, String> {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("a callback needs a string `{}`", &p[1..].replace('/', ".")))
    };
    let order = s("/orderId")?;
    let status = s("/transactionInfo/status")?;
    event_name(status).ok_or_else(|| format!("`{status}` is not a callback status"))?;
    let tx = s("/transactionInfo/transactionId")?;
    Ok(format!("{order}/{status}/{tx}"))
}

/// The `ecom.status_changed` a callback stands for, in the shape of the
/// payment's details (what that event's outputs read): the callback is sent
/// once, when the payer answers, so the operation it reports is the newest and
/// the summary follows from it (`REJECTED` is an unsuccessful `RESERVE`).
pub fn status_changed(callback: &Value) -> Option<Value> {
    let order = callback.get("orderId")?.as_str()?;
    let info = callback.get("transactionInfo")?;
    let amount = info.get("amount").and_then(Value::as_i64).unwrap_or(0);
    let (operation, success, captured, to_capture, to_refund) =
        match info.get("status")?.as_str()? {
            "RESERVED" | "RESERVE" => ("RESERVE", true, 0, amount, 0),
            "SALE" => ("SALE", true, amount, 0, amount),
            "CANCELLED" => ("CANCEL", true, 0, 0, 0),
            "REJECTED" => ("RESERVE", false, 0, 0, 0),
            _ => return None,
        };
    Some(json!({
        "orderId": order,
        "transactionSummary": {
            "capturedAmount": captured, "refundedAmount": 0,
            "remainingAmountToCapture": to_capture, "remainingAmountToRefund": to_refund
        },
        "transactionLogHistory": [{
            "operation": operation, "operationSuccess": success, "amount": amount,
            "timeStamp": info.get("timeStamp"), "transactionId": info.get("transactionId")
        }]
    }))
}

/// Whether a body is a payment's details (`orderId` and `transactionLogHistory`).
pub fn is_details_body(v: &Value) -> bool {
    v.get("orderId").is_some() && v.get("transactionLogHistory").is_some()
}

/// The identity of a status change read from details: the order and its newest
/// log entry's operation, transaction id and time (the log newest first; the
/// time in one spelling, whatever its precision).
pub fn details_event_id(v: &Value) -> Result<String, String> {
    let order = v
        .get("orderId")
        .and_then(Value::as_str)
        .ok_or("details need a string `orderId`")?;
    let newest = v
        .pointer("/transactionLogHistory/0")
        .ok_or("the transaction log is empty")?;
    let s = |k: &str| newest.get(k).and_then(Value::as_str).unwrap_or_default();
    // The time as one spelling: a callback's and the details' may write the
    // same instant differently (`…:01Z`, `…:01.000Z`), and must be one event.
    let at = s("timeStamp");
    let at = at
        .parse::<jiff::Timestamp>()
        .map_or_else(|_| at.to_string(), |t| t.to_string());
    Ok(format!(
        "{order}/{}/{}/{at}",
        s("operation"),
        s("transactionId"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(order: &str, msn: &str) -> Vec<u8> {
        json!({"merchantSerialNumber": msn, "orderId": order,
               "transactionInfo": {"amount": 1000, "status": "RESERVED",
                                   "timeStamp": "2025-01-01T00:00:01Z", "transactionId": "5001234567"}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn only_the_payments_own_token_and_msn_pass() {
        let key = Secret::new("client-secret");
        let token = super::super::auth_token::derive(&key, "123456", "ORD-1");
        verify(
            Some(token.expose()),
            &body("ORD-1", "123456"),
            "123456",
            &key,
        )
        .unwrap();
        // Another order's token, no token, another MSN, a forged order, not JSON.
        let other = super::super::auth_token::derive(&key, "123456", "ORD-2");
        for (auth, b) in [
            (Some(other.expose()), body("ORD-1", "123456")),
            (None, body("ORD-1", "123456")),
            (Some(token.expose()), body("ORD-1", "999999")),
            (Some(token.expose()), body("ORD-2", "123456")),
            (Some(token.expose()), b"nope".to_vec()),
        ] {
            assert!(verify(auth, &b, "123456", &key).is_err(), "{auth:?}");
        }
    }

    #[test]
    fn callbacks_are_named_and_identified() {
        let v: Value = serde_json::from_slice(&body("ORD-1", "123456")).unwrap();
        assert!(is_callback_body(&v));
        assert_eq!(event_id(&v).unwrap(), "ORD-1/RESERVED/5001234567");
        assert_eq!(event_name("RESERVE"), Some("ecom.reserved"));
        assert_eq!(event_name("REJECTED"), Some("ecom.rejected"));
        assert_eq!(event_name("CAPTURE"), None);
        let changed = status_changed(&v).unwrap();
        assert!(is_details_body(&changed) && !is_callback_body(&changed));
        assert_eq!(changed["transactionLogHistory"][0]["operation"], "RESERVE");
        assert_eq!(
            changed["transactionSummary"]["remainingAmountToCapture"],
            1000
        );
        assert_eq!(
            details_event_id(&changed).unwrap(),
            "ORD-1/RESERVE/5001234567/2025-01-01T00:00:01Z"
        );
        // The same instant written with milliseconds is the same change.
        let mut precise = changed.clone();
        precise["transactionLogHistory"][0]["timeStamp"] = json!("2025-01-01T00:00:01.000Z");
        assert_eq!(
            details_event_id(&precise).unwrap(),
            details_event_id(&changed).unwrap()
        );
        let mut bad = v;
        bad["transactionInfo"]["status"] = json!("REJECTED");
        let rejected = status_changed(&bad).unwrap();
        assert_eq!(
            rejected["transactionLogHistory"][0]["operationSuccess"],
            false
        );
        bad["transactionInfo"]["status"] = json!("EXPLODED");
        assert!(event_id(&bad).is_err());
        assert!(status_changed(&bad).is_none());
    }
}
