//! Stripe's form encoding, decoded into JSON: `a=1&m[k]=v&e[]=x&items[0][price]=p`
//! becomes `{"a":"1","m":{"k":"v"},"e":["x"],"items":[{"price":"p"}]}`. Every leaf
//! is a string; the routes convert numbers and booleans where a parameter wants them.
//!
//! Written here rather than taken from `serde_qs`: that crate decodes into typed
//! structs (we want a JSON tree for arbitrary metadata and expand lists), and
//! its treatment of `[]`, numeric indices and conflicting keys differs from
//! Stripe's (Stripe answers 400 for `a=1&a[b]=2`; an index list is a list).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Why a body or query string could not be decoded (the text of a 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    pub message: String,
    pub param: Option<String>,
}

impl FormError {
    fn new(message: impl Into<String>, param: Option<&str>) -> FormError {
        FormError {
            message: message.into(),
            param: param.map(str::to_string),
        }
    }
}

/// Deepest bracket nesting accepted (Stripe's own objects nest 4–5 levels).
const MAX_DEPTH: usize = 16;
/// Largest list index accepted in `items[N]`.
const MAX_INDEX: usize = 10_000;

#[derive(Debug)]
enum Node {
    Leaf(String),
    Map(BTreeMap<String, Node>),
    List(Vec<Node>),
}

/// Decodes `application/x-www-form-urlencoded` text (a body or a query string).
pub fn decode(text: &str) -> Result<Value, FormError> {
    let mut root: BTreeMap<String, Node> = BTreeMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(k)?;
        let value = percent_decode(v)?;
        let path = split_key(&key)?;
        insert(&mut root, &path, value, &key)?;
    }
    Ok(Value::Object(
        root.into_iter().map(|(k, n)| (k, to_json(n))).collect(),
    ))
}

/// `+` is a space, `%XX` a byte; the bytes must be UTF-8.
fn percent_decode(s: &str) -> Result<String, FormError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        FormError::new("Invalid percent-encoding in the request.", None)
                    })?;
                out.push(hex);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::new("The request is not valid UTF-8.", None))
}

/// A segment of a bracket key.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Name(String),
    /// `[]`: append to a list.
    Push,
    /// `[3]`: a list position.
    Index(usize),
}

fn split_key(key: &str) -> Result<Vec<Seg>, FormError> {
    let bad = || FormError::new(format!("Invalid parameter name: {key}"), Some(key));
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(bad());
    }
    let mut segs = vec![Seg::Name(head.to_string())];
    while !rest.is_empty() {
        let inner_end = rest.find(']').ok_or_else(bad)?;
        if !rest.starts_with('[') {
            return Err(bad());
        }
        let inner = &rest[1..inner_end];
        if inner.contains('[') {
            return Err(bad());
        }
        segs.push(if inner.is_empty() {
            Seg::Push
        } else if inner.bytes().all(|c| c.is_ascii_digit()) {
            match inner.parse::<usize>() {
                Ok(n) if n <= MAX_INDEX => Seg::Index(n),
                _ => return Err(bad()),
            }
        } else {
            Seg::Name(inner.to_string())
        });
        rest = &rest[inner_end + 1..];
        if segs.len() > MAX_DEPTH {
            return Err(bad());
        }
    }
    Ok(segs)
}

fn conflict(key: &str) -> FormError {
    FormError::new(
        format!("Invalid parameter: `{key}` conflicts with another parameter of the same name."),
        Some(key),
    )
}

fn insert(
    map: &mut BTreeMap<String, Node>,
    path: &[Seg],
    value: String,
    key: &str,
) -> Result<(), FormError> {
    let Some((Seg::Name(first), rest)) = path.split_first() else {
        return Err(conflict(key));
    };
    if rest.is_empty() {
        // A repeated plain key: the last one wins, as with Stripe.
        if matches!(map.get(first), Some(Node::Map(_) | Node::List(_))) {
            return Err(conflict(key));
        }
        map.insert(first.clone(), Node::Leaf(value));
        return Ok(());
    }
    let child = map.entry(first.clone()).or_insert_with(|| match rest[0] {
        Seg::Name(_) => Node::Map(BTreeMap::new()),
        _ => Node::List(Vec::new()),
    });
    insert_node(child, rest, value, key)
}

fn insert_node(node: &mut Node, path: &[Seg], value: String, key: &str) -> Result<(), FormError> {
    let Some((seg, rest)) = path.split_first() else {
        return Err(conflict(key));
    };
    let fresh = |rest: &[Seg]| match rest.first() {
        None => Node::Leaf(String::new()),
        Some(Seg::Name(_)) => Node::Map(BTreeMap::new()),
        Some(_) => Node::List(Vec::new()),
    };
    match (node, seg) {
        (Node::Map(m), Seg::Name(_)) => insert(m, path, value, key),
        // `[N]` under a map: a numeric key; the map becomes a list at the end if all keys are.
        (Node::Map(m), Seg::Index(i)) => {
            let mut p = path.to_vec();
            p[0] = Seg::Name(i.to_string());
            insert(m, &p, value, key)
        }
        (Node::List(l), Seg::Push) => {
            let mut n = fresh(rest);
            if rest.is_empty() {
                n = Node::Leaf(value);
            } else {
                insert_node(&mut n, rest, value, key)?;
            }
            l.push(n);
            Ok(())
        }
        (Node::List(l), Seg::Index(i)) => {
            let i = *i;
            if i > l.len() {
                // A gap (`items[5]` first): keep positions by falling back to a map.
                return Err(FormError::new(
                    format!(
                        "Invalid array index in `{key}`: indices must start at 0 and have no gaps."
                    ),
                    Some(key),
                ));
            }
            if i == l.len() {
                l.push(fresh(rest));
            }
            if rest.is_empty() {
                if matches!(l[i], Node::Map(_) | Node::List(_)) {
                    return Err(conflict(key));
                }
                l[i] = Node::Leaf(value);
                Ok(())
            } else {
                if let Node::Leaf(_) = l[i] {
                    return Err(conflict(key));
                }
                insert_node(&mut l[i], rest, value, key)
            }
        }
        _ => Err(conflict(key)),
    }
}

fn to_json(n: Node) -> Value {
    match n {
        Node::Leaf(s) => Value::String(s),
        Node::List(l) => Value::Array(l.into_iter().map(to_json).collect()),
        Node::Map(m) => {
            let numeric = !m.is_empty() && m.keys().all(|k| k.bytes().all(|c| c.is_ascii_digit()));
            if numeric {
                let mut items: Vec<(usize, Node)> = m
                    .into_iter()
                    .map(|(k, v)| (k.parse().unwrap_or(usize::MAX), v))
                    .collect();
                items.sort_by_key(|(k, _)| *k);
                Value::Array(items.into_iter().map(|(_, v)| to_json(v)).collect())
            } else {
                Value::Object(
                    m.into_iter()
                        .map(|(k, v)| (k, to_json(v)))
                        .collect::<Map<_, _>>(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn brackets_become_objects_and_lists() {
        let v = decode(
            "amount=1500&metadata%5Bplan%5D=11&metadata[note]=a+b%21&expand[]=default_source&expand[]=x\
             &items[0][price]=p1&items[1][price]=p2&items[1][quantity]=3",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "amount": "1500",
                "metadata": {"plan": "11", "note": "a b!"},
                "expand": ["default_source", "x"],
                "items": [{"price": "p1"}, {"price": "p2", "quantity": "3"}]
            })
        );
    }

    #[test]
    fn the_runtime_clients_pairs_round_trip() {
        let body = json!({"amount": 5, "metadata": {"k": "v w"}, "expand": ["default_source"],
                          "items": [{"price": "a"}, {"price": "b"}]});
        let pairs = crate::providers::stripe::form_pairs(&body);
        let text: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    k.replace('[', "%5B").replace(']', "%5D"),
                    v.replace(' ', "+")
                )
            })
            .collect();
        assert_eq!(
            decode(&text.join("&")).unwrap(),
            json!({"amount": "5", "metadata": {"k": "v w"}, "expand": ["default_source"],
                   "items": [{"price": "a"}, {"price": "b"}]})
        );
    }

    #[test]
    fn conflicts_and_bad_names_are_errors() {
        for bad in [
            "a=1&a[b]=2",
            "a[b]=1&a=2",
            "[x]=1",
            "a[b=1",
            "a]b[=1",
            "a[%ZZ]=1",
            "a=%C3%28",
            "a[5]=1&a[]=2",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
        assert_eq!(decode("").unwrap(), json!({}));
        assert_eq!(decode("a=1&a=2").unwrap(), json!({"a": "2"}));
    }

    proptest! {
        #[test]
        fn any_text_decodes_or_errs_without_panic(s in ".{0,80}") {
            let _ = decode(&s);
        }

        #[test]
        fn bracket_soup_decodes_or_errs_without_panic(s in "[a-c\\[\\]0-9=&%+]{0,60}") {
            let _ = decode(&s);
        }
    }
}
