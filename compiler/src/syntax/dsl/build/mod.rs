//! Builds the AST from the DSL parse tree. Every node gets the byte span of
//! its text; names get their own spans. Expressions are re-read with the
//! shared expression parser ([`parse_expr`]) from their exact slice, so there
//! is one expression builder for both front ends.
//!
//! The grammar already accepted the input; what remains are checks that read
//! better as messages than as grammar (a clause given twice, an unknown retry
//! setting, `${…}` in a plain string), reported as diagnostics.

mod data;
mod steps;
mod top;

pub(super) use top::Item;

use super::grammar::{Rule, is_token};
use crate::ast::{
    Assign, Credential, CredentialSource, DottedName, Expr, ExprKind, Field, Ident, Str, Value,
};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::span::Span;
use crate::syntax::expr::parse_expr;
use pest::iterators::Pair;

/// Builds AST nodes from the pairs of one parsed slice of the source.
pub(super) struct Builder<'d> {
    /// Byte offset of the parsed slice in the source.
    base: usize,
    diags: &'d mut Diagnostics,
}

/// The content children of a pair: everything but punctuation and keywords.
fn parts<'i>(pair: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    pair.into_inner().filter(|p| !is_token(p.as_rule()))
}

/// Where a pair's content ends: after its last child and the literal
/// tokens (`)`, `,`) that follow it, but before trailing whitespace and
/// comments.
///
/// Most pairs end in neither: a pair whose text ends in a character that is
/// not whitespace and holds no `#` has no trailing trivia, so its end is
/// taken as it is. The others are scanned ([`content_end_scanned`]).
pub(in crate::syntax::dsl) fn content_end(pair: &Pair<'_, Rule>) -> usize {
    let span = pair.as_span();
    let text = span.as_str().as_bytes();
    match text.last() {
        Some(b' ' | b'\t' | b'\r' | b'\n') | None => content_end_scanned(pair),
        Some(_) if text.contains(&b'#') => content_end_scanned(pair),
        Some(_) => span.end(),
    }
}

/// [`content_end`] by a scan. Between the last child pair and the pair's end
/// there is only trivia and single-character literals, so a forward scan is
/// exact.
///
/// The scan from the end of the rightmost leaf (the last child of the last
/// child, and so on) gives the same offset as scanning level by level (each
/// level's scan resumes where the one below stopped), so one scan suffices.
pub(in crate::syntax::dsl) fn content_end_scanned(pair: &Pair<'_, Rule>) -> usize {
    let end = pair.as_span().end();
    let mut leaf = pair.clone();
    while let Some(last) = leaf.clone().into_inner().next_back() {
        leaf = last;
    }
    let input = pair.as_span().get_input();
    let mut at = leaf.as_span().end();
    loop {
        let next = skip_trivia(input, at);
        if next >= end {
            return at;
        }
        at = next + input[next..].chars().next().map_or(1, char::len_utf8);
    }
}

/// The offset after any whitespace and `#` comments from `at`.
pub(in crate::syntax::dsl) fn skip_trivia(text: &str, mut at: usize) -> usize {
    let bytes = text.as_bytes();
    while let Some(&b) = bytes.get(at) {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => at += 1,
            b'#' => at += text[at..].find('\n').unwrap_or(text.len() - at),
            _ => break,
        }
    }
    at
}

/// The first keyword child of a pair (e.g. `required` of a constraint).
fn keyword<'i>(pair: &Pair<'i, Rule>) -> Option<Pair<'i, Rule>> {
    pair.clone().into_inner().find(|p| is_token(p.as_rule()))
}

impl<'d> Builder<'d> {
    pub(super) fn new(base: usize, diags: &'d mut Diagnostics) -> Self {
        Builder { base, diags }
    }

    /// The span of a pair's text, without the whitespace and comments pest
    /// leaves at the end of a rule that ends in an optional part.
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.base + s.start(), self.base + content_end(pair))
    }

    /// The span of a pair's keyword, or of the pair when it has none.
    fn keyword_span(&self, pair: &Pair<'_, Rule>) -> Span {
        keyword(pair).map_or_else(|| self.span(pair), |k| self.span(&k))
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// An identifier (or any pair read as a name).
    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_owned(),
            span: self.span(pair),
        }
    }

    /// The first identifier among a pair's children (e.g. of `via`).
    fn inner_ident(&self, pair: Pair<'_, Rule>) -> Ident {
        let span = self.span(&pair);
        match parts(pair).next() {
            Some(p) => self.ident(&p),
            None => Ident {
                name: String::new(),
                span,
            },
        }
    }

    /// A `field_name` or `target`: a bare name, a dotted path, or a quoted
    /// string (its value is the name; the span covers the quotes).
    fn name(&mut self, pair: &Pair<'_, Rule>) -> Ident {
        let span = self.span(pair);
        match parts(pair.clone()).next() {
            Some(p) if p.as_rule() == Rule::string => {
                let s = self.string(&p);
                Ident {
                    name: s.value,
                    span: s.span,
                }
            }
            _ => Ident {
                name: pair.as_str().to_owned(),
                span,
            },
        }
    }

    /// A dotted name: `stripe.charge.succeeded`.
    fn dotted(&self, pair: Pair<'_, Rule>) -> DottedName {
        let span = self.span(&pair);
        DottedName {
            parts: parts(pair).map(|p| self.ident(&p)).collect(),
            span,
        }
    }

    /// An expression, read by the shared expression parser from its slice.
    /// An invalid literal is reported and read as `null`.
    fn expr(&mut self, pair: &Pair<'_, Rule>) -> Expr {
        let span = self.span(pair);
        match parse_expr(pair.as_str(), span.start as usize) {
            Ok(e) => e,
            Err(d) => {
                self.push(d);
                Expr {
                    kind: ExprKind::Null,
                    span,
                }
            }
        }
    }

    /// The first expression among a pair's children (`timeout 30s` -> `30s`).
    fn inner_expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair);
        match parts(pair).next() {
            Some(p) => self.expr(&p),
            None => Expr {
                kind: ExprKind::Null,
                span,
            },
        }
    }

    /// A plain string literal (a label, a pattern, a cron line, an env var
    /// name): its unescaped text. `${…}` parts are not allowed here.
    fn string(&mut self, pair: &Pair<'_, Rule>) -> Str {
        let span = self.span(pair);
        let value = match parse_expr(pair.as_str(), span.start as usize) {
            Ok(Expr {
                kind: ExprKind::Str(s),
                ..
            }) => s,
            Ok(_) => {
                self.push(
                    Diagnostic::new(
                        Code::InvalidLiteral,
                        "this string cannot hold `${…}` expressions",
                        span,
                        "a plain string is expected here",
                    )
                    .with_help("write `\\${` for a literal `${`"),
                );
                String::new()
            }
            Err(d) => {
                self.push(d);
                String::new()
            }
        };
        Str { value, span }
    }

    /// The first string among a pair's children (`label "x"` -> `"x"`).
    fn inner_string(&mut self, pair: Pair<'_, Rule>) -> Str {
        let span = self.span(&pair);
        match parts(pair).next() {
            Some(p) => self.string(&p),
            None => Str {
                value: String::new(),
                span,
            },
        }
    }

    /// `name = value`
    fn field(&mut self, pair: Pair<'_, Rule>) -> Field {
        let span = self.span(&pair);
        let mut it = parts(pair);
        let name = match it.next() {
            Some(p) => self.name(&p),
            None => Ident {
                name: String::new(),
                span,
            },
        };
        let value = match it.next() {
            Some(v) => self.value(v),
            None => Value::Map(Vec::new(), span),
        };
        Field { name, value, span }
    }

    /// The fields of a block (`inputs`, `map`, `body form`).
    fn fields(&mut self, pair: Pair<'_, Rule>) -> Vec<Field> {
        parts(pair)
            .filter(|p| p.as_rule() == Rule::field)
            .map(|p| self.field(p))
            .collect()
    }

    /// `value`: a nested map or an expression.
    fn value(&mut self, pair: Pair<'_, Rule>) -> Value {
        let span = self.span(&pair);
        let Some(inner) = parts(pair).next() else {
            return Value::Map(Vec::new(), span);
        };
        if inner.as_rule() == Rule::map {
            let span = self.span(&inner);
            Value::Map(self.fields(inner), span)
        } else {
            Value::Expr(self.expr(&inner))
        }
    }

    /// `target = expr`
    fn assign(&mut self, pair: Pair<'_, Rule>) -> Assign {
        let span = self.span(&pair);
        let mut it = parts(pair);
        let target = match it.next() {
            Some(p) => self.name(&p),
            None => Ident {
                name: String::new(),
                span,
            },
        };
        let value = match it.next() {
            Some(p) => self.expr(&p),
            None => Expr {
                kind: ExprKind::Null,
                span,
            },
        };
        Assign {
            target,
            value,
            span,
        }
    }

    /// The assignments of a `set`, `save` or `retry` block.
    fn assigns(&mut self, pair: Pair<'_, Rule>) -> Vec<Assign> {
        parts(pair)
            .filter(|p| p.as_rule() == Rule::assign)
            .map(|p| self.assign(p))
            .collect()
    }

    /// The assignments of a `set` or `save` block, their targets checked.
    fn targets(&mut self, pair: Pair<'_, Rule>) -> Vec<Assign> {
        let assigns = self.assigns(pair);
        for a in &assigns {
            self.check_name(&a.target, "target name", true);
        }
        assigns
    }

    /// A credential source: `env("X")`, `secret_file("P")` or a literal.
    /// `name` is the credential's name; an auth credential has none and is
    /// named after its `role` (`token`, `username`, …) at the source's span.
    fn credential(
        &mut self,
        name: Option<Ident>,
        pair: Option<Pair<'_, Rule>>,
        fallback: Span,
        role: &str,
    ) -> Credential {
        let span = pair.as_ref().map_or(fallback, |p| self.span(p));
        let source = match pair.and_then(|p| parts(p).next()) {
            Some(p) => match p.as_rule() {
                Rule::cred_env => CredentialSource::Env(self.inner_string(p)),
                Rule::cred_file => CredentialSource::SecretFile(self.inner_string(p)),
                _ => CredentialSource::Literal(self.string(&p)),
            },
            None => CredentialSource::Literal(Str {
                value: String::new(),
                span,
            }),
        };
        let name = name.unwrap_or_else(|| Ident {
            name: role.to_owned(),
            span,
        });
        let span = name.span.join(span);
        Credential { name, source, span }
    }
}

/// Whether `name` is an identifier: a letter or `_`, then letters, digits
/// and `_` (the YAML front end's rule for the same names).
fn is_ident(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Builder<'_> {
    /// Reports (E0013, as YAML does) an empty data item, column, response or
    /// signal field, or credential name: these are free text otherwise.
    fn check_field_name(&mut self, name: &Ident, what: &str) {
        if name.name.is_empty() {
            self.push(Diagnostic::new(
                Code::InvalidLiteral,
                format!("a {what} cannot be empty"),
                name.span,
                "empty name",
            ));
        }
    }

    /// Reports (E0013, as YAML does) a name that is not an identifier, or
    /// (`dotted`) an assignment target that is not a dotted path of
    /// identifiers. Such a name can be written quoted, but nothing could
    /// refer to it.
    fn check_name(&mut self, name: &Ident, what: &str, dotted: bool) {
        let ok = if dotted {
            name.name.split('.').all(is_ident)
        } else {
            is_ident(&name.name)
        };
        if !ok {
            self.push(
                Diagnostic::new(
                    Code::InvalidLiteral,
                    format!("`{}` is not a valid {what}", name.name),
                    name.span,
                    "not a name",
                )
                .with_help(if dotted {
                    "names are letters, digits and `_`, starting with a letter or `_`, joined by `.`"
                } else {
                    "names are letters, digits and `_`, starting with a letter or `_`"
                }),
            );
        }
    }

    /// Reports (E0013, as YAML does) an event or batch action name of one
    /// part: these are `provider.name`.
    fn check_dotted(&mut self, name: &DottedName, what: &str, example: &str) {
        if name.parts.len() < 2 {
            self.push(
                Diagnostic::new(
                    Code::InvalidLiteral,
                    format!("`{}` is not a valid {what}", name.text()),
                    name.span,
                    format!("expected a dotted name such as `{example}`"),
                )
                .with_help(format!(
                    "write the provider, a dot and the name, e.g. `{example}`"
                )),
            );
        }
    }
}

/// Tracks which once-only clauses of a construct were given, to report a
/// second one.
#[derive(Debug, Default)]
struct Seen {
    given: Vec<(&'static str, Span)>,
}

impl Seen {
    /// Records `what` at `span`; reports and returns `false` when it was
    /// already given.
    fn first(&mut self, b: &mut Builder<'_>, what: &'static str, span: Span) -> bool {
        if let Some((_, earlier)) = self.given.iter().find(|(w, _)| *w == what) {
            let earlier = *earlier;
            b.push(
                Diagnostic::new(
                    Code::DslSyntax,
                    format!("{} is given twice", quoted(what)),
                    span,
                    "second one",
                )
                .with_label(earlier, "first one")
                .with_help("keep only one"),
            );
            return false;
        }
        self.given.push((what, span));
        true
    }
}

/// "did you mean …?" help text, if a candidate is close.
fn suggestion(name: &str, candidates: &[&str]) -> Option<String> {
    did_you_mean(name, candidates.iter().copied()).map(|c| format!("did you mean `{c}`?"))
}

/// `what` in backticks when it is a single keyword.
fn quoted(what: &str) -> String {
    if what.contains(' ') {
        what.to_owned()
    } else {
        format!("`{what}`")
    }
}
