//! The simulator's state and PayPal's invoice rules: invoices (as the JSON
//! PayPal answers, in creation order), the webhook events they make, OAuth2
//! tokens with their expiry on the simulator's clock, `PayPal-Request-Id`
//! answers and the request log. Every change goes through [`Store`] under the
//! simulator's lock.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use crate::clock::Clock;
use crate::value::{Currency, parse_decimal};

/// An answer kept for a `PayPal-Request-Id`.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub answer: Value,
}

/// One request as the simulator saw it (for "called exactly once" checks).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The `PayPal-Request-Id` header.
    pub request_id: Option<String>,
    pub status: u16,
    /// Whether the answer was replayed for a `PayPal-Request-Id` seen before.
    pub replayed: bool,
}

/// Statuses in which the payer can still pay (and the merchant remind or cancel).
const OPEN: [&str; 4] = ["SENT", "UNPAID", "PARTIALLY_PAID", "SCHEDULED"];

/// Everything the simulator knows.
#[derive(Debug)]
pub struct Store {
    clock: Arc<dyn Clock>,
    /// Where the simulator listens (links and view URLs point there).
    pub base_url: String,
    counter: u64,
    last_number: u64,
    /// Invoices in creation order (a deleted draft is removed).
    invoices: Vec<Value>,
    /// Every webhook event, oldest first.
    pub(super) events: Vec<Value>,
    /// Events made since the last drain, for webhook delivery.
    pub(super) fresh_events: Vec<Value>,
    /// Access token -> when it expires.
    pub(super) tokens: HashMap<String, Timestamp>,
    pub(super) idempotency: HashMap<String, StoredAnswer>,
    pub(super) log: Vec<LoggedRequest>,
}

impl Store {
    pub fn new(clock: Arc<dyn Clock>, base_url: String) -> Store {
        Store {
            clock,
            base_url,
            counter: 0,
            last_number: 0,
            invoices: Vec::new(),
            events: Vec::new(),
            fresh_events: Vec::new(),
            tokens: HashMap::new(),
            idempotency: HashMap::new(),
            log: Vec::new(),
        }
    }

    /// Forgets every invoice, event, token, answer and logged request.
    pub fn reset(&mut self) {
        *self = Store::new(self.clock.clone(), std::mem::take(&mut self.base_url));
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// `2025-01-01T00:00:00Z`: PayPal's date-times, to the second.
    pub fn now_text(&self) -> String {
        time_text(self.now())
    }

    /// A fresh id: `prefix` and groups of upper-case letters and digits,
    /// deterministic per simulator (`INV2-0001-…`).
    pub fn new_id(&mut self, prefix: &str, groups: usize) -> String {
        self.counter += 1;
        let mut seed = self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let alphabet = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut parts = vec![format!("{:04}", self.counter % 10_000)];
        for _ in 1..groups {
            let mut g = String::new();
            for _ in 0..4 {
                g.push(alphabet[(seed % 32) as usize] as char);
                seed = seed.rotate_right(5) ^ 0x5851_F42D_4C95_7F2D;
            }
            parts.push(g);
        }
        format!("{prefix}{}", parts.join("-"))
    }

    pub fn invoices(&self) -> &[Value] {
        &self.invoices
    }

    pub fn invoice(&self, id: &str) -> Result<&Value, ApiError> {
        self.invoices
            .iter()
            .find(|i| i["id"] == id)
            .ok_or_else(|| ApiError::not_found("invoice", id))
    }

    fn invoice_mut(&mut self, id: &str) -> Result<&mut Value, ApiError> {
        self.invoices
            .iter_mut()
            .find(|i| i["id"] == id)
            .ok_or_else(|| ApiError::not_found("invoice", id))
    }

    /// A new webhook event about an invoice (as it is now), kept for the list
    /// and queued for delivery.
    fn event(&mut self, event_type: &str, summary: &str, invoice: &Value) {
        let tail = self.new_id("", 3).replace('-', "");
        let id = format!("WH-{:08}-{tail}", self.counter);
        let base = self.base_url.clone();
        let e = json!({
            "id": id,
            "event_version": "1.0",
            "create_time": self.now_text(),
            "resource_type": "invoices",
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": summary,
            "resource": {"invoice": invoice},
            "links": [
                {"href": format!("{base}/v1/notifications/webhooks-events/{id}"), "rel": "self", "method": "GET"},
                {"href": format!("{base}/v1/notifications/webhooks-events/{id}/resend"), "rel": "resend", "method": "POST"}
            ]
        });
        self.events.push(e.clone());
        self.fresh_events.push(e);
    }

    /// `POST /v2/invoicing/invoices`: a draft from the request body; a second
    /// invoice with a number already used is refused (422 `DUPLICATE_INVOICE_NUMBER`).
    pub fn create_invoice(&mut self, body: &Value) -> Result<Value, ApiError> {
        let Some(detail) = body.get("detail").and_then(Value::as_object) else {
            return Err(ApiError::invalid(
                "MISSING_REQUIRED_PARAMETER",
                "A required field / parameter is missing.",
                Some("/detail"),
            ));
        };
        let currency = detail
            .get("currency_code")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::invalid(
                    "MISSING_REQUIRED_PARAMETER",
                    "A required field / parameter is missing.",
                    Some("/detail/currency_code"),
                )
            })?
            .to_string();
        let cur = Currency::new(&currency).map_err(|_| {
            ApiError::unprocessable(
                "CURRENCY_NOT_SUPPORTED",
                format!("Currency {currency} is not supported."),
                Some("/detail/currency_code"),
            )
        })?;
        let number = match detail.get("invoice_number").and_then(Value::as_str) {
            Some(n) => {
                if n.chars().count() > 25 {
                    return Err(ApiError::invalid(
                        "INVALID_STRING_LENGTH",
                        "The value of a field is either too short or too long.",
                        Some("/detail/invoice_number"),
                    ));
                }
                n.to_string()
            }
            None => {
                self.last_number += 1;
                format!("{:04}", self.last_number)
            }
        };
        if self
            .invoices
            .iter()
            .any(|i| i["detail"]["invoice_number"] == number.as_str())
        {
            return Err(ApiError::unprocessable(
                "DUPLICATE_INVOICE_NUMBER",
                "Invoice number is already used by another invoice.",
                Some("/detail/invoice_number"),
            ));
        }
        let (amount, items) = totals(body, cur)?;
        let id = self.new_id("INV2-", 5);
        let now = self.now_text();
        let base = self.base_url.clone();
        let mut detail = detail.clone();
        detail.insert("invoice_number".into(), json!(number));
        detail
            .entry("invoice_date")
            .or_insert_with(|| json!(&now[..10]));
        detail.insert(
            "metadata".into(),
            json!({
                "create_time": now,
                "last_update_time": now,
                "recipient_view_url": format!("{base}/invoice/p/#{id}"),
                "invoicer_view_url": format!("{base}/invoice/details/{id}"),
            }),
        );
        let mut invoice = Map::new();
        invoice.insert("id".into(), json!(id));
        invoice.insert("status".into(), json!("DRAFT"));
        invoice.insert("detail".into(), Value::Object(detail));
        for k in ["invoicer", "primary_recipients", "configuration"] {
            if let Some(v) = body.get(k) {
                invoice.insert(k.into(), v.clone());
            }
        }
        invoice.insert("items".into(), items);
        invoice.insert("amount".into(), money(cur, amount));
        invoice.insert("due_amount".into(), money(cur, amount));
        invoice.insert(
            "links".into(),
            json!([
                {"href": format!("{base}/v2/invoicing/invoices/{id}"), "rel": "self", "method": "GET"},
                {"href": format!("{base}/v2/invoicing/invoices/{id}/send"), "rel": "send", "method": "POST"},
                {"href": format!("{base}/v2/invoicing/invoices/{id}"), "rel": "delete", "method": "DELETE"}
            ]),
        );
        let invoice = Value::Object(invoice);
        self.invoices.push(invoice.clone());
        self.event(
            "INVOICING.INVOICE.CREATED",
            "An invoice was created",
            &invoice,
        );
        Ok(invoice)
    }

    /// `PUT /v2/invoicing/invoices/{id}`: replaces what the body gives of a draft
    /// or unpaid invoice (`INVOICING.INVOICE.UPDATED`).
    pub fn update_invoice(&mut self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let now = self.now_text();
        let inv = self.invoice(id)?.clone();
        let status = inv["status"].as_str().unwrap_or_default();
        if !(status == "DRAFT" || OPEN.contains(&status)) {
            return Err(ApiError::unprocessable(
                "CANT_UPDATE_INVOICE",
                format!("An invoice in status {status} cannot be updated."),
                None,
            ));
        }
        let cur = currency_of(&inv)?;
        let mut merged = inv.clone();
        if let Some(d) = body.get("detail").and_then(Value::as_object) {
            for (k, v) in d {
                if k != "metadata" && k != "currency_code" {
                    merged["detail"][k] = v.clone();
                }
            }
        }
        for k in ["primary_recipients", "configuration", "items"] {
            if let Some(v) = body.get(k) {
                merged[k] = v.clone();
            }
        }
        let (amount, items) = totals(&merged, cur)?;
        let paid = paid_of(&merged, cur);
        if amount < paid {
            return Err(ApiError::unprocessable(
                "INVALID_AMOUNT",
                "The invoice total is less than the amount already paid.",
                Some("/items"),
            ));
        }
        merged["items"] = items;
        merged["amount"] = money(cur, amount);
        merged["due_amount"] = money(cur, amount - paid);
        merged["detail"]["metadata"]["last_update_time"] = json!(now);
        *self.invoice_mut(id)? = merged.clone();
        self.event(
            "INVOICING.INVOICE.UPDATED",
            "An invoice was updated",
            &merged,
        );
        Ok(merged)
    }

    /// `POST …/send`: a draft becomes SENT (or SCHEDULED when its invoice date
    /// is in the future); the payer's link.
    pub fn send_invoice(&mut self, id: &str) -> Result<Value, ApiError> {
        let today = self.now_text()[..10].to_string();
        let now = self.now_text();
        let inv = self.invoice_mut(id)?;
        if inv["status"] != "DRAFT" {
            return Err(ApiError::unprocessable(
                "INVALID_INVOICE_STATUS",
                format!(
                    "Only a draft invoice can be sent; this one is {}.",
                    inv["status"].as_str().unwrap_or_default()
                ),
                None,
            ));
        }
        let scheduled = inv["detail"]["invoice_date"]
            .as_str()
            .is_some_and(|d| d > today.as_str());
        inv["status"] = json!(if scheduled { "SCHEDULED" } else { "SENT" });
        inv["detail"]["metadata"]["last_update_time"] = json!(now);
        let link = inv["detail"]["metadata"]["recipient_view_url"].clone();
        let snapshot = inv.clone();
        if scheduled {
            self.event(
                "INVOICING.INVOICE.SCHEDULED",
                "An invoice was scheduled",
                &snapshot,
            );
        }
        Ok(json!({"href": link, "rel": "payer-view", "method": "GET"}))
    }

    /// `POST …/remind`: only an invoice the payer can still pay.
    pub fn remind_invoice(&mut self, id: &str) -> Result<(), ApiError> {
        let now = self.now_text();
        let inv = self.invoice_mut(id)?;
        let status = inv["status"].as_str().unwrap_or_default().to_string();
        if !OPEN.contains(&status.as_str()) || status == "SCHEDULED" {
            return Err(ApiError::unprocessable(
                "CANT_REMIND_INVOICE",
                format!("An invoice in status {status} cannot be reminded."),
                None,
            ));
        }
        inv["detail"]["metadata"]["last_update_time"] = json!(now);
        let n = inv["detail"]["metadata"]["reminders"].as_u64().unwrap_or(0);
        inv["detail"]["metadata"]["reminders"] = json!(n + 1);
        Ok(())
    }

    /// `POST …/cancel`: a sent, unpaid invoice becomes CANCELLED; a paid one is refused.
    pub fn cancel_invoice(&mut self, id: &str) -> Result<(), ApiError> {
        let now = self.now_text();
        let inv = self.invoice_mut(id)?;
        let status = inv["status"].as_str().unwrap_or_default().to_string();
        if !OPEN.contains(&status.as_str()) {
            return Err(ApiError::unprocessable(
                "CANT_CANCEL_INVOICE",
                format!("An invoice in status {status} cannot be cancelled."),
                None,
            ));
        }
        inv["status"] = json!("CANCELLED");
        inv["detail"]["metadata"]["last_update_time"] = json!(now);
        inv["detail"]["metadata"]["cancel_time"] = json!(now);
        let snapshot = inv.clone();
        self.event(
            "INVOICING.INVOICE.CANCELLED",
            "An invoice was cancelled",
            &snapshot,
        );
        Ok(())
    }

    /// `DELETE /v2/invoicing/invoices/{id}`: drafts and scheduled invoices only.
    pub fn delete_invoice(&mut self, id: &str) -> Result<(), ApiError> {
        let inv = self.invoice(id)?;
        let status = inv["status"].as_str().unwrap_or_default();
        if status != "DRAFT" && status != "SCHEDULED" {
            return Err(ApiError::invalid(
                "INVALID_INVOICE_STATUS",
                format!("Only a draft or scheduled invoice can be deleted; this one is {status}."),
                None,
            ));
        }
        self.invoices.retain(|i| i["id"] != id);
        Ok(())
    }

    /// A payment on an invoice: `method` PAYPAL (the payer, on PayPal) or a way
    /// of paying outside PayPal (recorded by the merchant, `EXTR-…`). `amount`
    /// defaults to the amount due; a part is allowed outside PayPal always, on
    /// PayPal when the invoice allows partial payments. Paid in full, the
    /// invoice becomes PAID (MARKED_AS_PAID outside PayPal) with
    /// `INVOICING.INVOICE.PAID`; in part PARTIALLY_PAID with
    /// `INVOICING.INVOICE.PARTIALLY_PAID`. Returns the payment id.
    pub fn pay(
        &mut self,
        id: &str,
        method: &str,
        amount: Option<&Value>,
        date: Option<&str>,
        note: Option<&str>,
    ) -> Result<String, ApiError> {
        let now = self.now_text();
        let inv = self.invoice(id)?.clone();
        let status = inv["status"].as_str().unwrap_or_default();
        if !OPEN.contains(&status) {
            return Err(ApiError::unprocessable(
                "INVALID_INVOICE_STATUS",
                format!("An invoice in status {status} cannot be paid."),
                None,
            ));
        }
        let cur = currency_of(&inv)?;
        let due = decimal_at(&inv["due_amount"]).unwrap_or_default();
        let amount = match amount {
            None | Some(Value::Null) => due,
            Some(v) => {
                if v.get("currency_code")
                    .and_then(Value::as_str)
                    .is_some_and(|c| c != cur.code())
                {
                    return Err(ApiError::unprocessable(
                        "CURRENCY_MISMATCH",
                        format!("The payment must be in {}.", cur.code()),
                        Some("/amount/currency_code"),
                    ));
                }
                decimal_at(v).ok_or_else(|| {
                    ApiError::invalid(
                        "INVALID_PARAMETER_VALUE",
                        "The amount is not a decimal.",
                        Some("/amount/value"),
                    )
                })?
            }
        };
        if amount <= Decimal::ZERO || amount > due {
            return Err(ApiError::unprocessable(
                "INVALID_PAYMENT_AMOUNT",
                format!("The payment must be more than 0 and at most the amount due ({due})."),
                Some("/amount"),
            ));
        }
        let external = method != "PAYPAL";
        let partial_allowed = inv["configuration"]["partial_payment"]["allow_partial_payment"]
            .as_bool()
            .unwrap_or(false);
        if amount < due && !external && !partial_allowed {
            return Err(ApiError::unprocessable(
                "PARTIAL_PAYMENT_NOT_ALLOWED",
                "The invoice does not allow partial payments.",
                Some("/amount"),
            ));
        }
        let payment_id = if external {
            self.new_id("EXTR-", 4).replace('-', "")
        } else {
            self.new_id("", 5).replace('-', "")
        };
        let paid = paid_of(&inv, cur) + amount;
        let full = amount == due;
        let new_status = match (full, external) {
            (true, false) => "PAID",
            (true, true) => "MARKED_AS_PAID",
            (false, _) => "PARTIALLY_PAID",
        };
        let inv = self.invoice_mut(id)?;
        let mut tx = json!({
            "payment_id": payment_id,
            "type": if external { "EXTERNAL" } else { "PAYPAL" },
            "method": method,
            "payment_date": date.map_or_else(|| now[..10].to_string(), str::to_string),
            "amount": money(cur, amount),
        });
        if let Some(n) = note {
            tx["note"] = json!(n);
        }
        let mut txs = inv["payments"]["transactions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        txs.push(tx);
        inv["payments"] = json!({"paid_amount": money(cur, paid), "transactions": txs});
        inv["due_amount"] = money(cur, due - amount);
        inv["status"] = json!(new_status);
        inv["detail"]["metadata"]["last_update_time"] = json!(now);
        let snapshot = inv.clone();
        if full {
            self.event("INVOICING.INVOICE.PAID", "An invoice was paid", &snapshot);
        } else {
            self.event(
                "INVOICING.INVOICE.PARTIALLY_PAID",
                "An invoice was partially paid",
                &snapshot,
            );
        }
        Ok(payment_id)
    }

    /// The merchant refunds a paid invoice (all of what was paid, or `amount`):
    /// REFUNDED or PARTIALLY_REFUNDED, with `INVOICING.INVOICE.REFUNDED`.
    pub fn refund(&mut self, id: &str, amount: Option<&Value>) -> Result<String, ApiError> {
        let now = self.now_text();
        let inv = self.invoice(id)?.clone();
        let status = inv["status"].as_str().unwrap_or_default();
        if ![
            "PAID",
            "MARKED_AS_PAID",
            "PARTIALLY_PAID",
            "PARTIALLY_REFUNDED",
        ]
        .contains(&status)
        {
            return Err(ApiError::unprocessable(
                "INVALID_INVOICE_STATUS",
                format!("An invoice in status {status} cannot be refunded."),
                None,
            ));
        }
        let cur = currency_of(&inv)?;
        let paid = paid_of(&inv, cur);
        let refunded = decimal_at(&inv["refunds"]["refund_amount"]).unwrap_or_default();
        let left = paid - refunded;
        let amount = match amount {
            None | Some(Value::Null) => left,
            Some(v) => decimal_at(v).ok_or_else(|| {
                ApiError::invalid(
                    "INVALID_PARAMETER_VALUE",
                    "The amount is not a decimal.",
                    Some("/amount/value"),
                )
            })?,
        };
        if amount <= Decimal::ZERO || amount > left {
            return Err(ApiError::unprocessable(
                "INVALID_REFUND_AMOUNT",
                format!("The refund must be more than 0 and at most {left}."),
                Some("/amount"),
            ));
        }
        let refund_id = self.new_id("", 5).replace('-', "");
        let inv = self.invoice_mut(id)?;
        let mut txs = inv["refunds"]["transactions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        txs.push(json!({"refund_id": refund_id, "type": "PAYPAL", "refund_date": &now[..10], "amount": money(cur, amount)}));
        inv["refunds"] =
            json!({"refund_amount": money(cur, refunded + amount), "transactions": txs});
        inv["status"] = json!(if amount == left {
            "REFUNDED"
        } else {
            "PARTIALLY_REFUNDED"
        });
        inv["detail"]["metadata"]["last_update_time"] = json!(now);
        let snapshot = inv.clone();
        self.event(
            "INVOICING.INVOICE.REFUNDED",
            "An invoice was refunded",
            &snapshot,
        );
        Ok(refund_id)
    }

    /// `POST /v2/invoicing/search-invoices`: the invoices matching the body's
    /// filters, newest first, a page of them.
    pub fn search(&self, filter: &Value, page: usize, page_size: usize, total: bool) -> Value {
        let s = |k: &str| filter.get(k).and_then(Value::as_str);
        let statuses: Vec<&str> = filter
            .get("status")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let in_range = |v: &Value, range: &str| -> bool {
            let Some(r) = filter.get(range) else {
                return true;
            };
            let d = v.as_str().unwrap_or_default();
            r.get("start")
                .and_then(Value::as_str)
                .is_none_or(|a| d >= a)
                && r.get("end").and_then(Value::as_str).is_none_or(|b| d <= b)
        };
        let hits: Vec<&Value> = self
            .invoices
            .iter()
            .rev()
            .filter(|i| {
                let d = &i["detail"];
                s("invoice_number").is_none_or(|n| d["invoice_number"] == n)
                    && s("reference").is_none_or(|n| d["reference"] == n)
                    && s("memo").is_none_or(|n| d["memo"] == n)
                    && s("currency_code").is_none_or(|n| d["currency_code"] == n)
                    && s("recipient_email").is_none_or(|n| {
                        i["primary_recipients"][0]["billing_info"]["email_address"] == n
                    })
                    && (statuses.is_empty()
                        || statuses.contains(&i["status"].as_str().unwrap_or_default()))
                    && in_range(&d["invoice_date"], "invoice_date_range")
                    && in_range(&d["payment_term"]["due_date"], "due_date_range")
            })
            .collect();
        let size = page_size.clamp(1, 100);
        let items: Vec<&Value> = hits
            .iter()
            .skip((page.max(1) - 1) * size)
            .take(size)
            .copied()
            .collect();
        let mut v = json!({"items": items, "links": []});
        if total {
            v["total_items"] = json!(hits.len());
            v["total_pages"] = json!(hits.len().div_ceil(size));
        }
        v
    }

    /// The next free invoice number after the last automatic one.
    pub fn next_number(&self) -> String {
        format!("{:04}", self.last_number + 1)
    }
}

/// PayPal's date-time text of a timestamp, to the second.
pub fn time_text(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// A Money object with the currency's number of decimals.
pub fn money(cur: Currency, mut d: Decimal) -> Value {
    d.rescale(cur.exponent());
    json!({"currency_code": cur.code(), "value": d.to_string()})
}

fn decimal_at(v: &Value) -> Option<Decimal> {
    match v.get("value").unwrap_or(v) {
        Value::String(s) => parse_decimal(s).ok(),
        Value::Number(n) => parse_decimal(&n.to_string()).ok(),
        _ => None,
    }
}

fn currency_of(inv: &Value) -> Result<Currency, ApiError> {
    inv["detail"]["currency_code"]
        .as_str()
        .and_then(|c| Currency::new(c).ok())
        .ok_or_else(ApiError::server)
}

fn paid_of(inv: &Value, _cur: Currency) -> Decimal {
    decimal_at(&inv["payments"]["paid_amount"]).unwrap_or_default()
}

/// The invoice total from its items (quantity × unit amount, plus each item's
/// tax percent), rounded to the currency; and the items with their amounts
/// checked. Every item must be in the invoice's currency.
fn totals(body: &Value, cur: Currency) -> Result<(Decimal, Value), ApiError> {
    let mut total = Decimal::ZERO;
    let items = body
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (n, item) in items.iter().enumerate() {
        let field = |f: &str| format!("/items/{n}/{f}");
        if item
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::invalid(
                "MISSING_REQUIRED_PARAMETER",
                "A required field / parameter is missing.",
                Some(&field("name")),
            ));
        }
        let qty = decimal_at(item.get("quantity").unwrap_or(&Value::Null)).ok_or_else(|| {
            ApiError::invalid(
                "INVALID_PARAMETER_VALUE",
                "The quantity is not a decimal.",
                Some(&field("quantity")),
            )
        })?;
        let unit = item.get("unit_amount").unwrap_or(&Value::Null);
        if unit["currency_code"].as_str() != Some(cur.code()) {
            return Err(ApiError::unprocessable(
                "CURRENCY_MISMATCH",
                format!(
                    "Every item must be priced in the invoice's currency {}.",
                    cur.code()
                ),
                Some(&field("unit_amount/currency_code")),
            ));
        }
        let price = decimal_at(unit).ok_or_else(|| {
            ApiError::invalid(
                "INVALID_PARAMETER_VALUE",
                "The unit amount is not a decimal.",
                Some(&field("unit_amount/value")),
            )
        })?;
        if price.normalize().scale() > cur.exponent() {
            return Err(ApiError::unprocessable(
                "DECIMAL_PRECISION",
                format!("{} takes at most {} decimals.", cur.code(), cur.exponent()),
                Some(&field("unit_amount/value")),
            ));
        }
        let mut line = qty * price;
        if let Some(p) = item.pointer("/tax/percent").and_then(decimal_at) {
            line += line * p / Decimal::ONE_HUNDRED;
        }
        total += line;
    }
    let total = total.round_dp(cur.exponent());
    Ok((total, Value::Array(items)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualClock;

    fn store() -> Store {
        let clock = VirtualClock::new(Timestamp::from_second(1_735_689_600).unwrap());
        Store::new(Arc::new(clock), "http://127.0.0.1:1".into())
    }

    fn draft(number: &str, value: &str) -> Value {
        json!({
            "detail": {"currency_code": "JPY", "invoice_number": number},
            "items": [{"name": "Box", "quantity": "3", "unit_amount": {"currency_code": "JPY", "value": value}}]
        })
    }

    #[test]
    fn totals_follow_the_items_and_numbers_are_unique() {
        let mut s = store();
        let inv = s.create_invoice(&draft("D-0001", "500")).unwrap();
        assert_eq!(
            inv["amount"],
            json!({"currency_code": "JPY", "value": "1500"})
        );
        assert_eq!(inv["status"], "DRAFT");
        assert!(inv["id"].as_str().unwrap().starts_with("INV2-"));
        let dup = s.create_invoice(&draft("D-0001", "1")).unwrap_err();
        assert_eq!(dup.status, 422);
        assert_eq!(dup.details[0].0, "DUPLICATE_INVOICE_NUMBER");
        let frac = s.create_invoice(&draft("D-0002", "1.5")).unwrap_err();
        assert_eq!(frac.details[0].0, "DECIMAL_PRECISION");
    }

    #[test]
    fn a_sent_invoice_is_paid_in_part_then_in_full_and_cannot_be_cancelled() {
        let mut s = store();
        let id = s.create_invoice(&draft("D-0001", "500")).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            s.remind_invoice(&id).unwrap_err().status,
            422,
            "a draft is not reminded"
        );
        s.send_invoice(&id).unwrap();
        assert_eq!(s.send_invoice(&id).unwrap_err().status, 422);
        let part = json!({"currency_code": "JPY", "value": "1000"});
        assert_eq!(
            s.pay(&id, "PAYPAL", Some(&part), None, None)
                .unwrap_err()
                .details[0]
                .0,
            "PARTIAL_PAYMENT_NOT_ALLOWED"
        );
        let ext = s
            .pay(&id, "BANK_TRANSFER", Some(&part), None, None)
            .unwrap();
        assert!(ext.starts_with("EXTR"));
        assert_eq!(s.invoice(&id).unwrap()["status"], "PARTIALLY_PAID");
        assert_eq!(s.invoice(&id).unwrap()["due_amount"]["value"], "500");
        s.pay(&id, "PAYPAL", None, None, None).unwrap();
        let inv = s.invoice(&id).unwrap();
        assert_eq!(inv["status"], "PAID");
        assert_eq!(inv["payments"]["paid_amount"]["value"], "1500");
        assert_eq!(
            s.cancel_invoice(&id).unwrap_err().details[0].0,
            "CANT_CANCEL_INVOICE"
        );
        let types: Vec<&str> = s
            .events
            .iter()
            .map(|e| e["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "INVOICING.INVOICE.CREATED",
                "INVOICING.INVOICE.PARTIALLY_PAID",
                "INVOICING.INVOICE.PAID"
            ]
        );
        assert_eq!(s.events[2]["resource"]["invoice"]["id"], id.as_str());
        s.refund(&id, None).unwrap();
        assert_eq!(s.invoice(&id).unwrap()["status"], "REFUNDED");
    }

    #[test]
    fn search_filters_by_status_and_number_and_pages() {
        let mut s = store();
        for n in 1..=3 {
            let id = s.create_invoice(&draft(&format!("D-000{n}"), "1")).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
            if n > 1 {
                s.send_invoice(&id).unwrap();
            }
        }
        let r = s.search(&json!({"status": ["SENT"]}), 1, 1, true);
        assert_eq!(r["total_items"], 2);
        assert_eq!(r["total_pages"], 2);
        assert_eq!(r["items"][0]["detail"]["invoice_number"], "D-0003");
        let r = s.search(&json!({"invoice_number": "D-0001"}), 1, 20, false);
        assert_eq!(r["items"].as_array().unwrap().len(), 1);
        assert!(r.get("total_items").is_none());
    }
}
