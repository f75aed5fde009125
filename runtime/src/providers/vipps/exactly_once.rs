//! An eCom payment request initiated once. `POST /ecomm/v2/payments` is made
//! idempotent by its order id only: Vipps refuses a second request for an
//! order id (error code 34). So when an earlier attempt's outcome is unknown
//! (the ledger has its key as begun and not finished: a crash or a timeout
//! after sending), the payment's details are read first
//! (`GET /ecomm/v2/payments/{orderId}/details`): a payment found that is ours
//! (same order id and amount) is taken as the answer, and nothing is sent
//! again. A "Duplicate Order Id" answer is looked into the same way: adopted
//! when ours, else the step fails with Vipps's message. Vipps gives a
//! payment's landing `url` only in the initiate's answer, which was lost: an
//! adopted payment answers with the request's `merchantInfo.fallBack` as its
//! `url` (the merchant's own page for the order; the payer with a mobile
//! number already has the request in the app), so a flow's typed output is
//! never empty.

use flowc_catalog::Action;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::engine::Runtime;
use crate::flow::StepError;
use crate::http::{Body, ErrorClass, ErrorClassifier, HttpRequest, HttpResponse, Method};
use crate::retry::{StatusClass, classify};

/// The actions this module guards.
pub fn guards(action: &Action) -> bool {
    action.name == "initiate_payment"
}

/// Sends an initiate at most once in effect: when `begun` is set, reads the
/// payment first and answers with it when it is there.
pub async fn send(
    rt: &Runtime,
    req: &HttpRequest,
    key: Option<&str>,
    begun: Option<Timestamp>,
) -> Result<HttpResponse, StepError> {
    if begun.is_some()
        && let Some(found) = find_ours(rt, req).await?
    {
        return Ok(found);
    }
    let mut guarded = req.clone();
    guarded.error_class = Some(ErrorClassifier(duplicate_is_an_answer));
    let resp = rt.http.execute(&guarded, key, rt).await?;
    if resp.status == 400 && is_duplicate(&resp.body) {
        if let Some(found) = find_ours(rt, req).await? {
            return Ok(found);
        }
        return Err(StepError::Fatal(format!(
            "{}: HTTP 400: {}; a payment with this order id exists and is not this \
             issue's (its amount differs)",
            req.describe(&rt.base_urls),
            super::error_message(&resp.body)
        )));
    }
    Ok(resp)
}

/// The payment this initiate would have made, if Vipps has it.
async fn find_ours(rt: &Runtime, req: &HttpRequest) -> Result<Option<HttpResponse>, StepError> {
    let Body::Json(sent) = &req.body else {
        return Ok(None);
    };
    let Some(order) = sent.pointer("/transaction/orderId").and_then(Value::as_str) else {
        return Ok(None);
    };
    if !super::poll::valid_key(order) {
        return Ok(None);
    }
    let url = req.url(&rt.base_urls)?;
    let mut read = req.clone();
    read.method = Method::Get;
    read.target =
        crate::http::Target::Url(format!("{}/{order}/details", url.trim_end_matches('/')));
    read.query.clear();
    read.body = Body::None;
    read.side_effect = false;
    read.idempotency_header = None;
    read.error_class = Some(ErrorClassifier(not_found_is_an_answer));
    let resp = rt.http.execute(&read, None, rt).await?;
    if resp.status == 404 {
        return Ok(None);
    }
    let details: Value = serde_json::from_str(&resp.body)
        .map_err(|_| StepError::Fatal(format!("HTTP {}: the response is not JSON", resp.status)))?;
    if !is_ours(sent, &details) {
        return Ok(None);
    }
    Ok(Some(HttpResponse {
        status: 200,
        fields: Map::new(),
        body: json!({"orderId": order, "url": sent.pointer("/merchantInfo/fallBack")}).to_string(),
    }))
}

/// Whether `details` are of the payment `sent` asked for: the order id, and
/// the amount its `INITIATE` entry logged.
pub fn is_ours(sent: &Value, details: &Value) -> bool {
    let order = sent.pointer("/transaction/orderId");
    let amount = sent.pointer("/transaction/amount");
    details.get("orderId") == order
        && details["transactionLogHistory"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["operation"] == "INITIATE" && e.get("amount") == amount)
}

/// eCom's "Duplicate Order Id" (error code 34, or the message).
pub fn is_duplicate(body: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    v.as_array().into_iter().flatten().any(|e| {
        e["errorCode"] == "34"
            || e["errorMessage"]
                .as_str()
                .is_some_and(|m| m.to_ascii_lowercase().contains("duplicate order"))
    })
}

fn duplicate_is_an_answer(status: u16, body: &str) -> ErrorClass {
    if status == 400 && is_duplicate(body) {
        return ErrorClass::Answer;
    }
    by_status(status, body)
}

fn not_found_is_an_answer(status: u16, body: &str) -> ErrorClass {
    if status == 404 {
        return ErrorClass::Answer;
    }
    by_status(status, body)
}

fn by_status(status: u16, body: &str) -> ErrorClass {
    let m = super::error_message(body);
    match classify(status) {
        StatusClass::Retry => ErrorClass::Retry(m),
        _ => ErrorClass::Fatal(m),
    }
}

#[cfg(test)]
mod tests;
