//! `/v1/charges` (create with a customer or a source, retrieve, list) and the
//! charging itself, shared by payment intents and invoices.

use serde_json::{Map, Value, json};

use super::super::cards::{self, Card};
use super::super::error::ApiError;
use super::super::store::{Params, page};
use super::Ctx;

/// What to charge.
#[derive(Debug, Clone, Default)]
pub struct ChargeSpec {
    pub amount: i64,
    pub currency: String,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub invoice: Option<String>,
    pub payment_intent: Option<String>,
    pub receipt_email: Option<String>,
    pub statement_descriptor: Option<String>,
    pub capture: bool,
    pub metadata: Map<String, Value>,
}

/// A card to charge: the test card and the id shown as the charge's source.
#[derive(Debug, Clone)]
pub struct Payer {
    pub card: Card,
    pub source: Option<Value>,
    pub payment_method: String,
}

/// The payer behind a customer's card id, or a test token / payment method / number.
pub fn payer(cx: &Ctx, name: &str, customer: Option<&str>, param: &str) -> Result<Payer, ApiError> {
    if let Some(object) = cx.store.get("card", name) {
        if customer.is_some() && object["customer"].as_str() != customer {
            return Err(ApiError::no_such("source", name, param));
        }
        let card = cx
            .store
            .cards
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::no_such("source", name, param))?;
        return Ok(Payer {
            card,
            source: Some(object.clone()),
            payment_method: name.to_string(),
        });
    }
    let card = cards::lookup(name).ok_or_else(|| cards::unknown(name, param))?;
    let id = format!(
        "card_{}",
        name.trim_start_matches("tok_")
            .trim_start_matches("pm_card_")
    );
    Ok(Payer {
        source: Some(card.source_object(&id, None)),
        payment_method: if name.starts_with("pm_") {
            name.to_string()
        } else {
            id
        },
        card,
    })
}

/// The customer's payer: the invoice default payment method, else the default source.
pub fn customer_payer(cx: &Ctx, customer: &str) -> Result<Payer, ApiError> {
    let c = cx.store.require("customer", customer, "customer")?;
    let pm = c["invoice_settings"]["default_payment_method"].as_str();
    let source = c["default_source"].as_str();
    match pm.or(source) {
        Some(name) => payer(cx, name, Some(customer), "customer"),
        None => Err(
            ApiError::invalid("Cannot charge a customer that has no active card")
                .code("missing")
                .param("card"),
        ),
    }
}

/// Creates the charge (succeeded or failed), with its event. A decline gives the
/// stored failed charge and the 402 to answer.
pub fn charge(cx: &mut Ctx, spec: &ChargeSpec, payer: &Payer) -> (Value, Option<ApiError>) {
    let id = cx.store.new_id("ch_");
    let decline = payer.card.decline;
    let ok = decline.is_none();
    let base = cx.store.base_url.clone();
    let object = json!({
        "id": id,
        "object": "charge",
        "amount": spec.amount,
        "amount_captured": if ok && spec.capture { spec.amount } else { 0 },
        "amount_refunded": 0,
        "balance_transaction": if ok { json!(format!("txn_{}", &id[3..])) } else { Value::Null },
        "billing_details": {"address": null, "email": null, "name": null, "phone": null},
        "calculated_statement_descriptor": spec.statement_descriptor.clone().unwrap_or_else(|| "FLOWC SIM".into()),
        "captured": ok && spec.capture,
        "created": cx.store.now(),
        "currency": spec.currency,
        "customer": spec.customer,
        "description": spec.description,
        "disputed": false,
        "failure_balance_transaction": null,
        "failure_code": decline.map(|_| "card_declined"),
        "failure_message": decline.map(|d| d.message),
        "fraud_details": {},
        "invoice": spec.invoice,
        "livemode": false,
        "metadata": spec.metadata,
        "outcome": {
            "network_status": if ok { "approved_by_network" } else { "declined_by_network" },
            "reason": decline.map(|d| d.code),
            "risk_level": "normal",
            "seller_message": if ok { "Payment complete." } else { "The bank did not return any further details with this decline." },
            "type": if ok { "authorized" } else { "issuer_declined" },
        },
        "paid": ok,
        "payment_intent": spec.payment_intent,
        "payment_method": payer.payment_method,
        "payment_method_details": payer.card.details(),
        "receipt_email": spec.receipt_email,
        "receipt_number": null,
        "receipt_url": format!("{base}/receipts/{id}"),
        "refunded": false,
        "review": null,
        "shipping": null,
        "source": payer.source,
        "statement_descriptor": spec.statement_descriptor,
        "statement_descriptor_suffix": null,
        "status": if ok { "succeeded" } else { "failed" },
    });
    let object = cx.store.insert("charge", object);
    cx.store.emit(
        if ok {
            "charge.succeeded"
        } else {
            "charge.failed"
        },
        &object,
        cx.key,
    );
    let error = decline.map(|d| ApiError::card_declined(d.code, d.message, Some(&id)));
    (object, error)
}

fn spec_from(p: &Params) -> Result<ChargeSpec, ApiError> {
    Ok(ChargeSpec {
        amount: p
            .amount("amount")?
            .ok_or_else(|| ApiError::missing("amount"))?,
        currency: p
            .currency("currency")?
            .ok_or_else(|| ApiError::missing("currency"))?,
        customer: p.str("customer")?,
        description: p.str("description")?,
        receipt_email: p.str("receipt_email")?,
        statement_descriptor: p.str("statement_descriptor")?,
        capture: p.bool("capture")?.unwrap_or(true),
        metadata: p.metadata()?.unwrap_or_default(),
        ..ChargeSpec::default()
    })
}

pub fn create(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&[
        "amount",
        "currency",
        "customer",
        "source",
        "description",
        "receipt_email",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "capture",
        "metadata",
    ])?;
    let spec = spec_from(&p)?;
    if spec.amount < 50 {
        return Err(ApiError::invalid("Amount must be at least 50 cents")
            .code("amount_too_small")
            .param("amount"));
    }
    let payer = match (p.0.get("source"), spec.customer.as_deref()) {
        (Some(Value::String(s)), customer) => {
            if let Some(c) = customer {
                cx.store.require("customer", c, "customer")?;
            }
            payer(cx, s, customer.filter(|_| s.starts_with("card_")), "source")?
        }
        // A raw card hash: `source[number]=4242…`.
        (Some(Value::Object(card)), _) => {
            let number = card
                .get("number")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::missing("source[number]"))?;
            let number: String = number.chars().filter(|c| !c.is_whitespace()).collect();
            payer(cx, &number, None, "source[number]")?
        }
        (Some(_), _) => return Err(ApiError::invalid("Invalid source").param("source")),
        (None, Some(c)) => customer_payer(cx, c)?,
        (None, None) => {
            return Err(ApiError::invalid("Must provide source or customer.").code("missing"));
        }
    };
    let (object, error) = charge(cx, &spec, &payer);
    match error {
        Some(e) => Err(e),
        None => Ok(object),
    }
}

pub fn retrieve(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    cx.store.require("charge", id, "id")
}

pub fn list(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&[
        "customer",
        "payment_intent",
        "limit",
        "starting_after",
        "ending_before",
        "created",
    ])?;
    let customer = p.str("customer")?;
    let intent = p.str("payment_intent")?;
    let all = cx.store.all("charge");
    let keep = |c: &Value| {
        customer
            .as_deref()
            .is_none_or(|x| c["customer"].as_str() == Some(x))
            && intent
                .as_deref()
                .is_none_or(|x| c["payment_intent"].as_str() == Some(x))
    };
    page(&all, keep, &p, "/v1/charges")
}
