//! The settings of a connection whose provider writes request files
//! (Buckaroo's direct debit batches): every column `file_layout` names must be
//! a column of the record (E0511), and a setting whose only effect is on
//! record columns must have one of them in the layout (E0510), or it would be
//! accepted and do nothing.

use flowc_catalog::{Action, Provider};

use super::Checker;
use crate::ast;
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::span::Span;

impl Checker<'_> {
    /// Checks `file_layout` and the settings that fill record columns.
    pub(crate) fn check_file_settings(&mut self, p: &Provider, c: &ast::Connection) {
        let Some(action) = p.actions.iter().find(|a| a.batch) else {
            return;
        };
        let given = c.settings.iter().find(|f| f.name.name == "file_layout");
        let layout: Vec<String> = match given.map(|f| &f.value) {
            Some(ast::Value::Expr(ast::Expr {
                kind: ast::ExprKind::Str(text),
                ..
            })) => {
                // A layout that breaks the setting's pattern is reported as
                // such (E0209); its columns are not read.
                let pattern = p.settings.iter().find(|s| s.name == "file_layout");
                let broken = pattern
                    .and_then(|s| s.pattern.as_deref())
                    .and_then(|re| regex::Regex::new(re).ok())
                    .is_some_and(|re| !re.is_match(text));
                if broken {
                    return;
                }
                text.split(',').map(|c| c.trim().to_owned()).collect()
            }
            // Not a literal: its type error is reported elsewhere.
            Some(_) => return,
            None => match p.settings.iter().find(|s| s.name == "file_layout") {
                Some(s) => s
                    .default
                    .as_deref()
                    .unwrap_or_default()
                    .split(',')
                    .map(|c| c.trim().to_owned())
                    .collect(),
                None => return,
            },
        };
        if let Some(
            f @ ast::Field {
                value: ast::Value::Expr(e),
                ..
            },
        ) = given
            && let ast::ExprKind::Str(text) = &e.kind
        {
            self.check_layout_columns(p, action, text, e.span, f);
        }
        for f in &c.settings {
            let Some(spec) = p.settings.iter().find(|s| s.name == f.name.name) else {
                continue;
            };
            if spec.fills.is_empty() || spec.fills.iter().any(|col| layout.contains(col)) {
                continue;
            }
            let cols = super::list_names(&spec.fills);
            let d = Diagnostic::new(
                Code::SettingWithoutEffect,
                format!(
                    "setting `{}` of connection `{}` would do nothing: it fills the request file's {cols} column{}, which `file_layout` leaves out",
                    f.name.name,
                    c.name.name,
                    if spec.fills.len() == 1 { "" } else { "s" },
                ),
                f.name.span,
                "has no effect",
            )
            .with_help(format!(
                "add {cols} to `file_layout`, or remove `{}`",
                f.name.name
            ));
            self.report(d);
        }
    }

    /// E0511: a `file_layout` column that is neither an input of the batch
    /// action nor one of its derived columns, at the column itself where the
    /// literal's text is its source (no escapes), else at the whole literal.
    fn check_layout_columns(
        &mut self,
        p: &Provider,
        action: &Action,
        text: &str,
        literal: Span,
        f: &ast::Field,
    ) {
        let known: Vec<&str> = action
            .inputs
            .iter()
            .chain(&action.file_columns)
            .map(|i| i.name.as_str())
            .collect();
        let width = (literal.end - literal.start) as usize;
        let quote = if width == text.len() + 2 {
            Some(1)
        } else if width == text.len() {
            Some(0)
        } else {
            None
        };
        let mut offset = 0;
        for raw in text.split(',') {
            let start = offset + (raw.len() - raw.trim_start().len());
            offset += raw.len() + 1;
            let col = raw.trim();
            if known.contains(&col) {
                continue;
            }
            let span = match quote {
                Some(q) if !col.is_empty() => {
                    let at = literal.start as usize + q + start;
                    Span::new(at, at + col.len())
                }
                _ => literal,
            };
            let shown = if col.is_empty() { "(empty)" } else { col };
            let mut d = Diagnostic::new(
                Code::UnknownFileColumn,
                format!(
                    "`{}` names `{shown}`, which is not a column of a {} {} record",
                    f.name.name,
                    p.title,
                    action.title.to_lowercase()
                ),
                span,
                format!("no column `{shown}`"),
            );
            d = match did_you_mean(col, known.iter().copied()) {
                Some(best) => d.with_help(format!("did you mean `{best}`?")),
                None => d.with_help(format!("the columns are {}", super::list_names(&known))),
            };
            self.report(d);
        }
    }
}

impl Checker<'_> {
    /// E0520: an action whose payment type (Buckaroo service) the connection's
    /// `payment_types` setting leaves out; the runtime would refuse it.
    pub(crate) fn check_payment_type(
        &mut self,
        resolved: &super::actions::ResolvedAction,
        inputs: &[ast::Field],
        name: &ast::DottedName,
    ) {
        let Some(service) = resolved.action.service.as_deref() else {
            return;
        };
        let Some(conn) = resolved
            .connection
            .as_deref()
            .and_then(|c| self.scope.connections.get(c).copied())
        else {
            return;
        };
        let literal = |v: &ast::Value| match v {
            ast::Value::Expr(ast::Expr {
                kind: ast::ExprKind::Str(text),
                span,
                ..
            }) => Some((text.clone(), *span)),
            _ => None,
        };
        let Some((types, _)) = conn
            .settings
            .iter()
            .find(|f| f.name.name == "payment_types")
            .and_then(|f| literal(&f.value))
        else {
            return;
        };
        let (service, span) = match service.strip_prefix("input:") {
            Some(input) => match inputs
                .iter()
                .find(|f| f.name.name == input)
                .and_then(|f| literal(&f.value))
            {
                Some(given) => given,
                None => {
                    let Some(f) = inputs.iter().find(|f| f.name.name == input) else {
                        return;
                    };
                    let d = Diagnostic::new(
                        Code::PaymentTypeNotCollected,
                        format!(
                            "connection `{}` collects only some payment types (\"{types}\"), so `{input}` must be written out, not computed",
                            conn.name.name
                        ),
                        f.name.span,
                        "computed payment type",
                    )
                    .with_help(format!(
                        "write one of \"{types}\" as `{input}`, or drop `payment_types` from connection `{}`",
                        conn.name.name
                    ));
                    self.report(d);
                    return;
                }
            },
            None => (service.to_owned(), name.span),
        };
        let collects = types
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(&service));
        if collects {
            return;
        }
        let d = Diagnostic::new(
            Code::PaymentTypeNotCollected,
            format!(
                "connection `{}` does not collect `{service}`: its `payment_types` are \"{types}\"",
                conn.name.name
            ),
            span,
            format!("`{service}` is not among the connection's payment types"),
        )
        .with_help(format!(
            "add `{service}` to `payment_types` of connection `{}`, or use another connection",
            conn.name.name
        ));
        self.report(d);
    }
}
