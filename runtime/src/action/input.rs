//! Inputs: validated against the catalog (type, required, enum, pattern, length,
//! range, currencies) and converted to the provider's wire values, before anything
//! is sent. Values come in the runtime's JSON shapes: money as
//! `{"amount": "12.50", "currency": "EUR"}`, decimals as strings, dates ISO,
//! tables as lists of objects keyed by column name.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use flowc_catalog::{Action, Field, FieldType, Provider, Unit};
use regex::Regex;
use serde_json::{Map, Value};

use super::path::{self, Seg};
use crate::providers::{Kind, amount_out};
use crate::value::{Money, parse_date, parse_datetime, parse_decimal};

/// Where converted values are going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An API request of the provider.
    Request,
    /// A record of a request file: every value a string (money per `unit`).
    Record,
}

/// One input, checked and converted.
#[derive(Debug, Clone)]
pub struct Checked<'c> {
    pub field: &'c Field,
    pub value: Value,
}

/// Checks every input of `action` and converts it. All problems are reported at once.
pub fn check<'c>(
    kind: Kind,
    provider: &Provider,
    action: &'c Action,
    inputs: &Value,
    target: Target,
) -> Result<Vec<Checked<'c>>, Vec<String>> {
    let empty = Map::new();
    let given = match inputs {
        Value::Object(o) => o,
        Value::Null => &empty,
        other => return Err(vec![format!("inputs must be an object, not {other}")]),
    };
    let mut errors: Vec<String> = given
        .keys()
        .filter(|k| action.input(k).is_none())
        .map(|k| format!("`{k}`: {}.{} has no such input", provider.name, action.name))
        .collect();
    let mut out = Vec::new();
    for f in &action.inputs {
        let value = match given.get(&f.name).filter(|v| !v.is_null()) {
            Some(v) => v.clone(),
            None => match &f.default {
                Some(d) => default_value(&f.ty, d),
                None if f.required => {
                    errors.push(format!("`{}`: required", f.name));
                    continue;
                }
                None => continue,
            },
        };
        match convert(kind, provider, f, &value, target) {
            Ok(v) => out.push(Checked { field: f, value: v }),
            Err(e) => errors.extend(e.into_iter().map(|m| format!("`{}`: {m}", f.name))),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A catalog default (always written as a string) as a JSON value of its type.
fn default_value(ty: &FieldType, d: &str) -> Value {
    match ty {
        FieldType::Bool => Value::Bool(d == "true"),
        FieldType::Integer => d
            .parse::<i64>()
            .map_or_else(|_| Value::String(d.into()), Value::from),
        _ => Value::String(d.into()),
    }
}

fn regex(pattern: &str) -> Option<Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).ok())
        .clone()
}

/// Length, pattern and enum checks of a string value.
fn check_text(f: &Field, s: &str, errors: &mut Vec<String>) {
    let n = s.chars().count() as u32;
    if let Some(max) = f.max_length
        && n > max
    {
        errors.push(format!("longer than {max} characters ({n})"));
    }
    if let Some(min) = f.min_length
        && n < min
    {
        errors.push(format!("shorter than {min} characters ({n})"));
    }
    if let Some(p) = &f.pattern
        && let Some(re) = regex(p)
        && !re.is_match(s)
    {
        errors.push(format!("{s:?} does not match the pattern {p}"));
    }
    if !f.enum_values.is_empty() && !f.enum_values.iter().any(|e| e.eq_ignore_ascii_case(s)) {
        errors.push(format!("{s:?} is not one of {}", f.enum_values.join(", ")));
    }
}

fn as_str<'v>(v: &'v Value, what: &str) -> Result<&'v str, Vec<String>> {
    v.as_str()
        .ok_or_else(|| vec![format!("expected {what} (a string), got {v}")])
}

fn as_money(v: &Value) -> Result<Money, Vec<String>> {
    let amount = v.get("amount").and_then(|a| match a {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let currency = v.get("currency").and_then(Value::as_str);
    match (amount, currency) {
        (Some(a), Some(c)) => parse_decimal(&a)
            .and_then(|d| Money::of(d, c))
            .map_err(|e| vec![e.to_string()]),
        _ => Err(vec![format!(
            "expected money ({{\"amount\": \"12.50\", \"currency\": \"EUR\"}}), got {v}"
        )]),
    }
}

/// Converts one value of field `f` to its wire value.
pub fn convert(
    kind: Kind,
    provider: &Provider,
    f: &Field,
    v: &Value,
    target: Target,
) -> Result<Value, Vec<String>> {
    let mut errors = Vec::new();
    let out = match &f.ty {
        FieldType::String
        | FieldType::Text
        | FieldType::Url
        | FieldType::Phone
        | FieldType::Email
        | FieldType::Country => {
            let s = as_str(v, &f.ty.to_string())?;
            if f.ty == FieldType::Email && !s.contains('@') {
                errors.push(format!("{s:?} is not an email address"));
            }
            check_text(f, s, &mut errors);
            Value::String(s.to_string())
        }
        FieldType::Id { kind: id_kind, .. } => {
            let s = as_str(v, &f.ty.to_string())?;
            if let Some(k) = provider.id_kind(id_kind) {
                if let Some(p) = &k.prefix
                    && !s.starts_with(p.as_str())
                {
                    errors.push(format!("{s:?} is not a {} id (`{p}…`)", k.name));
                }
                if let Some(p) = &k.pattern
                    && let Some(re) = regex(p)
                    && !re.is_match(s)
                {
                    errors.push(format!("{s:?} is not a {} id ({p})", k.name));
                }
            }
            check_text(f, s, &mut errors);
            Value::String(s.to_string())
        }
        FieldType::Currency => {
            let s = as_str(v, "a currency code")?;
            if s.len() != 3 || !s.chars().all(|c| c.is_ascii_alphabetic()) {
                errors.push(format!("{s:?} is not an ISO 4217 currency code"));
            }
            let code = kind.currency_out(s);
            check_text(f, &code, &mut errors);
            Value::String(code)
        }
        FieldType::Integer => {
            let n = match v {
                Value::Number(n) if n.is_i64() => n.as_i64().unwrap_or_default(),
                Value::Object(_) if f.unit == Some(Unit::MinorUnits) => {
                    let m = as_money(v)?;
                    match amount_out(&m, Some(Unit::MinorUnits)) {
                        Ok(x) => x.as_i64().unwrap_or_default(),
                        Err(e) => return Err(vec![e]),
                    }
                }
                _ => return Err(vec![format!("expected an integer, got {v}")]),
            };
            if let Some(min) = f.min
                && n < min
            {
                errors.push(format!("{n} is less than {min}"));
            }
            if let Some(max) = f.max
                && n > max
            {
                errors.push(format!("{n} is more than {max}"));
            }
            Value::from(n)
        }
        FieldType::Decimal => {
            let d = match v {
                Value::String(s) => parse_decimal(s),
                Value::Number(n) => parse_decimal(&n.to_string()),
                _ => return Err(vec![format!("expected a decimal, got {v}")]),
            }
            .map_err(|e| vec![e.to_string()])?;
            if let Some(min) = f.min
                && d < min.into()
            {
                errors.push(format!("{d} is less than {min}"));
            }
            if let Some(max) = f.max
                && d > max.into()
            {
                errors.push(format!("{d} is more than {max}"));
            }
            match target {
                Target::Request => kind.decimal_out(d),
                Target::Record => Value::String(d.to_string()),
            }
        }
        FieldType::Money => {
            let m = as_money(v)?;
            let code = m.currency().code().to_string();
            if !f.currencies.is_empty() && !f.currencies.contains(&code) {
                errors.push(format!(
                    "{code} is not accepted here (only {})",
                    f.currencies.join(", ")
                ));
            }
            if m.amount().is_sign_negative() {
                errors.push(format!("{m} is negative"));
            }
            let amount = amount_out(&m, f.unit).map_err(|e| vec![e])?;
            if let (Some(p), Value::String(s)) = (&f.pattern, &amount)
                && let Some(re) = regex(p)
                && !re.is_match(s)
            {
                errors.push(format!("{s:?} does not match the pattern {p}"));
            }
            match target {
                Target::Request => kind.money_out(&m, f.unit).map_err(|e| vec![e])?,
                Target::Record => match amount {
                    Value::String(s) => Value::String(s),
                    other => Value::String(other.to_string()),
                },
            }
        }
        FieldType::Bool => match v {
            Value::Bool(b) => match target {
                Target::Request => Value::Bool(*b),
                Target::Record => Value::String(b.to_string()),
            },
            _ => return Err(vec![format!("expected true or false, got {v}")]),
        },
        FieldType::Date => {
            let s = as_str(v, "a date")?;
            let d = parse_date(s).map_err(|e| vec![e.to_string()])?;
            Value::String(d.to_string())
        }
        FieldType::Datetime => {
            let s = as_str(v, "a datetime")?;
            let t = parse_datetime(s).map_err(|e| vec![e.to_string()])?;
            match target {
                Target::Request => kind.datetime_out(t),
                Target::Record => Value::String(t.to_string()),
            }
        }
        FieldType::Map => {
            let Value::Object(o) = v else {
                return Err(vec![format!("expected a map of strings, got {v}")]);
            };
            let mut out = Map::new();
            for (k, x) in o {
                let s = match x {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        errors.push(format!("key `{k}`: expected a string, got {x}"));
                        continue;
                    }
                };
                out.insert(k.clone(), Value::String(s));
            }
            Value::Object(out)
        }
        FieldType::Table => {
            let Value::Array(rows) = v else {
                return Err(vec![format!("expected a table (a list of rows), got {v}")]);
            };
            if f.columns.is_empty() {
                Value::Array(rows.clone())
            } else {
                let mut out = Vec::new();
                for (i, row) in rows.iter().enumerate() {
                    match table_row(kind, provider, f, row, target) {
                        Ok(r) => out.push(r),
                        Err(e) => {
                            errors.extend(e.into_iter().map(|m| format!("row {}: {m}", i + 1)))
                        }
                    }
                }
                Value::Array(out)
            }
        }
        FieldType::Json => v.clone(),
    };
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// One row of a table: its columns converted and laid out by their paths after `[]`.
fn table_row(
    kind: Kind,
    provider: &Provider,
    table: &Field,
    row: &Value,
    target: Target,
) -> Result<Value, Vec<String>> {
    let Value::Object(given) = row else {
        return Err(vec![format!("expected an object, got {row}")]);
    };
    let mut errors: Vec<String> = given
        .keys()
        .filter(|k| !table.columns.iter().any(|c| c.name == **k))
        .map(|k| format!("`{k}`: no such column"))
        .collect();
    let mut out = Value::Object(Map::new());
    for c in &table.columns {
        let value = match given.get(&c.name).filter(|v| !v.is_null()) {
            Some(v) => v.clone(),
            None if c.required => {
                errors.push(format!("`{}`: required", c.name));
                continue;
            }
            None => continue,
        };
        let v = match convert(kind, provider, c, &value, target) {
            Ok(v) => v,
            Err(e) => {
                errors.extend(e.into_iter().map(|m| format!("`{}`: {m}", c.name)));
                continue;
            }
        };
        let rel: Vec<Seg> = match c.api.as_deref().map(path::parse_body) {
            Some(Ok(segs)) => match path::split_each(&segs) {
                Some((_, rel)) => rel.to_vec(),
                None => segs,
            },
            Some(Err(e)) => {
                errors.push(e);
                continue;
            }
            None => vec![Seg::Key(c.name.clone())],
        };
        if let Err(e) = path::set(&mut out, &rel, v) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
