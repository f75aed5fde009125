//! The checker: resolves names, types every expression, checks action inputs
//! against the provider catalog, and lowers the AST to the IR.
//!
//! It runs in phases over one `Checker`, each reporting every error it
//! finds and going on:
//!
//! 1. **declare** (`data`, `connections`, `steps`): data item types,
//!    connections, step ids and what each step resolves to (its provider
//!    action or event, and so its results);
//! 2. **check**: data constraints, connections and credentials, starts, and
//!    every step's expressions and inputs (`expr`, `functions`,
//!    `values`, `actions`, `http`, `assign`; waits, timers and jump
//!    targets in `control`);
//! 3. **control** (`control`): unreachable steps, a flow without steps;
//! 4. **whole-flow scans**: literal secrets (`secrets`), unused data items;
//! 5. **lower** (`lower`): the typed pieces built while checking become the
//!    [`ir::Flow`], when there were no errors.
//!
//! A name that does not resolve types as [`types::Type::Error`], which fits
//! everywhere, so one typo gives one diagnostic.

mod actions;
mod assign;
mod connections;
mod control;
mod data;
mod expr;
mod file_settings;
pub mod functions;
mod http;
mod literals;
mod lower;
mod schedules;
mod scope;
mod secrets;
mod steps;
mod triggers;
pub mod types;
mod values;

use crate::ast;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::ir;
use crate::span::Span;
use foldhash::{HashMap, HashMapExt};
use scope::Scope;

/// Checks a flow; returns the IR (when there were no errors) and every diagnostic.
///
/// Pure and total: it never panics, whatever the AST.
pub fn check(flow: &ast::Flow) -> (Option<ir::Flow>, Diagnostics) {
    let mut checker = Checker::new(flow);
    let parts = checker.run();
    let lowered = (!checker.diags.has_errors()).then(|| lower::assemble(flow, parts));
    (lowered, checker.diags)
}

/// The IR pieces built while checking.
#[derive(Debug, Default)]
pub(crate) struct Parts {
    pub data: Vec<ir::DataItem>,
    pub connections: Vec<ir::Connection>,
    pub start: Vec<ir::Start>,
    pub steps: Vec<ir::Step>,
}

/// The state of one check.
#[derive(Debug)]
pub(crate) struct Checker<'a> {
    pub flow: &'a ast::Flow,
    pub diags: Diagnostics,
    pub scope: Scope<'a>,
    /// What each step resolved to in the declare phase, by step address.
    pub decls: HashMap<usize, steps::StepDecl>,
    /// Compiled `pattern` constraints (`None`: the pattern is invalid).
    pub regexes: HashMap<String, Option<regex::Regex>>,
    /// The type of every declared item (data items, columns, response and
    /// signal fields), by item address.
    pub item_types: HashMap<usize, types::Type>,
    /// Every `for_each` variable, for a hint when one is used outside its loop.
    pub loop_var_decls: HashMap<&'a str, Span>,
    /// Steps suggested for unknown jump targets: they count as targets, so
    /// one typo in a `goto` does not also make its step unreachable.
    pub suggested_targets: std::collections::HashSet<String>,
    /// Typed outputs of catalog actions and events, by outputs address.
    pub results_cache: HashMap<usize, std::sync::Arc<[(String, types::Type)]>>,
}

impl<'a> Checker<'a> {
    fn new(flow: &'a ast::Flow) -> Self {
        Checker {
            flow,
            diags: Diagnostics::new(),
            scope: Scope::default(),
            decls: HashMap::new(),
            regexes: HashMap::new(),
            item_types: HashMap::new(),
            loop_var_decls: HashMap::new(),
            suggested_targets: Default::default(),
            results_cache: HashMap::new(),
        }
    }

    fn run(&mut self) -> Parts {
        let flow = self.flow;
        self.declare_data(&flow.data);
        self.declare_connections(&flow.connections);
        self.declare_steps(&flow.steps);
        let mut parts = Parts {
            data: self.check_data(&flow.data),
            connections: self.check_connections(&flow.connections),
            start: self.check_starts(&flow.start),
            steps: Vec::new(),
        };
        self.check_trigger_records(flow, &parts.start);
        self.check_schedule_records(flow);
        parts.steps = self.check_block(&flow.steps);
        self.check_control(flow);
        self.scan_secrets(flow);
        self.report_unused_data();
        parts
    }

    pub(crate) fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The key of a step in [`Checker::decls`].
    pub(crate) fn step_key(step: &ast::Step) -> usize {
        std::ptr::from_ref(step) as usize
    }

    /// W0002 for every data item that nothing reads or writes.
    fn report_unused_data(&mut self) {
        let unused: Vec<(String, Span)> = self
            .scope
            .data
            .iter()
            .filter(|d| !d.used)
            .map(|d| (d.item.name.name.clone(), d.item.name.span))
            .collect();
        for (name, span) in unused {
            self.report(
                Diagnostic::new(
                    Code::UnusedDataItem,
                    format!("data item `{name}` is never used"),
                    span,
                    "declared here, never read or written",
                )
                .with_help(format!(
                    "remove `{name}`, or use it in a step (e.g. `${{{name}}}`)"
                )),
            );
        }
    }
}

/// "`a`, `b` and `c`" for help texts.
pub(crate) fn list_names<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// "a `string`", "an `integer`": a type name with its article.
pub(crate) fn a(name: impl std::fmt::Display) -> String {
    let name = name.to_string();
    let article = match name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    };
    format!("{article} `{name}`")
}

/// "`a`, `b` or `c`" for help texts.
pub(crate) fn list_alternatives<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
