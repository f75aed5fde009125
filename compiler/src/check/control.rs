//! Control flow: a flow needs steps (E0405), and a step after one that
//! never falls through (`end`, `fail`, `goto`, or an `if`/`switch` whose
//! every branch does) is unreachable (E0403) unless a jump targets it.
//! Jump targets themselves are checked where the jump is
//! ([`Checker::jump_target`]); waits where the wait is.

use super::Checker;
use crate::ast::{self, StepKind};
use crate::diagnostic::{Code, Diagnostic};
use std::collections::HashSet;

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
