//! Rust names for flow names: `create_invoice` -> `CreateInvoice`, keywords
//! as raw identifiers.

use proc_macro2::{Ident, Span};

/// `snake_case` (or any id) -> `CamelCase`.
pub fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'S');
    }
    out
}

/// `name` -> `NAME` for statics.
pub fn upper(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// A field identifier for a data item or column (raw when a keyword).
pub fn field(name: &str) -> Ident {
    if KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// The variant of the step enum for a step id.
pub fn step_variant(id: &str) -> Ident {
    Ident::new(&camel(id), Span::call_site())
}

/// The unit struct that implements `Flow`.
pub fn flow_type(flow: &str) -> Ident {
    Ident::new(&format!("{}Flow", camel(flow)), Span::call_site())
}

/// Any identifier.
pub fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_cases() {
        assert_eq!(camel("create_invoice"), "CreateInvoice");
        assert_eq!(camel("wait-paid"), "WaitPaid");
        assert_eq!(upper("lines"), "LINES");
        assert_eq!(field("type").to_string(), "r#type");
    }
}
