//! Exactly-once invoicing without an idempotency key. PayPal's invoicing API
//! takes no `PayPal-Request-Id` (invoicing_v2.json declares none), so a
//! repeated create makes a second invoice and a repeated send a second email.
//! When a call's outcome is unknown (the ledger has its key as begun and not
//! finished: a crash or a timeout after sending), this module looks before
//! repeating:
//!
//! - `create_invoice`: searches by the invoice number; an invoice found that is
//!   ours (same number, currency, recipient and lines) is adopted as the answer.
//!   A `DUPLICATE_INVOICE_NUMBER` answer is handled the same way: adopted when
//!   ours, else the step fails with PayPal's message.
//! - `send_invoice`: reads the invoice; any status but DRAFT means it was sent.
//! - `cancel_invoice`: CANCELLED means it was cancelled.
//! - `remind_invoice`: an update of the invoice since the attempt began is
//!   taken as the reminder (PayPal records no reminder time).
//!
//! A create without an invoice number cannot be looked for; it is repeated.

use flowc_catalog::Action;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use crate::engine::Runtime;
use crate::flow::StepError;
use crate::http::{Body, ErrorClass, ErrorClassifier, HttpRequest, HttpResponse, Method};
use crate::retry::{StatusClass, classify};

/// The actions this module guards.
pub fn guards(action: &Action) -> bool {
    matches!(
        action.name.as_str(),
        "create_invoice" | "send_invoice" | "remind_invoice" | "cancel_invoice"
    )
}

/// Sends `req` (a guarded action's request) at most once in effect: when
/// `begun` is set (an earlier attempt's outcome is unknown; the time it
/// began), looks first and answers with what it finds instead of repeating.
pub async fn send(
    rt: &Runtime,
    req: &HttpRequest,
    key: Option<&str>,
    action: &Action,
    begun: Option<Timestamp>,
) -> Result<HttpResponse, StepError> {
    let create = action.name == "create_invoice";
    if let Some(begun) = begun
        && let Some(found) = look(rt, req, action, begun).await?
    {
        return Ok(found);
    }
    if !create {
        return rt.http.execute(req, key, rt).await;
    }
    let mut guarded = req.clone();
    guarded.error_class = Some(ErrorClassifier(duplicate_is_an_answer));
    let resp = rt.http.execute(&guarded, key, rt).await?;
    if resp.status == 422 && is_duplicate(&resp.body) {
        let url = req.url(&rt.base_urls)?;
        if let Some(found) = find_ours(rt, req, &url).await? {
            return Ok(found);
        }
        return Err(StepError::Fatal(format!(
            "POST {url}: HTTP 422: {}; an invoice with this number exists and is not \
             this issue's (its amount or recipient differ)",
            super::error_message(&resp.body)
        )));
    }
    Ok(resp)
}

/// Whether the earlier attempt took effect; its answer as the call would have given it.
async fn look(
    rt: &Runtime,
    req: &HttpRequest,
    action: &Action,
    begun: Timestamp,
) -> Result<Option<HttpResponse>, StepError> {
    let url = req.url(&rt.base_urls)?;
    if action.name == "create_invoice" {
        return find_ours(rt, req, &url).await;
    }
    // `…/invoices/{id}/send` → `…/invoices/{id}`.
    let Some((invoice_url, _)) = url.rsplit_once('/') else {
        return Ok(None);
    };
    let inv = get(rt, req, invoice_url).await?;
    let status = inv["status"].as_str().unwrap_or_default();
    let done = match action.name.as_str() {
        "send_invoice" => status != "DRAFT",
        "cancel_invoice" => status == "CANCELLED",
        "remind_invoice" => inv
            .pointer("/detail/metadata/last_update_time")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok())
            // PayPal's times are to the second.
            .is_some_and(|t| t.as_second() >= begun.as_second()),
        _ => false,
    };
    if !done {
        return Ok(None);
    }
    Ok(Some(if action.name == "send_invoice" {
        answer(
            200,
            &json!({"href": inv.pointer("/detail/metadata/recipient_view_url"),
                    "rel": "payer-view", "method": "GET"}),
        )
    } else {
        answer(204, &Value::Null)
    }))
}

/// The invoice this create would have made, if PayPal has it: searched by
/// the number, read in full, compared.
async fn find_ours(
    rt: &Runtime,
    req: &HttpRequest,
    create_url: &str,
) -> Result<Option<HttpResponse>, StepError> {
    let Body::Json(sent) = &req.body else {
        return Ok(None);
    };
    let Some(number) = sent
        .pointer("/detail/invoice_number")
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    let base = create_url.trim_end_matches("/invoices");
    let mut search = lookup(req, Method::Post, format!("{base}/search-invoices"));
    search.body = Body::Json(json!({"invoice_number": number}));
    let found = json_of(&rt.http.execute(&search, None, rt).await?)?;
    let ids: Vec<&str> = found["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i.pointer("/detail/invoice_number").and_then(Value::as_str) == Some(number))
        .filter_map(|i| i["id"].as_str())
        .collect();
    for id in ids {
        let inv = get(rt, req, &format!("{create_url}/{id}")).await?;
        if is_ours(sent, &inv) {
            return Ok(Some(answer(201, &inv)));
        }
    }
    Ok(None)
}

/// Whether `inv` is what the request `sent` asked for: the number, the
/// currency, the first recipient's email and every line (name, quantity, unit price).
pub fn is_ours(sent: &Value, inv: &Value) -> bool {
    let same = |p: &str| sent.pointer(p).is_none_or(|v| inv.pointer(p) == Some(v));
    let line = |i: &Value| {
        (
            i["name"].as_str().map(str::to_string),
            decimal(&i["quantity"]),
            decimal(&i["unit_amount"]["value"]),
            i["unit_amount"]["currency_code"]
                .as_str()
                .map(str::to_string),
        )
    };
    let lines = |v: &Value| -> Vec<_> {
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(line)
            .collect()
    };
    same("/detail/invoice_number")
        && same("/detail/currency_code")
        && same("/primary_recipients/0/billing_info/email_address")
        && lines(sent) == lines(inv)
}

fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
    .map(|d: Decimal| d.normalize())
}

/// `GET` of one invoice with the request's auth.
async fn get(rt: &Runtime, req: &HttpRequest, url: &str) -> Result<Value, StepError> {
    json_of(
        &rt.http
            .execute(&lookup(req, Method::Get, url.to_string()), None, rt)
            .await?,
    )
}

/// A read beside `req`: its auth, headers and budget, no body, no key.
fn lookup(req: &HttpRequest, method: Method, url: String) -> HttpRequest {
    let mut r = req.clone();
    r.method = method;
    r.target = crate::http::Target::Url(url);
    r.query.clear();
    r.body = Body::None;
    r.side_effect = false;
    r.idempotency_header = None;
    r.error_class = None;
    r
}

fn json_of(resp: &HttpResponse) -> Result<Value, StepError> {
    serde_json::from_str(&resp.body)
        .map_err(|_| StepError::Fatal(format!("HTTP {}: the response is not JSON", resp.status)))
}

fn answer(status: u16, body: &Value) -> HttpResponse {
    HttpResponse {
        status,
        fields: Map::new(),
        body: if body.is_null() {
            String::new()
        } else {
            body.to_string()
        },
    }
}

/// PayPal's 422 `DUPLICATE_INVOICE_NUMBER` (in `name` or a detail's `issue`).
pub fn is_duplicate(body: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    v["name"] == "DUPLICATE_INVOICE_NUMBER"
        || v["details"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["issue"] == "DUPLICATE_INVOICE_NUMBER")
}

/// A create's errors: a duplicate number is handed back (to be looked into),
/// the rest classified by status with PayPal's message.
fn duplicate_is_an_answer(status: u16, body: &str) -> ErrorClass {
    if status == 422 && is_duplicate(body) {
        return ErrorClass::Answer;
    }
    let m = super::error_message(body);
    match classify(status) {
        StatusClass::Retry => ErrorClass::Retry(m),
        _ => ErrorClass::Fatal(m),
    }
}

#[cfg(test)]
mod tests;
