//! Data items, their types and constraints (also table columns, signal data
//! and HTTP response fields).

use super::{Builder, Seen, parts, suggestion};
use crate::ast::{Constraints, DataItem, Ident, SelectOption, Str, TypeExpr, TypeKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::dsl::grammar::Rule;
use pest::iterators::Pair;

/// The constraints a data item may have, as written.
const CONSTRAINTS: &[&str] = &[
    "required",
    "default",
    "min",
    "max",
    "max_length",
    "pattern",
    "label",
];

impl Builder<'_> {
    /// The `data_item`s of a block (`data`, `table`, signal data, `response`).
    pub(super) fn data_items(&mut self, pair: Pair<'_, Rule>) -> Vec<DataItem> {
        parts(pair)
            .filter(|p| p.as_rule() == Rule::data_item)
            .map(|p| self.data_item(p))
            .collect()
    }

    /// `name: type constraint…`
    fn data_item(&mut self, pair: Pair<'_, Rule>) -> DataItem {
        let span = self.span(&pair);
        let mut name = Ident {
            name: String::new(),
            span,
        };
        let mut ty = TypeExpr {
            kind: TypeKind::String,
            span,
        };
        let mut label = None;
        let mut c = Constraints::default();
        let mut seen = Seen::default();
        for p in parts(pair) {
            let rule = p.as_rule();
            let kw = self.keyword_span(&p);
            match rule {
                Rule::field_name => {
                    name = self.name(&p);
                    self.check_field_name(&name, "data item name");
                }
                Rule::type_expr => ty = self.type_expr(p),
                Rule::c_required => {
                    if self.once(&mut seen, "required", kw) {
                        c.required = Some(kw);
                    }
                }
                Rule::c_default => {
                    let e = self.inner_expr(p);
                    if self.once(&mut seen, "default", kw) {
                        c.default = Some(e);
                    }
                }
                Rule::c_min => {
                    let e = self.inner_expr(p);
                    if self.once(&mut seen, "min", kw) {
                        c.min = Some(e);
                    }
                }
                Rule::c_max => {
                    let e = self.inner_expr(p);
                    if self.once(&mut seen, "max", kw) {
                        c.max = Some(e);
                    }
                }
                Rule::c_max_length => {
                    let e = self.inner_expr(p);
                    if self.once(&mut seen, "max_length", kw) {
                        c.max_length = Some(e);
                    }
                }
                Rule::c_pattern => {
                    let s = self.inner_string(p);
                    if self.once(&mut seen, "pattern", kw) {
                        c.pattern = Some(s);
                    }
                }
                Rule::c_label => {
                    let s = self.inner_string(p);
                    if self.once(&mut seen, "label", kw) {
                        label = Some(s);
                    }
                }
                _ => self.bad_constraint(&p),
            }
        }
        DataItem {
            name,
            ty,
            label,
            constraints: c,
            span,
        }
    }

    /// A word after a type that is no constraint.
    fn bad_constraint(&mut self, pair: &Pair<'_, Rule>) {
        let word = pair.as_str();
        let help = match suggestion(word, CONSTRAINTS) {
            Some(s) => format!("{s} Constraints are {}.", CONSTRAINTS.join(", ")),
            None => format!("constraints are {}", CONSTRAINTS.join(", ")),
        };
        self.push(
            Diagnostic::new(
                Code::DslSyntax,
                format!("unknown constraint `{word}`"),
                self.span(pair),
                "not a constraint",
            )
            .with_help(help),
        );
    }

    /// A type: a scalar name, `money(CUR)`, `id(provider.kind)`,
    /// `select { … }`, `table { … }`, or an unknown name.
    fn type_expr(&mut self, pair: Pair<'_, Rule>) -> TypeExpr {
        let span = self.span(&pair);
        let Some(inner) = parts(pair).next() else {
            return TypeExpr {
                kind: TypeKind::String,
                span,
            };
        };
        let kind = match inner.as_rule() {
            Rule::money_type => TypeKind::Money {
                currency: parts(inner).next().map(|p| self.ident(&p)),
            },
            Rule::id_type => {
                let mut ids = parts(inner).map(|p| self.ident(&p));
                let missing = Ident {
                    name: String::new(),
                    span,
                };
                let provider = ids.next().unwrap_or_else(|| missing.clone());
                let kind = ids.next().unwrap_or(missing);
                TypeKind::Id { provider, kind }
            }
            Rule::select_type => TypeKind::Select {
                options: parts(inner).map(|p| self.select_option(p)).collect(),
            },
            Rule::table_type => TypeKind::Table {
                columns: self.data_items(inner),
            },
            _ => {
                let name = self.inner_ident(inner);
                scalar_type(&name.name).unwrap_or(TypeKind::Unknown(name))
            }
        };
        TypeExpr { kind, span }
    }

    /// `"81": "Japan"`
    fn select_option(&mut self, pair: Pair<'_, Rule>) -> SelectOption {
        let span = self.span(&pair);
        let mut strings = parts(pair)
            .map(|p| self.string(&p))
            .collect::<Vec<_>>()
            .into_iter();
        let missing = Str {
            value: String::new(),
            span,
        };
        let id = strings.next().unwrap_or_else(|| missing.clone());
        let label = strings.next().unwrap_or(missing);
        SelectOption { id, label, span }
    }
}

/// The scalar type a name stands for.
fn scalar_type(name: &str) -> Option<TypeKind> {
    Some(match name {
        "string" => TypeKind::String,
        "text" => TypeKind::Text,
        "integer" => TypeKind::Integer,
        "decimal" => TypeKind::Decimal,
        "bool" => TypeKind::Bool,
        "date" => TypeKind::Date,
        "datetime" => TypeKind::Datetime,
        "email" => TypeKind::Email,
        "phone" => TypeKind::Phone,
        "url" => TypeKind::Url,
        _ => return None,
    })
}
