//! Putting a value where a type is expected: assignability with the right
//! code (E0201 type, E0202 minor units, E0203 select option, E0204 currency,
//! E0208 provider id), and literals against constraints (E0209, E0303) and
//! their type's format (E0211).

use super::Checker;
use super::types::{Column, Mismatch, SelectOption, Type, assignable};
use crate::ast::{self, ExprKind};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::ir;
use crate::span::Span;
use flowc_catalog::Unit;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// What is being given a value, as messages name it: "input `amount`",
/// "`total`". One is made for every value checked and read only for an
/// error, so it keeps its parts and is formatted when a message is written.
#[derive(Debug, Clone)]
pub(crate) enum What<'x> {
    Text(Cow<'x, str>),
    /// `` `name` ``
    Code(&'x str),
    /// `` kind `name` ``
    Named(&'x str, &'x str),
    /// `` `base.field` ``
    Path(&'x str, &'x str),
}

impl fmt::Display for What<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::Text(text) => f.write_str(text),
            What::Code(name) => write!(f, "`{name}`"),
            What::Named(kind, name) => write!(f, "{kind} `{name}`"),
            What::Path(base, field) => write!(f, "`{base}.{field}`"),
        }
    }
}

impl<'x> From<&'x str> for What<'x> {
    fn from(text: &'x str) -> Self {
        What::Text(Cow::Borrowed(text))
    }
}

impl From<String> for What<'_> {
    fn from(text: String) -> Self {
        What::Text(Cow::Owned(text))
    }
}

/// Where a value goes, for the checks and the messages.
#[derive(Debug, Clone)]
pub(crate) struct Expected<'x> {
    pub ty: Type,
    /// What is being given a value.
    pub what: What<'x>,
    /// Where the target was declared (a secondary label).
    pub declared_at: Option<Span>,
    /// The provider's title, when the target is a provider field.
    pub provider: Option<&'x str>,
    /// How the provider wants an amount.
    pub unit: Option<Unit>,
    /// The currency of the surrounding action (its `currency` input), for
    /// help texts that build money.
    pub currency_hint: Option<String>,
    pub limits: Limits<'x>,
}

impl<'x> Expected<'x> {
    pub fn new(ty: Type, what: impl Into<What<'x>>) -> Self {
        Expected {
            ty,
            what: what.into(),
            declared_at: None,
            provider: None,
            unit: None,
            currency_hint: None,
            limits: Limits::default(),
        }
    }

    pub fn declared_at(mut self, span: Span) -> Self {
        self.declared_at = Some(span);
        self
    }
}

/// Constraints a literal value is checked against.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limits<'x> {
    pub pattern: Option<&'x str>,
    pub max_length: Option<u64>,
    pub min_length: Option<u64>,
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
    /// Values a provider allows (E0303).
    pub enum_values: &'x [String],
    /// Currencies a provider's money field accepts (empty: any).
    pub currencies: &'x [String],
    /// Where each constraint is written (data items), for a second label.
    pub at: LimitSpans,
}

/// The spans of a data item's constraints.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LimitSpans {
    pub pattern: Option<Span>,
    pub max_length: Option<Span>,
    pub min: Option<Span>,
    pub max: Option<Span>,
}

impl Checker<'_> {
    /// Types `e` and checks that it fits `want`.
    pub(crate) fn expect(&mut self, e: &ast::Expr, want: &Expected<'_>) -> ir::Expr {
        let mut typed = self.expr(e);
        if typed.ty == Type::Error {
            return typed;
        }
        // A string literal where a date is wanted is a date literal.
        if let (ExprKind::Str(text), Type::Date | Type::Datetime) = (&e.kind, &want.ty) {
            self.check_literal_format(text, &want.ty, e.span);
            typed.ty = want.ty.clone();
            return typed;
        }
        match assignable(&want.ty, &typed.ty) {
            Ok(()) => {
                if let ExprKind::Str(text) = &e.kind {
                    self.check_literal_format(text, &want.ty, e.span);
                    if let Some(options) = want.ty.select_options() {
                        self.check_option(text, options, e.span);
                    }
                }
                self.check_limits(e, &typed.ty, want);
            }
            Err(Mismatch::Currency { expected, found }) => {
                let mut d = Diagnostic::new(
                    Code::CurrencyMismatch,
                    format!(
                        "{} is `money({expected})`, but this is `money({found})`",
                        want.what
                    ),
                    e.span,
                    format!("this is `money({found})`"),
                );
                if let Some(at) = want.declared_at {
                    d = d.with_label(at, format!("declared `money({expected})` here"));
                }
                self.report(d.with_help(format!(
                    "give it an amount in {expected}, or change the currency of {}",
                    want.what
                )));
            }
            Err(Mismatch::IdKind) => {
                let mut d = Diagnostic::new(
                    Code::ProviderIdMismatch,
                    format!("{} is `{}`, but this is `{}`", want.what, want.ty, typed.ty),
                    e.span,
                    format!("this is `{}`", typed.ty),
                );
                if let Some(at) = want.declared_at {
                    d = d.with_label(at, format!("declared `{}` here", want.ty));
                }
                self.report(d.with_help(format!(
                    "`{}` and `{}` are different kinds of object; pass {}",
                    typed.ty,
                    want.ty,
                    super::a(&want.ty)
                )));
            }
            Err(Mismatch::Type) => self.report_mismatch(e, &typed.ty, want),
        }
        typed
    }

    /// E0201, or E0202 when the mix-up is between money and minor units.
    fn report_mismatch(&mut self, e: &ast::Expr, found: &Type, want: &Expected<'_>) {
        let shown = crate::syntax::expr::print_expr(e);
        let provider = want.provider.unwrap_or("the provider");
        let minor_units = want.unit == Some(Unit::MinorUnits) && want.ty == Type::Integer;
        let currency = match &want.ty {
            Type::Money(Some(c)) => c.clone(),
            _ => want
                .currency_hint
                .as_deref()
                .unwrap_or("EUR")
                .to_ascii_uppercase(),
        };
        let (code, message, help) = match (found, &want.ty) {
            (Type::Money(_), _) if minor_units => (
                Code::MinorUnitsExpected,
                format!(
                    "{provider} wants {} in integer minor units, but this is `{found}`",
                    want.what
                ),
                format!("{provider} wants integer minor units: use `minor_units({shown})`"),
            ),
            (Type::Decimal, _) if minor_units => (
                Code::MinorUnitsExpected,
                format!(
                    "{provider} wants {} in integer minor units, but this is `{found}`",
                    want.what
                ),
                format!(
                    "{provider} wants integer minor units: make it money and convert it, `minor_units(money({shown}, \"{currency}\"))`"
                ),
            ),
            (Type::Integer | Type::Decimal, Type::Money(_)) if want.provider.is_some() => (
                Code::MinorUnitsExpected,
                format!(
                    "{provider} wants {} as money (an amount with its currency), but this is `{found}`",
                    want.what
                ),
                format!("{provider} wants money: use `money({shown}, \"{currency}\")`"),
            ),
            (Type::Money(_), Type::Decimal) if want.unit == Some(Unit::DecimalString) => (
                Code::MinorUnitsExpected,
                format!(
                    "{provider} wants {} as a decimal amount, but this is `{found}`",
                    want.what
                ),
                format!("{provider} wants the amount alone: use `amount({shown})`"),
            ),
            (Type::Table(f) | Type::Row(f), Type::Table(e) | Type::Row(e)) => (
                Code::TypeMismatch,
                format!(
                    "this table does not fit {}: {}",
                    want.what,
                    columns_mismatch(e, f)
                ),
                format!(
                    "give a table with the columns {}",
                    super::list_names(
                        &e.iter()
                            .map(|c| format!("{}: {}", c.name, c.ty))
                            .collect::<Vec<_>>()
                    )
                ),
            ),
            _ => (
                Code::TypeMismatch,
                format!("{} is `{}`, but this is `{found}`", want.what, want.ty),
                conversion_help(found, &want.ty, &shown),
            ),
        };
        let mut d = Diagnostic::new(code, message, e.span, format!("this is `{found}`"));
        if let Some(at) = want.declared_at {
            d = d.with_label(at, format!("declared `{}` here", want.ty));
        }
        if !help.is_empty() {
            d = d.with_help(help);
        }
        self.report(d);
    }

    /// E0203 unless `value` is one of the select's options.
    pub(crate) fn check_option(&mut self, value: &str, options: &[SelectOption], span: Span) {
        if options.iter().any(|o| o.id == value) {
            return;
        }
        let listed: Vec<String> = options
            .iter()
            .map(|o| format!("`{}` ({})", o.id, o.label))
            .collect();
        let mut help = format!("the options are {}", listed.join(", "));
        if let Some(parent) = options.iter().find(|p| {
            options
                .iter()
                .any(|c| c.id != p.id && c.id.starts_with(p.id.as_str()))
        }) && let Some(child) = options
            .iter()
            .find(|c| c.id != parent.id && c.id.starts_with(parent.id.as_str()))
        {
            help.push_str(&format!(
                "; options are hierarchical: `{}` is under `{}`",
                child.id, parent.id
            ));
        }
        let suggestion = (value.chars().count() >= 3)
            .then(|| did_you_mean(value, options.iter().map(|o| o.id.as_str())))
            .flatten();
        if let Some(best) = suggestion {
            help = format!("did you mean `{best}`? {help}");
        }
        self.report(
            Diagnostic::new(
                Code::SelectOption,
                format!("`{value}` is not an option of this select"),
                span,
                "not an option",
            )
            .with_help(help),
        );
    }

    /// For `select == "x"`: checks a literal compared with a select.
    pub(crate) fn check_select_literal(&mut self, ty: &Type, other: &ast::Expr) {
        if let (Some(options), ExprKind::Str(text)) = (ty.select_options(), &other.kind) {
            self.check_option(text, options, other.span);
        }
    }

    /// E0211 when a string literal is not a valid value of the type it is
    /// used as (a date, an e-mail address, a currency code, …).
    fn check_literal_format(&mut self, text: &str, ty: &Type, span: Span) {
        let (valid, example) = match ty {
            Type::Date => (is_valid_date(text), "2025-03-13"),
            Type::Datetime => (is_valid_datetime(text), "2025-03-13T09:00:00Z"),
            Type::Email => (is_valid_email(text), "billing@example.com"),
            Type::Url => (is_valid_url(text), "https://example.com/path"),
            Type::Currency => (is_valid_currency_code(text), "EUR"),
            Type::Country => (
                text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()),
                "NL",
            ),
            Type::Phone => (is_valid_phone(text), "+81 3 1234 5678"),
            _ => return,
        };
        if !valid {
            self.report(
                Diagnostic::new(
                    Code::MalformedLiteral,
                    format!("`{text}` is not a valid {ty}"),
                    span,
                    format!("not {}", super::a(ty)),
                )
                .with_help(format!("write {} like `{example}`", super::a(ty))),
            );
        }
    }

    /// Checks a literal against pattern, length, range and enum limits.
    pub(crate) fn check_limits(&mut self, e: &ast::Expr, found: &Type, want: &Expected<'_>) {
        let limits = &want.limits;
        let owner = want.provider.unwrap_or("the flow");
        if let Type::Money(Some(currency)) = found
            && !limits.currencies.is_empty()
            && !limits
                .currencies
                .iter()
                .any(|c| c.eq_ignore_ascii_case(currency))
        {
            self.report(
                Diagnostic::new(
                    Code::CurrencyMismatch,
                    format!(
                        "{owner} takes {} in {}, but this is `{found}`",
                        want.what,
                        super::list_alternatives(limits.currencies)
                    ),
                    e.span,
                    format!("this is `{found}`"),
                )
                .with_help(format!(
                    "give an amount in {}",
                    super::list_alternatives(limits.currencies)
                )),
            );
        }
        if let ExprKind::Str(text) = &e.kind {
            if !limits.enum_values.is_empty() && !limits.enum_values.iter().any(|v| v == text) {
                let mut help = format!(
                    "{owner} allows {}",
                    super::list_alternatives(limits.enum_values)
                );
                if let Some(best) =
                    did_you_mean(text, limits.enum_values.iter().map(String::as_str))
                {
                    help = format!("did you mean `{best}`? {help}");
                }
                self.report(
                    Diagnostic::new(
                        Code::EnumValue,
                        format!("`{text}` is not a value {owner} allows for {}", want.what),
                        e.span,
                        "not allowed here",
                    )
                    .with_help(help),
                );
                return;
            }
            if let Some(min) = limits.min_length {
                let len = text.chars().count() as u64;
                if len < min {
                    self.limit_broken(
                        e.span,
                        want,
                        format!("{len} characters long, at least {min} needed"),
                        format!("make it at least {min} characters long"),
                        None,
                    );
                }
            }
            if let Some(max) = limits.max_length {
                let len = text.chars().count() as u64;
                if len > max {
                    self.limit_broken(
                        e.span,
                        want,
                        format!("{len} characters long, at most {max} allowed"),
                        format!("shorten it to {max} characters"),
                        limits.at.max_length,
                    );
                }
            }
            if let Some(pattern) = limits.pattern
                && let Some(help) = self
                    .regex(pattern)
                    .filter(|re| !re.is_match(text))
                    .map(|re| pattern_help(text, pattern, re))
            {
                self.limit_broken(
                    e.span,
                    want,
                    format!("does not match the pattern `{pattern}`"),
                    help,
                    limits.at.pattern,
                );
            }
        }
        if let Some(n) = literal_number(e) {
            if let Some(min) = limits.min
                && n < min
            {
                self.limit_broken(
                    e.span,
                    want,
                    format!("{n} is less than the minimum {min}"),
                    format!("give at least {min}"),
                    limits.at.min,
                );
            }
            if let Some(max) = limits.max
                && n > max
            {
                self.limit_broken(
                    e.span,
                    want,
                    format!("{n} is more than the maximum {max}"),
                    format!("give at most {max}"),
                    limits.at.max,
                );
            }
        }
    }

    fn limit_broken(
        &mut self,
        span: Span,
        want: &Expected<'_>,
        why: String,
        help: String,
        constraint: Option<Span>,
    ) {
        let mut d = Diagnostic::new(
            Code::ConstraintViolation,
            format!("this value for {} breaks a constraint: {why}", want.what),
            span,
            why,
        );
        if let Some(at) = constraint {
            d = d.with_label(at, "the constraint");
        }
        self.report(d.with_help(help));
    }

    /// A compiled pattern, cached; `None` when the pattern is not a valid regex.
    pub(crate) fn regex(&mut self, pattern: &str) -> Option<&regex::Regex> {
        if !self.regexes.contains_key(pattern) {
            let compiled = regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .ok();
            self.regexes.insert(pattern.to_owned(), compiled);
        }
        self.regexes.get(pattern).and_then(Option::as_ref)
    }
}

/// Help for a value that does not match a pattern: the same value in the
/// other case when that would match (Stripe wants `jpy`, not `JPY`).
fn pattern_help(text: &str, pattern: &str, re: &regex::Regex) -> String {
    for variant in [text.to_lowercase(), text.to_uppercase()] {
        if variant != text && re.is_match(&variant) {
            return format!("write `{variant}`: the value must match `{pattern}`");
        }
    }
    format!("write a value that matches `{pattern}`")
}

/// What is wrong between an expected and a found set of table columns.
fn columns_mismatch(expected: &[Column], found: &[Column]) -> String {
    let mut problems = Vec::new();
    for e in expected {
        match found.iter().find(|f| f.name == e.name) {
            None if e.required => problems.push(format!("it has no column `{}`", e.name)),
            Some(f) if assignable(&e.ty, &f.ty).is_err() => {
                problems.push(format!("column `{}` is `{}`, not `{}`", e.name, f.ty, e.ty))
            }
            _ => {}
        }
    }
    problems.join("; ")
}

/// Help for an E0201: how to turn `found` into `wanted`, when there is a way.
fn conversion_help(found: &Type, wanted: &Type, shown: &str) -> String {
    match (found, wanted) {
        (Type::Money(_), Type::Integer) => format!("use `minor_units({shown})` for minor units"),
        (Type::Money(_), Type::Decimal) => format!("use `amount({shown})` for the amount alone"),
        (Type::Integer | Type::Decimal, Type::Money(c)) => format!(
            "use `money({shown}, \"{}\")`",
            c.as_deref().unwrap_or("EUR")
        ),
        (Type::Decimal, Type::Integer) => {
            "an integer has no fractional part; change the item to `decimal`, or give an integer"
                .to_owned()
        }
        (t, Type::Date) if t.is_stringish() => format!("use `date({shown})`"),
        (t, Type::Datetime) if t.is_stringish() => format!("use `datetime({shown})`"),
        (Type::Integer, Type::Duration) => format!("use `days({shown})`, or write `{shown}d`"),
        (_, Type::String | Type::Text) if found.is_scalar() => {
            format!("write it into a string: `\"${{{shown}}}\"`")
        }
        (Type::Table(_), _) => "loop over a table with `for_each`".to_owned(),
        _ => String::new(),
    }
}

/// The value of a number literal (`12`, `-3`, `12.50`).
pub(crate) fn literal_number(e: &ast::Expr) -> Option<Decimal> {
    match &e.kind {
        ExprKind::Int(n) => Some(Decimal::from(*n)),
        ExprKind::Decimal(d) => Decimal::from_str(d).ok(),
        ExprKind::Unary {
            op: ast::UnaryOp::Neg,
            operand,
        } => literal_number(operand).map(|n| -n),
        _ => None,
    }
}

/// `YYYY-MM-DD`, a real calendar date.
pub(crate) fn is_valid_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`.
pub(crate) fn is_valid_datetime(text: &str) -> bool {
    let Some((date, rest)) = text.split_once(['T', 't', ' ']) else {
        return false;
    };
    if !is_valid_date(date) || rest.len() < 8 || !rest.is_char_boundary(8) {
        return false;
    }
    let (time, mut zone) = rest.split_at(8);
    let t = time.as_bytes();
    let two = |i: usize, max: u32| -> bool {
        time.get(i..i + 2)
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
            .is_some_and(|n| n <= max)
    };
    if t[2] != b':' || t[5] != b':' || !two(0, 23) || !two(3, 59) || !two(6, 60) {
        return false;
    }
    if let Some(frac) = zone.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        zone = &frac[digits..];
    }
    match zone {
        "Z" | "z" => true,
        _ => {
            let z = zone.as_bytes();
            z.len() == 6
                && (z[0] == b'+' || z[0] == b'-')
                && z[3] == b':'
                && z[1..3].iter().chain(&z[4..6]).all(u8::is_ascii_digit)
        }
    }
}

/// Three ASCII letters (ISO 4217 shape; any case).
pub(crate) fn is_valid_currency_code(text: &str) -> bool {
    text.len() == 3 && text.bytes().all(|b| b.is_ascii_alphabetic())
}

fn is_valid_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.chars().any(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

fn is_valid_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.chars().any(char::is_whitespace))
}

fn is_valid_phone(text: &str) -> bool {
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    digits >= 3
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(is_valid_date("2024-02-29"));
        assert!(!is_valid_date("2023-02-29"));
        assert!(!is_valid_date("2023-13-01"));
        assert!(!is_valid_date("2023-1-01"));
        assert!(!is_valid_date("２０２３-01-01"));
        assert!(is_valid_datetime("2025-03-13T09:00:00Z"));
        assert!(is_valid_datetime("2025-03-13T09:00:00.123+09:00"));
        assert!(!is_valid_datetime("2025-03-13T25:00:00Z"));
        assert!(!is_valid_datetime("2025-03-13"));
        assert!(!is_valid_datetime("2025-03-13T09:00:0令"));
    }

    #[test]
    fn formats() {
        assert!(is_valid_email("a@b.co"));
        assert!(!is_valid_email("a@b"));
        assert!(is_valid_url("https://x.example/a"));
        assert!(!is_valid_url("ftp://x"));
        assert!(is_valid_currency_code("jpy"));
        assert!(!is_valid_currency_code("JPYY"));
    }
}
