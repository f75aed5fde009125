//! Values the binary needs as written (E0512): a data item's `default`,
//! `min` and `max` (the data schema is static, applied before any step
//! runs), a batch's `max`, and the poll interval of an event wait or a start
//! event (the event feed is set up before any issue exists). A computed
//! value there would be silently dropped, so it is an error.

use super::Checker;
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{self, ExprKind, UnaryOp};
use crate::span::Span;

/// What a place takes as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Literal {
    /// A number, string, bool or null (a data item's default and bounds).
    Value,
    /// An integer.
    Integer,
    /// A duration (`5m`).
    Duration,
}

fn is_literal(e: &ir::Expr, want: Literal) -> bool {
    match (&e.kind, want) {
        (ExprKind::Int(_), Literal::Value | Literal::Integer) => true,
        (ExprKind::Duration { .. }, Literal::Duration) => true,
        (
            ExprKind::Decimal(_) | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::Null,
            Literal::Value,
        ) => true,
        (
            ExprKind::Unary {
                op: UnaryOp::Neg,
                operand,
            },
            Literal::Value,
        ) => matches!(operand.kind, ExprKind::Int(_) | ExprKind::Decimal(_)),
        _ => false,
    }
}

impl Checker<'_> {
    /// E0512 when `e` (checked, at `span`) is not a literal of the kind the
    /// place takes. `what` names the place ("`default` of `due`").
    pub(crate) fn require_literal(&mut self, e: &ir::Expr, span: Span, what: &str, want: Literal) {
        if e.ty.is_unknown() || is_literal(e, want) {
            return;
        }
        let help = match want {
            Literal::Value => {
                "write the value itself (`default: 3`, `min: 1`, `max: \"2025-12-31\"`): the binary applies the data schema to a record before any step runs; compute a value in a `set` step instead"
            }
            Literal::Integer => {
                "write the number itself, e.g. `max: 500`: the batch is set up before any issue runs"
            }
            Literal::Duration => {
                "write the interval itself, e.g. `5m`: the event feed polls on it before any issue exists"
            }
        };
        self.report(
            Diagnostic::new(
                Code::ComputedLiteral,
                format!("{what} is computed, but the binary needs it as written"),
                span,
                "not a literal",
            )
            .with_help(help),
        );
    }
}
