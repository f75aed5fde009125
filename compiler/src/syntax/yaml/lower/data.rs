//! Data items and their types: `data:`, table `columns:`, HTTP `response:`
//! and signal `data:` all use this shape.

use super::{Lowerer, entry_span, get, keys};
use crate::ast::{Constraints, DataItem, Ident, SelectOption, Str, TypeExpr, TypeKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::syntax::yaml::node::{Entry, Node, NodeKind, Scalar};
use crate::syntax::yaml::scalar::{is_ident, sub_span};

/// The type names, for help texts.
const TYPE_NAMES: &str = "string, text, integer, decimal, money, money(CUR), bool, date, \
                          datetime, email, phone, url, select, table, id(provider.kind)";

impl Lowerer<'_> {
    /// A map of name -> data item. `what` names the map in messages.
    pub(super) fn data_items(&mut self, node: &Node, what: &str) -> Vec<DataItem> {
        let Some(entries) = self.map_or_empty(node, &format!("`{what}`")) else {
            return Vec::new();
        };
        entries.iter().filter_map(|e| self.data_item(e)).collect()
    }

    /// `name: type` or `name: { type: …, required: …, … }`.
    fn data_item(&mut self, entry: &Entry) -> Option<DataItem> {
        let name = self.field_name(&entry.key, "data item name");
        let span = entry_span(entry);
        let item = match &entry.value.kind {
            NodeKind::Scalar(s) => {
                let ty = self.type_expr(s, None, None)?;
                DataItem {
                    name: name?,
                    ty,
                    label: None,
                    constraints: Constraints::default(),
                    span,
                }
            }
            NodeKind::Map(entries) => self.data_item_map(entry, entries, name, span)?,
            NodeKind::Seq(_) | NodeKind::Invalid => {
                self.wrong_shape(
                    &entry.value,
                    &format!("data item `{}`", entry.key.value),
                    "a type or a map",
                );
                return None;
            }
        };
        Some(item)
    }

    fn data_item_map(
        &mut self,
        entry: &Entry,
        entries: &[Entry],
        name: Option<Ident>,
        span: Span,
    ) -> Option<DataItem> {
        let context = format!("data item `{}`", entry.key.value);
        self.check_keys(entries, keys::DATA_ITEM, &context);
        let options = get(entries, "options");
        let columns = get(entries, "columns");
        let ty = match get(entries, "type") {
            Some(t) => {
                let s = self.scalar(&t.value, "`type`");
                s.and_then(|s| self.type_expr(s, options, columns))
            }
            None => {
                self.missing(entry.key.span, &context, "type", "type: string");
                None
            }
        };
        let mut constraints = Constraints::default();
        if let Some(e) = get(entries, "required") {
            constraints.required = self.required(e);
        }
        let mut expr_of = |key: &str| {
            let e = get(entries, key)?;
            self.expr(&e.value, &format!("`{key}`"))
        };
        constraints.default = expr_of("default");
        constraints.min = expr_of("min");
        constraints.max = expr_of("max");
        constraints.max_length = expr_of("max_length");
        constraints.pattern =
            get(entries, "pattern").and_then(|e| self.text(&e.value, "`pattern`"));
        let label = get(entries, "label").and_then(|e| self.text(&e.value, "`label`"));
        Some(DataItem {
            name: name?,
            ty: ty?,
            label,
            constraints,
            span,
        })
    }

    /// `required: true|false`: the entry's span when true.
    fn required(&mut self, e: &Entry) -> Option<Span> {
        match e.value.as_scalar() {
            Some(s) if !s.style.is_quoted() && s.value == "true" => Some(entry_span(e)),
            Some(s) if !s.style.is_quoted() && s.value == "false" => None,
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidLiteral,
                        "`required` must be `true` or `false`",
                        e.value.span,
                        "not a boolean",
                    )
                    .with_help("write `required: true`, or leave the key out"),
                );
                None
            }
        }
    }

    /// Reads a type string (`string`, `money(JPY)`, `id(stripe.customer)`,
    /// `select`, `table`). `options` and `columns` are the item's keys of
    /// those names, used by `select` and `table` and an error elsewhere.
    fn type_expr(
        &mut self,
        s: &Scalar,
        options: Option<&Entry>,
        columns: Option<&Entry>,
    ) -> Option<TypeExpr> {
        let text = s.value.as_str();
        let span = s.text_span();
        let (name, arg) = match text.split_once('(') {
            Some((name, rest)) => match rest.strip_suffix(')') {
                Some(arg) => (name, Some((arg, name.len() + 1))),
                None => return self.bad_type(s),
            },
            None => (text, None),
        };
        if !is_ident(name) {
            return self.bad_type(s);
        }
        let kind = match (name, arg) {
            ("money", Some((cur, at))) => {
                if !is_ident(cur) {
                    return self.bad_type(s);
                }
                TypeKind::Money {
                    currency: Some(Ident {
                        name: cur.to_owned(),
                        span: sub_span(s, at, at + cur.len()),
                    }),
                }
            }
            ("id", Some((inner, at))) => {
                let Some((provider, kind)) = inner.split_once('.') else {
                    return self.bad_type(s);
                };
                if !is_ident(provider) || !is_ident(kind) {
                    return self.bad_type(s);
                }
                let kind_at = at + provider.len() + 1;
                TypeKind::Id {
                    provider: Ident {
                        name: provider.to_owned(),
                        span: sub_span(s, at, at + provider.len()),
                    },
                    kind: Ident {
                        name: kind.to_owned(),
                        span: sub_span(s, kind_at, kind_at + kind.len()),
                    },
                }
            }
            (_, Some(_)) => return self.bad_type(s),
            ("string", None) => TypeKind::String,
            ("text", None) => TypeKind::Text,
            ("integer", None) => TypeKind::Integer,
            ("decimal", None) => TypeKind::Decimal,
            ("money", None) => TypeKind::Money { currency: None },
            ("bool", None) => TypeKind::Bool,
            ("date", None) => TypeKind::Date,
            ("datetime", None) => TypeKind::Datetime,
            ("email", None) => TypeKind::Email,
            ("phone", None) => TypeKind::Phone,
            ("url", None) => TypeKind::Url,
            ("select", None) => TypeKind::Select {
                options: options.map_or_else(Vec::new, |e| self.select_options(&e.value)),
            },
            ("table", None) => TypeKind::Table {
                columns: columns.map_or_else(Vec::new, |e| self.data_items(&e.value, "columns")),
            },
            (other, None) => TypeKind::Unknown(Ident {
                name: other.to_owned(),
                span,
            }),
        };
        if !matches!(kind, TypeKind::Select { .. })
            && let Some(e) = options
        {
            self.misplaced(e, "select");
        }
        if !matches!(kind, TypeKind::Table { .. })
            && let Some(e) = columns
        {
            self.misplaced(e, "table");
        }
        Some(TypeExpr { kind, span })
    }

    fn bad_type<T>(&mut self, s: &Scalar) -> Option<T> {
        self.report(
            Diagnostic::new(
                Code::InvalidLiteral,
                format!("`{}` is not a type", s.value),
                s.span,
                "not a type",
            )
            .with_help(format!("types: {TYPE_NAMES}")),
        );
        None
    }

    /// `options:` or `columns:` on a type that has none.
    fn misplaced(&mut self, e: &Entry, ty: &str) {
        self.report(
            Diagnostic::new(
                Code::UnknownKey,
                format!("`{}` belongs to `type: {ty}`", e.key.value),
                e.key.span,
                format!("only a {ty} has `{}`", e.key.value),
            )
            .with_help(format!("set `type: {ty}`, or remove `{}`", e.key.value)),
        );
    }

    /// `options: { "8": East Asia, "81": Japan }`
    fn select_options(&mut self, node: &Node) -> Vec<SelectOption> {
        let Some(entries) = self.map(node, "`options`") else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|e| {
                let label =
                    self.text(&e.value, &format!("the label of option `{}`", e.key.value))?;
                Some(SelectOption {
                    id: Str {
                        value: e.key.value.clone(),
                        span: e.key.text_span(),
                    },
                    label,
                    span: entry_span(e),
                })
            })
            .collect()
    }
}
