//! ePayment events by the Webhooks API: each delivery is signed with the secret
//! Vipps MobilePay returned when the webhook was registered (the connection's
//! `webhook_secret`), as its request-authentication guide says:
//!
//! - `x-ms-content-sha256` is base64(SHA-256(body));
//! - the signed string is `POST\n<path and query>\n<x-ms-date>;<host>;<x-ms-content-sha256>`;
//! - `Authorization` is `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<base64(HMAC-SHA256(secret, signed string))>`.
//!
//! The runtime checks the body's hash, then the signature, both in constant
//! time, before anything reads the body. The webhook is registered as
//! `https://<host>/webhooks/<connection>` (that path, no query, is what is
//! signed). An event's identity (for deduplication) is its reference, name
//! and `pspReference`; its type the catalog's `epayments.payment.<name>.v1`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The headers Vipps signs, in order.
pub const SIGNED_HEADERS: &str = "x-ms-date;host;x-ms-content-sha256";

/// The `x-ms-content-sha256` of a body.
pub fn content_hash(body: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(body))
}

/// The `Authorization` header Vipps sends for a delivery.
pub fn authorization(
    secret: &str,
    path_and_query: &str,
    date: &str,
    host: &str,
    hash: &str,
) -> String {
    let signed = format!("POST\n{path_and_query}\n{date};{host};{hash}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(signed.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    format!("HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature={signature}")
}

/// How far a delivery's `x-ms-date` may be from now: a delivery signed
/// longer ago is a replay (the signature covers the date, so it cannot be
/// moved on).
pub const DATE_TOLERANCE_SECS: i64 = 300;

/// Checks a delivery to `path_and_query` at `now`: `header` reads a request
/// header.
pub fn verify(
    header: &dyn Fn(&str) -> Option<String>,
    path_and_query: &str,
    body: &[u8],
    secret: &str,
    now: jiff::Timestamp,
) -> Result<(), String> {
    let need = |h: &str| header(h).ok_or_else(|| format!("no `{h}` header"));
    let date = need("x-ms-date")?;
    let signed_at = jiff::fmt::rfc2822::parse(&date)
        .map_err(|_| format!("`x-ms-date` is not an HTTP date: {date:?}"))?
        .timestamp();
    if (now.as_second() - signed_at.as_second()).abs() > DATE_TOLERANCE_SECS {
        return Err(format!(
            "`x-ms-date` is more than {DATE_TOLERANCE_SECS} s from now (a replay?)"
        ));
    }
    let host = need("host")?;
    let hash = need("x-ms-content-sha256")?;
    let auth = need("authorization")?;
    let actual = content_hash(body);
    if !bool::from(actual.as_bytes().ct_eq(hash.as_bytes())) {
        return Err("`x-ms-content-sha256` is not the body's hash".into());
    }
    let want = authorization(secret, path_and_query, &date, &host, &hash);
    if !bool::from(want.as_bytes().ct_eq(auth.trim().as_bytes())) {
        return Err("the signature does not match".into());
    }
    Ok(())
}

/// The catalog's type of an ePayment event (`CAPTURED` ->
/// `epayments.payment.captured.v1`).
pub fn event_type(name: &str) -> String {
    format!("epayments.payment.{}.v1", name.to_ascii_lowercase())
}

/// Where [`normalize`] writes an event's identity into its body.
const ID_KEY: &str = "flowcEventId";

/// Writes an ePayment event's identity ([`event_id`]), or an eCom callback's
/// ([`super::callback::event_id`]), into the body (over
/// anything a delivery carried there), so [`event_head`] can lend it.
pub fn normalize(v: &mut Value) -> Result<(), String> {
    let id = if super::callback::is_callback_body(v) {
        super::callback::event_id(v)?
    } else if super::callback::is_details_body(v) {
        super::callback::details_event_id(v)?
    } else {
        event_id(v)?
    };
    v.as_object_mut()
        .ok_or("an ePayment event is a JSON object")?
        .insert(ID_KEY.into(), Value::String(id));
    Ok(())
}

/// The head of a [`normalize`]d ePayment event or eCom callback; its type is
/// the catalog's.
pub fn event_head(v: &Value) -> Result<crate::providers::EventHead<'_>, String> {
    let id = v
        .get(ID_KEY)
        .and_then(Value::as_str)
        .ok_or("an ePayment event is read only after its identity is set")?;
    let s = |p: &str| v.pointer(p).and_then(Value::as_str);
    let (ty, object_id) = if super::callback::is_callback_body(v) {
        let status = s("/transactionInfo/status").unwrap_or_default();
        let ty = super::callback::event_name(status)
            .ok_or_else(|| format!("`{status}` is not a callback status"))?;
        (
            ty.to_string(),
            s("/orderId").ok_or("a callback needs an `orderId`")?,
        )
    } else if super::callback::is_details_body(v) {
        (
            "ecom.status_changed".to_string(),
            s("/orderId").ok_or("details need an `orderId`")?,
        )
    } else {
        let name = s("/name").unwrap_or_default();
        (
            event_type(name),
            s("/reference").ok_or("an ePayment event needs a `reference`")?,
        )
    };
    let ty = flowc_catalog::provider("vipps")
        .and_then(|p| p.events.iter().find(|e| e.name == ty))
        .map(|e| e.name.as_str())
        .ok_or_else(|| format!("`{ty}` is not a Vipps event"))?;
    Ok(crate::providers::EventHead {
        id: std::borrow::Cow::Borrowed(id),
        ty,
        object_id,
    })
}

/// The events a delivery stands for besides itself: an eCom callback is also
/// the payment's `ecom.status_changed` ([`super::callback::status_changed`]),
/// normalized.
pub fn companions(v: &Value) -> Vec<Value> {
    if !super::callback::is_callback_body(v) {
        return Vec::new();
    }
    super::callback::status_changed(v)
        .and_then(|mut c| normalize(&mut c).ok().map(|()| c))
        .into_iter()
        .collect()
}

/// When a callback's status, a details' newest operation or an ePayment
/// event happened.
pub fn event_time(v: &Value) -> Option<jiff::Timestamp> {
    let p = if super::callback::is_callback_body(v) {
        "/transactionInfo/timeStamp"
    } else if super::callback::is_details_body(v) {
        "/transactionLogHistory/0/timeStamp"
    } else {
        "/timestamp"
    };
    v.pointer(p)?.as_str()?.parse().ok()
}

/// The identity of an ePayment event: its payment, name and `pspReference`
/// (the same by webhook and in the payment's event log).
pub fn event_id(v: &Value) -> Result<String, String> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("an ePayment event needs a string `{k}`"))
    };
    let (reference, name, psp) = (s("reference")?, s("name")?, s("pspReference")?);
    if !name.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("`{name}` is not an ePayment event name"));
    }
    Ok(format!("{reference}/{name}/{psp}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn delivery(secret: &str, body: &str) -> HashMap<String, String> {
        let date = "Tue, 30 Sep 2025 08:19:56 GMT";
        let host = "flows.example.no";
        let hash = content_hash(body.as_bytes());
        let auth = authorization(secret, "/webhooks/vipps", date, host, &hash);
        HashMap::from([
            ("x-ms-date".into(), date.into()),
            ("host".into(), host.into()),
            ("x-ms-content-sha256".into(), hash),
            ("authorization".into(), auth),
        ])
    }

    fn check(h: &HashMap<String, String>, path: &str, body: &str) -> Result<(), String> {
        let now = "2025-09-30T08:20:30Z".parse().unwrap();
        verify(&|k| h.get(k).cloned(), path, body.as_bytes(), "whsec", now)
    }

    #[test]
    fn a_signed_delivery_verifies_and_any_change_is_refused() {
        let body = r#"{"reference":"order-0001","name":"CAPTURED"}"#;
        let h = delivery("whsec", body);
        assert!(h["authorization"].starts_with(
            "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="
        ));
        check(&h, "/webhooks/vipps", body).unwrap();
        // The same delivery an hour later: a replay.
        let later = "2025-09-30T09:20:00Z".parse().unwrap();
        let replay = verify(
            &|k| h.get(k).cloned(),
            "/webhooks/vipps",
            body.as_bytes(),
            "whsec",
            later,
        );
        assert!(replay.unwrap_err().contains("replay"));
        // Another body, path, secret, date or host; a header missing.
        assert!(check(&h, "/webhooks/vipps", &body.replace("0001", "0002")).is_err());
        assert!(check(&h, "/webhooks/other", body).is_err());
        assert!(check(&delivery("other", body), "/webhooks/vipps", body).is_err());
        for (k, v) in [
            ("x-ms-date", "Wed, 01 Oct 2025 08:19:56 GMT"),
            ("host", "evil.example"),
        ] {
            let mut forged = h.clone();
            forged.insert(k.into(), v.into());
            assert!(check(&forged, "/webhooks/vipps", body).is_err(), "{k}");
        }
        // A new body with its own hash but the old signature.
        let other = body.replace("CAPTURED", "REFUNDED");
        let mut forged = h.clone();
        forged.insert("x-ms-content-sha256".into(), content_hash(other.as_bytes()));
        assert!(check(&forged, "/webhooks/vipps", &other).is_err());
        for k in ["x-ms-date", "host", "x-ms-content-sha256", "authorization"] {
            let mut missing = h.clone();
            missing.remove(k);
            assert!(
                check(&missing, "/webhooks/vipps", body)
                    .unwrap_err()
                    .contains(k)
            );
        }
    }

    #[test]
    fn the_signature_is_the_documented_hmac() {
        // Computed independently: printf 'POST\n/p\nd;h;x' | openssl dgst -sha256 -hmac s -binary | base64
        assert_eq!(
            authorization("s", "/p", "d", "h", "x"),
            format!(
                "HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature=aOJniJi40IPucr6zCJjrp4u/lJWUV3Vi4/CORIAfhKo="
            )
        );
    }

    #[test]
    fn events_are_named_and_identified() {
        let v = serde_json::json!({"reference": "order-0001", "name": "REFUNDED", "pspReference": "777"});
        assert_eq!(event_type("REFUNDED"), "epayments.payment.refunded.v1");
        assert_eq!(event_id(&v).unwrap(), "order-0001/REFUNDED/777");
        assert!(event_id(&serde_json::json!({"reference": "x", "name": "REFUNDED"})).is_err());
        assert!(
            event_id(&serde_json::json!({"reference": "x", "name": "../a", "pspReference": "1"}))
                .is_err()
        );
        let mut v = v;
        assert!(event_head(&v).is_err(), "read only once normalized");
        v["flowcEventId"] = serde_json::json!("forged");
        normalize(&mut v).unwrap();
        let head = event_head(&v).unwrap();
        assert_eq!(
            (head.id.as_ref(), head.ty, head.object_id),
            (
                "order-0001/REFUNDED/777",
                "epayments.payment.refunded.v1",
                "order-0001"
            )
        );
        v["name"] = serde_json::json!("UNHEARD");
        normalize(&mut v).unwrap();
        assert!(event_head(&v).is_err());
    }
}
