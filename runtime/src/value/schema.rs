//! The data schema of a flow: item names, types and constraints.
//!
//! Generated code declares it as a `static` (every constructor is `const`), and
//! the runtime validates input records (CLI JSON, CSV rows, JSON lines, HTTP) and
//! signal payloads against it. Validation normalizes a record into the JSON shape
//! that the generated `Data` struct deserializes: decimals as strings, money as
//! `{"amount","currency"}`, dates as `2025-03-13`, datetimes as RFC 3339.

use std::fmt;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::{Currency, Money, ValueError, parse_date, parse_datetime, parse_decimal};

/// The type of a data item (or of a table column, an http response field, a signal field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    Text,
    Integer,
    Decimal,
    /// `money` or `money(CUR)` with the currency fixed.
    Money(Option<&'static str>),
    Bool,
    Date,
    DateTime,
    Email,
    Phone,
    Url,
    /// Fixed options: (id, label). An option whose id starts with another's is its child.
    Select(&'static [(&'static str, &'static str)]),
    /// Rows of typed columns.
    Table(&'static [ItemDef]),
    /// A typed provider id, e.g. a Stripe customer (`cus_…`).
    Id {
        provider: &'static str,
        kind: &'static str,
        prefix: Option<&'static str>,
    },
    /// Any JSON value (untyped response fields).
    Json,
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueType::String => f.write_str("string"),
            ValueType::Text => f.write_str("text"),
            ValueType::Integer => f.write_str("integer"),
            ValueType::Decimal => f.write_str("decimal"),
            ValueType::Money(None) => f.write_str("money"),
            ValueType::Money(Some(c)) => write!(f, "money({c})"),
            ValueType::Bool => f.write_str("bool"),
            ValueType::Date => f.write_str("date"),
            ValueType::DateTime => f.write_str("datetime"),
            ValueType::Email => f.write_str("email"),
            ValueType::Phone => f.write_str("phone"),
            ValueType::Url => f.write_str("url"),
            ValueType::Select(_) => f.write_str("select"),
            ValueType::Table(_) => f.write_str("table"),
            ValueType::Id { provider, kind, .. } => write!(f, "id({provider}.{kind})"),
            ValueType::Json => f.write_str("json"),
        }
    }
}

/// One data item (or column / field) with its constraints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemDef {
    pub name: &'static str,
    pub ty: ValueType,
    pub required: bool,
    /// The default as JSON text (validated like an input value).
    pub default: Option<&'static str>,
    /// Bounds as decimal text (numbers and money amounts).
    pub min: Option<&'static str>,
    pub max: Option<&'static str>,
    pub pattern: Option<&'static str>,
    pub max_length: Option<usize>,
}

impl ItemDef {
    pub const fn new(name: &'static str, ty: ValueType) -> ItemDef {
        ItemDef {
            name,
            ty,
            required: false,
            default: None,
            min: None,
            max: None,
            pattern: None,
            max_length: None,
        }
    }
    pub const fn required(mut self) -> ItemDef {
        self.required = true;
        self
    }
    pub const fn default_json(mut self, json: &'static str) -> ItemDef {
        self.default = Some(json);
        self
    }
    pub const fn min(mut self, v: &'static str) -> ItemDef {
        self.min = Some(v);
        self
    }
    pub const fn max(mut self, v: &'static str) -> ItemDef {
        self.max = Some(v);
        self
    }
    pub const fn pattern(mut self, re: &'static str) -> ItemDef {
        self.pattern = Some(re);
        self
    }
    pub const fn max_length(mut self, n: usize) -> ItemDef {
        self.max_length = Some(n);
        self
    }
}

/// The data items of a flow.
#[derive(Debug, Clone, Copy)]
pub struct DataSchema {
    pub items: &'static [ItemDef],
}

/// Why one field of a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field: `total`, `lines[2].quantity`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

impl DataSchema {
    pub const fn new(items: &'static [ItemDef]) -> DataSchema {
        DataSchema { items }
    }

    pub fn item(&self, name: &str) -> Option<&ItemDef> {
        self.items.iter().find(|i| i.name == name)
    }

    /// Validates a JSON record; returns it normalized, or every error found.
    pub fn validate(&self, record: &Value) -> Result<Value, Vec<FieldError>> {
        let Some(obj) = record.as_object() else {
            return Err(vec![FieldError {
                field: String::new(),
                message: format!("a record must be a JSON object, got {}", kind(record)),
            }]);
        };
        validate_object(self.items, obj, "", false)
    }

    /// Validates a CSV row (header -> cell). Empty cells are missing values; a table
    /// column's cell holds JSON (an array of row objects).
    pub fn validate_strings<'a>(
        &self,
        row: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Value, Vec<FieldError>> {
        let mut obj = Map::new();
        for (k, v) in row {
            if !v.trim().is_empty() {
                obj.insert(k.trim().to_string(), Value::String(v.to_string()));
            }
        }
        validate_object(self.items, &obj, "", true)
    }
}

fn validate_object(
    items: &[ItemDef],
    obj: &Map<String, Value>,
    prefix: &str,
    from_text: bool,
) -> Result<Value, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = Map::new();
    for key in obj.keys() {
        if !items.iter().any(|i| i.name == key) {
            let known: Vec<&str> = items.iter().map(|i| i.name).collect();
            errors.push(FieldError {
                field: format!("{prefix}{key}"),
                message: format!("unknown data item (known: {})", known.join(", ")),
            });
        }
    }
    for item in items {
        let path = format!("{prefix}{}", item.name);
        let given = obj.get(item.name).filter(|v| !v.is_null());
        let value = match given {
            Some(v) => normalize(item, v, &path, from_text),
            None => match item.default {
                Some(json) => match serde_json::from_str::<Value>(json) {
                    Ok(v) => normalize(item, &v, &path, false),
                    Err(e) => Err(vec![FieldError {
                        field: path.clone(),
                        message: format!("bad default `{json}`: {e}"),
                    }]),
                },
                None if item.required => Err(vec![FieldError {
                    field: path.clone(),
                    message: format!("required {} is missing", item.ty),
                }]),
                None => Ok(Value::Null),
            },
        };
        match value {
            Ok(v) => {
                out.insert(item.name.to_string(), v);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errors)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn err(path: &str, msg: impl Into<String>) -> Vec<FieldError> {
    vec![FieldError {
        field: path.to_string(),
        message: msg.into(),
    }]
}

/// Checks one value against a type (for http response fields and signal payloads
/// too), returning its normalized JSON.
pub(crate) fn check_type(ty: ValueType, v: &Value, path: &str) -> Result<Value, Vec<FieldError>> {
    normalize(&ItemDef::new("", ty), v, path, false)
}

fn normalize(
    item: &ItemDef,
    v: &Value,
    path: &str,
    from_text: bool,
) -> Result<Value, Vec<FieldError>> {
    let text = || -> Result<&str, Vec<FieldError>> {
        v.as_str()
            .ok_or_else(|| err(path, format!("expected {}, got {}", item.ty, kind(v))))
    };
    let out = match item.ty {
        ValueType::String | ValueType::Text => Value::String(text()?.to_string()),
        ValueType::Email => {
            let s = text()?.trim();
            let ok = s.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
            }) && !s.contains(char::is_whitespace);
            if !ok {
                return Err(err(path, format!("`{s}` is not an e-mail address")));
            }
            Value::String(s.to_string())
        }
        ValueType::Phone => {
            let s = text()?.trim();
            let digits = s.chars().filter(char::is_ascii_digit).count();
            let ok = s
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
                && (5..=20).contains(&digits);
            if !ok {
                return Err(err(path, format!("`{s}` is not a phone number")));
            }
            Value::String(s.to_string())
        }
        ValueType::Url => {
            let s = text()?.trim();
            match reqwest::Url::parse(s) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
                    Value::String(s.to_string())
                }
                _ => return Err(err(path, format!("`{s}` is not an http(s) URL"))),
            }
        }
        ValueType::Id {
            provider,
            kind: k,
            prefix,
        } => {
            let s = text()?.trim();
            if let Some(p) = prefix
                && !s.starts_with(p)
            {
                return Err(err(
                    path,
                    format!("`{s}` is not a {provider} {k} id (it must start with `{p}`)"),
                ));
            }
            Value::String(s.to_string())
        }
        ValueType::Select(options) => {
            let s = match v {
                Value::Number(n) => n.to_string(),
                _ => text()?.trim().to_string(),
            };
            if !options.iter().any(|(id, _)| *id == s) {
                let ids: Vec<String> = options
                    .iter()
                    .map(|(id, l)| format!("\"{id}\" ({l})"))
                    .collect();
                return Err(err(
                    path,
                    format!("`{s}` is not an option; options: {}", ids.join(", ")),
                ));
            }
            Value::String(s)
        }
        ValueType::Integer => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) if from_text => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match n {
                Some(n) => Value::from(n),
                None => return Err(err(path, format!("expected integer, got {}", show(v)))),
            }
        }
        ValueType::Decimal => {
            let d = decimal_of(v).map_err(|e| err(path, e.to_string()))?;
            Value::String(d.to_string())
        }
        ValueType::Money(fixed) => {
            let m = money_of(v, fixed).map_err(|e| err(path, e.to_string()))?;
            if let Some(c) = fixed
                && m.currency().code() != c.to_ascii_uppercase()
            {
                return Err(err(
                    path,
                    format!("currency mismatch: expected {c}, got {}", m.currency()),
                ));
            }
            serde_json::to_value(m).unwrap_or(Value::Null)
        }
        ValueType::Bool => match v {
            Value::Bool(b) => Value::Bool(*b),
            Value::String(s) if from_text => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Value::Bool(true),
                "false" | "no" | "0" => Value::Bool(false),
                _ => return Err(err(path, format!("expected bool, got `{s}`"))),
            },
            _ => return Err(err(path, format!("expected bool, got {}", show(v)))),
        },
        ValueType::Date => {
            let d = parse_date(text()?).map_err(|e| err(path, e.to_string()))?;
            Value::String(d.to_string())
        }
        ValueType::DateTime => {
            let t = parse_datetime(text()?).map_err(|e| err(path, e.to_string()))?;
            Value::String(t.to_string())
        }
        ValueType::Table(columns) => {
            let parsed;
            let rows = match v {
                Value::Array(a) => a,
                Value::String(s) if from_text => {
                    parsed = serde_json::from_str::<Value>(s).map_err(|e| {
                        err(
                            path,
                            format!("a table cell holds a JSON array of rows: {e}"),
                        )
                    })?;
                    match &parsed {
                        Value::Array(a) => a,
                        _ => return Err(err(path, "a table cell holds a JSON array of rows")),
                    }
                }
                _ => {
                    return Err(err(
                        path,
                        format!("expected table (an array of rows), got {}", kind(v)),
                    ));
                }
            };
            let mut out = Vec::with_capacity(rows.len());
            let mut errors = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                let p = format!("{path}[{i}].");
                match row.as_object() {
                    Some(obj) => match validate_object(columns, obj, &p, false) {
                        Ok(r) => out.push(r),
                        Err(mut e) => errors.append(&mut e),
                    },
                    None => {
                        errors.append(&mut err(&format!("{path}[{i}]"), "a row must be an object"))
                    }
                }
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            Value::Array(out)
        }
        ValueType::Json => v.clone(),
    };
    check_constraints(item, &out, path)?;
    Ok(out)
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => format!("{} ({other})", kind(other)),
    }
}

fn decimal_of(v: &Value) -> Result<Decimal, ValueError> {
    match v {
        // serde_json keeps a number's shortest text; parse that, never an f64.
        Value::Number(n) => parse_decimal(&n.to_string()),
        Value::String(s) => parse_decimal(s),
        other => Err(ValueError::new(format!(
            "expected decimal, got {}",
            kind(other)
        ))),
    }
}

fn money_of(v: &Value, fixed: Option<&'static str>) -> Result<Money, ValueError> {
    match v {
        Value::Object(o) => {
            let amount = o
                .get("amount")
                .ok_or_else(|| ValueError::new("money needs `amount` and `currency`"))?;
            let cur = o
                .get("currency")
                .and_then(Value::as_str)
                .ok_or_else(|| ValueError::new("money needs `amount` and `currency`"))?;
            Ok(Money::new(decimal_of(amount)?, Currency::new(cur)?))
        }
        Value::String(s) if s.trim().contains(' ') => s.parse(),
        Value::String(_) | Value::Number(_) => match fixed {
            Some(c) => Ok(Money::new(decimal_of(v)?, Currency::new(c)?)),
            None => Err(ValueError::new(format!(
                "expected money with its currency (e.g. \"12.50 EUR\"), got {}",
                show(v)
            ))),
        },
        other => Err(ValueError::new(format!(
            "expected money, got {}",
            kind(other)
        ))),
    }
}

fn check_constraints(item: &ItemDef, v: &Value, path: &str) -> Result<(), Vec<FieldError>> {
    if let Value::String(s) = v {
        if let Some(max) = item.max_length
            && s.chars().count() > max
        {
            return Err(err(
                path,
                format!("longer than {max} characters ({})", s.chars().count()),
            ));
        }
        if let Some(p) = item.pattern {
            let re = regex_cached(p).map_err(|e| err(path, e))?;
            if !re.is_match(s) {
                return Err(err(path, format!("`{s}` does not match the pattern `{p}`")));
            }
        }
    }
    let number = match item.ty {
        ValueType::Integer | ValueType::Decimal => decimal_of(v).ok(),
        ValueType::Money(_) => v.get("amount").and_then(|a| decimal_of(a).ok()),
        _ => None,
    };
    if let Some(n) = number {
        if let Some(min) = item.min.and_then(|m| parse_decimal(m).ok())
            && n < min
        {
            return Err(err(path, format!("{n} is below the minimum {min}")));
        }
        if let Some(max) = item.max.and_then(|m| parse_decimal(m).ok())
            && n > max
        {
            return Err(err(path, format!("{n} is above the maximum {max}")));
        }
    }
    // Dates and datetimes: bounds written as the values are (2025-03-13,
    // 2025-03-13T09:00:00Z), compared in time.
    if let Value::String(text) = v {
        let earlier = |bound: &str| -> Option<bool> {
            match item.ty {
                ValueType::Date => Some(parse_date(text).ok()? < parse_date(bound).ok()?),
                ValueType::DateTime => {
                    Some(parse_datetime(text).ok()? < parse_datetime(bound).ok()?)
                }
                _ => None,
            }
        };
        let later = |bound: &str| -> Option<bool> {
            match item.ty {
                ValueType::Date => Some(parse_date(text).ok()? > parse_date(bound).ok()?),
                ValueType::DateTime => {
                    Some(parse_datetime(text).ok()? > parse_datetime(bound).ok()?)
                }
                _ => None,
            }
        };
        if let Some(min) = item.min
            && earlier(min) == Some(true)
        {
            return Err(err(path, format!("{text} is before the minimum {min}")));
        }
        if let Some(max) = item.max
            && later(max) == Some(true)
        {
            return Err(err(path, format!("{text} is after the maximum {max}")));
        }
    }
    Ok(())
}

fn regex_cached(p: &'static str) -> Result<Regex, String> {
    static CACHE: OnceLock<Mutex<Vec<(&'static str, Regex)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, re)) = c.iter().find(|(k, _)| *k == p) {
        return Ok(re.clone());
    }
    let re = Regex::new(p).map_err(|e| format!("bad pattern `{p}`: {e}"))?;
    c.push((p, re.clone()));
    Ok(re)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static LINES: [ItemDef; 2] = [
        ItemDef::new("description", ValueType::String).required(),
        ItemDef::new("quantity", ValueType::Integer).min("1"),
    ];
    static ITEMS: [ItemDef; 9] = [
        ItemDef::new("delivery_id", ValueType::String)
            .required()
            .pattern("^D-[0-9]+$")
            .max_length(10),
        ItemDef::new("email", ValueType::Email).required(),
        ItemDef::new("total", ValueType::Money(Some("JPY")))
            .required()
            .min("1"),
        ItemDef::new("delivered_on", ValueType::Date),
        ItemDef::new("rate", ValueType::Decimal),
        ItemDef::new(
            "region",
            ValueType::Select(&[("8", "East Asia"), ("81", "Japan")]),
        )
        .default_json("\"81\""),
        ItemDef::new("count", ValueType::Integer).max("10"),
        ItemDef::new("lines", ValueType::Table(&LINES)),
        ItemDef::new(
            "customer",
            ValueType::Id {
                provider: "stripe",
                kind: "customer",
                prefix: Some("cus_"),
            },
        ),
    ];
    static SCHEMA: DataSchema = DataSchema::new(&ITEMS);

    #[test]
    fn date_and_datetime_bounds_hold() {
        static DATED: [ItemDef; 2] = [
            ItemDef::new("on", ValueType::Date)
                .min("2025-01-01")
                .max("2025-12-31"),
            ItemDef::new("at", ValueType::DateTime).min("2025-01-01T09:00:00Z"),
        ];
        static S: DataSchema = DataSchema::new(&DATED);
        assert!(
            S.validate(&json!({"on": "2025-06-01", "at": "2025-01-01T09:00:00Z"}))
                .is_ok()
        );
        let e = S.validate(&json!({"on": "2024-12-31"})).unwrap_err();
        assert!(
            format!("{e:?}").contains("before the minimum 2025-01-01"),
            "{e:?}"
        );
        let e = S.validate(&json!({"on": "2026-01-01"})).unwrap_err();
        assert!(
            format!("{e:?}").contains("after the maximum 2025-12-31"),
            "{e:?}"
        );
        let e = S
            .validate(&json!({"at": "2025-01-01T08:59:59Z"}))
            .unwrap_err();
        assert!(format!("{e:?}").contains("before the minimum"), "{e:?}");
    }

    #[test]
    fn a_good_record_is_normalized() {
        let v = SCHEMA
            .validate(&json!({
                "delivery_id": "D-1", "email": "a@b.jp", "total": 1200, "rate": 0.1,
                "delivered_on": "2025-03-13", "lines": [{"description": "x", "quantity": 2}],
                "customer": "cus_123"
            }))
            .unwrap();
        assert_eq!(v["total"], json!({"amount": "1200", "currency": "JPY"}));
        assert_eq!(v["rate"], json!("0.1"));
        assert_eq!(v["region"], json!("81"));
        assert_eq!(v["count"], Value::Null);
        assert_eq!(v["lines"][0]["quantity"], json!(2));
    }

    #[test]
    fn every_error_is_reported_with_its_field() {
        let errs = SCHEMA
            .validate(&json!({
                "delivery_id": "X-1", "email": "nope", "total": "12 EUR", "count": 11,
                "region": "99", "lines": [{"quantity": 0}], "customer": "pi_1", "extra": 1
            }))
            .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        let all = text.join("\n");
        for needle in [
            "`extra`: unknown data item",
            "`delivery_id`: `X-1` does not match",
            "`email`: `nope` is not an e-mail",
            "`total`: currency mismatch: expected JPY, got EUR",
            "`count`: 11 is above the maximum 10",
            "`region`: `99` is not an option",
            "`lines[0].description`: required string is missing",
            "`lines[0].quantity`: 0 is below the minimum 1",
            "`customer`: `pi_1` is not a stripe customer id",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in\n{all}");
        }
    }

    #[test]
    fn csv_cells_are_parsed_by_type() {
        let v = SCHEMA
            .validate_strings([
                ("delivery_id", "D-7"),
                ("email", "x@y.com"),
                ("total", "500"),
                ("count", " 3 "),
                ("rate", ""),
                ("lines", r#"[{"description":"a"}]"#),
            ])
            .unwrap();
        assert_eq!(v["count"], json!(3));
        assert_eq!(v["rate"], Value::Null);
        let errs = SCHEMA
            .validate_strings([("delivery_id", "D-7"), ("total", "12,5")])
            .unwrap_err();
        assert!(errs.iter().any(|e| e.field == "email"));
        assert!(
            errs.iter()
                .any(|e| e.field == "total" && e.message.contains("not a decimal"))
        );
        // JSON input must not smuggle strings into integers.
        let errs = SCHEMA
            .validate(&json!({"delivery_id": "D-1", "email": "a@b.jp", "total": 1, "count": "3"}))
            .unwrap_err();
        assert_eq!(errs[0].field, "count");
    }
}
