//! Rewriting every [`Span`] of an AST: [`without_spans`] sets them all to
//! `Span::default()`, so two ASTs can be compared modulo positions (round
//! trips through a printer, YAML vs DSL of one flow). [`MapSpans`] is the
//! visitor underneath; the YAML front end also uses it to move expression
//! spans from a scalar's value onto the source text.

use crate::ast::*;
use crate::span::Span;

/// The flow with every span set to `Span::default()`.
pub fn without_spans(flow: &Flow) -> Flow {
    let mut flow = flow.clone();
    flow.map_spans(&mut |_| Span::default());
    flow
}

/// An expression with every span set to `Span::default()`.
pub fn expr_without_spans(expr: &Expr) -> Expr {
    let mut expr = expr.clone();
    expr.map_spans(&mut |_| Span::default());
    expr
}

/// Rewrites every span in a node, depth first.
pub trait MapSpans {
    /// Replaces each span `s` in `self` (and its children) by `f(s)`.
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span);
}

impl MapSpans for Span {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        *self = f(*self);
    }
}

impl<T: MapSpans> MapSpans for Vec<T> {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        for item in self {
            item.map_spans(f);
        }
    }
}

impl<T: MapSpans> MapSpans for Option<T> {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        if let Some(item) = self {
            item.map_spans(f);
        }
    }
}

impl<T: MapSpans> MapSpans for Box<T> {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        (**self).map_spans(f);
    }
}

/// Implements [`MapSpans`] for a struct by visiting the listed fields.
macro_rules! map_fields {
    ($($ty:ty { $($field:ident),* $(,)? })*) => {
        $(impl MapSpans for $ty {
            fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
                $(self.$field.map_spans(f);)*
            }
        })*
    };
}

map_fields! {
    Ident { span }
    Str { span }
    DottedName { parts, span }
    Flow { name, description, data, connections, start, steps, span }
    DataItem { name, ty, label, constraints, span }
    Constraints { required, default, min, max, pattern, max_length }
    TypeExpr { kind, span }
    SelectOption { id, label, span }
    Connection { name, provider, mode, credentials, settings, span }
    Credential { name, source, span }
    Start { kind, span }
    Step { id, kind, span }
    Field { name, value, span }
    Assign { target, value, span }
    Retry { max_attempts, backoff, max_backoff, span }
    ActionStep { action, connection, inputs, save, retry }
    HttpStep { method, url, auth, headers, query, body, timeout, response, save, retry }
    HttpAuth { kind, span }
    HttpBody { kind, span }
    WaitStep { on, timeout, on_timeout, save }
    IfStep { condition, then, otherwise }
    SwitchStep { on, cases, default }
    Case { values, steps, span }
    ForEachStep { over, var, steps }
    BatchStep { action, connection, schedule, max, inputs, save, retry }
    Expr { kind, span }
}

impl MapSpans for TypeKind {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        match self {
            TypeKind::Money { currency } => currency.map_spans(f),
            TypeKind::Select { options } => options.map_spans(f),
            TypeKind::Table { columns } => columns.map_spans(f),
            TypeKind::Id { provider, kind } => {
                provider.map_spans(f);
                kind.map_spans(f);
            }
            TypeKind::Unknown(name) => name.map_spans(f),
            TypeKind::String
            | TypeKind::Text
            | TypeKind::Integer
            | TypeKind::Decimal
            | TypeKind::Bool
            | TypeKind::Date
            | TypeKind::Datetime
            | TypeKind::Email
            | TypeKind::Phone
            | TypeKind::Url => {}
        }
    }
}

impl MapSpans for CredentialSource {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        match self {
            CredentialSource::Env(s)
            | CredentialSource::SecretFile(s)
            | CredentialSource::Literal(s) => s.map_spans(f),
        }
    }
}

impl MapSpans for StartKind {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        match self {
            StartKind::Input => {}
            StartKind::Schedule(s) => s.map_spans(f),
            StartKind::Event {
                event,
                connection,
                every,
            } => {
                event.map_spans(f);
                connection.map_spans(f);
                every.map_spans(f);
            }
        }
    }
}

impl MapSpans for ScheduleStart {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        self.schedule.map_spans(f);
        self.timezone.map_spans(f);
        self.catch_up.map_spans(f);
    }
}

impl MapSpans for Schedule {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        match self {
            Schedule::Cron(s) => s.map_spans(f),
            Schedule::Every(e) => e.map_spans(f),
        }
    }
}

impl MapSpans for StepKind {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        match self {
            StepKind::Action(s) => s.map_spans(f),
            StepKind::Http(s) => s.map_spans(f),
            StepKind::Wait(s) => s.map_spans(f),
            StepKind::Timer(s) => s.map_spans(f),
            StepKind::If(s) => s.map_spans(f),
            StepKind::Switch(s) => s.map_spans(f),
            StepKind::ForEach(s) => s.map_spans(f),
            StepKind::Set(s) => s.map_spans(f),
            StepKind::Fail(e) => e.map_spans(f),
            StepKind::End(e) => e.map_spans(f),
            StepKind::Goto(e) => e.map_spans(f),
            StepKind::Batch(s) => s.map_spans(f),
        }
    }
}

impl MapSpans for Value {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        match self {
            Value::Expr(e) => e.map_spans(f),
            Value::Map(fields, span) => {
                fields.map_spans(f);
                span.map_spans(f);
            }
        }
    }
}

impl MapSpans for HttpAuthKind {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        match self {
            HttpAuthKind::None => {}
            HttpAuthKind::Basic { username, password } => {
                username.map_spans(f);
                password.map_spans(f);
            }
            HttpAuthKind::Bearer { token } => token.map_spans(f),
            HttpAuthKind::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scope,
            } => {
                token_url.map_spans(f);
                client_id.map_spans(f);
                client_secret.map_spans(f);
                scope.map_spans(f);
            }
            HttpAuthKind::Header { name, value } => {
                name.map_spans(f);
                value.map_spans(f);
            }
        }
    }
}

impl MapSpans for HttpBodyKind {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        match self {
            HttpBodyKind::Json(v) => v.map_spans(f),
            HttpBodyKind::Form(fields) => fields.map_spans(f),
            HttpBodyKind::Xml(e) | HttpBodyKind::Text(e) => e.map_spans(f),
        }
    }
}

impl MapSpans for WaitOn {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        match self {
            WaitOn::Event {
                event,
                connection,
                matching,
                poll,
            } => {
                event.map_spans(f);
                connection.map_spans(f);
                matching.map_spans(f);
                poll.map_spans(f);
            }
            WaitOn::Signal { name, fields } => {
                name.map_spans(f);
                fields.map_spans(f);
            }
        }
    }
}

impl MapSpans for TimerStep {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        match self {
            TimerStep::Until(e) | TimerStep::For(e) => e.map_spans(f),
        }
    }
}

impl MapSpans for ExprKind {
    fn map_spans(&mut self, f: &mut dyn FnMut(Span) -> Span) {
        match self {
            ExprKind::Template(parts) => {
                for part in parts {
                    if let TemplatePart::Expr(e) = part {
                        e.map_spans(f);
                    }
                }
            }
            ExprKind::Path(parts) => parts.map_spans(f),
            ExprKind::Call { function, args } => {
                function.map_spans(f);
                args.map_spans(f);
            }
            ExprKind::Unary { operand, .. } => operand.map_spans(f),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.map_spans(f);
                rhs.map_spans(f);
            }
            ExprKind::Int(_)
            | ExprKind::Decimal(_)
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::Null
            | ExprKind::Duration(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::expr::parse_template;

    #[test]
    fn strips_expression_spans() {
        let e = parse_template("Dear ${customer.name}, pay ${total * 2}", 40).unwrap();
        let mut seen = Vec::new();
        let mut copy = e.clone();
        copy.map_spans(&mut |s| {
            seen.push(s);
            s
        });
        assert_eq!(copy, e);
        assert!(seen.len() >= 6, "{seen:?}");
        let mut stripped = expr_without_spans(&e);
        let mut all_default = true;
        stripped.map_spans(&mut |s| {
            all_default &= s == Span::default();
            s
        });
        assert!(all_default);
    }
}
