//! `/v1/payment_intents`: create (with `confirm=true` it charges at once) and retrieve.

use serde_json::{Value, json};

use super::super::error::ApiError;
use super::Ctx;
use super::charges::{ChargeSpec, charge, payer};

pub fn create(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&[
        "amount",
        "currency",
        "customer",
        "payment_method",
        "confirm",
        "off_session",
        "capture_method",
        "setup_future_usage",
        "automatic_payment_methods",
        "return_url",
        "description",
        "receipt_email",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "metadata",
        "payment_method_types",
    ])?;
    let amount = p
        .amount("amount")?
        .ok_or_else(|| ApiError::missing("amount"))?;
    let currency = p
        .currency("currency")?
        .ok_or_else(|| ApiError::missing("currency"))?;
    let customer = p.str("customer")?;
    if let Some(c) = &customer {
        cx.store.require("customer", c, "customer")?;
    }
    let capture_method = p
        .str("capture_method")?
        .unwrap_or_else(|| "automatic".into());
    if !["automatic", "automatic_async", "manual"].contains(&capture_method.as_str()) {
        return Err(
            ApiError::invalid(format!("Invalid capture_method: {capture_method}"))
                .param("capture_method"),
        );
    }
    let confirm = p.bool("confirm")?.unwrap_or(false);
    p.bool("off_session")?;
    let pm = p.str("payment_method")?;
    let found = match &pm {
        Some(name) => Some(payer(cx, name, customer.as_deref(), "payment_method")?),
        None => None,
    };
    if confirm && found.is_none() {
        return Err(ApiError::invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
        )
        .code("payment_intent_unexpected_state"));
    }
    let id = cx.store.new_id("pi_");
    let secret = format!("{id}_secret_sim");
    let status = match (&found, confirm) {
        (None, _) => "requires_payment_method",
        (Some(_), false) => "requires_confirmation",
        (Some(_), true) => "processing", // settled below
    };
    let mut intent = json!({
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": null,
        "automatic_payment_methods": p.0.get("automatic_payment_methods").map(|_| json!({"allow_redirects": "always", "enabled": true})),
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": capture_method,
        "client_secret": secret,
        "confirmation_method": "automatic",
        "created": cx.store.now(),
        "currency": currency,
        "customer": customer,
        "description": p.str("description")?,
        "invoice": null,
        "last_payment_error": null,
        "latest_charge": null,
        "livemode": false,
        "metadata": p.metadata()?.unwrap_or_default(),
        "next_action": null,
        "payment_method": pm.as_ref().map(|_| found.as_ref().map(|f| f.payment_method.clone())),
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "receipt_email": p.str("receipt_email")?,
        "setup_future_usage": p.str("setup_future_usage")?,
        "statement_descriptor": p.str("statement_descriptor")?,
        "statement_descriptor_suffix": p.str("statement_descriptor_suffix")?,
        "status": status,
    });
    let Some(payer) = found.filter(|_| confirm) else {
        let intent = cx.store.insert("payment_intent", intent);
        cx.store.emit("payment_intent.created", &intent, cx.key);
        return Ok(intent);
    };
    let spec = ChargeSpec {
        amount,
        currency,
        customer: intent["customer"].as_str().map(str::to_string),
        description: intent["description"].as_str().map(str::to_string),
        payment_intent: Some(id.clone()),
        receipt_email: intent["receipt_email"].as_str().map(str::to_string),
        statement_descriptor: intent["statement_descriptor"].as_str().map(str::to_string),
        capture: capture_method != "manual",
        metadata: intent["metadata"].as_object().cloned().unwrap_or_default(),
        invoice: None,
    };
    // The intent exists before its charge, as with Stripe.
    intent["status"] = json!("requires_payment_method");
    cx.store.insert("payment_intent", intent.clone());
    cx.store.emit("payment_intent.created", &intent, cx.key);
    let (ch, error) = charge(cx, &spec, &payer);
    let ch_id = ch["id"].clone();
    let now = cx.store.now();
    let intent_customer = customer;
    let intent = cx.store.update(&id, |i| {
        i["latest_charge"] = ch_id.clone();
        match &error {
            None if capture_method == "manual" => {
                i["status"] = json!("requires_capture");
                i["amount_capturable"] = json!(amount);
            }
            None => {
                i["status"] = json!("succeeded");
                i["amount_received"] = json!(amount);
            }
            Some(e) => {
                i["status"] = json!("requires_payment_method");
                i["last_payment_error"] = json!({
                    "charge": ch_id,
                    "code": e.code,
                    "decline_code": e.decline_code,
                    "message": e.message,
                    "payment_method": {
                        "id": payer.payment_method,
                        "object": "payment_method",
                        "billing_details": {"address": null, "email": null, "name": null, "phone": null},
                        "card": payer.card.details()["card"],
                        "created": now,
                        "customer": intent_customer,
                        "livemode": false,
                        "metadata": {},
                        "type": "card",
                    },
                    "type": "card_error",
                });
            }
        }
    });
    match error {
        None => {
            if intent["status"] == "succeeded" {
                cx.store.emit("payment_intent.succeeded", &intent, cx.key);
            } else {
                cx.store
                    .emit("payment_intent.amount_capturable_updated", &intent, cx.key);
            }
            Ok(intent)
        }
        Some(mut e) => {
            cx.store
                .emit("payment_intent.payment_failed", &intent, cx.key);
            // Stripe answers 402 and puts the intent in the error.
            e.payment_intent = Some(intent);
            Err(e)
        }
    }
}

pub fn retrieve(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    cx.store.require("payment_intent", id, "intent")
}
