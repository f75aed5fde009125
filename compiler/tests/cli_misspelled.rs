//! A misspelled reference is reported exactly where it is written.
//!
//! For every flow in `flows/` and every reference to a data item in it (a
//! `${…}` part in YAML, a bare name in the DSL), the name is misspelled (an
//! `x` appended) and `flowc check --message-format json` must exit 1 with a
//! diagnostic whose line and column are the reference's. References are
//! found through the AST: every `ExprKind::Path` whose first name is a data
//! item.

mod cli_support;

use cli_support::{TempDir, flow_files, flowc, source_of};
use flowc::ast::{self, Expr, ExprKind, Field, HttpAuthKind, Step, StepKind, TemplatePart, Value};
use flowc::span::Span;
use std::collections::BTreeSet;

/// Collects the spans of the first names of every path in an expression.
fn expr_refs(e: &Expr, out: &mut Vec<(String, Span)>) {
    match &e.kind {
        ExprKind::Path(parts) => {
            if let Some(first) = parts.first() {
                out.push((first.name.clone(), first.span));
            }
        }
        ExprKind::Template(parts) => {
            for p in parts {
                if let TemplatePart::Expr(e) = p {
                    expr_refs(e, out);
                }
            }
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| expr_refs(a, out)),
        ExprKind::Unary { operand, .. } => expr_refs(operand, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr_refs(lhs, out);
            expr_refs(rhs, out);
        }
        ExprKind::Int(_)
        | ExprKind::Decimal(_)
        | ExprKind::Str(_)
        | ExprKind::Bool(_)
        | ExprKind::Null
        | ExprKind::Duration(_) => {}
    }
}

fn value_refs(v: &Value, out: &mut Vec<(String, Span)>) {
    match v {
        Value::Expr(e) => expr_refs(e, out),
        Value::Map(fields, _) => fields_refs(fields, out),
    }
}

fn fields_refs(fields: &[Field], out: &mut Vec<(String, Span)>) {
    fields.iter().for_each(|f| value_refs(&f.value, out));
}

fn assigns_refs(assigns: &[ast::Assign], out: &mut Vec<(String, Span)>) {
    assigns.iter().for_each(|a| expr_refs(&a.value, out));
}

fn retry_refs(retry: Option<&ast::Retry>, out: &mut Vec<(String, Span)>) {
    if let Some(r) = retry {
        for e in [&r.max_attempts, &r.backoff, &r.max_backoff]
            .into_iter()
            .flatten()
        {
            expr_refs(e, out);
        }
    }
}

/// The expressions of one step (not of its nested steps).
fn step_refs(step: &Step, out: &mut Vec<(String, Span)>) {
    match &step.kind {
        StepKind::Action(a) => {
            fields_refs(&a.inputs, out);
            assigns_refs(&a.save, out);
            retry_refs(a.retry.as_ref(), out);
        }
        StepKind::Http(h) => {
            expr_refs(&h.url, out);
            if let Some(auth) = &h.auth
                && let HttpAuthKind::OAuth2 {
                    token_url, scope, ..
                } = &auth.kind
            {
                expr_refs(token_url, out);
                if let Some(s) = scope {
                    expr_refs(s, out);
                }
            }
            fields_refs(&h.headers, out);
            fields_refs(&h.query, out);
            if let Some(body) = &h.body {
                match &body.kind {
                    ast::HttpBodyKind::Json(v) => value_refs(v, out),
                    ast::HttpBodyKind::Form(f) => fields_refs(f, out),
                    ast::HttpBodyKind::Xml(e) | ast::HttpBodyKind::Text(e) => expr_refs(e, out),
                }
            }
            if let Some(t) = &h.timeout {
                expr_refs(t, out);
            }
            assigns_refs(&h.save, out);
            retry_refs(h.retry.as_ref(), out);
        }
        StepKind::Wait(w) => {
            if let ast::WaitOn::Event { matching, poll, .. } = &w.on {
                for e in [matching, poll].into_iter().flatten() {
                    expr_refs(e, out);
                }
            }
            if let Some(t) = &w.timeout {
                expr_refs(t, out);
            }
            assigns_refs(&w.save, out);
        }
        StepKind::Timer(ast::TimerStep::Until(e) | ast::TimerStep::For(e)) => expr_refs(e, out),
        StepKind::If(s) => expr_refs(&s.condition, out),
        StepKind::Switch(s) => {
            expr_refs(&s.on, out);
            for c in &s.cases {
                c.values.iter().for_each(|v| expr_refs(v, out));
            }
        }
        StepKind::ForEach(f) => expr_refs(&f.over, out),
        StepKind::Set(assigns) => assigns_refs(assigns, out),
        StepKind::Fail(e) => expr_refs(e, out),
        StepKind::Batch(b) => {
            if let Some(ast::Schedule::Every(e)) = &b.schedule {
                expr_refs(e, out);
            }
            if let Some(m) = &b.max {
                expr_refs(m, out);
            }
            fields_refs(&b.inputs, out);
            assigns_refs(&b.save, out);
        }
        StepKind::End(_) | StepKind::Goto(_) => {}
    }
}

/// Every reference to a data item in a flow: (name, span of the name).
fn data_refs(flow: &ast::Flow) -> Vec<(String, Span)> {
    let mut all = Vec::new();
    for item in &flow.data {
        let c = &item.constraints;
        for e in [&c.default, &c.min, &c.max, &c.max_length]
            .into_iter()
            .flatten()
        {
            expr_refs(e, &mut all);
        }
    }
    for conn in &flow.connections {
        fields_refs(&conn.settings, &mut all);
    }
    for start in &flow.start {
        match &start.kind {
            ast::StartKind::Schedule(ast::ScheduleStart {
                schedule: ast::Schedule::Every(e),
                ..
            }) => expr_refs(e, &mut all),
            ast::StartKind::Event { every: Some(e), .. } => expr_refs(e, &mut all),
            _ => {}
        }
    }
    ast::walk_steps(&flow.steps, &mut |step| step_refs(step, &mut all));

    let data: BTreeSet<&str> = flow.data.iter().map(|d| d.name.name.as_str()).collect();
    // For-each variables shadow nothing in valid flows, but be safe.
    let mut seen = BTreeSet::new();
    all.into_iter()
        .filter(|(name, _)| data.contains(name.as_str()))
        .filter(|(_, span)| seen.insert(span.start))
        .collect()
}

#[test]
fn every_misspelled_data_reference_is_reported_where_it_is() {
    let mut failures = Vec::new();
    let mut total = 0;
    for path in flow_files() {
        let source = source_of(&path);
        let checked = flowc::check(&source);
        let Some(flow) = &checked.ast else {
            panic!(
                "{} does not parse: {:#?}",
                path.display(),
                checked.diagnostics
            );
        };
        assert!(
            !checked.has_errors(),
            "{} has errors before any change: {:#?}",
            path.display(),
            checked.diagnostics
        );
        let refs = data_refs(flow);
        assert!(
            !refs.is_empty(),
            "{} has no data references to misspell",
            path.display()
        );
        let names: BTreeSet<String> = flow.data.iter().map(|d| d.name.name.clone()).collect();
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let dir = TempDir::new("misspelled");
        for (name, span) in refs {
            let text = &source.text;
            let end = span.end as usize;
            let written = text.get(span.range());
            assert_eq!(
                written,
                Some(name.as_str()),
                "{}: the span {span:?} of `{name}` does not cover the name",
                path.display()
            );
            let misspelled = format!("{name}x");
            if names.contains(&misspelled) {
                continue;
            }
            total += 1;
            let mutated = format!("{}x{}", &text[..end], &text[end..]);
            let file = dir.write(file_name.as_deref().unwrap_or("f.flow"), &mutated);
            let run = flowc(&["check", "--message-format", "json", &file]);
            let (line, column) = source.line_col(span.start);
            let hit = run.code == 1
                && run.json_lines().iter().any(|d| {
                    d["line"].as_u64() == Some(line as u64)
                        && d["column"].as_u64() == Some(column as u64)
                        && d["severity"] == "error"
                });
            run.no_panic();
            if !hit {
                failures.push(format!(
                    "{}:{line}:{column}: `{misspelled}` not reported there (exit {}):\n{}",
                    path.display(),
                    run.code,
                    run.stdout
                ));
            }
        }
    }
    assert!(total > 0, "no references were tried");
    println!("{total} misspelled references tried");
    assert!(
        failures.is_empty(),
        "{} of {total} misspelled references were not reported at their place:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
