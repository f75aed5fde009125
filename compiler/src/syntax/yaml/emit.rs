//! Writing YAML text: a small document tree ([`Y`]) rendered in block
//! style, with short maps and lists on one line in flow style (`{ … }`,
//! `[ … ]`) where they fit. Scalars are written plain when YAML (and this
//! front end) read them back as the same text, and double-quoted otherwise.

use super::scalar::plain_literal;

/// The widest line a flow-style map or list may make.
const WIDTH: usize = 88;

/// A scalar to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// Written exactly as is, never quoted: numbers, booleans, `null`,
    /// durations and keywords such as `input` or `none`.
    Lit(String),
    /// Text: written plain when that reads back as the same text, else
    /// quoted (or as a `|` block when it has several lines).
    Text(String),
    /// Text that is always quoted (or a `|` block): templates, so their
    /// `${…}` parts stand out.
    Quoted(String),
}

/// How a map or list may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Always one entry per line.
    Block,
    /// On one line in flow style when every child may be and it fits.
    Auto,
}

/// A document node to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Y {
    Scalar(Out),
    Map(Vec<(String, Y)>, Layout),
    Seq(Vec<Y>, Layout),
}

impl Y {
    pub fn lit(s: impl Into<String>) -> Y {
        Y::Scalar(Out::Lit(s.into()))
    }
    pub fn text(s: impl Into<String>) -> Y {
        Y::Scalar(Out::Text(s.into()))
    }
    pub fn quoted(s: impl Into<String>) -> Y {
        Y::Scalar(Out::Quoted(s.into()))
    }
}

/// Builds a map's entries, leaving out absent values.
#[derive(Debug, Default)]
pub struct MapBuilder {
    entries: Vec<(String, Y)>,
}

impl MapBuilder {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn put(&mut self, key: &str, value: Y) -> &mut Self {
        self.entries.push((key.to_owned(), value));
        self
    }
    pub fn opt(&mut self, key: &str, value: Option<Y>) -> &mut Self {
        if let Some(v) = value {
            self.put(key, v);
        }
        self
    }
    pub fn build(&mut self, layout: Layout) -> Y {
        Y::Map(std::mem::take(&mut self.entries), layout)
    }
}

/// Renders a top-level map as a YAML document.
pub fn document(entries: &[(String, Y)]) -> String {
    let mut out = String::new();
    write_block_map(&mut out, entries, 0, false);
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Entries one per line at `indent`; with `inline_first` the first entry
/// continues the current line (after `- `).
fn write_block_map(out: &mut String, entries: &[(String, Y)], indent: usize, inline_first: bool) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        let key = scalar(&Out::Text(key.clone()), false, true);
        let column = indent + key.chars().count() + 2;
        out.push_str(&key);
        out.push(':');
        write_after_key(out, value, indent, column);
    }
}

/// A value after `key:`.
fn write_after_key(out: &mut String, value: &Y, indent: usize, column: usize) {
    match value {
        Y::Map(_, _) | Y::Seq(_, _) if fits(value, column) => {
            out.push(' ');
            out.push_str(&flow(value));
            out.push('\n');
        }
        Y::Map(entries, _) => {
            out.push('\n');
            write_block_map(out, entries, indent + 2, false);
        }
        Y::Seq(items, _) => {
            out.push('\n');
            write_block_seq(out, items, indent + 2);
        }
        Y::Scalar(s) => write_block_scalar(out, s, indent),
    }
}

/// A scalar in block context, after `key:` or `-`: one line, or a literal
/// block (`|`) whose lines are indented under `indent`.
fn write_block_scalar(out: &mut String, s: &Out, indent: usize) {
    out.push(' ');
    if let Out::Text(text) | Out::Quoted(text) = s
        && let Some(header) = literal_header(text)
    {
        out.push_str(header);
        out.push('\n');
        for line in text.strip_suffix('\n').unwrap_or(text).split('\n') {
            if !line.is_empty() {
                pad(out, indent + 2);
                out.push_str(line);
            }
            out.push('\n');
        }
        return;
    }
    out.push_str(&scalar(s, false, false));
    out.push('\n');
}

/// The header of a literal block that reads back as exactly `text`
/// (`|` keeps one final line break, `|-` none), if `text` has several
/// lines and can be written that way.
fn literal_header(text: &str) -> Option<&'static str> {
    let body = text.strip_suffix('\n');
    let header = if body.is_some() { "|" } else { "|-" };
    let body = body.unwrap_or(text);
    let ok = body.contains('\n')
        && !body.ends_with('\n')
        && !body.starts_with([' ', '\n'])
        && body.split('\n').all(|line| line.trim_end() == line)
        && body.chars().all(|c| c == '\n' || !needs_escape(c));
    ok.then_some(header)
}

fn write_block_seq(out: &mut String, items: &[Y], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push('-');
        match item {
            Y::Scalar(s) => write_block_scalar(out, s, indent),
            _ if fits(item, indent + 2) => {
                out.push(' ');
                out.push_str(&flow(item));
                out.push('\n');
            }
            Y::Map(entries, _) => {
                out.push(' ');
                write_block_map(out, entries, indent + 2, true);
            }
            Y::Seq(items, _) => {
                out.push('\n');
                write_block_seq(out, items, indent + 2);
            }
        }
    }
}

/// Whether a map or list is written on one line starting at `column`.
fn fits(value: &Y, column: usize) -> bool {
    match value {
        Y::Map(entries, _) if entries.is_empty() => true,
        Y::Seq(items, _) if items.is_empty() => true,
        _ => flowable(value) && column + flow(value).chars().count() <= WIDTH,
    }
}

/// Whether a node may be written in flow style at all.
fn flowable(value: &Y) -> bool {
    match value {
        Y::Scalar(_) => true,
        Y::Map(entries, layout) => {
            entries.is_empty()
                || (*layout == Layout::Auto && entries.iter().all(|(_, v)| flowable(v)))
        }
        Y::Seq(items, layout) => {
            items.is_empty() || (*layout == Layout::Auto && items.iter().all(flowable))
        }
    }
}

/// A node in flow style, on one line.
fn flow(value: &Y) -> String {
    match value {
        Y::Scalar(s) => scalar(s, true, false),
        Y::Map(entries, _) if entries.is_empty() => "{}".to_owned(),
        Y::Map(entries, _) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}: {}", scalar(&Out::Text(k.clone()), true, true), flow(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        Y::Seq(items, _) => {
            let parts: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

/// A scalar, in flow context (`in_flow`) or block context.
fn scalar(s: &Out, in_flow: bool, is_key: bool) -> String {
    match s {
        Out::Lit(text) => text.clone(),
        Out::Text(text) if plain_ok(text, in_flow, is_key) => text.clone(),
        Out::Text(text) | Out::Quoted(text) => double_quoted(text),
    }
}

/// Words YAML 1.1 or 1.2 tools read as booleans or null.
const RESERVED: &[&str] = &[
    "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~",
];

/// Whether `text` written plain reads back as the same text, here and in
/// other YAML tools (so no number-, date- or boolean-like words).
pub fn plain_ok(text: &str, in_flow: bool, is_key: bool) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if text.trim() != text || RESERVED.contains(&text.to_ascii_lowercase().as_str()) {
        return false;
    }
    // Indicators, and starts that look like numbers or dates to some tool.
    if "-?:,[]{}#&*!|>'\"%@`.+=<".contains(first) || first.is_ascii_digit() {
        return false;
    }
    if !is_key && plain_literal(text).is_some() {
        return false;
    }
    if text.contains(": ") || text.ends_with(':') || text.contains(" #") {
        return false;
    }
    if in_flow && text.contains([',', '[', ']', '{', '}', ':']) {
        return false;
    }
    text.chars().all(|c| !needs_escape(c))
}

/// Characters written as escapes in a double-quoted scalar.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// A double-quoted YAML scalar.
pub fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) && (c as u32) <= 0xFFFF => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c if needs_escape(c) => out.push_str(&format!("\\U{:08X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_or_quoted() {
        assert!(plain_ok("East Asia", false, false));
        assert!(plain_ok("${minor_units(total)}", false, false));
        assert!(!plain_ok("${x}", true, false));
        assert!(!plain_ok("12", false, false));
        assert!(!plain_ok("8", false, true));
        assert!(!plain_ok("yes", false, false));
        assert!(!plain_ok("a: b", false, false));
        assert!(!plain_ok("", false, false));
        assert!(!plain_ok("- x", false, false));
        assert!(!plain_ok("line\nbreak", false, false));
        assert_eq!(double_quoted("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }

    #[test]
    fn literal_blocks() {
        assert_eq!(literal_header("a\nb\n"), Some("|"));
        assert_eq!(literal_header("a\nb"), Some("|-"));
        assert_eq!(literal_header("a\nb\n\n"), None);
        assert_eq!(literal_header("one line\n"), None);
        assert_eq!(literal_header(" a\nb"), None);
        assert_eq!(literal_header("a \nb"), None);
        let doc = vec![("fail".to_owned(), Y::quoted("a ${x}\n\nb\n"))];
        assert_eq!(document(&doc), "fail: |\n  a ${x}\n\n  b\n");
    }

    #[test]
    fn layout() {
        let item = MapBuilder::new()
            .put("type", Y::text("string"))
            .put("required", Y::lit("true"))
            .build(Layout::Auto);
        let step = MapBuilder::new()
            .put("id", Y::text("a"))
            .put("set", Y::Map(vec![("x".into(), Y::lit("1"))], Layout::Auto))
            .build(Layout::Block);
        let doc = vec![
            (
                "data".to_owned(),
                Y::Map(vec![("name".into(), item)], Layout::Block),
            ),
            ("steps".to_owned(), Y::Seq(vec![step], Layout::Block)),
        ];
        assert_eq!(
            document(&doc),
            "data:\n  name: { type: string, required: true }\nsteps:\n  - id: a\n    set: { x: 1 }\n"
        );
    }
}
