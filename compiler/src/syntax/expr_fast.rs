//! A hand-written reader for expressions, in front of the pest grammar.
//!
//! The pest parser in `expr.rs` defines the expression language and reports
//! its errors. Starting it costs far more than reading a typical expression
//! (`customer_email`, `attempts + 1`, `format_date(today(), "era_ja")`), and
//! a large flow has tens of thousands of them, so this module reads the plain
//! cases itself: numbers, durations, strings with escapes and `${…}` parts,
//! booleans, null, references, calls, parentheses and every operator, with
//! the grammar's precedence. Whenever it meets anything else (a comment, an
//! invalid escape, whitespace around a dot, a number too large, any error
//! at all) it gives up and the grammar reads the text. So it can
//! only be faster, never different: a property test holds it to the grammar.

use super::expr::{
    MAX_NESTING, MAX_OPERATORS, binary_expr, duration_unit, prefix_expr, push_text, template_kind,
    unescape_checked,
};
use crate::ast::{BinaryOp, Duration, Expr, ExprKind, Ident, TemplatePart, UnaryOp};
use crate::span::Span;

/// The expression in `text`, or `None` when the grammar must read it.
pub(crate) fn parse(text: &str, base: usize) -> Option<Expr> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        base,
        operators: 0,
        depth: 0,
    };
    let expr = reader.expr(0)?;
    reader.skip_whitespace();
    (reader.pos == text.len()).then_some(expr)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    base: usize,
    operators: usize,
    depth: usize,
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_keyword(word: &str) -> bool {
    matches!(word, "true" | "false" | "null" | "and" | "or" | "not")
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.base + start, self.base + end)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    /// `word` here, not followed by a name character.
    fn word_here(&self, word: &str) -> bool {
        self.text[self.pos..].starts_with(word) && !self.at(word.len()).is_some_and(is_ident_char)
    }

    /// Counts an operator; gives up past the grammar's limit.
    fn count_operator(&mut self) -> Option<()> {
        self.operators += 1;
        (self.operators <= MAX_OPERATORS).then_some(())
    }

    fn deeper(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_NESTING).then_some(())
    }

    /// Precedence climbing; all binary operators are left-associative.
    fn expr(&mut self, min_precedence: u8) -> Option<Expr> {
        let mut lhs = self.unary()?;
        loop {
            self.skip_whitespace();
            let Some((op, len)) = self.infix() else {
                return Some(lhs);
            };
            if op.precedence() < min_precedence {
                return Some(lhs);
            }
            self.pos += len;
            self.count_operator()?;
            let rhs = self.expr(op.precedence() + 1)?;
            lhs = binary_expr(op, lhs, rhs);
        }
    }

    /// The binary operator at the current position, in the grammar's order.
    fn infix(&self) -> Option<(BinaryOp, usize)> {
        let rest = &self.text[self.pos..];
        let two = [
            ("||", BinaryOp::Or),
            ("&&", BinaryOp::And),
            ("==", BinaryOp::Eq),
            ("!=", BinaryOp::Ne),
            ("<=", BinaryOp::Le),
            (">=", BinaryOp::Ge),
        ];
        if let Some((symbol, op)) = two.iter().find(|(s, _)| rest.starts_with(s)) {
            return Some((*op, symbol.len()));
        }
        if self.word_here("or") {
            return Some((BinaryOp::Or, 2));
        }
        if self.word_here("and") {
            return Some((BinaryOp::And, 3));
        }
        let op = match self.peek()? {
            b'<' => BinaryOp::Lt,
            b'>' => BinaryOp::Gt,
            b'+' => BinaryOp::Add,
            b'-' => BinaryOp::Sub,
            b'*' => BinaryOp::Mul,
            b'/' => BinaryOp::Div,
            b'%' => BinaryOp::Rem,
            _ => return None,
        };
        Some((op, 1))
    }

    /// Prefix operators, then a primary.
    fn unary(&mut self) -> Option<Expr> {
        self.skip_whitespace();
        let start = self.pos;
        let op = if self.peek() == Some(b'-') {
            Some((UnaryOp::Neg, 1))
        } else if self.peek() == Some(b'!') && self.at(1) != Some(b'=') {
            Some((UnaryOp::Not, 1))
        } else if self.word_here("not") {
            Some((UnaryOp::Not, 3))
        } else {
            None
        };
        let Some((op, len)) = op else {
            return self.primary();
        };
        self.pos += len;
        self.count_operator()?;
        self.deeper()?;
        let operand = self.unary()?;
        self.depth -= 1;
        Some(prefix_expr(op, self.span(start, start + len), operand))
    }

    fn primary(&mut self) -> Option<Expr> {
        self.skip_whitespace();
        let start = self.pos;
        match self.peek()? {
            b'(' => {
                self.pos += 1;
                self.deeper()?;
                let inner = self.expr(0)?;
                self.depth -= 1;
                self.skip_whitespace();
                (self.peek() == Some(b')')).then(|| self.pos += 1)?;
                Some(inner)
            }
            b'0'..=b'9' => self.number(start),
            b'"' => self.string(start),
            b if b.is_ascii_alphabetic() || b == b'_' => self.name(start),
            _ => None,
        }
    }

    /// A string literal from its opening quote: text, escapes and `${…}`
    /// parts.
    fn string(&mut self, start: usize) -> Option<Expr> {
        self.pos += 1;
        let mut parts: Vec<TemplatePart> = Vec::new();
        loop {
            let text_start = self.pos;
            while !self.at_string_special()? {
                self.pos += 1;
            }
            push_text(&mut parts, self.text.get(text_start..self.pos)?);
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(Expr {
                        kind: template_kind(parts),
                        span: self.span(start, self.pos),
                    });
                }
                b'\\' => {
                    let len = match self.at(1)? {
                        b'u' if self.at(2) == Some(b'{') => self.text[self.pos..].find('}')? + 1,
                        _ => 2,
                    };
                    let escape = self.text.get(self.pos..self.pos + len)?;
                    // The grammar's `\u{…}` holds one to six hex digits.
                    if let Some(hex) = escape
                        .strip_prefix("\\u{")
                        .and_then(|h| h.strip_suffix('}'))
                        && !((1..=6).contains(&hex.len())
                            && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    {
                        return None;
                    }
                    let c = unescape_checked(escape)?;
                    push_text(&mut parts, c.encode_utf8(&mut [0; 4]));
                    self.pos += len;
                }
                _ => {
                    // `${ expr }`
                    self.pos += 2;
                    self.deeper()?;
                    let inner = self.expr(0)?;
                    self.depth -= 1;
                    self.skip_whitespace();
                    (self.peek() == Some(b'}')).then(|| self.pos += 1)?;
                    parts.push(TemplatePart::Expr(inner));
                }
            }
        }
    }

    /// Whether a string's text ends here (a quote, an escape or `${`);
    /// `None` at the end of the input (an unclosed string).
    fn at_string_special(&self) -> Option<bool> {
        let here = self.peek()?;
        Some(matches!(here, b'"' | b'\\') || (here == b'$' && self.at(1) == Some(b'{')))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    /// An integer, a decimal or a duration.
    fn number(&mut self, start: usize) -> Option<Expr> {
        self.digits();
        let digits_end = self.pos;
        let kind = match self.peek() {
            Some(unit @ (b's' | b'm' | b'h' | b'd' | b'w'))
                if !self.at(1).is_some_and(is_ident_char) =>
            {
                self.pos += 1;
                ExprKind::Duration(Duration {
                    value: self.text[start..digits_end].parse().ok()?,
                    unit: duration_unit(std::str::from_utf8(&[unit]).ok()?),
                })
            }
            Some(b'.') if self.at(1).is_some_and(|b| b.is_ascii_digit()) => {
                self.pos += 1;
                self.digits();
                ExprKind::Decimal(self.text[start..self.pos].to_owned())
            }
            _ => {
                let text = &self.text[start..self.pos];
                match text.parse() {
                    Ok(n) => ExprKind::Int(n),
                    Err(_) => ExprKind::Decimal(text.to_owned()),
                }
            }
        };
        if self.peek().is_some_and(is_ident_char) {
            return None;
        }
        Some(Expr {
            kind,
            span: self.span(start, self.pos),
        })
    }

    fn ident(&mut self) -> Option<Ident> {
        let start = self.pos;
        if !self
            .peek()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        {
            return None;
        }
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        Some(Ident {
            name: self.text[start..self.pos].to_owned(),
            span: self.span(start, self.pos),
        })
    }

    /// A keyword literal, a call or a path.
    fn name(&mut self, start: usize) -> Option<Expr> {
        let first = self.ident()?;
        let literal = match first.name.as_str() {
            "true" => Some(ExprKind::Bool(true)),
            "false" => Some(ExprKind::Bool(false)),
            "null" => Some(ExprKind::Null),
            word if is_keyword(word) => return None,
            _ => None,
        };
        if let Some(kind) = literal {
            return Some(Expr {
                kind,
                span: first.span,
            });
        }
        let after_name = self.pos;
        self.skip_whitespace();
        if self.peek() == Some(b'(') {
            self.pos += 1;
            let args = self.arguments()?;
            return Some(Expr {
                kind: ExprKind::Call {
                    function: first,
                    args,
                },
                span: self.span(start, self.pos),
            });
        }
        self.pos = after_name;
        let mut parts = vec![first];
        while self.peek() == Some(b'.') {
            self.pos += 1;
            let part = self.ident()?;
            if is_keyword(&part.name) {
                return None;
            }
            parts.push(part);
        }
        let span = parts.first()?.span.join(parts.last()?.span);
        Some(Expr {
            kind: ExprKind::Path(parts),
            span,
        })
    }

    /// Call arguments after `(`, through the closing `)`; a trailing comma
    /// is allowed.
    fn arguments(&mut self) -> Option<Vec<Expr>> {
        let mut args = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Some(args);
        }
        loop {
            args.push(self.expr(0)?);
            self.skip_whitespace();
            match self.peek()? {
                b')' => {
                    self.pos += 1;
                    return Some(args);
                }
                b',' => {
                    self.pos += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b')') {
                        self.pos += 1;
                        return Some(args);
                    }
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::expr::parse_with_grammar;
    use proptest::prelude::*;

    /// What the fast reader reads, the grammar reads the same way.
    fn agrees(text: &str) -> bool {
        match parse(text, 7) {
            Some(fast) => {
                let grammar = parse_with_grammar(text, 7);
                assert_eq!(grammar.as_ref().ok(), Some(&fast), "{text:?}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn reads_the_common_expressions_like_the_grammar() {
        for text in [
            "customer_email",
            " create_charge.id ",
            "attempts + 1",
            "format_date(today(), \"era_ja\")",
            "minor_units(total) > 997 && !approved",
            "-5",
            "- -5",
            "-(1.5)",
            "not a or b and c",
            "a - b - c",
            "a * (b + c) % 2",
            "delivered_on + 30d",
            "f(a, b,)",
            "f ()",
            "x <= 3 == true",
            "\"\"",
            "007",
            "99999999999999999999",
            "1.50",
            "\"Customer ${delivery_id} #0\"",
            "\"step ${ n } of ${format_date(today(), \"era_ja\")}\"",
            "\"a\\n\\t\\\"\\$\\u{1F600}$ b\"",
        ] {
            assert!(agrees(text), "the fast reader should read {text:?}");
        }
    }

    #[test]
    fn leaves_the_rest_to_the_grammar() {
        for text in [
            "",
            "a..b",
            "a .b",
            "1a",
            "1.x",
            "f(,)",
            "a # c",
            "\"\\q\"",
            "\"${x\"",
            "\"\\u{}\"",
            "\"\\u{d800}\"",
            "and",
            "a.true",
            "(a",
            "a)",
            "é",
            "12.5d",
            "99999999999999999999999d",
            "a = b",
        ] {
            assert!(parse(text, 0).is_none(), "{text:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_differs_from_the_grammar(tokens in prop::collection::vec(
            prop::sample::select(vec![
                "a", "b.c", "f(", ")", "(", ",", "1", "12.5", "7d", "\"x y\"", "true", "null",
                "not", "and", "or", "-", "!", "+", "*", "==", "<=", "<", " ", "\n", "%", "/",
                "!=", "&&", "||", ">=", "0", "99999999999999999999", "x_1", "_", ".", "#",
                "\"", "${", "}", "\\n", "\\u{41}", "\\u{d800}", "\\q", "$", "é",
            ]),
            0..12,
        )) {
            agrees(&tokens.concat());
            agrees(&tokens.join(" "));
        }
    }
}
