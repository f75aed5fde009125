//! A declined card is a result, not a failure of the call: Stripe answers a
//! charge attempt on a card the issuer refuses with HTTP 402 `card_error`, and
//! has created a failed charge all the same. For the actions that charge
//! (`create_charge`, `create_payment_intent` with `confirm`, `pay_invoice`) the
//! error becomes the answer of a failed charge, in the action's response shape,
//! so that the flow reads `${charge.status}` (`failed`; a PaymentIntent's
//! `requires_payment_method`; an invoice stays `open`) and
//! `${charge.failure_message}` and goes on to its dunning. The step succeeds,
//! and the idempotency ledger records the call as done: a repeat of the step
//! sends the same key, and Stripe replays the same decline.
//!
//! Every other action's card error (e.g. a declined card given to
//! `create_customer`) fails the step with Stripe's message.

use serde_json::{Value, json};

use super::errors::{ErrorKind, StripeError};

/// The actions whose declined card is a result.
pub const CHARGING_ACTIONS: [&str; 3] = ["create_charge", "create_payment_intent", "pay_invoice"];

/// The answer that stands for a declined card: the body the outputs are read
/// from, or the step's error message when the answer is not a decline of a
/// charging action.
pub fn answer(action: &str, inputs: &Value, status: u16, body: &str) -> Result<Value, String> {
    let e = StripeError::parse(status, body);
    if e.kind != ErrorKind::Card || !CHARGING_ACTIONS.contains(&action) {
        return Err(format!("HTTP {status}: {e}"));
    }
    let failure = json!({
        "failure_code": e.code,
        "failure_message": e.message,
        "decline_code": e.decline_code,
    });
    let pi_id = e
        .payment_intent
        .as_ref()
        .and_then(|p| p.get("id"))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(match action {
        "create_charge" => json!({
            "object": "charge",
            "id": e.charge,
            "status": "failed",
            "paid": false,
            "captured": false,
            "refunded": false,
            "customer": inputs.get("customer"),
            "description": inputs.get("description"),
            "failure_code": e.code,
            "failure_message": e.message,
            // A charge tells the issuer's decline code as its outcome's reason.
            "outcome": {"type": "issuer_declined", "reason": e.decline_code},
        }),
        "create_payment_intent" => {
            // Stripe sends the PaymentIntent itself (status
            // `requires_payment_method`, `last_payment_error`); without it the
            // error tells what is known.
            let mut pi = e.payment_intent.clone().unwrap_or_else(|| json!({}));
            if let Value::Object(o) = &mut pi {
                o.entry("status")
                    .or_insert_with(|| json!("requires_payment_method"));
                if e.charge.is_some() {
                    o.entry("latest_charge").or_insert_with(|| json!(e.charge));
                }
                o.entry("last_payment_error").or_insert_with(|| {
                    json!({"code": e.code, "message": e.message, "decline_code": e.decline_code})
                });
            }
            pi
        }
        // pay_invoice: the invoice stays open, the attempt's charge failed.
        _ => {
            let mut inv = json!({
                "object": "invoice",
                "id": inputs.get("invoice"),
                "status": "open",
                "paid": false,
                "charge": e.charge,
                "payment_intent": pi_id,
            });
            if let (Value::Object(o), Value::Object(f)) = (&mut inv, failure) {
                o.extend(f);
            }
            inv
        }
    })
}

/// The outputs of `pay_invoice` that only a decline tells (they have no `api`
/// path: an Invoice object has no such fields).
pub fn derived_output(name: &str, body: &Value) -> Option<Value> {
    match name {
        "failure_code" | "failure_message" | "decline_code" => body.get(name).cloned(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECLINED: &str = r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","charge":"ch_1"}}"#;

    #[test]
    fn a_declined_charge_is_a_failed_charge() {
        let a = answer(
            "create_charge",
            &json!({"customer": "cus_1"}),
            402,
            DECLINED,
        )
        .unwrap();
        assert_eq!(a["id"], "ch_1");
        assert_eq!(a["status"], "failed");
        assert_eq!(a["paid"], false);
        assert_eq!(a["failure_code"], "card_declined");
        assert_eq!(a["failure_message"], "Your card has insufficient funds.");
        assert_eq!(a["outcome"]["reason"], "insufficient_funds");
        assert_eq!(a["customer"], "cus_1");
    }

    #[test]
    fn a_declined_payment_intent_keeps_stripes_object() {
        let body = r#"{"error":{"type":"card_error","code":"card_declined","message":"Declined","charge":"ch_2",
            "payment_intent":{"id":"pi_1","status":"requires_payment_method","amount":500,
            "last_payment_error":{"code":"card_declined","decline_code":"generic_decline","message":"Declined"}}}}"#;
        let a = answer("create_payment_intent", &json!({}), 402, body).unwrap();
        assert_eq!(a["id"], "pi_1");
        assert_eq!(a["amount"], 500);
        assert_eq!(a["latest_charge"], "ch_2");
        assert_eq!(a["last_payment_error"]["decline_code"], "generic_decline");
        let a = answer("create_payment_intent", &json!({}), 402, DECLINED).unwrap();
        assert_eq!(a["status"], "requires_payment_method");
        assert_eq!(
            a["last_payment_error"]["decline_code"],
            "insufficient_funds"
        );
    }

    #[test]
    fn a_declined_invoice_payment_leaves_the_invoice_open() {
        let a = answer("pay_invoice", &json!({"invoice": "in_1"}), 402, DECLINED).unwrap();
        assert_eq!(a["id"], "in_1");
        assert_eq!(a["status"], "open");
        assert_eq!(a["charge"], "ch_1");
        assert_eq!(
            derived_output("decline_code", &a),
            Some(json!("insufficient_funds"))
        );
        assert_eq!(derived_output("id", &a), None);
    }

    #[test]
    fn other_actions_and_other_errors_fail() {
        let e = answer("create_customer", &json!({}), 402, DECLINED).unwrap_err();
        assert_eq!(
            e,
            "HTTP 402: Your card has insufficient funds. [insufficient_funds]"
        );
        let bad = r#"{"error":{"type":"invalid_request_error","message":"No such customer","param":"customer"}}"#;
        assert!(answer("create_charge", &json!({}), 400, bad).is_err());
    }
}
