//! Names in scope: data items, steps (with their results), `for_each`
//! variables and connections. Everything is indexed in hash maps; candidate
//! lists for "did you mean" are only built when a diagnostic needs one.

use super::types::Type;
use crate::ast;
use crate::span::Span;
use foldhash::HashMap;
use std::sync::Arc;

/// A declared data item (the first one, when a name is declared twice).
#[derive(Debug)]
pub(crate) struct DataEntry<'a> {
    pub item: &'a ast::DataItem,
    pub ty: Type,
    /// Read or written anywhere (for W0002).
    pub used: bool,
}

/// What `${step.field}` can read from a step.
#[derive(Debug, Clone, Default)]
pub(crate) enum Results {
    /// The step has no results (`set`, `if`, …).
    #[default]
    None,
    /// Named, typed fields, in catalog or declaration order (shared: one
    /// list per catalog action or event).
    Fields(Arc<[(String, Type)]>),
    /// The step's action or event did not resolve (already reported): any
    /// field reads as [`Type::Error`].
    Unknown,
}

impl Results {
    pub fn field(&self, name: &str) -> Option<&Type> {
        match self {
            Results::Fields(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, t)| t),
            _ => None,
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        let fields: &[(String, Type)] = match self {
            Results::Fields(fields) => fields,
            _ => &[],
        };
        fields.iter().map(|(n, _)| n.as_str())
    }
}

/// A declared step (the first one, when an id is used twice).
#[derive(Debug)]
pub(crate) struct StepEntry<'a> {
    pub step: &'a ast::Step,
    /// Whether the step is in the top-level block (a valid jump target).
    pub top_level: bool,
    pub results: Results,
}

/// A `for_each` variable in scope.
#[derive(Debug)]
pub(crate) struct LoopVar<'a> {
    pub name: &'a ast::Ident,
    /// The row type of the table looped over.
    pub row: Type,
}

/// What a name refers to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Binding {
    Data(usize),
    Step,
    Loop(usize),
}

/// Every name of the flow.
#[derive(Debug, Default)]
pub(crate) struct Scope<'a> {
    pub data: Vec<DataEntry<'a>>,
    data_index: HashMap<&'a str, usize>,
    pub steps: HashMap<&'a str, StepEntry<'a>>,
    /// Step ids in source order (for stable "did you mean" answers).
    step_order: Vec<&'a str>,
    pub connections: HashMap<&'a str, &'a ast::Connection>,
    /// Connection names in source order.
    pub connection_order: Vec<&'a ast::Connection>,
    pub loop_vars: Vec<LoopVar<'a>>,
}

impl<'a> Scope<'a> {
    /// Declares a data item; returns the first declaration when the name is taken.
    pub fn declare_data(&mut self, item: &'a ast::DataItem, ty: Type) -> Result<(), Span> {
        if let Some(&i) = self.data_index.get(item.name.name.as_str()) {
            return Err(self.data[i].item.name.span);
        }
        self.data_index
            .insert(item.name.name.as_str(), self.data.len());
        self.data.push(DataEntry {
            item,
            ty,
            used: false,
        });
        Ok(())
    }

    pub fn data_entry(&self, name: &str) -> Option<(usize, &DataEntry<'a>)> {
        let &i = self.data_index.get(name)?;
        Some((i, &self.data[i]))
    }

    /// Declares a step; returns the first declaration's span when the id is taken.
    pub fn declare_step(&mut self, entry: StepEntry<'a>) -> Result<(), Span> {
        let name = entry.step.id.name.as_str();
        if let Some(first) = self.steps.get(name) {
            return Err(first.step.id.span);
        }
        self.step_order.push(name);
        self.steps.insert(name, entry);
        Ok(())
    }

    pub fn declare_connection(&mut self, c: &'a ast::Connection) -> Result<(), Span> {
        if let Some(first) = self.connections.get(c.name.name.as_str()) {
            return Err(first.name.span);
        }
        self.connections.insert(c.name.name.as_str(), c);
        self.connection_order.push(c);
        Ok(())
    }

    /// Resolves the first part of a reference. Loop variables shadow nothing
    /// (a clash is reported as a duplicate), so the order does not matter.
    pub fn lookup(&self, name: &str) -> Option<Binding> {
        if let Some(i) = self.loop_vars.iter().rposition(|v| v.name.name == name) {
            return Some(Binding::Loop(i));
        }
        if let Some(&i) = self.data_index.get(name) {
            return Some(Binding::Data(i));
        }
        self.steps.contains_key(name).then_some(Binding::Step)
    }

    /// Every name a reference could mean here, for "did you mean".
    pub fn visible_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .loop_vars
            .iter()
            .map(|v| v.name.name.as_str())
            .collect();
        names.extend(self.data.iter().map(|d| d.item.name.name.as_str()));
        names.extend(self.step_order.iter().copied());
        names
    }

    /// Where a name visible here was declared.
    pub fn declaration_span(&self, name: &str) -> Option<Span> {
        match self.lookup(name)? {
            Binding::Loop(i) => Some(self.loop_vars[i].name.span),
            Binding::Data(i) => Some(self.data[i].item.name.span),
            Binding::Step => self.steps.get(name).map(|s| s.step.id.span),
        }
    }

    pub fn data_names(&self) -> impl Iterator<Item = &str> {
        self.data.iter().map(|d| d.item.name.name.as_str())
    }

    pub fn top_level_step_names(&self) -> impl Iterator<Item = &str> {
        self.step_order
            .iter()
            .copied()
            .filter(|n| self.steps.get(n).is_some_and(|s| s.top_level))
    }

    /// The connections of one provider, in source order.
    pub fn connections_of(&self, provider: &str) -> Vec<&'a ast::Connection> {
        self.connection_order
            .iter()
            .copied()
            .filter(|c| c.provider.name == provider)
            .collect()
    }
}
