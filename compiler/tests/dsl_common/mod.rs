//! Helpers shared by the DSL tests (`dsl_*.rs`).
#![allow(dead_code)]

use flowc::ast::{
    Assign, Credential, CredentialSource, DataItem, Expr, ExprKind, Field, Flow, HttpAuthKind,
    HttpBodyKind, Ident, Schedule, StartKind, Step, StepKind, Str, TemplatePart, TimerStep,
    TypeKind, Value, WaitOn,
};
use flowc::syntax::expr::parse_expr;
use flowc::{Source, Syntax};

/// A DSL source named `test.flow`.
pub fn source(text: &str) -> Source {
    Source::new("test.flow", text, Syntax::Dsl)
}

/// Parses DSL text that must be free of diagnostics.
pub fn parse_ok(text: &str) -> Flow {
    let src = source(text);
    let (flow, diags) = flowc::syntax::dsl::parse(&src);
    let diags: Vec<_> = diags.into_iter().collect();
    assert!(
        diags.is_empty(),
        "unexpected diagnostics:\n{}",
        flowc::diagnostic::render::human(&src, &diags, false)
    );
    flow.expect("a flow without diagnostics")
}

/// The diagnostics of parsing `text`, rendered as a person sees them.
pub fn render(text: &str) -> String {
    let src = source(text);
    let (flow, diags) = flowc::syntax::dsl::parse(&src);
    assert!(flow.is_none(), "a flow with errors must not be returned");
    let diags = diags.into_sorted();
    assert!(!diags.is_empty(), "expected diagnostics for {text:?}");
    flowc::diagnostic::render::human(&src, &diags, false)
}

/// Checks that every span in `flow` points at its text in `text`: a name's
/// span holds the name (or its quoted form), a string's span a string
/// literal, an expression's span text that parses back to the very same
/// expression (spans included).
pub fn check_spans(text: &str, flow: &Flow) {
    let c = SpanCheck { text };
    c.ident(&flow.name);
    if let Some(d) = &flow.description {
        c.str(d);
    }
    c.items(&flow.data);
    for conn in &flow.connections {
        c.ident(&conn.name);
        c.ident(&conn.provider);
        if let Some(m) = &conn.mode {
            c.ident(m);
        }
        for cred in &conn.credentials {
            c.credential(cred, true);
        }
        c.fields(&conn.settings);
        assert!(c.slice(conn.span).starts_with("connection"));
    }
    for s in &flow.start {
        assert!(c.slice(s.span).starts_with("start"));
        match &s.kind {
            StartKind::Input => {}
            StartKind::Schedule(sch) => {
                c.schedule(&sch.schedule);
                sch.timezone.iter().for_each(|t| c.str(t));
                sch.catch_up.iter().for_each(|i| c.ident(i));
            }
            StartKind::Event {
                event,
                connection,
                every,
            } => {
                event.parts.iter().for_each(|p| c.ident(p));
                assert_eq!(c.slice(event.span), event.text());
                connection.iter().for_each(|i| c.ident(i));
                every.iter().for_each(|e| c.expr(e));
            }
        }
    }
    c.steps(&flow.steps);
}

struct SpanCheck<'a> {
    text: &'a str,
}

impl SpanCheck<'_> {
    fn slice(&self, span: flowc::Span) -> &str {
        &self.text[span.range()]
    }

    fn ident(&self, i: &Ident) {
        let s = self.slice(i.span);
        assert!(
            s == i.name || s.starts_with('"'),
            "name {:?} has span text {s:?}",
            i.name
        );
    }

    fn str(&self, s: &Str) {
        let t = self.slice(s.span);
        assert!(
            t.starts_with('"') && t.ends_with('"') && t.len() >= 2,
            "string {:?} has span text {t:?}",
            s.value
        );
    }

    fn expr(&self, e: &Expr) {
        let t = self.slice(e.span);
        let again = parse_expr(t, e.span.start as usize)
            .unwrap_or_else(|d| panic!("span text {t:?} of {e:?}: {}", d.message));
        assert_eq!(&again, e, "span text {t:?}");
        match &e.kind {
            ExprKind::Path(parts) => parts.iter().for_each(|p| self.ident(p)),
            ExprKind::Call { function, args } => {
                self.ident(function);
                args.iter().for_each(|a| self.expr(a));
            }
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Template(parts) => {
                for p in parts {
                    if let TemplatePart::Expr(e) = p {
                        self.expr(e);
                    }
                }
            }
            _ => {}
        }
    }

    fn items(&self, items: &[DataItem]) {
        for item in items {
            self.ident(&item.name);
            let t = self.slice(item.span);
            assert!(t.ends_with(|c: char| !c.is_whitespace()), "{t:?}");
            match &item.ty.kind {
                TypeKind::Money { currency } => currency.iter().for_each(|c| self.ident(c)),
                TypeKind::Id { provider, kind } => {
                    self.ident(provider);
                    self.ident(kind);
                }
                TypeKind::Select { options } => {
                    for o in options {
                        self.str(&o.id);
                        self.str(&o.label);
                    }
                }
                TypeKind::Table { columns } => self.items(columns),
                TypeKind::Unknown(i) => self.ident(i),
                _ => {}
            }
            if let Some(l) = &item.label {
                self.str(l);
            }
            let c = &item.constraints;
            if let Some(r) = c.required {
                assert_eq!(self.slice(r), "required");
            }
            for e in [&c.default, &c.min, &c.max, &c.max_length]
                .into_iter()
                .flatten()
            {
                self.expr(e);
            }
            if let Some(p) = &c.pattern {
                self.str(p);
            }
        }
    }

    fn credential(&self, c: &Credential, named: bool) {
        if named {
            self.ident(&c.name);
        }
        match &c.source {
            CredentialSource::Env(s)
            | CredentialSource::SecretFile(s)
            | CredentialSource::Literal(s) => self.str(s),
        }
    }

    fn schedule(&self, s: &Schedule) {
        match s {
            Schedule::Cron(c) => self.str(c),
            Schedule::Every(e) => self.expr(e),
        }
    }

    fn fields(&self, fields: &[Field]) {
        for f in fields {
            self.ident(&f.name);
            match &f.value {
                Value::Expr(e) => self.expr(e),
                Value::Map(inner, span) => {
                    assert!(self.slice(*span).starts_with('{'));
                    self.fields(inner);
                }
            }
        }
    }

    fn assigns(&self, assigns: &[Assign]) {
        for a in assigns {
            self.ident(&a.target);
            self.expr(&a.value);
        }
    }

    fn steps(&self, steps: &[Step]) {
        for step in steps {
            assert!(self.slice(step.span).starts_with("step"));
            self.ident(&step.id);
            self.step(step);
        }
    }

    fn step(&self, step: &Step) {
        match &step.kind {
            StepKind::Action(a) => {
                a.action.parts.iter().for_each(|p| self.ident(p));
                assert_eq!(self.slice(a.action.span), a.action.text());
                a.connection.iter().for_each(|i| self.ident(i));
                self.fields(&a.inputs);
                self.assigns(&a.save);
                if let Some(r) = &a.retry {
                    assert!(self.slice(r.span).starts_with("retry"));
                    for e in [&r.max_attempts, &r.backoff, &r.max_backoff]
                        .into_iter()
                        .flatten()
                    {
                        self.expr(e);
                    }
                }
            }
            StepKind::Http(h) => {
                self.ident(&h.method);
                self.expr(&h.url);
                if let Some(auth) = &h.auth {
                    assert!(self.slice(auth.span).starts_with("auth"));
                    match &auth.kind {
                        HttpAuthKind::None => {}
                        HttpAuthKind::Basic { username, password } => {
                            self.credential(username, false);
                            self.credential(password, false);
                        }
                        HttpAuthKind::Bearer { token } => self.credential(token, false),
                        HttpAuthKind::OAuth2 {
                            token_url,
                            client_id,
                            client_secret,
                            scope,
                        } => {
                            self.expr(token_url);
                            self.credential(client_id, false);
                            self.credential(client_secret, false);
                            scope.iter().for_each(|s| self.expr(s));
                        }
                        HttpAuthKind::Header { name, value } => {
                            self.str(name);
                            self.credential(value, false);
                        }
                    }
                }
                self.fields(&h.headers);
                self.fields(&h.query);
                if let Some(b) = &h.body {
                    assert!(self.slice(b.span).starts_with("body"));
                    match &b.kind {
                        HttpBodyKind::Json(Value::Expr(e))
                        | HttpBodyKind::Xml(e)
                        | HttpBodyKind::Text(e) => self.expr(e),
                        HttpBodyKind::Json(Value::Map(f, _)) | HttpBodyKind::Form(f) => {
                            self.fields(f)
                        }
                    }
                }
                h.timeout.iter().for_each(|e| self.expr(e));
                self.items(&h.response);
                self.assigns(&h.save);
            }
            StepKind::Wait(w) => {
                match &w.on {
                    WaitOn::Event {
                        event,
                        connection,
                        matching,
                        poll,
                    } => {
                        event.parts.iter().for_each(|p| self.ident(p));
                        connection.iter().for_each(|i| self.ident(i));
                        matching.iter().for_each(|e| self.expr(e));
                        poll.iter().for_each(|e| self.expr(e));
                    }
                    WaitOn::Signal { name, fields } => {
                        self.ident(name);
                        self.items(fields);
                    }
                }
                w.timeout.iter().for_each(|e| self.expr(e));
                w.on_timeout.iter().for_each(|i| self.ident(i));
                self.assigns(&w.save);
            }
            StepKind::Timer(TimerStep::Until(e) | TimerStep::For(e)) => self.expr(e),
            StepKind::If(s) => {
                self.expr(&s.condition);
                self.steps(&s.then);
                self.steps(&s.otherwise);
            }
            StepKind::Switch(s) => {
                self.expr(&s.on);
                for case in &s.cases {
                    assert!(self.slice(case.span).starts_with("case"));
                    case.values.iter().for_each(|v| self.expr(v));
                    self.steps(&case.steps);
                }
                if let Some(d) = &s.default {
                    self.steps(d);
                }
            }
            StepKind::ForEach(s) => {
                self.ident(&s.var);
                self.expr(&s.over);
                self.steps(&s.steps);
            }
            StepKind::Set(assigns) => self.assigns(assigns),
            StepKind::Fail(e) => self.expr(e),
            StepKind::End(kind) => kind.iter().for_each(|i| self.ident(i)),
            StepKind::Goto(target) => self.ident(target),
            StepKind::Batch(b) => {
                b.action.parts.iter().for_each(|p| self.ident(p));
                b.connection.iter().for_each(|i| self.ident(i));
                b.schedule.iter().for_each(|s| self.schedule(s));
                b.max.iter().for_each(|e| self.expr(e));
                self.fields(&b.inputs);
                self.assigns(&b.save);
            }
        }
    }
}
