//! The DSL parser's driver: reads the file one top-level item at a time,
//! resynchronises after a syntax error at the next top-level keyword that
//! starts a line (so one run reports the errors of several items), and puts
//! the items together into a [`Flow`], checking their order.

use super::build::{Builder, Item, skip_trivia};
use super::error::{TOP_KEYWORDS, syntax_error};
use super::grammar::reporting::{self, ReportingParser};
use super::grammar::{DslParser, Rule};
use crate::ast::{Flow, Ident, Str};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::Source;
use crate::span::Span;
use pest::Parser as _;

/// Deepest nesting of `{ }` and `( )` a file may have. Deeper input is
/// refused up front, so no input can exhaust the stack of the parser, the
/// builder or later passes.
pub const MAX_NESTING: usize = 64;

/// After this many syntax errors the parser stops.
const MAX_ERRORS: usize = 32;

/// Parses a `*.flow` source into the AST.
///
/// Returns the flow only when the file has no errors; the diagnostics hold
/// every error found: E0001 for a file with nothing but whitespace and
/// comments, E0004 for syntax errors (several, when they are in different
/// top-level items), E0005/E0013 for bad expressions and literals.
pub fn parse(source: &Source) -> (Option<Flow>, Diagnostics) {
    let text = source.text.as_str();
    let mut diags = Diagnostics::new();
    if is_trivia(text) {
        diags.push(
            Diagnostic::new(
                Code::FileEmpty,
                "this flow file is empty",
                Span::point(0),
                "expected `flow <name>`",
            )
            .with_help("a DSL flow starts with `flow <name>`, followed by its data, connections, starts and steps"),
        );
        return (None, diags);
    }
    if let Some(at) = nesting_overflow(text) {
        diags.push(
            Diagnostic::new(
                Code::DslSyntax,
                format!("blocks nested more than {MAX_NESTING} levels deep"),
                Span::new(at, at + 1),
                "too deep here",
            )
            .with_help("move nested steps into steps of their own and jump with `goto`"),
        );
        return (None, diags);
    }
    let items = read_items(text, &mut diags);
    let flow = assemble(items, &mut diags);
    if diags.has_errors() {
        return (None, diags);
    }
    (flow, diags)
}

/// True when `text` holds nothing but whitespace and comments: the grammar's
/// `trivia_only`, read by hand because pest, when that rule fails on a long
/// file, walks the whole file backwards to build an error nobody reads.
fn is_trivia(text: &str) -> bool {
    skip_trivia(text, 0) >= text.len()
}

/// Reads every top-level item, reporting syntax errors and skipping to the
/// next item after each.
///
/// Each round parses as many whole items as it can in one pass (pest
/// indexes the lines of its whole input on every successful parse, so one
/// parse per item would be quadratic), then re-parses the item where it
/// stopped to report its error, and resynchronises.
fn read_items(text: &str, diags: &mut Diagnostics) -> Vec<Item> {
    let mut items = Vec::new();
    let mut pos = 0;
    let mut errors = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        if let Ok(mut pairs) = DslParser::parse(Rule::items, rest) {
            let Some(pair) = pairs.next() else { break };
            let end = pair.as_span().end();
            items.extend(Builder::new(pos, diags).items(pair));
            pos += end;
        }
        let rest = &text[pos..];
        if is_trivia(rest) {
            break;
        }
        match DslParser::parse(Rule::item, rest) {
            // Cannot happen after `items` stopped here; read it and go on.
            Ok(mut pairs) => {
                let Some(pair) = pairs.next() else { break };
                let end = pair.as_span().end();
                items.extend(Builder::new(pos, diags).items(pair));
                if end == 0 {
                    break;
                }
                pos += end;
            }
            Err(_) => {
                let d = match ReportingParser::parse(reporting::Rule::item, rest) {
                    Err(e) => syntax_error(&e, text, pos),
                    Ok(_) => parsers_disagree(text, pos),
                };
                let error_at = d.primary_span().start as usize;
                diags.push(d);
                errors += 1;
                match resync(text, pos, error_at) {
                    Some(next) if errors < MAX_ERRORS => pos = next,
                    _ => break,
                }
            }
        }
    }
    items
}

/// An item that the fast parser refuses and the reporting parser accepts.
/// They are meant to accept the same text (a property test holds them to
/// it), so this is a flowc bug: say so, rather than drop the item.
fn parsers_disagree(text: &str, pos: usize) -> Diagnostic {
    let end = text[pos..].find('\n').map_or(text.len(), |n| pos + n);
    Diagnostic::new(
        Code::DslSyntax,
        "flowc cannot read this item: its two DSL parsers disagree on it",
        Span::new(pos, end),
        "this item",
    )
    .with_help("this is a bug in flowc; please report it with this file")
}

/// Where to go on after a syntax error at `error_at` in the item that
/// starts at `item_start`: the first line at or after the error that starts
/// (in column 1) with a top-level keyword, past the item's start.
fn resync(text: &str, item_start: usize, error_at: usize) -> Option<usize> {
    let mut i = error_at.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    loop {
        let line_start = i == 0 || text.as_bytes().get(i - 1) == Some(&b'\n');
        if i > item_start && line_start && starts_with_top_keyword(&text[i..]) {
            return Some(i);
        }
        i += text[i..].find('\n')? + 1;
    }
}

fn starts_with_top_keyword(text: &str) -> bool {
    TOP_KEYWORDS.iter().any(|k| {
        text.strip_prefix(k)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
    })
}

/// The offset where `text` nests `{`/`(` deeper than [`MAX_NESTING`].
/// Brackets in strings and comments count too: it errs on the safe side.
fn nesting_overflow(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'{' | b'(' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The order of top-level sections.
fn rank(item: &Item) -> u8 {
    match item {
        Item::Header { .. } => 0,
        Item::Data { .. } => 1,
        Item::Connection(_) => 2,
        Item::Start(_) => 3,
        Item::Step(_) => 4,
    }
}

/// Puts the items together, in the order flow, data, connections, starts,
/// steps; reports items out of order, a second header or data block, and a
/// missing header.
fn assemble(items: Vec<Item>, diags: &mut Diagnostics) -> Option<Flow> {
    let had_errors = diags.has_errors();
    let first_keyword = items.first().map(Item::keyword_span);
    let end = items.last().map_or(0, |i| i.span().end as usize);
    let mut header: Option<(Ident, Option<Str>, Span)> = None;
    let mut data_span: Option<Span> = None;
    let mut flow = Flow {
        name: Ident {
            name: String::new(),
            span: Span::point(0),
        },
        description: None,
        data: Vec::new(),
        connections: Vec::new(),
        start: Vec::new(),
        steps: Vec::new(),
        span: Span::point(0),
    };
    let mut highest: Option<(u8, &'static str)> = None;
    for item in items {
        let r = rank(&item);
        let kw = item.keyword_span();
        if let Some((_, last)) = highest.filter(|(h, _)| r < *h) {
            diags.push(
                Diagnostic::new(
                    Code::DslSyntax,
                    format!("`{}` cannot come after `{last}`", item.keyword()),
                    kw,
                    "out of order",
                )
                .with_help(
                    "top-level sections come in this order: flow, data, connection, start, step",
                ),
            );
        } else {
            highest = Some((r, item.keyword()));
        }
        match item {
            Item::Header {
                name,
                description,
                span,
            } => {
                if let Some((_, _, first)) = &header {
                    diags.push(
                        Diagnostic::new(
                            Code::DslSyntax,
                            "a second `flow` header",
                            kw,
                            "second header",
                        )
                        .with_label(
                            Span::new(first.start as usize, first.start as usize + 4),
                            "first header",
                        )
                        .with_help("a file holds one flow"),
                    );
                } else {
                    header = Some((name, description, span));
                }
            }
            Item::Data { items, span } => {
                if let Some(first) = data_span {
                    diags.push(
                        Diagnostic::new(
                            Code::DslSyntax,
                            "a second `data` block",
                            kw,
                            "second block",
                        )
                        .with_label(
                            Span::new(first.start as usize, first.start as usize + 4),
                            "first block",
                        )
                        .with_help("declare every data item in one `data { … }` block"),
                    );
                } else {
                    data_span = Some(span);
                }
                flow.data.extend(items);
            }
            Item::Connection(c) => flow.connections.push(*c),
            Item::Start(s) => flow.start.push(s),
            Item::Step(s) => flow.steps.push(*s),
        }
    }
    let Some((name, description, span)) = header else {
        if !had_errors {
            diags.push(
                Diagnostic::new(
                    Code::DslSyntax,
                    "expected `flow <name>` at the start of the file",
                    first_keyword.unwrap_or(Span::point(0)),
                    "the flow header is missing",
                )
                .with_help(
                    "a DSL flow starts with `flow <name>` and an optional description string",
                ),
            );
        }
        return None;
    };
    flow.name = name;
    flow.description = description;
    flow.span = Span::new(span.start as usize, end.max(span.end as usize));
    Some(flow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disagreement_of_the_parsers_is_reported_on_its_item_as_a_flowc_bug() {
        let text = "flow x\nstep a = end\nstep b = end\n";
        let at = text.find("step a").unwrap();
        let d = parsers_disagree(text, at);
        assert_eq!(d.code, Code::DslSyntax);
        assert_eq!(
            &text[d.primary_span().start as usize..d.primary_span().end as usize],
            "step a = end"
        );
        assert!(
            d.help
                .as_deref()
                .is_some_and(|h| h.contains("bug in flowc")),
            "{d:?}"
        );
        // At the end of a file without a final newline, up to the end.
        let d = parsers_disagree("step z = end", 0);
        assert_eq!(d.primary_span().end, 12);
    }
}
