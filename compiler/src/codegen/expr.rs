//! Expressions: each becomes an owned Rust value of the expression's type,
//! built from calls of `::flowc_runtime::rt` helpers. Fallible operations end
//! in `?` (the step fails with a fatal error, e.g. a currency mismatch).

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::data::{Model, is_copy, rust_type};
use super::names;
use crate::ir::{BinaryOp, Builtin, Expr, ExprKind, TemplatePart, Type, UnaryOp};

/// Where an expression is evaluated: the data model and the enclosing
/// `for_each` loops, outermost first, as (variable, table item).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub model: &'a Model,
    pub loops: &'a [(String, String)],
    /// In a step's `save`: the step, and the local that holds its results.
    pub local: Option<(&'a str, Local)>,
}

/// The local variable of a step's own results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// `response` of an http step.
    Response,
    /// `result` of an action or batch step.
    Result,
    /// `payload` (JSON) of a wait's signal or event.
    Payload,
}

impl Scope<'_> {
    /// The `rt::row(..)` of a loop variable.
    fn row(&self, var: &str) -> TokenStream {
        match self.loops.iter().position(|(v, _)| v == var) {
            Some(depth) => {
                let item = names::field(&self.loops[depth].1);
                let index = index_ident(var);
                quote!(::flowc_runtime::rt::row(&data.#item, #index)?)
            }
            None => {
                let msg = format!("flowc: unknown loop variable `{var}`");
                quote!(::core::compile_error!(#msg))
            }
        }
    }

    /// The table item a loop variable runs over.
    pub fn loop_item(&self, var: &str) -> Option<(usize, &str)> {
        self.loops
            .iter()
            .position(|(v, _)| v == var)
            .map(|d| (d, self.loops[d].1.as_str()))
    }
}

/// `line_index`: the local holding the row index of the loop over `line`.
pub fn index_ident(var: &str) -> proc_macro2::Ident {
    quote::format_ident!("{}_index", var)
}

/// The place (`data.x`, `row.x`) an expression reads when it is only a data item
/// or a table column of a loop's row, and whether that place is an `Option`.
fn data_place(e: &Expr, s: Scope<'_>) -> Option<(TokenStream, bool)> {
    match &e.kind {
        ExprKind::Data(name) => {
            let f = names::field(name);
            Some((quote!(data.#f), s.model.is_optional(name)))
        }
        ExprKind::LoopField { var, field } => {
            let (_, item) = s.loop_item(var)?;
            let row = s.row(var);
            let f = names::field(field);
            Some((quote!(#row.#f), s.model.column_optional(item, field)))
        }
        _ => None,
    }
}

/// A readable place (`data.x`, `row.x`) holding a value that is always set,
/// to pass by reference instead of cloning.
fn place(e: &Expr, s: Scope<'_>) -> Option<TokenStream> {
    data_place(e, s).and_then(|(p, optional)| (!optional).then_some(p))
}

/// The place of an optional data item or table column (an `Option`), when the
/// expression is only that.
pub fn optional_place(e: &Expr, s: Scope<'_>) -> Option<TokenStream> {
    data_place(e, s).and_then(|(p, optional)| optional.then_some(p))
}

/// `&value`: a place by reference, else a reference to the computed value.
pub fn by_ref(e: &Expr, s: Scope<'_>) -> TokenStream {
    if let ExprKind::Str(text) = &e.kind {
        return quote!(&#text);
    }
    let v = place(e, s).unwrap_or_else(|| expr(e, s));
    quote!(&#v)
}

/// An integer literal (negative ones as `-n`, which syn reads as an expression).
fn int_lit(n: i64) -> TokenStream {
    let lit = Literal::i64_unsuffixed(n.unsigned_abs() as i64);
    if n < 0 { quote!(-#lit) } else { quote!(#lit) }
}

/// A place that may be an `Option`: read it, failing when it has no value.
fn read(place: TokenStream, optional: bool, ty: &Type, what: &str) -> TokenStream {
    if optional {
        quote!(::flowc_runtime::rt::value(&#place, #what)?)
    } else if is_copy(ty) {
        place
    } else {
        quote!(#place.clone())
    }
}

/// The expression as a value of its own type.
pub fn expr(e: &Expr, s: Scope<'_>) -> TokenStream {
    match &e.kind {
        ExprKind::Int(n) => int_lit(*n),
        ExprKind::Decimal(d) => quote!(::flowc_runtime::rt::dec(#d)?),
        ExprKind::Str(text) => quote!(::std::string::String::from(#text)),
        ExprKind::Bool(b) => quote!(#b),
        ExprKind::Null => quote!(::core::default::Default::default()),
        ExprKind::Duration { seconds } => {
            let n = Literal::u64_unsuffixed(*seconds);
            quote!(::std::time::Duration::from_secs(#n))
        }
        ExprKind::Template(parts) => template(parts, s),
        ExprKind::Data(name) => {
            let f = names::field(name);
            read(quote!(data.#f), s.model.is_optional(name), &e.ty, name)
        }
        ExprKind::DataColumn { item, column } => {
            let f = names::field(item);
            let c = names::field(column);
            let what = format!("{item}.{column}");
            let inner = match &e.ty {
                Type::List(t) => (**t).clone(),
                other => other.clone(),
            };
            let rows = quote!(::flowc_runtime::rt::Rows::rows(&data.#f).iter());
            if s.model.column_optional(item, column) {
                quote! {
                    #rows
                        .map(|row| ::flowc_runtime::rt::value(&row.#c, #what))
                        .collect::<::core::result::Result<::std::vec::Vec<_>, _>>()?
                }
            } else if is_copy(&inner) {
                quote!(#rows.map(|row| row.#c).collect::<::std::vec::Vec<_>>())
            } else {
                quote!(#rows.map(|row| row.#c.clone()).collect::<::std::vec::Vec<_>>())
            }
        }
        ExprKind::LoopVar(var) => {
            let row = s.row(var);
            quote!(#row.clone())
        }
        ExprKind::LoopField { var, field } => {
            let row = s.row(var);
            let f = names::field(field);
            let optional = s
                .loop_item(var)
                .is_none_or(|(_, item)| s.model.column_optional(item, field));
            read(quote!(#row.#f), optional, &e.ty, &format!("{var}.{field}"))
        }
        ExprKind::StepResult { .. } => step_result(e, &e.ty, s),
        ExprKind::Env(name) => quote!(::flowc_runtime::rt::env(#name)?),
        ExprKind::Call { function, args } => call(*function, args, &e.ty, s),
        ExprKind::Unary { op, operand } => {
            let v = expr(operand, s);
            match (op, &operand.ty) {
                (UnaryOp::Not, _) => quote!(!#v),
                (UnaryOp::Neg, Type::Integer) => quote!(::flowc_runtime::rt::int('-', 0, #v)?),
                (UnaryOp::Neg, Type::Money(_)) => quote!(::flowc_runtime::rt::money_neg(#v)),
                (UnaryOp::Neg, _) => quote!(-#v),
            }
        }
        ExprKind::Binary { op, lhs, rhs } => binary(*op, lhs, rhs, s),
    }
}

/// A condition (`if`): `a && b` without the parentheses an operand needs.
pub fn condition(e: &Expr, s: Scope<'_>) -> TokenStream {
    match &e.kind {
        ExprKind::Binary {
            op: op @ (BinaryOp::And | BinaryOp::Or),
            lhs,
            rhs,
        } => {
            let (a, b) = (expr(lhs, s), expr(rhs, s));
            if *op == BinaryOp::And {
                quote!(#a && #b)
            } else {
                quote!(#a || #b)
            }
        }
        _ => expr(e, s),
    }
}

/// The expression as a value of type `want` (where it is assigned or
/// passed): integers widen to decimals, JSON results read as `want`.
pub fn expr_as(e: &Expr, want: &Type, s: Scope<'_>) -> TokenStream {
    match (&e.kind, &e.ty, want) {
        (ExprKind::StepResult { .. }, _, w) if !w.is_unknown() && *w != Type::Null => {
            step_result(e, w, s)
        }
        (_, Type::Integer, Type::Decimal | Type::Money(_)) => {
            let v = expr(e, s);
            quote!(::flowc_runtime::rt::widen(#v))
        }
        _ => expr(e, s),
    }
}

/// A `&str` argument: literals as they are.
pub fn str_ref(e: &Expr, s: Scope<'_>) -> TokenStream {
    match &e.kind {
        ExprKind::Str(text) => quote!(#text),
        _ => {
            let v = string(e, s);
            quote!(&#v)
        }
    }
}

/// The expression as a `String` (headers, URLs, form fields, messages).
pub fn string(e: &Expr, s: Scope<'_>) -> TokenStream {
    let v = expr(e, s);
    if e.ty.is_stringish() || matches!(e.ty, Type::String | Type::Text) {
        v
    } else if e.ty.is_unknown() || e.ty == Type::Map {
        quote!(::flowc_runtime::rt::json_text(&#v))
    } else if e.ty == Type::Duration {
        quote!(::flowc_runtime::rt::duration_text(#v))
    } else {
        quote!(::flowc_runtime::rt::text(&#v))
    }
}

/// A step's output read as `Option<want>`, when `e` is one (else `None`): an
/// output the provider left out (`null`) empties an optional data item
/// rather than failing the step.
pub fn optional_step_result(e: &Expr, want: &Type, s: Scope<'_>) -> Option<TokenStream> {
    if !matches!(e.kind, ExprKind::StepResult { .. }) || want.is_unknown() || *want == Type::Null {
        return None;
    }
    let ty = rust_type(want, s.model);
    Some(read_step_result(e, &quote!(::core::option::Option<#ty>), s))
}

fn step_result(e: &Expr, want: &Type, s: Scope<'_>) -> TokenStream {
    let ty = rust_type(want, s.model);
    read_step_result(e, &ty, s)
}

/// A step's output read as `ty`.
fn read_step_result(e: &Expr, ty: &TokenStream, s: Scope<'_>) -> TokenStream {
    let ExprKind::StepResult { step, field, path } = &e.kind else {
        return expr(e, s);
    };
    let key = format!("{step}.{field}");
    if let Some((own, local)) = s.local
        && own == step
    {
        let json = quote!(::flowc_runtime::rt::serde_json::Value);
        return match (local, path.is_empty()) {
            (Local::Response, true) => quote!(response.get::<#ty>(#field)?),
            (Local::Result, true) => quote!(result.get::<#ty>(#field)?),
            (Local::Response, false) => quote! {
                ::flowc_runtime::rt::from_json::<#ty>(&response.get::<#json>(#field)?, #key, &[#(#path),*])?
            },
            (Local::Result, false) => quote! {
                ::flowc_runtime::rt::from_json::<#ty>(&result.get::<#json>(#field)?, #key, &[#(#path),*])?
            },
            (Local::Payload, _) => quote! {
                ::flowc_runtime::rt::from_json::<#ty>(&payload, #key, &[#field, #(#path),*])?
            },
        };
    }
    quote!(::flowc_runtime::rt::result::<#ty>(&data.step_results, #key, &[#(#path),*])?)
}

fn template(parts: &[TemplatePart], s: Scope<'_>) -> TokenStream {
    let mut fmt = String::new();
    let mut args = Vec::new();
    for p in parts {
        match p {
            TemplatePart::Text(t) => fmt.push_str(&t.replace('{', "{{").replace('}', "}}")),
            TemplatePart::Expr(e) => {
                fmt.push_str("{}");
                let stringish = e.ty.is_stringish() || matches!(e.ty, Type::String | Type::Text);
                let arg = match place(e, s) {
                    Some(p) if stringish || !e.ty.is_unknown() => p,
                    _ => string(e, s),
                };
                args.push(arg);
            }
        }
    }
    match (args.len(), parts.len()) {
        (0, _) => {
            let text: String = parts
                .iter()
                .map(|p| match p {
                    TemplatePart::Text(t) => t.as_str(),
                    TemplatePart::Expr(_) => "",
                })
                .collect();
            quote!(::std::string::String::from(#text))
        }
        (1, 1) => match &parts[0] {
            TemplatePart::Expr(e) => string(e, s),
            TemplatePart::Text(_) => args.remove(0),
        },
        _ => quote!(::std::format!(#fmt, #(#args),*)),
    }
}

fn call(f: Builtin, args: &[Expr], ty: &Type, s: Scope<'_>) -> TokenStream {
    let rt = quote!(::flowc_runtime::rt);
    let arg = |i: usize| args.get(i).map(|a| expr(a, s)).unwrap_or_default();
    match f {
        Builtin::Now => quote!(cx.now()),
        Builtin::Today => quote!(cx.today()),
        Builtin::Uuid => quote!(cx.uuid()),
        Builtin::FormatDate => {
            let (d, fmt) = (arg(0), str_ref(&args[1], s));
            quote!(#rt::format_date(#d, #fmt)?)
        }
        Builtin::MinorUnits => {
            let m = arg(0);
            quote!(#rt::minor_units(#m)?)
        }
        Builtin::Money => {
            let amount = expr_as(&args[0], &Type::Decimal, s);
            let cur = str_ref(&args[1], s);
            quote!(#rt::money_of(#amount, #cur)?)
        }
        Builtin::Amount => {
            let m = arg(0);
            quote!(#m.amount())
        }
        Builtin::Currency => {
            let m = arg(0);
            quote!(#rt::currency(#m))
        }
        Builtin::Sum => {
            let list = arg(0);
            quote!(#rt::sum(#list)?)
        }
        Builtin::Len => {
            let v = by_ref(&args[0], s);
            quote!(#rt::len(#v))
        }
        Builtin::Upper => {
            let v = string(&args[0], s);
            quote!(#v.to_uppercase())
        }
        Builtin::Lower => {
            let v = string(&args[0], s);
            quote!(#v.to_lowercase())
        }
        Builtin::Trim => {
            let v = string(&args[0], s);
            quote!(#v.trim().to_string())
        }
        Builtin::Round => {
            let (d, n) = (expr_as(&args[0], &Type::Decimal, s), arg(1));
            quote!(#rt::round(#d, #n))
        }
        Builtin::Date => {
            let v = str_ref(&args[0], s);
            quote!(#rt::date(#v)?)
        }
        Builtin::Datetime => {
            let v = str_ref(&args[0], s);
            quote!(#rt::datetime(#v)?)
        }
        Builtin::Days => {
            let n = arg(0);
            quote!(#rt::days(#n)?)
        }
        Builtin::Coalesce => {
            let fallback = expr_as(&args[1], ty, s);
            match &args[0].kind {
                ExprKind::Data(name) if s.model.is_optional(name) => {
                    let f = names::field(name);
                    let fallback = lazy(&fallback);
                    quote!(#rt::coalesce(data.#f.clone(), #fallback)?)
                }
                // A provider's output can be absent (null): a declined charge
                // has no card details.
                ExprKind::StepResult { .. } => {
                    let t = rust_type(ty, s.model);
                    let first = read_step_result(&args[0], &quote!(::core::option::Option<#t>), s);
                    let fallback = lazy(&fallback);
                    quote!(#rt::coalesce(#first, #fallback)?)
                }
                _ => arg(0),
            }
        }
    }
}

/// `coalesce`'s fallback as a closure returning `Result`: `|| Ok(x)`, or
/// `|| f(..)` when `x` is `f(..)?` (every `?` in generated code is on a runtime
/// helper's `Result<_, StepError>`), so the code has no `Ok(f(..)?)`.
fn lazy(fallback: &TokenStream) -> TokenStream {
    let mut tokens: Vec<proc_macro2::TokenTree> = fallback.clone().into_iter().collect();
    match tokens.last() {
        Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '?' => {
            tokens.pop();
            let inner: TokenStream = tokens.into_iter().collect();
            quote!(|| #inner)
        }
        _ => quote!(|| Ok(#fallback)),
    }
}

fn op_char(op: BinaryOp) -> char {
    match op {
        BinaryOp::Add => '+',
        BinaryOp::Sub => '-',
        BinaryOp::Mul => '*',
        BinaryOp::Div => '/',
        _ => '%',
    }
}

fn binary(op: BinaryOp, lhs: &Expr, rhs: &Expr, s: Scope<'_>) -> TokenStream {
    let rt = quote!(::flowc_runtime::rt);
    let numeric_mix = |a: &Type, b: &Type| {
        a.is_number() && b.is_number() && (a == &Type::Decimal || b == &Type::Decimal)
    };
    // Both sides as one type where integers meet decimals.
    let pair = || {
        if numeric_mix(&lhs.ty, &rhs.ty) {
            (
                expr_as(lhs, &Type::Decimal, s),
                expr_as(rhs, &Type::Decimal, s),
            )
        } else if lhs.ty.is_unknown() && !rhs.ty.is_unknown() {
            (expr_as(lhs, &rhs.ty, s), expr(rhs, s))
        } else if rhs.ty.is_unknown() && !lhs.ty.is_unknown() {
            (expr(lhs, s), expr_as(rhs, &lhs.ty, s))
        } else {
            (expr(lhs, s), expr(rhs, s))
        }
    };
    match op {
        BinaryOp::And | BinaryOp::Or => {
            let (a, b) = (expr(lhs, s), expr(rhs, s));
            if op == BinaryOp::And {
                quote!((#a && #b))
            } else {
                quote!((#a || #b))
            }
        }
        BinaryOp::Eq | BinaryOp::Ne => {
            let test = match (&lhs.kind, &rhs.kind) {
                (ExprKind::Data(name), ExprKind::Null) | (ExprKind::Null, ExprKind::Data(name)) => {
                    let f = names::field(name);
                    if s.model.is_optional(name) {
                        quote!(data.#f.is_none())
                    } else {
                        quote!(false)
                    }
                }
                (_, ExprKind::Str(text)) => {
                    let a = by_ref(lhs, s);
                    quote!(#rt::eq(#a, &#text))
                }
                _ => {
                    let (a, b) = pair();
                    quote!(#rt::eq(&#a, &#b))
                }
            };
            if op == BinaryOp::Eq {
                test
            } else {
                quote!(!#test)
            }
        }
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            let (a, b) = pair();
            let method = names::ident(match op {
                BinaryOp::Lt => "is_lt",
                BinaryOp::Le => "is_le",
                BinaryOp::Gt => "is_gt",
                _ => "is_ge",
            });
            quote!(#rt::cmp(&#a, &#b)?.#method())
        }
        _ => arithmetic(op, lhs, rhs, s),
    }
}

fn arithmetic(op: BinaryOp, lhs: &Expr, rhs: &Expr, s: Scope<'_>) -> TokenStream {
    let rt = quote!(::flowc_runtime::rt);
    let c = op_char(op);
    let forward = op == BinaryOp::Add;
    match (&lhs.ty, &rhs.ty) {
        // Integer division is exact: the checker types it `decimal`.
        (Type::Integer, Type::Integer) if op != BinaryOp::Div => {
            let (a, b) = (expr(lhs, s), expr(rhs, s));
            quote!(#rt::int(#c, #a, #b)?)
        }
        (a, b) if a.is_number() && b.is_number() => {
            let (a, b) = (
                expr_as(lhs, &Type::Decimal, s),
                expr_as(rhs, &Type::Decimal, s),
            );
            quote!(#rt::decimal(#c, #a, #b)?)
        }
        (Type::Money(_), Type::Money(_)) => {
            let (a, b) = (expr(lhs, s), expr(rhs, s));
            quote!(#rt::money(#c, #a, #b)?)
        }
        (Type::Money(_), n) if n.is_number() => {
            let (a, b) = (expr(lhs, s), expr_as(rhs, &Type::Decimal, s));
            quote!(#rt::money_scale(#c, #a, #b)?)
        }
        (n, Type::Money(_)) if n.is_number() => {
            let (a, b) = (expr_as(lhs, &Type::Decimal, s), expr(rhs, s));
            quote!(#rt::money_scale(#c, #b, #a)?)
        }
        (Type::Date | Type::Datetime, Type::Duration) => {
            let (a, b) = (expr(lhs, s), expr(rhs, s));
            quote!(#rt::shift(#a, #b, #forward)?)
        }
        (Type::Duration, Type::Date | Type::Datetime) => {
            let (a, b) = (expr(lhs, s), expr(rhs, s));
            quote!(#rt::shift(#b, #a, true)?)
        }
        (Type::Duration, Type::Integer) => {
            let (a, b) = (expr(lhs, s), expr(rhs, s));
            quote!(#rt::scale_duration(#a, #b)?)
        }
        (Type::Integer, Type::Duration) => {
            let (a, b) = (expr(lhs, s), expr(rhs, s));
            quote!(#rt::scale_duration(#b, #a)?)
        }
        (Type::Date, Type::Date) | (Type::Datetime, Type::Datetime) => {
            let (a, b) = (expr(lhs, s), expr(rhs, s));
            quote!(#rt::since(#a, #b))
        }
        (Type::Duration, Type::Duration) => {
            let (a, b) = (expr(lhs, s), expr(rhs, s));
            if forward {
                quote!((#a + #b))
            } else {
                quote!(#a.saturating_sub(#b))
            }
        }
        _ => {
            let (a, b) = (string(lhs, s), string(rhs, s));
            quote!(::std::format!("{}{}", #a, #b))
        }
    }
}
