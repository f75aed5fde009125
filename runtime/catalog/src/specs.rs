//! Reading the providers' OpenAPI files in `shared/specs/` for conformance
//! tests: of this crate's catalog (against the specs) and of the runtime's
//! requests (against the same specs). Test support, not used at run time:
//! it panics when the spec files are missing or malformed.
//!
//! Stripe's spec3.yaml is 4 MB: parsing all of it takes seconds in a debug
//! build, so [`slice`] cuts out just the operations and component schemas a
//! test needs (the file is laid out regularly: paths at indent 2, methods at
//! 4, component schemas at 4) and parses only those.

use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// `shared/specs/`, beside the repository.
pub fn specs_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs");
    assert!(
        dir.join("SOURCES.md").is_file(),
        "the provider specs are not at {} (shared/ must sit beside the repository)",
        dir.display()
    );
    dir
}

/// One spec file, parsed whole, or (Stripe) cut into pieces on demand.
#[derive(Debug)]
pub struct Spec {
    /// Path relative to shared/specs, e.g. `vipps/ecom/swagger.yaml`.
    pub name: String,
    source: Source,
    pieces: RefCell<HashMap<String, Option<Rc<Value>>>>,
}

#[derive(Debug)]
enum Source {
    Whole(Value),
    Sliced(String),
}

impl Spec {
    pub fn load(name: &str) -> Spec {
        let path = specs_dir().join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let source = if text.len() > 1_000_000 {
            Source::Sliced(text)
        } else if name.ends_with(".json") {
            Source::Whole(serde_json::from_str(&text).expect(name))
        } else {
            Source::Whole(serde_saphyr::from_str(&text).expect(name))
        };
        Spec {
            name: name.to_owned(),
            source,
            pieces: RefCell::default(),
        }
    }

    /// The value at a JSON pointer such as `/components/schemas/invoice`.
    pub fn pointer(&self, pointer: &str) -> Option<Rc<Value>> {
        if let Some(v) = self.pieces.borrow().get(pointer) {
            return v.clone();
        }
        let found = match &self.source {
            Source::Whole(doc) => doc.pointer(pointer).cloned(),
            Source::Sliced(text) => slice(text, pointer),
        };
        let found = found.map(Rc::new);
        self.pieces
            .borrow_mut()
            .insert(pointer.to_owned(), found.clone());
        found
    }

    /// The operation object, with the path item's shared parameters added.
    pub fn operation(&self, path: &str, method: &str) -> Option<Value> {
        let item = self.pointer(&format!("/paths/{}", escape(path)))?;
        let mut op = item.get(method.to_ascii_lowercase())?.clone();
        if let Some(shared) = item.get("parameters").and_then(Value::as_array) {
            let params = op
                .as_object_mut()?
                .entry("parameters")
                .or_insert_with(|| Value::Array(vec![]));
            if let Value::Array(list) = params {
                list.extend(shared.iter().cloned());
            }
        }
        Some(op)
    }
}

/// Escapes one JSON pointer token.
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

pub fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Cuts `/paths/<path>` or `/components/schemas/<name>` (optionally followed
/// by more pointer tokens) out of Stripe's YAML text and parses just that.
pub fn slice(text: &str, pointer: &str) -> Option<Value> {
    let tokens: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
    let (section, indent, key, rest) = match tokens.as_slice() {
        [s, key, rest @ ..] if s == "paths" => ("paths:", 2, key.clone(), rest),
        [c, s, key, rest @ ..] if c == "components" && s == "schemas" => {
            ("components:", 4, key.clone(), rest)
        }
        _ => return None,
    };
    let start_section = text.lines().position(|l| l == section)?;
    let pad = " ".repeat(indent);
    // Keys with `{` are quoted in the file: '/v1/customers/{customer}':
    let heads = [format!("{pad}{key}:"), format!("{pad}'{key}':")];
    let lines: Vec<&str> = text.lines().collect();
    let mut start = None;
    for (i, line) in lines.iter().enumerate().skip(start_section + 1) {
        if !line.is_empty() && !line.starts_with(' ') {
            break; // the next top-level key: the section is over
        }
        let is_head = |h: &String| {
            line.strip_prefix(h.as_str())
                .is_some_and(|r| r.is_empty() || r.starts_with(' '))
        };
        if heads.iter().any(is_head) {
            start = Some(i);
            break;
        }
    }
    let start = start?;
    let mut block = Vec::new();
    for line in &lines[start + 1..] {
        let depth = line.len() - line.trim_start().len();
        if !line.trim().is_empty() && depth <= indent {
            break;
        }
        block.push(line.get(indent + 2..).unwrap_or(""));
    }
    let value: Value = serde_saphyr::from_str(&block.join("\n")).ok()?;
    rest.iter()
        .try_fold(value, |v, t| v.get(t.as_str()).cloned())
}

/// All spec files, loaded once per test.
#[derive(Debug, Default)]
pub struct Specs(RefCell<HashMap<String, Rc<Spec>>>);

impl Specs {
    pub fn get(&self, name: &str) -> Rc<Spec> {
        self.0
            .borrow_mut()
            .entry(name.to_owned())
            .or_insert_with(|| Rc::new(Spec::load(name)))
            .clone()
    }

    /// Follows a `$ref` written in `from`. External URLs are not followed.
    pub fn resolve(&self, from: &Rc<Spec>, reference: &str) -> Option<(Rc<Spec>, Rc<Value>)> {
        let (file, pointer) = reference.split_once('#').unwrap_or((reference, ""));
        if file.starts_with("http://") || file.starts_with("https://") {
            return None;
        }
        let spec = if file.is_empty() {
            from.clone()
        } else {
            let dir = Path::new(&from.name).parent().unwrap_or(Path::new(""));
            self.get(&dir.join(file).to_string_lossy())
        };
        let value = spec.pointer(pointer)?;
        Some((spec, value))
    }
}

// --------------------------------------------------------------- schema walk

/// A schema, with the file its `$ref`s are relative to.
#[derive(Debug, Clone)]
pub struct At {
    pub spec: Rc<Spec>,
    pub schema: Rc<Value>,
    /// Whether every property on the way here was required by its parent
    /// (since the last list element, for table columns).
    pub required: bool,
}

/// The concrete schemas a schema stands for: `$ref`s followed, `allOf`,
/// `anyOf` and `oneOf` flattened (a property found in any of them counts).
pub fn expand(specs: &Specs, at: &At, depth: usize, out: &mut Vec<At>) {
    if depth > 24 {
        return;
    }
    if let Some(r) = at.schema.get("$ref").and_then(Value::as_str) {
        if let Some((spec, schema)) = specs.resolve(&at.spec, r) {
            expand(
                specs,
                &At {
                    spec,
                    schema,
                    ..at.clone()
                },
                depth + 1,
                out,
            );
        }
        return;
    }
    out.push(at.clone());
    for key in ["allOf", "anyOf", "oneOf"] {
        for branch in at
            .schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let branch = At {
                schema: Rc::new(branch.clone()),
                ..at.clone()
            };
            expand(specs, &branch, depth + 1, out);
        }
    }
}

/// The request body, parameters and first 2xx response body of an operation.
#[derive(Debug)]
pub struct Operation {
    pub spec: Rc<Spec>,
    pub op: Value,
}

impl Operation {
    pub fn find(specs: &Specs, spec: &str, method: &str, path: &str) -> Option<Operation> {
        let spec = specs.get(spec);
        let op = spec.operation(path, method)?;
        Some(Operation { spec, op })
    }

    pub fn at(&self, specs: &Specs, v: &Value) -> Option<At> {
        let mut at = At {
            spec: self.spec.clone(),
            schema: Rc::new(v.clone()),
            required: true,
        };
        // requestBody and responses may themselves be `$ref`s.
        while let Some(r) = at.schema.get("$ref").and_then(Value::as_str) {
            let (spec, schema) = specs.resolve(&at.spec, r)?;
            at = At {
                spec,
                schema,
                required: true,
            };
        }
        Some(at)
    }

    pub fn content_schema(&self, specs: &Specs, holder: &Value) -> Option<At> {
        let holder = self.at(specs, holder)?;
        let content = holder.schema.get("content")?.as_object()?;
        let (_, media) = content.iter().next()?;
        let schema = media.get("schema")?;
        Some(At {
            spec: holder.spec.clone(),
            schema: Rc::new(schema.clone()),
            required: true,
        })
    }

    pub fn request(&self, specs: &Specs) -> Option<At> {
        self.content_schema(specs, self.op.get("requestBody")?)
    }

    pub fn response(&self, specs: &Specs) -> Option<At> {
        let responses = self.op.get("responses")?.as_object()?;
        responses
            .iter()
            .filter(|(code, _)| code.starts_with('2'))
            .find_map(|(_, r)| self.content_schema(specs, r))
    }

    pub fn parameter(&self, specs: &Specs, place: &str, name: &str) -> Option<At> {
        let params = self.op.get("parameters")?.as_array()?;
        params.iter().find_map(|p| {
            let p = self.at(specs, p)?;
            let matches = p.schema.get("in").and_then(Value::as_str) == Some(place)
                && p.schema.get("name").and_then(Value::as_str) == Some(name);
            matches.then(|| At {
                spec: p.spec.clone(),
                schema: Rc::new(p.schema.get("schema").cloned().unwrap_or(Value::Null)),
                required: p.schema.get("required").and_then(Value::as_bool) == Some(true),
            })
        })
    }
}
