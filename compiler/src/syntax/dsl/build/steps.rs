//! Steps: provider actions, `http`, `wait`, `timer`, `if`, `switch`,
//! `for_each`, `set`, `fail`, `end`, `goto` and `batch`.

use super::{Builder, Seen, parts, suggestion};
use crate::ast::{
    ActionStep, Assign, BatchStep, Case, DottedName, Expr, ExprKind, ForEachStep, HttpAuth,
    HttpAuthKind, HttpBody, HttpBodyKind, HttpStep, Ident, IfStep, Retry, Schedule, Step, StepKind,
    Str, SwitchStep, TimerStep, WaitOn, WaitStep,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::dsl::grammar::Rule;
use pest::iterators::Pair;

/// The settings a `retry { … }` block may hold.
const RETRY_KEYS: &[&str] = &["max_attempts", "backoff", "max_backoff"];

impl Builder<'_> {
    /// `step id = kind …`
    pub(super) fn step(&mut self, pair: Pair<'_, Rule>) -> Step {
        let span = self.span(&pair);
        let mut it = parts(pair);
        let id = match it.next() {
            Some(p) => self.ident(&p),
            None => Ident {
                name: String::new(),
                span,
            },
        };
        let kind = match it.next() {
            Some(p) => self.step_kind(p),
            None => StepKind::End(None),
        };
        Step { id, kind, span }
    }

    fn step_kind(&mut self, pair: Pair<'_, Rule>) -> StepKind {
        match pair.as_rule() {
            Rule::http_step => StepKind::Http(self.http(pair)),
            Rule::wait_step => StepKind::Wait(self.wait(pair)),
            Rule::timer_step => StepKind::Timer(self.timer(pair)),
            Rule::if_step => StepKind::If(self.if_step(pair)),
            Rule::switch_step => StepKind::Switch(self.switch(pair)),
            Rule::for_each_step => StepKind::ForEach(self.for_each(pair)),
            Rule::set_step => StepKind::Set(self.targets(pair)),
            Rule::fail_step => StepKind::Fail(self.inner_expr(pair)),
            Rule::end_step => StepKind::End(parts(pair).next().map(|p| self.inner_ident(p))),
            Rule::goto_step => StepKind::Goto(self.inner_ident(pair)),
            Rule::batch_step => StepKind::Batch(self.batch(pair)),
            _ => StepKind::Action(self.action(pair)),
        }
    }

    /// The steps of a `{ … }` block.
    fn block(&mut self, pair: Pair<'_, Rule>) -> Vec<Step> {
        parts(pair)
            .filter(|p| p.as_rule() == Rule::step)
            .map(|p| self.step(p))
            .collect()
    }

    /// A `save { … }` clause, at most once.
    fn save_clause(&mut self, seen: &mut Seen, save: &mut Vec<Assign>, pair: Pair<'_, Rule>) {
        let kw = self.keyword_span(&pair);
        let assigns = self.targets(pair);
        if self.once(seen, "save", kw) {
            *save = assigns;
        }
    }

    /// A `retry { … }` clause, at most once.
    fn retry_clause(&mut self, seen: &mut Seen, retry: &mut Option<Retry>, pair: Pair<'_, Rule>) {
        let kw = self.keyword_span(&pair);
        let r = self.retry(pair);
        if self.once(seen, "retry", kw) {
            *retry = Some(r);
        }
    }

    /// `retry { max_attempts = 5 backoff = 2s max_backoff = 5m }`
    fn retry(&mut self, pair: Pair<'_, Rule>) -> Retry {
        let span = self.span(&pair);
        let mut retry = Retry {
            max_attempts: None,
            backoff: None,
            max_backoff: None,
            span,
        };
        let mut seen = Seen::default();
        for a in self.assigns(pair) {
            let slot = match a.target.name.as_str() {
                "max_attempts" => &mut retry.max_attempts,
                "backoff" => &mut retry.backoff,
                "max_backoff" => &mut retry.max_backoff,
                other => {
                    let mut d = Diagnostic::new(
                        Code::DslSyntax,
                        format!("unknown retry setting `{other}`"),
                        a.target.span,
                        "not a retry setting",
                    );
                    d = d.with_help(match suggestion(other, RETRY_KEYS) {
                        Some(s) => {
                            format!("{s} A retry block sets max_attempts, backoff and max_backoff.")
                        }
                        None => "a retry block sets max_attempts, backoff and max_backoff".into(),
                    });
                    self.push(d);
                    continue;
                }
            };
            let key: &'static str = match a.target.name.as_str() {
                "max_attempts" => "max_attempts",
                "backoff" => "backoff",
                _ => "max_backoff",
            };
            if seen.first(self, key, a.target.span) {
                *slot = Some(a.value);
            }
        }
        retry
    }

    /// `provider.action via conn { inputs } save { … } retry { … }`
    fn action(&mut self, pair: Pair<'_, Rule>) -> ActionStep {
        let span = self.span(&pair);
        let mut step = ActionStep {
            action: DottedName {
                parts: Vec::new(),
                span,
            },
            connection: None,
            inputs: Vec::new(),
            save: Vec::new(),
            retry: None,
        };
        let mut seen = Seen::default();
        for p in parts(pair) {
            match p.as_rule() {
                Rule::action_name => step.action = self.dotted(p),
                Rule::via => step.connection = Some(self.inner_ident(p)),
                Rule::inputs => step.inputs = self.fields(p),
                Rule::save => self.save_clause(&mut seen, &mut step.save, p),
                _ => self.retry_clause(&mut seen, &mut step.retry, p),
            }
        }
        step
    }

    /// `http METHOD url { auth … header … query … body … timeout … response … }`
    fn http(&mut self, pair: Pair<'_, Rule>) -> HttpStep {
        let span = self.span(&pair);
        let mut step = HttpStep {
            method: Ident {
                name: String::new(),
                span,
            },
            url: Expr {
                kind: ExprKind::Null,
                span,
            },
            auth: None,
            headers: Vec::new(),
            query: Vec::new(),
            body: None,
            timeout: None,
            response: Vec::new(),
            save: Vec::new(),
            retry: None,
        };
        let mut seen = Seen::default();
        for p in parts(pair) {
            match p.as_rule() {
                Rule::method => step.method = self.inner_ident(p),
                Rule::dsl_expr => step.url = self.expr(&p),
                Rule::http_block => self.http_block(&mut step, &mut seen, p),
                Rule::save => self.save_clause(&mut seen, &mut step.save, p),
                _ => self.retry_clause(&mut seen, &mut step.retry, p),
            }
        }
        step
    }

    fn http_block(&mut self, step: &mut HttpStep, seen: &mut Seen, pair: Pair<'_, Rule>) {
        for p in parts(pair) {
            let kw = self.keyword_span(&p);
            match p.as_rule() {
                Rule::auth => {
                    let auth = self.auth(p);
                    if self.once(seen, "auth", kw) {
                        step.auth = Some(auth);
                    }
                }
                Rule::header => {
                    if let Some(f) = parts(p).next() {
                        let f = self.field(f);
                        step.headers.push(f);
                    }
                }
                Rule::query => {
                    if let Some(f) = parts(p).next() {
                        let f = self.field(f);
                        step.query.push(f);
                    }
                }
                Rule::body => {
                    let body = self.body(p);
                    if self.once(seen, "body", kw) {
                        step.body = Some(body);
                    }
                }
                Rule::timeout => {
                    let e = self.inner_expr(p);
                    if self.once(seen, "timeout", kw) {
                        step.timeout = Some(e);
                    }
                }
                _ => {
                    let items = self.data_items(p);
                    if self.once(seen, "response", kw) {
                        step.response = items;
                    }
                }
            }
        }
    }

    /// `auth none | basic U P | bearer T | oauth2 URL ID SECRET scope S | header "N" V`
    fn auth(&mut self, pair: Pair<'_, Rule>) -> HttpAuth {
        let span = self.span(&pair);
        let Some(inner) = parts(pair).next() else {
            return HttpAuth {
                kind: HttpAuthKind::None,
                span,
            };
        };
        let rule = inner.as_rule();
        let inner_span = self.span(&inner);
        let children: Vec<_> = parts(inner).collect();
        let mut creds = children
            .iter()
            .filter(|p| p.as_rule() == Rule::credential)
            .cloned();
        let mut next_cred = |b: &mut Self, role: &str| {
            let c = creds.next();
            b.credential(None, c, inner_span, role)
        };
        let kind = match rule {
            Rule::auth_basic => {
                let username = next_cred(self, "username");
                let password = next_cred(self, "password");
                HttpAuthKind::Basic { username, password }
            }
            Rule::auth_bearer => HttpAuthKind::Bearer {
                token: next_cred(self, "token"),
            },
            Rule::auth_oauth2 => {
                let token_url = match children.iter().find(|p| p.as_rule() == Rule::dsl_expr) {
                    Some(e) => self.expr(e),
                    None => Expr {
                        kind: ExprKind::Null,
                        span: inner_span,
                    },
                };
                let client_id = next_cred(self, "client_id");
                let client_secret = next_cred(self, "client_secret");
                let scope = children
                    .iter()
                    .find(|p| p.as_rule() == Rule::scope)
                    .map(|s| self.inner_expr(s.clone()));
                HttpAuthKind::OAuth2 {
                    token_url,
                    client_id,
                    client_secret,
                    scope,
                }
            }
            Rule::auth_header => {
                let name = match children.iter().find(|p| p.as_rule() == Rule::string) {
                    Some(s) => self.string(s),
                    None => Str {
                        value: String::new(),
                        span: inner_span,
                    },
                };
                HttpAuthKind::Header {
                    name,
                    value: next_cred(self, "value"),
                }
            }
            _ => HttpAuthKind::None,
        };
        HttpAuth { kind, span }
    }

    /// `body json V | form { … } | xml E | text E`
    fn body(&mut self, pair: Pair<'_, Rule>) -> HttpBody {
        let span = self.span(&pair);
        let kind = match parts(pair).next() {
            Some(inner) => match inner.as_rule() {
                Rule::body_json => {
                    let span = self.span(&inner);
                    match parts(inner).next() {
                        Some(v) => HttpBodyKind::Json(self.value(v)),
                        None => HttpBodyKind::Json(crate::ast::Value::Map(Vec::new(), span)),
                    }
                }
                Rule::body_form => match parts(inner).next() {
                    Some(m) => HttpBodyKind::Form(self.fields(m)),
                    None => HttpBodyKind::Form(Vec::new()),
                },
                Rule::body_xml => HttpBodyKind::Xml(self.inner_expr(inner)),
                _ => HttpBodyKind::Text(self.inner_expr(inner)),
            },
            None => HttpBodyKind::Form(Vec::new()),
        };
        HttpBody { kind, span }
    }

    /// `wait EVENT via c for E poll D timeout D on_timeout s save { … }` or
    /// `wait signal NAME { fields } timeout D on_timeout s save { … }`
    fn wait(&mut self, pair: Pair<'_, Rule>) -> WaitStep {
        let span = self.span(&pair);
        let mut on = WaitOn::Event {
            event: DottedName {
                parts: Vec::new(),
                span,
            },
            connection: None,
            matching: None,
            poll: None,
        };
        let mut step_timeout = None;
        let mut on_timeout = None;
        let mut save = Vec::new();
        let mut seen = Seen::default();
        for p in parts(pair) {
            let kw = self.keyword_span(&p);
            let rule = p.as_rule();
            match rule {
                Rule::wait_signal => {
                    let mut it = parts(p);
                    let name = match it.next() {
                        Some(n) => self.ident(&n),
                        None => Ident {
                            name: String::new(),
                            span,
                        },
                    };
                    let fields = match it.next() {
                        Some(d) => self.data_items(d),
                        None => Vec::new(),
                    };
                    on = WaitOn::Signal { name, fields };
                }
                Rule::wait_event => {
                    if let Some(d) = parts(p).next() {
                        let event = self.dotted(d);
                        self.check_dotted(&event, "event name", "stripe.invoice.paid");
                        if let WaitOn::Event { event: e, .. } = &mut on {
                            *e = event;
                        }
                    }
                }
                Rule::via | Rule::wait_for | Rule::poll => {
                    let what = match rule {
                        Rule::via => "via",
                        Rule::wait_for => "for",
                        _ => "poll",
                    };
                    let first = self.once(&mut seen, what, kw);
                    match &mut on {
                        WaitOn::Event {
                            connection,
                            matching,
                            poll,
                            ..
                        } => match rule {
                            Rule::via => {
                                let c = self.inner_ident(p);
                                if first {
                                    *connection = Some(c);
                                }
                            }
                            Rule::wait_for => {
                                let e = self.inner_expr(p);
                                if first {
                                    *matching = Some(e);
                                }
                            }
                            _ => {
                                let e = self.inner_expr(p);
                                if first {
                                    *poll = Some(e);
                                }
                            }
                        },
                        WaitOn::Signal { .. } => self.push(
                            Diagnostic::new(
                                Code::DslSyntax,
                                format!(
                                    "`{what}` belongs to a wait for an event, not for a signal"
                                ),
                                kw,
                                "not for a signal",
                            )
                            .with_help("a signal wait takes `timeout`, `on_timeout` and `save`"),
                        ),
                    }
                }
                Rule::timeout => {
                    let e = self.inner_expr(p);
                    if self.once(&mut seen, "timeout", kw) {
                        step_timeout = Some(e);
                    }
                }
                Rule::on_timeout => {
                    let t = self.inner_ident(p);
                    if self.once(&mut seen, "on_timeout", kw) {
                        on_timeout = Some(t);
                    }
                }
                _ => self.save_clause(&mut seen, &mut save, p),
            }
        }
        WaitStep {
            on,
            timeout: step_timeout,
            on_timeout,
            save,
        }
    }

    /// `timer until E` / `timer for D`
    fn timer(&mut self, pair: Pair<'_, Rule>) -> TimerStep {
        let span = self.span(&pair);
        match parts(pair).next() {
            Some(p) if p.as_rule() == Rule::timer_until => TimerStep::Until(self.inner_expr(p)),
            Some(p) => TimerStep::For(self.inner_expr(p)),
            None => TimerStep::For(Expr {
                kind: ExprKind::Null,
                span,
            }),
        }
    }

    /// `if E { … } else { … }`
    fn if_step(&mut self, pair: Pair<'_, Rule>) -> IfStep {
        let span = self.span(&pair);
        let mut step = IfStep {
            condition: Expr {
                kind: ExprKind::Null,
                span,
            },
            then: Vec::new(),
            otherwise: Vec::new(),
        };
        for p in parts(pair) {
            match p.as_rule() {
                Rule::dsl_expr => step.condition = self.expr(&p),
                Rule::block => step.then = self.block(p),
                _ => {
                    if let Some(b) = parts(p).next() {
                        step.otherwise = self.block(b);
                    }
                }
            }
        }
        step
    }

    /// `switch E { case V, V { … } … default { … } }`
    fn switch(&mut self, pair: Pair<'_, Rule>) -> SwitchStep {
        let span = self.span(&pair);
        let mut step = SwitchStep {
            on: Expr {
                kind: ExprKind::Null,
                span,
            },
            cases: Vec::new(),
            default: None,
        };
        for p in parts(pair) {
            match p.as_rule() {
                Rule::dsl_expr => step.on = self.expr(&p),
                Rule::case => {
                    let span = self.span(&p);
                    let mut values = Vec::new();
                    let mut steps = Vec::new();
                    for c in parts(p) {
                        match c.as_rule() {
                            Rule::dsl_expr => values.push(self.expr(&c)),
                            _ => steps = self.block(c),
                        }
                    }
                    step.cases.push(Case {
                        values,
                        steps,
                        span,
                    });
                }
                _ => {
                    step.default = Some(match parts(p).next() {
                        Some(b) => self.block(b),
                        None => Vec::new(),
                    });
                }
            }
        }
        step
    }

    /// `for_each var in E { … }`
    fn for_each(&mut self, pair: Pair<'_, Rule>) -> ForEachStep {
        let span = self.span(&pair);
        let mut step = ForEachStep {
            over: Expr {
                kind: ExprKind::Null,
                span,
            },
            var: Ident {
                name: String::new(),
                span,
            },
            steps: Vec::new(),
        };
        for p in parts(pair) {
            match p.as_rule() {
                Rule::ident => step.var = self.ident(&p),
                Rule::dsl_expr => step.over = self.expr(&p),
                _ => step.steps = self.block(p),
            }
        }
        step
    }

    /// `batch provider.action via c cron "…" max N { inputs } save { … }`
    fn batch(&mut self, pair: Pair<'_, Rule>) -> BatchStep {
        let span = self.span(&pair);
        let mut step = BatchStep {
            action: DottedName {
                parts: Vec::new(),
                span,
            },
            connection: None,
            schedule: None,
            max: None,
            inputs: Vec::new(),
            save: Vec::new(),
            retry: None,
        };
        let mut seen = Seen::default();
        for p in parts(pair) {
            let kw = self.keyword_span(&p);
            match p.as_rule() {
                Rule::dotted => {
                    step.action = self.dotted(p);
                    let action = step.action.clone();
                    self.check_dotted(&action, "batch action name", "buckaroo.direct_debit_batch");
                }
                Rule::via => {
                    let c = self.inner_ident(p);
                    if self.once(&mut seen, "via", kw) {
                        step.connection = Some(c);
                    }
                }
                Rule::cron => {
                    let s = Schedule::Cron(self.inner_string(p));
                    if self.once(&mut seen, "a schedule (`cron` or `every`)", kw) {
                        step.schedule = Some(s);
                    }
                }
                Rule::every => {
                    let s = Schedule::Every(self.inner_expr(p));
                    if self.once(&mut seen, "a schedule (`cron` or `every`)", kw) {
                        step.schedule = Some(s);
                    }
                }
                Rule::max => {
                    let e = self.inner_expr(p);
                    if self.once(&mut seen, "max", kw) {
                        step.max = Some(e);
                    }
                }
                Rule::inputs => step.inputs = self.fields(p),
                Rule::save => self.save_clause(&mut seen, &mut step.save, p),
                _ => self.retry_clause(&mut seen, &mut step.retry, p),
            }
        }
        step
    }
}
