//! The gateway's HTTP front: faults, the `hmac` signature, then the route.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use md5::Digest as _;
use serde_json::{Value, json};

use super::{Due, Payer, Shared, Transaction};
use crate::providers::buckaroo::push::TOLERANCE_SECS;
use crate::providers::sim_faults::Fault;

pub(super) async fn handle(
    State(sh): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let verdict = sh.lock_faults().take(&path);
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    let lose = verdict.error == Some(Fault::LoseAnswer);
    let (status, answer, retry_after) = match verdict.error {
        Some(Fault::RateLimit { retry_after_secs }) => (
            429,
            json!({"Message": "Too many requests."}),
            Some(retry_after_secs),
        ),
        Some(Fault::ServerError | Fault::Delay { .. }) => {
            (500, json!({"Message": "An error has occurred."}), None)
        }
        None | Some(Fault::LoseAnswer) => {
            let (s, a) = answer(&sh, &method, &uri, &headers, &body);
            (s, a, None)
        }
    };
    sh.lock_state()
        .log
        .push((method.to_string(), path.clone(), status));
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (code, axum::Json(answer)).into_response();
    if let Some(s) = retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        resp.headers_mut().insert("Retry-After", v);
    }
    if lose {
        return crate::providers::sim_faults::lose_answer(resp);
    }
    resp
}

fn answer(
    sh: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (u16, Value) {
    // Signed over the URL as the caller addressed it: this host, this path.
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let target = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{host}{target}");
    let now = sh.clock.now();
    if let Err(e) = crate::providers::buckaroo::verify_signed(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        &sh.config.website_key,
        &sh.config.secret_key,
        method.as_str(),
        &url,
        body,
        now.as_second(),
        TOLERANCE_SECS,
    ) {
        return (
            401,
            json!({"Message": format!("Authorization has been denied for this request: {e}.")}),
        );
    }
    let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["json", "Transaction"] | ["json", "transaction"]) => transaction(sh, body, now),
        (
            "GET",
            [
                "json",
                "Transaction" | "transaction",
                "Status" | "status",
                key,
            ],
        ) => {
            let st = sh.lock_state();
            match st.transactions.iter().find(|t| t.key == *key) {
                Some(t) => (200, t.json()),
                None => (
                    404,
                    json!({"Message": format!("No transaction found with key {key}.")}),
                ),
            }
        }
        _ => (
            404,
            json!({"Message": format!("No HTTP resource was found that matches the request URI '{}'.", uri.path())}),
        ),
    }
}

/// A parameter error as Buckaroo lists it.
fn parameter_error(service: &str, name: &str, message: &str) -> Value {
    json!({"Service": service, "Action": null, "Name": name, "Error": "ParameterMissing",
           "ErrorMessage": message})
}

/// A validation failure: 200 with status 491 and the request's errors.
fn refused(errors: &[Value], invoice: &str) -> (u16, Value) {
    (
        200,
        json!({
            "Key": null,
            "Status": {"Code": {"Code": 491, "Description": "Validation failure"},
                       "SubCode": null, "DateTime": null},
            "RequestErrors": {"ChannelErrors": [], "ServiceErrors": [], "ActionErrors": [],
                              "ParameterErrors": errors, "CustomParameterErrors": []},
            "Invoice": invoice,
        }),
    )
}

/// The value of a service parameter by name.
fn param<'a>(service: &'a Value, name: &str) -> Option<&'a str> {
    service
        .get("Parameters")?
        .as_array()?
        .iter()
        .find(|p| p.get("Name").and_then(Value::as_str) == Some(name))?
        .get("Value")?
        .as_str()
}

/// `POST /json/Transaction`: the body checked as Buckaroo checks it, then a
/// new transaction (or the open one of the same invoice and service).
fn transaction(sh: &Arc<Shared>, body: &[u8], now: Timestamp) -> (u16, Value) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (
            400,
            json!({"Message": "The request is invalid: the body is not JSON."}),
        );
    };
    let invoice = v
        .get("Invoice")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut errors = Vec::new();
    let service = v
        .pointer("/Services/ServiceList/0")
        .cloned()
        .unwrap_or(Value::Null);
    let name = service
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if name.is_empty() {
        errors.push(parameter_error("", "Services", "No service was requested."));
    }
    if invoice.is_empty() {
        errors.push(parameter_error(&name, "Invoice", "Invoice is required."));
    }
    let currency = v
        .get("Currency")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        errors.push(parameter_error(&name, "Currency", "Currency is not valid."));
    }
    let amount = v.get("AmountDebit").cloned().unwrap_or(Value::Null);
    if !amount.as_f64().is_some_and(|a| a > 0.0) {
        errors.push(parameter_error(
            &name,
            "AmountDebit",
            "AmountDebit must be a number above zero.",
        ));
    }
    let mut expires = None;
    if name == "payperemail" {
        if service.get("Action").and_then(Value::as_str) != Some("PaymentInvitation") {
            errors.push(json!({"Service": name, "Action": service.get("Action"),
                "Name": "Action", "Error": "ActionNotSupported",
                "ErrorMessage": "The action is not supported by service payperemail."}));
        }
        for p in ["CustomerEmail", "CustomerLastName"] {
            if param(&service, p).is_none_or(str::is_empty) {
                errors.push(parameter_error(&name, p, &format!("{p} is required.")));
            }
        }
        if param(&service, "CustomerEmail").is_some_and(|e| !e.contains('@')) {
            errors.push(parameter_error(
                &name,
                "CustomerEmail",
                "CustomerEmail is not a valid e-mail address.",
            ));
        }
        match param(&service, "ExpirationDate").map(str::parse::<jiff::civil::Date>) {
            Some(Ok(d)) => expires = Some(d),
            Some(Err(_)) => errors.push(parameter_error(
                &name,
                "ExpirationDate",
                "ExpirationDate is not a date (yyyy-MM-dd).",
            )),
            None => {}
        }
    }
    if !errors.is_empty() {
        return refused(&errors, &invoice);
    }
    let mut st = sh.lock_state();
    if let Some(t) = st
        .transactions
        .iter()
        .find(|t| t.invoice == invoice && t.service == name && t.status / 100 == 7)
    {
        return (200, t.json());
    }
    // Keys are the same in every run of a scenario: MD5 of the invoice and
    // the transaction's number, in Buckaroo's 32 hexadecimal digits.
    let key: String = md5::Md5::digest(format!("{invoice}:{}", st.transactions.len() + 1))
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let (status, pay_link) = if name == "payperemail" {
        (
            792,
            Some(format!("https://checkout.buckaroo.example/pay/{key}")),
        )
    } else {
        (791, None)
    };
    let customer_name = [
        param(&service, "CustomerFirstName"),
        param(&service, "CustomerLastName"),
        param(&service, "CustomerAccountName"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let t = Transaction {
        key: key.clone(),
        invoice: invoice.clone(),
        service: name.clone(),
        service_code: name.clone(),
        amount,
        currency: currency.to_string(),
        status,
        sub_code: None,
        changed: now,
        push_url: v.get("PushURL").and_then(Value::as_str).map(str::to_string),
        customer_name,
        pay_link,
    };
    let answer = t.json();
    st.transactions.push(t);
    if name == "payperemail" {
        match sh.config.payers.get(&invoice) {
            Some(Payer::PaysByIdeal) => st.due.push((
                crate::clock::add(now, sh.config.pay_after),
                Due::Status {
                    key,
                    code: 190,
                    sub: Some(("S001", "Transaction successfully processed")),
                    service_code: Some("ideal"),
                },
            )),
            // The link works through its last day.
            Some(Payer::LetsItExpire) | None => {
                if let Some(d) = expires
                    && let Some(end) = d
                        .tomorrow()
                        .ok()
                        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                {
                    st.due.push((
                        end.timestamp(),
                        Due::Status {
                            key,
                            code: 890,
                            sub: Some(("S990", "The payment invitation has expired")),
                            service_code: None,
                        },
                    ));
                }
            }
        }
    }
    (200, answer)
}
