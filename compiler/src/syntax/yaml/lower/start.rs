//! `start:` (one start or a list) and schedules.

use super::{Lowerer, get, keys};
use crate::ast::{Schedule, ScheduleStart, Start, StartKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::yaml::node::{Entry, Node, NodeKind};

const START_HELP: &str = "a start is `input`, `{ schedule: { every: 1d } }`, \
                          `{ schedule: { cron: \"0 9 * * 1-5\" } }` or \
                          `{ event: stripe.charge.succeeded, connection: stripe, every: 5m }`";

impl Lowerer<'_> {
    /// `start: input`, `start: { … }` or `start: [ … ]`.
    pub(super) fn starts(&mut self, node: &Node) -> Vec<Start> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().filter_map(|n| self.start(n)).collect(),
            _ => self.start(node).into_iter().collect(),
        }
    }

    fn start(&mut self, node: &Node) -> Option<Start> {
        let kind = match &node.kind {
            NodeKind::Scalar(s) if s.value == "input" && !s.style.is_quoted() => StartKind::Input,
            NodeKind::Map(entries) => {
                self.check_keys(entries, keys::START, "a start");
                match (get(entries, "schedule"), get(entries, "event")) {
                    (Some(schedule), None) => {
                        for key in ["connection", "every"] {
                            if let Some(e) = get(entries, key) {
                                self.report(
                                    Diagnostic::new(
                                        Code::UnknownKey,
                                        format!("`{key}` belongs to an event start"),
                                        e.key.span,
                                        "not used by a schedule",
                                    )
                                    .with_help("write `start: { schedule: { every: 1d } }`"),
                                );
                            }
                        }
                        StartKind::Schedule(self.start_schedule(&schedule.value)?)
                    }
                    (None, Some(event)) => StartKind::Event {
                        event: self.dotted(
                            &event.value,
                            "event name",
                            "stripe.charge.succeeded",
                        )?,
                        connection: get(entries, "connection")
                            .and_then(|e| self.ident(&e.value, "connection name")),
                        every: get(entries, "every").and_then(|e| self.expr(&e.value, "`every`")),
                    },
                    (Some(_), Some(second)) => {
                        self.report(
                            Diagnostic::new(
                                Code::WrongShape,
                                "a start has either `schedule` or `event`, not both",
                                second.key.span,
                                "second kind of start",
                            )
                            .with_help("write two starts as a list: `start: [ …, … ]`"),
                        );
                        return None;
                    }
                    (None, None) => {
                        self.report(
                            Diagnostic::new(
                                Code::MissingKey,
                                "a start needs `schedule` or `event`",
                                node.span,
                                "not a start",
                            )
                            .with_help(START_HELP),
                        );
                        return None;
                    }
                }
            }
            NodeKind::Invalid => return None,
            NodeKind::Scalar(s) => {
                self.report(
                    Diagnostic::new(
                        Code::WrongShape,
                        format!("`{}` is not a start", s.value),
                        node.span,
                        "not a start",
                    )
                    .with_help(START_HELP),
                );
                return None;
            }
            NodeKind::Seq(_) => {
                self.report(
                    Diagnostic::new(
                        Code::WrongShape,
                        "a start cannot be a list inside a list",
                        node.span,
                        "not a start",
                    )
                    .with_help(START_HELP),
                );
                return None;
            }
        };
        Some(Start {
            kind,
            span: node.span,
        })
    }

    /// A start's `{ every: 1d }` or `{ cron: "0 9 * * 1-5", timezone: …,
    /// catch_up: … }`.
    fn start_schedule(&mut self, node: &Node) -> Option<ScheduleStart> {
        let entries = self.map(node, "`schedule`")?;
        self.check_keys(entries, keys::START_SCHEDULE, "`schedule`");
        let schedule = self.schedule_of(entries, node)?;
        Some(ScheduleStart {
            schedule,
            timezone: get(entries, "timezone").and_then(|e| self.text(&e.value, "`timezone`")),
            catch_up: get(entries, "catch_up").and_then(|e| self.ident(&e.value, "`catch_up`")),
        })
    }

    /// A batch's `{ every: 1d }` or `{ cron: "0 6 * * *" }`.
    pub(super) fn schedule(&mut self, node: &Node) -> Option<Schedule> {
        let entries = self.map(node, "`schedule`")?;
        self.check_keys(entries, keys::SCHEDULE, "`schedule`");
        self.schedule_of(entries, node)
    }

    /// The `cron` or `every` of a schedule map.
    fn schedule_of(&mut self, entries: &[Entry], node: &Node) -> Option<Schedule> {
        match (get(entries, "cron"), get(entries, "every")) {
            (Some(cron), None) => Some(Schedule::Cron(self.text(&cron.value, "`cron`")?)),
            (None, Some(every)) => Some(Schedule::Every(self.expr(&every.value, "`every`")?)),
            (Some(_), Some(second)) => {
                self.report(Diagnostic::new(
                    Code::WrongShape,
                    "a schedule has either `cron` or `every`, not both",
                    second.key.span,
                    "second schedule",
                ));
                None
            }
            (None, None) => {
                self.report(
                    Diagnostic::new(
                        Code::MissingKey,
                        "a schedule needs `cron` or `every`",
                        node.span,
                        "no schedule",
                    )
                    .with_help("write `{ every: 1d }` or `{ cron: \"0 9 * * 1-5\" }`"),
                );
                None
            }
        }
    }
}
