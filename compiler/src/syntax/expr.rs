//! The expression parser (pest grammar `expr.pest`) and the template
//! scanner for YAML strings with `${…}` parts. Also prints expressions back
//! to source text, for `flowc fmt`.

use crate::ast::{BinaryOp, Duration, DurationUnit, Expr, ExprKind, Ident, TemplatePart, UnaryOp};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use pest::Parser as _;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::sync::LazyLock;

#[derive(pest_derive::Parser)]
#[grammar = "syntax/expr.pest"]
struct ExprParser;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_or, Assoc::Left))
        .op(Op::infix(Rule::op_and, Assoc::Left))
        .op(Op::infix(Rule::op_eq, Assoc::Left) | Op::infix(Rule::op_ne, Assoc::Left))
        .op(Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left))
        .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
        .op(Op::infix(Rule::op_mul, Assoc::Left)
            | Op::infix(Rule::op_div, Assoc::Left)
            | Op::infix(Rule::op_rem, Assoc::Left))
        .op(Op::prefix(Rule::op_neg) | Op::prefix(Rule::op_not))
});

/// Parses one expression; spans are shifted by `base` (the byte offset of
/// `text` in its source file).
///
/// Besides syntax errors (E0005), it reports invalid literals (E0013): an
/// unknown string escape, a `\u{…}` that is not a character, a duration too
/// large to count. Expressions nested deeper than [`MAX_NESTING`] or holding
/// more than [`MAX_OPERATORS`] operators are refused (E0005), so that no
/// input can exhaust the stack of the parser or of later passes.
pub fn parse_expr(text: &str, base: usize) -> Result<Expr, Diagnostic> {
    if let Some(at) = nesting_overflow(text) {
        return Err(Diagnostic::new(
            Code::ExprSyntax,
            format!("expression nested more than {MAX_NESTING} levels deep"),
            Span::new(base + at, base + at + 1),
            "too deep here",
        )
        .with_help("split the expression into smaller steps"));
    }
    if let Some(expr) = super::expr_fast::parse(text, base) {
        return Ok(expr);
    }
    parse_with_grammar(text, base)
}

/// Parses one expression with the pest grammar, the definition of the
/// expression language (no fast path).
pub(crate) fn parse_with_grammar(text: &str, base: usize) -> Result<Expr, Diagnostic> {
    let mut pairs = ExprParser::parse(Rule::expr_only, text)
        .map_err(|e| syntax_error(&e, text, base, Code::ExprSyntax))?;
    let Some(expr) = pairs.next().and_then(|p| p.into_inner().next()) else {
        // `expr_only` always holds an `expr`; answer with an error, not a panic.
        return Err(Diagnostic::new(
            Code::ExprSyntax,
            "expected an expression",
            Span::new(base, base + text.len()),
            "here",
        ));
    };
    validate(&expr, base)?;
    Ok(build_expr(expr, base))
}

/// Deepest nesting of parentheses, `${…}` and prefix operators an expression
/// may have.
pub const MAX_NESTING: usize = 64;
/// Most operators one expression may hold.
pub const MAX_OPERATORS: usize = 512;

/// The offset where `text` nests deeper than [`MAX_NESTING`], if it does.
/// Counts brackets anywhere (also inside strings), so it errs on the safe side.
fn nesting_overflow(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut prefix_run = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_ident_byte(b) {
            let start = i;
            while i < bytes.len() && is_ident_byte(bytes[i]) {
                i += 1;
            }
            if &bytes[start..i] == b"not" {
                prefix_run += 1;
                if prefix_run > MAX_NESTING {
                    return Some(start);
                }
            } else {
                prefix_run = 0;
            }
            continue;
        }
        match b {
            b'(' | b'{' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        match b {
            b'-' | b'!' => {
                prefix_run += 1;
                if prefix_run > MAX_NESTING {
                    return Some(i);
                }
            }
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => prefix_run = 0,
        }
        i += 1;
    }
    None
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Reports invalid literals and over-long expressions before building.
fn validate(expr: &Pair<'_, Rule>, base: usize) -> Result<(), Diagnostic> {
    let mut operators = 0usize;
    for pair in expr.clone().into_inner().flatten() {
        let text = pair.as_str();
        let span = span_of(&pair, base);
        match pair.as_rule() {
            Rule::str_bad_escape => {
                return Err(Diagnostic::new(
                    Code::InvalidLiteral,
                    format!("unknown escape `{text}` in a string"),
                    span,
                    "not an escape",
                )
                .with_help(ESCAPE_HELP));
            }
            Rule::str_escape if unescape_checked(text).is_none() => {
                return Err(Diagnostic::new(
                    Code::InvalidLiteral,
                    format!("`{text}` is not a Unicode character"),
                    span,
                    "no such character",
                )
                .with_help("a `\\u{…}` escape takes a hexadecimal code point up to 10FFFF, not a surrogate (D800-DFFF)"));
            }
            Rule::duration if duration_value(text).is_none() => {
                return Err(Diagnostic::new(
                    Code::InvalidLiteral,
                    format!("duration `{text}` is too large"),
                    span,
                    "too large",
                )
                .with_help("write a smaller number, or a larger unit (s, m, h, d, w)"));
            }
            rule if is_operator(rule) => {
                operators += 1;
                if operators > MAX_OPERATORS {
                    return Err(Diagnostic::new(
                        Code::ExprSyntax,
                        format!("expression has more than {MAX_OPERATORS} operators"),
                        span,
                        "one too many",
                    )
                    .with_help("split the expression into smaller steps"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

const ESCAPE_HELP: &str = "escapes are `\\\"`, `\\\\`, `\\n`, `\\t`, `\\r`, `\\$` and `\\u{…}`; write `\\\\` for a backslash";

fn is_operator(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::op_or
            | Rule::op_and
            | Rule::op_eq
            | Rule::op_ne
            | Rule::op_le
            | Rule::op_ge
            | Rule::op_lt
            | Rule::op_gt
            | Rule::op_add
            | Rule::op_sub
            | Rule::op_mul
            | Rule::op_div
            | Rule::op_rem
            | Rule::op_neg
            | Rule::op_not
    )
}

/// The number of a duration literal (`30s` -> 30), if it fits.
fn duration_value(text: &str) -> Option<u64> {
    text.get(..text.len().saturating_sub(1))?.parse().ok()
}

/// Turns a pest error into a diagnostic pointing at the failing position.
pub(crate) fn syntax_error<R: pest::RuleType>(
    e: &pest::error::Error<R>,
    text: &str,
    base: usize,
    code: Code,
) -> Diagnostic {
    let (start, end) = match e.location {
        pest::error::InputLocation::Pos(p) => (p, p),
        pest::error::InputLocation::Span((s, e)) => (s, e),
    };
    let start = start.min(text.len());
    // Point at the character (or token) found there, so the label is visible.
    let end = if end > start {
        end
    } else {
        text[start..]
            .char_indices()
            .nth(1)
            .map(|(i, _)| start + i)
            .unwrap_or(text.len())
    };
    let found = match text[start..end].trim() {
        "" if start >= text.len() => "end of input".to_owned(),
        "" => "whitespace".to_owned(),
        t => format!("`{t}`"),
    };
    let expected = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<String> = positives
                .iter()
                .map(|r| describe_rule(&format!("{r:?}")))
                .collect();
            names.sort();
            names.dedup();
            names
        }
        pest::error::ErrorVariant::CustomError { message } => vec![message.clone()],
    };
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", expected.join(", "))
    };
    let span = Span::new(base + start, base + end);
    Diagnostic::new(code, message, span, "here")
}

/// Human name of a grammar rule, for "expected …" messages.
pub(crate) fn describe_rule(rule: &str) -> String {
    match rule {
        "expr" | "primary" => "an expression".into(),
        "ident" | "path" => "a name".into(),
        "string" => "a string".into(),
        "integer" | "decimal" => "a number".into(),
        "EOI" => "end of input".into(),
        r if r.starts_with("op_") => "an operator".into(),
        r if r.starts_with("kw_") => format!("`{}`", &r[3..]),
        r => r.replace('_', " "),
    }
}

fn span_of(pair: &Pair<'_, Rule>, base: usize) -> Span {
    let s = pair.as_span();
    Span::new(base + s.start(), base + s.end())
}

fn build_expr(pair: Pair<'_, Rule>, base: usize) -> Expr {
    let pairs = pair.into_inner();
    pratt(pairs, base)
}

/// `op operand`; a minus on a number literal makes a negative literal (the
/// same as YAML's `-5`).
pub(crate) fn prefix_expr(op: UnaryOp, op_span: Span, operand: Expr) -> Expr {
    let span = op_span.join(operand.span);
    match (op, &operand.kind) {
        (UnaryOp::Neg, ExprKind::Int(n)) => Expr {
            kind: ExprKind::Int(n.wrapping_neg()),
            span,
        },
        (UnaryOp::Neg, ExprKind::Decimal(d)) if !d.starts_with('-') => Expr {
            kind: ExprKind::Decimal(format!("-{d}")),
            span,
        },
        _ => Expr {
            kind: ExprKind::Unary {
                op,
                operand: Box::new(operand),
            },
            span,
        },
    }
}

/// `lhs op rhs`.
pub(crate) fn binary_expr(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.join(rhs.span);
    Expr {
        kind: ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
        span,
    }
}

fn pratt(pairs: Pairs<'_, Rule>, base: usize) -> Expr {
    PRATT
        .map_primary(|p| build_primary(p, base))
        .map_prefix(|op, operand| {
            let op_kind = if op.as_rule() == Rule::op_neg {
                UnaryOp::Neg
            } else {
                UnaryOp::Not
            };
            prefix_expr(op_kind, span_of(&op, base), operand)
        })
        .map_infix(|lhs, op, rhs| {
            let op = match op.as_rule() {
                Rule::op_or => BinaryOp::Or,
                Rule::op_and => BinaryOp::And,
                Rule::op_eq => BinaryOp::Eq,
                Rule::op_ne => BinaryOp::Ne,
                Rule::op_lt => BinaryOp::Lt,
                Rule::op_le => BinaryOp::Le,
                Rule::op_gt => BinaryOp::Gt,
                Rule::op_ge => BinaryOp::Ge,
                Rule::op_add => BinaryOp::Add,
                Rule::op_sub => BinaryOp::Sub,
                Rule::op_mul => BinaryOp::Mul,
                Rule::op_div => BinaryOp::Div,
                _ => BinaryOp::Rem,
            };
            binary_expr(op, lhs, rhs)
        })
        .parse(pairs)
}

fn build_primary(pair: Pair<'_, Rule>, base: usize) -> Expr {
    let span = span_of(&pair, base);
    let text = pair.as_str();
    let kind = match pair.as_rule() {
        Rule::expr => return build_expr(pair, base),
        Rule::duration => ExprKind::Duration(Duration {
            value: duration_value(text).unwrap_or(u64::MAX),
            unit: duration_unit(text.get(text.len().saturating_sub(1)..).unwrap_or("")),
        }),
        Rule::decimal => ExprKind::Decimal(text.to_owned()),
        Rule::integer => match text.parse() {
            Ok(n) => ExprKind::Int(n),
            // Too large for an integer: keep it exact as a decimal; the
            // checker reports it where an integer is needed.
            Err(_) => ExprKind::Decimal(text.to_owned()),
        },
        Rule::boolean => ExprKind::Bool(text == "true"),
        Rule::null => ExprKind::Null,
        Rule::string => build_string(pair, base),
        Rule::call => {
            let mut inner = pair.into_inner();
            let function = match inner.next() {
                Some(name) => Ident {
                    name: name.as_str().to_owned(),
                    span: span_of(&name, base),
                },
                None => Ident {
                    name: String::new(),
                    span,
                },
            };
            let args = inner.map(|a| build_expr(a, base)).collect();
            ExprKind::Call { function, args }
        }
        Rule::path => {
            let parts: Vec<Ident> = pair
                .into_inner()
                .map(|p| Ident {
                    name: p.as_str().to_owned(),
                    span: span_of(&p, base),
                })
                .collect();
            // pest's implicit whitespace lets a path's pair run on over the
            // blanks (and comments) after it; the path ends at its last name.
            let span = match (parts.first(), parts.last()) {
                (Some(first), Some(last)) => first.span.join(last.span),
                _ => span,
            };
            return Expr {
                kind: ExprKind::Path(parts),
                span,
            };
        }
        // The grammar allows no other primary.
        _ => ExprKind::Null,
    };
    Expr { kind, span }
}

pub(crate) fn duration_unit(unit: &str) -> DurationUnit {
    match unit {
        "s" => DurationUnit::Seconds,
        "m" => DurationUnit::Minutes,
        "h" => DurationUnit::Hours,
        "d" => DurationUnit::Days,
        _ => DurationUnit::Weeks,
    }
}

/// A DSL string literal: plain text, or a template when it has `${…}` parts.
fn build_string(pair: Pair<'_, Rule>, base: usize) -> ExprKind {
    let mut parts: Vec<TemplatePart> = Vec::new();
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::str_text => push_text(&mut parts, part.as_str()),
            Rule::str_escape => push_text(&mut parts, &unescape(part.as_str())),
            // Reported by `validate`; kept as written if it ever gets here.
            Rule::str_bad_escape => push_text(&mut parts, part.as_str()),
            Rule::str_interp => {
                if let Some(inner) = part.into_inner().next() {
                    parts.push(TemplatePart::Expr(build_expr(inner, base)));
                }
            }
            _ => {}
        }
    }
    template_kind(parts)
}

pub(crate) fn push_text(parts: &mut Vec<TemplatePart>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(TemplatePart::Text(last)) = parts.last_mut() {
        last.push_str(text);
    } else {
        parts.push(TemplatePart::Text(text.to_owned()));
    }
}

/// Plain text when there is no `${…}` part.
pub(crate) fn template_kind(parts: Vec<TemplatePart>) -> ExprKind {
    if parts.iter().all(|p| matches!(p, TemplatePart::Text(_))) {
        let text = parts
            .into_iter()
            .map(|p| match p {
                TemplatePart::Text(t) => t,
                TemplatePart::Expr(_) => String::new(),
            })
            .collect();
        ExprKind::Str(text)
    } else {
        ExprKind::Template(parts)
    }
}

fn unescape(escape: &str) -> String {
    unescape_checked(escape).map_or_else(|| "\u{FFFD}".into(), String::from)
}

/// The character an escape stands for; `None` for a `\u{…}` that is not a
/// Unicode scalar value.
pub(crate) fn unescape_checked(escape: &str) -> Option<char> {
    match escape {
        "\\n" => Some('\n'),
        "\\t" => Some('\t'),
        "\\r" => Some('\r'),
        "\\\"" => Some('"'),
        "\\\\" => Some('\\'),
        "\\$" => Some('$'),
        u => u
            .strip_prefix("\\u{")
            .and_then(|h| h.strip_suffix('}'))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32),
    }
}

/// Parses a YAML string value that may hold `${…}` parts.
///
/// `${expr}` alone is that expression (of its own type); text with parts is a
/// template (a string); text without parts is a plain string. `$${` writes a
/// literal `${`. `base` is the byte offset of `text` in its source, so spans
/// point into the file (exact when the scalar is written without escapes).
pub fn parse_template(text: &str, base: usize) -> Result<Expr, Diagnostic> {
    let whole = Span::new(base, base + text.len());
    let mut parts: Vec<TemplatePart> = Vec::new();
    let mut rest = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'$') && bytes.get(i + 2) == Some(&b'{') {
            push_text(&mut parts, &text[rest..i]);
            push_text(&mut parts, "${");
            i += 3;
            rest = i;
            continue;
        }
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            push_text(&mut parts, &text[rest..i]);
            let inner_start = i + 2;
            let Some(close) = find_close(text, inner_start) else {
                return Err(Diagnostic::new(
                    Code::ExprSyntax,
                    "`${` is never closed",
                    Span::new(base + i, base + i + 2),
                    "opened here",
                )
                .with_help("close the expression with `}`, or write `$${` for a literal `${`"));
            };
            let inner = &text[inner_start..close];
            if inner.trim().is_empty() {
                return Err(Diagnostic::new(
                    Code::ExprSyntax,
                    "empty expression",
                    Span::new(base + i, base + close + 1),
                    "nothing between `${` and `}`",
                ));
            }
            parts.push(TemplatePart::Expr(parse_expr(inner, base + inner_start)?));
            i = close + 1;
            rest = i;
            continue;
        }
        i += 1;
    }
    push_text(&mut parts, &text[rest..]);
    // `${x}` alone is the expression itself.
    if let [TemplatePart::Expr(_)] = parts.as_slice()
        && let Some(TemplatePart::Expr(e)) = parts.pop()
    {
        return Ok(e);
    }
    Ok(Expr {
        kind: template_kind(parts),
        span: whole,
    })
}

/// The index of the `}` closing a `${` whose body starts at `from`, skipping
/// strings (with their escapes and their own `${…}` parts, to any depth) and
/// nested braces.
fn find_close(text: &str, from: usize) -> Option<usize> {
    /// Where the scanner is: in an expression (with its open `{` count) or
    /// in a string.
    enum Ctx {
        Expr(usize),
        Str,
    }
    let bytes = text.as_bytes();
    let mut stack = vec![Ctx::Expr(0)];
    let mut i = from;
    while let Some(&b) = bytes.get(i) {
        match stack.last_mut()? {
            Ctx::Str => match b {
                // Skip the escaped byte (never an ASCII marker when it is
                // part of a multi-byte character).
                b'\\' => i += 1,
                b'"' => {
                    stack.pop();
                }
                b'$' if bytes.get(i + 1) == Some(&b'{') => {
                    stack.push(Ctx::Expr(0));
                    i += 1;
                }
                _ => {}
            },
            Ctx::Expr(depth) => match b {
                b'"' => stack.push(Ctx::Str),
                b'{' => *depth += 1,
                b'}' if *depth > 0 => *depth -= 1,
                b'}' => {
                    stack.pop();
                    if stack.is_empty() {
                        return Some(i);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

// ---------------------------------------------------------------- printing

/// Prints an expression as DSL source (also what goes inside YAML `${…}`).
pub fn print_expr(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, e, 0);
    out
}

fn write_expr(out: &mut String, e: &Expr, parent_prec: u8) {
    match &e.kind {
        ExprKind::Int(n) => out.push_str(&n.to_string()),
        ExprKind::Decimal(d) => out.push_str(d),
        ExprKind::Str(s) => write_string(out, &[TemplatePart::Text(s.clone())]),
        ExprKind::Template(parts) => write_string(out, parts),
        ExprKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ExprKind::Null => out.push_str("null"),
        ExprKind::Duration(d) => {
            out.push_str(&d.value.to_string());
            out.push_str(d.unit.suffix());
        }
        ExprKind::Path(parts) => {
            let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
            out.push_str(&names.join("."));
        }
        ExprKind::Call { function, args } => {
            out.push_str(&function.name);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, a, 0);
            }
            out.push(')');
        }
        ExprKind::Unary { op, operand } => {
            out.push_str(match op {
                UnaryOp::Neg => "-",
                UnaryOp::Not => "!",
            });
            let needs_parens = matches!(operand.kind, ExprKind::Binary { .. })
                || (*op == UnaryOp::Neg
                    && matches!(
                        operand.kind,
                        ExprKind::Int(_) | ExprKind::Decimal(_) | ExprKind::Unary { .. }
                    ));
            if needs_parens {
                out.push('(');
                write_expr(out, operand, 0);
                out.push(')');
            } else {
                write_expr(out, operand, 7);
            }
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let prec = op.precedence();
            let parens = prec < parent_prec;
            if parens {
                out.push('(');
            }
            write_expr(out, lhs, prec);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            // Left-associative: a right operand of equal precedence needs parentheses.
            write_expr(out, rhs, prec + 1);
            if parens {
                out.push(')');
            }
        }
    }
}

/// A DSL string literal.
fn write_string(out: &mut String, parts: &[TemplatePart]) {
    out.push('"');
    for part in parts {
        match part {
            TemplatePart::Text(t) => {
                let mut chars = t.chars().peekable();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        '\r' => out.push_str("\\r"),
                        // Only `${` opens an expression; a lone `$` is text.
                        '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
                        c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                        c => out.push(c),
                    }
                }
            }
            TemplatePart::Expr(e) => {
                out.push_str("${");
                write_expr(out, e, 0);
                out.push('}');
            }
        }
    }
    out.push('"');
}

/// Prints a template's parts as YAML string content: text as is (with `${`
/// doubled to `$${`), expressions as `${…}`.
pub fn print_template_text(parts: &[TemplatePart]) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            TemplatePart::Text(t) => out.push_str(&t.replace("${", "$${")),
            TemplatePart::Expr(e) => {
                out.push_str("${");
                write_expr(&mut out, e, 0);
                out.push('}');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(src: &str) -> String {
        print_expr(&parse_expr(src, 0).unwrap_or_else(|d| panic!("{src}: {}", d.message)))
    }

    #[test]
    fn precedence_and_printing() {
        assert_eq!(roundtrip("a + b * c"), "a + b * c");
        assert_eq!(roundtrip("(a + b) * c"), "(a + b) * c");
        assert_eq!(roundtrip("a - (b - c)"), "a - (b - c)");
        assert_eq!(roundtrip("a and not b or c"), "a && !b || c");
        assert_eq!(roundtrip("-5"), "-5");
        assert_eq!(roundtrip("-(5)"), "-5");
        assert_eq!(roundtrip("- x"), "-x");
        assert_eq!(
            roundtrip(r#"format_date(due, "era_ja")"#),
            r#"format_date(due, "era_ja")"#
        );
        assert_eq!(roundtrip("delivered_on + 30d"), "delivered_on + 30d");
        assert_eq!(
            roundtrip(r#""Invoice ${n} for ${name}""#),
            r#""Invoice ${n} for ${name}""#
        );
    }

    #[test]
    fn a_path_span_ends_at_its_last_name() {
        let e = parse_expr("total  # a comment\n  ", 4).unwrap();
        assert_eq!(e.span, Span::new(4, 9));
        let e = parse_expr("a.b \n", 0).unwrap();
        assert_eq!(e.span, Span::new(0, 3));
    }

    #[test]
    fn spans_are_shifted_by_base() {
        let e = parse_expr("customer.email", 10).unwrap();
        assert_eq!(e.span, Span::new(10, 24));
        let ExprKind::Path(parts) = e.kind else {
            panic!()
        };
        assert_eq!(parts[1].span, Span::new(19, 24));
    }

    #[test]
    fn templates() {
        let e = parse_template("${total}", 5).unwrap();
        assert!(matches!(e.kind, ExprKind::Path(_)));
        assert_eq!(e.span, Span::new(7, 12));
        let e = parse_template("Dear ${name}, pay $${x}", 0).unwrap();
        let ExprKind::Template(parts) = &e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], TemplatePart::Text(", pay ${x}".into()));
        assert_eq!(print_template_text(parts), "Dear ${name}, pay $${x}");
        assert!(matches!(
            parse_template("plain", 0).unwrap().kind,
            ExprKind::Str(_)
        ));
        let err = parse_template("a ${b", 0).unwrap_err();
        assert_eq!(err.code, Code::ExprSyntax);
        let err = parse_template("${a +}", 3).unwrap_err();
        assert_eq!(err.primary_span().start, 8);
    }

    #[test]
    fn invalid_literals_are_e0013_at_the_literal() {
        let err = parse_expr(r#""a \q b""#, 10).unwrap_err();
        assert_eq!(err.code, Code::InvalidLiteral);
        assert_eq!(err.primary_span(), Span::new(13, 15));
        let err = parse_expr(r#""\u{110000}""#, 0).unwrap_err();
        assert_eq!(err.code, Code::InvalidLiteral);
        assert_eq!(err.primary_span(), Span::new(1, 11));
        let err = parse_expr("1 + 99999999999999999999d", 0).unwrap_err();
        assert_eq!(err.code, Code::InvalidLiteral);
        assert_eq!(err.primary_span(), Span::new(4, 25));
        assert!(parse_expr(r#""\u{1F600} \$ \\""#, 0).is_ok());
    }

    #[test]
    fn nesting_and_size_are_bounded() {
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(parse_expr(&deep, 0).unwrap_err().code, Code::ExprSyntax);
        let prefixes = format!("{}x", "not ".repeat(100));
        assert_eq!(parse_expr(&prefixes, 0).unwrap_err().code, Code::ExprSyntax);
        let long = format!("1{}", " + 1".repeat(MAX_OPERATORS + 1));
        assert_eq!(parse_expr(&long, 0).unwrap_err().code, Code::ExprSyntax);
        let fine = format!("{}1{}", "(".repeat(60), ")".repeat(60));
        assert!(parse_expr(&fine, 0).is_ok());
        assert!(parse_expr("a != b and !c", 0).is_ok());
    }

    #[test]
    fn a_lone_dollar_prints_as_is() {
        assert_eq!(roundtrip(r#""$5 or \${x}""#), r#""$5 or \${x}""#);
        assert_eq!(roundtrip(r#""a$${b}""#), r#""a$${b}""#);
    }

    #[test]
    fn templates_find_the_close_past_nested_strings() {
        let e = parse_template(r#"a ${f("x}", "${g("y}")}")} b"#, 0).unwrap();
        let ExprKind::Template(parts) = &e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], TemplatePart::Text(" b".into()));
        let e = parse_template(r#"${"\"}" + "{"}"#, 0).unwrap();
        assert!(matches!(e.kind, ExprKind::Binary { .. }), "{e:?}");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for src in [
            "",
            "(",
            "a..b",
            "f(,)",
            "\"\\u{110000}\"",
            "99999999999999999999",
            "1 +",
            "${",
        ] {
            let _ = parse_expr(src, 0);
            let _ = parse_template(src, 0);
        }
    }
}
