//! Top-level items: the flow header, the data block, connections, starts
//! and steps.

use super::{Builder, Seen, parts};
use crate::ast::{
    Connection, DataItem, Ident, Schedule, ScheduleStart, Start, StartKind, Step, Str,
};
use crate::span::Span;
use crate::syntax::dsl::grammar::Rule;
use pest::iterators::Pair;

/// One top-level item of a DSL file.
#[derive(Debug)]
pub(in crate::syntax::dsl) enum Item {
    Header {
        name: Ident,
        description: Option<Str>,
        span: Span,
    },
    Data {
        items: Vec<DataItem>,
        span: Span,
    },
    Connection(Box<Connection>),
    Start(Start),
    Step(Box<Step>),
}

impl Item {
    /// The item's whole span.
    pub(in crate::syntax::dsl) fn span(&self) -> Span {
        match self {
            Item::Header { span, .. } | Item::Data { span, .. } => *span,
            Item::Connection(c) => c.span,
            Item::Start(s) => s.span,
            Item::Step(s) => s.span,
        }
    }

    /// The keyword that starts the item.
    pub(in crate::syntax::dsl) fn keyword(&self) -> &'static str {
        match self {
            Item::Header { .. } => "flow",
            Item::Data { .. } => "data",
            Item::Connection(_) => "connection",
            Item::Start(_) => "start",
            Item::Step(_) => "step",
        }
    }

    /// The span of the item's keyword.
    pub(in crate::syntax::dsl) fn keyword_span(&self) -> Span {
        let start = self.span().start as usize;
        Span::new(start, start + self.keyword().len())
    }
}

impl Builder<'_> {
    /// Builds the items of a parsed `items` or `item` pair.
    pub(in crate::syntax::dsl) fn items(&mut self, pair: Pair<'_, Rule>) -> Vec<Item> {
        parts(pair).map(|p| self.item(p)).collect()
    }

    /// Builds one top-level item from its pair (`step`, `connection`, …).
    fn item(&mut self, inner: Pair<'_, Rule>) -> Item {
        match inner.as_rule() {
            Rule::flow_header => self.header(inner),
            Rule::data_block => {
                let span = self.span(&inner);
                Item::Data {
                    items: self.data_items(inner),
                    span,
                }
            }
            Rule::connection => Item::Connection(Box::new(self.connection(inner))),
            Rule::start => Item::Start(self.start(inner)),
            _ => Item::Step(Box::new(self.step(inner))),
        }
    }

    /// `flow name "description"`
    fn header(&mut self, pair: Pair<'_, Rule>) -> Item {
        let span = self.span(&pair);
        let mut name = None;
        let mut description = None;
        for p in parts(pair) {
            match p.as_rule() {
                Rule::ident => name = Some(self.ident(&p)),
                _ => description = Some(self.string(&p)),
            }
        }
        Item::Header {
            name: name.unwrap_or(Ident {
                name: String::new(),
                span,
            }),
            description,
            span,
        }
    }

    /// `connection name: provider mode { … }`
    fn connection(&mut self, pair: Pair<'_, Rule>) -> Connection {
        let span = self.span(&pair);
        let mut names = Vec::new();
        let mut mode = None;
        let mut credentials = Vec::new();
        let mut settings = Vec::new();
        for p in parts(pair) {
            match p.as_rule() {
                Rule::ident => names.push(self.ident(&p)),
                Rule::mode => mode = Some(self.inner_ident(p)),
                _ => {
                    for entry in parts(p) {
                        match entry.as_rule() {
                            Rule::setting => {
                                if let Some(f) = parts(entry).next() {
                                    settings.push(self.field(f));
                                }
                            }
                            _ => credentials.push(self.credential_field(entry)),
                        }
                    }
                }
            }
        }
        let mut names = names.into_iter();
        let missing = Ident {
            name: String::new(),
            span,
        };
        let name = names.next().unwrap_or_else(|| missing.clone());
        let provider = names.next().unwrap_or(missing);
        Connection {
            name,
            provider,
            mode,
            credentials,
            settings,
            span,
        }
    }

    /// `name = env("X")` in a connection block.
    fn credential_field(&mut self, pair: Pair<'_, Rule>) -> crate::ast::Credential {
        let span = self.span(&pair);
        let mut it = parts(pair);
        let name = it.next().map(|p| self.name(&p));
        if let Some(n) = &name {
            self.check_field_name(n, "credential name");
        }
        let mut cred = self.credential(name, it.next(), span, "");
        cred.span = span;
        cred
    }

    /// `start input` / `start every 1d` / `start cron "…"` /
    /// `start event x.y via c every 5m`
    fn start(&mut self, pair: Pair<'_, Rule>) -> Start {
        let span = self.span(&pair);
        let mut it = parts(pair);
        let kind = match it.next() {
            Some(p) => match p.as_rule() {
                Rule::cron => {
                    let cron = Schedule::Cron(self.inner_string(p));
                    StartKind::Schedule(self.schedule_options(cron, it))
                }
                Rule::every => {
                    let every = Schedule::Every(self.inner_expr(p));
                    StartKind::Schedule(self.schedule_options(every, it))
                }
                Rule::start_event => self.start_event(p),
                _ => StartKind::Input,
            },
            None => StartKind::Input,
        };
        Start { kind, span }
    }

    /// The options after `start cron "…"` / `start every 1d`: `timezone "…"`
    /// and `catch_up last|all`, each once.
    fn schedule_options<'i>(
        &mut self,
        schedule: Schedule,
        options: impl Iterator<Item = Pair<'i, Rule>>,
    ) -> ScheduleStart {
        let mut s = ScheduleStart::new(schedule);
        let mut seen = Seen::default();
        for p in options {
            let kw = self.keyword_span(&p);
            match p.as_rule() {
                Rule::timezone => {
                    let tz = self.inner_string(p);
                    if self.once(&mut seen, "timezone", kw) {
                        s.timezone = Some(tz);
                    }
                }
                _ => {
                    let policy = self.inner_ident(p);
                    if self.once(&mut seen, "catch_up", kw) {
                        s.catch_up = Some(policy);
                    }
                }
            }
        }
        s
    }

    fn start_event(&mut self, pair: Pair<'_, Rule>) -> StartKind {
        let span = self.span(&pair);
        let mut event = None;
        let mut connection = None;
        let mut every = None;
        for p in parts(pair) {
            match p.as_rule() {
                Rule::dotted => {
                    let e = self.dotted(p);
                    self.check_dotted(&e, "event name", "stripe.charge.succeeded");
                    event = Some(e);
                }
                Rule::via => connection = Some(self.inner_ident(p)),
                _ => every = Some(self.inner_expr(p)),
            }
        }
        StartKind::Event {
            event: event.unwrap_or(crate::ast::DottedName {
                parts: Vec::new(),
                span,
            }),
            connection,
            every,
        }
    }

    /// Reports a second `via`, schedule, … of one construct.
    pub(super) fn once(&mut self, seen: &mut Seen, what: &'static str, span: Span) -> bool {
        seen.first(self, what, span)
    }
}
