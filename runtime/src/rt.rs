//! Small helpers that flowc's generated code calls: one function per
//! operation of the flow language, so that the generated code stays thin and
//! every check (currency, overflow, missing values) lives here, compiled once.
//!
//! Not a stable API: only generated code should use it.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::flow::StepError;
use crate::value::{Decimal, Money, ValueError, parse_date, parse_datetime, parse_decimal};

pub use jiff;
pub use serde;
pub use serde_json;

/// Step results kept in the data: `"step.field"` -> JSON.
pub type Results = BTreeMap<String, Value>;

fn fatal(e: ValueError) -> StepError {
    e.into()
}

fn overflow(op: &str) -> StepError {
    StepError::Fatal(format!("arithmetic overflow in `{op}`"))
}

/// The value of an optional data item; a fatal error when it has none.
pub fn value<T: Clone>(v: &Option<T>, name: &str) -> Result<T, StepError> {
    v.clone()
        .ok_or_else(|| StepError::Fatal(format!("`{name}` has no value")))
}

/// `coalesce(a, b)`: `a` when it has a value, else `b`.
pub fn coalesce<T>(
    v: Option<T>,
    fallback: impl FnOnce() -> Result<T, StepError>,
) -> Result<T, StepError> {
    match v {
        Some(v) => Ok(v),
        None => fallback(),
    }
}

/// A date (midnight UTC) or a datetime, as the instant a timer waits for.
pub trait Instant {
    fn instant(&self) -> Result<Timestamp, StepError>;
}

impl Instant for Timestamp {
    fn instant(&self) -> Result<Timestamp, StepError> {
        Ok(*self)
    }
}

impl Instant for Date {
    fn instant(&self) -> Result<Timestamp, StepError> {
        self.to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| StepError::Fatal(format!("date out of range: {e}")))
    }
}

/// `timer: until <date or datetime>`.
pub fn until<T: Instant + Copy>(t: T) -> Result<Timestamp, StepError> {
    t.instant()
}

/// `env.NAME`.
pub fn env(name: &str) -> Result<String, StepError> {
    crate::http::env_var(name)
        .ok_or_else(|| StepError::Fatal(format!("environment variable `{name}` is not set")))
}

/// A decimal literal.
pub fn dec(text: &str) -> Result<Decimal, StepError> {
    parse_decimal(text).map_err(fatal)
}

/// `date("2025-03-13")`.
pub fn date(text: &str) -> Result<Date, StepError> {
    parse_date(text).map_err(fatal)
}

/// `datetime("2025-03-13T09:00:00Z")`.
pub fn datetime(text: &str) -> Result<Timestamp, StepError> {
    parse_datetime(text).map_err(fatal)
}

/// `days(n)`.
pub fn days(n: i64) -> Result<Duration, StepError> {
    let n = u64::try_from(n).map_err(|_| StepError::Fatal(format!("days({n}): negative")))?;
    n.checked_mul(86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| overflow("days"))
}

/// A duration as the flow language writes it, in its largest whole unit
/// (`2w`, `1d`, `90m`, `45s`).
pub fn duration_text(d: Duration) -> String {
    let secs = d.as_secs();
    let units = [(604_800, 'w'), (86_400, 'd'), (3_600, 'h'), (60, 'm')];
    match units
        .iter()
        .find(|(n, _)| secs > 0 && secs.is_multiple_of(*n))
    {
        Some((n, unit)) => format!("{}{unit}", secs / n),
        None => format!("{secs}s"),
    }
}

/// `duration * integer`: a negative factor or an overflow is an error.
pub fn scale_duration(d: Duration, n: i64) -> Result<Duration, StepError> {
    u32::try_from(n)
        .ok()
        .and_then(|n| d.checked_mul(n))
        .ok_or_else(|| overflow("*"))
}

/// Integer arithmetic with overflow checks: `op` is `+ - * / %`.
pub fn int(op: char, a: i64, b: i64) -> Result<i64, StepError> {
    let r = match op {
        '+' => a.checked_add(b),
        '-' => a.checked_sub(b),
        '*' => a.checked_mul(b),
        '/' => a.checked_div(b),
        _ => a.checked_rem(b),
    };
    r.ok_or_else(|| overflow(&op.to_string()))
}

/// Decimal arithmetic with overflow and division checks.
pub fn decimal(op: char, a: Decimal, b: Decimal) -> Result<Decimal, StepError> {
    let r = match op {
        '+' => a.checked_add(b),
        '-' => a.checked_sub(b),
        '*' => a.checked_mul(b),
        '/' => a.checked_div(b),
        _ => a.checked_rem(b),
    };
    r.ok_or_else(|| overflow(&op.to_string()))
}

/// `money + money`, `money - money`: the currencies must agree.
pub fn money(op: char, a: Money, b: Money) -> Result<Money, StepError> {
    match op {
        '+' => a.checked_add(&b),
        _ => a.checked_sub(&b),
    }
    .map_err(fatal)
}

/// `money * number`, `money / number`.
pub fn money_scale(op: char, a: Money, factor: Decimal) -> Result<Money, StepError> {
    match op {
        '*' => a.checked_mul(factor).map_err(fatal),
        _ => {
            let amount = a
                .amount()
                .checked_div(factor)
                .ok_or_else(|| overflow("/"))?;
            Ok(Money::new(amount, a.currency()))
        }
    }
}

/// `-money`.
pub fn money_neg(a: Money) -> Money {
    Money::new(-a.amount(), a.currency())
}

/// `minor_units(money)`: 12.50 EUR -> 1250, 100 JPY -> 100.
pub fn minor_units(m: Money) -> Result<i64, StepError> {
    m.minor_units().map_err(fatal)
}

/// `money(amount, "CUR")`.
pub fn money_of(amount: Decimal, currency: &str) -> Result<Money, StepError> {
    Money::of(amount, currency).map_err(fatal)
}

/// `currency(money)`.
pub fn currency(m: Money) -> String {
    m.currency().code().to_string()
}

/// A date or a datetime moved by a duration.
pub trait Shift: Sized {
    fn shift(self, d: Duration, forward: bool) -> Result<Self, StepError>;
    /// `self - other` as a duration (zero when negative).
    fn since(self, other: Self) -> Duration;
}

impl Shift for Date {
    fn shift(self, d: Duration, forward: bool) -> Result<Date, StepError> {
        let days = i64::try_from(d.as_secs() / 86_400).map_err(|_| overflow("date"))?;
        let days = if forward { days } else { -days };
        self.checked_add(jiff::Span::new().days(days))
            .map_err(|e| StepError::Fatal(format!("date out of range: {e}")))
    }
    fn since(self, other: Date) -> Duration {
        let days = (self - other).get_days().max(0);
        Duration::from_secs(u64::try_from(days).unwrap_or(0) * 86_400)
    }
}

impl Shift for Timestamp {
    fn shift(self, d: Duration, forward: bool) -> Result<Timestamp, StepError> {
        let span = jiff::SignedDuration::try_from(d).map_err(|_| overflow("datetime"))?;
        let r = if forward {
            self.checked_add(span)
        } else {
            self.checked_sub(span)
        };
        r.map_err(|e| StepError::Fatal(format!("datetime out of range: {e}")))
    }
    fn since(self, other: Timestamp) -> Duration {
        self.duration_since(other).try_into().unwrap_or_default()
    }
}

/// `date + duration`, `datetime - duration`.
pub fn shift<T: Shift>(t: T, d: Duration, forward: bool) -> Result<T, StepError> {
    t.shift(d, forward)
}

/// `date - date`.
pub fn since<T: Shift>(a: T, b: T) -> Duration {
    a.since(b)
}

/// Ordering of two values of one type; money only within one currency.
pub trait Compare {
    fn compare(&self, other: &Self) -> Result<Ordering, StepError>;
}

macro_rules! compare_ord {
    ($($t:ty),*) => {$(
        impl Compare for $t {
            fn compare(&self, other: &Self) -> Result<Ordering, StepError> {
                Ok(self.cmp(other))
            }
        }
    )*};
}
compare_ord!(i64, bool, String, Date, Timestamp, Duration, Decimal);

impl Compare for Money {
    fn compare(&self, other: &Money) -> Result<Ordering, StepError> {
        if self.currency() != other.currency() {
            return Err(StepError::Fatal(format!(
                "currency mismatch: cannot compare {self} and {other}"
            )));
        }
        Ok(self.amount().cmp(&other.amount()))
    }
}

impl Compare for Value {
    fn compare(&self, other: &Value) -> Result<Ordering, StepError> {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => Ok(a
                .as_f64()
                .partial_cmp(&b.as_f64())
                .unwrap_or(Ordering::Equal)),
            (Value::String(a), Value::String(b)) => Ok(a.cmp(b)),
            _ => Err(StepError::Fatal(format!(
                "cannot compare {self} and {other}"
            ))),
        }
    }
}

/// `a < b` and friends: `Ordering` of two values.
pub fn cmp<T: Compare>(a: &T, b: &T) -> Result<Ordering, StepError> {
    a.compare(b)
}

/// `a == b` (money of different currencies is not equal).
pub fn eq<A: PartialEq<B>, B>(a: &A, b: &B) -> bool {
    a == b
}

/// Text of a value in a template: strings as they are, JSON strings unquoted.
pub fn text<T: Display>(v: &T) -> String {
    v.to_string()
}

/// Text of a JSON value: a string without quotes, anything else as JSON.
pub fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A value as JSON (request bodies, step results).
pub fn json<T: Serialize>(v: &T) -> Result<Value, StepError> {
    serde_json::to_value(v).map_err(|e| StepError::Fatal(format!("cannot encode a value: {e}")))
}

/// A JSON object from fields in order (request bodies, action inputs).
pub fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// Reads a value out of JSON (`path` goes into nested objects).
pub fn from_json<T: DeserializeOwned>(
    v: &Value,
    what: &str,
    path: &[&str],
) -> Result<T, StepError> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p).unwrap_or(&Value::Null);
    }
    serde_json::from_value(cur.clone()).map_err(|e| StepError::Fatal(format!("`{what}`: {e}")))
}

/// A saved step result: `results["step.field"]`, then `path`.
pub fn result<T: DeserializeOwned>(
    results: &Results,
    key: &str,
    path: &[&str],
) -> Result<T, StepError> {
    let v = results.get(key).unwrap_or(&Value::Null);
    from_json(v, key, path)
}

/// The rows of a table item, present or not.
pub trait Rows<R> {
    fn rows(&self) -> &[R];
    fn rows_mut(&mut self) -> &mut [R];
}

impl<R> Rows<R> for Vec<R> {
    fn rows(&self) -> &[R] {
        self
    }
    fn rows_mut(&mut self) -> &mut [R] {
        self
    }
}

impl<R> Rows<R> for Option<Vec<R>> {
    fn rows(&self) -> &[R] {
        self.as_deref().unwrap_or_default()
    }
    fn rows_mut(&mut self) -> &mut [R] {
        self.as_deref_mut().unwrap_or_default()
    }
}

/// How many rows a `for_each` runs over.
pub fn count<R>(table: &impl Rows<R>) -> usize {
    table.rows().len()
}

/// The current row of a `for_each` (`index` from `cx.loop_indices()`).
pub fn row<R>(table: &impl Rows<R>, index: usize) -> Result<&R, StepError> {
    table
        .rows()
        .get(index)
        .ok_or_else(|| StepError::Fatal(format!("loop row {index} is gone")))
}

/// The current row, to assign a column of it.
pub fn row_mut<R>(table: &mut impl Rows<R>, index: usize) -> Result<&mut R, StepError> {
    table
        .rows_mut()
        .get_mut(index)
        .ok_or_else(|| StepError::Fatal(format!("loop row {index} is gone")))
}

/// The index of the `for_each` at nesting `depth` (0 = outermost).
pub fn loop_index(indices: &[usize], depth: usize) -> usize {
    indices.get(depth).copied().unwrap_or(0)
}

/// What `sum(table.column)` adds up.
pub trait Sum: Sized {
    fn sum(items: Vec<Self>) -> Result<Self, StepError>;
}

impl Sum for i64 {
    fn sum(items: Vec<i64>) -> Result<i64, StepError> {
        items
            .into_iter()
            .try_fold(0i64, |a, b| a.checked_add(b))
            .ok_or_else(|| overflow("sum"))
    }
}

impl Sum for Decimal {
    fn sum(items: Vec<Decimal>) -> Result<Decimal, StepError> {
        items
            .into_iter()
            .try_fold(Decimal::ZERO, |a, b| a.checked_add(b))
            .ok_or_else(|| overflow("sum"))
    }
}

impl Sum for Money {
    fn sum(items: Vec<Money>) -> Result<Money, StepError> {
        let mut it = items.into_iter();
        let first = it
            .next()
            .ok_or_else(|| StepError::Fatal("sum of no amounts has no currency".into()))?;
        it.try_fold(first, |a, b| a.checked_add(&b)).map_err(fatal)
    }
}

/// `sum(table.column)`.
pub fn sum<T: Sum>(items: Vec<T>) -> Result<T, StepError> {
    T::sum(items)
}

/// What `len` counts.
pub trait Len {
    fn count(&self) -> usize;
}

impl Len for String {
    fn count(&self) -> usize {
        self.chars().count()
    }
}

impl<R> Len for Vec<R> {
    fn count(&self) -> usize {
        self.len()
    }
}

/// `len(table or string)`.
pub fn len<T: Len>(v: &T) -> i64 {
    i64::try_from(v.count()).unwrap_or(i64::MAX)
}

/// A date or a datetime to format.
pub trait FormatDate {
    fn format(&self, fmt: &str) -> Result<String, ValueError>;
}

impl FormatDate for Date {
    fn format(&self, fmt: &str) -> Result<String, ValueError> {
        crate::value::format_date(*self, fmt)
    }
}

impl FormatDate for Timestamp {
    fn format(&self, fmt: &str) -> Result<String, ValueError> {
        crate::value::format_datetime(*self, fmt)
    }
}

/// `format_date(d, "era_ja")`.
pub fn format_date<T: FormatDate + Copy>(d: T, fmt: &str) -> Result<String, StepError> {
    d.format(fmt).map_err(fatal)
}

/// `round(decimal, digits)`.
pub fn round(d: Decimal, digits: i64) -> Decimal {
    crate::value::round(d, u32::try_from(digits.clamp(0, 28)).unwrap_or(0))
}

/// `integer` where a `decimal` is wanted.
pub fn widen(n: i64) -> Decimal {
    Decimal::from(n)
}

/// The retry policy of a step (`retry { … }`), the runtime's defaults filling gaps.
pub fn retry(
    max_attempts: Option<i64>,
    backoff: Option<Duration>,
    max_backoff: Option<Duration>,
) -> crate::retry::RetryPolicy {
    let d = crate::retry::RetryPolicy::default();
    crate::retry::RetryPolicy {
        max_attempts: max_attempts
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(d.max_attempts),
        backoff: backoff.unwrap_or(d.backoff),
        max_backoff: max_backoff.unwrap_or(d.max_backoff),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_checks_currency() {
        let a = Money::of(Decimal::new(1250, 2), "EUR").unwrap();
        let b = Money::of(Decimal::new(100, 0), "JPY").unwrap();
        assert!(money('+', a, b).is_err());
        assert_eq!(minor_units(money('+', a, a).unwrap()).unwrap(), 2500);
        assert!(cmp(&a, &b).is_err());
    }

    #[test]
    fn durations_read_as_written() {
        let text = |s: u64| duration_text(Duration::from_secs(s));
        assert_eq!(
            [
                text(1_209_600),
                text(86_400),
                text(93_600),
                text(5_400),
                text(45),
                text(0)
            ],
            ["2w", "1d", "26h", "90m", "45s", "0s"]
        );
        assert_eq!(
            scale_duration(Duration::from_secs(60), 3)
                .unwrap()
                .as_secs(),
            180
        );
        assert!(scale_duration(Duration::from_secs(60), -1).is_err());
    }

    #[test]
    fn dates_shift_by_days() {
        let d = date("2025-03-13").unwrap();
        let later = shift(d, days(30).unwrap(), true).unwrap();
        assert_eq!(later.to_string(), "2025-04-12");
        assert_eq!(since(later, d), days(30).unwrap());
    }

    #[test]
    fn sums_and_lengths() {
        assert_eq!(sum(vec![1i64, 2, 3]).unwrap(), 6);
        assert!(sum::<Money>(vec![]).is_err());
        assert_eq!(len(&"日本".to_string()), 2);
        assert_eq!(int('+', i64::MAX, 1).ok(), None);
    }

    #[test]
    fn results_read_nested_fields() {
        let mut r = Results::new();
        r.insert("get.body".into(), serde_json::json!({"a": {"b": "x"}}));
        let v: String = result(&r, "get.body", &["a", "b"]).unwrap();
        assert_eq!(v, "x");
        assert!(result::<String>(&r, "missing.x", &[]).is_err());
    }
}
