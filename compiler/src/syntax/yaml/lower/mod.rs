//! Lowering: the YAML node tree -> [`ast::Flow`](crate::ast::Flow).
//!
//! Every error is reported and lowering goes on, so one run shows them all:
//! an unknown key is skipped, a malformed data item or step is left out of
//! the AST. The shapes follow docs/language.md.

mod connections;
mod data;
mod http;
mod start;
mod steps;

use super::keys;
use super::node::{Entry, Node, NodeKind, Scalar};
use super::scalar;
use crate::ast::{Assign, DottedName, Expr, Field, Flow, Ident, Retry, Str, Value};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::span::Span;

/// Lowers the document's root node. `None` when the root is not a map.
pub fn flow(root: &Node, diagnostics: &mut Diagnostics) -> Option<Flow> {
    let mut lw = Lowerer { diagnostics };
    lw.flow(root)
}

/// The lowering state: where diagnostics go.
pub(super) struct Lowerer<'d> {
    diagnostics: &'d mut Diagnostics,
}

/// The entry for `key` in a map.
fn get<'n>(entries: &'n [Entry], key: &str) -> Option<&'n Entry> {
    entries.iter().find(|e| e.key.value == key)
}

/// The span of a map entry: its key through its value.
fn entry_span(e: &Entry) -> Span {
    e.key.span.join(e.value.span)
}

/// Where a diagnostic about a whole map points: its first key (a compact
/// place to put a label), or the map itself when it is empty.
fn head(node: &Node) -> Span {
    node.as_map()
        .and_then(|entries| entries.first())
        .map_or(node.span, |e| e.key.span)
}

impl Lowerer<'_> {
    fn report(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    fn flow(&mut self, root: &Node) -> Option<Flow> {
        let Some(entries) = root.as_map() else {
            self.report(
                Diagnostic::new(
                    Code::WrongShape,
                    format!(
                        "a flow file must be a map of keys, found {}",
                        root.describe()
                    ),
                    root.span,
                    "expected `flow:`, `data:`, `steps:`, …",
                )
                .with_help("start the file with `flow: <name>`"),
            );
            return None;
        };
        self.check_keys(entries, keys::FLOW, "the flow file");
        let name = match get(entries, "flow") {
            Some(e) => self.ident(&e.value, "flow name"),
            None => {
                self.missing(head(root), "the flow file", "flow", "flow: my_flow");
                None
            }
        }
        .unwrap_or_else(|| Ident {
            name: String::new(),
            span: Span::point(root.span.start as usize),
        });
        let description =
            get(entries, "description").and_then(|e| self.text(&e.value, "description"));
        let data =
            get(entries, "data").map_or_else(Vec::new, |e| self.data_items(&e.value, "data"));
        let connections =
            get(entries, "connections").map_or_else(Vec::new, |e| self.connections(&e.value));
        let start = get(entries, "start").map_or_else(Vec::new, |e| self.starts(&e.value));
        let steps = get(entries, "steps").map_or_else(Vec::new, |e| self.steps(&e.value, "steps"));
        Some(Flow {
            name,
            description,
            data,
            connections,
            start,
            steps,
            span: root.span,
        })
    }

    // ------------------------------------------------------------ shapes

    /// Reports every key of `entries` that is not in `allowed` (E0010).
    fn check_keys(&mut self, entries: &[Entry], allowed: &[&str], context: &str) {
        for e in entries {
            if !allowed.contains(&e.key.value.as_str()) {
                self.unknown_key(&e.key, allowed, context);
            }
        }
    }

    /// E0010 for one key, with "did you mean" among `allowed`.
    fn unknown_key(&mut self, key: &Scalar, allowed: &[&str], context: &str) {
        let help = match did_you_mean(&key.value, allowed.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("{context} takes {}", list(allowed)),
        };
        self.report(
            Diagnostic::new(
                Code::UnknownKey,
                format!("unknown key `{}` in {context}", key.value),
                key.span,
                "unknown key",
            )
            .with_help(help),
        );
    }

    /// E0011: `owner` needs `key`.
    fn missing(&mut self, owner: Span, context: &str, key: &str, example: &str) {
        self.report(
            Diagnostic::new(
                Code::MissingKey,
                format!("{context} needs `{key}`"),
                owner,
                format!("`{key}` is missing here"),
            )
            .with_help(format!("add `{example}`")),
        );
    }

    /// E0012: `node` is not the shape `expected`.
    fn wrong_shape(&mut self, node: &Node, what: &str, expected: &str) {
        if node.kind == NodeKind::Invalid {
            return;
        }
        self.report(Diagnostic::new(
            Code::WrongShape,
            format!("{what} must be {expected}, found {}", node.describe()),
            node.span,
            format!("expected {expected}"),
        ));
    }

    fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Entry]> {
        let entries = node.as_map();
        if entries.is_none() {
            self.wrong_shape(node, what, "a map");
        }
        entries
    }

    /// A list; nothing (`key:` with no value) reads as an empty list.
    fn seq<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.kind {
            NodeKind::Seq(items) => Some(items),
            NodeKind::Scalar(s) if s.is_empty_plain() => Some(&[]),
            _ => {
                self.wrong_shape(node, what, "a list");
                None
            }
        }
    }

    fn scalar<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n Scalar> {
        let s = node.as_scalar();
        if s.is_none() {
            self.wrong_shape(node, what, "a single value");
        }
        s
    }

    /// A map, where nothing (`key:` with no value) reads as an empty map.
    fn map_or_empty<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Entry]> {
        match node.as_scalar() {
            Some(s) if s.is_empty_plain() => Some(&[]),
            _ => self.map(node, what),
        }
    }

    // ------------------------------------------------------------ scalars

    fn expr(&mut self, node: &Node, what: &str) -> Option<Expr> {
        let s = self.scalar(node, what)?;
        match scalar::expr(s) {
            Ok(e) => Some(e),
            Err(d) => {
                self.report(d);
                None
            }
        }
    }

    fn ident(&mut self, node: &Node, what: &str) -> Option<Ident> {
        self.name(node, what, false)
    }

    /// An identifier, or with `dotted` a path of them (`line.status`).
    fn name(&mut self, node: &Node, what: &str, dotted: bool) -> Option<Ident> {
        let s = self.scalar(node, what)?;
        match scalar::ident(s, what, dotted) {
            Ok(i) => Some(i),
            Err(d) => {
                self.report(d);
                None
            }
        }
    }

    fn dotted(&mut self, node: &Node, what: &str, example: &str) -> Option<DottedName> {
        let s = self.scalar(node, what)?;
        match scalar::dotted_name(s, what, example) {
            Ok(n) => Some(n),
            Err(d) => {
                self.report(d);
                None
            }
        }
    }

    /// Any scalar's text, as written (after YAML unescaping).
    fn text(&mut self, node: &Node, what: &str) -> Option<Str> {
        let s = self.scalar(node, what)?;
        Some(Str {
            value: s.value.clone(),
            span: s.text_span(),
        })
    }

    /// A map key that names a data item, a column, a response or signal
    /// field, or a credential: any text but the empty one (as in the DSL,
    /// where such names may hold `-` or be written as strings).
    fn field_name(&mut self, key: &Scalar, what: &str) -> Option<Ident> {
        if key.value.is_empty() {
            self.report(Diagnostic::new(
                Code::InvalidLiteral,
                format!("a {what} cannot be empty"),
                key.span,
                "empty name",
            ));
            return None;
        }
        Some(Self::key_ident(key))
    }

    /// A map key as a name (field names may be any text, e.g. HTTP headers).
    fn key_ident(key: &Scalar) -> Ident {
        Ident {
            name: key.value.clone(),
            span: key.text_span(),
        }
    }

    // ------------------------------------------------------------ values

    /// A field value: a scalar is an expression, a map a map value.
    fn value(&mut self, node: &Node, what: &str) -> Option<Value> {
        match &node.kind {
            NodeKind::Map(_) => Some(Value::Map(self.fields(node, what), node.span)),
            NodeKind::Seq(_) => {
                self.report(
                    Diagnostic::new(
                        Code::WrongShape,
                        format!("{what} cannot be a list"),
                        node.span,
                        "a list",
                    )
                    .with_help("a value is a single value or a map of named values"),
                );
                None
            }
            NodeKind::Scalar(_) => self.expr(node, what).map(Value::Expr),
            NodeKind::Invalid => None,
        }
    }

    /// A map of named values (`with:`, `headers:`, `settings:`, …).
    fn fields(&mut self, node: &Node, what: &str) -> Vec<Field> {
        let Some(entries) = self.map_or_empty(node, what) else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|e| {
                let value = self.value(&e.value, &format!("`{}`", e.key.value))?;
                Some(Field {
                    name: Self::key_ident(&e.key),
                    value,
                    span: entry_span(e),
                })
            })
            .collect()
    }

    /// `save:` / `set:`: a map of target names to expressions.
    fn assigns(&mut self, node: &Node, what: &str) -> Vec<Assign> {
        let Some(entries) = self.map_or_empty(node, what) else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|e| {
                let target = match scalar::ident(&e.key, "target name", true) {
                    Ok(t) => t,
                    Err(d) => {
                        self.report(d);
                        return None;
                    }
                };
                let value = self.expr(&e.value, &format!("the value of `{}`", e.key.value))?;
                Some(Assign {
                    target,
                    value,
                    span: entry_span(e),
                })
            })
            .collect()
    }

    /// `retry: { max_attempts: 5, backoff: 2s, max_backoff: 5m }`
    fn retry(&mut self, node: &Node) -> Option<Retry> {
        let entries = self.map(node, "`retry`")?;
        self.check_keys(entries, keys::RETRY, "`retry`");
        let mut field = |key: &str| {
            let e = get(entries, key)?;
            self.expr(&e.value, &format!("`{key}`"))
        };
        Some(Retry {
            max_attempts: field("max_attempts"),
            backoff: field("backoff"),
            max_backoff: field("max_backoff"),
            span: node.span,
        })
    }
}

/// "`a`, `b` or `c`"
fn list(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        None => "no keys".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}
