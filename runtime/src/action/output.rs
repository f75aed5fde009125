//! Outputs: read from the response body by their `api` paths, type-checked
//! against the catalog and normalized into the runtime's JSON shapes (money
//! `{"amount","currency"}`, datetimes RFC 3339, currencies upper case).

use flowc_catalog::{Action, Field, FieldType};
use serde_json::{Map, Value};

use super::path;
use crate::providers::Kind;
use crate::value::{parse_date, parse_datetime, parse_decimal};

/// Maps every output of `action` from `body`. A missing output is `null`; a value
/// of the wrong type is an error naming the output and what came.
pub fn map(kind: Kind, action: &Action, body: &Value) -> Result<Map<String, Value>, Vec<String>> {
    map_fields(kind, &action.outputs, body)
}

/// Maps catalog `outputs` from `body`: an action's response, or a provider event
/// (a catalog event's outputs read `data.object.…` of the event).
pub fn map_fields(
    kind: Kind,
    outputs: &[Field],
    body: &Value,
) -> Result<Map<String, Value>, Vec<String>> {
    let mut out = Map::new();
    let mut errors = Vec::new();
    for f in outputs {
        let raw = match f.api.as_deref() {
            Some(api) => match path::parse_body(api) {
                Ok(segs) => path::get(body, &segs),
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            },
            None => kind.derived_output(&f.name, body),
        };
        match raw.filter(|v| !v.is_null()) {
            Some(v) => match from_wire(kind, f, &v) {
                Ok(x) => {
                    out.insert(f.name.clone(), x);
                }
                Err(e) => errors.push(format!("output `{}`: {e}", f.name)),
            },
            None => {
                out.insert(f.name.clone(), Value::Null);
            }
        }
    }
    // `found` of a lookup: whether the lookup's other outputs came back.
    if let Some(found) = outputs
        .iter()
        .find(|f| f.name == "found" && f.api.is_none() && f.ty == FieldType::Bool)
    {
        let any = outputs.iter().any(|f| {
            f.api.is_some()
                && f.ty != FieldType::Table
                && out.get(&f.name).is_some_and(|v| !v.is_null())
        });
        out.insert(found.name.clone(), Value::Bool(any));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn want(what: &str, v: &Value) -> String {
    format!("expected {what}, got {v}")
}

/// One response value in the runtime's shape.
fn from_wire(kind: Kind, f: &Field, v: &Value) -> Result<Value, String> {
    Ok(match &f.ty {
        FieldType::String
        | FieldType::Text
        | FieldType::Url
        | FieldType::Phone
        | FieldType::Email
        | FieldType::Country
        | FieldType::Id { .. } => match v {
            Value::String(_) => v.clone(),
            _ => return Err(want(&format!("{} (a string)", f.ty), v)),
        },
        FieldType::Currency => match v {
            Value::String(s) => Value::String(s.to_ascii_uppercase()),
            _ => return Err(want("a currency code", v)),
        },
        FieldType::Integer => match v {
            Value::Number(n) if n.is_i64() => v.clone(),
            _ => return Err(want("an integer", v)),
        },
        FieldType::Decimal => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(want("a decimal", v)),
            };
            Value::String(parse_decimal(&s).map_err(|e| e.to_string())?.to_string())
        }
        FieldType::Money => kind.money_in(v, f.unit).ok_or_else(|| want("money", v))?,
        FieldType::Bool => match v {
            Value::Bool(_) => v.clone(),
            _ => return Err(want("true or false", v)),
        },
        FieldType::Date => match v {
            Value::String(s) => Value::String(
                parse_date(s.get(..10).unwrap_or(s))
                    .map_err(|e| e.to_string())?
                    .to_string(),
            ),
            _ => return Err(want("a date", v)),
        },
        FieldType::Datetime => match v {
            // Unix seconds (Stripe).
            Value::Number(n) if n.is_i64() => {
                let t = jiff::Timestamp::from_second(n.as_i64().unwrap_or_default())
                    .map_err(|e| e.to_string())?;
                Value::String(t.to_string())
            }
            Value::String(s) => {
                Value::String(parse_datetime(s).map_err(|e| e.to_string())?.to_string())
            }
            _ => return Err(want("a datetime", v)),
        },
        FieldType::Map => match v {
            Value::Object(_) => v.clone(),
            _ => return Err(want("a map", v)),
        },
        FieldType::Table => {
            let Value::Array(rows) = v else {
                return Err(want("a list", v));
            };
            if f.columns.is_empty() {
                v.clone()
            } else {
                let mut out = Vec::new();
                for (i, row) in rows.iter().enumerate() {
                    let mut o = Map::new();
                    for c in &f.columns {
                        let rel = match c.api.as_deref().map(path::parse_body) {
                            Some(Ok(segs)) => match path::split_each(&segs) {
                                Some((_, rel)) => rel.to_vec(),
                                None => segs,
                            },
                            Some(Err(e)) => return Err(e),
                            None => vec![path::Seg::Key(c.name.clone())],
                        };
                        let x = match path::get(row, &rel).filter(|x| !x.is_null()) {
                            Some(x) => from_wire(kind, c, &x)
                                .map_err(|e| format!("row {}: `{}`: {e}", i + 1, c.name))?,
                            None => Value::Null,
                        };
                        o.insert(c.name.clone(), x);
                    }
                    out.push(Value::Object(o));
                }
                Value::Array(out)
            }
        }
        FieldType::Json => v.clone(),
    })
}
