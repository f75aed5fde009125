//! The `Data` struct, its row structs, and the `static` schema, response
//! fields and connections the runtime validates against.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::names;
use crate::ir::{self, CredentialSource, DataItem, Expr, ExprKind, Type};

/// What the generators need to know about the flow's data.
#[derive(Debug)]
pub struct Model {
    /// Data item -> (type, optional in `Data`).
    pub items: BTreeMap<String, (Type, bool)>,
    /// Table item -> its columns' optionality.
    pub columns: BTreeMap<String, BTreeMap<String, bool>>,
    /// `step.field` results that expressions read: kept in `Data`.
    pub results: BTreeSet<(String, String)>,
    /// The flow's connections (batch steps pass their settings).
    pub connections: Vec<ir::Connection>,
}

/// Whether a data item or column is an `Option` in `Data`: neither required
/// nor defaulted with a literal (validation fills those defaults in; a
/// computed default is not in the schema, so the item may be missing).
fn optional(item: &DataItem) -> bool {
    !item.required && item.default.as_ref().and_then(literal_json).is_none()
}

impl Model {
    pub fn new(flow: &ir::Flow) -> Model {
        let mut items = BTreeMap::new();
        let mut columns = BTreeMap::new();
        for item in &flow.data {
            items.insert(item.name.clone(), (item.ty.clone(), optional(item)));
            if !item.columns.is_empty() {
                let cols = item
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), optional(c)))
                    .collect();
                columns.insert(item.name.clone(), cols);
            }
        }
        let mut results = BTreeSet::new();
        super::steps::visit_exprs(flow, &mut |owner, e| {
            collect_results(e, owner, &mut results);
        });
        Model {
            items,
            columns,
            results,
            connections: flow.connections.clone(),
        }
    }

    /// The row struct of the table whose columns are `cols`.
    pub fn row_struct(&self, cols: &[ir::Column]) -> proc_macro2::Ident {
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        for (item, (ty, _)) in &self.items {
            if let Type::Table(c) = ty
                && c.iter().map(|c| c.name.as_str()).eq(names.iter().copied())
            {
                return row_ident(item);
            }
        }
        names::ident("Row")
    }

    pub fn is_optional(&self, item: &str) -> bool {
        self.items.get(item).is_some_and(|(_, o)| *o)
    }

    pub fn column_optional(&self, item: &str, column: &str) -> bool {
        self.columns
            .get(item)
            .and_then(|c| c.get(column))
            .copied()
            .unwrap_or(true)
    }
}

/// Step results read outside the step's own `save` (those inside it read
/// the response directly).
fn collect_results(e: &Expr, owner: Option<&str>, out: &mut BTreeSet<(String, String)>) {
    match &e.kind {
        ExprKind::StepResult { step, field, .. } if owner != Some(step.as_str()) => {
            out.insert((step.clone(), field.clone()));
        }
        ExprKind::Template(parts) => {
            for p in parts {
                if let ir::TemplatePart::Expr(e) = p {
                    collect_results(e, owner, out);
                }
            }
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| collect_results(a, owner, out)),
        ExprKind::Unary { operand, .. } => collect_results(operand, owner, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            collect_results(lhs, owner, out);
            collect_results(rhs, owner, out);
        }
        _ => {}
    }
}

/// `LinesRow` for the table item `lines`.
pub fn row_ident(item: &str) -> proc_macro2::Ident {
    format_ident!("{}Row", names::camel(item))
}

/// The Rust type of a value of `ty`.
pub fn rust_type(ty: &Type, model: &Model) -> TokenStream {
    match ty {
        t if t.is_stringish() => quote!(::std::string::String),
        Type::Text | Type::String => quote!(::std::string::String),
        Type::Integer => quote!(i64),
        Type::Decimal => quote!(::flowc_runtime::value::Decimal),
        Type::Money(_) => quote!(::flowc_runtime::value::Money),
        Type::Bool => quote!(bool),
        Type::Date => quote!(::flowc_runtime::rt::jiff::civil::Date),
        Type::Datetime => quote!(::flowc_runtime::rt::jiff::Timestamp),
        Type::Duration => quote!(::std::time::Duration),
        Type::Table(cols) => {
            let row = model.row_struct(cols);
            quote!(::std::vec::Vec<#row>)
        }
        Type::Row(cols) => {
            let row = model.row_struct(cols);
            quote!(#row)
        }
        Type::List(inner) => {
            let inner = rust_type(inner, model);
            quote!(::std::vec::Vec<#inner>)
        }
        _ => quote!(::flowc_runtime::rt::serde_json::Value),
    }
}

/// Whether values of `ty` are `Copy` (read without `.clone()`).
pub fn is_copy(ty: &Type) -> bool {
    matches!(
        ty,
        Type::Integer
            | Type::Decimal
            | Type::Money(_)
            | Type::Bool
            | Type::Date
            | Type::Datetime
            | Type::Duration
    )
}

fn struct_fields(items: &[DataItem], model: &Model) -> Vec<TokenStream> {
    items
        .iter()
        .map(|item| {
            let name = names::field(&item.name);
            let ty = match &item.ty {
                Type::Table(_) => {
                    let row = row_ident(&item.name);
                    quote!(::std::vec::Vec<#row>)
                }
                other => rust_type(other, model),
            };
            let doc = item
                .label
                .as_ref()
                .map(|l| {
                    let l = format!(" {l}");
                    quote!(#[doc = #l])
                })
                .unwrap_or_default();
            if optional(item) {
                quote! { #doc #[serde(default)] pub #name: ::core::option::Option<#ty>, }
            } else {
                quote! { #doc pub #name: #ty, }
            }
        })
        .collect()
}

/// `struct Data` and one row struct per table item.
pub fn data_items(flow: &ir::Flow, model: &Model) -> TokenStream {
    let derive = quote! {
        #[derive(Debug, Clone, ::flowc_runtime::rt::serde::Serialize, ::flowc_runtime::rt::serde::Deserialize)]
        #[serde(crate = "::flowc_runtime::rt::serde")]
    };
    let mut out = TokenStream::new();
    for item in &flow.data {
        if let Type::Table(_) = item.ty {
            let row = row_ident(&item.name);
            let fields = struct_fields(&item.columns, model);
            let doc = format!(" One row of `{}`.", item.name);
            out.extend(quote! {
                #[doc = #doc]
                #derive
                pub struct #row { #(#fields)* }
            });
        }
    }
    let fields = struct_fields(&flow.data, model);
    let results = if model.results.is_empty() {
        TokenStream::new()
    } else {
        quote! {
            /// Step results that later steps read (`step.field` -> JSON).
            #[serde(default, rename = "_step_results")]
            pub step_results: ::flowc_runtime::rt::Results,
        }
    };
    out.extend(quote! {
        /// The data items.
        #derive
        pub struct Data { #(#fields)* #results }
    });
    out
}

/// The runtime's `ValueType` of a type; tables refer to `columns`.
fn value_type(ty: &Type, columns: Option<&proc_macro2::Ident>) -> TokenStream {
    let vt = quote!(::flowc_runtime::value::ValueType);
    match ty {
        Type::String | Type::Currency | Type::Country => quote!(#vt::String),
        Type::Text => quote!(#vt::Text),
        Type::Integer => quote!(#vt::Integer),
        Type::Decimal => quote!(#vt::Decimal),
        Type::Money(None) => quote!(#vt::Money(None)),
        Type::Money(Some(c)) => quote!(#vt::Money(Some(#c))),
        Type::Bool => quote!(#vt::Bool),
        Type::Date => quote!(#vt::Date),
        Type::Datetime => quote!(#vt::DateTime),
        Type::Email => quote!(#vt::Email),
        Type::Phone => quote!(#vt::Phone),
        Type::Url => quote!(#vt::Url),
        Type::Select(options) => {
            let pairs = options.iter().map(|o| {
                let (id, label) = (&o.id, &o.label);
                quote!((#id, #label))
            });
            quote!(#vt::Select(&[#(#pairs),*]))
        }
        Type::Table(_) => match columns {
            Some(c) => quote!(#vt::Table(&#c)),
            None => quote!(#vt::Json),
        },
        Type::Id { provider, kind } => {
            let prefix = id_prefix(provider, kind)
                .map(|p| quote!(Some(#p)))
                .unwrap_or(quote!(None));
            quote!(#vt::Id { provider: #provider, kind: #kind, prefix: #prefix })
        }
        _ => quote!(#vt::Json),
    }
}

fn id_prefix(provider: &str, kind: &str) -> Option<String> {
    let p = flowc_catalog::provider(provider)?;
    let id = p.ids.iter().find(|i| i.name == kind)?;
    id.prefix.clone().filter(|p| !p.is_empty())
}

/// `fn connection_settings`: each connection's literal settings as text, for
/// the simulators (a flow without settings says nothing: the trait's default
/// is none).
pub fn connection_settings(flow: &ir::Flow) -> TokenStream {
    let entries: Vec<TokenStream> = flow
        .connections
        .iter()
        .flat_map(|c| c.settings.iter().map(move |f| (&c.name, f)))
        .filter_map(|(conn, f)| {
            let ir::Value::Expr(e) = &f.value else {
                return None;
            };
            let text = match &e.kind {
                ExprKind::Str(s) => s.clone(),
                _ => literal_number(e).or_else(|| match &e.kind {
                    ExprKind::Bool(b) => Some(b.to_string()),
                    _ => None,
                })?,
            };
            let name = &f.name;
            Some(quote!((#conn, #name, #text)))
        })
        .collect();
    if entries.is_empty() {
        return TokenStream::new();
    }
    quote! {
        fn connection_settings() -> &'static [(&'static str, &'static str, &'static str)] {
            &[#(#entries),*]
        }
    }
}

/// A literal as JSON text (defaults), or `None` for a computed value.
fn literal_json(e: &Expr) -> Option<String> {
    Some(match &e.kind {
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Decimal(d) => format!("{d:?}"),
        ExprKind::Str(s) => serde_json::Value::String(s.clone()).to_string(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Unary {
            op: ir::UnaryOp::Neg,
            operand,
        } => format!("-{}", literal_json(operand)?),
        _ => return None,
    })
}

/// A bound as decimal text.
fn literal_number(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Int(n) => Some(n.to_string()),
        ExprKind::Decimal(d) => Some(d.clone()),
        ExprKind::Unary {
            op: ir::UnaryOp::Neg,
            operand,
        } => literal_number(operand).map(|n| format!("-{n}")),
        _ => None,
    }
}

/// A bound as text: a number, or a date or datetime as written (the checker
/// allows only literals, E0512).
fn literal_bound(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Str(s) => Some(s.clone()),
        _ => literal_number(e),
    }
}

/// `ItemDef::new(..)` with its constraints.
fn item_def(item: &DataItem, columns: Option<&proc_macro2::Ident>) -> TokenStream {
    let name = &item.name;
    let vt = value_type(&item.ty, columns);
    let mut def = quote!(::flowc_runtime::value::ItemDef::new(#name, #vt));
    if item.required {
        def.extend(quote!(.required()));
    }
    if let Some(json) = item.default.as_ref().and_then(literal_json) {
        def.extend(quote!(.default_json(#json)));
    }
    if let Some(min) = item.min.as_ref().and_then(literal_bound) {
        def.extend(quote!(.min(#min)));
    }
    if let Some(max) = item.max.as_ref().and_then(literal_bound) {
        def.extend(quote!(.max(#max)));
    }
    if let Some(p) = &item.pattern {
        def.extend(quote!(.pattern(#p)));
    }
    if let Some(n) = item.max_length {
        let n = proc_macro2::Literal::u64_unsuffixed(n);
        def.extend(quote!(.max_length(#n)));
    }
    def
}

/// `static NAME: [ItemDef; n] = [...];` (and column statics of tables).
pub fn item_statics(name: &str, items: &[DataItem]) -> TokenStream {
    let mut out = TokenStream::new();
    let mut defs = Vec::new();
    for item in items {
        let columns = if matches!(item.ty, Type::Table(_)) {
            let cname = format_ident!("{}_{}", name, names::upper(&item.name));
            out.extend(item_statics(&cname.to_string(), &item.columns));
            Some(cname)
        } else {
            None
        };
        defs.push(item_def(item, columns.as_ref()));
    }
    let ident = names::ident(name);
    let n = proc_macro2::Literal::usize_unsuffixed(defs.len());
    out.extend(quote! {
        static #ident: [::flowc_runtime::value::ItemDef; #n] = [#(#defs),*];
    });
    out
}

/// Where a credential comes from, as the runtime's `SecretSource`.
pub fn secret(src: &CredentialSource) -> TokenStream {
    match src {
        CredentialSource::Env(v) => quote!(::flowc_runtime::flow::SecretSource::Env(#v)),
        CredentialSource::SecretFile(p) => quote!(::flowc_runtime::flow::SecretSource::File(#p)),
    }
}

/// The data schema and the connections.
pub fn statics(flow: &ir::Flow, _model: &Model) -> TokenStream {
    let mut out = item_statics("ITEMS", &flow.data);
    out.extend(quote! {
        static SCHEMA: ::flowc_runtime::value::DataSchema = ::flowc_runtime::value::DataSchema::new(&ITEMS);
    });
    let conns = flow.connections.iter().map(|c| {
        let (name, provider, mode) = (&c.name, &c.provider, &c.mode);
        let base = flowc_catalog::provider(&c.provider)
            .and_then(|p| p.base_urls.iter().find(|u| u.mode == c.mode))
            .map(|u| u.url.clone())
            .unwrap_or_default();
        let creds = c.credentials.iter().map(|cr| {
            let n = &cr.name;
            let s = secret(&cr.source);
            quote!((#n, #s))
        });
        quote! {
            ::flowc_runtime::flow::ConnectionDef {
                name: #name,
                provider: #provider,
                mode: #mode,
                base_url: #base,
                credentials: &[#(#creds),*],
            }
        }
    });
    let n = proc_macro2::Literal::usize_unsuffixed(flow.connections.len());
    out.extend(quote! {
        static CONNECTIONS: [::flowc_runtime::flow::ConnectionDef; #n] = [#(#conns),*];
    });
    out
}
