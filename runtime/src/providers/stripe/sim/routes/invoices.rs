//! `/v1/invoiceitems` and `/v1/invoices`: create, finalize, send, pay, void,
//! retrieve. Totals come from the invoice's items: the customer's pending items
//! with `pending_invoice_items_behavior=include` (Stripe's default for this API
//! version is `exclude`), or items created with `invoice=in_…`.

use serde_json::{Value, json};

use super::super::error::ApiError;
use super::Ctx;
use super::charges::{ChargeSpec, Payer, charge, customer_payer, payer};

pub fn create_item(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&[
        "customer",
        "amount",
        "currency",
        "description",
        "invoice",
        "price",
        "quantity",
        "unit_amount",
        "discountable",
        "tax_behavior",
        "metadata",
    ])?;
    let customer = p.required_str("customer")?;
    cx.store.require("customer", &customer, "customer")?;
    let quantity = match p.int("quantity")? {
        Some(q) if q < 1 => {
            return Err(ApiError::invalid("Invalid quantity: must be at least 1").param("quantity"));
        }
        Some(q) => q,
        None => 1,
    };
    let (price, unit, currency) = match p.str("price")? {
        Some(price_id) => {
            let price = cx.store.require("price", &price_id, "price")?;
            let unit = price["unit_amount"].as_i64().unwrap_or(0);
            let currency = price["currency"].as_str().unwrap_or("usd").to_string();
            (price, unit, currency)
        }
        None => {
            let currency = p
                .currency("currency")?
                .ok_or_else(|| ApiError::missing("currency"))?;
            let unit = match (p.amount("amount")?, p.amount("unit_amount")?) {
                (Some(a), None) => a / quantity.max(1),
                (None, Some(u)) => u,
                (Some(_), Some(_)) => {
                    return Err(ApiError::invalid(
                        "You may only specify one of these parameters: amount, unit_amount.",
                    ));
                }
                (None, None) => return Err(ApiError::missing("amount")),
            };
            (Value::Null, unit, currency)
        }
    };
    let amount = match p.amount("amount")? {
        Some(a) if price.is_null() => a,
        _ => unit.saturating_mul(quantity),
    };
    let invoice = p.str("invoice")?;
    if let Some(inv) = &invoice {
        let i = cx.store.require("invoice", inv, "invoice")?;
        if i["status"] != "draft" {
            return Err(
                ApiError::invalid(format!("Invoice {inv} is no longer editable."))
                    .code("invoice_not_editable")
                    .param("invoice"),
            );
        }
        if i["customer"].as_str() != Some(customer.as_str()) {
            return Err(
                ApiError::invalid("The invoice belongs to another customer.").param("invoice"),
            );
        }
    }
    let id = cx.store.new_id("ii_");
    let now = cx.store.now();
    let item = json!({
        "id": id,
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer,
        "date": now,
        "description": p.str("description")?,
        "discountable": p.bool("discountable")?.unwrap_or(true),
        "discounts": [],
        "invoice": invoice,
        "livemode": false,
        "metadata": p.metadata()?.unwrap_or_default(),
        "period": {"end": now, "start": now},
        "price": price,
        "proration": false,
        "quantity": quantity,
        "subscription": null,
        "tax_rates": [],
        "test_clock": null,
        "unit_amount": unit,
        "unit_amount_decimal": unit.to_string(),
    });
    let item = cx.store.insert("invoiceitem", item);
    cx.store.emit("invoiceitem.created", &item, cx.key);
    if let Some(inv) = invoice {
        recompute(cx, &inv);
    }
    Ok(item)
}

/// Lines and totals of an invoice from its items.
fn recompute(cx: &mut Ctx, invoice: &str) {
    let items: Vec<Value> = cx
        .store
        .all("invoiceitem")
        .into_iter()
        .filter(|i| i["invoice"].as_str() == Some(invoice))
        .cloned()
        .collect();
    let total: i64 = items
        .iter()
        .map(|i| i["amount"].as_i64().unwrap_or(0))
        .sum();
    let lines: Vec<Value> = items
        .iter()
        .map(|i| {
            let id = i["id"].as_str().unwrap_or_default();
            json!({
                "id": format!("il_{}", id.trim_start_matches("ii_")),
                "object": "line_item",
                "amount": i["amount"],
                "amount_excluding_tax": i["amount"],
                "currency": i["currency"],
                "description": i["description"],
                "discountable": i["discountable"],
                "discounts": [],
                "invoice_item": id,
                "livemode": false,
                "metadata": i["metadata"],
                "period": i["period"],
                "price": i["price"],
                "proration": false,
                "quantity": i["quantity"],
                "type": "invoiceitem",
            })
        })
        .collect();
    let currency = items.first().map(|i| i["currency"].clone());
    cx.store.update(invoice, |inv| {
        inv["lines"]["data"] = json!(lines);
        for k in [
            "subtotal",
            "subtotal_excluding_tax",
            "total",
            "total_excluding_tax",
            "amount_due",
            "amount_remaining",
        ] {
            inv[k] = json!(total);
        }
        if let Some(c) = currency {
            inv["currency"] = c;
        }
    });
}

pub fn create(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&[
        "customer",
        "collection_method",
        "days_until_due",
        "due_date",
        "auto_advance",
        "pending_invoice_items_behavior",
        "currency",
        "description",
        "footer",
        "statement_descriptor",
        "default_payment_method",
        "metadata",
    ])?;
    let customer_id = p.required_str("customer")?;
    let customer = cx.store.require("customer", &customer_id, "customer")?;
    let method = p
        .str("collection_method")?
        .unwrap_or_else(|| "charge_automatically".into());
    if !["charge_automatically", "send_invoice"].contains(&method.as_str()) {
        return Err(
            ApiError::invalid(format!("Invalid collection_method: {method}"))
                .param("collection_method"),
        );
    }
    let now = cx.store.now();
    let days = p.int("days_until_due")?;
    let mut due_date = p.int("due_date")?;
    if method == "send_invoice" {
        match (days, due_date) {
            (None, None) => {
                return Err(ApiError::invalid(
                    "Missing required param: days_until_due or due_date (required with collection_method=send_invoice).",
                )
                .code("parameter_missing")
                .param("days_until_due"));
            }
            (Some(d), None) => due_date = Some(now + d * 86_400),
            _ => {}
        }
    } else if days.is_some() || due_date.is_some() {
        return Err(ApiError::invalid(
            "Invoices with collection_method=charge_automatically cannot have days_until_due or due_date.",
        )
        .param(if days.is_some() { "days_until_due" } else { "due_date" }));
    }
    let behavior = p
        .str("pending_invoice_items_behavior")?
        .unwrap_or_else(|| "exclude".into());
    if !["exclude", "include", "include_and_require"].contains(&behavior.as_str()) {
        return Err(ApiError::invalid(format!(
            "Invalid pending_invoice_items_behavior: {behavior}"
        ))
        .param("pending_invoice_items_behavior"));
    }
    let pending: Vec<String> = cx
        .store
        .all("invoiceitem")
        .into_iter()
        .filter(|i| i["customer"].as_str() == Some(&customer_id) && i["invoice"].is_null())
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .collect();
    if behavior == "include_and_require" && pending.is_empty() {
        return Err(ApiError::invalid("Nothing to invoice for customer")
            .code("invoice_no_customer_line_items")
            .param("customer"));
    }
    if let Some(pm) = p.str("default_payment_method")? {
        payer(cx, &pm, Some(&customer_id), "default_payment_method")?;
    }
    let id = cx.store.new_id("in_");
    let invoice = json!({
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "flowc simulator",
        "amount_due": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": null,
        "attempt_count": 0,
        "attempted": false,
        "auto_advance": p.bool("auto_advance")?.unwrap_or(false),
        "automatic_tax": {"enabled": false, "status": null},
        "billing_reason": "manual",
        "charge": null,
        "collection_method": method,
        "created": now,
        "currency": p.currency("currency")?.unwrap_or_else(|| "usd".into()),
        "custom_fields": null,
        "customer": customer_id,
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "default_payment_method": p.str("default_payment_method")?,
        "default_source": null,
        "default_tax_rates": [],
        "description": p.str("description")?,
        "discount": null,
        "discounts": [],
        "due_date": due_date,
        "ending_balance": null,
        "footer": p.str("footer")?,
        "hosted_invoice_url": null,
        "invoice_pdf": null,
    });
    // Two halves: one `json!` this large exceeds the macro recursion limit.
    let rest = json!({
        "lines": {"object": "list", "data": [], "has_more": false, "url": format!("/v1/invoices/{id}/lines")},
        "livemode": false,
        "metadata": p.metadata()?.unwrap_or_default(),
        "next_payment_attempt": null,
        "number": null,
        "paid": false,
        "paid_out_of_band": false,
        "payment_intent": null,
        "payment_settings": {"default_mandate": null, "payment_method_options": null, "payment_method_types": null},
        "period_end": now,
        "period_start": now,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": null,
        "starting_balance": 0,
        "statement_descriptor": p.str("statement_descriptor")?,
        "status": "draft",
        "status_transitions": {"finalized_at": null, "marked_uncollectible_at": null, "paid_at": null, "voided_at": null},
        "subscription": null,
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "tax": null,
        "test_clock": null,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_tax_amounts": [],
        "webhooks_delivered_at": now,
    });
    let mut invoice = invoice;
    if let (Value::Object(a), Value::Object(b)) = (&mut invoice, rest) {
        a.extend(b);
    }
    cx.store.insert("invoice", invoice);
    if behavior != "exclude" {
        for item in &pending {
            cx.store.update(item, |i| i["invoice"] = json!(id));
        }
    }
    recompute(cx, &id);
    let invoice = cx.store.require("invoice", &id, "invoice")?;
    cx.store.emit("invoice.created", &invoice, cx.key);
    Ok(invoice)
}

pub fn retrieve(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    cx.store.require("invoice", id, "invoice")
}

fn not_in(status: &str, what: &str, id: &str) -> ApiError {
    ApiError::invalid(format!(
        "You can only {what} an invoice that is {status}; invoice {id} is not."
    ))
    .code("invoice_not_editable")
}

/// draft -> open: a number, the hosted page; a zero invoice is paid at once.
fn finalize_now(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    let invoice = cx.store.require("invoice", id, "invoice")?;
    if invoice["status"] != "draft" {
        return Err(ApiError::invalid(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
        )
        .code("invoice_not_editable"));
    }
    let customer_id = invoice["customer"].as_str().unwrap_or_default().to_string();
    let customer = cx.store.require("customer", &customer_id, "customer")?;
    let seq = customer["next_invoice_sequence"].as_i64().unwrap_or(1);
    let number = format!(
        "{}-{seq:04}",
        customer["invoice_prefix"].as_str().unwrap_or("SIM")
    );
    cx.store.update(&customer_id, |c| {
        c["next_invoice_sequence"] = json!(seq + 1)
    });
    let now = cx.store.now();
    let base = cx.store.base_url.clone();
    let out = cx.store.update(id, |i| {
        i["status"] = json!("open");
        i["number"] = json!(number);
        i["hosted_invoice_url"] = json!(format!("{base}/i/{id}"));
        i["invoice_pdf"] = json!(format!("{base}/i/{id}/pdf"));
        i["status_transitions"]["finalized_at"] = json!(now);
        i["ending_balance"] = json!(0);
    });
    cx.store.emit("invoice.finalized", &out, cx.key);
    if out["amount_due"] == 0 {
        return Ok(mark_paid(cx, id, None, false));
    }
    Ok(out)
}

fn mark_paid(cx: &mut Ctx, id: &str, charge: Option<&str>, out_of_band: bool) -> Value {
    let now = cx.store.now();
    let out = cx.store.update(id, |i| {
        let due = i["amount_due"].clone();
        i["status"] = json!("paid");
        i["paid"] = json!(true);
        i["paid_out_of_band"] = json!(out_of_band);
        i["amount_paid"] = due;
        i["amount_remaining"] = json!(0);
        i["status_transitions"]["paid_at"] = json!(now);
        if let Some(c) = charge {
            i["charge"] = json!(c);
            i["attempted"] = json!(true);
            i["attempt_count"] = json!(i["attempt_count"].as_i64().unwrap_or(0) + 1);
        }
    });
    cx.store.emit("invoice.paid", &out, cx.key);
    if !out_of_band {
        cx.store.emit("invoice.payment_succeeded", &out, cx.key);
    }
    out
}

pub fn finalize(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    cx.params.only(&["auto_advance"])?;
    let auto = cx.params.bool("auto_advance")?;
    cx.store.require("invoice", id, "invoice")?;
    if let Some(a) = auto {
        cx.store.update(id, |i| i["auto_advance"] = json!(a));
    }
    finalize_now(cx, id)
}

pub fn send(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    cx.params.only(&[])?;
    let invoice = cx.store.require("invoice", id, "invoice")?;
    if !(invoice["status"] == "open" || invoice["status"] == "paid") {
        return Err(not_in("open", "send", id));
    }
    cx.store.emit("invoice.sent", &invoice, cx.key);
    Ok(invoice)
}

pub fn void(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    cx.params.only(&[])?;
    let invoice = cx.store.require("invoice", id, "invoice")?;
    if invoice["status"] != "open" && invoice["status"] != "uncollectible" {
        return Err(not_in("open", "void", id));
    }
    let now = cx.store.now();
    let out = cx.store.update(id, |i| {
        i["status"] = json!("void");
        i["status_transitions"]["voided_at"] = json!(now);
    });
    cx.store.emit("invoice.voided", &out, cx.key);
    Ok(out)
}

/// Pays an open invoice (a draft is finalized first) with `payer`, or the
/// customer's default card; `paid_out_of_band` marks it paid without a charge.
pub fn pay_with(
    cx: &mut Ctx,
    id: &str,
    chosen: Option<Payer>,
    out_of_band: bool,
) -> Result<Value, ApiError> {
    let invoice = cx.store.require("invoice", id, "invoice")?;
    let invoice = if invoice["status"] == "draft" {
        finalize_now(cx, id)?
    } else {
        invoice
    };
    match invoice["status"].as_str() {
        Some("open") => {}
        Some("paid") => {
            return Err(ApiError::invalid("Invoice is already paid")
                .code("invoice_payment_intent_requires_action")
                .param("invoice"));
        }
        _ => return Err(not_in("open", "pay", id)),
    }
    if out_of_band {
        return Ok(mark_paid(cx, id, None, true));
    }
    let customer = invoice["customer"].as_str().unwrap_or_default().to_string();
    let payer = match chosen {
        Some(p) => p,
        None => match invoice["default_payment_method"].as_str() {
            Some(pm) => payer(cx, pm, Some(&customer), "default_payment_method")?,
            None => customer_payer(cx, &customer)?,
        },
    };
    let spec = ChargeSpec {
        amount: invoice["amount_remaining"].as_i64().unwrap_or(0),
        currency: invoice["currency"].as_str().unwrap_or("usd").to_string(),
        customer: Some(customer),
        description: invoice["number"].as_str().map(|n| format!("Invoice {n}")),
        invoice: Some(id.to_string()),
        capture: true,
        ..ChargeSpec::default()
    };
    let (ch, error) = charge(cx, &spec, &payer);
    match error {
        None => Ok(mark_paid(cx, id, ch["id"].as_str(), false)),
        Some(e) => {
            let out = cx.store.update(id, |i| {
                i["attempted"] = json!(true);
                i["attempt_count"] = json!(i["attempt_count"].as_i64().unwrap_or(0) + 1);
                i["charge"] = ch["id"].clone();
            });
            cx.store.emit("invoice.payment_failed", &out, cx.key);
            Err(e)
        }
    }
}

pub fn pay(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&[
        "payment_method",
        "source",
        "paid_out_of_band",
        "off_session",
        "forgive",
        "mandate",
    ])?;
    p.bool("off_session")?;
    p.bool("forgive")?;
    let out_of_band = p.bool("paid_out_of_band")?.unwrap_or(false);
    let invoice = cx.store.require("invoice", id, "invoice")?;
    let customer = invoice["customer"].as_str().map(str::to_string);
    let chosen = match (p.str("payment_method")?, p.str("source")?) {
        (Some(pm), _) => Some(payer(cx, &pm, customer.as_deref(), "payment_method")?),
        (None, Some(s)) => Some(payer(
            cx,
            &s,
            customer.as_deref().filter(|_| s.starts_with("card_")),
            "source",
        )?),
        (None, None) => None,
    };
    pay_with(cx, id, chosen, out_of_band)
}
