//! Reading one YAML scalar as a value (docs/language.md, "Values"), a name,
//! or a dotted name, with spans that point into the YAML source.

use super::node::{Scalar, Style};
use crate::ast::{DottedName, Expr, ExprKind, Ident};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::syntax::expr::{parse_expr, parse_template};
use crate::syntax::strip::MapSpans;

/// Reads a scalar as an expression:
/// - `${expr}` alone: that expression; text with `${…}` parts: a template;
/// - a plain scalar that is an integer, a decimal, `true`/`false`, `null`
///   (or nothing, or `~`) or a duration: that literal;
/// - anything else, and every quoted scalar: a string.
pub fn expr(scalar: &Scalar) -> Result<Expr, Diagnostic> {
    if scalar.style == Style::Plain
        && !scalar.value.contains("${")
        && let Some(kind) = plain_literal(&scalar.value)
    {
        return Ok(Expr {
            kind,
            span: scalar.text_span(),
        });
    }
    let map = OffsetMap::new(scalar);
    if let Some(d) = too_complex(&scalar.value) {
        let mut d = d;
        for label in &mut d.labels {
            label.span = map.map(label.span);
        }
        return Err(d);
    }
    match parse_template(&scalar.value, 0) {
        Ok(mut e) => {
            e.map_spans(&mut |s| map.map(s));
            // A template (or plain string) covers the whole scalar.
            if matches!(e.kind, ExprKind::Template(_) | ExprKind::Str(_)) {
                e.span = scalar.text_span();
            }
            Ok(e)
        }
        Err(mut d) => {
            for label in &mut d.labels {
                label.span = map.map(label.span);
            }
            Err(d)
        }
    }
}

/// Deepest bracket nesting allowed inside one `${…}`.
const MAX_DEPTH: usize = 32;
/// Most operators allowed inside one `${…}`.
const MAX_OPERATORS: usize = 256;

/// E0005 when a `${…}` part nests brackets deeper than [`MAX_DEPTH`] or
/// holds more than [`MAX_OPERATORS`] operators. The expression parser and
/// every walk over an expression recurse once per level, so a hostile file
/// could otherwise overflow the stack; real expressions stay far below.
fn too_complex(value: &str) -> Option<Diagnostic> {
    for start in interpolations(value) {
        let body = value.get(start + 2..)?;
        let (mut depth, mut max_depth, mut operators) = (1usize, 1usize, 0usize);
        let mut in_string = false;
        let mut escaped = false;
        let mut end = value.len();
        for (i, c) in body.char_indices() {
            if in_string {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => in_string = false,
                    // A template inside a string opens a nested expression.
                    '{' if body[..i].ends_with('$') => {
                        depth += 1;
                        max_depth = max_depth.max(depth);
                    }
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_string = true,
                '(' | '[' | '{' => {
                    depth += 1;
                    max_depth = max_depth.max(depth);
                }
                ')' | ']' | '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = start + 2 + i + 1;
                        break;
                    }
                }
                '+' | '-' | '*' | '/' | '%' | '!' | '<' | '>' | '=' | '&' | '|' => operators += 1,
                _ => {}
            }
        }
        let words = value.get(start..end).map_or(0, |e| {
            e.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .filter(|w| matches!(*w, "not" | "and" | "or"))
                .count()
        });
        let span = Span::new(start, start + 2);
        if max_depth > MAX_DEPTH {
            return Some(
                Diagnostic::new(
                    Code::ExprSyntax,
                    format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
                    span,
                    "this expression",
                )
                .with_help("compute parts of it in earlier `set` steps"),
            );
        }
        if operators + words > MAX_OPERATORS {
            return Some(
                Diagnostic::new(
                    Code::ExprSyntax,
                    format!("expression too long (more than {MAX_OPERATORS} operators)"),
                    span,
                    "this expression",
                )
                .with_help("compute parts of it in earlier `set` steps"),
            );
        }
    }
    None
}

/// The literal a plain scalar stands for, if it is one: integers and
/// decimals (optionally negative), `true`, `false`, `null`, nothing, `~`,
/// and durations, read by the DSL's rules.
pub fn plain_literal(text: &str) -> Option<ExprKind> {
    match text {
        "" | "~" | "null" => return Some(ExprKind::Null),
        "true" => return Some(ExprKind::Bool(true)),
        "false" => return Some(ExprKind::Bool(false)),
        _ => {}
    }
    if !looks_numeric(text) {
        return None;
    }
    // The shape is a number or a duration; the expression parser reads it
    // exactly as the DSL does (e.g. `12.50` stays a decimal, `-5` is `Int(-5)`).
    let e = parse_expr(text, 0).ok()?;
    match e.kind {
        k @ (ExprKind::Int(_) | ExprKind::Decimal(_) | ExprKind::Duration(_)) => Some(k),
        _ => None,
    }
}

/// `-?digits`, `-?digits.digits`, or `digits` + a duration unit.
fn looks_numeric(text: &str) -> bool {
    let body = text.strip_prefix('-').unwrap_or(text);
    let digits_end = body.bytes().take_while(u8::is_ascii_digit).count();
    if digits_end == 0 {
        return false;
    }
    let rest = &body[digits_end..];
    let negative = body.len() != text.len();
    match rest {
        "" => true,
        "s" | "m" | "h" | "d" | "w" => !negative,
        _ => rest
            .strip_prefix('.')
            .is_some_and(|frac| !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit())),
    }
}

/// `-?digits.digits`: a decimal literal.
pub fn is_decimal(text: &str) -> bool {
    looks_numeric(text) && text.contains('.')
}

/// Whether `name` is an identifier: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_ident(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is a dotted path of identifiers: `a.b.c`.
pub fn is_dotted_ident(name: &str) -> bool {
    name.split('.').all(is_ident)
}

/// Reads a scalar as a name: an identifier, or (with `dotted`) a dotted path
/// of identifiers (`line.status`). Reports E0013 for anything else.
pub fn ident(scalar: &Scalar, what: &str, dotted: bool) -> Result<Ident, Diagnostic> {
    let name = scalar.value.as_str();
    let ok = if dotted {
        is_dotted_ident(name)
    } else {
        is_ident(name)
    };
    if ok {
        Ok(Ident {
            name: name.to_owned(),
            span: scalar.text_span(),
        })
    } else {
        Err(Diagnostic::new(
            Code::InvalidLiteral,
            format!("`{name}` is not a valid {what}"),
            scalar.span,
            "not a name",
        )
        .with_help(if dotted {
            "names are letters, digits and `_`, starting with a letter or `_`, joined by `.`"
        } else {
            "names are letters, digits and `_`, starting with a letter or `_`"
        }))
    }
}

/// Reads a scalar as a dotted name such as `stripe.create_charge` or
/// `paypal.INVOICING.INVOICE.PAID`: at least two parts, each an identifier.
pub fn dotted_name(scalar: &Scalar, what: &str, example: &str) -> Result<DottedName, Diagnostic> {
    let text = scalar.value.as_str();
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() < 2 || !parts.iter().all(|p| is_ident(p)) {
        return Err(Diagnostic::new(
            Code::InvalidLiteral,
            format!("`{text}` is not a valid {what}"),
            scalar.span,
            format!("expected a dotted name such as `{example}`"),
        )
        .with_help(format!(
            "write the provider, a dot and the name, e.g. `{example}`"
        )));
    }
    let base = scalar.verbatim_start();
    let mut offset = 0;
    let parts = parts
        .into_iter()
        .map(|p| {
            let span = base.map_or(scalar.span, |b| Span::new(b + offset, b + offset + p.len()));
            offset += p.len() + 1;
            Ident {
                name: p.to_owned(),
                span,
            }
        })
        .collect();
    Ok(DottedName {
        parts,
        span: scalar.text_span(),
    })
}

/// A sub-span of a scalar's text (`from..to` in value offsets) in source
/// offsets: exact when the value is verbatim, else the whole scalar.
pub fn sub_span(scalar: &Scalar, from: usize, to: usize) -> Span {
    match scalar.verbatim_start() {
        Some(b) => Span::new(b + from, b + to),
        None => scalar.span,
    }
}

/// Maps spans in a scalar's value onto the YAML source.
///
/// When the value is the source text (plain, or quoted without escapes)
/// every offset moves by the value's start. Otherwise (escapes, folded
/// lines, block scalars) each `${` of the value is paired with the `${` of
/// the source in the same order; a span inside an interpolation moves with
/// its `${` when the text from the `${` up to the span's end is the same in
/// both. Anything that cannot be mapped exactly gets the whole scalar's span.
#[derive(Debug)]
struct OffsetMap<'a> {
    scalar: &'a Scalar,
    verbatim: Option<usize>,
    /// (offset of a `${` in the value, offset of its `${` in `raw`)
    anchors: Vec<(usize, usize)>,
}

impl<'a> OffsetMap<'a> {
    fn new(scalar: &'a Scalar) -> Self {
        let verbatim = scalar.verbatim_start();
        let mut anchors = Vec::new();
        if verbatim.is_none() {
            let in_value = interpolations(&scalar.value);
            let in_raw = interpolations(&scalar.raw);
            if in_value.len() == in_raw.len() {
                anchors = in_value.into_iter().zip(in_raw).collect();
            }
        }
        OffsetMap {
            scalar,
            verbatim,
            anchors,
        }
    }

    fn map(&self, s: Span) -> Span {
        if let Some(b) = self.verbatim {
            return s.shift(b);
        }
        let (start, end) = (s.start as usize, s.end as usize);
        let Some(&(v, r)) = self.anchors.iter().rev().find(|(v, _)| *v <= start) else {
            return self.scalar.span;
        };
        let value_text = self.scalar.value.get(v..end);
        let raw_text = self.scalar.raw.get(r..r + (end - v));
        match (value_text, raw_text) {
            (Some(a), Some(b)) if a == b => {
                let base = self.scalar.span.start as usize + r;
                Span::new(base + (start - v), base + (end - v))
            }
            _ => self.scalar.span,
        }
    }
}

/// Byte offsets of each `${` that opens an interpolation (not `$${`).
fn interpolations(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'$' && bytes[i + 1] == b'$' && bytes.get(i + 2) == Some(&b'{') {
            i += 3;
        } else if bytes[i] == b'$' && bytes[i + 1] == b'{' {
            found.push(i);
            i += 2;
        } else {
            i += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Duration, DurationUnit, TemplatePart};

    fn scalar(raw: &str, value: &str, style: Style, at: usize) -> Scalar {
        Scalar {
            value: value.into(),
            raw: raw.into(),
            style,
            span: Span::new(at, at + raw.len()),
        }
    }

    fn plain(text: &str) -> Scalar {
        scalar(text, text, Style::Plain, 0)
    }

    #[test]
    fn plain_literals() {
        assert_eq!(
            expr(&plain("12.50")).unwrap().kind,
            ExprKind::Decimal("12.50".into())
        );
        assert_eq!(
            expr(&plain("-12.50")).unwrap().kind,
            ExprKind::Decimal("-12.50".into())
        );
        assert_eq!(expr(&plain("-5")).unwrap().kind, ExprKind::Int(-5));
        assert_eq!(
            expr(&plain("7d")).unwrap().kind,
            ExprKind::Duration(Duration {
                value: 7,
                unit: DurationUnit::Days
            })
        );
        assert_eq!(expr(&plain("true")).unwrap().kind, ExprKind::Bool(true));
        assert_eq!(expr(&plain("null")).unwrap().kind, ExprKind::Null);
        assert_eq!(expr(&plain("")).unwrap().kind, ExprKind::Null);
        for text in [
            "-5d", "1.", ".5", "12a", "0x10", "True", "1e3", "nl-NL", "5 d",
        ] {
            assert_eq!(
                expr(&plain(text)).unwrap().kind,
                ExprKind::Str(text.into()),
                "{text}"
            );
        }
        let quoted = scalar("\"12\"", "12", Style::DoubleQuoted, 0);
        assert_eq!(expr(&quoted).unwrap().kind, ExprKind::Str("12".into()));
    }

    #[test]
    fn expression_spans_point_into_the_source() {
        // `x: ${customer.nmae}` with the scalar at 3.
        let s = scalar("${customer.nmae}", "${customer.nmae}", Style::Plain, 3);
        let e = expr(&s).unwrap();
        let ExprKind::Path(parts) = &e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(parts[1].span, Span::new(14, 18));
        // Double-quoted with an escape before the interpolation.
        let s = scalar("\"a\\tb ${nmae}\"", "a\tb ${nmae}", Style::DoubleQuoted, 10);
        let e = expr(&s).unwrap();
        let ExprKind::Template(parts) = &e.kind else {
            panic!("{e:?}")
        };
        let TemplatePart::Expr(inner) = &parts[1] else {
            panic!()
        };
        // raw: `"a\tb ${nmae}"`; `nmae` starts at raw offset 8.
        assert_eq!(inner.span, Span::new(18, 22));
        assert_eq!(e.span, s.span);
        // A syntax error inside an escaped scalar still points at the bad spot.
        let s = scalar("'it''s ${a +}'", "it's ${a +}", Style::SingleQuoted, 0);
        let d = expr(&s).unwrap_err();
        assert_eq!(d.primary_span().start, 12);
    }

    #[test]
    fn hostile_expressions_are_errors_not_stack_overflows() {
        for text in [
            format!("${{{}x{}}}", "(".repeat(5000), ")".repeat(5000)),
            format!("${{{}x}}", "-".repeat(5000)),
            format!("${{{}x}}", "not ".repeat(5000)),
            format!("a ${{{}}}", vec!["x"; 5000].join(" + ")),
            format!("${{{}}}", "f(".repeat(5000)),
        ] {
            let d = expr(&plain(&text)).unwrap_err();
            assert_eq!(d.code, Code::ExprSyntax);
        }
        assert!(expr(&plain("${((a + b) * (c - d)) / f(g(h(1)), !x)}")).is_ok());
    }

    #[test]
    fn names() {
        let s = scalar(
            "stripe.create_charge",
            "stripe.create_charge",
            Style::Plain,
            4,
        );
        let n = dotted_name(&s, "action", "stripe.create_charge").unwrap();
        assert_eq!(n.parts[1].span, Span::new(11, 24));
        assert!(dotted_name(&plain("stripe"), "action", "x.y").is_err());
        assert!(dotted_name(&plain("a..b"), "action", "x.y").is_err());
        assert!(ident(&plain("my flow"), "flow name", false).is_err());
        assert!(ident(&plain("line.status"), "target", true).is_ok());
    }
}
