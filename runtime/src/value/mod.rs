//! Values of data items: money, decimals, dates, era formatting, and the typed
//! schema that validates every input record before it touches state.

mod date;
mod money;
mod schema;

pub use date::{
    format_date, format_datetime, format_datetime_in, parse_date, parse_datetime, parse_duration,
};
pub use money::{Currency, Money, parse_decimal};
pub use rust_decimal::Decimal;
pub use schema::{DataSchema, FieldError, ItemDef, ValueType};

use std::fmt;

/// An error from a value operation (currency mismatch, bad literal, overflow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError(String);

impl ValueError {
    pub fn new(msg: impl Into<String>) -> ValueError {
        ValueError(msg.into())
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

/// `round(decimal, digits)`: half away from zero.
pub fn round(d: Decimal, digits: u32) -> Decimal {
    d.round_dp_with_strategy(digits, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

pub(crate) use schema::check_type as schema_check;
