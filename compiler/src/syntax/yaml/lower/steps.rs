//! Steps: a list of maps, each with an `id` and exactly one kind key.

use super::{Lowerer, get, head, keys};
use crate::ast::{
    ActionStep, BatchStep, Case, ForEachStep, IfStep, Step, StepKind, SwitchStep, TimerStep,
    WaitOn, WaitStep,
};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::span::Span;
use crate::syntax::yaml::node::{Entry, Node, NodeKind};

impl Lowerer<'_> {
    /// A list of steps (`steps:`, `then:`, `do:`, …).
    pub(super) fn steps(&mut self, node: &Node, what: &str) -> Vec<Step> {
        let Some(items) = self.seq(node, &format!("`{what}`")) else {
            return Vec::new();
        };
        items.iter().filter_map(|n| self.step(n)).collect()
    }

    /// One step; `None` (with errors reported) when it has no usable id or kind.
    fn step(&mut self, node: &Node) -> Option<Step> {
        let entries = self.map(node, "a step")?;
        let step_head = head(node);
        let kinds: Vec<&Entry> = entries
            .iter()
            .filter(|e| keys::STEP_KINDS.contains(&e.key.value.as_str()))
            .collect();
        let context = match get(entries, keys::STEP_ID).and_then(|e| e.value.as_scalar()) {
            Some(id) => format!("step `{}`", id.value),
            None => "a step".to_owned(),
        };
        let Some(kind_entry) = kinds.first().copied() else {
            self.step_without_kind(entries, step_head, &context);
            return None;
        };
        for extra in &kinds[1..] {
            self.report(
                Diagnostic::new(
                    Code::WrongShape,
                    format!(
                        "{context} has two kinds: `{}` and `{}`",
                        kind_entry.key.value, extra.key.value
                    ),
                    extra.key.span,
                    "second kind",
                )
                .with_label(kind_entry.key.span, "first kind")
                .with_help("a step has exactly one kind key; split it into two steps"),
            );
        }
        let kind_name = kind_entry.key.value.as_str();
        let allowed = keys::step_keys(kind_name);
        for e in entries {
            let key = e.key.value.as_str();
            if key != keys::STEP_ID && !keys::STEP_KINDS.contains(&key) && !allowed.contains(&key) {
                self.step_unknown_key(e, kind_name, allowed, &context);
            }
        }
        let id = match get(entries, keys::STEP_ID) {
            Some(e) => self.ident(&e.value, "step id"),
            None => {
                self.missing(
                    step_head,
                    &format!("this `{kind_name}` step"),
                    "id",
                    "id: <step name>",
                );
                None
            }
        };
        let kind = self.step_kind(kind_entry, entries, &context);
        Some(Step {
            id: id?,
            kind: kind?,
            span: node.span,
        })
    }

    /// A step with no kind key: unknown keys (with "did you mean") and E0011.
    fn step_without_kind(&mut self, entries: &[Entry], step_head: Span, context: &str) {
        let all = keys::all_step_keys();
        let mut near_kind = false;
        for e in entries {
            let key = e.key.value.as_str();
            if all.contains(&key) {
                continue;
            }
            if let Some(best) = did_you_mean(key, keys::STEP_KINDS.iter().copied()) {
                near_kind = true;
                self.report(
                    Diagnostic::new(
                        Code::UnknownKey,
                        format!("unknown key `{key}` in {context}"),
                        e.key.span,
                        "unknown key",
                    )
                    .with_help(format!("did you mean `{best}`?")),
                );
            } else {
                self.unknown_key(&e.key, &all, context);
            }
        }
        if !near_kind {
            self.report(
                Diagnostic::new(
                    Code::MissingKey,
                    format!("{context} has no kind"),
                    step_head,
                    "what does this step do?",
                )
                .with_help(format!("add one of {}", super::list(keys::STEP_KINDS))),
            );
        }
    }

    /// E0010 on a step key, saying which kind it belongs to if any.
    fn step_unknown_key(&mut self, e: &Entry, kind: &str, allowed: &[&str], context: &str) {
        let key = e.key.value.as_str();
        let mut candidates = vec![keys::STEP_ID];
        candidates.extend_from_slice(allowed);
        let owner = keys::STEP_KINDS
            .iter()
            .find(|k| keys::step_keys(k).contains(&key));
        let help = match (did_you_mean(key, candidates.iter().copied()), owner) {
            (Some(best), _) => format!("did you mean `{best}`?"),
            (None, Some(owner)) => {
                format!("`{key}` belongs to `{owner}` steps, not `{kind}` steps")
            }
            (None, None) if allowed.is_empty() => {
                format!("a `{kind}` step has only `id` and `{kind}`")
            }
            (None, None) => format!(
                "a `{kind}` step takes `id`, `{kind}`, {}",
                super::list(allowed)
            ),
        };
        self.report(
            Diagnostic::new(
                Code::UnknownKey,
                format!("unknown key `{key}` in {context}"),
                e.key.span,
                "unknown key",
            )
            .with_help(help),
        );
    }

    fn step_kind(&mut self, kind: &Entry, entries: &[Entry], context: &str) -> Option<StepKind> {
        let node = &kind.value;
        let expr_of = |lw: &mut Self, key: &str| {
            get(entries, key).and_then(|e| lw.expr(&e.value, &format!("`{key}`")))
        };
        let save = |lw: &mut Self| {
            get(entries, "save").map_or_else(Vec::new, |e| lw.assigns(&e.value, "`save`"))
        };
        let connection = |lw: &mut Self| {
            get(entries, "connection").and_then(|e| lw.ident(&e.value, "connection name"))
        };
        let inputs = |lw: &mut Self| {
            get(entries, "with").map_or_else(Vec::new, |e| lw.fields(&e.value, "`with`"))
        };
        Some(match kind.key.value.as_str() {
            "action" => {
                let action = self.dotted(node, "action name", "stripe.create_charge");
                let connection = connection(self);
                let inputs = inputs(self);
                let save = save(self);
                let retry = get(entries, "retry").and_then(|e| self.retry(&e.value));
                StepKind::Action(ActionStep {
                    action: action?,
                    connection,
                    inputs,
                    save,
                    retry,
                })
            }
            "http" => StepKind::Http(self.http(kind, entries)?),
            "wait" => {
                let on = self.wait_on(kind);
                let timeout = expr_of(self, "timeout");
                let on_timeout =
                    get(entries, "on_timeout").and_then(|e| self.ident(&e.value, "step id"));
                let save = save(self);
                StepKind::Wait(WaitStep {
                    on: on?,
                    timeout,
                    on_timeout,
                    save,
                })
            }
            "timer" => StepKind::Timer(self.timer(kind)?),
            "if" => {
                let condition = self.expr(node, "the condition");
                let then = match get(entries, "then") {
                    Some(e) => self.steps(&e.value, "then"),
                    None => {
                        self.missing(kind.key.span, context, "then", "then: [ … ]");
                        Vec::new()
                    }
                };
                let otherwise =
                    get(entries, "else").map_or_else(Vec::new, |e| self.steps(&e.value, "else"));
                StepKind::If(IfStep {
                    condition: condition?,
                    then,
                    otherwise,
                })
            }
            "switch" => {
                let on = self.expr(node, "the value to switch on");
                let cases = match get(entries, "cases") {
                    Some(e) => self.cases(&e.value),
                    None => {
                        self.missing(kind.key.span, context, "cases", "cases: [ … ]");
                        Vec::new()
                    }
                };
                let default = get(entries, "default").map(|e| self.steps(&e.value, "default"));
                StepKind::Switch(SwitchStep {
                    on: on?,
                    cases,
                    default,
                })
            }
            "for_each" => {
                let over = self.expr(node, "the table to loop over");
                let var = match get(entries, "as") {
                    Some(e) => self.ident(&e.value, "loop variable"),
                    None => {
                        self.missing(kind.key.span, context, "as", "as: line");
                        None
                    }
                };
                let steps = match get(entries, "do") {
                    Some(e) => self.steps(&e.value, "do"),
                    None => {
                        self.missing(kind.key.span, context, "do", "do: [ … ]");
                        Vec::new()
                    }
                };
                StepKind::ForEach(ForEachStep {
                    over: over?,
                    var: var?,
                    steps,
                })
            }
            "set" => StepKind::Set(self.assigns(node, "`set`")),
            "fail" => StepKind::Fail(self.expr(node, "the failure message")?),
            "end" => match node.as_scalar() {
                Some(s) if s.is_empty_plain() || (s.value == "null" && !s.style.is_quoted()) => {
                    StepKind::End(None)
                }
                _ => StepKind::End(Some(self.ident(node, "end state")?)),
            },
            "goto" => StepKind::Goto(self.ident(node, "step id")?),
            "batch" => {
                let action = self.dotted(node, "batch action name", "buckaroo.direct_debit_batch");
                let connection = connection(self);
                let schedule = get(entries, "schedule").and_then(|e| self.schedule(&e.value));
                let max = expr_of(self, "max");
                let inputs = inputs(self);
                let save = save(self);
                let retry = get(entries, "retry").and_then(|e| self.retry(&e.value));
                StepKind::Batch(BatchStep {
                    action: action?,
                    connection,
                    schedule,
                    max,
                    inputs,
                    save,
                    retry,
                })
            }
            _ => return None,
        })
    }

    /// `wait: { event: …, for: …, poll: …, connection: … }` or
    /// `wait: { signal: …, data: { … } }`.
    fn wait_on(&mut self, kind: &Entry) -> Option<WaitOn> {
        let entries = self.map(&kind.value, "`wait`")?;
        match (get(entries, "event"), get(entries, "signal")) {
            (Some(event), None) => {
                self.check_keys(entries, keys::WAIT_EVENT, "a wait for an event");
                let event = self.dotted(&event.value, "event name", "stripe.invoice.paid");
                let connection = get(entries, "connection")
                    .and_then(|e| self.ident(&e.value, "connection name"));
                let matching = get(entries, "for").and_then(|e| self.expr(&e.value, "`for`"));
                let poll = get(entries, "poll").and_then(|e| self.expr(&e.value, "`poll`"));
                Some(WaitOn::Event {
                    event: event?,
                    connection,
                    matching,
                    poll,
                })
            }
            (None, Some(signal)) => {
                self.check_keys(entries, keys::WAIT_SIGNAL, "a wait for a signal");
                let name = self.ident(&signal.value, "signal name");
                let fields = get(entries, "data")
                    .map_or_else(Vec::new, |e| self.data_items(&e.value, "data"));
                Some(WaitOn::Signal {
                    name: name?,
                    fields,
                })
            }
            (Some(_), Some(second)) => {
                self.report(Diagnostic::new(
                    Code::WrongShape,
                    "a wait is for an `event` or a `signal`, not both",
                    second.key.span,
                    "second thing to wait for",
                ));
                None
            }
            (None, None) => {
                self.report(
                    Diagnostic::new(
                        Code::MissingKey,
                        "a wait needs `event` or `signal`",
                        kind.key.span,
                        "wait for what?",
                    )
                    .with_help(
                        "write `wait: { event: stripe.invoice.paid, for: ${…} }` or `wait: { signal: approve }`",
                    ),
                );
                None
            }
        }
    }

    /// `timer: { until: … }` or `timer: { for: … }`.
    fn timer(&mut self, kind: &Entry) -> Option<TimerStep> {
        let entries = self.map(&kind.value, "`timer`")?;
        self.check_keys(entries, keys::TIMER, "`timer`");
        match (get(entries, "until"), get(entries, "for")) {
            (Some(until), None) => Some(TimerStep::Until(self.expr(&until.value, "`until`")?)),
            (None, Some(dur)) => Some(TimerStep::For(self.expr(&dur.value, "`for`")?)),
            (Some(_), Some(second)) => {
                self.report(Diagnostic::new(
                    Code::WrongShape,
                    "a timer has either `until` or `for`, not both",
                    second.key.span,
                    "second timer",
                ));
                None
            }
            (None, None) => {
                self.report(
                    Diagnostic::new(
                        Code::MissingKey,
                        "a timer needs `until` or `for`",
                        kind.key.span,
                        "wait until when?",
                    )
                    .with_help("write `timer: { until: \"${due_date}\" }` or `timer: { for: 7d }`"),
                );
                None
            }
        }
    }

    /// `cases: [ { when: [ … ], steps: [ … ] }, … ]`
    fn cases(&mut self, node: &Node) -> Vec<Case> {
        let Some(items) = self.seq(node, "`cases`") else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| {
                let entries = self.map(item, "a case")?;
                self.check_keys(entries, keys::CASE, "a case");
                let values = match get(entries, "when") {
                    Some(e) => match &e.value.kind {
                        NodeKind::Seq(values) => values
                            .iter()
                            .filter_map(|v| self.expr(v, "a case value"))
                            .collect(),
                        _ => self.expr(&e.value, "a case value").into_iter().collect(),
                    },
                    None => {
                        self.missing(head(item), "a case", "when", "when: [\"81\"]");
                        Vec::new()
                    }
                };
                let steps = match get(entries, "steps") {
                    Some(e) => self.steps(&e.value, "steps"),
                    None => {
                        self.missing(head(item), "a case", "steps", "steps: [ … ]");
                        Vec::new()
                    }
                };
                Some(Case {
                    values,
                    steps,
                    span: item.span,
                })
            })
            .collect()
    }
}
