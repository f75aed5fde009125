//! Control flow: waits (a timeout, E0401, and an `on_timeout` step, E0402),
//! timers, jump targets (top-level steps: E0102, E0404), a flow needs steps
//! (E0405), and a step after one that never falls through (`end`, `fail`,
//! `goto`, or an `if`/`switch` whose every branch does) is unreachable
//! (E0403) unless a jump targets it.

use super::Checker;
use super::expr::error_expr;
use super::steps::StepDecl;
use super::types::Type;
use super::values::Expected;
use crate::ast::{self, StepKind};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::ir;
use foldhash::{HashSet, HashSetExt};

impl Checker<'_> {
    pub(crate) fn check_wait(
        &mut self,
        step: &ast::Step,
        w: &ast::WaitStep,
        decl: &StepDecl,
    ) -> ir::Wait {
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
                    if let Some(r) = &decl.event {
                        self.poll_served(p, r, "poll");
                    }
                    self.require_literal(
                        &typed,
                        p.span,
                        "`poll` of an event wait",
                        super::literals::Literal::Duration,
                    );
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

    /// E0406 when the provider cannot list the event (the catalog's `poll` is
    /// false: a Buckaroo response file): a `poll` or `every` would never find it.
    pub(crate) fn poll_served(
        &mut self,
        e: &ast::Expr,
        r: &super::actions::ResolvedEvent,
        what: &str,
    ) {
        if r.event.poll {
            return;
        }
        let how = if r.event.file {
            "it comes back as a file"
        } else {
            "it comes by webhook only"
        };
        self.report(
            Diagnostic::new(
                Code::PollNotServed,
                format!(
                    "`{}.{}` cannot be polled: {how}",
                    r.provider.name, r.event.name
                ),
                e.span,
                format!("`{what}` would never find it"),
            )
            .with_help(format!("remove `{what}`")),
        );
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

    pub(crate) fn check_timer(&mut self, t: &ast::TimerStep) -> ir::Timer {
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
    pub(crate) fn check_control(&mut self, flow: &ast::Flow) {
        if flow.steps.is_empty() {
            self.report(
                Diagnostic::new(
                    Code::EmptySteps,
                    format!("flow `{}` has no steps", flow.name.name),
                    flow.name.span,
                    "nothing to run",
                )
                .with_help("add a step, e.g. `- { id: done, end: completed }` under `steps:` (DSL: `step done = end completed`)"),
            );
            return;
        }
        let mut targets: HashSet<&str> = HashSet::new();
        ast::walk_steps(&flow.steps, &mut |step| match &step.kind {
            StepKind::Goto(t) => {
                targets.insert(t.name.as_str());
            }
            StepKind::Wait(w) => {
                if let Some(t) = &w.on_timeout {
                    targets.insert(t.name.as_str());
                }
            }
            _ => {}
        });
        let suggested = std::mem::take(&mut self.suggested_targets);
        targets.extend(suggested.iter().map(String::as_str));
        self.check_reachable(&flow.steps, true, &targets);
    }

    /// Reports the first step of each unreachable run in `steps`; looks into
    /// nested blocks of reachable steps only (no cascades).
    fn check_reachable(&mut self, steps: &[ast::Step], top_level: bool, targets: &HashSet<&str>) {
        let mut stopped_at: Option<&ast::Step> = None;
        let mut reported = false;
        for step in steps {
            if let Some(stop) = stopped_at {
                if top_level && targets.contains(step.id.name.as_str()) {
                    stopped_at = None;
                    reported = false;
                } else {
                    if !reported {
                        self.report_unreachable(step, stop, top_level);
                        reported = true;
                    }
                    continue;
                }
            }
            for block in step.children() {
                self.check_reachable(block, false, targets);
            }
            if terminates(step) {
                stopped_at = Some(step);
            }
        }
    }

    fn report_unreachable(&mut self, step: &ast::Step, stop: &ast::Step, top_level: bool) {
        let why = match &stop.kind {
            StepKind::End(_) => format!("the flow ends at `{}`", stop.id.name),
            StepKind::Fail(_) => format!("the flow fails at `{}`", stop.id.name),
            StepKind::Goto(t) => format!("`{}` always jumps to `{}`", stop.id.name, t.name),
            _ => format!("every branch of `{}` ends or jumps away", stop.id.name),
        };
        let help = if top_level {
            format!(
                "remove `{}`, move it before `{}`, or jump to it with a `goto`",
                step.id.name, stop.id.name
            )
        } else {
            format!(
                "remove `{}` or move it before `{}`; a nested step cannot be a jump target",
                step.id.name, stop.id.name
            )
        };
        self.report(
            Diagnostic::new(
                Code::UnreachableStep,
                format!("step `{}` can never run", step.id.name),
                step.id.span,
                "unreachable",
            )
            .with_label(stop.id.span, why)
            .with_help(help),
        );
    }
}

/// Whether control never goes on to the next step after `step`.
fn terminates(step: &ast::Step) -> bool {
    match &step.kind {
        StepKind::End(_) | StepKind::Fail(_) | StepKind::Goto(_) => true,
        StepKind::If(s) => block_terminates(&s.then) && block_terminates(&s.otherwise),
        StepKind::Switch(s) => {
            s.default.as_deref().is_some_and(block_terminates)
                && s.cases.iter().all(|c| block_terminates(&c.steps))
        }
        _ => false,
    }
}

/// A block terminates when one of its steps does (the rest is dead).
fn block_terminates(steps: &[ast::Step]) -> bool {
    steps.iter().any(terminates)
}
