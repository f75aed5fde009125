//! Data items (and table columns, HTTP response fields, signal fields): their
//! types and constraints.

use super::Checker;
use super::literals::Literal;
use super::types::{Column, SelectOption, TYPE_NAMES, Type};
use super::values::{Expected, LimitSpans, Limits, What, is_valid_currency_code, literal_number};
use crate::ast::{self, TypeKind};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::ir;
use crate::span::Span;
use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

impl<'a> Checker<'a> {
    /// Resolves the types of the flow's data items and declares them.
    pub(crate) fn declare_data(&mut self, items: &'a [ast::DataItem]) {
        for item in items {
            let ty = self.resolve_item(item);
            if let Err(first) = self.scope.declare_data(item, ty) {
                self.duplicate(&item.name, first, "data item");
            }
        }
    }

    /// Resolves a list of declared fields (HTTP response, signal data),
    /// reporting duplicates; returns `(name, type)` in order.
    pub(crate) fn resolve_fields(
        &mut self,
        items: &[ast::DataItem],
        what: &str,
    ) -> Vec<(String, Type)> {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let ty = self.resolve_item(item);
            if let Some(&first) = seen.get(item.name.name.as_str()) {
                self.duplicate(&item.name, first, what);
                continue;
            }
            seen.insert(&item.name.name, item.name.span);
            out.push((item.name.name.clone(), ty));
        }
        out
    }

    /// E0103 with a label at the first definition.
    pub(crate) fn duplicate(&mut self, name: &ast::Ident, first: Span, what: &str) {
        self.report(
            Diagnostic::new(
                Code::DuplicateId,
                format!("{what} `{}` is defined twice", name.name),
                name.span,
                "defined again here",
            )
            .with_label(first, "first defined here")
            .with_help(format!("rename one of them; {what}s must be unique")),
        );
    }

    /// The type of a declared item, remembered for [`Checker::check_item`].
    fn resolve_item(&mut self, item: &ast::DataItem) -> Type {
        let ty = self.resolve_type(&item.ty);
        self.item_types.insert(item_key(item), ty.clone());
        ty
    }

    /// Turns a written type into a [`Type`], reporting unknown names.
    pub(crate) fn resolve_type(&mut self, te: &ast::TypeExpr) -> Type {
        match &te.kind {
            TypeKind::String => Type::String,
            TypeKind::Text => Type::Text,
            TypeKind::Integer => Type::Integer,
            TypeKind::Decimal => Type::Decimal,
            TypeKind::Bool => Type::Bool,
            TypeKind::Date => Type::Date,
            TypeKind::Datetime => Type::Datetime,
            TypeKind::Email => Type::Email,
            TypeKind::Phone => Type::Phone,
            TypeKind::Url => Type::Url,
            TypeKind::Money { currency: None } => Type::Money(None),
            TypeKind::Money {
                currency: Some(code),
            } => {
                if is_valid_currency_code(&code.name) {
                    Type::Money(Some(code.name.to_ascii_uppercase()))
                } else {
                    self.report(
                        Diagnostic::new(
                            Code::MalformedLiteral,
                            format!("`{}` is not a currency code", code.name),
                            code.span,
                            "not an ISO 4217 code",
                        )
                        .with_help(
                            "write a three-letter ISO 4217 code: `money(EUR)`, `money(JPY)`",
                        ),
                    );
                    Type::Money(None)
                }
            }
            TypeKind::Select { options } => Type::Select(self.resolve_options(options)),
            TypeKind::Table { columns } => {
                let mut seen: HashMap<&str, Span> = HashMap::new();
                let mut out = Vec::with_capacity(columns.len());
                for column in columns {
                    let ty = self.resolve_item(column);
                    if let Some(&first) = seen.get(column.name.name.as_str()) {
                        self.duplicate(&column.name, first, "column");
                        continue;
                    }
                    seen.insert(&column.name.name, column.name.span);
                    out.push(Column {
                        name: column.name.name.clone(),
                        ty,
                        required: column.constraints.required.is_some(),
                    });
                }
                Type::Table(Arc::from(out))
            }
            TypeKind::Id { provider, kind } => self.resolve_id_type(provider, kind),
            TypeKind::Unknown(name) => {
                let mut d = Diagnostic::new(
                    Code::UnknownType,
                    format!("unknown type `{}`", name.name),
                    name.span,
                    "not a type",
                );
                d = match did_you_mean(&name.name, TYPE_NAMES.iter().copied()) {
                    Some(best) => d.with_help(format!("did you mean `{best}`?")),
                    None => d.with_help(format!(
                        "the types are {}, `money(CUR)` and `id(provider.kind)`",
                        super::list_names(TYPE_NAMES)
                    )),
                };
                self.report(d);
                Type::Error
            }
        }
    }

    fn resolve_options(&mut self, options: &[ast::SelectOption]) -> Arc<[SelectOption]> {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut out = Vec::with_capacity(options.len());
        for option in options {
            if let Some(&first) = seen.get(option.id.value.as_str()) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateId,
                        format!("select option `{}` is defined twice", option.id.value),
                        option.id.span,
                        "defined again here",
                    )
                    .with_label(first, "first defined here")
                    .with_help("give each option its own id"),
                );
                continue;
            }
            seen.insert(&option.id.value, option.id.span);
            out.push(SelectOption {
                id: option.id.value.clone(),
                label: option.label.value.clone(),
            });
        }
        Arc::from(out)
    }

    /// `id(provider.kind)`: E0107 for an unknown provider, E0104 for an
    /// unknown kind of id.
    fn resolve_id_type(&mut self, provider: &ast::Ident, kind: &ast::Ident) -> Type {
        let Some(p) = self.provider(provider) else {
            return Type::Error;
        };
        if p.id_kind(&kind.name).is_none() {
            let kinds: Vec<&str> = p.ids.iter().map(|k| k.name.as_str()).collect();
            let mut d = Diagnostic::new(
                Code::UnknownType,
                format!("{} has no kind of id `{}`", p.title, kind.name),
                kind.span,
                "unknown kind of id",
            );
            d = match did_you_mean(&kind.name, kinds.iter().copied()) {
                Some(best) => d.with_help(format!("did you mean `id({}.{best})`?", p.name)),
                None => d.with_help(format!(
                    "{}'s ids are {}",
                    p.title,
                    super::list_names(&kinds)
                )),
            };
            self.report(d);
            return Type::Error;
        }
        Type::Id {
            provider: p.name.clone(),
            kind: kind.name.clone(),
        }
    }

    /// Checks the constraints of the flow's data items; lowers them.
    pub(crate) fn check_data(&mut self, items: &[ast::DataItem]) -> Vec<ir::DataItem> {
        items.iter().map(|item| self.check_item(item)).collect()
    }

    /// Checks one item's constraints against its type; lowers it.
    pub(crate) fn check_item(&mut self, item: &ast::DataItem) -> ir::DataItem {
        let ty = self
            .item_types
            .get(&item_key(item))
            .cloned()
            .unwrap_or(Type::Error);
        let c = &item.constraints;
        let name = &item.name.name;
        let pattern = c
            .pattern
            .as_ref()
            .and_then(|p| self.check_pattern(p, &ty, name));
        let max_length = c
            .max_length
            .as_ref()
            .and_then(|e| self.check_max_length(e, &ty, name));
        let (min, max) = (
            c.min
                .as_ref()
                .map(|e| self.check_bound(e, &ty, name, "min")),
            c.max
                .as_ref()
                .map(|e| self.check_bound(e, &ty, name, "max")),
        );
        if let (Some(lo), Some(hi)) = (&c.min, &c.max)
            && let (Some(l), Some(h)) = (literal_number(lo), literal_number(hi))
            && l > h
        {
            self.report(
                Diagnostic::new(
                    Code::InvalidConstraint,
                    format!("`{name}` has a minimum {l} above its maximum {h}"),
                    lo.span,
                    "minimum",
                )
                .with_label(hi.span, "maximum")
                .with_help("swap them, or fix one"),
            );
        }
        let limits = Limits {
            pattern: pattern.as_deref(),
            max_length,
            min_length: None,
            min: c.min.as_ref().and_then(literal_number),
            max: c.max.as_ref().and_then(literal_number),
            enum_values: &[],
            currencies: &[],
            at: LimitSpans {
                pattern: c.pattern.as_ref().map(|p| p.span),
                max_length: c.max_length.as_ref().map(|e| e.span),
                min: c.min.as_ref().map(|e| e.span),
                max: c.max.as_ref().map(|e| e.span),
            },
        };
        let default = c.default.as_ref().map(|e| {
            let mut want = Expected::new(ty.clone(), What::Code(name)).declared_at(item.ty.span);
            want.limits = limits.clone();
            self.expect(e, &want)
        });
        for (which, typed, written) in [
            ("default", default.as_ref(), &c.default),
            ("min", min.as_ref().and_then(Option::as_ref), &c.min),
            ("max", max.as_ref().and_then(Option::as_ref), &c.max),
        ] {
            if let (Some(e), Some(w)) = (typed, written) {
                self.require_literal(e, w.span, &format!("`{which}` of `{name}`"), Literal::Value);
            }
        }
        let columns = match &item.ty.kind {
            TypeKind::Table { columns } => columns.iter().map(|c| self.check_item(c)).collect(),
            _ => Vec::new(),
        };
        ir::DataItem {
            name: name.clone(),
            ty,
            label: item.label.as_ref().map(|l| l.value.clone()),
            required: c.required.is_some(),
            default,
            min: min.flatten(),
            max: max.flatten(),
            pattern,
            max_length,
            columns,
        }
    }

    /// A `pattern` only fits text and must be a valid regex.
    fn check_pattern(&mut self, pattern: &ast::Str, ty: &Type, name: &str) -> Option<String> {
        if !ty.is_unknown()
            && !matches!(
                ty,
                Type::String | Type::Text | Type::Email | Type::Phone | Type::Url
            )
        {
            self.report(
                Diagnostic::new(
                    Code::InvalidConstraint,
                                        format!("`pattern` does not fit `{name}`, {} item", super::a(ty)),
                    pattern.span,
                    format!("a pattern on {}", super::a(ty)),
                )
                .with_help("`pattern` applies to string, text, email, phone and url items; use `min`/`max` for numbers and dates"),
            );
            return None;
        }
        if self.regex(&pattern.value).is_none() {
            self.report(
                Diagnostic::new(
                    Code::InvalidConstraint,
                    format!("the pattern of `{name}` is not a valid regular expression"),
                    pattern.span,
                    "invalid regular expression",
                )
                .with_help("fix the regular expression (Rust `regex` syntax), e.g. `^D-[0-9]+$`"),
            );
            return None;
        }
        Some(pattern.value.clone())
    }

    /// `max_length` fits text and tables, and is a whole number.
    fn check_max_length(&mut self, e: &ast::Expr, ty: &Type, name: &str) -> Option<u64> {
        let fits = ty.is_unknown() || ty.is_stringish() || matches!(ty, Type::Table(_));
        if !fits {
            self.report(
                Diagnostic::new(
                    Code::InvalidConstraint,
                    format!("`max_length` does not fit `{name}`, {} item", super::a(ty)),
                    e.span,
                    format!("a length limit on {}", super::a(ty)),
                )
                .with_help("`max_length` applies to text items and tables; use `max` for numbers"),
            );
            return None;
        }
        match e.kind {
            ast::ExprKind::Int(n) if n >= 0 => Some(n as u64),
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidConstraint,
                        format!("`max_length` of `{name}` must be a whole number"),
                        e.span,
                        "not a whole number",
                    )
                    .with_help("write a number of characters, e.g. `max_length: 64`"),
                );
                None
            }
        }
    }

    /// `min`/`max` fit numbers, money, dates and durations, with a value of
    /// the item's type (a plain number for money).
    fn check_bound(
        &mut self,
        e: &ast::Expr,
        ty: &Type,
        name: &str,
        which: &str,
    ) -> Option<ir::Expr> {
        let bound_ty = match ty {
            Type::Money(_) => {
                let typed = self.expr(e);
                if typed.ty.is_number() || typed.ty.is_money() || typed.ty.is_unknown() {
                    if let (Type::Money(Some(want)), Type::Money(Some(got))) = (ty, &typed.ty)
                        && !want.eq_ignore_ascii_case(got)
                    {
                        self.report(Diagnostic::new(
                            Code::CurrencyMismatch,
                            format!("`{which}` of `{name}` is in {got}, but `{name}` is `{ty}`"),
                            e.span,
                            format!("this is `{}`", typed.ty),
                        ));
                    }
                    return Some(typed);
                }
                Type::Decimal
            }
            Type::Integer | Type::Decimal | Type::Date | Type::Datetime | Type::Duration => {
                ty.clone()
            }
            t if t.is_unknown() => {
                self.expr(e);
                return None;
            }
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidConstraint,
                                                format!("`{which}` does not fit `{name}`, {} item", super::a(ty)),
                        e.span,
                        format!("a `{which}` on {}", super::a(ty)),
                    )
                    .with_help("`min` and `max` apply to integer, decimal, money, date and datetime items; for text use `max_length`"),
                );
                return None;
            }
        };
        let want = Expected::new(bound_ty, format!("`{which}` of `{name}`"));
        Some(self.expect(e, &want))
    }
}

/// The key of a declared item in [`Checker::item_types`].
pub(crate) fn item_key(item: &ast::DataItem) -> usize {
    std::ptr::from_ref(item) as usize
}
