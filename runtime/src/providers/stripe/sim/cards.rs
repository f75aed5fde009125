//! Stripe's test cards: tokens (`tok_visa`…), payment methods (`pm_card_visa`…)
//! and raw numbers (`4242424242424242`…), with how each one behaves. Only the
//! brand and the last four digits are kept.

use serde_json::{Value, json};

/// Why a charge on a card fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decline {
    /// Stripe's `decline_code`, e.g. `generic_decline`.
    pub code: &'static str,
    pub message: &'static str,
}

const GENERIC: Decline = Decline {
    code: "generic_decline",
    message: "Your card was declined.",
};
const INSUFFICIENT: Decline = Decline {
    code: "insufficient_funds",
    message: "Your card has insufficient funds.",
};

/// A test card and its behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub brand: &'static str,
    pub last4: &'static str,
    /// Charges on it fail so.
    pub decline: Option<Decline>,
    /// Attaching it to a customer already fails (Stripe checks the card then);
    /// `tok_chargeCustomerFail` attaches fine and fails when charged.
    pub declines_on_attach: bool,
}

const fn card(
    brand: &'static str,
    last4: &'static str,
    decline: Option<Decline>,
    on_attach: bool,
) -> Card {
    Card {
        brand,
        last4,
        decline,
        declines_on_attach: on_attach,
    }
}

/// The card behind a test token, payment method or number.
pub fn lookup(name: &str) -> Option<Card> {
    let name = name
        .strip_prefix("pm_card_")
        .or_else(|| name.strip_prefix("tok_"))
        .unwrap_or(name);
    Some(match name {
        "visa" | "4242424242424242" => card("Visa", "4242", None, false),
        "visa_debit" | "4000056655665556" => card("Visa", "5556", None, false),
        "mastercard" | "5555555555554444" => card("MasterCard", "4444", None, false),
        "amex" | "378282246310005" => card("American Express", "0005", None, false),
        "chargeDeclined" | "4000000000000002" => card("Visa", "0002", Some(GENERIC), true),
        "chargeDeclinedInsufficientFunds" | "4000000000009995" => {
            card("Visa", "9995", Some(INSUFFICIENT), true)
        }
        "chargeCustomerFail" | "4000000000000341" => card("Visa", "0341", Some(GENERIC), false),
        _ => return None,
    })
}

/// The card an unknown number or token names: refused like Stripe does.
pub fn unknown(name: &str, param: &str) -> super::error::ApiError {
    if name.starts_with("tok_") {
        super::error::ApiError::no_such("token", name, param)
    } else if name.starts_with("pm_") {
        super::error::ApiError::no_such("PaymentMethod", name, param)
    } else if name.chars().all(|c| c.is_ascii_digit()) {
        super::error::ApiError::card_declined(
            "invalid_number",
            "Your card number is incorrect.",
            None,
        )
        .code("incorrect_number")
    } else {
        super::error::ApiError::no_such("source", name, param)
    }
}

impl Card {
    /// The `card` object Stripe keeps on a customer (`card_…`).
    pub fn source_object(&self, id: &str, customer: Option<&str>) -> Value {
        json!({
            "id": id,
            "object": "card",
            "brand": self.brand,
            "last4": self.last4,
            "exp_month": 12,
            "exp_year": 2034,
            "funding": "credit",
            "country": "US",
            "customer": customer,
            "cvc_check": "pass",
            "metadata": {},
        })
    }

    /// `payment_method_details` of a charge on it.
    pub fn details(&self) -> Value {
        json!({
            "type": "card",
            "card": {
                "brand": self.brand.to_ascii_lowercase().replace(' ', "_"),
                "last4": self.last4,
                "exp_month": 12,
                "exp_year": 2034,
                "funding": "credit",
                "country": "US",
            }
        })
    }
}
