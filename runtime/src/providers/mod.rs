//! What differs between providers: how a request body is encoded, how amounts,
//! decimals, currencies and datetimes look on the wire, auth and headers, which
//! header carries the idempotency key, and how an error body reads. One small
//! module per provider; [`Kind`] dispatches to them.

pub mod buckaroo;
pub mod paypal;
pub mod sim_faults;
pub mod sim_server;
pub mod stripe;
pub mod vipps;

use flowc_catalog::{Action, Unit};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::engine::Runtime;
use crate::flow::{ConnectionDef, SecretSource, StepError};
use crate::http::{ErrorClass, HttpRequest, RateLimit, Secret, resolve};
use crate::value::{Currency, Decimal, Money, parse_decimal};

/// How a request body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-www-form-urlencoded` with bracket keys (Stripe).
    Form,
    /// A JSON body built from dotted paths (PayPal, Vipps, Buckaroo's JSON gateway).
    Json,
}

/// A provider of the catalog that the runtime can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stripe,
    PayPal,
    Vipps,
    Buckaroo,
}

impl Kind {
    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "stripe" => Kind::Stripe,
            "paypal" => Kind::PayPal,
            "vipps" => Kind::Vipps,
            "buckaroo" => Kind::Buckaroo,
            _ => return None,
        })
    }

    pub fn encoding(self) -> Encoding {
        match self {
            Kind::Stripe => Encoding::Form,
            _ => Encoding::Json,
        }
    }

    /// A money value as the provider takes it in a request.
    pub fn money_out(self, m: &Money, unit: Option<Unit>) -> Result<Value, String> {
        let amount = amount_out(m, unit)?;
        Ok(match self {
            // Stripe sends the currency as its own parameter.
            Kind::Stripe | Kind::Buckaroo => amount,
            Kind::PayPal => json!({"currency_code": m.currency().code(), "value": amount}),
            Kind::Vipps => json!({"currency": m.currency().code(), "value": amount}),
        })
    }

    /// A money value of a response, in the runtime's shape `{"amount","currency"}`.
    pub fn money_in(self, v: &Value, unit: Option<Unit>) -> Option<Value> {
        let (amount, currency) = match self {
            Kind::PayPal => (v.get("value")?, v.get("currency_code")?.as_str()?),
            Kind::Vipps => (v.get("value")?, v.get("currency")?.as_str()?),
            Kind::Stripe | Kind::Buckaroo => return None,
        };
        let currency = Currency::new(&currency.to_ascii_uppercase()).ok()?;
        let amount = match (unit, amount) {
            (Some(Unit::MinorUnits), Value::Number(n)) => {
                Money::from_minor_units(n.as_i64()?, currency).amount()
            }
            (_, Value::String(s)) => parse_decimal(s).ok()?,
            (_, Value::Number(n)) => parse_decimal(&n.to_string()).ok()?,
            _ => return None,
        };
        Some(json!({"amount": amount.to_string(), "currency": currency.code()}))
    }

    /// A decimal (not money) in a request: PayPal and Vipps take strings, Buckaroo's
    /// JSON gateway numbers.
    pub fn decimal_out(self, d: Decimal) -> Value {
        match self {
            Kind::Buckaroo => {
                serde_json::Number::from_f64(d.to_string().parse::<f64>().unwrap_or_default())
                    .map_or(Value::Null, Value::Number)
            }
            _ => Value::String(d.to_string()),
        }
    }

    /// A currency code as the provider spells it (Stripe: lower case).
    pub fn currency_out(self, code: &str) -> String {
        match self {
            Kind::Stripe => code.to_ascii_lowercase(),
            _ => code.to_ascii_uppercase(),
        }
    }

    /// A datetime in a request: Stripe takes unix seconds, the others RFC 3339.
    pub fn datetime_out(self, t: Timestamp) -> Value {
        match self {
            Kind::Stripe => json!(t.as_second()),
            _ => Value::String(t.to_string()),
        }
    }

    /// The header that carries the idempotency key of a side-effecting action.
    pub fn idempotency_header(self, action: &Action) -> Option<&'static str> {
        match self {
            Kind::Stripe => Some("Idempotency-Key"),
            Kind::PayPal => Some("PayPal-Request-Id"),
            Kind::Vipps => Some(vipps::idempotency_header(action)),
            // Buckaroo deduplicates by invoice number, not by a header.
            Kind::Buckaroo => None,
        }
    }

    /// The longest idempotency key the provider takes for the action (what
    /// is longer is sent shortened: [`crate::http::fit_key`]).
    pub fn idempotency_key_max(self, action: &Action) -> Option<usize> {
        match self {
            Kind::Vipps => vipps::idempotency_key_max(action),
            _ => None,
        }
    }

    /// Reads the provider's message (and the field it is about) out of an error body.
    pub fn error_message(self) -> fn(&str) -> String {
        match self {
            Kind::Stripe => stripe::error_message,
            Kind::PayPal => paypal::error_message,
            Kind::Vipps => vipps::error_message,
            Kind::Buckaroo => buckaroo::error_message,
        }
    }

    /// The request budget of a connection in this mode when
    /// `FLOWC_<CONNECTION>_RATE_LIMIT` does not set one: Stripe's documented
    /// limits (25 requests/s in test mode, 100 live); none for the others.
    pub fn default_rate_limit(self, mode: &str) -> Option<RateLimit> {
        match (self, mode) {
            (Kind::Stripe, "live") => Some(RateLimit { per_second: 100.0 }),
            (Kind::Stripe, _) => Some(RateLimit { per_second: 25.0 }),
            _ => None,
        }
    }

    /// The provider's typed classification of error answers (Stripe's error
    /// types); `None` classifies by the HTTP status.
    pub fn error_class(self) -> Option<fn(u16, &str) -> ErrorClass> {
        match self {
            Kind::Stripe => Some(stripe::errors::classify_error),
            _ => None,
        }
    }

    /// An error answer the classifier handed to the action ([`ErrorClass::Answer`]):
    /// the body its outputs are read from (Stripe's declined card as a failed
    /// charge), or the step's error message.
    pub fn error_answer(
        self,
        action: &Action,
        inputs: &Value,
        status: u16,
        body: &str,
    ) -> Result<Value, String> {
        match self {
            Kind::Stripe => stripe::decline::answer(&action.name, inputs, status, body),
            _ => Err(format!("HTTP {status}: {}", (self.error_message())(body))),
        }
    }

    /// Parameters the runtime adds to every request of an action (Stripe's `expand[]`).
    pub fn extra_body(self, action: &Action, body: &mut Value) {
        match self {
            Kind::Stripe => stripe::add_expand(action, body),
            Kind::Buckaroo => buckaroo::extra_body(action, body),
            _ => {}
        }
    }

    /// Puts a response in the order the catalog's outputs read it (Vipps's
    /// transaction log newest first by time, not by position).
    pub fn normalize_response(self, action: &Action, body: &mut Value) {
        if self == Kind::Vipps && action.name == "get_payment_details" {
            vipps::details::newest_first(body);
        }
    }

    /// A successful HTTP status whose body still reports a failure (Buckaroo).
    pub fn check_response(self, body: &Value) -> Result<(), String> {
        match self {
            Kind::Buckaroo => buckaroo::check_response(body),
            _ => Ok(()),
        }
    }

    /// An output without an `api` path that the provider's response still tells.
    pub fn derived_output(self, name: &str, body: &Value) -> Option<Value> {
        match self {
            Kind::Buckaroo => buckaroo::derived_output(name, body),
            Kind::Stripe => stripe::decline::derived_output(name, body),
            _ => None,
        }
    }

    /// Whether the provider looks before repeating this action when an earlier
    /// attempt's outcome is unknown (it honours no idempotency key for it).
    pub fn looks_before_repeating(self, action: &Action) -> bool {
        match self {
            Kind::PayPal => paypal::exactly_once::guards(action),
            Kind::Vipps => vipps::exactly_once::guards(action),
            Kind::Stripe | Kind::Buckaroo => false,
        }
    }

    /// Sends an action's request: as it is, or (an action the provider looks
    /// before repeating) at most once in effect; `begun` is when an attempt
    /// whose outcome is unknown began.
    pub async fn send(
        self,
        rt: &Runtime,
        req: &HttpRequest,
        key: Option<&str>,
        action: &Action,
        begun: Option<Timestamp>,
    ) -> Result<crate::http::HttpResponse, StepError> {
        if self.looks_before_repeating(action) {
            return match self {
                Kind::Vipps => vipps::exactly_once::send(rt, req, key, begun).await,
                _ => paypal::exactly_once::send(rt, req, key, action, begun).await,
            };
        }
        rt.http.execute(req, key, rt).await
    }

    /// Adds auth and the provider's fixed headers to a request bound for `url`.
    pub fn authorize(
        self,
        rt: &Runtime,
        conn: &ConnectionDef,
        base_url: &str,
        req: HttpRequest,
    ) -> Result<HttpRequest, StepError> {
        match self {
            Kind::Stripe => stripe::authorize(conn, req),
            Kind::PayPal => paypal::authorize(conn, base_url, req),
            Kind::Vipps => vipps::authorize(conn, base_url, req),
            Kind::Buckaroo => buckaroo::authorize(rt, conn, req),
        }
    }
}

/// What the event layer reads of any provider's event: its id (for
/// deduplication), its type, and the id of the object it is about (what a
/// wait's `for` matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHead<'v> {
    /// `evt_…`, `WH-…`; made up of several fields for a provider whose events
    /// carry no id (a Buckaroo push: `push:<key>:<status code>`).
    pub id: std::borrow::Cow<'v, str>,
    /// `invoice.paid`, `INVOICING.INVOICE.PAID`.
    pub ty: &'v str,
    /// `in_…`, `INV2-…`.
    pub object_id: &'v str,
}

/// An amount per `unit`: integer minor units (the default) or a decimal string.
/// An amount finer than its currency allows is refused, never rounded.
pub fn amount_out(m: &Money, unit: Option<Unit>) -> Result<Value, String> {
    let exp = m.currency().exponent();
    if m.amount().normalize().scale() > exp {
        return Err(format!(
            "{m} has more decimals than {} allows ({exp})",
            m.currency()
        ));
    }
    Ok(match unit {
        Some(Unit::DecimalString) => {
            let mut d = m.amount();
            d.rescale(exp);
            Value::String(d.to_string())
        }
        _ => json!(m.minor_units().map_err(|e| e.to_string())?),
    })
}

/// A credential of a connection, by its catalog name.
pub fn credential(conn: &ConnectionDef, name: &str) -> Result<Secret, StepError> {
    resolve(credential_source(conn, name)?)
}

/// Where a credential of a connection comes from, by its catalog name.
pub fn credential_source<'c>(
    conn: &'c ConnectionDef,
    name: &str,
) -> Result<&'c SecretSource, StepError> {
    conn.credentials
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .ok_or_else(|| {
            StepError::Fatal(format!(
                "connection `{}` has no credential `{name}`",
                conn.name
            ))
        })
}

/// The first string among `keys` of a JSON error body.
pub(crate) fn first_string<'v>(v: &'v Value, pointers: &[&str]) -> Option<&'v str> {
    pointers
        .iter()
        .find_map(|p| v.pointer(p).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

/// The error body's text, shortened, when it has no message the provider module knows.
pub(crate) fn fallback(body: &str) -> String {
    crate::http::provider_message(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_follow_the_unit_and_the_currency_exponent() {
        let eur = Money::of("12.5".parse().unwrap(), "EUR").unwrap();
        let jpy = Money::of("1500".parse().unwrap(), "JPY").unwrap();
        let kwd = Money::of("1.234".parse().unwrap(), "KWD").unwrap();
        assert_eq!(amount_out(&eur, Some(Unit::MinorUnits)), Ok(json!(1250)));
        assert_eq!(amount_out(&jpy, None), Ok(json!(1500)));
        assert_eq!(amount_out(&kwd, None), Ok(json!(1234)));
        assert_eq!(
            amount_out(&eur, Some(Unit::DecimalString)),
            Ok(json!("12.50"))
        );
        let bad = Money::of("10.5".parse().unwrap(), "JPY").unwrap();
        assert!(
            amount_out(&bad, None)
                .unwrap_err()
                .contains("more decimals")
        );
        assert_eq!(
            Kind::PayPal.money_out(&eur, Some(Unit::DecimalString)),
            Ok(json!({"currency_code": "EUR", "value": "12.50"}))
        );
        assert_eq!(
            Kind::Vipps.money_out(&eur, Some(Unit::MinorUnits)),
            Ok(json!({"currency": "EUR", "value": 1250}))
        );
        assert_eq!(
            Kind::Vipps.money_in(
                &json!({"currency": "NOK", "value": 1250}),
                Some(Unit::MinorUnits)
            ),
            Some(json!({"amount": "12.50", "currency": "NOK"}))
        );
        assert_eq!(
            Kind::PayPal.money_in(&json!({"currency_code": "USD", "value": "3.00"}), None),
            Some(json!({"amount": "3.00", "currency": "USD"}))
        );
    }
}
