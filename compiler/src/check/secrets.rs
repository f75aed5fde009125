//! Literal secrets anywhere in a flow: any string that holds something that
//! looks like a provider key (`sk_live_…`, `sk_test_…`, `rk_live_…`,
//! `rk_test_…`, `whsec_…`) is E0501. The message never repeats the secret.
//! (A credential written as a literal is reported where the connection is
//! checked, so it is skipped here.)

use super::Checker;
use crate::ast::{self, CredentialSource, ExprKind, StepKind, TemplatePart, Value};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;

/// Key prefixes that mark a secret, and the minimum length of what follows.
const KEY_PREFIXES: &[&str] = &["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"];
const MIN_KEY_BODY: usize = 8;

/// The byte range of the first thing in `text` that looks like a secret key.
pub(crate) fn find_secret(text: &str) -> Option<std::ops::Range<usize>> {
    // Every prefix has an underscore and a key is long: skip the rest fast.
    if text.len() < "whsec_".len() + MIN_KEY_BODY || !text.contains('_') {
        return None;
    }
    for prefix in KEY_PREFIXES {
        let mut from = 0;
        while let Some(pos) = text[from..].find(prefix) {
            let start = from + pos;
            // Only at a word start: `mask_live_x` is not a key.
            let at_word_start = text[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
            let body_start = start + prefix.len();
            let body = text[body_start..]
                .bytes()
                .take_while(u8::is_ascii_alphanumeric)
                .count();
            if at_word_start && body >= MIN_KEY_BODY {
                return Some(start..body_start + body);
            }
            from = body_start;
        }
    }
    None
}

impl Checker<'_> {
    /// Reports every string in the flow that holds a secret key.
    pub(crate) fn scan_secrets(&mut self, flow: &ast::Flow) {
        let mut found: Vec<(Span, &'static str)> = Vec::new();
        let mut visit = |text: &str, span: Span| {
            if let Some(range) = find_secret(text) {
                found.push((narrow(span, text, range.clone()), kind_of(&text[range])));
            }
        };
        let mut scan = Scanner { visit: &mut visit };
        scan.flow(flow);
        for (span, kind) in found {
            self.report(
                Diagnostic::new(
                    Code::LiteralSecret,
                    format!("a {kind} is written into the flow file"),
                    span,
                    "looks like a secret key",
                )
                .with_help("never put keys in a flow: read them from the environment (`{ env: STRIPE_SECRET_KEY }`) or a secret file, and rotate this key, it has been exposed"),
            );
        }
    }
}

fn kind_of(text: &str) -> &'static str {
    if text.contains("whsec_") {
        "webhook signing secret"
    } else if text.contains("_live_") {
        "live secret key"
    } else {
        "secret key"
    }
}

/// The span of the key inside a literal, when the literal's span covers its
/// text exactly (a plain or quoted scalar without escapes); else the literal.
fn narrow(span: Span, text: &str, range: std::ops::Range<usize>) -> Span {
    // Spans from a fuzzer may be inverted: never subtract past zero.
    let len = span.end.saturating_sub(span.start) as usize;
    let offset = if len == text.len() {
        0
    } else if len == text.len() + 2 {
        1
    } else {
        return span;
    };
    let start = span.start as usize + offset;
    Span::new(start + range.start, start + range.end)
}

/// Visits every string of a flow with its span.
struct Scanner<'v> {
    visit: &'v mut dyn FnMut(&str, Span),
}

impl Scanner<'_> {
    fn flow(&mut self, flow: &ast::Flow) {
        if let Some(d) = &flow.description {
            self.str(d);
        }
        for item in &flow.data {
            self.item(item);
        }
        for c in &flow.connections {
            for cred in &c.credentials {
                self.credential(cred);
            }
            for s in &c.settings {
                self.value(&s.value);
            }
        }
        for start in &flow.start {
            match &start.kind {
                ast::StartKind::Input => {}
                ast::StartKind::Schedule(s) => {
                    self.schedule(&s.schedule);
                    if let Some(tz) = &s.timezone {
                        self.str(tz);
                    }
                }
                ast::StartKind::Event { every, .. } => {
                    if let Some(e) = every {
                        self.expr(e);
                    }
                }
            }
        }
        ast::walk_steps(&flow.steps, &mut |step| self.step(step));
    }

    fn str(&mut self, s: &ast::Str) {
        (self.visit)(&s.value, s.span);
    }

    fn item(&mut self, item: &ast::DataItem) {
        if let Some(l) = &item.label {
            self.str(l);
        }
        let c = &item.constraints;
        for e in [&c.default, &c.min, &c.max, &c.max_length]
            .into_iter()
            .flatten()
        {
            self.expr(e);
        }
        if let Some(p) = &c.pattern {
            self.str(p);
        }
        match &item.ty.kind {
            ast::TypeKind::Select { options } => {
                for o in options {
                    self.str(&o.id);
                    self.str(&o.label);
                }
            }
            ast::TypeKind::Table { columns } => {
                for column in columns {
                    self.item(column);
                }
            }
            _ => {}
        }
    }

    fn credential(&mut self, cred: &ast::Credential) {
        match &cred.source {
            CredentialSource::Env(s) | CredentialSource::SecretFile(s) => self.str(s),
            // Reported by the connection check.
            CredentialSource::Literal(_) => {}
        }
    }

    fn schedule(&mut self, s: &ast::Schedule) {
        match s {
            ast::Schedule::Cron(c) => self.str(c),
            ast::Schedule::Every(e) => self.expr(e),
        }
    }

    fn step(&mut self, step: &ast::Step) {
        match &step.kind {
            StepKind::Action(a) => {
                self.fields(&a.inputs);
                self.assigns(&a.save);
            }
            StepKind::Batch(b) => {
                self.fields(&b.inputs);
                self.assigns(&b.save);
                if let Some(s) = &b.schedule {
                    self.schedule(s);
                }
            }
            StepKind::Http(h) => {
                self.expr(&h.url);
                self.fields(&h.headers);
                self.fields(&h.query);
                if let Some(auth) = &h.auth {
                    self.auth(auth);
                }
                if let Some(body) = &h.body {
                    match &body.kind {
                        ast::HttpBodyKind::Json(v) => self.value(v),
                        ast::HttpBodyKind::Form(f) => self.fields(f),
                        ast::HttpBodyKind::Xml(e) | ast::HttpBodyKind::Text(e) => self.expr(e),
                    }
                }
                for item in &h.response {
                    self.item(item);
                }
                self.assigns(&h.save);
            }
            StepKind::Wait(w) => {
                if let ast::WaitOn::Event {
                    matching: Some(m), ..
                } = &w.on
                {
                    self.expr(m);
                }
                self.assigns(&w.save);
            }
            StepKind::Timer(ast::TimerStep::Until(e) | ast::TimerStep::For(e)) => self.expr(e),
            StepKind::If(s) => self.expr(&s.condition),
            StepKind::Switch(s) => {
                self.expr(&s.on);
                for case in &s.cases {
                    for v in &case.values {
                        self.expr(v);
                    }
                }
            }
            StepKind::ForEach(f) => self.expr(&f.over),
            StepKind::Set(assigns) => self.assigns(assigns),
            StepKind::Fail(e) => self.expr(e),
            StepKind::End(_) | StepKind::Goto(_) => {}
        }
    }

    fn auth(&mut self, auth: &ast::HttpAuth) {
        match &auth.kind {
            ast::HttpAuthKind::None => {}
            ast::HttpAuthKind::Basic { username, password } => {
                self.credential(username);
                self.credential(password);
            }
            ast::HttpAuthKind::Bearer { token } => self.credential(token),
            ast::HttpAuthKind::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scope,
            } => {
                self.expr(token_url);
                self.credential(client_id);
                self.credential(client_secret);
                if let Some(s) = scope {
                    self.expr(s);
                }
            }
            ast::HttpAuthKind::Header { name, value } => {
                self.str(name);
                self.credential(value);
            }
        }
    }

    fn fields(&mut self, fields: &[ast::Field]) {
        for f in fields {
            self.value(&f.value);
        }
    }

    fn assigns(&mut self, assigns: &[ast::Assign]) {
        for a in assigns {
            self.expr(&a.value);
        }
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Expr(e) => self.expr(e),
            Value::Map(fields, _) => self.fields(fields),
        }
    }

    fn expr(&mut self, e: &ast::Expr) {
        match &e.kind {
            ExprKind::Str(s) => (self.visit)(s, e.span),
            ExprKind::Template(parts) => {
                for part in parts {
                    match part {
                        TemplatePart::Text(t) => (self.visit)(t, e.span),
                        TemplatePart::Expr(inner) => self.expr(inner),
                    }
                }
            }
            ExprKind::Call { args, .. } => {
                for a in args {
                    self.expr(a);
                }
            }
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::find_secret;

    #[test]
    fn finds_keys_but_not_lookalikes() {
        assert!(find_secret("key sk_live_abcdefgh1234").is_some());
        assert!(find_secret("rk_test_ABCDEFGH").is_some());
        assert_eq!(find_secret("x sk_test_12345678"), Some(2..18));
        assert!(find_secret("sk_test_short").is_none());
        assert!(find_secret("mask_live_abcdefgh").is_none());
        assert!(find_secret("STRIPE_SK_LIVE").is_none());
        assert!(find_secret("令和sk_live_abcdefgh").is_some());
    }
}
