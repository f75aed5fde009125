//! The IR: a checked flow with names resolved and every expression typed.
//! Spans are gone; YAML and DSL sources of one flow lower to equal IR.

/// A checked flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub name: String,
}
