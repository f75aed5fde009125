//! Money without floating point: an exact decimal amount and an ISO 4217 currency.
//!
//! Amounts are `rust_decimal::Decimal`, so `0.1 + 0.2 == 0.3` holds. Each currency
//! has its ISO 4217 exponent (JPY 0, EUR 2, KWD 3), which `minor_units` uses: the
//! integer amount a provider such as Stripe expects.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValueError;

/// An ISO 4217 currency code (three upper-case ASCII letters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const JPY: Currency = Currency(*b"JPY");
    pub const EUR: Currency = Currency(*b"EUR");
    pub const USD: Currency = Currency(*b"USD");
    pub const KWD: Currency = Currency(*b"KWD");

    /// Parses a code; lower case is accepted (`jpy`, as Stripe writes it).
    pub fn new(code: &str) -> Result<Currency, ValueError> {
        let b = code.trim().as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(ValueError::new(format!(
                "`{code}` is not a currency code (three letters, e.g. EUR)"
            )));
        }
        Ok(Currency([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }

    pub fn code(&self) -> &str {
        // Always ASCII letters, see `new`.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// The ISO 4217 exponent: digits after the decimal point in the minor unit.
    pub fn exponent(&self) -> u32 {
        match &self.0 {
            b"BIF" | b"CLP" | b"DJF" | b"GNF" | b"ISK" | b"JPY" | b"KMF" | b"KRW" | b"PYG"
            | b"RWF" | b"UGX" | b"UYI" | b"VND" | b"VUV" | b"XAF" | b"XOF" | b"XPF" => 0,
            b"BHD" | b"IQD" | b"JOD" | b"KWD" | b"LYD" | b"OMR" | b"TND" => 3,
            b"CLF" | b"UYW" => 4,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::new(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount of money in one currency.
///
/// Serialized as `{"amount": "12.50", "currency": "EUR"}` (the amount as a string,
/// never a JSON float).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    #[serde(with = "rust_decimal::serde::str")]
    amount: Decimal,
    currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// `money(decimal, "CUR")` of the flow language.
    pub fn of(amount: Decimal, currency: &str) -> Result<Money, ValueError> {
        Ok(Money::new(amount, Currency::new(currency)?))
    }

    /// From an integer amount in minor units: `from_minor_units(1250, EUR)` is 12.50 EUR.
    pub fn from_minor_units(units: i64, currency: Currency) -> Money {
        Money::new(Decimal::new(units, currency.exponent()), currency)
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    fn same_currency(&self, other: &Money, op: &str) -> Result<(), ValueError> {
        if self.currency != other.currency {
            return Err(ValueError::new(format!(
                "currency mismatch: cannot {op} {} and {}",
                self.currency, other.currency
            )));
        }
        Ok(())
    }

    pub fn checked_add(&self, other: &Money) -> Result<Money, ValueError> {
        self.same_currency(other, "add")?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or_else(|| ValueError::new("money overflow"))?;
        Ok(Money::new(amount, self.currency))
    }

    pub fn checked_sub(&self, other: &Money) -> Result<Money, ValueError> {
        self.same_currency(other, "subtract")?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or_else(|| ValueError::new("money overflow"))?;
        Ok(Money::new(amount, self.currency))
    }

    /// money × integer or decimal (exact; round with `minor_units` or `rounded`).
    pub fn checked_mul(&self, factor: Decimal) -> Result<Money, ValueError> {
        let amount = self
            .amount
            .checked_mul(factor)
            .ok_or_else(|| ValueError::new("money overflow"))?;
        Ok(Money::new(amount, self.currency))
    }

    /// Rounded to the currency's minor unit, half away from zero (commercial rounding).
    pub fn rounded(&self) -> Money {
        Money::new(
            self.amount.round_dp_with_strategy(
                self.currency.exponent(),
                RoundingStrategy::MidpointAwayFromZero,
            ),
            self.currency,
        )
    }

    /// The integer amount in minor units: 1.00 EUR -> 100, 100 JPY -> 100,
    /// 1.000 KWD -> 1000. An amount finer than the minor unit is rounded half
    /// away from zero.
    pub fn minor_units(&self) -> Result<i64, ValueError> {
        let scaled = self
            .rounded()
            .amount
            .checked_mul(Decimal::from(10i64.pow(self.currency.exponent())))
            .ok_or_else(|| ValueError::new("money overflow"))?;
        i64::try_from(scaled.trunc())
            .map_err(|_| ValueError::new(format!("{self} does not fit in minor units")))
    }

    /// Sum of amounts that share one currency; `None` for an empty list.
    pub fn sum<'a>(
        items: impl IntoIterator<Item = &'a Money>,
    ) -> Result<Option<Money>, ValueError> {
        let mut acc: Option<Money> = None;
        for m in items {
            acc = Some(match acc {
                None => *m,
                Some(a) => a.checked_add(m)?,
            });
        }
        Ok(acc)
    }
}

impl fmt::Display for Money {
    /// `12.50 EUR`, `1200 JPY`: at least the currency's exponent in digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut a = self.amount;
        if a.scale() < self.currency.exponent() {
            a.rescale(self.currency.exponent());
        }
        write!(f, "{a} {}", self.currency)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Money {
    type Err = ValueError;

    /// `"12.50 EUR"` or `"EUR 12.50"`.
    fn from_str(s: &str) -> Result<Money, ValueError> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let (num, cur) = match parts.as_slice() {
            [a, b] if b.chars().all(|c| c.is_ascii_alphabetic()) => (*a, *b),
            [a, b] if a.chars().all(|c| c.is_ascii_alphabetic()) => (*b, *a),
            _ => {
                return Err(ValueError::new(format!(
                    "`{s}` is not money (write it as `12.50 EUR`)"
                )));
            }
        };
        Ok(Money::new(parse_decimal(num)?, Currency::new(cur)?))
    }
}

/// Parses an exact decimal (`12.50`, `-3`, `1e3` is refused: no floats).
pub fn parse_decimal(s: &str) -> Result<Decimal, ValueError> {
    let t = s.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let plain = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
        && digits.chars().any(|c| c.is_ascii_digit());
    if !plain {
        return Err(ValueError::new(format!("`{s}` is not a decimal number")));
    }
    Decimal::from_str(t).map_err(|_| ValueError::new(format!("`{s}` is not a decimal number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        parse_decimal(s).unwrap()
    }

    #[test]
    fn minor_units_follow_the_currency_exponent() {
        assert_eq!(
            Money::of(d("1.00"), "EUR").unwrap().minor_units().unwrap(),
            100
        );
        assert_eq!(
            Money::of(d("12.5"), "eur").unwrap().minor_units().unwrap(),
            1250
        );
        assert_eq!(
            Money::of(d("100"), "JPY").unwrap().minor_units().unwrap(),
            100
        );
        assert_eq!(
            Money::of(d("1.000"), "KWD").unwrap().minor_units().unwrap(),
            1000
        );
        assert_eq!(
            Money::of(d("1.2345"), "KWD")
                .unwrap()
                .minor_units()
                .unwrap(),
            1235
        );
        assert_eq!(
            Money::of(d("0.005"), "EUR").unwrap().minor_units().unwrap(),
            1
        );
        assert_eq!(
            Money::of(d("-0.005"), "EUR")
                .unwrap()
                .minor_units()
                .unwrap(),
            -1
        );
        assert_eq!(
            Money::from_minor_units(1250, Currency::EUR).to_string(),
            "12.50 EUR"
        );
        assert_eq!(
            Money::from_minor_units(1250, Currency::JPY).to_string(),
            "1250 JPY"
        );
        assert_eq!(
            Money::from_minor_units(1250, Currency::KWD).to_string(),
            "1.250 KWD"
        );
    }

    #[test]
    fn arithmetic_is_exact_and_currency_checked() {
        let a = Money::of(d("0.1"), "EUR").unwrap();
        let b = Money::of(d("0.2"), "EUR").unwrap();
        assert_eq!(
            a.checked_add(&b).unwrap(),
            Money::of(d("0.3"), "EUR").unwrap()
        );
        let y = Money::of(d("100"), "JPY").unwrap();
        let err = a.checked_add(&y).unwrap_err().to_string();
        assert!(err.contains("currency mismatch"), "{err}");
        assert_eq!(
            Money::of(d("19.99"), "EUR")
                .unwrap()
                .checked_mul(Decimal::from(3))
                .unwrap()
                .to_string(),
            "59.97 EUR"
        );
        let vat = Money::of(d("10.00"), "EUR")
            .unwrap()
            .checked_mul(d("0.21"))
            .unwrap();
        assert_eq!(vat.rounded().to_string(), "2.10 EUR");
        let lines = [a, b, Money::of(d("1"), "EUR").unwrap()];
        assert_eq!(Money::sum(&lines).unwrap().unwrap().to_string(), "1.30 EUR");
        assert!(Money::sum(&[a, y]).is_err());
    }

    #[test]
    fn parse_and_serde() {
        let m: Money = "12.50 EUR".parse().unwrap();
        assert_eq!(m.minor_units().unwrap(), 1250);
        let m2: Money = "JPY 1200".parse().unwrap();
        assert_eq!(m2.currency(), Currency::JPY);
        assert!("12.50".parse::<Money>().is_err());
        assert!("1e3 EUR".parse::<Money>().is_err());
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(j, r#"{"amount":"12.50","currency":"EUR"}"#);
        let back: Money = serde_json::from_str(&j).unwrap();
        assert_eq!(back, m);
        assert!(Currency::new("EURO").is_err());
    }
}
