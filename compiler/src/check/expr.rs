//! Typing expressions: literals, references, operators and templates.
//! Each AST expression becomes a typed [`ir::Expr`]; an unknown name types
//! as [`Type::Error`] after one diagnostic.

use super::Checker;
use super::scope::{Binding, Results};
use super::types::{Mismatch, Type, comparable};
use crate::ast::{self, BinaryOp, ExprKind, UnaryOp};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::ir;
use crate::span::Span;

/// An expression of type `ty` with kind `kind`.
pub(crate) fn typed(kind: ir::ExprKind, ty: Type) -> ir::Expr {
    ir::Expr { kind, ty }
}

/// A placeholder for an expression that could not be typed.
pub(crate) fn error_expr() -> ir::Expr {
    typed(ir::ExprKind::Null, Type::Error)
}

impl Checker<'_> {
    /// Types an expression.
    pub(crate) fn expr(&mut self, e: &ast::Expr) -> ir::Expr {
        match &e.kind {
            ExprKind::Int(n) => typed(ir::ExprKind::Int(*n), Type::Integer),
            ExprKind::Decimal(d) => typed(ir::ExprKind::Decimal(d.clone()), Type::Decimal),
            ExprKind::Str(s) => typed(ir::ExprKind::Str(s.clone()), Type::String),
            ExprKind::Bool(b) => typed(ir::ExprKind::Bool(*b), Type::Bool),
            ExprKind::Null => typed(ir::ExprKind::Null, Type::Null),
            ExprKind::Duration(d) => typed(
                ir::ExprKind::Duration {
                    seconds: d.as_seconds(),
                },
                Type::Duration,
            ),
            ExprKind::Template(parts) => self.template(parts),
            ExprKind::Path(parts) => self.path(parts),
            ExprKind::Call { function, args } => self.call(function, args, e.span),
            ExprKind::Unary { op, operand } => self.unary(*op, operand, e.span),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, e.span),
        }
    }

    fn template(&mut self, parts: &[ast::TemplatePart]) -> ir::Expr {
        let mut out = Vec::with_capacity(parts.len());
        for part in parts {
            match part {
                ast::TemplatePart::Text(t) => out.push(ir::TemplatePart::Text(t.clone())),
                ast::TemplatePart::Expr(e) => {
                    let typed = self.expr(e);
                    if !typed.ty.is_scalar() {
                        self.report(
                            Diagnostic::new(
                                Code::TypeMismatch,
                                format!("a `{}` cannot be written into a string", typed.ty),
                                e.span,
                                format!("this is `{}`", typed.ty),
                            )
                            .with_help("write one value of it, e.g. `${lines.amount}` summed with `${sum(lines.amount)}`"),
                        );
                    }
                    out.push(ir::TemplatePart::Expr(typed));
                }
            }
        }
        typed(ir::ExprKind::Template(out), Type::String)
    }

    /// Resolves `name`, `name.field`, `env.NAME`.
    pub(crate) fn path(&mut self, parts: &[ast::Ident]) -> ir::Expr {
        let Some(first) = parts.first() else {
            return error_expr();
        };
        let binding = self.scope.lookup(&first.name);
        if first.name == "env" && binding.is_none() {
            return self.env_path(parts);
        }
        match binding {
            None => {
                self.unknown_reference(first);
                error_expr()
            }
            Some(Binding::Loop(i)) => {
                let var = self.scope.loop_vars[i].name.name.clone();
                let row = self.scope.loop_vars[i].row.clone();
                let Some(field) = parts.get(1) else {
                    return typed(ir::ExprKind::LoopVar(var), row);
                };
                let Some(ty) = self.column(&row, first, field) else {
                    return error_expr();
                };
                self.no_deeper_fields(&ty, &parts[2..]);
                typed(
                    ir::ExprKind::LoopField {
                        var,
                        field: field.name.clone(),
                    },
                    ty,
                )
            }
            Some(Binding::Data(i)) => {
                self.scope.data[i].used = true;
                let ty = self.scope.data[i].ty.clone();
                let item = first.name.clone();
                let Some(field) = parts.get(1) else {
                    return typed(ir::ExprKind::Data(item), ty);
                };
                if matches!(ty, Type::Table(_)) {
                    let Some(col) = self.column(&ty, first, field) else {
                        return error_expr();
                    };
                    let list = Type::List(Box::new(col));
                    self.no_deeper_fields(&list, &parts[2..]);
                    return typed(
                        ir::ExprKind::DataColumn {
                            item,
                            column: field.name.clone(),
                        },
                        list,
                    );
                }
                self.no_deeper_fields(&ty, &parts[1..]);
                error_expr()
            }
            Some(Binding::Step) => self.step_result(parts),
        }
    }

    fn env_path(&mut self, parts: &[ast::Ident]) -> ir::Expr {
        match parts {
            [_, name] => typed(ir::ExprKind::Env(name.name.clone()), Type::String),
            [env] => {
                self.report(
                    Diagnostic::new(
                        Code::UnknownField,
                        "`env` needs the name of an environment variable",
                        env.span,
                        "which variable?",
                    )
                    .with_help("write `env.NAME`, e.g. `${env.ACCOUNTING_URL}`"),
                );
                error_expr()
            }
            [_, _, extra, ..] => {
                self.report(Diagnostic::new(
                    Code::UnknownField,
                    format!(
                        "an environment variable is a string; it has no field `{}`",
                        extra.name
                    ),
                    extra.span,
                    "no such field",
                ));
                error_expr()
            }
            [] => error_expr(),
        }
    }

    /// E0101 with "did you mean" over every name in scope.
    fn unknown_reference(&mut self, name: &ast::Ident) {
        let mut d = Diagnostic::new(
            Code::UnknownReference,
            format!("unknown name `{}`", name.name),
            name.span,
            "not a data item, step or loop variable",
        );
        let suggestion = did_you_mean(&name.name, self.scope.visible_names()).map(str::to_owned);
        if let Some(&var_span) = self.loop_var_decls.get(name.name.as_str()) {
            d = d
                .with_label(var_span, "a `for_each` variable, visible only inside its loop")
                .with_help(format!(
                    "`{}` is only visible inside the `for_each` that declares it; keep what you need in a data item",
                    name.name
                ));
        } else if let Some(best) = suggestion {
            if let Some(at) = self.scope.declaration_span(&best) {
                d = d.with_label(at, format!("`{best}` is declared here"));
            }
            // The author meant `best`: it is used, so no W0002 follows.
            if let Some((i, _)) = self.scope.data_entry(&best) {
                self.scope.data[i].used = true;
            }
            d = d.with_help(format!("did you mean `{best}`?"));
        } else {
            d = d.with_help(format!(
                "declare `{}` under `data:`, or check the spelling",
                name.name
            ));
        }
        self.report(d);
    }

    /// The type of column `field` of a table or row type; E0110 when unknown.
    fn column(&mut self, ty: &Type, owner: &ast::Ident, field: &ast::Ident) -> Option<Type> {
        if ty.is_unknown() {
            return Some(Type::Error);
        }
        let columns = ty.columns().unwrap_or(&[]);
        if let Some(c) = columns.iter().find(|c| c.name == field.name) {
            return Some(c.ty.clone());
        }
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let mut d = Diagnostic::new(
            Code::UnknownField,
            format!("`{}` has no column `{}`", owner.name, field.name),
            field.span,
            "unknown column",
        );
        d = match did_you_mean(&field.name, names.iter().copied()) {
            Some(best) => d.with_help(format!("did you mean `{best}`?")),
            None => d.with_help(format!("its columns are {}", super::list_names(&names))),
        };
        self.report(d);
        None
    }

    /// Reports the first of `rest` when a value of type `ty` has no fields.
    fn no_deeper_fields(&mut self, ty: &Type, rest: &[ast::Ident]) {
        let Some(extra) = rest.first() else { return };
        if ty.is_unknown() {
            return;
        }
        self.report(
            Diagnostic::new(
                Code::UnknownField,
                format!("a `{ty}` value has no field `{}`", extra.name),
                extra.span,
                "no such field",
            )
            .with_help(match ty {
                Type::Money(_) => "use `amount(x)` or `currency(x)` to take money apart",
                Type::Table(_) => "name one column: `table.column`",
                _ => "remove the field",
            }),
        );
    }

    /// `step.field[.more]`: a step's result.
    fn step_result(&mut self, parts: &[ast::Ident]) -> ir::Expr {
        let first = &parts[0];
        let (results, keyword) = match self.scope.steps.get(first.name.as_str()) {
            Some(entry) => (entry.results.clone(), entry.step.keyword()),
            None => return error_expr(),
        };
        let Some(field) = parts.get(1) else {
            let names: Vec<&str> = results.names().collect();
            let mut d = Diagnostic::new(
                Code::UnknownField,
                format!("`{}` is a step; read one of its results", first.name),
                first.span,
                "a step, not a value",
            );
            if let Some(example) = names.first() {
                d = d.with_help(format!(
                    "write `{}.{example}` (its results are {})",
                    first.name,
                    super::list_names(&names)
                ));
            }
            self.report(d);
            return error_expr();
        };
        let ty = match &results {
            Results::Unknown => Type::Error,
            Results::None => {
                self.report(
                    Diagnostic::new(
                        Code::UnknownField,
                        format!("step `{}` (a `{keyword}` step) has no results", first.name),
                        field.span,
                        "nothing to read here",
                    )
                    .with_help("only action, http, batch and wait steps have results"),
                );
                return error_expr();
            }
            Results::Fields(_) => match results.field(&field.name) {
                Some(t) => t.clone(),
                None => {
                    let names: Vec<&str> = results.names().collect();
                    let mut d = Diagnostic::new(
                        Code::UnknownField,
                        format!("step `{}` has no result `{}`", first.name, field.name),
                        field.span,
                        "unknown result field",
                    );
                    d = match did_you_mean(&field.name, names.iter().copied()) {
                        Some(best) => d.with_help(format!("did you mean `{best}`?")),
                        None => {
                            d.with_help(format!("its results are {}", super::list_names(&names)))
                        }
                    };
                    self.report(d);
                    return error_expr();
                }
            },
        };
        let path: Vec<String> = parts[2..].iter().map(|p| p.name.clone()).collect();
        if ty != Type::Json {
            self.no_deeper_fields(&ty, &parts[2..]);
        }
        typed(
            ir::ExprKind::StepResult {
                step: first.name.clone(),
                field: field.name.clone(),
                path,
            },
            ty,
        )
    }

    fn unary(&mut self, op: UnaryOp, operand: &ast::Expr, span: Span) -> ir::Expr {
        let inner = self.expr(operand);
        let ty = match (op, &inner.ty) {
            (_, t) if t.is_unknown() => Type::Error,
            (
                UnaryOp::Neg,
                t @ (Type::Integer | Type::Decimal | Type::Money(_) | Type::Duration),
            ) => t.clone(),
            (UnaryOp::Not, Type::Bool) => Type::Bool,
            (op, t) => {
                let (symbol, wanted) = match op {
                    UnaryOp::Neg => ("-", "a number, money or a duration"),
                    UnaryOp::Not => ("!", "a bool"),
                };
                self.report(
                    Diagnostic::new(
                        Code::InvalidOperands,
                        format!("`{symbol}` is not defined for `{t}`"),
                        span,
                        format!("`{symbol}` needs {wanted}"),
                    )
                    .with_label(operand.span, format!("this is `{t}`")),
                );
                Type::Error
            }
        };
        typed(
            ir::ExprKind::Unary {
                op,
                operand: Box::new(inner),
            },
            ty,
        )
    }

    fn binary(&mut self, op: BinaryOp, lhs: &ast::Expr, rhs: &ast::Expr, span: Span) -> ir::Expr {
        let l = self.expr(lhs);
        let r = self.expr(rhs);
        let ty = self.binary_type(op, (lhs, &l.ty), (rhs, &r.ty), span);
        typed(
            ir::ExprKind::Binary {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r),
            },
            ty,
        )
    }

    /// The result type of `lhs op rhs`; reports operands that do not fit.
    fn binary_type(
        &mut self,
        op: BinaryOp,
        (lhs, lt): (&ast::Expr, &Type),
        (rhs, rt): (&ast::Expr, &Type),
        span: Span,
    ) -> Type {
        use BinaryOp as B;
        use Type as T;
        let is_comparison = matches!(op, B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge);
        if lt.is_unknown() || rt.is_unknown() {
            return match op {
                _ if is_comparison => T::Bool,
                B::And | B::Or => T::Bool,
                _ => T::Error,
            };
        }
        // Money of two fixed currencies never mixes.
        if let (T::Money(Some(a)), T::Money(Some(b))) = (lt, rt)
            && !a.eq_ignore_ascii_case(b)
            && matches!(
                op,
                B::Add | B::Sub | B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge
            )
        {
            self.report(
                Diagnostic::new(
                    Code::CurrencyMismatch,
                    format!("`{}` mixes `{a}` and `{b}` money", op.symbol()),
                    span,
                    "the currencies differ",
                )
                .with_label(lhs.span, format!("this is `{lt}`"))
                .with_label(rhs.span, format!("this is `{rt}`"))
                .with_help("convert one amount first, or keep each currency in its own data item"),
            );
            return if is_comparison { T::Bool } else { T::Error };
        }
        let result = match op {
            B::And | B::Or => (*lt == T::Bool && *rt == T::Bool).then_some(T::Bool),
            B::Eq | B::Ne => {
                self.check_select_literal(lt, rhs);
                self.check_select_literal(rt, lhs);
                match comparable(lt, rt) {
                    Ok(()) => Some(T::Bool),
                    Err(Mismatch::Type) if lt.is_number() && rt.is_number() => Some(T::Bool),
                    Err(_) => None,
                }
            }
            B::Lt | B::Le | B::Gt | B::Ge => {
                let ordered = (lt.is_number() && rt.is_number())
                    || matches!(
                        (lt, rt),
                        (T::Money(_), T::Money(_))
                            | (T::Date, T::Date)
                            | (T::Datetime, T::Datetime)
                            | (T::Duration, T::Duration)
                    )
                    || (lt.is_stringish() && rt.is_stringish());
                ordered.then_some(T::Bool)
            }
            B::Add | B::Sub => match (lt, rt) {
                (T::Integer, T::Integer) => Some(T::Integer),
                (a, b) if a.is_number() && b.is_number() => Some(T::Decimal),
                (T::Money(a), T::Money(b)) => Some(T::Money(a.clone().or(b.clone()))),
                (T::Date, T::Duration) => Some(T::Date),
                (T::Datetime, T::Duration) => Some(T::Datetime),
                (T::Duration, T::Date) if op == B::Add => Some(T::Date),
                (T::Duration, T::Datetime) if op == B::Add => Some(T::Datetime),
                (T::Duration, T::Duration) => Some(T::Duration),
                (T::Date, T::Date) | (T::Datetime, T::Datetime) if op == B::Sub => {
                    Some(T::Duration)
                }
                _ => None,
            },
            B::Mul => match (lt, rt) {
                (T::Integer, T::Integer) => Some(T::Integer),
                (a, b) if a.is_number() && b.is_number() => Some(T::Decimal),
                (m @ T::Money(_), n) | (n, m @ T::Money(_)) if n.is_number() => Some(m.clone()),
                (T::Duration, T::Integer) | (T::Integer, T::Duration) => Some(T::Duration),
                _ => None,
            },
            B::Div => match (lt, rt) {
                (a, b) if a.is_number() && b.is_number() => Some(T::Decimal),
                (m @ T::Money(_), n) if n.is_number() => Some(m.clone()),
                _ => None,
            },
            B::Rem => match (lt, rt) {
                (T::Integer, T::Integer) => Some(T::Integer),
                (a, b) if a.is_number() && b.is_number() => Some(T::Decimal),
                _ => None,
            },
        };
        if let Some(t) = result {
            return t;
        }
        let help = match op {
            B::Add if lt.is_stringish() || rt.is_stringish() => {
                "join strings with a template: `\"${a}${b}\"`".to_owned()
            }
            B::And | B::Or => "both sides must be `bool`".to_owned(),
            _ if lt.is_money() != rt.is_money() && (lt.is_number() || rt.is_number()) => {
                "money adds to money; make the number money with `money(x, \"EUR\")`, or take the amount with `amount(m)`".to_owned()
            }
            _ => format!("`{}` works on numbers, money, dates and durations", op.symbol()),
        };
        self.report(
            Diagnostic::new(
                Code::InvalidOperands,
                format!("`{}` is not defined for `{lt}` and `{rt}`", op.symbol()),
                span,
                format!("`{lt}` {} `{rt}`", op.symbol()),
            )
            .with_label(lhs.span, format!("this is `{lt}`"))
            .with_label(rhs.span, format!("this is `{rt}`"))
            .with_help(help),
        );
        if is_comparison { T::Bool } else { T::Error }
    }
}
