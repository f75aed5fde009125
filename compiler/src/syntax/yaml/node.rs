//! A spanned YAML node tree, built from `granit_parser` events.
//!
//! Every scalar keeps its value (after YAML escape processing), its raw
//! source text, its style and its byte span; every mapping keeps its keys in
//! order, each with its own span. Duplicate keys, anchors, aliases, tags and
//! extra documents are reported here, so the lowering only sees plain trees.

use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use foldhash::HashMap;
use granit_parser::{ErrorKind, Event, Options, Parser, ScalarStyle, ScanError};

/// How deep collections may nest. Flow files need a handful of levels; the
/// limit keeps every recursive walk over the tree shallow.
const NESTING_LIMIT: usize = 64;

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Style {
    /// `text`
    Plain,
    /// `'text'`
    SingleQuoted,
    /// `"text"`
    DoubleQuoted,
    /// `|` block
    Literal,
    /// `>` block
    Folded,
}

impl Style {
    /// Whether the scalar was quoted or written as a block (not plain).
    pub fn is_quoted(self) -> bool {
        self != Style::Plain
    }
}

/// A scalar: its value, its raw source text, its style and its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    /// The value after YAML escape processing and line folding.
    pub value: String,
    /// The source text of the scalar, with quotes or block indicators.
    pub raw: String,
    pub style: Style,
    pub span: Span,
}

impl Scalar {
    /// A plain scalar with no text (`key:` with nothing after it, or `~`,
    /// which YAML reads as null).
    pub fn is_empty_plain(&self) -> bool {
        self.style == Style::Plain && (self.value.is_empty() || self.value == "~")
    }

    /// The byte offset where the value starts in the source, when the value
    /// is exactly the source text there (no escapes, folding or quotes
    /// doubled), so every offset in the value maps 1:1 onto the source.
    pub fn verbatim_start(&self) -> Option<usize> {
        let start = self.span.start as usize;
        let inner = match self.style {
            Style::Plain => Some(self.raw.as_str()),
            Style::SingleQuoted | Style::DoubleQuoted => self
                .raw
                .get(1..self.raw.len().saturating_sub(1))
                .filter(|_| self.raw.len() >= 2),
            Style::Literal | Style::Folded => None,
        }?;
        let offset = if self.style == Style::Plain { 0 } else { 1 };
        (inner == self.value).then_some(start + offset)
    }

    /// The span of the value's text: inside the quotes when the value is
    /// verbatim, else the whole scalar.
    pub fn text_span(&self) -> Span {
        match self.verbatim_start() {
            Some(start) => Span::new(start, start + self.value.len()),
            None => self.span,
        }
    }
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Scalar,
    pub value: Node,
}

/// A node's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Entries in source order; keys are unique.
    Map(Vec<Entry>),
    /// Stands in for something already reported (an alias), so the
    /// structure around it stays whole and nothing more is said about it.
    Invalid,
}

/// A YAML node with its byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

impl Node {
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// "a map", "a list", "text", … for "expected …, found …" messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(s) if s.is_empty_plain() => "nothing",
            NodeKind::Scalar(_) => "a single value",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
            NodeKind::Invalid => "an alias",
        }
    }

    /// The entry for `key`, if the node is a map that has it.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key.value == key)
    }
}

/// What a YAML text holds.
#[derive(Debug)]
pub enum Parsed {
    /// No document, or only comments and whitespace.
    Empty,
    /// One document.
    Document(Node),
    /// A syntax error (already reported).
    Failed,
}

/// Reads a YAML text into a node tree. Syntax errors stop the reading
/// (granit cannot recover inside a document); duplicate keys, anchors,
/// aliases and tags are reported and reading goes on.
pub fn parse_nodes(text: &str, diagnostics: &mut Vec<Diagnostic>) -> Parsed {
    let mut options = Options::default();
    options.set_emit_comments(false);
    options.emit_anchor_events = true;
    options.emit_unresolved_aliases = true;
    options.flow_nesting_limit = NESTING_LIMIT;
    options.block_nesting_limit = NESTING_LIMIT;
    let mut builder = Builder::default();
    let mut documents = 0usize;
    for next in Parser::new_from_str_with_options(text, options) {
        let (event, span) = match next {
            Ok(pair) => pair,
            Err(e) => {
                diagnostics.push(syntax_error(text, &e));
                return Parsed::Failed;
            }
        };
        let tag_span = span
            .tag_span()
            .and_then(|t| t.byte_range())
            .map(|r| Span::new(r.start, r.end));
        let span = span
            .byte_range()
            .map(|r| Span::new(r.start, r.end))
            .unwrap_or_default();
        let tag = event.tag().is_some().then(|| tag_span.unwrap_or(span));
        match event {
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    diagnostics.push(
                        Diagnostic::new(
                            Code::YamlSyntax,
                            "a flow file holds one YAML document",
                            span,
                            "a second document starts here",
                        )
                        .with_help("put each flow in its own file"),
                    );
                    break;
                }
            }
            Event::Scalar(value, style, _, _) => {
                if let Some(at) = tag {
                    diagnostics.push(tag_error(at));
                }
                let raw = text.get(span.range()).unwrap_or_default().to_owned();
                let scalar = Scalar {
                    value: value.into_owned(),
                    raw,
                    style: style_of(style),
                    span,
                };
                builder.attach(
                    Node {
                        kind: NodeKind::Scalar(scalar),
                        span,
                    },
                    diagnostics,
                );
            }
            Event::SequenceStart(style, _, _) | Event::MappingStart(style, _, _) => {
                if let Some(at) = tag {
                    diagnostics.push(tag_error(at));
                }
                let is_map = matches!(event, Event::MappingStart(..));
                builder.open(is_map, style == granit_parser::StructureStyle::Flow, span);
            }
            Event::SequenceEnd | Event::MappingEnd => builder.close(span, diagnostics),
            Event::Alias(_) | Event::UnresolvedAlias(_) => {
                diagnostics.push(
                    Diagnostic::new(
                        Code::YamlSyntax,
                        "YAML aliases are not supported in flow files",
                        span,
                        "alias",
                    )
                    .with_help("write the value out where it is needed"),
                );
                builder.attach(
                    Node {
                        kind: NodeKind::Invalid,
                        span,
                    },
                    diagnostics,
                );
            }
            Event::Anchor(..) => diagnostics.push(
                Diagnostic::new(
                    Code::YamlSyntax,
                    "YAML anchors are not supported in flow files",
                    span,
                    "anchor",
                )
                .with_help("remove the `&name`; write shared values out where they are needed"),
            ),
            _ => {}
        }
    }
    match builder.root {
        None => Parsed::Empty,
        Some(node) if node.as_scalar().is_some_and(Scalar::is_empty_plain) => Parsed::Empty,
        Some(node) => Parsed::Document(node),
    }
}

fn style_of(style: ScalarStyle) -> Style {
    match style {
        ScalarStyle::SingleQuoted => Style::SingleQuoted,
        ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
        ScalarStyle::Literal => Style::Literal,
        ScalarStyle::Folded => Style::Folded,
        _ => Style::Plain,
    }
}

fn tag_error(span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::YamlSyntax,
        "YAML tags are not supported in flow files",
        span,
        "this value has a tag",
    )
    .with_help("remove the `!tag`; quote a value to make it text")
}

/// E0003 at the position granit reports.
fn syntax_error(text: &str, e: &ScanError) -> Diagnostic {
    let marker = e.marker();
    let offset = marker
        .byte_offset()
        .unwrap_or_else(|| {
            text.char_indices()
                .nth(marker.index())
                .map_or(text.len(), |(i, _)| i)
        })
        .min(text.len());
    // Point at the character there, so the label is visible.
    let end = text
        .get(offset..)
        .and_then(|rest| rest.chars().next())
        .map_or(offset, |c| offset + c.len_utf8());
    let span = Span::new(offset, end);
    let info = e.info();
    let message = if info.is_empty() {
        "invalid YAML".to_owned()
    } else {
        format!("invalid YAML: {info}")
    };
    let d = Diagnostic::new(Code::YamlSyntax, message, span, "here");
    match e.kind() {
        ErrorKind::TabNotAllowed | ErrorKind::TabInBlockIndentation => {
            d.with_help("indent with spaces: YAML does not allow tabs in indentation")
        }
        ErrorKind::MappingValueNotAllowed => d.with_help(
            "a value that contains `: ` must be quoted, and a nested map must start on its own line",
        ),
        ErrorKind::UnknownAnchor => d.with_help("YAML aliases are not supported in flow files"),
        _ => d,
    }
}

/// A collection being read.
#[derive(Debug)]
enum Frame {
    Seq {
        start: usize,
        flow: bool,
        end: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        flow: bool,
        end: usize,
        entries: Vec<Entry>,
        key: PendingKey,
        /// Where each key is in `entries`, once the map is too big to scan.
        index: Option<HashMap<String, usize>>,
    },
}

#[derive(Debug)]
enum PendingKey {
    None,
    Key(Scalar),
    /// A key that is not a scalar (already reported); its value is dropped.
    Invalid,
}

#[derive(Debug, Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
}

impl Builder {
    fn open(&mut self, is_map: bool, flow: bool, span: Span) {
        let start = span.start as usize;
        self.stack.push(if is_map {
            Frame::Map {
                start,
                flow,
                end: span.end as usize,
                entries: Vec::new(),
                key: PendingKey::None,
                index: None,
            }
        } else {
            Frame::Seq {
                start,
                flow,
                end: span.end as usize,
                items: Vec::new(),
            }
        });
    }

    fn close(&mut self, span: Span, diagnostics: &mut Vec<Diagnostic>) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        // Block collections end after their last child (granit's end event
        // sits at the next token); flow collections end after the bracket.
        let node = match frame {
            Frame::Seq {
                start,
                flow,
                end,
                items,
            } => Node {
                span: Span::new(start, if flow { span.end as usize } else { end }),
                kind: NodeKind::Seq(items),
            },
            Frame::Map {
                start,
                flow,
                end,
                entries,
                ..
            } => Node {
                span: Span::new(start, if flow { span.end as usize } else { end }),
                kind: NodeKind::Map(entries),
            },
        };
        self.attach(node, diagnostics);
    }

    fn attach(&mut self, node: Node, diagnostics: &mut Vec<Diagnostic>) {
        let Some(frame) = self.stack.last_mut() else {
            if self.root.is_none() {
                self.root = Some(node);
            }
            return;
        };
        match frame {
            Frame::Seq { end, items, .. } => {
                *end = (*end).max(node.span.end as usize);
                items.push(node);
            }
            Frame::Map {
                end,
                entries,
                key,
                index,
                ..
            } => match std::mem::replace(key, PendingKey::None) {
                PendingKey::None => match node.kind {
                    NodeKind::Scalar(scalar) => *key = PendingKey::Key(scalar),
                    NodeKind::Invalid => *key = PendingKey::Invalid,
                    _ => {
                        diagnostics.push(
                            Diagnostic::new(
                                Code::WrongShape,
                                "a key must be a name, not a list or a map",
                                node.span,
                                "complex key",
                            )
                            .with_help("write keys as plain names: `name: value`"),
                        );
                        *key = PendingKey::Invalid;
                    }
                },
                PendingKey::Key(k) => {
                    *end = (*end).max(node.span.end as usize).max(k.span.end as usize);
                    if let Some(first) = first_written(entries, index, &k.value) {
                        diagnostics.push(
                            Diagnostic::new(
                                Code::YamlSyntax,
                                format!("duplicate key `{}`", k.value),
                                k.span,
                                "written again here",
                            )
                            .with_label(first, "first written here")
                            .with_help("a key may appear once in a map; remove or rename one"),
                        );
                    } else {
                        if let Some(index) = index {
                            index.insert(k.value.clone(), entries.len());
                        }
                        entries.push(Entry {
                            key: k,
                            value: node,
                        });
                    }
                }
                PendingKey::Invalid => {}
            },
        }
    }
}

/// Maps with more keys than this get an index to find a key written twice;
/// smaller ones (nearly all: a step, a field, a connection) are scanned, which
/// costs less than hashing and copying every key.
const SCAN_LIMIT: usize = 8;

/// The span of `key` where the map's entries first wrote it, if they did.
fn first_written(
    entries: &[Entry],
    index: &mut Option<HashMap<String, usize>>,
    key: &str,
) -> Option<Span> {
    if index.is_none() && entries.len() >= SCAN_LIMIT {
        let built = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.key.value.clone(), i))
            .collect();
        *index = Some(built);
    }
    let at = match index {
        Some(index) => index.get(key).copied(),
        None => entries.iter().position(|e| e.key.value == key),
    };
    at.map(|i| entries[i].key.span)
}

/// The node tree as JSON, read the way a YAML 1.2 tool (and so a JSON Schema
/// validator in an editor) reads it: plain integers, decimals, booleans and
/// null become JSON numbers, booleans and null; everything else is a string.
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.kind {
        NodeKind::Scalar(s) => {
            if s.style.is_quoted() {
                return J::String(s.value.clone());
            }
            let v = s.value.as_str();
            match v {
                "" | "~" | "null" => J::Null,
                "true" => J::Bool(true),
                "false" => J::Bool(false),
                _ => {
                    if let Ok(n) = v.parse::<i64>() {
                        J::from(n)
                    } else if super::scalar::is_decimal(v)
                        && let Some(n) =
                            v.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
                    {
                        J::Number(n)
                    } else {
                        J::String(v.to_owned())
                    }
                }
            }
        }
        NodeKind::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        NodeKind::Invalid => J::Null,
        NodeKind::Map(entries) => J::Object(
            entries
                .iter()
                .map(|e| (e.key.value.clone(), to_json(&e.value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(text: &str) -> (Parsed, Vec<Diagnostic>) {
        let mut d = Vec::new();
        (parse_nodes(text, &mut d), d)
    }

    #[test]
    fn spans_styles_and_order() {
        let text = "b: 'it''s'\na: \"x\"\nc:\n  - 1\n  - {k: v}\n";
        let (Parsed::Document(root), d) = nodes(text) else {
            panic!()
        };
        assert!(d.is_empty(), "{d:?}");
        let entries = root.as_map().unwrap();
        let keys: Vec<_> = entries.iter().map(|e| e.key.value.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        let b = entries[0].value.as_scalar().unwrap();
        assert_eq!((b.value.as_str(), b.style), ("it's", Style::SingleQuoted));
        assert_eq!(b.raw, "'it''s'");
        assert_eq!(b.verbatim_start(), None);
        let a = entries[1].value.as_scalar().unwrap();
        assert_eq!(a.verbatim_start(), Some(15));
        assert_eq!(&text[entries[2].value.span.range()], "- 1\n  - {k: v}");
        assert_eq!(root.span, Span::new(0, text.len() - 1));
    }

    #[test]
    fn a_key_written_twice_is_reported_at_both_places_in_maps_of_any_size() {
        // Maps scanned and maps indexed; the first key again, and the latest.
        for size in [1, SCAN_LIMIT - 1, SCAN_LIMIT, 3 * SCAN_LIMIT] {
            for dup in [0, size - 1] {
                let mut text: String = (0..size).map(|i| format!("k{i}: {i}\n")).collect();
                let first = text.find(&format!("k{dup}:")).unwrap();
                let again = text.len();
                text.push_str(&format!("k{dup}: again\nlast: 1\n"));
                let (Parsed::Document(root), d) = nodes(&text) else {
                    panic!("{size}")
                };
                let at = format!("{size} keys, k{dup} again");
                assert_eq!(d.len(), 1, "{at}: {d:?}");
                assert_eq!(d[0].message, format!("duplicate key `k{dup}`"), "{at}");
                let key_len = format!("k{dup}").len();
                let spans: Vec<_> = d[0].labels.iter().map(|l| (l.span, l.primary)).collect();
                let want = [
                    (Span::new(again, again + key_len), true),
                    (Span::new(first, first + key_len), false),
                ];
                assert_eq!(spans, want, "{at}");
                // The first value is kept; the key after the duplicate is not lost.
                let keys = root.as_map().unwrap();
                assert_eq!(keys.len(), size + 1, "{at}");
                assert_eq!(keys[size].key.value, "last", "{at}");
                let kept = root.get(&format!("k{dup}")).unwrap().value.as_scalar();
                assert_eq!(kept.unwrap().value, dup.to_string(), "{at}");
            }
        }
    }

    #[test]
    fn empty_and_errors() {
        assert!(matches!(nodes("").0, Parsed::Empty));
        assert!(matches!(nodes("# just a comment\n\n").0, Parsed::Empty));
        assert!(matches!(nodes("---\n").0, Parsed::Empty));
        let (p, d) = nodes("a: 1\na: 2\n");
        assert!(matches!(p, Parsed::Document(_)));
        assert_eq!(d[0].code, Code::YamlSyntax);
        assert_eq!(d[0].primary_span(), Span::new(5, 6));
        let (p, d) = nodes("a:\n\t- b\n");
        assert!(matches!(p, Parsed::Failed));
        assert!(d[0].help.as_deref().unwrap_or("").contains("tabs"));
        let (_, d) = nodes("a: &x 1\nb: *x\nc: *nope\n");
        assert_eq!(d.len(), 3, "{d:?}");
    }
}
