//! A flow source file: its name, text and syntax. The core never reads files;
//! the CLI builds a [`Source`] and hands it in.

use crate::span::LineIndex;

/// Which front end reads a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Syntax {
    /// `*.flow.yaml` / `*.flow.yml`
    Yaml,
    /// `*.flow`
    Dsl,
}

impl Syntax {
    /// The syntax a file name implies, if any.
    pub fn from_path(path: &str) -> Option<Syntax> {
        if path.ends_with(".flow.yaml") || path.ends_with(".flow.yml") {
            Some(Syntax::Yaml)
        } else if path.ends_with(".flow") {
            Some(Syntax::Dsl)
        } else {
            None
        }
    }
}

/// One source file.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
    pub syntax: Syntax,
    pub lines: LineIndex,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>, syntax: Syntax) -> Source {
        let text = text.into();
        let lines = LineIndex::new(&text);
        Source {
            name: name.into(),
            text,
            syntax,
            lines,
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        self.lines.line_col(&self.text, offset)
    }
}
