//! Events an operator posts (`POST /events/{name}` of `run --listen`): the
//! event's data is checked against the outputs the catalog declares for it,
//! in the runtime's JSON shapes (as a polled event's outputs are stored: money
//! `{"amount","currency"}`, datetimes RFC 3339, tables as lists of objects),
//! before it is delivered to a waiting issue.

use flowc_catalog::{Event as CatalogEvent, Field, FieldType, Provider};
use serde_json::{Map, Value};

use crate::flow::Flow;
use crate::value::{ValueType, schema_check};

/// The catalog events a flow's waits know by `name` (the name without the
/// provider, as `WaitOn::Event` and `POST /events/{name}` spell it), with their
/// providers; empty when no wait of the flow is for such an event.
pub fn waited_events<F: Flow>(name: &str) -> Vec<(&'static Provider, &'static CatalogEvent)> {
    let mut out: Vec<(&'static Provider, &'static CatalogEvent)> = Vec::new();
    for feed in F::event_feeds().iter().filter(|f| f.event == name) {
        if let Some(p) = flowc_catalog::provider(feed.provider)
            && let Some(e) = p.event(name)
            && !out.iter().any(|(q, _)| q.name == p.name)
        {
            out.push((p, e));
        }
    }
    out
}

/// Checks posted event data (a JSON object, or nothing) against the event's
/// outputs: no unknown keys, every required output there, each value of its
/// output's type (and enum). Returns the data normalized, or every problem.
pub fn check(
    provider: &'static Provider,
    event: &'static CatalogEvent,
    data: &Value,
) -> Result<Value, Vec<String>> {
    let empty = Map::new();
    let given = match data {
        Value::Object(o) => o,
        Value::Null => &empty,
        other => {
            return Err(vec![format!(
                "`data` must be an object of the event's outputs, not {other}"
            )]);
        }
    };
    check_object(provider, &event.outputs, given, "", || {
        format!("{}.{}", provider.name, event.name)
    })
    .map(Value::Object)
}

fn check_object(
    provider: &'static Provider,
    fields: &'static [Field],
    given: &Map<String, Value>,
    prefix: &str,
    owner: impl Fn() -> String,
) -> Result<Map<String, Value>, Vec<String>> {
    let mut errors: Vec<String> = given
        .keys()
        .filter(|k| !fields.iter().any(|f| &f.name == *k))
        .map(|k| {
            let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            format!(
                "`{prefix}{k}`: {} has no such output (its outputs: {})",
                owner(),
                known.join(", ")
            )
        })
        .collect();
    let mut out = Map::new();
    for f in fields {
        let path = format!("{prefix}{}", f.name);
        match given.get(&f.name).filter(|v| !v.is_null()) {
            Some(v) => match check_value(provider, f, v, &path) {
                Ok(v) => {
                    out.insert(f.name.clone(), v);
                }
                Err(e) => errors.extend(e),
            },
            None if f.required => errors.push(format!("`{path}`: required {} is missing", f.ty)),
            None => {}
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// One output's value in the runtime's shape, normalized.
fn check_value(
    provider: &'static Provider,
    f: &'static Field,
    v: &Value,
    path: &str,
) -> Result<Value, Vec<String>> {
    let ty = match &f.ty {
        FieldType::Table => {
            let Value::Array(rows) = v else {
                return Err(vec![format!("`{path}`: expected a list of rows, got {v}")]);
            };
            if f.columns.is_empty() {
                return Ok(v.clone());
            }
            let mut out = Vec::new();
            let mut errors = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                let prefix = format!("{path}[{i}].");
                match row {
                    Value::Object(o) => {
                        match check_object(provider, &f.columns, o, &prefix, || {
                            format!("the table `{path}`")
                        }) {
                            Ok(r) => out.push(Value::Object(r)),
                            Err(e) => errors.extend(e),
                        }
                    }
                    other => errors.push(format!("`{path}[{i}]`: expected a row, got {other}")),
                }
            }
            return if errors.is_empty() {
                Ok(Value::Array(out))
            } else {
                Err(errors)
            };
        }
        FieldType::Map => {
            return match v {
                Value::Object(_) => Ok(v.clone()),
                _ => Err(vec![format!("`{path}`: expected a map, got {v}")]),
            };
        }
        FieldType::Currency => {
            return match v.as_str() {
                Some(s) if s.len() == 3 && s.chars().all(|c| c.is_ascii_alphabetic()) => {
                    let code = s.to_ascii_uppercase();
                    check_enum(f, &code, path).map(|()| Value::String(code))
                }
                _ => Err(vec![format!(
                    "`{path}`: expected an ISO 4217 currency code, got {v}"
                )]),
            };
        }
        FieldType::String | FieldType::Country => ValueType::String,
        FieldType::Text => ValueType::Text,
        FieldType::Integer => ValueType::Integer,
        FieldType::Decimal => ValueType::Decimal,
        FieldType::Money => ValueType::Money(None),
        FieldType::Bool => ValueType::Bool,
        FieldType::Date => ValueType::Date,
        FieldType::Datetime => ValueType::DateTime,
        FieldType::Email => ValueType::Email,
        FieldType::Phone => ValueType::Phone,
        FieldType::Url => ValueType::Url,
        FieldType::Json => ValueType::Json,
        FieldType::Id { provider: p, kind } => ValueType::Id {
            provider: p.as_str(),
            kind: kind.as_str(),
            prefix: flowc_catalog::provider(p)
                .and_then(|p| p.id_kind(kind))
                .and_then(|k| k.prefix.as_deref()),
        },
    };
    let out = schema_check(ty, v, path)
        .map_err(|e| e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    if let Value::String(s) = &out {
        check_enum(f, s, path)?;
    }
    Ok(out)
}

fn check_enum(f: &Field, s: &str, path: &str) -> Result<(), Vec<String>> {
    if f.enum_values.is_empty() || f.enum_values.iter().any(|e| e.eq_ignore_ascii_case(s)) {
        Ok(())
    } else {
        Err(vec![format!(
            "`{path}`: {s:?} is not one of {}",
            f.enum_values.join(", ")
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stripe_event(name: &str) -> (&'static Provider, &'static CatalogEvent) {
        let p = flowc_catalog::provider("stripe").unwrap();
        (p, p.event(name).unwrap())
    }

    #[test]
    fn event_data_is_checked_against_the_catalog_outputs() {
        let (p, e) = stripe_event("charge.succeeded");
        let ok = check(
            p,
            e,
            &json!({"id": "ch_1", "amount": 1500, "currency": "jpy", "status": "succeeded"}),
        )
        .unwrap();
        assert_eq!(ok["currency"], "JPY");
        assert_eq!(ok["amount"], 1500);
        assert_eq!(check(p, e, &Value::Null).unwrap(), json!({}));

        let errs = check(
            p,
            e,
            &json!({"id": 17, "amount": "lots", "status": "maybe", "paid": "yes", "colour": "red"}),
        )
        .unwrap_err();
        let all = errs.join("\n");
        for want in [
            "`id`",
            "`amount`",
            "\"maybe\" is not one of",
            "`paid`",
            "`colour`",
        ] {
            assert!(all.contains(want), "{want}: {all}");
        }
        let errs = check(p, e, &json!({"id": "in_1"})).unwrap_err();
        assert!(errs[0].contains("must start with `ch_`"), "{errs:?}");
        assert!(check(p, e, &json!(["ch_1"])).is_err());
    }

    #[test]
    fn required_outputs_and_table_rows_are_checked() {
        // The catalog's events declare no required output yet: a stand-in.
        let (p, _) = stripe_event("charge.succeeded");
        let fields: &'static [Field] = Box::leak(
            serde_json::from_value::<Vec<Field>>(json!([
                {"name": "status", "type": "string", "required": true},
                {"name": "lines", "type": "table", "columns": [
                    {"name": "amount", "type": "money", "required": true}
                ]}
            ]))
            .unwrap()
            .into_boxed_slice(),
        );
        let event: &'static CatalogEvent = Box::leak(Box::new(CatalogEvent {
            name: "test.event".into(),
            title: String::new(),
            description: String::new(),
            object: None,
            webhook: false,
            poll: false,
            trigger: false,
            file: false,
            api: None,
            outputs: fields.to_vec(),
        }));
        let errs = check(
            p,
            event,
            &json!({"lines": [{"amount": {"amount": "1", "currency": "EUR"}}, {}]}),
        )
        .unwrap_err();
        let all = errs.join("\n");
        assert!(
            all.contains("`status`: required string is missing"),
            "{all}"
        );
        assert!(
            all.contains("`lines[1].amount`: required money is missing"),
            "{all}"
        );
        assert!(
            check(p, event, &json!({"status": "paid", "lines": [{"amount": {"amount": "1", "currency": "EUR"}}]}))
                .is_ok()
        );
    }
}
