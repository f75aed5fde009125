//! `set` and `save`: assignment targets (data items, or a column of the
//! current `for_each` row) and the values given to them.

use super::Checker;
use super::scope::Binding;
use super::values::{Expected, What};
use crate::ast;
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::ir;
use crate::span::Span;

impl Checker<'_> {
    /// `set` / `save` assignments: each target is a data item (or a column of
    /// the current row), each value fits its target.
    pub(crate) fn check_assigns(&mut self, assigns: &[ast::Assign]) -> Vec<ir::Assign> {
        let mut out = Vec::with_capacity(assigns.len());
        for a in assigns {
            match self.assign_target(&a.target) {
                Some((target, want)) => {
                    let value = self.expect(&a.value, &want);
                    out.push(ir::Assign { target, value });
                }
                None => {
                    let value = self.expr(&a.value);
                    out.push(ir::Assign {
                        target: ir::Target::Data(a.target.name.clone()),
                        value,
                    });
                }
            }
        }
        out
    }

    /// Resolves an assignment target; reports what it cannot be.
    pub(crate) fn assign_target<'t>(
        &mut self,
        target: &'t ast::Ident,
    ) -> Option<(ir::Target, Expected<'t>)> {
        let parts: Vec<&str> = target.name.split('.').collect();
        let base = parts[0];
        let start = target.span.start as usize;
        let base_span = Span::new(
            start,
            (start + base.len())
                .min(target.span.end as usize)
                .max(start),
        );
        match (self.scope.lookup(base), parts.as_slice()) {
            (Some(Binding::Data(i)), [_]) => {
                let entry = &mut self.scope.data[i];
                entry.used = true;
                let want = Expected::new(entry.ty.clone(), What::Code(base))
                    .declared_at(entry.item.ty.span);
                Some((ir::Target::Data(base.to_owned()), want))
            }
            (Some(Binding::Loop(i)), [_, field]) => {
                let var = &self.scope.loop_vars[i];
                let column = var
                    .row
                    .columns()
                    .and_then(|cols| cols.iter().find(|c| c.name == *field))
                    .map(|c| c.ty.clone());
                let names: Vec<String> = var
                    .row
                    .columns()
                    .map(|cols| cols.iter().map(|c| c.name.clone()).collect())
                    .unwrap_or_default();
                let is_error = var.row.is_unknown();
                match column {
                    Some(ty) => Some((
                        ir::Target::LoopField {
                            var: base.to_owned(),
                            field: (*field).to_owned(),
                        },
                        Expected::new(ty, What::Path(base, field)),
                    )),
                    None if is_error => None,
                    None => {
                        let mut d = Diagnostic::new(
                            Code::UnknownField,
                            format!("`{base}` has no column `{field}`"),
                            target.span,
                            "unknown column",
                        );
                        if let Some(best) = did_you_mean(field, names.iter().map(String::as_str)) {
                            d = d.with_help(format!("did you mean `{base}.{best}`?"));
                        }
                        self.report(d);
                        None
                    }
                }
            }
            (Some(Binding::Data(_) | Binding::Loop(_)), _) => {
                self.report(
                    Diagnostic::new(
                        Code::UnknownField,
                        format!("`{}` cannot be set", target.name),
                        target.span,
                        "not a data item or a column of the current row",
                    )
                    .with_help("set a data item (`total`), or a column of the `for_each` row (`line.amount`)"),
                );
                None
            }
            (Some(Binding::Step), _) => {
                self.report(
                    Diagnostic::new(
                        Code::UnknownReference,
                        format!("`{base}` is a step, not a data item"),
                        base_span,
                        "a step's results cannot be set",
                    )
                    .with_help("declare a data item under `data:` and set that"),
                );
                None
            }
            (None, _) => {
                let mut d = Diagnostic::new(
                    Code::UnknownReference,
                    format!("unknown data item `{base}`"),
                    base_span,
                    "not a data item",
                );
                let best = did_you_mean(base, self.scope.data_names()).map(str::to_owned);
                d = match best {
                    Some(best) => {
                        if let Some(at) = self.scope.declaration_span(&best) {
                            d = d.with_label(at, format!("`{best}` is declared here"));
                        }
                        d.with_help(format!("did you mean `{best}`?"))
                    }
                    None => {
                        d.with_help(format!("declare `{base}` under `data:` to keep this value"))
                    }
                };
                self.report(d);
                None
            }
        }
    }
}
