//! Steps: the declare phase (ids, what each step resolves to, its results)
//! and the check phase (every expression and input of every step, lowered
//! to IR steps).

use super::Checker;
use super::actions::{ResolvedAction, ResolvedEvent, catalog_results};
use super::literals::Literal;
use super::scope::{LoopVar, Results, StepEntry};
use super::types::Type;
use super::values::Expected;
use crate::ast::{self, StepKind};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::ir;
use crate::span::Span;
use foldhash::{HashMap, HashMapExt};
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
                } => decl.event = self.resolve_event(event, connection.as_ref(), false),
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
            let typed = self.expect(m, &want);
            self.require_literal(&typed, m.span, "`max` of a batch", Literal::Integer);
            typed
        });
        ir::StepKind::Batch(Box::new(ir::Batch {
            provider,
            action,
            connection,
            schedule: b.schedule.as_ref().map(|s| {
                let checked = self.check_schedule(s);
                self.check_batch_cron(s, &checked);
                checked
            }),
            max,
            inputs,
            save: self.check_assigns(&b.save),
            retry: b.retry.as_ref().map(|r| self.check_retry(r)),
        }))
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
            Type::Table(columns) if matches!(over.kind, ir::ExprKind::Data(_)) => {
                Type::Row(columns.clone())
            }
            Type::Table(_) => {
                self.report(
                    Diagnostic::new(
                        Code::LoopOverNonTable,
                        "`for_each` loops over a table data item, and this is not one",
                        each.over.span,
                        "a table, but not a data item",
                    )
                    .with_help("the runtime loops over the rows of the issue's own `table` data items only"),
                );
                Type::Error
            }
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

    pub(crate) fn check_retry(&mut self, r: &ast::Retry) -> ir::Retry {
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

impl Checker<'_> {
    /// E0513: a batch closes on `every` or once a day (`cron: "M H * * *"`);
    /// another cron line (weekdays only, every 15 minutes) is one the
    /// runtime's batches cannot keep.
    fn check_batch_cron(&mut self, written: &ast::Schedule, checked: &ir::Schedule) {
        let (ast::Schedule::Cron(cron), ir::Schedule::Cron(line)) = (written, checked) else {
            return;
        };
        if flowc_runtime::schedule::parse_cron(line).is_err() {
            return; // E0506 already
        }
        let daily = match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            [m, h, "*", "*", "*"] => m.parse::<i8>().is_ok() && h.parse::<i8>().is_ok(),
            _ => false,
        };
        if !daily {
            self.report(
                Diagnostic::new(
                    Code::UnsupportedBatchSchedule,
                    format!("a batch cannot close on `{line}` yet: only once a day"),
                    cron.span,
                    "not a daily time",
                )
                .with_help("write a time of day, `cron: \"0 6 * * *\"` (minute and hour as numbers), or an interval, `every: 1h`"),
            );
        }
    }
}
