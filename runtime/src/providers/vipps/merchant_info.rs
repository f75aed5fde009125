//! What an eCom v2 request body takes from the connection rather than from the
//! flow: `merchantInfo.merchantSerialNumber` (required by initiate, capture,
//! cancel and refund) and, on the payment request, the payment's callback
//! `authToken` ([`super::auth_token`]). The flow gives `callbackPrefix` and
//! `fallBack` as inputs of `vipps.initiate_payment` (both required).

use serde_json::{Map, Value, json};

use crate::http::{Body, Method, Secret};

/// The eCom v2 payments resource; ePayment (`/epayment/v1/…`) takes the MSN as a
/// header only.
const ECOM_PAYMENTS: &str = "/ecomm/v2/payments";

/// Completes the body of a request to `path` (under the base URL): an eCom
/// write gets `merchantInfo.merchantSerialNumber`, the payment request also the
/// order's `authToken`, derived from `key` (the connection's client secret).
/// Other requests are left as they are.
pub fn complete(
    method: Method,
    path: &str,
    body: &mut Body,
    msn: &str,
    key: &Secret,
) -> Result<(), String> {
    let path = path.split('?').next().unwrap_or(path);
    if matches!(method, Method::Get | Method::Delete) || !path.starts_with(ECOM_PAYMENTS) {
        return Ok(());
    }
    if matches!(body, Body::None) {
        *body = Body::Json(Value::Object(Map::new()));
    }
    let Body::Json(Value::Object(top)) = body else {
        return Err(format!(
            "{} {path}: an eCom body is a JSON object",
            method.as_str()
        ));
    };
    let initiate = path == ECOM_PAYMENTS;
    let order_id = if initiate {
        Some(
            top.get("transaction")
                .and_then(|t| t.get("orderId"))
                .and_then(Value::as_str)
                .ok_or("the payment request has no transaction.orderId")?
                .to_string(),
        )
    } else {
        None
    };
    let info = top
        .entry("merchantInfo")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("merchantInfo is not an object")?;
    info.insert("merchantSerialNumber".into(), json!(msn));
    if let Some(order_id) = order_id {
        let token = super::auth_token::derive(key, msn, &order_id);
        info.insert("authToken".into(), json!(token.expose()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed(method: Method, path: &str, body: Body) -> Body {
        let mut body = body;
        complete(method, path, &mut body, "123456", &Secret::new("k")).unwrap();
        body
    }

    #[test]
    fn every_ecom_write_carries_the_msn_and_the_request_its_token() {
        let Body::Json(v) = completed(
            Method::Post,
            "/ecomm/v2/payments",
            Body::Json(json!({"transaction": {"orderId": "ORD-1"},
                              "merchantInfo": {"callbackPrefix": "https://x/cb", "fallBack": "https://x/f"}})),
        ) else {
            panic!("JSON")
        };
        assert_eq!(v["merchantInfo"]["merchantSerialNumber"], "123456");
        assert_eq!(v["merchantInfo"]["callbackPrefix"], "https://x/cb");
        let token = super::super::auth_token::derive(&Secret::new("k"), "123456", "ORD-1");
        assert_eq!(v["merchantInfo"]["authToken"], token.expose());

        for (m, p) in [
            (Method::Post, "/ecomm/v2/payments/ORD-1/capture"),
            (Method::Put, "/ecomm/v2/payments/ORD-1/cancel"),
            (Method::Post, "/ecomm/v2/payments/ORD-1/refund"),
        ] {
            let Body::Json(v) = completed(m, p, Body::Json(json!({"transaction": {}}))) else {
                panic!("JSON")
            };
            assert_eq!(
                v["merchantInfo"],
                json!({"merchantSerialNumber": "123456"}),
                "{p}"
            );
        }
        // A capture without a body still names the sales unit.
        let Body::Json(v) = completed(Method::Post, "/ecomm/v2/payments/O/capture", Body::None)
        else {
            panic!("JSON")
        };
        assert_eq!(v["merchantInfo"]["merchantSerialNumber"], "123456");
    }

    #[test]
    fn reads_and_epayment_are_left_alone() {
        assert_eq!(
            completed(Method::Get, "/ecomm/v2/payments/O/details", Body::None),
            Body::None
        );
        let body = Body::Json(json!({"reference": "abcdefgh"}));
        assert_eq!(
            completed(Method::Post, "/epayment/v1/payments", body.clone()),
            body
        );
    }

    #[test]
    fn a_payment_request_without_an_order_id_is_refused() {
        let mut body = Body::Json(json!({"transaction": {}}));
        let e = complete(
            Method::Post,
            "/ecomm/v2/payments",
            &mut body,
            "1",
            &Secret::new("k"),
        );
        assert!(e.unwrap_err().contains("orderId"));
    }
}
