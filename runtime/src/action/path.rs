//! The catalog's `api` path syntax (see `flowc_catalog`): parsing, and reading and
//! writing JSON values at a path.
//!
//! `detail.invoice_number` (dotted keys), `primary_recipients[0].email` (a list
//! element), `items[].name` (every element, for table columns), `recurring[interval]`
//! (Stripe's bracket form of a nested key), `Parameters[Name=CustomerIBAN].Value`
//! (the element of a name/value list whose `Name` is `CustomerIBAN`).

use serde_json::{Map, Value};

/// Where a field goes in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// `{name}`: a path parameter.
    Path(String),
    /// `?name`: a query parameter.
    Query(String),
    /// A path into the body.
    Body(Vec<Seg>),
}

/// One step of a body path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
    /// `[]`: every element (table columns).
    Each,
    /// `[Name=X]`: the element whose `Name` is `X`.
    Match {
        key: String,
        value: String,
    },
}

/// Parses an `api` path. An empty path is the body itself.
pub fn parse(api: &str) -> Result<Place, String> {
    if let Some(n) = api.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        return Ok(Place::Path(n.to_string()));
    }
    if let Some(n) = api.strip_prefix('?') {
        return Ok(Place::Query(n.to_string()));
    }
    parse_body(api).map(Place::Body)
}

/// Parses a body path into segments.
pub fn parse_body(api: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let mut rest = api;
    while !rest.is_empty() {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        if end > 0 {
            segs.push(Seg::Key(rest[..end].to_string()));
        }
        rest = &rest[end..];
        while let Some(r) = rest.strip_prefix('[') {
            let close = r
                .find(']')
                .ok_or_else(|| format!("`{api}`: unclosed `[`"))?;
            let inner = &r[..close];
            segs.push(if inner.is_empty() {
                Seg::Each
            } else if let Ok(i) = inner.parse::<usize>() {
                Seg::Index(i)
            } else if let Some((k, v)) = inner.split_once('=') {
                Seg::Match {
                    key: k.to_string(),
                    value: v.to_string(),
                }
            } else {
                Seg::Key(inner.to_string())
            });
            rest = &r[close + 1..];
        }
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
        } else if !rest.is_empty() {
            return Err(format!("`{api}`: unexpected `{rest}`"));
        }
    }
    Ok(segs)
}

/// Writes `value` at `segs` under `root`, creating objects and lists on the way.
/// `Each` is not allowed here (tables are written row by row).
pub fn set(root: &mut Value, segs: &[Seg], value: Value) -> Result<(), String> {
    let Some((first, rest)) = segs.split_first() else {
        *root = value;
        return Ok(());
    };
    let child: &mut Value = match first {
        Seg::Key(k) => {
            if !root.is_object() {
                *root = Value::Object(Map::new());
            }
            let Value::Object(o) = root else {
                unreachable!("made an object above")
            };
            o.entry(k.clone()).or_insert(Value::Null)
        }
        Seg::Index(i) => {
            if !root.is_array() {
                *root = Value::Array(Vec::new());
            }
            let Value::Array(a) = root else {
                unreachable!("made an array above")
            };
            while a.len() <= *i {
                a.push(Value::Null);
            }
            &mut a[*i]
        }
        Seg::Match { key, value: want } => {
            if !root.is_array() {
                *root = Value::Array(Vec::new());
            }
            let Value::Array(a) = root else {
                unreachable!("made an array above")
            };
            let pos = a
                .iter()
                .position(|e| e.get(key).and_then(Value::as_str) == Some(want));
            let pos = pos.unwrap_or_else(|| {
                let mut o = Map::new();
                o.insert(key.clone(), Value::String(want.clone()));
                a.push(Value::Object(o));
                a.len() - 1
            });
            &mut a[pos]
        }
        Seg::Each => return Err("`[]` cannot be written as one value".into()),
    };
    set(child, rest, value)
}

/// Reads the value at `segs`; `Each` collects every element's value into a list.
pub fn get(root: &Value, segs: &[Seg]) -> Option<Value> {
    let Some((first, rest)) = segs.split_first() else {
        return Some(root.clone());
    };
    match first {
        Seg::Key(k) => root.get(k).and_then(|c| get(c, rest)),
        Seg::Index(i) => root.get(i).and_then(|c| get(c, rest)),
        Seg::Match { key, value } => root
            .as_array()?
            .iter()
            .find(|e| e.get(key).and_then(Value::as_str) == Some(value))
            .and_then(|c| get(c, rest)),
        Seg::Each => Some(Value::Array(
            root.as_array()?
                .iter()
                .map(|e| get(e, rest).unwrap_or(Value::Null))
                .collect(),
        )),
    }
}

/// Splits a table column's path at its `[]`: (`items`, `name`) for `items[].name`.
/// Returns `None` for a path without `[]`.
pub fn split_each(segs: &[Seg]) -> Option<(&[Seg], &[Seg])> {
    let i = segs.iter().position(|s| *s == Seg::Each)?;
    Some((&segs[..i], &segs[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(parse("{customer}"), Ok(Place::Path("customer".into())));
        assert_eq!(parse("?email"), Ok(Place::Query("email".into())));
        assert_eq!(
            parse("primary_recipients[0].billing_info.email_address"),
            Ok(Place::Body(vec![
                key("primary_recipients"),
                Seg::Index(0),
                key("billing_info"),
                key("email_address")
            ]))
        );
        assert_eq!(
            parse_body("recurring[interval]"),
            Ok(vec![key("recurring"), key("interval")])
        );
        assert_eq!(
            parse_body("items[].tax.name"),
            Ok(vec![key("items"), Seg::Each, key("tax"), key("name")])
        );
        assert_eq!(
            parse_body("Services.ServiceList[0].Parameters[Name=CustomerIBAN].Value"),
            Ok(vec![
                key("Services"),
                key("ServiceList"),
                Seg::Index(0),
                key("Parameters"),
                Seg::Match {
                    key: "Name".into(),
                    value: "CustomerIBAN".into()
                },
                key("Value")
            ])
        );
        assert_eq!(parse_body(""), Ok(vec![]));
        assert!(parse_body("a[0").is_err());
    }

    #[test]
    fn writes_and_reads_back() {
        let mut v = Value::Null;
        for (p, x) in [
            ("a.b", json!(1)),
            ("a.c[1].d", json!("x")),
            ("P[Name=IBAN].Value", json!("NL01")),
            ("P[Name=BIC].Value", json!("ABNA")),
            ("P[Name=IBAN].Group", json!("")),
        ] {
            set(&mut v, &parse_body(p).unwrap(), x).unwrap();
        }
        assert_eq!(
            v,
            json!({"a": {"b": 1, "c": [null, {"d": "x"}]},
                   "P": [{"Name": "IBAN", "Value": "NL01", "Group": ""}, {"Name": "BIC", "Value": "ABNA"}]})
        );
        assert_eq!(
            get(&v, &parse_body("P[Name=BIC].Value").unwrap()),
            Some(json!("ABNA"))
        );
        let rows = json!({"items": [{"n": 1}, {"m": 2}]});
        assert_eq!(
            get(&rows, &parse_body("items[].n").unwrap()),
            Some(json!([1, null]))
        );
    }
}
