//! Steps: the declare phase (ids, what each step resolves to, its results)
//! and the check phase (every expression and input of every step, lowered
//! to IR steps).

use super::Checker;
use super::actions::{ResolvedAction, ResolvedEvent, catalog_results};
use super::expr::error_expr;
use super::scope::{Binding, LoopVar, Results, StepEntry};
use super::types::Type;
use super::values::Expected;
use crate::ast::{self, StepKind};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::ir;
use crate::span::Span;
use std::collections::HashMap;
use std::sync::Arc;

/// What a step resolved to in the declare phase.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepDecl {
    /// Action and batch steps.
    pub action: Option<ResolvedAction>,
    /// Waits for an event.
    pub event: Option<ResolvedEvent>,
    /// Declared fields: HTTP response fields, signal data.
    pub fields: Vec<(String, Type)>,
}

impl<'a> Checker<'a> {
    /// Declares every step id (nested too) and resolves what each step calls.
    pub(crate) fn declare_steps(&mut self, steps: &'a [ast::Step]) {
        self.declare_block(steps, true);
    }

    fn declare_block(&mut self, steps: &'a [ast::Step], top_level: bool) {
        for step in steps {
            let decl = self.declare_step(step);
            let results = self.step_results(step, &decl);
            if let Some((_, data)) = self.scope.data_entry(&step.id.name) {
                let at = data.item.name.span;
                self.report(
                    Diagnostic::new(
                        Code::DuplicateId,
                        format!("`{}` is both a data item and a step id", step.id.name),
                        step.id.span,
                        "step id",
                    )
                    .with_label(at, "data item defined here")
                    .with_help("steps and data items share one namespace; rename the step"),
                );
            } else if let Err(first) = self.scope.declare_step(StepEntry {
                step,
                top_level,
                results,
            }) {
                self.duplicate(&step.id, first, "step id");
            }
            self.decls.insert(Self::step_key(step), decl);
            if let StepKind::ForEach(each) = &step.kind {
                self.loop_var_decls
                    .entry(each.var.name.as_str())
                    .or_insert(each.var.span);
            }
            for child in step.children() {
                self.declare_block(child, false);
            }
        }
    }

    fn declare_step(&mut self, step: &ast::Step) -> StepDecl {
        let mut decl = StepDecl::default();
        match &step.kind {
            StepKind::Action(a) => {
                decl.action = self.resolve_action(&a.action, a.connection.as_ref(), false);
            }
            StepKind::Batch(b) => {
                decl.action = self.resolve_action(&b.action, b.connection.as_ref(), true);
            }
            StepKind::Wait(w) => match &w.on {
                ast::WaitOn::Event {
                    event, connection, ..
                } => decl.event = self.resolve_event(event, connection.as_ref()),
                ast::WaitOn::Signal { fields, .. } => {
                    decl.fields = self.resolve_fields(fields, "signal field");
                }
            },
            StepKind::Http(h) => decl.fields = self.resolve_fields(&h.response, "response field"),
            _ => {}
        }
        decl
    }

    /// Checks a block of steps; lowers them.
    pub(crate) fn check_block(&mut self, steps: &'a [ast::Step]) -> Vec<ir::Step> {
        steps.iter().map(|s| self.check_step(s)).collect()
    }

    fn check_step(&mut self, step: &'a ast::Step) -> ir::Step {
        let decl = self.decls.remove(&Self::step_key(step)).unwrap_or_default();
        let kind = match &step.kind {
            StepKind::Action(a) => self.check_action(a, &decl),
            StepKind::Batch(b) => self.check_batch(b, &decl),
            StepKind::Http(h) => ir::StepKind::Http(Box::new(self.check_http(h))),
            StepKind::Wait(w) => ir::StepKind::Wait(self.check_wait(step, w, &decl)),
            StepKind::Timer(t) => ir::StepKind::Timer(self.check_timer(t)),
            StepKind::If(s) => {
                let condition = self.expect(
                    &s.condition,
                    &Expected::new(Type::Bool, "the condition of `if`"),
                );
                ir::StepKind::If {
                    condition,
                    then: self.check_block(&s.then),
                    otherwise: self.check_block(&s.otherwise),
                }
            }
            StepKind::Switch(s) => self.check_switch(s),
            StepKind::ForEach(each) => self.check_for_each(each),
            StepKind::Set(assigns) => ir::StepKind::Set(self.check_assigns(assigns)),
            StepKind::Fail(message) => ir::StepKind::Fail(self.scalar(message)),
            StepKind::End(status) => ir::StepKind::End(self.check_end(status.as_ref())),
            StepKind::Goto(target) => ir::StepKind::Goto(self.jump_target(target, "goto")),
        };
        ir::Step {
            id: step.id.name.clone(),
            kind,
        }
    }

    fn check_action(&mut self, a: &ast::ActionStep, decl: &StepDecl) -> ir::StepKind {
        let (provider, action, connection, inputs) = match &decl.action {
            Some(r) => (
                r.provider.name.clone(),
                r.action.name.clone(),
                r.connection.clone().unwrap_or_default(),
                self.check_inputs(r, &a.inputs, &a.action),
            ),
            None => (
                String::new(),
                a.action.text(),
                String::new(),
                self.fields_any(&a.inputs),
            ),
        };
        ir::StepKind::Action(ir::Action {
            provider,
            action,
            connection,
            inputs,
            save: self.check_assigns(&a.save),
            retry: a.retry.as_ref().map(|r| self.check_retry(r)),
        })
    }

    fn check_batch(&mut self, b: &ast::BatchStep, decl: &StepDecl) -> ir::StepKind {
        let (provider, action, connection, inputs) = match &decl.action {
            Some(r) => (
                r.provider.name.clone(),
                r.action.name.clone(),
                r.connection.clone().unwrap_or_default(),
                self.check_inputs(r, &b.inputs, &b.action),
            ),
            None => (
                String::new(),
                b.action.text(),
                String::new(),
                self.fields_any(&b.inputs),
            ),
        };
        let max = b.max.as_ref().map(|m| {
            let mut want = Expected::new(Type::Integer, "`max` of a batch");
            want.limits.min = Some(1.into());
            self.expect(m, &want)
        });
        ir::StepKind::Batch(ir::Batch {
            provider,
            action,
            connection,
            schedule: b.schedule.as_ref().map(|s| self.check_schedule(s)),
            max,
            inputs,
            save: self.check_assigns(&b.save),
        })
    }

    /// Types fields without a schema (when the action did not resolve).
    pub(crate) fn fields_any(&mut self, fields: &[ast::Field]) -> Vec<ir::Field> {
        fields
            .iter()
            .map(|f| ir::Field {
                name: f.name.name.clone(),
                value: self.value_any(&f.value),
            })
            .collect()
    }

    fn check_http(&mut self, h: &ast::HttpStep) -> ir::Http {
        const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];
        let method = h.method.name.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            self.report(
                Diagnostic::new(
                    Code::TypeMismatch,
                    format!("`{}` is not an HTTP method flowc supports", h.method.name),
                    h.method.span,
                    "unknown method",
                )
                .with_help(format!("use {}", super::list_alternatives(METHODS))),
            );
        }
        let url = self.expect(&h.url, &Expected::new(Type::Url, "the URL"));
        let auth = h
            .auth
            .as_ref()
            .map(|a| self.check_http_auth(a))
            .unwrap_or(ir::HttpAuth::None);
        let headers = h
            .headers
            .iter()
            .map(|f| self.scalar_field(f, "header"))
            .collect();
        let query = h
            .query
            .iter()
            .map(|f| self.scalar_field(f, "query parameter"))
            .collect();
        let body = h.body.as_ref().map(|b| match &b.kind {
            ast::HttpBodyKind::Json(v) => ir::HttpBody::Json(match v {
                ast::Value::Map(entries, _) => ir::Value::Map(self.map_entries(entries, true)),
                ast::Value::Expr(e) => ir::Value::Expr(self.expr(e)),
            }),
            ast::HttpBodyKind::Form(fields) => ir::HttpBody::Form(
                fields
                    .iter()
                    .map(|f| self.scalar_field(f, "form field"))
                    .collect(),
            ),
            ast::HttpBodyKind::Xml(e) => {
                ir::HttpBody::Xml(self.expect(e, &Expected::new(Type::Text, "an XML body")))
            }
            ast::HttpBodyKind::Text(e) => {
                ir::HttpBody::Text(self.expect(e, &Expected::new(Type::Text, "a text body")))
            }
        });
        let timeout = h
            .timeout
            .as_ref()
            .map(|t| self.duration(t, "the HTTP timeout"));
        let response = h
            .response
            .iter()
            .map(|item| self.check_item(item))
            .collect();
        ir::Http {
            method,
            url,
            auth,
            headers,
            query,
            body,
            timeout,
            response,
            save: self.check_assigns(&h.save),
            retry: h.retry.as_ref().map(|r| self.check_retry(r)),
        }
    }

    /// A header, query parameter or form field: one value.
    fn scalar_field(&mut self, f: &ast::Field, what: &str) -> ir::Field {
        let value = match &f.value {
            ast::Value::Expr(e) => ir::Value::Expr(self.scalar(e)),
            ast::Value::Map(_, span) => {
                self.report(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        format!("{what} `{}` must be a single value, not a map", f.name.name),
                        *span,
                        "a map",
                    )
                    .with_help("write one value; a map only fits a JSON body"),
                );
                self.value_any(&f.value)
            }
        };
        ir::Field {
            name: f.name.name.clone(),
            value,
        }
    }

    fn check_http_auth(&mut self, auth: &ast::HttpAuth) -> ir::HttpAuth {
        use ast::HttpAuthKind as K;
        let cred = |c: &ast::Credential, this: &mut Self| this.credential_source(c, None);
        match &auth.kind {
            K::None => ir::HttpAuth::None,
            K::Basic { username, password } => ir::HttpAuth::Basic {
                username: cred(username, self),
                password: cred(password, self),
            },
            K::Bearer { token } => ir::HttpAuth::Bearer(cred(token, self)),
            K::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scope,
            } => ir::HttpAuth::OAuth2 {
                token_url: self.expect(token_url, &Expected::new(Type::Url, "the token URL")),
                client_id: cred(client_id, self),
                client_secret: cred(client_secret, self),
                scope: scope
                    .as_ref()
                    .map(|s| self.expect(s, &Expected::new(Type::String, "the scope"))),
            },
            K::Header { name, value } => ir::HttpAuth::Header {
                name: name.value.clone(),
                value: cred(value, self),
            },
        }
    }

    fn check_wait(&mut self, step: &ast::Step, w: &ast::WaitStep, decl: &StepDecl) -> ir::Wait {
        let on = match &w.on {
            ast::WaitOn::Event {
                event,
                matching,
                poll,
                ..
            } => {
                let matching = matching.as_ref().map(|m| match &decl.event {
                    Some(r) => {
                        let ty = r
                            .event
                            .object
                            .as_ref()
                            .filter(|kind| r.provider.id_kind(kind).is_some())
                            .map(|kind| Type::Id {
                                provider: r.provider.name.clone(),
                                kind: kind.clone(),
                            })
                            .unwrap_or(Type::String);
                        let what = format!("the object of `{}`", event.text());
                        self.expect(m, &Expected::new(ty, what))
                    }
                    None => self.expr(m),
                });
                let poll = poll.as_ref().map(|p| {
                    let typed = self.duration(p, "the poll interval");
                    self.warn_short_poll(p, "poll");
                    typed
                });
                let (provider, event_name, connection) = match &decl.event {
                    Some(r) => (
                        r.provider.name.clone(),
                        r.event.name.clone(),
                        r.connection.clone().unwrap_or_default(),
                    ),
                    None => (String::new(), event.text(), String::new()),
                };
                ir::WaitOn::Event {
                    provider,
                    event: event_name,
                    connection,
                    matching,
                    poll,
                }
            }
            ast::WaitOn::Signal { name, fields } => ir::WaitOn::Signal {
                name: name.name.clone(),
                fields: fields.iter().map(|f| self.check_item(f)).collect(),
            },
        };
        let timeout = match &w.timeout {
            Some(t) => self.duration(t, "the timeout of a wait"),
            None => {
                self.report(
                    Diagnostic::new(
                        Code::WaitWithoutTimeout,
                        format!("wait `{}` has no timeout", step.id.name),
                        step.id.span,
                        "could wait forever",
                    )
                    .with_help("add how long to wait: `timeout: 7d` (DSL: `timeout 7d`)"),
                );
                error_expr()
            }
        };
        let on_timeout = match &w.on_timeout {
            Some(target) => self.jump_target(target, "on_timeout"),
            None => {
                self.report(
                    Diagnostic::new(
                        Code::WaitWithoutOnTimeout,
                        format!("wait `{}` has no `on_timeout` step", step.id.name),
                        step.id.span,
                        "where does the flow go when the wait times out?",
                    )
                    .with_help("add the step to continue at: `on_timeout: remind` (DSL: `on_timeout remind`)"),
                );
                String::new()
            }
        };
        ir::Wait {
            on,
            timeout,
            on_timeout,
            save: self.check_assigns(&w.save),
        }
    }

    /// W0001 when a literal poll interval is under 15 seconds.
    pub(crate) fn warn_short_poll(&mut self, e: &ast::Expr, what: &str) {
        if let ast::ExprKind::Duration(d) = &e.kind
            && d.as_seconds() < 15
        {
            self.report(
                Diagnostic::new(
                    Code::ShortPollInterval,
                    format!("`{what}` {}{} polls more often than every 15 seconds", d.value, d.unit.suffix()),
                    e.span,
                    "polls too often",
                )
                .with_help("providers rate-limit polling; poll every `15s` or more (webhooks deliver events sooner)"),
            );
        }
    }

    /// A duration-typed expression.
    pub(crate) fn duration(&mut self, e: &ast::Expr, what: &str) -> ir::Expr {
        self.expect(e, &Expected::new(Type::Duration, what))
    }

    fn check_timer(&mut self, t: &ast::TimerStep) -> ir::Timer {
        match t {
            ast::TimerStep::For(e) => ir::Timer::For(self.duration(e, "`timer for`")),
            ast::TimerStep::Until(e) => {
                let mut typed = self.expr(e);
                match (&typed.ty, &e.kind) {
                    (Type::Date | Type::Datetime | Type::Error | Type::Json, _) => {}
                    (_, ast::ExprKind::Str(_)) => {
                        typed = self.expect(e, &Expected::new(Type::Datetime, "`timer until`"));
                    }
                    (found, _) => {
                        let found = found.clone();
                        self.report(
                            Diagnostic::new(
                                Code::TypeMismatch,
                                format!(
                                    "`timer until` needs a date or datetime, but this is `{found}`"
                                ),
                                e.span,
                                format!("this is `{found}`"),
                            )
                            .with_help(
                                "wait for a duration with `timer: { for: 7d }`, or give a date",
                            ),
                        );
                    }
                }
                ir::Timer::Until(typed)
            }
        }
    }

    fn check_switch(&mut self, s: &'a ast::SwitchStep) -> ir::StepKind {
        let on = self.expr(&s.on);
        let mut seen: HashMap<String, Span> = HashMap::new();
        let mut cases = Vec::with_capacity(s.cases.len());
        for case in &s.cases {
            let mut values = Vec::with_capacity(case.values.len());
            for v in &case.values {
                let typed = if let (Some(options), ast::ExprKind::Str(text)) =
                    (on.ty.select_options(), &v.kind)
                {
                    let options = options.to_vec();
                    self.check_option(text, &options, v.span);
                    self.expr(v)
                } else {
                    let typed = self.expr(v);
                    if super::types::comparable(&on.ty, &typed.ty).is_err()
                        && !(on.ty.is_number() && typed.ty.is_number())
                    {
                        self.report(
                            Diagnostic::new(
                                Code::TypeMismatch,
                                format!(
                                    "this case is `{}`, but the switch is on `{}`",
                                    typed.ty, on.ty
                                ),
                                v.span,
                                format!("this is `{}`", typed.ty),
                            )
                            .with_label(s.on.span, format!("this is `{}`", on.ty))
                            .with_help(format!("give case values of type `{}`", on.ty)),
                        );
                    }
                    typed
                };
                if let Some(key) = literal_key(v) {
                    if let Some(&first) = seen.get(&key) {
                        self.report(
                            Diagnostic::new(
                                Code::DuplicateId,
                                format!("case value {key} is given twice"),
                                v.span,
                                "given again here",
                            )
                            .with_label(first, "first given here")
                            .with_help("the first matching case wins; remove this value"),
                        );
                    } else {
                        seen.insert(key, v.span);
                    }
                }
                values.push(typed);
            }
            cases.push(ir::Case {
                values,
                steps: self.check_block(&case.steps),
            });
        }
        let default = s
            .default
            .as_ref()
            .map(|d| self.check_block(d))
            .unwrap_or_default();
        ir::StepKind::Switch { on, cases, default }
    }

    fn check_for_each(&mut self, each: &'a ast::ForEachStep) -> ir::StepKind {
        let over = self.expr(&each.over);
        let row = match &over.ty {
            Type::Table(columns) => Type::Row(columns.clone()),
            t if t.is_unknown() => Type::Error,
            other => {
                self.report(
                    Diagnostic::new(
                        Code::LoopOverNonTable,
                        format!("`for_each` loops over a table, but this is `{other}`"),
                        each.over.span,
                        format!("this is `{other}`, not a table"),
                    )
                    .with_help("loop over a `table` data item (rows with typed columns)"),
                );
                Type::Error
            }
        };
        if let Some(at) = self.scope.declaration_span(&each.var.name) {
            self.report(
                Diagnostic::new(
                    Code::DuplicateId,
                    format!(
                        "loop variable `{}` has the name of a data item or step",
                        each.var.name
                    ),
                    each.var.span,
                    "loop variable",
                )
                .with_label(at, "also declared here")
                .with_help("give the loop variable its own name, e.g. `as: line`"),
            );
        }
        self.scope.loop_vars.push(LoopVar {
            name: &each.var,
            row,
        });
        let steps = self.check_block(&each.steps);
        self.scope.loop_vars.pop();
        ir::StepKind::ForEach {
            over,
            var: each.var.name.clone(),
            steps,
        }
    }

    fn check_end(&mut self, status: Option<&ast::Ident>) -> ir::EndStatus {
        match status.map(|s| s.name.as_str()) {
            None | Some("completed") => ir::EndStatus::Completed,
            Some("cancelled") => ir::EndStatus::Cancelled,
            Some(other) => {
                let span = status.map(|s| s.span).unwrap_or_default();
                let mut d = Diagnostic::new(
                    Code::TypeMismatch,
                    format!("`end` takes `completed` or `cancelled`, not `{other}`"),
                    span,
                    "unknown end status",
                );
                if let Some(best) = did_you_mean(other, ["completed", "cancelled"]) {
                    d = d.with_help(format!("did you mean `{best}`?"));
                } else {
                    d = d.with_help("write `end: completed` or `end: cancelled`");
                }
                self.report(d);
                ir::EndStatus::Completed
            }
        }
    }

    fn check_retry(&mut self, r: &ast::Retry) -> ir::Retry {
        ir::Retry {
            max_attempts: r.max_attempts.as_ref().map(|e| {
                let mut want = Expected::new(Type::Integer, "`max_attempts`");
                want.limits.min = Some(1.into());
                self.expect(e, &want)
            }),
            backoff: r.backoff.as_ref().map(|e| self.duration(e, "`backoff`")),
            max_backoff: r
                .max_backoff
                .as_ref()
                .map(|e| self.duration(e, "`max_backoff`")),
        }
    }

    /// `set` / `save` assignments: each target is a data item (or a column of
    /// the current row), each value fits its target.
    pub(crate) fn check_assigns(&mut self, assigns: &[ast::Assign]) -> Vec<ir::Assign> {
        let mut out = Vec::with_capacity(assigns.len());
        for a in assigns {
            match self.assign_target(&a.target) {
                Some((target, want)) => {
                    let value = self.expect(&a.value, &want);
                    out.push(ir::Assign { target, value });
                }
                None => {
                    let value = self.expr(&a.value);
                    out.push(ir::Assign {
                        target: ir::Target::Data(a.target.name.clone()),
                        value,
                    });
                }
            }
        }
        out
    }

    /// Resolves an assignment target; reports what it cannot be.
    fn assign_target(&mut self, target: &ast::Ident) -> Option<(ir::Target, Expected<'static>)> {
        let parts: Vec<&str> = target.name.split('.').collect();
        let base = parts[0];
        let start = target.span.start as usize;
        let base_span = Span::new(
            start,
            (start + base.len())
                .min(target.span.end as usize)
                .max(start),
        );
        match (self.scope.lookup(base), parts.as_slice()) {
            (Some(Binding::Data(i)), [_]) => {
                let entry = &mut self.scope.data[i];
                entry.used = true;
                let want = Expected::new(entry.ty.clone(), format!("`{base}`"))
                    .declared_at(entry.item.ty.span);
                Some((ir::Target::Data(base.to_owned()), want))
            }
            (Some(Binding::Loop(i)), [_, field]) => {
                let var = &self.scope.loop_vars[i];
                let column = var
                    .row
                    .columns()
                    .and_then(|cols| cols.iter().find(|c| c.name == *field))
                    .map(|c| c.ty.clone());
                let names: Vec<String> = var
                    .row
                    .columns()
                    .map(|cols| cols.iter().map(|c| c.name.clone()).collect())
                    .unwrap_or_default();
                let is_error = var.row.is_unknown();
                match column {
                    Some(ty) => Some((
                        ir::Target::LoopField {
                            var: base.to_owned(),
                            field: (*field).to_owned(),
                        },
                        Expected::new(ty, format!("`{base}.{field}`")),
                    )),
                    None if is_error => None,
                    None => {
                        let mut d = Diagnostic::new(
                            Code::UnknownField,
                            format!("`{base}` has no column `{field}`"),
                            target.span,
                            "unknown column",
                        );
                        if let Some(best) = did_you_mean(field, names.iter().map(String::as_str)) {
                            d = d.with_help(format!("did you mean `{base}.{best}`?"));
                        }
                        self.report(d);
                        None
                    }
                }
            }
            (Some(Binding::Data(_) | Binding::Loop(_)), _) => {
                self.report(
                    Diagnostic::new(
                        Code::UnknownField,
                        format!("`{}` cannot be set", target.name),
                        target.span,
                        "not a data item or a column of the current row",
                    )
                    .with_help("set a data item (`total`), or a column of the `for_each` row (`line.amount`)"),
                );
                None
            }
            (Some(Binding::Step), _) => {
                self.report(
                    Diagnostic::new(
                        Code::UnknownReference,
                        format!("`{base}` is a step, not a data item"),
                        base_span,
                        "a step's results cannot be set",
                    )
                    .with_help("declare a data item under `data:` and set that"),
                );
                None
            }
            (None, _) => {
                let mut d = Diagnostic::new(
                    Code::UnknownReference,
                    format!("unknown data item `{base}`"),
                    base_span,
                    "not a data item",
                );
                let best = did_you_mean(base, self.scope.data_names()).map(str::to_owned);
                d = match best {
                    Some(best) => {
                        if let Some(at) = self.scope.declaration_span(&best) {
                            d = d.with_label(at, format!("`{best}` is declared here"));
                        }
                        d.with_help(format!("did you mean `{best}`?"))
                    }
                    None => {
                        d.with_help(format!("declare `{base}` under `data:` to keep this value"))
                    }
                };
                self.report(d);
                None
            }
        }
    }

    /// A jump target: a top-level step (E0102 unknown, E0404 nested).
    pub(crate) fn jump_target(&mut self, target: &ast::Ident, how: &str) -> String {
        match self.scope.steps.get(target.name.as_str()) {
            Some(entry) if entry.top_level => {}
            Some(entry) => {
                let at = entry.step.id.span;
                self.report(
                    Diagnostic::new(
                        Code::InvalidJumpTarget,
                        format!("`{how}` cannot jump into a nested block: `{}` is inside another step", target.name),
                        target.span,
                        "a nested step",
                    )
                    .with_label(at, "declared inside a block here")
                    .with_help(format!(
                        "`{how}` targets top-level steps only; jump to the step that holds `{}`, or move it to the top level",
                        target.name
                    )),
                );
            }
            None => {
                let names: Vec<&str> = self.scope.top_level_step_names().collect();
                let mut d = Diagnostic::new(
                    Code::UnknownStep,
                    format!("unknown step `{}`", target.name),
                    target.span,
                    "no step has this id",
                );
                let best = did_you_mean(&target.name, names.iter().copied()).map(str::to_owned);
                d = match best {
                    Some(best) => {
                        if let Some(entry) = self.scope.steps.get(best.as_str()) {
                            d = d.with_label(
                                entry.step.id.span,
                                format!("`{best}` is declared here"),
                            );
                        }
                        d = d.with_help(format!("did you mean `{best}`?"));
                        // The author meant `best`: it is a jump target, so
                        // it is not reported as unreachable.
                        self.suggested_targets.insert(best);
                        d
                    }
                    None if names.is_empty() => d.with_help("add a step with this id"),
                    None => d.with_help(format!(
                        "the top-level steps are {}",
                        super::list_names(&names)
                    )),
                };
                self.report(d);
            }
        }
        target.name.clone()
    }
}

impl Checker<'_> {
    /// The results a step offers to `${step.field}`.
    fn step_results(&mut self, step: &ast::Step, decl: &StepDecl) -> Results {
        match &step.kind {
            StepKind::Action(_) | StepKind::Batch(_) => match &decl.action {
                Some(r) => Results::Fields(self.catalog_results(&r.action.outputs)),
                None => Results::Unknown,
            },
            StepKind::Wait(w) => match (&w.on, &decl.event) {
                (ast::WaitOn::Event { .. }, Some(r)) => {
                    Results::Fields(self.catalog_results(&r.event.outputs))
                }
                (ast::WaitOn::Event { .. }, None) => Results::Unknown,
                (ast::WaitOn::Signal { .. }, _) => Results::Fields(decl.fields.clone().into()),
            },
            StepKind::Http(_) => {
                let mut fields = vec![("status".to_owned(), Type::Integer)];
                fields.extend(decl.fields.iter().cloned());
                Results::Fields(fields.into())
            }
            _ => Results::None,
        }
    }

    /// The typed outputs of a catalog action or event, built once each.
    fn catalog_results(
        &mut self,
        outputs: &'static [flowc_catalog::Field],
    ) -> Arc<[(String, Type)]> {
        let key = outputs.as_ptr() as usize;
        self.results_cache
            .entry(key)
            .or_insert_with(|| catalog_results(outputs).into())
            .clone()
    }
}

/// A comparable key for a literal case value.
fn literal_key(e: &ast::Expr) -> Option<String> {
    match &e.kind {
        ast::ExprKind::Str(s) => Some(format!("`\"{s}\"`")),
        ast::ExprKind::Int(n) => Some(format!("`{n}`")),
        ast::ExprKind::Bool(b) => Some(format!("`{b}`")),
        ast::ExprKind::Decimal(d) => Some(format!("`{d}`")),
        _ => None,
    }
}
