//! E0507: an issue started by a provider event gets its record from the event's
//! outputs (each output named like a data item fills that item), so a flow
//! started only by events cannot have a required data item, without a default,
//! that its trigger events do not carry.

use super::Checker;
use crate::ast;
use crate::diagnostic::{Code, Diagnostic};
use crate::ir;

impl Checker<'_> {
    /// E0507 for each start event and required item it leaves empty; nothing when
    /// the flow also starts from input records or a schedule.
    pub(crate) fn check_trigger_records(&mut self, flow: &ast::Flow, starts: &[ir::Start]) {
        if starts.is_empty() || starts.iter().any(|s| !matches!(s, ir::Start::Event { .. })) {
            return;
        }
        let required: Vec<&ast::DataItem> = flow
            .data
            .iter()
            .filter(|d| d.constraints.required.is_some() && d.constraints.default.is_none())
            .collect();
        if required.is_empty() {
            return;
        }
        for (ast_start, start) in flow.start.iter().zip(starts) {
            let (
                ast::StartKind::Event { event: name, .. },
                ir::Start::Event {
                    provider, event, ..
                },
            ) = (&ast_start.kind, start)
            else {
                continue;
            };
            // An unknown event was reported already (E0506).
            let Some(def) = flowc_catalog::provider(provider).and_then(|p| p.event(event)) else {
                continue;
            };
            for item in &required {
                let item_name = &item.name.name;
                if def.outputs.iter().any(|o| &o.name == item_name) {
                    continue;
                }
                let outputs: Vec<&str> = def.outputs.iter().map(|o| o.name.as_str()).collect();
                self.report(
                    Diagnostic::new(
                        Code::TriggerLeavesDataEmpty,
                        format!(
                            "`{}` starts issues without the required data item `{item_name}`",
                            name.text()
                        ),
                        name.span,
                        format!("has no output `{item_name}`"),
                    )
                    .with_help(format!(
                        "an issue started by an event gets the event's outputs whose names are data items ({}); give `{item_name}` a default, make it optional, or name it after one of them",
                        super::list_names(&outputs)
                    )),
                );
            }
        }
    }
}
