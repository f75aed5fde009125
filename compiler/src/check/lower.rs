//! Lowering: the checker builds the typed IR pieces as it checks each part
//! of the flow (data items in [`super::data`], connections and starts in
//! [`super::connections`], steps in [`super::steps`]); this module puts them
//! together into an [`ir::Flow`]. It only runs when the check found no
//! errors, so every name in the pieces is resolved.

use super::Parts;
use crate::ast;
use crate::ir;

/// The IR of a flow that checked without errors.
pub(crate) fn assemble(flow: &ast::Flow, parts: Parts) -> ir::Flow {
    ir::Flow {
        name: flow.name.name.clone(),
        description: flow.description.as_ref().map(|d| d.value.clone()),
        data: parts.data,
        connections: parts.connections,
        start: parts.start,
        steps: parts.steps,
    }
}
