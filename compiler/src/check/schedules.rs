//! Scheduled starts (`start: { schedule: … }`): the cron expression and time
//! zone as the runtime reads them (`flowc_runtime::schedule`), the catch-up
//! policy, an `every` the binary can tick on (a duration literal), and the
//! data a scheduled issue starts with: the data items' defaults, so a
//! required item without one is E0509.

use super::Checker;
use crate::ast;
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::ir;
use crate::span::Span;

/// The catch-up policies, as the language spells them.
const CATCH_UP: &[&str] = &["last", "all"];

impl Checker<'_> {
    /// Checks a start's schedule and its options; lowers it.
    pub(crate) fn check_start_schedule(&mut self, s: &ast::ScheduleStart) -> ir::ScheduleStart {
        let schedule = self.check_schedule(&s.schedule);
        // A duration of another form (`${days(2)}`); a value of another type
        // is E0201 already.
        if let (ast::Schedule::Every(e), ir::Schedule::Every(typed)) = (&s.schedule, &schedule)
            && typed.ty == crate::check::types::Type::Duration
            && !matches!(typed.kind, ir::ExprKind::Duration { .. })
        {
            self.report(
                Diagnostic::new(
                    Code::InvalidSchedule,
                    "a schedule's interval is a duration written out",
                    e.span,
                    "computed",
                )
                .with_help("write the interval itself, e.g. `every: 1d`; the binary ticks on it before any issue exists"),
            );
        }
        if let Some(tz) = &s.timezone {
            self.check_timezone(tz, &s.schedule);
        }
        let catch_up = match &s.catch_up {
            None => ir::CatchUp::Last,
            Some(c) => match c.name.as_str() {
                "last" => ir::CatchUp::Last,
                "all" => ir::CatchUp::All,
                other => {
                    let mut d = Diagnostic::new(
                        Code::InvalidSchedule,
                        format!("`{other}` is not a catch-up policy"),
                        c.span,
                        "unknown policy",
                    );
                    d = d.with_help(match did_you_mean(other, CATCH_UP.iter().copied()) {
                        Some(m) => format!("did you mean `{m}`? `last` starts the newest tick missed while no worker ran, `all` every one"),
                        None => "write `last` (the newest tick missed while no worker ran; the default) or `all` (every one)".into(),
                    });
                    self.report(d);
                    ir::CatchUp::Last
                }
            },
        };
        ir::ScheduleStart {
            schedule,
            timezone: s.timezone.as_ref().map(|t| t.value.clone()),
            catch_up,
        }
    }

    /// An IANA time zone name, for a cron schedule only.
    fn check_timezone(&mut self, tz: &ast::Str, schedule: &ast::Schedule) {
        if let ast::Schedule::Every(e) = schedule {
            self.report(
                Diagnostic::new(
                    Code::InvalidSchedule,
                    "`timezone` goes with a cron schedule",
                    tz.span,
                    "no time zone for `every`",
                )
                .with_label(e.span, "ticks at multiples of this since 1970-01-01 UTC")
                .with_help("for a local time of day write a cron schedule, e.g. `{ cron: \"0 9 * * *\", timezone: Europe/Amsterdam }`"),
            );
            return;
        }
        if let Err(e) = flowc_runtime::schedule::parse_timezone(&tz.value) {
            let names = flowc_runtime::schedule::timezone_names();
            let help = match did_you_mean(&tz.value, names.iter().map(String::as_str)) {
                Some(m) => format!("did you mean `{m}`?"),
                None => {
                    "write an IANA time zone name such as `Europe/Amsterdam`, `Asia/Tokyo` or `UTC`"
                        .into()
                }
            };
            self.report(
                Diagnostic::new(Code::InvalidSchedule, e, tz.span, "unknown time zone")
                    .with_help(help),
            );
        }
    }

    /// E0509 for each schedule and required data item without a default: a
    /// scheduled issue starts with the defaults only.
    pub(crate) fn check_schedule_records(&mut self, flow: &ast::Flow) {
        let required: Vec<(String, Span)> = flow
            .data
            .iter()
            .filter(|d| d.constraints.required.is_some() && d.constraints.default.is_none())
            .map(|d| (d.name.name.clone(), d.name.span))
            .collect();
        if required.is_empty() {
            return;
        }
        for start in &flow.start {
            let ast::StartKind::Schedule(s) = &start.kind else {
                continue;
            };
            let (what, span) = match &s.schedule {
                ast::Schedule::Cron(c) => (format!("cron `{}`", c.value), c.span),
                ast::Schedule::Every(e) => (
                    format!("`every {}`", crate::syntax::expr::print_expr(e)),
                    e.span,
                ),
            };
            for (item, item_span) in &required {
                self.report(
                    Diagnostic::new(
                        Code::ScheduleLeavesDataEmpty,
                        format!("{what} starts issues without the required data item `{item}`"),
                        span,
                        "starts issues with the defaults only",
                    )
                    .with_label(*item_span, "required, without a default")
                    .with_help(format!(
                        "a scheduled issue starts with the data items' defaults; give `{item}` a default, or make it optional and fill it in a step"
                    )),
                );
            }
        }
    }
}
