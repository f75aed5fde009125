//! Prints a flow as canonical DSL: 2-space indentation, one field per line
//! in blocks, clauses in a fixed order. `parse(print(flow))` gives the same
//! flow back, up to spans.

use crate::ast::{
    ActionStep, Assign, BatchStep, Connection, Credential, CredentialSource, DataItem, Expr,
    ExprKind, Field, Flow, HttpAuthKind, HttpBodyKind, HttpStep, Retry, Schedule, Start, StartKind,
    Step, StepKind, TimerStep, TypeKind, Value, WaitOn, WaitStep,
};
use crate::span::Span;
use crate::syntax::expr::print_expr;

/// Prints a flow as DSL.
pub fn print(flow: &Flow) -> String {
    let mut p = Printer::default();
    p.flow(flow);
    p.finish()
}

/// Writes lines with indentation; the current line is kept open so that a
/// block's `}` can be followed by `else {`, `save {`, a constraint, ….
#[derive(Debug, Default)]
struct Printer {
    out: String,
    /// The current line, without its indentation.
    line: String,
    /// The indentation of the current line: the level when it began.
    line_indent: usize,
    /// The current indentation level.
    indent: usize,
}

impl Printer {
    /// Appends text to the current line.
    fn text(&mut self, s: &str) {
        if self.line.is_empty() {
            self.line_indent = self.indent;
        }
        self.line.push_str(s);
    }

    /// Ends the current line.
    fn newline(&mut self) {
        if !self.line.is_empty() {
            for _ in 0..self.line_indent {
                self.out.push_str("  ");
            }
            self.out.push_str(self.line.trim_end());
        }
        self.out.push('\n');
        self.line.clear();
    }

    /// An empty line between sections.
    fn blank(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// ` {`, then the body one level deeper, then `}` (the line stays open).
    /// An empty body prints ` {}`.
    fn block(&mut self, empty: bool, body: impl FnOnce(&mut Self)) {
        if empty {
            self.text(" {}");
            return;
        }
        self.text(" {");
        self.newline();
        self.indent += 1;
        body(self);
        self.indent -= 1;
        self.text("}");
    }

    fn finish(mut self) -> String {
        if !self.line.is_empty() {
            self.newline();
        }
        self.out
    }

    // ------------------------------------------------------------ file

    fn flow(&mut self, flow: &Flow) {
        self.text(&format!("flow {}", flow.name.name));
        if let Some(d) = &flow.description {
            self.text(&format!(" {}", quote(&d.value)));
        }
        self.newline();
        if !flow.data.is_empty() {
            self.blank();
            self.text("data");
            self.block(false, |p| p.data_items(&flow.data));
            self.newline();
        }
        for c in &flow.connections {
            self.blank();
            self.connection(c);
        }
        if !flow.start.is_empty() {
            self.blank();
            for s in &flow.start {
                self.start(s);
            }
        }
        for s in &flow.steps {
            self.blank();
            self.step(s);
        }
    }

    // ------------------------------------------------------------ data

    fn data_items(&mut self, items: &[DataItem]) {
        for item in items {
            self.data_item(item);
            self.newline();
        }
    }

    /// `name: type constraint…` (the line stays open).
    fn data_item(&mut self, item: &DataItem) {
        self.text(&format!("{}: ", field_name(&item.name.name)));
        match &item.ty.kind {
            TypeKind::String => self.text("string"),
            TypeKind::Text => self.text("text"),
            TypeKind::Integer => self.text("integer"),
            TypeKind::Decimal => self.text("decimal"),
            TypeKind::Money { currency: None } => self.text("money"),
            TypeKind::Money {
                currency: Some(cur),
            } => self.text(&format!("money({})", cur.name)),
            TypeKind::Bool => self.text("bool"),
            TypeKind::Date => self.text("date"),
            TypeKind::Datetime => self.text("datetime"),
            TypeKind::Email => self.text("email"),
            TypeKind::Phone => self.text("phone"),
            TypeKind::Url => self.text("url"),
            TypeKind::Select { options } => {
                self.text("select");
                self.block(options.is_empty(), |p| {
                    for o in options {
                        p.text(&format!(
                            "{}: {}",
                            quote(&o.id.value),
                            quote(&o.label.value)
                        ));
                        p.newline();
                    }
                });
            }
            TypeKind::Table { columns } => {
                self.text("table");
                self.block(columns.is_empty(), |p| p.data_items(columns));
            }
            TypeKind::Id { provider, kind } => {
                self.text(&format!("id({}.{})", provider.name, kind.name));
            }
            TypeKind::Unknown(name) => self.text(&name.name),
        }
        let c = &item.constraints;
        if c.required.is_some() {
            self.text(" required");
        }
        for (kw, e) in [
            ("default", &c.default),
            ("min", &c.min),
            ("max", &c.max),
            ("max_length", &c.max_length),
        ] {
            if let Some(e) = e {
                self.text(&format!(" {kw} {}", print_expr(e)));
            }
        }
        if let Some(p) = &c.pattern {
            self.text(&format!(" pattern {}", quote(&p.value)));
        }
        if let Some(l) = &item.label {
            self.text(&format!(" label {}", quote(&l.value)));
        }
    }

    // ------------------------------------------------------------ connections and starts

    fn connection(&mut self, c: &Connection) {
        self.text(&format!("connection {}: {}", c.name.name, c.provider.name));
        if let Some(m) = &c.mode {
            self.text(&format!(" {}", m.name));
        }
        if !c.credentials.is_empty() || !c.settings.is_empty() {
            self.block(false, |p| {
                for cred in &c.credentials {
                    p.text(&format!(
                        "{} = {}",
                        field_name(&cred.name.name),
                        credential(cred)
                    ));
                    p.newline();
                }
                for s in &c.settings {
                    p.text("setting ");
                    p.field(s);
                    p.newline();
                }
            });
        }
        self.newline();
    }

    fn start(&mut self, s: &Start) {
        self.text("start ");
        match &s.kind {
            StartKind::Input => self.text("input"),
            StartKind::Schedule(s) => {
                self.text(&schedule_text(&s.schedule));
                if let Some(tz) = &s.timezone {
                    self.text(&format!(" timezone {}", quote(&tz.value)));
                }
                if let Some(c) = &s.catch_up {
                    self.text(&format!(" catch_up {}", c.name));
                }
            }
            StartKind::Event {
                event,
                connection,
                every,
            } => {
                self.text(&format!("event {}", event.text()));
                if let Some(c) = connection {
                    self.text(&format!(" via {}", c.name));
                }
                if let Some(e) = every {
                    self.text(&format!(" every {}", print_expr(e)));
                }
            }
        }
        self.newline();
    }

    // ------------------------------------------------------------ fields and values

    /// `name = value` (the line stays open).
    fn field(&mut self, f: &Field) {
        self.text(&format!("{} =", field_name(&f.name.name)));
        self.value(&f.value);
    }

    /// ` value`: an expression, or a `{ … }` map.
    fn value(&mut self, v: &Value) {
        match v {
            Value::Expr(e) => self.text(&format!(" {}", print_expr(e))),
            Value::Map(fields, _) => self.fields_block(fields),
        }
    }

    fn fields_block(&mut self, fields: &[Field]) {
        self.block(fields.is_empty(), |p| {
            for f in fields {
                p.field(f);
                p.newline();
            }
        });
    }

    fn assigns_block(&mut self, assigns: &[Assign]) {
        self.block(assigns.is_empty(), |p| {
            for a in assigns {
                p.text(&format!(
                    "{} = {}",
                    target(&a.target.name),
                    print_expr(&a.value)
                ));
                p.newline();
            }
        });
    }

    /// ` save { … }` when there is something to save.
    fn save(&mut self, save: &[Assign]) {
        if !save.is_empty() {
            self.text(" save");
            self.assigns_block(save);
        }
    }

    fn retry(&mut self, retry: Option<&Retry>) {
        let Some(r) = retry else { return };
        self.text(" retry");
        let settings = [
            ("max_attempts", &r.max_attempts),
            ("backoff", &r.backoff),
            ("max_backoff", &r.max_backoff),
        ];
        let empty = settings.iter().all(|(_, e)| e.is_none());
        self.block(empty, |p| {
            for (name, e) in settings {
                if let Some(e) = e {
                    p.text(&format!("{name} = {}", print_expr(e)));
                    p.newline();
                }
            }
        });
    }

    // ------------------------------------------------------------ steps

    fn steps(&mut self, steps: &[Step]) {
        for s in steps {
            self.step(s);
        }
    }

    /// A block of steps: ` { … }` (the line stays open).
    fn step_block(&mut self, steps: &[Step]) {
        self.block(steps.is_empty(), |p| p.steps(steps));
    }

    fn step(&mut self, step: &Step) {
        self.text(&format!("step {} = ", step.id.name));
        match &step.kind {
            StepKind::Action(a) => self.action(a),
            StepKind::Http(h) => self.http(h),
            StepKind::Wait(w) => self.wait(w),
            StepKind::Timer(TimerStep::Until(e)) => {
                self.text(&format!("timer until {}", print_expr(e)));
            }
            StepKind::Timer(TimerStep::For(e)) => {
                self.text(&format!("timer for {}", print_expr(e)));
            }
            StepKind::If(s) => {
                self.text(&format!("if {}", print_expr(&s.condition)));
                self.step_block(&s.then);
                if !s.otherwise.is_empty() {
                    self.text(" else");
                    self.step_block(&s.otherwise);
                }
            }
            StepKind::Switch(s) => {
                self.text(&format!("switch {}", print_expr(&s.on)));
                let empty = s.cases.is_empty() && s.default.is_none();
                self.block(empty, |p| {
                    for case in &s.cases {
                        let values: Vec<String> = case.values.iter().map(print_expr).collect();
                        p.text(&format!("case {}", values.join(", ")));
                        p.step_block(&case.steps);
                        p.newline();
                    }
                    if let Some(d) = &s.default {
                        p.text("default");
                        p.step_block(d);
                        p.newline();
                    }
                });
            }
            StepKind::ForEach(s) => {
                self.text(&format!(
                    "for_each {} in {}",
                    s.var.name,
                    print_expr(&s.over)
                ));
                self.step_block(&s.steps);
            }
            StepKind::Set(assigns) => {
                self.text("set");
                self.assigns_block(assigns);
            }
            StepKind::Fail(e) => self.text(&format!("fail {}", print_expr(e))),
            StepKind::End(None) => self.text("end"),
            StepKind::End(Some(kind)) => self.text(&format!("end {}", kind.name)),
            StepKind::Goto(target) => self.text(&format!("goto {}", target.name)),
            StepKind::Batch(b) => self.batch(b),
        }
        self.newline();
    }

    fn action(&mut self, a: &ActionStep) {
        self.text(&a.action.text());
        if let Some(c) = &a.connection {
            self.text(&format!(" via {}", c.name));
        }
        if !a.inputs.is_empty() {
            self.fields_block(&a.inputs);
        }
        self.save(&a.save);
        self.retry(a.retry.as_ref());
    }

    fn http(&mut self, h: &HttpStep) {
        self.text(&format!("http {} {}", h.method.name, print_expr(&h.url)));
        let empty = h.auth.is_none()
            && h.headers.is_empty()
            && h.query.is_empty()
            && h.body.is_none()
            && h.timeout.is_none()
            && h.response.is_empty();
        if !empty {
            self.block(false, |p| {
                if let Some(auth) = &h.auth {
                    p.text(&format!("auth {}", auth_text(&auth.kind)));
                    p.newline();
                }
                for f in &h.headers {
                    p.text("header ");
                    p.field(f);
                    p.newline();
                }
                for f in &h.query {
                    p.text("query ");
                    p.field(f);
                    p.newline();
                }
                if let Some(body) = &h.body {
                    match &body.kind {
                        HttpBodyKind::Json(v) => {
                            p.text("body json");
                            p.value(v);
                        }
                        HttpBodyKind::Form(fields) => {
                            p.text("body form");
                            p.fields_block(fields);
                        }
                        HttpBodyKind::Xml(e) => p.text(&format!("body xml {}", print_expr(e))),
                        HttpBodyKind::Text(e) => p.text(&format!("body text {}", print_expr(e))),
                    }
                    p.newline();
                }
                if let Some(t) = &h.timeout {
                    p.text(&format!("timeout {}", print_expr(t)));
                    p.newline();
                }
                if !h.response.is_empty() {
                    p.text("response");
                    p.block(false, |p| p.data_items(&h.response));
                    p.newline();
                }
            });
        }
        self.save(&h.save);
        self.retry(h.retry.as_ref());
    }

    /// `wait …`; `timeout`/`on_timeout`/`save` go on a continuation line,
    /// or after the `}` of a signal's data block.
    fn wait(&mut self, w: &WaitStep) {
        let mut after_block = false;
        match &w.on {
            WaitOn::Event {
                event,
                connection,
                matching,
                poll,
            } => {
                self.text(&format!("wait {}", event.text()));
                if let Some(c) = connection {
                    self.text(&format!(" via {}", c.name));
                }
                if let Some(m) = matching {
                    self.text(&format!(" for {}", print_expr(m)));
                }
                if let Some(p) = poll {
                    self.text(&format!(" poll {}", print_expr(p)));
                }
            }
            WaitOn::Signal { name, fields } => {
                self.text(&format!("wait signal {}", name.name));
                if !fields.is_empty() {
                    self.block(false, |p| p.data_items(fields));
                    after_block = true;
                }
            }
        }
        let mut clauses = Vec::new();
        if let Some(t) = &w.timeout {
            clauses.push(format!("timeout {}", print_expr(t)));
        }
        if let Some(t) = &w.on_timeout {
            clauses.push(format!("on_timeout {}", t.name));
        }
        if clauses.is_empty() && w.save.is_empty() {
            return;
        }
        if after_block {
            if !clauses.is_empty() {
                self.text(&format!(" {}", clauses.join(" ")));
            }
            self.save(&w.save);
        } else {
            self.newline();
            self.indent += 1;
            self.text(&clauses.join(" "));
            if !w.save.is_empty() {
                if !clauses.is_empty() {
                    self.text(" ");
                }
                self.text("save");
                self.assigns_block(&w.save);
            }
            self.indent -= 1;
        }
    }

    fn batch(&mut self, b: &BatchStep) {
        self.text(&format!("batch {}", b.action.text()));
        if let Some(c) = &b.connection {
            self.text(&format!(" via {}", c.name));
        }
        if let Some(s) = &b.schedule {
            self.text(&format!(" {}", schedule_text(s)));
        }
        if let Some(m) = &b.max {
            self.text(&format!(" max {}", print_expr(m)));
        }
        if !b.inputs.is_empty() {
            self.fields_block(&b.inputs);
        }
        self.save(&b.save);
        self.retry(b.retry.as_ref());
    }
}

/// `cron "…"` / `every 1d`
fn schedule_text(s: &Schedule) -> String {
    match s {
        Schedule::Cron(c) => format!("cron {}", quote(&c.value)),
        Schedule::Every(e) => format!("every {}", print_expr(e)),
    }
}

/// The words after `auth`.
fn auth_text(kind: &HttpAuthKind) -> String {
    match kind {
        HttpAuthKind::None => "none".into(),
        HttpAuthKind::Basic { username, password } => {
            format!("basic {} {}", credential(username), credential(password))
        }
        HttpAuthKind::Bearer { token } => format!("bearer {}", credential(token)),
        HttpAuthKind::OAuth2 {
            token_url,
            client_id,
            client_secret,
            scope,
        } => {
            let mut s = format!(
                "oauth2 {} {} {}",
                print_expr(token_url),
                credential(client_id),
                credential(client_secret)
            );
            if let Some(scope) = scope {
                s.push_str(&format!(" scope {}", print_expr(scope)));
            }
            s
        }
        HttpAuthKind::Header { name, value } => {
            format!("header {} {}", quote(&name.value), credential(value))
        }
    }
}

/// `env("X")`, `secret_file("P")` or a literal string.
fn credential(c: &Credential) -> String {
    match &c.source {
        CredentialSource::Env(s) => format!("env({})", quote(&s.value)),
        CredentialSource::SecretFile(s) => format!("secret_file({})", quote(&s.value)),
        CredentialSource::Literal(s) => quote(&s.value),
    }
}

/// A string literal, escaped.
fn quote(s: &str) -> String {
    print_expr(&Expr {
        kind: ExprKind::Str(s.to_owned()),
        span: Span::default(),
    })
}

/// A field or data item name: bare when it can be (`X-Request-Id`), quoted
/// otherwise.
fn field_name(name: &str) -> String {
    let mut chars = name.chars();
    let bare = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { name.to_owned() } else { quote(name) }
}

/// An assignment target: bare when it is a dotted path of identifiers,
/// quoted otherwise.
fn target(name: &str) -> String {
    let bare = name.split('.').all(|part| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !matches!(part, "true" | "false" | "null" | "and" | "or" | "not")
    });
    if bare { name.to_owned() } else { quote(name) }
}
