//! Turns pest's parse errors into readable E0004 diagnostics: "expected
//! `=`, found `minor_units`", with the keyword the author probably meant,
//! not internal rule names; an unknown step kind and an unclosed `{` get
//! messages of their own.

use super::grammar::reporting::Rule;
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::span::Span;

/// The step kinds, for messages and suggestions.
const STEP_KINDS: &[&str] = &[
    "http", "wait", "timer", "if", "switch", "for_each", "set", "fail", "end", "goto", "batch",
];

/// Clause keywords that follow a step, suggested for a typo after one.
const CLAUSES: &[&str] = &[
    "save",
    "retry",
    "via",
    "else",
    "timeout",
    "on_timeout",
    "poll",
    "for",
    "max",
    "cron",
    "every",
];

/// Keywords that begin a top-level item.
pub(super) const TOP_KEYWORDS: &[&str] = &["flow", "data", "connection", "start", "step"];

/// An E0004 diagnostic for a pest error met while parsing `text[base..]`.
pub(super) fn syntax_error(e: &pest::error::Error<Rule>, text: &str, base: usize) -> Diagnostic {
    let local = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let mut at = (base + local).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let found = Found::at(text, at);
    let positives = match &e.variant {
        // Only a lookahead failed: the start of the next item (`step x =`)
        // stands where a name was due (`goto` at the end of a line).
        pest::error::ErrorVariant::ParsingError {
            positives,
            negatives,
        } if positives.is_empty()
            && negatives
                .iter()
                .any(|r| matches!(r, Rule::top_ahead | Rule::next_item | Rule::step_head)) =>
        {
            return Diagnostic::new(
                Code::DslSyntax,
                format!("expected a name, found {}", found.shown),
                found.span,
                "this starts the next item",
            )
            .with_help("a name is missing before this line");
        }
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        pest::error::ErrorVariant::CustomError { message } => {
            return Diagnostic::new(
                Code::DslSyntax,
                format!("cannot parse this file: {message}"),
                found.span,
                "here",
            )
            .with_help("the file nests blocks or expressions too deeply");
        }
    };
    if positives.contains(&Rule::action_name) {
        return unknown_step_kind(&found);
    }
    let expected = Expected::from_rules(&positives);
    if expected.has(CLOSING_QUOTE) {
        let mut d = Diagnostic::new(
            Code::DslSyntax,
            format!("expected {CLOSING_QUOTE}, found {}", found.shown),
            found.span,
            "the string ends here",
        )
        .with_help("close the string with `\"`; write `\\\"` for a quote inside it");
        if let Some(open) = unclosed_string(text, at) {
            d = d.with_label(Span::new(open, open + 1), "this string is never closed");
        }
        return d;
    }
    let list = expected.list();
    if expected.has("`}`")
        && (found.is_end || found.starts_top_item(text))
        && let Some(open) = unclosed_brace(text, at)
    {
        return Diagnostic::new(
            Code::DslSyntax,
            format!("expected `}}`, found {}", found.shown),
            found.span,
            "expected `}` here",
        )
        .with_label(Span::new(open, open + 1), "this `{` is never closed")
        .with_help("close the block with `}`");
    }
    let message = if list.is_empty() {
        format!("unexpected {}", found.shown)
    } else {
        format!("expected {list}, found {}", found.shown)
    };
    let label = if expected.items.len() == 1 {
        format!("expected {list}")
    } else {
        "not expected here".to_owned()
    };
    let mut d = Diagnostic::new(Code::DslSyntax, message, found.span, label);
    if found.word.as_deref() == Some("if") && expected.has("`{`") {
        return d.with_help(
            "there is no `else if`: write `else { step <id> = if … { … } }`, or use `switch`",
        );
    }
    if let Some(word) = &found.word {
        let mut keywords = expected.keywords.clone();
        if TOP_KEYWORDS.iter().all(|k| keywords.contains(k)) {
            keywords.extend(CLAUSES);
        }
        if let Some(s) = did_you_mean(word, keywords.iter().copied()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
    }
    d
}

/// The diagnostic for `step x = wiat …`.
fn unknown_step_kind(found: &Found) -> Diagnostic {
    let kinds = STEP_KINDS.join(", ");
    let mut help = format!(
        "a step is `step <id> = <kind> …`, where kind is one of {kinds}, or a provider action such as `stripe.create_charge`"
    );
    if let Some(s) = found
        .word
        .as_deref()
        .and_then(|w| did_you_mean(w, STEP_KINDS.iter().copied()))
    {
        help = format!("did you mean `{s}`? {help}");
    }
    let label = if found.word.is_some() {
        "unknown step kind"
    } else {
        "expected a step kind"
    };
    Diagnostic::new(
        Code::DslSyntax,
        format!(
            "expected a step kind or a provider action, found {}",
            found.shown
        ),
        found.span,
        label,
    )
    .with_help(help)
}

/// What is expected inside an unclosed string.
const CLOSING_QUOTE: &str = "the closing `\"` of the string";

/// What the parser met where it failed.
#[derive(Debug)]
struct Found {
    /// For the message: "`word`", "end of input", …
    shown: String,
    /// The token's span (empty at the end of input).
    span: Span,
    /// The word, when the token is a word.
    word: Option<String>,
    is_end: bool,
}

impl Found {
    fn at(text: &str, at: usize) -> Found {
        let rest = text.get(at..).unwrap_or("");
        let Some(c) = rest.chars().next() else {
            return Found {
                shown: "end of input".into(),
                span: Span::point(at),
                word: None,
                is_end: true,
            };
        };
        let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let (len, shown, word) = if is_word(c) {
            let len = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
            let w = &rest[..len];
            (len, format!("`{}`", shorten(w)), Some(w.to_owned()))
        } else if c == '"' {
            let len = rest[1..]
                .find(['"', '\n'])
                .map_or(rest.len(), |i| (i + 2).min(rest.len()));
            (len, "a string".to_owned(), None)
        } else if c == '\n' || c == '\r' {
            (c.len_utf8(), "end of line".to_owned(), None)
        } else if c.is_whitespace() {
            (c.len_utf8(), "whitespace".to_owned(), None)
        } else if c.is_control() || c == '\u{FEFF}' {
            (
                c.len_utf8(),
                format!("the control character U+{:04X}", c as u32),
                None,
            )
        } else {
            (c.len_utf8(), format!("`{c}`"), None)
        };
        Found {
            shown,
            span: Span::new(at, at + len),
            word,
            is_end: false,
        }
    }

    /// A top-level keyword at the start of a line: where a block's `}` was due.
    fn starts_top_item(&self, text: &str) -> bool {
        let at = self.span.start as usize;
        let line_start = at == 0 || text.as_bytes().get(at - 1) == Some(&b'\n');
        line_start
            && self
                .word
                .as_deref()
                .is_some_and(|w| TOP_KEYWORDS.contains(&w))
    }
}

/// At most 40 characters of a word, for a message.
fn shorten(word: &str) -> String {
    if word.chars().count() > 40 {
        let mut s: String = word.chars().take(40).collect();
        s.push('…');
        s
    } else {
        word.to_owned()
    }
}

/// What the parser expected, in words, without repeats.
#[derive(Debug, Default)]
struct Expected {
    items: Vec<String>,
    /// The keywords among `items`, for "did you mean".
    keywords: Vec<&'static str>,
}

impl Expected {
    fn from_rules(rules: &[Rule]) -> Expected {
        let names: Vec<String> = rules.iter().map(|r| format!("{r:?}")).collect();
        let is_operand = |n: &str| {
            matches!(
                n,
                "expr" | "duration" | "decimal" | "integer" | "boolean" | "null" | "call" | "path"
            )
        };
        let operand = names.iter().any(|n| is_operand(n));
        let next_item = names.iter().any(|n| n == "reserved");
        let mut expected = Expected::default();
        for name in &names {
            let n = name.as_str();
            if operand && (is_operand(n) || matches!(n, "string" | "ident" | "op_neg" | "op_not")) {
                expected.push("an expression".into(), None);
            } else if n == "item" {
                for k in TOP_KEYWORDS {
                    expected.push(format!("`{k}`"), Some(k));
                }
            } else if n == "reserved" {
                expected.push("the next top-level item".into(), None);
                expected.keywords.extend(TOP_KEYWORDS.iter().chain(CLAUSES));
            } else if n == "EOI" && next_item {
                // The next item or the end: "the next top-level item" says it.
            } else {
                let (text, kw) = describe(n);
                expected.push(text, kw);
            }
        }
        // "an operator" is always possible after an operand; only say it
        // when nothing else fits.
        if expected.items.len() > 1 {
            expected.items.retain(|i| i != "an operator");
        }
        // Words first, punctuation and "the next item" last.
        expected.items.sort_by_key(|i| match i.as_str() {
            "the next top-level item" => 3,
            i if i.len() == 3 && i.starts_with('`') && !i.as_bytes()[1].is_ascii_alphanumeric() => {
                2
            }
            i if i.starts_with('`') => 0,
            _ => 1,
        });
        expected
    }

    fn push(&mut self, item: String, keyword: Option<&'static str>) {
        if !self.items.contains(&item) {
            self.items.push(item);
        }
        if let Some(k) = keyword.filter(|k| !self.keywords.contains(k)) {
            self.keywords.push(k);
        }
    }

    fn has(&self, item: &str) -> bool {
        self.items.iter().any(|i| i == item)
    }

    /// "a, b or c"
    fn list(&self) -> String {
        match self.items.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
        }
    }
}

/// A rule in words, and the keyword it stands for, if it is one.
fn describe(rule: &str) -> (String, Option<&'static str>) {
    if let Some(kw) = rule.strip_prefix("kw_") {
        let kw = KEYWORDS.iter().copied().find(|k| *k == kw);
        return (format!("`{}`", kw.unwrap_or("?")), kw);
    }
    let keyword = |k: &'static str| (format!("`{k}`"), Some(k));
    let text = match rule {
        "lbrace" | "block" | "inputs" | "http_block" | "signal_data" | "conn_block" | "map" => {
            "`{`"
        }
        "rbrace" => "`}`",
        "lparen" => "`(`",
        "rparen" => "`)`",
        "eq" => "`=`",
        "colon" => "`:`",
        "dot" => "`.`",
        "field_name" | "bare_name" => "a field name",
        "target" => "a name",
        "dotted" | "wait_event" => "a dotted name such as `stripe.invoice.paid`",
        "data_item" => "a data item (`name: type`)",
        "type_expr" | "type_name" => "a type",
        "select_option" => "an option (`\"id\": \"label\"`)",
        "credential" => "`env(\"NAME\")` or `secret_file(\"PATH\")`",
        "value" => "a value",
        "field" | "setting" | "credential_field" => "a field (`name = value`)",
        "assign" => "an assignment (`name = value`)",
        "mode" => "a connection mode",
        "step_ref" => "a step name",
        "conn_ref" => "a connection name",
        "signal_name" => "a signal name",
        "method" => "an HTTP method such as `POST`",
        "end_kind" => "`completed` or `cancelled`",
        "EOI" => "end of input",
        "str_text" | "str_escape" | "str_bad_escape" | "str_interp" => CLOSING_QUOTE,
        "step" => return keyword("step"),
        "flow_header" => return keyword("flow"),
        "data_block" => return keyword("data"),
        "connection" => return keyword("connection"),
        "start" => return keyword("start"),
        "start_input" => return keyword("input"),
        "start_event" => return keyword("event"),
        "cron" => return keyword("cron"),
        "every" => return keyword("every"),
        "timezone" => return keyword("timezone"),
        "catch_up" => return keyword("catch_up"),
        "catch_up_policy" => "`last` or `all`",
        "via" => return keyword("via"),
        "save" => return keyword("save"),
        "retry" => return keyword("retry"),
        "auth" => return keyword("auth"),
        "header" | "auth_header" => return keyword("header"),
        "query" => return keyword("query"),
        "body" => return keyword("body"),
        "timeout" => return keyword("timeout"),
        "response" => return keyword("response"),
        "wait_signal" => return keyword("signal"),
        "wait_for" | "timer_for" => return keyword("for"),
        "poll" => return keyword("poll"),
        "on_timeout" => return keyword("on_timeout"),
        "timer_until" => return keyword("until"),
        "else_block" => return keyword("else"),
        "case" => return keyword("case"),
        "default_case" | "c_default" => return keyword("default"),
        "max" | "c_max" => return keyword("max"),
        "scope" => return keyword("scope"),
        "c_required" => return keyword("required"),
        "c_min" => return keyword("min"),
        "c_max_length" => return keyword("max_length"),
        "c_pattern" => return keyword("pattern"),
        "c_label" => return keyword("label"),
        other => return (crate::syntax::expr::describe_rule(other), None),
    };
    (text.to_owned(), None)
}

/// Every DSL keyword (the `kw_` rules), as written.
const KEYWORDS: &[&str] = &[
    "flow",
    "data",
    "connection",
    "start",
    "step",
    "setting",
    "env",
    "secret_file",
    "input",
    "cron",
    "every",
    "timezone",
    "catch_up",
    "event",
    "via",
    "save",
    "retry",
    "http",
    "wait",
    "timer",
    "if",
    "switch",
    "for_each",
    "set",
    "fail",
    "end",
    "goto",
    "batch",
    "signal",
    "else",
    "case",
    "default",
    "in",
    "for",
    "poll",
    "timeout",
    "on_timeout",
    "until",
    "max",
    "auth",
    "header",
    "query",
    "body",
    "response",
    "none",
    "basic",
    "bearer",
    "oauth2",
    "scope",
    "json",
    "form",
    "xml",
    "text",
    "required",
    "min",
    "max_length",
    "pattern",
    "label",
    "money",
    "id",
    "select",
    "table",
];

/// The offset of the `"` that opens a string still open at `at`, if any
/// (comments skipped; `${…}` parts are read as part of the string).
fn unclosed_string(text: &str, at: usize) -> Option<usize> {
    let mut open = None;
    let mut escaped = false;
    let mut comment = false;
    for (i, c) in text.get(..at)?.char_indices() {
        if comment {
            comment = c != '\n';
            continue;
        }
        match open {
            Some(_) => match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => open = None,
                _ => {}
            },
            None => match c {
                '#' => comment = true,
                '"' => open = Some(i),
                _ => {}
            },
        }
    }
    open
}

/// The offset of the innermost `{` before `at` that is not closed before
/// it (strings and comments skipped).
fn unclosed_brace(text: &str, at: usize) -> Option<usize> {
    let mut open = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut comment = false;
    for (i, c) in text.get(..at)?.char_indices() {
        if comment {
            comment = c != '\n';
            continue;
        }
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '#' => comment = true,
            '"' => in_string = true,
            '{' => open.push(i),
            '}' => {
                open.pop();
            }
            _ => {}
        }
    }
    open.pop()
}
