//! Provider actions and events against the catalog: which provider, action,
//! event and connection a step means, and its inputs (or a connection's
//! settings) against the catalog's fields.

use super::Checker;
use super::expr::error_expr;
use super::types::{Column, Type};
use super::values::{Expected, Limits, What};
use crate::ast;
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::ir;
use crate::span::Span;
use flowc_catalog::{Action, Event, Field, FieldType, Provider};
use foldhash::{HashMap, HashMapExt};
use rust_decimal::Decimal;
use std::sync::Arc;

/// A provider action a step resolved to.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedAction {
    pub provider: &'static Provider,
    pub action: &'static Action,
    /// `None` when the connection could not be resolved (already reported).
    pub connection: Option<String>,
}

/// A provider event a wait or a start resolved to.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedEvent {
    pub provider: &'static Provider,
    pub event: &'static Event,
    pub connection: Option<String>,
}

impl Checker<'_> {
    /// The catalog entry of a provider; E0107 when unknown.
    pub(crate) fn provider(&mut self, name: &ast::Ident) -> Option<&'static Provider> {
        if let Some(p) = flowc_catalog::provider(&name.name) {
            return Some(p);
        }
        let mut d = Diagnostic::new(
            Code::UnknownProvider,
            format!("unknown provider `{}`", name.name),
            name.span,
            "not a provider in the catalog",
        );
        let names: Vec<&str> = flowc_catalog::provider_names().collect();
        d = match did_you_mean(&name.name, names.iter().copied()) {
            Some(best) => d.with_help(format!("did you mean `{best}`?")),
            None => d.with_help(format!("the providers are {}", super::list_names(&names))),
        };
        self.report(d);
        None
    }

    /// `provider.action` of an action step (`batch == false`) or a batch step.
    pub(crate) fn resolve_action(
        &mut self,
        name: &ast::DottedName,
        connection: Option<&ast::Ident>,
        batch: bool,
    ) -> Option<ResolvedAction> {
        let (provider_ident, rest) = name.parts.split_first()?;
        let Some(last) = rest.last() else {
            self.report(
                Diagnostic::new(
                    Code::UnknownAction,
                    format!("`{}` does not name a provider action", name.text()),
                    name.span,
                    "needs `provider.action`",
                )
                .with_help("write the provider and the action, e.g. `stripe.create_charge`"),
            );
            return None;
        };
        let provider = self.provider(provider_ident)?;
        let action_name = join(rest);
        let action_span = rest[0].span.join(last.span);
        let Some(action) = provider.action(&action_name) else {
            let names: Vec<&str> = provider.actions.iter().map(|a| a.name.as_str()).collect();
            let mut d = Diagnostic::new(
                Code::UnknownAction,
                format!("{} has no action `{action_name}`", provider.title),
                action_span,
                "unknown action",
            );
            d = match did_you_mean(&action_name, names.iter().copied()) {
                Some(best) => d.with_help(format!("did you mean `{}.{best}`?", provider.name)),
                None => d.with_help(format!(
                    "{}'s actions are {}",
                    provider.title,
                    super::list_names(&names)
                )),
            };
            self.report(d);
            return None;
        };
        if action.batch != batch {
            let full = format!("{}.{}", provider.name, action.name);
            let d = if action.batch {
                Diagnostic::new(
                    Code::NotABatchAction,
                    format!("`{full}` is a batch action; it cannot run as a plain action"),
                    action_span,
                    "a batch action",
                )
                .with_help(format!(
                    "use a batch step: `batch: {full}` (DSL: `step id = batch {full} …`)"
                ))
            } else {
                Diagnostic::new(
                    Code::NotABatchAction,
                    format!("`{full}` is not a batch action"),
                    action_span,
                    "a plain action",
                )
                .with_help(format!(
                    "use an action step: `action: {full}` (DSL: `step id = {full} {{ … }}`)"
                ))
            };
            self.report(d);
        }
        let connection = self.resolve_connection(provider, connection, name.span);
        Some(ResolvedAction {
            provider,
            action,
            connection,
        })
    }

    /// `provider.event.name` (split at the first dot). An unknown event is
    /// E0109 in a wait, and E0506 (an invalid start, with the triggers as
    /// suggestions) in a start.
    pub(crate) fn resolve_event(
        &mut self,
        name: &ast::DottedName,
        connection: Option<&ast::Ident>,
        start: bool,
    ) -> Option<ResolvedEvent> {
        let (provider_ident, rest) = name.parts.split_first()?;
        let provider = self.provider(provider_ident)?;
        let event_name = join(rest);
        let span = match (rest.first(), rest.last()) {
            (Some(a), Some(b)) => a.span.join(b.span),
            _ => name.span,
        };
        let Some(event) = provider.event(&event_name) else {
            let names: Vec<&str> = provider
                .events
                .iter()
                .filter(|e| e.trigger || !start)
                .map(|e| e.name.as_str())
                .collect();
            let kind = if start { "trigger events" } else { "events" };
            let mut d = Diagnostic::new(
                if start {
                    Code::InvalidStart
                } else {
                    Code::UnknownEvent
                },
                if event_name.is_empty() {
                    format!("`{}` does not name an event", name.text())
                } else {
                    let singular = kind.trim_end_matches('s');
                    format!("{} has no {singular} `{event_name}`", provider.title)
                },
                span,
                if start {
                    "unknown trigger event"
                } else {
                    "unknown event"
                },
            );
            d = match did_you_mean(&event_name, names.iter().copied()) {
                Some(best) => d.with_help(format!("did you mean `{}.{best}`?", provider.name)),
                None if names.is_empty() => {
                    d.with_help(format!("the catalog has no {kind} for {}", provider.title))
                }
                None => d.with_help(format!(
                    "{}'s {kind} are {}",
                    provider.title,
                    super::list_names(&names)
                )),
            };
            self.report(d);
            return None;
        };
        let connection = self.resolve_connection(provider, connection, name.span);
        Some(ResolvedEvent {
            provider,
            event,
            connection,
        })
    }

    /// The connection a step uses: the named one, or the flow's only
    /// connection of the provider.
    pub(crate) fn resolve_connection(
        &mut self,
        provider: &Provider,
        given: Option<&ast::Ident>,
        used_at: Span,
    ) -> Option<String> {
        if let Some(name) = given {
            let Some(&c) = self.scope.connections.get(name.name.as_str()) else {
                let names: Vec<&str> = self
                    .scope
                    .connection_order
                    .iter()
                    .map(|c| c.name.name.as_str())
                    .collect();
                let mut d = Diagnostic::new(
                    Code::UnknownConnection,
                    format!("unknown connection `{}`", name.name),
                    name.span,
                    "not a connection of this flow",
                );
                d = match did_you_mean(&name.name, names.iter().copied()) {
                    Some(best) => d.with_help(format!("did you mean `{best}`?")),
                    None if names.is_empty() => d.with_help("declare it under `connections:`"),
                    None => {
                        d.with_help(format!("the connections are {}", super::list_names(&names)))
                    }
                };
                self.report(d);
                return None;
            };
            // A connection of an unknown provider is reported there.
            flowc_catalog::provider(&c.provider.name)?;
            if c.provider.name != provider.name {
                self.report(
                    Diagnostic::new(
                        Code::UnknownConnection,
                        format!(
                            "connection `{}` is a `{}` connection, not a {} one",
                            name.name, c.provider.name, provider.title
                        ),
                        name.span,
                        format!("needs a `{}` connection", provider.name),
                    )
                    .with_label(c.provider.span, "its provider")
                    .with_help(self.connection_help(provider)),
                );
                return None;
            }
            return Some(c.name.name.clone());
        }
        let candidates = self.scope.connections_of(&provider.name);
        match candidates.as_slice() {
            [only] => Some(only.name.name.clone()),
            [] => {
                let help = self.connection_help(provider);
                self.report(
                    Diagnostic::new(
                        Code::UnknownConnection,
                        format!("the flow has no {} connection", provider.title),
                        used_at,
                        format!("needs a `{}` connection", provider.name),
                    )
                    .with_help(help),
                );
                None
            }
            several => {
                let names: Vec<&str> = several.iter().map(|c| c.name.name.as_str()).collect();
                let mut d = Diagnostic::new(
                    Code::AmbiguousConnection,
                    format!(
                        "the flow has {} {} connections; say which one this uses",
                        several.len(),
                        provider.title
                    ),
                    used_at,
                    "which connection?",
                );
                for c in several {
                    d = d.with_label(
                        c.name.span,
                        format!("`{}` is a {} connection", c.name.name, provider.title),
                    );
                }
                self.report(d.with_help(format!(
                    "name one of {}: `connection: {}` (DSL: `via {}`)",
                    super::list_names(&names),
                    names[0],
                    names[0]
                )));
                None
            }
        }
    }

    fn connection_help(&self, provider: &Provider) -> String {
        let mut credentials = String::new();
        for c in provider.credentials.iter().filter(|c| c.required) {
            credentials.push_str(&format!(
                " {}: {{ env: {} }},",
                c.name,
                env_var_name(&provider.name, &c.name)
            ));
        }
        let credentials = credentials.trim_end_matches(',');
        let mode = default_mode(provider);
        format!(
            "declare one: `{p}: {{ provider: {p}, mode: {mode}, credentials: {{{credentials} }} }}` under `connections:` (DSL: `connection {p}: {p} {mode} {{ … }}`)",
            p = provider.name
        )
    }

    /// Checks an action's inputs against the catalog; lowers them.
    pub(crate) fn check_inputs(
        &mut self,
        resolved: &ResolvedAction,
        inputs: &[ast::Field],
        name: &ast::DottedName,
    ) -> Vec<ir::Field> {
        let provider = resolved.provider;
        let action = resolved.action;
        let owner = What::Path(&provider.name, &action.name);
        let out = self.check_fields(provider, &action.inputs, inputs, name.span, &owner, "input");
        self.check_amount_currency(inputs, &out);
        self.check_payment_type(resolved, inputs, name);
        out
    }

    /// Checks `given` fields against catalog `fields` (action inputs or
    /// connection settings): unknown (E0302), duplicated (E0103), missing
    /// (E0301) and each value's type and constraints.
    pub(crate) fn check_fields(
        &mut self,
        provider: &'static Provider,
        fields: &'static [Field],
        given: &[ast::Field],
        owner_span: Span,
        owner: &What<'_>,
        kind: &str,
    ) -> Vec<ir::Field> {
        // A literal `currency` among the fields, for help texts.
        let currency_hint = given.iter().find_map(|f| match &f.value {
            ast::Value::Expr(ast::Expr {
                kind: ast::ExprKind::Str(code),
                ..
            }) if f.name.name == "currency" => Some(code.clone()),
            _ => None,
        });
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut out = Vec::with_capacity(given.len());
        for field in given {
            if let Some(&first) = seen.get(field.name.name.as_str()) {
                self.duplicate(&field.name, first, kind);
            }
            seen.entry(&field.name.name).or_insert(field.name.span);
            let Some(spec) = fields.iter().find(|f| f.name == field.name.name) else {
                let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                let mut d = Diagnostic::new(
                    Code::UnknownInput,
                    format!("{owner} has no {kind} `{}`", field.name.name),
                    field.name.span,
                    format!("unknown {kind}"),
                );
                d = match did_you_mean(&field.name.name, names.iter().copied()) {
                    Some(best) => d.with_help(format!("did you mean `{best}`?")),
                    None if names.is_empty() => d.with_help(format!("{owner} takes no {kind}s")),
                    None => d.with_help(format!("its {kind}s are {}", super::list_names(&names))),
                };
                self.report(d);
                self.value_any(&field.value);
                continue;
            };
            if let Some(why) = &spec.unsupported {
                self.report(
                    Diagnostic::new(
                        Code::UnsupportedInput,
                        format!(
                            "{owner}: flowc cannot send {kind} `{}` yet",
                            field.name.name
                        ),
                        field.name.span,
                        format!("{kind} not supported yet"),
                    )
                    .with_help(why.clone()),
                );
            }
            let value = self.check_field_value(
                provider,
                spec,
                &field.value,
                kind,
                currency_hint.as_deref(),
            );
            out.push(ir::Field {
                name: field.name.name.clone(),
                value,
            });
        }
        let missing: Vec<&str> = fields
            .iter()
            .filter(|f| f.required && f.default.is_none() && !seen.contains_key(f.name.as_str()))
            .map(|f| f.name.as_str())
            .collect();
        if !missing.is_empty() {
            let s = if missing.len() == 1 { "" } else { "s" };
            let (s_it, is) = if missing.len() == 1 {
                ("it", "is")
            } else {
                ("them", "are")
            };
            self.report(
                Diagnostic::new(
                    Code::MissingInput,
                    format!(
                        "{owner} is missing the required {kind}{s} {}",
                        super::list_names(&missing)
                    ),
                    owner_span,
                    format!("needs {}", super::list_names(&missing)),
                )
                .with_help(format!(
                    "add {s_it} to the {kind}s of {owner}: {} {is} required",
                    super::list_names(&missing)
                )),
            );
        }
        out
    }

    /// Checks one value against a catalog field.
    fn check_field_value(
        &mut self,
        provider: &'static Provider,
        spec: &'static Field,
        value: &ast::Value,
        kind: &str,
        currency_hint: Option<&str>,
    ) -> ir::Value {
        let ty = catalog_type(spec);
        match value {
            ast::Value::Map(entries, span) => {
                if matches!(ty, Type::Map | Type::Json) {
                    return ir::Value::Map(self.map_entries(entries, ty == Type::Json));
                }
                self.report(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        format!("{kind} `{}` is `{ty}`, but a map is given", spec.name),
                        *span,
                        "a map",
                    )
                    .with_help(format!("give one `{ty}` value")),
                );
                self.value_any(value);
                ir::Value::Expr(error_expr())
            }
            ast::Value::Expr(e) => {
                let want = Expected {
                    ty,
                    what: What::Named(kind, &spec.name),
                    declared_at: None,
                    provider: Some(&provider.title),
                    unit: spec.unit,
                    currency_hint: currency_hint.map(str::to_owned),
                    limits: Limits {
                        pattern: spec.pattern.as_deref(),
                        max_length: spec.max_length.map(u64::from),
                        min_length: spec.min_length.map(u64::from),
                        min: spec.min.map(Decimal::from),
                        max: spec.max.map(Decimal::from),
                        enum_values: &spec.enum_values,
                        currencies: &spec.currencies,
                        at: Default::default(),
                    },
                };
                ir::Value::Expr(self.expect(e, &want))
            }
        }
    }

    /// The entries of a map value (`metadata`); nested maps only for JSON.
    pub(crate) fn map_entries(
        &mut self,
        entries: &[ast::Field],
        nested_ok: bool,
    ) -> Vec<ir::Field> {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            if let Some(&first) = seen.get(entry.name.name.as_str()) {
                self.duplicate(&entry.name, first, "key");
            }
            seen.entry(&entry.name.name).or_insert(entry.name.span);
            let value = match &entry.value {
                ast::Value::Map(inner, span) => {
                    if !nested_ok {
                        self.report(
                            Diagnostic::new(
                                Code::TypeMismatch,
                                format!(
                                    "the value of `{}` must be a single value, not a map",
                                    entry.name.name
                                ),
                                *span,
                                "a nested map",
                            )
                            .with_help("map values are strings; write one value"),
                        );
                    }
                    ir::Value::Map(self.map_entries(inner, nested_ok))
                }
                ast::Value::Expr(e) => ir::Value::Expr(self.scalar(e)),
            };
            out.push(ir::Field {
                name: entry.name.name.clone(),
                value,
            });
        }
        out
    }

    /// Types an expression that must be one value (no table or row).
    pub(crate) fn scalar(&mut self, e: &ast::Expr) -> ir::Expr {
        let typed = self.expr(e);
        if !typed.ty.is_scalar() && !typed.ty.is_unknown() {
            self.report(Diagnostic::new(
                Code::TypeMismatch,
                format!("a single value is needed here, but this is `{}`", typed.ty),
                e.span,
                format!("this is `{}`", typed.ty),
            ));
        }
        typed
    }

    /// Types a value without an expected type (to find errors inside it).
    pub(crate) fn value_any(&mut self, value: &ast::Value) -> ir::Value {
        match value {
            ast::Value::Expr(e) => ir::Value::Expr(self.expr(e)),
            ast::Value::Map(entries, _) => ir::Value::Map(
                entries
                    .iter()
                    .map(|f| ir::Field {
                        name: f.name.name.clone(),
                        value: self.value_any(&f.value),
                    })
                    .collect(),
            ),
        }
    }

    /// E0204 when an action's `currency` literal differs from the currency
    /// of the money its amount was converted from (`minor_units(total)`).
    fn check_amount_currency(&mut self, inputs: &[ast::Field], lowered: &[ir::Field]) {
        let Some((currency, currency_field)) = inputs.iter().find_map(|f| match &f.value {
            ast::Value::Expr(ast::Expr {
                kind: ast::ExprKind::Str(code),
                span,
            }) if f.name.name == "currency" => Some((code.clone(), *span)),
            _ => None,
        }) else {
            return;
        };
        for (field, typed) in inputs.iter().zip(lowered) {
            let ir::Value::Expr(expr) = &typed.value else {
                continue;
            };
            let money_currency = match &expr.kind {
                ir::ExprKind::Call {
                    function: ir::Builtin::MinorUnits,
                    args,
                } => match args.first().map(|a| &a.ty) {
                    Some(Type::Money(Some(c))) => c.clone(),
                    _ => continue,
                },
                _ => match &expr.ty {
                    Type::Money(Some(c)) => c.clone(),
                    // A table of lines priced in one currency (PayPal items).
                    Type::Table(columns) => match columns.iter().find_map(|c| match &c.ty {
                        Type::Money(Some(code)) => Some(code.clone()),
                        _ => None,
                    }) {
                        Some(code) => code,
                        None => continue,
                    },
                    _ => continue,
                },
            };
            if !money_currency.eq_ignore_ascii_case(&currency) {
                self.report(
                    Diagnostic::new(
                        Code::CurrencyMismatch,
                        format!(
                            "the currency is `{currency}`, but `{}` is an amount in {money_currency}",
                            field.name.name
                        ),
                        currency_field,
                        format!("`{currency}` here"),
                    )
                    .with_label(field.value.span(), format!("an amount in {money_currency}"))
                    .with_help(format!(
                        "give `currency` the amount's currency, `{}`",
                        money_currency.to_ascii_lowercase()
                    )),
                );
            }
        }
    }
}

/// The checker's type of a catalog field.
pub(crate) fn catalog_type(field: &Field) -> Type {
    match &field.ty {
        FieldType::String => Type::String,
        FieldType::Text => Type::Text,
        FieldType::Integer => Type::Integer,
        FieldType::Decimal => Type::Decimal,
        FieldType::Money => Type::Money(None),
        FieldType::Bool => Type::Bool,
        FieldType::Date => Type::Date,
        FieldType::Datetime => Type::Datetime,
        FieldType::Email => Type::Email,
        FieldType::Phone => Type::Phone,
        FieldType::Url => Type::Url,
        FieldType::Currency => Type::Currency,
        FieldType::Country => Type::Country,
        FieldType::Map => Type::Map,
        FieldType::Json => Type::Json,
        FieldType::Table => Type::Table(Arc::from(
            field
                .columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    ty: catalog_type(c),
                    required: c.required,
                })
                .collect::<Vec<_>>(),
        )),
        FieldType::Id { provider, kind } => Type::Id {
            provider: provider.clone(),
            kind: kind.clone(),
        },
    }
}

/// The results of a catalog action or event.
pub(crate) fn catalog_results(outputs: &[Field]) -> Vec<(String, Type)> {
    outputs
        .iter()
        .map(|f| (f.name.clone(), catalog_type(f)))
        .collect()
}

/// The mode a connection without one gets: the provider's first mode that
/// is not `live`.
pub(crate) fn default_mode(provider: &Provider) -> String {
    provider
        .modes
        .iter()
        .find(|m| *m != "live")
        .cloned()
        .unwrap_or_else(|| "test".to_owned())
}

/// `STRIPE_SECRET_KEY` for help texts.
pub(crate) fn env_var_name(provider: &str, credential: &str) -> String {
    format!("{provider}_{credential}").to_ascii_uppercase()
}

fn join(parts: &[ast::Ident]) -> String {
    parts
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(".")
}
