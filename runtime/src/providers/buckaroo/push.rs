//! Buckaroo's push (its webhook): a JSON body with the transaction's new
//! status, POSTed to the push URL with an `Authorization: hmac
//! websiteKey:signature:nonce:time` header signed as the gateway's requests
//! are ([`super::signature`], over the push URL). A push carries no event id:
//! its id is `push:<transaction key>:<status code>`, so a delivery repeated
//! is a duplicate and a new status is a new event.

use std::borrow::Cow;

use serde_json::Value;

use crate::providers::EventHead;

/// How far a push's time may be from the receiver's clock.
pub const TOLERANCE_SECS: i64 = 300;

/// The event head of a push.
pub fn event_head(raw: &Value) -> Result<EventHead<'_>, String> {
    let key = raw
        .pointer("/Transaction/Key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or("a push needs `Transaction.Key`")?;
    let code = raw
        .pointer("/Transaction/Status/Code/Code")
        .and_then(Value::as_i64)
        .ok_or("a push needs `Transaction.Status.Code.Code`")?;
    Ok(EventHead {
        id: Cow::Owned(format!("push:{key}:{code}")),
        ty: "push",
        object_id: key,
    })
}

/// Checks a push's `Authorization` header: the connection's website key, a
/// time within [`TOLERANCE_SECS`] of `now`, and the signature of `url` (the
/// push URL as Buckaroo posted to it) and the body. The error says why.
pub fn verify(
    header: Option<&str>,
    website_key: &str,
    secret_key: &str,
    url: &str,
    body: &[u8],
    now: i64,
) -> Result<(), String> {
    super::verify_signed(
        header,
        website_key,
        secret_key,
        "POST",
        url,
        body,
        now,
        TOLERANCE_SECS,
    )
    .map_err(|e| e.replace("the request", "the push"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://flows.example/webhooks/buckaroo";

    fn signed(body: &[u8], time: i64) -> String {
        let sig =
            crate::providers::buckaroo::signature("WK", "SECRET", "POST", URL, time, "n1", body);
        crate::providers::buckaroo::authorization("WK", &sig, "n1", time)
    }

    #[test]
    fn a_push_is_verified_by_its_signature() {
        let body = br#"{"Transaction":{"Key":"TX1","Status":{"Code":{"Code":190}}}}"#;
        let h = signed(body, 1_700_000_000);
        assert_eq!(
            verify(Some(&h), "WK", "SECRET", URL, body, 1_700_000_100),
            Ok(())
        );
        let tampered = br#"{"Transaction":{"Key":"TX1","Status":{"Code":{"Code":191}}}}"#;
        let e = |r: Result<(), String>| r.unwrap_err();
        assert!(
            e(verify(
                Some(&h),
                "WK",
                "SECRET",
                URL,
                tampered,
                1_700_000_100
            ))
            .contains("signature")
        );
        assert!(e(verify(Some(&h), "WK", "OTHER", URL, body, 1_700_000_100)).contains("signature"));
        assert!(
            e(verify(
                Some(&h),
                "WK",
                "SECRET",
                "https://x/webhooks/b",
                body,
                1_700_000_100
            ))
            .contains("signature")
        );
        assert!(
            e(verify(Some(&h), "WK2", "SECRET", URL, body, 1_700_000_100)).contains("website key")
        );
        assert!(e(verify(Some(&h), "WK", "SECRET", URL, body, 1_700_001_000)).contains("too far"));
        assert!(e(verify(None, "WK", "SECRET", URL, body, 0)).contains("no Authorization"));
        assert!(e(verify(Some("hmac a:b"), "WK", "SECRET", URL, body, 0)).contains("not `hmac"));
    }

    #[test]
    fn a_push_is_named_by_its_transaction_and_status() {
        let v = serde_json::json!({"Transaction": {"Key": "TX1", "Invoice": "INV-1",
            "Status": {"Code": {"Code": 190}}}});
        let h = event_head(&v).unwrap();
        assert_eq!(
            (h.id.as_ref(), h.ty, h.object_id),
            ("push:TX1:190", "push", "TX1")
        );
        assert!(event_head(&serde_json::json!({"Transaction": {"Key": "TX1"}})).is_err());
        assert_eq!(
            crate::providers::buckaroo::derived_output("status", &v),
            Some("success".into())
        );
    }
}
