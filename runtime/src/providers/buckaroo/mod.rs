//! Buckaroo's JSON gateway: every request signed with `Authorization: hmac
//! websiteKey:signature:nonce:time`; failures also come as HTTP 200 with a status
//! code and `RequestErrors`. The direct debit batch is a request file (see
//! `crate::action::batch`), not an HTTP call: [`request_file`] fills its
//! records and header from the connection's settings, [`iban`] checks the
//! accounts; Buckaroo's answer comes back as a response file
//! ([`response_file`]) in the connection's inbox.

pub mod gateway_sim;
pub mod iban;
pub mod push;
pub mod request_file;
pub mod response_file;
pub mod sim;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use rand::Rng;
use serde_json::Value;
use sha2::Sha256;

use crate::engine::Runtime;
use crate::flow::{ConnectionDef, StepError};
use crate::http::{Auth, Body, HttpRequest, Secret};

/// The signature of one request: Base64(HMAC-SHA256(secret, website_key + method +
/// lower(urlencode(uri without scheme)) + time + nonce + Base64(MD5(body)))), the
/// MD5 part empty for an empty body. `time` is unix seconds.
pub fn signature(
    website_key: &str,
    secret_key: &str,
    method: &str,
    url: &str,
    time: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    let uri = url.split_once("://").map_or(url, |(_, rest)| rest);
    let content = if body.is_empty() {
        String::new()
    } else {
        B64.encode(Md5::digest(body))
    };
    let message = format!(
        "{website_key}{method}{}{time}{nonce}{content}",
        url_encode(uri).to_lowercase()
    );
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(message.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value.
pub fn authorization(website_key: &str, signature: &str, nonce: &str, time: i64) -> String {
    format!("hmac {website_key}:{signature}:{nonce}:{time}")
}

/// Checks an `Authorization: hmac websiteKey:signature:nonce:time` header of
/// a signed message (a gateway request as Buckaroo checks it, a push as the
/// merchant does): the website key, a time within `tolerance_secs` of `now`,
/// and the signature of `method`, `url` and `body` with `secret_key`,
/// compared in constant time. The error says why.
#[allow(clippy::too_many_arguments)]
pub fn verify_signed(
    header: Option<&str>,
    website_key: &str,
    secret_key: &str,
    method: &str,
    url: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), String> {
    let h = header.ok_or("no Authorization header")?;
    let rest = h
        .strip_prefix("hmac ")
        .ok_or("the Authorization header is not `hmac …`")?;
    let parts: Vec<&str> = rest.split(':').collect();
    let [wk, sig, nonce, time] = parts[..] else {
        return Err("the Authorization header is not `hmac key:signature:nonce:time`".into());
    };
    if wk != website_key {
        return Err("the request is for another website key".into());
    }
    let time: i64 = time
        .parse()
        .map_err(|_| "the Authorization header's time is not a number".to_string())?;
    if (now - time).abs() > tolerance_secs {
        return Err("the request's time is too far from now".into());
    }
    let want = signature(website_key, secret_key, method, url, time, nonce, body);
    let same = want.len() == sig.len()
        && want
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err("the request's signature does not match".into())
    }
}

/// The service action a service's requests take when the flow names none:
/// a PayPerEmail invitation is `PaymentInvitation`, a payment `Pay`.
pub fn service_action(service: &str) -> &'static str {
    match service {
        "payperemail" => "PaymentInvitation",
        _ => "Pay",
    }
}

/// Completes a gateway request's body: an action whose service is fixed in
/// the catalog (`pay_per_email`: `payperemail`) names it and its action in
/// `Services.ServiceList[0]`, as Buckaroo requires of every transaction.
pub fn extra_body(action: &flowc_catalog::Action, body: &mut Value) {
    let Some(service) = action
        .service
        .as_deref()
        .filter(|s| !s.starts_with("input:"))
    else {
        return;
    };
    if action.batch {
        return;
    }
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    let services = obj
        .entry("Services")
        .or_insert_with(|| serde_json::json!({}));
    let Some(services) = services.as_object_mut() else {
        return;
    };
    let list = services
        .entry("ServiceList")
        .or_insert_with(|| serde_json::json!([{}]));
    let Some(first) = list.as_array_mut().and_then(|l| {
        if l.is_empty() {
            l.push(serde_json::json!({}));
        }
        l.first_mut()
    }) else {
        return;
    };
    if let Some(m) = first.as_object_mut() {
        m.entry("Name")
            .or_insert_with(|| Value::String(service.to_string()));
        m.entry("Action")
            .or_insert_with(|| Value::String(service_action(service).to_string()));
    }
}

/// `application/x-www-form-urlencoded` encoding as Buckaroo's SDKs apply it to the
/// URI: letters, digits and `-_.` stay, a space is `+`, the rest `%XX`.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn authorize(
    rt: &Runtime,
    conn: &ConnectionDef,
    req: HttpRequest,
) -> Result<HttpRequest, StepError> {
    let website_key = super::credential(conn, "website_key")?;
    let secret_key = super::credential(conn, "secret_key")?;
    let url = req.url(&rt.base_urls)?;
    // The body bytes as the http client sends them: `reqwest::RequestBuilder::json`
    // writes `serde_json::to_vec` of the value, so the MD5 is of the same bytes.
    let body = match &req.body {
        Body::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
        Body::None => Vec::new(),
        _ => return Err(StepError::Fatal("Buckaroo requests are JSON".into())),
    };
    let time = rt.clock.now().as_second();
    let nonce: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    let sig = signature(
        website_key.expose(),
        secret_key.expose(),
        req.method.as_str(),
        &url,
        time,
        &nonce,
        &body,
    );
    Ok(req.auth(Auth::Headers(vec![(
        "Authorization".into(),
        Secret::new(authorization(website_key.expose(), &sig, &nonce, time)),
    )])))
}

/// The status code's name, as the catalog names them.
pub fn status_name(code: i64) -> Option<&'static str> {
    Some(match code {
        190 => "success",
        490 => "failed",
        491 => "validation_failure",
        492 => "technical_failure",
        690 => "rejected",
        790 => "pending_input",
        791 => "pending_processing",
        792 => "awaiting_consumer",
        793 => "on_hold",
        890 => "cancelled_by_user",
        891 => "cancelled_by_merchant",
        _ => return None,
    })
}

/// Every `ErrorMessage` of a `RequestErrors` object.
fn request_errors(v: &Value) -> Vec<String> {
    let Some(Value::Object(groups)) = v.get("RequestErrors") else {
        return Vec::new();
    };
    groups
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|e| {
            let m = super::first_string(e, &["/ErrorMessage", "/Error"])?;
            Some(match super::first_string(e, &["/Name"]) {
                Some(n) => format!("{n}: {m}"),
                None => m.to_string(),
            })
        })
        .collect()
}

/// A 200 answer that reports a validation or technical failure is a failure.
pub fn check_response(v: &Value) -> Result<(), String> {
    let errors = request_errors(v);
    let code = v.pointer("/Status/Code/Code").and_then(Value::as_i64);
    if !errors.is_empty() || matches!(code, Some(491 | 492)) {
        let mut msg = errors.join("; ");
        if msg.is_empty() {
            msg = super::first_string(v, &["/Status/Code/Description"])
                .unwrap_or("request failed")
                .to_string();
        }
        return Err(match code {
            Some(c) => format!("Buckaroo status {c}: {msg}"),
            None => msg,
        });
    }
    Ok(())
}

/// `status` (the status code's name) is derived from `Status.Code.Code`.
pub fn derived_output(name: &str, v: &Value) -> Option<Value> {
    match name {
        "status" => v
            .pointer("/Status/Code/Code")
            .or_else(|| v.pointer("/Transaction/Status/Code/Code"))
            .and_then(Value::as_i64)
            .and_then(status_name)
            .map(|s| Value::String(s.into())),
        _ => None,
    }
}

/// Buckaroo's request errors, else its `Message`.
pub fn error_message(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return super::fallback(body);
    };
    let errors = request_errors(&v);
    if !errors.is_empty() {
        return errors.join("; ");
    }
    super::first_string(&v, &["/Message", "/message", "/Status/Code/Description"])
        .map_or_else(|| super::fallback(body), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected values were worked out by hand, step by step, outside this code
    /// (Python's hmac, hashlib and base64):
    /// uri = `testcheckout.buckaroo.nl%2fjson%2ftransaction`,
    /// Base64(MD5(body)) = `l4SXpUGDkxmvKgHlP87rBg==`, and the signed text
    /// `WEBSITEKEYPOSTtestcheckout.buckaroo.nl%2fjson%2ftransaction1700000000nonce123l4SXpUGDkxmvKgHlP87rBg==`.
    #[test]
    fn signature_matches_a_hand_computed_value() {
        let body = br#"{"AmountDebit":10.5,"Currency":"EUR"}"#;
        let sig = signature(
            "WEBSITEKEY",
            "SECRET",
            "POST",
            "https://testcheckout.buckaroo.nl/json/Transaction",
            1_700_000_000,
            "nonce123",
            body,
        );
        assert_eq!(sig, "2ZLBFvvEhi4SG4lfpw9yhCSlu4H2cqwzEqz6b27W5B8=");
        assert_eq!(
            authorization("WEBSITEKEY", &sig, "nonce123", 1_700_000_000),
            "hmac WEBSITEKEY:2ZLBFvvEhi4SG4lfpw9yhCSlu4H2cqwzEqz6b27W5B8=:nonce123:1700000000"
        );
        // No body: no MD5 part.
        let get = signature(
            "WEBSITEKEY",
            "SECRET",
            "GET",
            "https://testcheckout.buckaroo.nl/json/Transaction/Status/ABC",
            1_700_000_000,
            "nonce123",
            b"",
        );
        assert_eq!(get, "BBNXQziA7ucNqIm+81ExjxLvWUDGD8OkLwuWnQLmuOw=");
    }

    #[test]
    fn failures_in_a_200_answer_are_failures() {
        let v = serde_json::json!({
            "Status": {"Code": {"Code": 491, "Description": "Validation failure"}},
            "RequestErrors": {"ParameterErrors": [
                {"Service": "sepadirectdebit", "Name": "CustomerIBAN", "ErrorMessage": "Invalid IBAN"}
            ]}
        });
        assert_eq!(
            check_response(&v),
            Err("Buckaroo status 491: CustomerIBAN: Invalid IBAN".into())
        );
        let ok = serde_json::json!({"Status": {"Code": {"Code": 791}}, "RequestErrors": null});
        assert_eq!(check_response(&ok), Ok(()));
        assert_eq!(
            derived_output("status", &ok),
            Some("pending_processing".into())
        );
    }
}
