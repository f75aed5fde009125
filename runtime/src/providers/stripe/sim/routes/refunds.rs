//! `/v1/refunds`: create for a charge or a payment intent, retrieve, list (with
//! `charge` and `payment_intent` filters).

use serde_json::{Value, json};

use super::super::error::ApiError;
use super::super::store::page;
use super::Ctx;

pub fn create(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&["charge", "payment_intent", "amount", "reason", "metadata"])?;
    let charge_id = match (p.str("charge")?, p.str("payment_intent")?) {
        (Some(c), _) => c,
        (None, Some(pi)) => {
            let intent = cx.store.require("payment_intent", &pi, "payment_intent")?;
            match intent["latest_charge"].as_str() {
                Some(c) if intent["status"] == "succeeded" => c.to_string(),
                _ => {
                    return Err(ApiError::invalid(format!(
                        "This PaymentIntent ({pi}) does not have a successful charge to refund."
                    ))
                    .code("charge_not_refundable")
                    .param("payment_intent"));
                }
            }
        }
        (None, None) => {
            return Err(ApiError::invalid("One of the following params should be provided for this request: payment_intent or charge.")
                .code("parameter_missing"));
        }
    };
    let charge = cx.store.require("charge", &charge_id, "charge")?;
    if charge["status"] != "succeeded" {
        return Err(ApiError::invalid(format!(
            "Charge {charge_id} has not succeeded and cannot be refunded."
        ))
        .code("charge_not_refundable")
        .param("charge"));
    }
    let total = charge["amount"].as_i64().unwrap_or(0);
    let done = charge["amount_refunded"].as_i64().unwrap_or(0);
    let left = total - done;
    if left <= 0 {
        return Err(
            ApiError::invalid(format!("Charge {charge_id} has already been refunded."))
                .code("charge_already_refunded")
                .param("charge"),
        );
    }
    let amount = p.amount("amount")?.unwrap_or(left);
    if amount == 0 || amount > left {
        return Err(ApiError::invalid(format!(
            "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
        ))
        .code("amount_too_large")
        .param("amount"));
    }
    let reason = p.str("reason")?;
    if let Some(r) = &reason
        && !["duplicate", "fraudulent", "requested_by_customer"].contains(&r.as_str())
    {
        return Err(ApiError::invalid(format!("Invalid reason: {r}")).param("reason"));
    }
    let id = cx.store.new_id("re_");
    let refund = json!({
        "id": id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": format!("txn_{}", &id[3..]),
        "charge": charge_id,
        "created": cx.store.now(),
        "currency": charge["currency"],
        "metadata": p.metadata()?.unwrap_or_default(),
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": null,
        "source_transfer_reversal": null,
        "status": "succeeded",
        "transfer_reversal": null,
    });
    let refund = cx.store.insert("refund", refund);
    let charge = cx.store.update(&charge_id, |c| {
        c["amount_refunded"] = json!(done + amount);
        c["refunded"] = json!(done + amount == total);
    });
    cx.store.emit("refund.created", &refund, cx.key);
    cx.store.emit("charge.refunded", &charge, cx.key);
    Ok(refund)
}

pub fn retrieve(cx: &mut Ctx, id: &str) -> Result<Value, ApiError> {
    cx.store.require("refund", id, "refund")
}

pub fn list(cx: &mut Ctx) -> Result<Value, ApiError> {
    let p = cx.params.clone();
    p.only(&[
        "charge",
        "payment_intent",
        "limit",
        "starting_after",
        "ending_before",
        "created",
    ])?;
    let charge = p.str("charge")?;
    let intent = p.str("payment_intent")?;
    let all = cx.store.all("refund");
    let keep = |r: &Value| {
        charge
            .as_deref()
            .is_none_or(|x| r["charge"].as_str() == Some(x))
            && intent
                .as_deref()
                .is_none_or(|x| r["payment_intent"].as_str() == Some(x))
    };
    page(&all, keep, &p, "/v1/refunds")
}
