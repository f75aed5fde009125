//! The typed builtin functions of the expression language
//! (`docs/language.md`, "Expressions").

use super::Checker;
use super::types::Type;
use super::values::{is_valid_currency_code, is_valid_date, is_valid_datetime};
use crate::ast;
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::ir;
use crate::span::Span;

macro_rules! builtins {
    ($($variant:ident = $name:literal, $arity:literal, $signature:literal;)*) => {
        /// A builtin function.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Builtin {
            $($variant,)*
        }

        impl Builtin {
            pub const ALL: &'static [Builtin] = &[$(Builtin::$variant,)*];

            /// The name as written in flows.
            pub fn name(self) -> &'static str {
                match self { $(Builtin::$variant => $name,)* }
            }

            /// How many arguments it takes.
            pub fn arity(self) -> usize {
                match self { $(Builtin::$variant => $arity,)* }
            }

            /// How to call it, for help texts.
            pub fn signature(self) -> &'static str {
                match self { $(Builtin::$variant => $signature,)* }
            }

            pub fn from_name(name: &str) -> Option<Builtin> {
                match name { $($name => Some(Builtin::$variant),)* _ => None }
            }
        }
    };
}

builtins! {
    Now = "now", 0, "now() -> datetime";
    Today = "today", 0, "today() -> date";
    FormatDate = "format_date", 2,
        "format_date(date or datetime, \"iso\" | \"era_ja\" | \"era_en\" | \"<pattern>\") -> string";
    MinorUnits = "minor_units", 1, "minor_units(money) -> integer";
    Money = "money", 2, "money(decimal, \"CUR\") -> money(CUR)";
    Amount = "amount", 1, "amount(money) -> decimal";
    Currency = "currency", 1, "currency(money) -> string";
    Sum = "sum", 1, "sum(table.column) -> the column's type";
    Len = "len", 1, "len(table or string) -> integer";
    Upper = "upper", 1, "upper(string) -> string";
    Lower = "lower", 1, "lower(string) -> string";
    Trim = "trim", 1, "trim(string) -> string";
    Round = "round", 2, "round(decimal, integer) -> decimal";
    Date = "date", 1, "date(\"2025-03-13\") -> date";
    Datetime = "datetime", 1, "datetime(\"2025-03-13T09:00:00Z\") -> datetime";
    Days = "days", 1, "days(integer) -> duration";
    Coalesce = "coalesce", 2, "coalesce(a, b) -> the type of a";
    Uuid = "uuid", 0, "uuid() -> string";
}

impl Checker<'_> {
    /// Types a call of a builtin.
    pub(crate) fn call(
        &mut self,
        function: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> ir::Expr {
        let typed: Vec<ir::Expr> = args.iter().map(|a| self.expr(a)).collect();
        let Some(builtin) = Builtin::from_name(&function.name) else {
            self.unknown_function(function);
            return ir::Expr {
                kind: ir::ExprKind::Null,
                ty: Type::Error,
            };
        };
        let ty = if typed.len() == builtin.arity() {
            self.type_call(builtin, args, &typed)
        } else {
            self.wrong_arity(builtin, args.len(), span);
            Type::Error
        };
        ir::Expr {
            kind: ir::ExprKind::Call {
                function: builtin,
                args: typed,
            },
            ty,
        }
    }

    fn unknown_function(&mut self, function: &ast::Ident) {
        let names = Builtin::ALL.iter().map(|b| b.name());
        let mut d = Diagnostic::new(
            Code::UnknownFunction,
            format!("unknown function `{}`", function.name),
            function.span,
            "not a builtin function",
        );
        d = match did_you_mean(&function.name, names) {
            Some(best) => {
                let b = Builtin::from_name(best).unwrap_or(Builtin::Now);
                d.with_help(format!("did you mean `{best}`? ({})", b.signature()))
            }
            None => d.with_help(format!(
                "the functions are {}",
                super::list_names(&Builtin::ALL.iter().map(|b| b.name()).collect::<Vec<_>>())
            )),
        };
        self.report(d);
    }

    fn wrong_arity(&mut self, builtin: Builtin, given: usize, span: Span) {
        let wanted = builtin.arity();
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        self.report(
            Diagnostic::new(
                Code::WrongArity,
                format!(
                    "`{}` takes {wanted} {}, but {given} {} given",
                    builtin.name(),
                    plural(wanted),
                    if given == 1 { "was" } else { "were" }
                ),
                span,
                format!("{given} {}", plural(given)),
            )
            .with_help(format!("call it as `{}`", builtin.signature())),
        );
    }

    /// The result type of a call with the right number of arguments;
    /// reports arguments of the wrong type.
    fn type_call(&mut self, builtin: Builtin, args: &[ast::Expr], typed: &[ir::Expr]) -> Type {
        use Builtin as B;
        let arg_ty = |i: usize| typed.get(i).map(|e| e.ty.clone()).unwrap_or(Type::Error);
        match builtin {
            B::Now => Type::Datetime,
            B::Today => Type::Date,
            B::Uuid => Type::String,
            B::FormatDate => {
                self.want_arg(builtin, args, typed, 0, "a date or datetime", |t| {
                    matches!(t, Type::Date | Type::Datetime)
                });
                self.want_literal_arg(builtin, args, 1, "the format");
                if let Some(format) = args.get(1) {
                    self.check_date_format(format);
                }
                Type::String
            }
            B::MinorUnits => {
                if let (Some(a), Type::Decimal | Type::Integer) = (args.first(), arg_ty(0)) {
                    let shown = crate::syntax::expr::print_expr(a);
                    self.report(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            format!("`minor_units` takes money, but this is `{}`", arg_ty(0)),
                            a.span,
                            format!("this is `{}`", arg_ty(0)),
                        )
                        .with_help(format!(
                            "give it a currency first: `minor_units(money({shown}, \"EUR\"))`"
                        )),
                    );
                } else {
                    self.want_arg(builtin, args, typed, 0, "money", Type::is_money);
                }
                Type::Integer
            }
            B::Money => {
                self.want_arg(builtin, args, typed, 0, "a decimal", Type::is_number);
                match args.get(1).map(|a| &a.kind) {
                    Some(ast::ExprKind::Str(code)) => {
                        if is_valid_currency_code(code) {
                            Type::Money(Some(code.to_ascii_uppercase()))
                        } else {
                            self.report(
                                Diagnostic::new(
                                    Code::MalformedLiteral,
                                    format!("`{code}` is not a currency code"),
                                    args[1].span,
                                    "not an ISO 4217 code",
                                )
                                .with_help("write a three-letter ISO 4217 code, e.g. `\"EUR\"`"),
                            );
                            Type::Money(None)
                        }
                    }
                    _ => {
                        self.want_arg(
                            builtin,
                            args,
                            typed,
                            1,
                            "a currency code",
                            Type::is_stringish,
                        );
                        Type::Money(None)
                    }
                }
            }
            B::Amount => {
                self.want_arg(builtin, args, typed, 0, "money", Type::is_money);
                Type::Decimal
            }
            B::Currency => {
                self.want_arg(builtin, args, typed, 0, "money", Type::is_money);
                Type::Currency
            }
            B::Sum => match arg_ty(0) {
                Type::List(inner) if inner.is_number() || inner.is_money() => *inner,
                Type::List(inner) if inner.is_unknown() => Type::Error,
                t if t.is_unknown() => Type::Error,
                Type::Table(_) => {
                    self.report(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            "`sum` adds up one column of a table, not the table",
                            args[0].span,
                            "this is a whole table",
                        )
                        .with_help("name the column: `sum(lines.amount)`"),
                    );
                    Type::Error
                }
                _ => {
                    self.want_arg(
                        builtin,
                        args,
                        typed,
                        0,
                        "a column of numbers or money",
                        |_| false,
                    );
                    Type::Error
                }
            },
            B::Len => {
                self.want_arg(builtin, args, typed, 0, "a table or a string", |t| {
                    t.is_stringish() || matches!(t, Type::Table(_) | Type::List(_))
                });
                Type::Integer
            }
            B::Upper | B::Lower | B::Trim => {
                self.want_arg(builtin, args, typed, 0, "a string", Type::is_stringish);
                Type::String
            }
            B::Round => {
                self.want_arg(builtin, args, typed, 0, "a decimal or money", |t| {
                    t.is_number() || t.is_money()
                });
                self.want_arg(builtin, args, typed, 1, "an integer", |t| {
                    *t == Type::Integer
                });
                match arg_ty(0) {
                    t @ Type::Money(_) => t,
                    _ => Type::Decimal,
                }
            }
            B::Date | B::Datetime => {
                let (valid, ty, example): (fn(&str) -> bool, _, _) = if builtin == B::Date {
                    (is_valid_date, Type::Date, "2025-03-13")
                } else {
                    (is_valid_datetime, Type::Datetime, "2025-03-13T09:00:00Z")
                };
                match args.first().map(|a| &a.kind) {
                    Some(ast::ExprKind::Str(text)) if !valid(text) => {
                        self.report(
                            Diagnostic::new(
                                Code::MalformedLiteral,
                                format!("`{text}` is not a valid {ty}"),
                                args[0].span,
                                format!("not a {ty}"),
                            )
                            .with_help(format!("write it as `{}(\"{example}\")`", builtin.name())),
                        );
                    }
                    _ => {
                        self.want_arg(builtin, args, typed, 0, "a string", Type::is_stringish);
                    }
                }
                ty
            }
            B::Days => {
                self.want_arg(builtin, args, typed, 0, "an integer", |t| {
                    *t == Type::Integer
                });
                Type::Duration
            }
            B::Coalesce => {
                let first = arg_ty(0);
                let second = arg_ty(1);
                if super::types::assignable(&first, &second).is_err() {
                    self.report(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            format!(
                                "the fallback of `coalesce` is `{second}`, but the value is `{first}`"
                            ),
                            args[1].span,
                            format!("this is `{second}`"),
                        )
                        .with_label(args[0].span, format!("this is `{first}`"))
                        .with_help("give a fallback of the same type as the first argument"),
                    );
                }
                first
            }
        }
    }

    /// A `format_date` format close to a named one (`era_jp`) is a typo,
    /// not a pattern.
    fn check_date_format(&mut self, format: &ast::Expr) {
        const NAMED: &[&str] = &["iso", "era_ja", "era_en"];
        let ast::ExprKind::Str(text) = &format.kind else {
            return;
        };
        if NAMED.contains(&text.as_str()) || text.contains('%') {
            return;
        }
        if let Some(best) = did_you_mean(text, NAMED.iter().copied()) {
            self.report(
                Diagnostic::new(
                    Code::MalformedLiteral,
                    format!("`{text}` is not a date format"),
                    format.span,
                    "unknown format",
                )
                .with_help(format!(
                    "did you mean `\"{best}\"`? The formats are `\"iso\"`, `\"era_ja\"`, `\"era_en\"` or a pattern such as `\"%Y-%m-%d\"`"
                )),
            );
        }
    }

    /// Reports argument `index` unless its type passes `ok`.
    fn want_arg(
        &mut self,
        builtin: Builtin,
        args: &[ast::Expr],
        typed: &[ir::Expr],
        index: usize,
        wanted: &str,
        ok: impl Fn(&Type) -> bool,
    ) {
        let (Some(arg), Some(t)) = (args.get(index), typed.get(index)) else {
            return;
        };
        if t.ty.is_unknown() || t.ty == Type::Null || ok(&t.ty) {
            return;
        }
        self.report(
            Diagnostic::new(
                Code::TypeMismatch,
                format!(
                    "`{}` takes {wanted}, but this is `{}`",
                    builtin.name(),
                    t.ty
                ),
                arg.span,
                format!("this is `{}`", t.ty),
            )
            .with_help(format!("call it as `{}`", builtin.signature())),
        );
    }

    /// Reports argument `index` unless it is a string literal.
    fn want_literal_arg(&mut self, builtin: Builtin, args: &[ast::Expr], index: usize, what: &str) {
        let Some(arg) = args.get(index) else { return };
        if !matches!(arg.kind, ast::ExprKind::Str(_)) {
            self.report(
                Diagnostic::new(
                    Code::TypeMismatch,
                    format!("{what} of `{}` must be a string literal", builtin.name()),
                    arg.span,
                    "not a string literal",
                )
                .with_help(format!("call it as `{}`", builtin.signature())),
            );
        }
    }
}
