//! Diagnostics of the YAML front end: codes, positions, labels and help,
//! as snapshots, and exact spans for `${…}` references in every scalar style.

use flowc::ast::{Expr, ExprKind, StepKind, TemplatePart};
use flowc::syntax::yaml;
use flowc::{Code, Source, Syntax};

/// One line per diagnostic: code, `line:col-line:col`, message, labels, help.
fn report(text: &str) -> String {
    let source = Source::new("test.flow.yaml", text, Syntax::Yaml);
    let (flow, diagnostics) = yaml::parse(&source);
    let pos = |s: flowc::Span| {
        let (l1, c1) = source.line_col(s.start);
        let (l2, c2) = source.line_col(s.end);
        format!("{l1}:{c1}-{l2}:{c2}")
    };
    let mut out = String::new();
    for d in diagnostics.into_sorted() {
        out.push_str(&format!(
            "{} {} {}\n",
            d.code.as_str(),
            pos(d.primary_span()),
            d.message
        ));
        for l in &d.labels {
            let kind = if l.primary { "label" } else { "also" };
            out.push_str(&format!("    {kind} {}: {}\n", pos(l.span), l.message));
        }
        if let Some(help) = &d.help {
            out.push_str(&format!("    help: {help}\n"));
        }
    }
    out.push_str(if flow.is_some() {
        "=> AST\n"
    } else {
        "=> no AST\n"
    });
    out
}

macro_rules! snapshot {
    ($name:ident, $text:expr) => {
        #[test]
        fn $name() {
            let text: &str = $text;
            insta::assert_snapshot!(stringify!($name), format!("{text}\n----\n{}", report(text)));
        }
    };
}

snapshot!(
    unknown_keys_everywhere,
    "flow: f\nstpes:\n  - id: a\n    fail: x\ndata:\n  n: { type: string, requird: true }\nsteps:\n  - id: w\n    wait: { signal: s }\n    timout: 3d\n    on_timeout: a\n  - id: b\n    set: { x: 1 }\n    then: []\n"
);
snapshot!(
    missing_ids_and_kinds,
    "flow: f\nsteps:\n  - action: stripe.create_charge\n  - id: nothing\n  - id: two\n    set: { a: 1 }\n    goto: x\n  - id: typo\n    acton: stripe.create_charge\n"
);
snapshot!(missing_flow_name, "data: { a: string }\nsteps: []\n");
snapshot!(
    bad_scalars,
    "flow: my flow\ndata:\n  a: { type: money(, required: yes }\n  b: id(stripe)\n  c: { type: select, columns: {} }\nsteps:\n  - id: s\n    action: stripe\n  - id: t\n    fail: \"${total +}\"\n  - id: u\n    fail: ${a b}\n"
);
snapshot!(
    duplicate_key,
    "flow: f\nsteps:\n  - id: a\n    fail: x\n    fail: y\nflow: g\n"
);
snapshot!(
    yaml_syntax_error,
    "flow: f\nsteps:\n  - id: a\n    fail: \"unclosed\n"
);
snapshot!(yaml_bad_indentation, "flow: f\n  steps: []\n");
snapshot!(empty_file, "");
snapshot!(only_comments, "# nothing yet\n\n   \n");
snapshot!(tab_indentation, "flow: f\nsteps:\n\t- id: a\n");
snapshot!(
    alias_anchor_and_tag,
    "flow: f\ndata:\n  a: &t { type: string }\n  b: *t\n  c: !str string\nsteps: []\n"
);
snapshot!(not_a_map, "- flow: f\n");
snapshot!(two_documents, "flow: f\n---\nflow: g\n");
snapshot!(
    wrong_shapes,
    "flow: f\nstart: [input, schedule, { every: 1d }, { schedule: { every: 1d, cron: x } }]\nconnections:\n  s:\n    provider: stripe\n    credentials:\n      k: { env: A, secret_file: b }\n      l: {}\nsteps:\n  - id: h\n    http:\n      method: POST\n      auth: { bearer: { env: T }, basic: {} }\n      body: { json: [1, 2] }\n  - id: w\n    wait: {}\n  - id: t\n    timer: { until: 1d, for: 2d }\n  - id: sw\n    switch: ${x}\n    cases: [{ steps: [] }]\n  - id: fe\n    for_each: ${lines}\n"
);

/// Every `Path` part named `name` in an expression.
fn find_refs<'a>(e: &'a Expr, name: &str, out: &mut Vec<&'a flowc::ast::Ident>) {
    match &e.kind {
        ExprKind::Path(parts) => out.extend(parts.iter().filter(|p| p.name == name)),
        ExprKind::Template(parts) => {
            for p in parts {
                if let TemplatePart::Expr(e) = p {
                    find_refs(e, name, out);
                }
            }
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| find_refs(a, name, out)),
        ExprKind::Unary { operand, .. } => find_refs(operand, name, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            find_refs(lhs, name, out);
            find_refs(rhs, name, out);
        }
        _ => {}
    }
}

#[test]
fn references_point_at_the_name_in_every_scalar_style() {
    check_reference_spans(REFS);
}

#[test]
fn references_point_at_the_name_with_crlf_line_ends() {
    check_reference_spans(&REFS.replace('\n', "\r\n"));
}

const REFS: &str = "flow: f\nsteps:\n  - id: a\n    fail: ${customer.nmae}\n  - id: b\n    fail: 'it''s ${nmae}'\n  - id: c\n    fail: \"tab\\t${nmae + 1}\"\n  - id: d\n    fail: |\n      first line\n      and ${upper(nmae)} here\n  - id: e\n    fail: >\n      folded\n      ${nmae}\n  - id: f\n    fail: plain\n      continued ${nmae}\n  - id: g\n    fail: \"${ nmae }\"\n";

fn check_reference_spans(text: &str) {
    let source = Source::new("refs.flow.yaml", text, Syntax::Yaml);
    let (flow, diagnostics) = yaml::parse(&source);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let flow = flow.expect("flow");
    assert_eq!(flow.steps.len(), 7);
    for step in &flow.steps {
        let StepKind::Fail(e) = &step.kind else {
            panic!("{step:?}")
        };
        let mut refs = Vec::new();
        find_refs(e, "nmae", &mut refs);
        assert_eq!(refs.len(), 1, "step {}", step.id.name);
        let span = refs[0].span;
        assert_eq!(&text[span.range()], "nmae", "step {}", step.id.name);
        // The JSON diagnostic a checker would emit points at the name.
        let d = flowc::Diagnostic::new(Code::UnknownReference, "unknown", span, "here");
        let json = flowc::diagnostic::render::json(&source, &d);
        let (line, column) = source.line_col(span.start);
        assert_eq!(json["line"], line, "{json}");
        assert_eq!(json["column"], column, "{json}");
        let line_text = text.lines().nth(line - 1).unwrap_or("");
        let col_byte: usize = line_text.chars().take(column - 1).map(char::len_utf8).sum();
        assert!(
            line_text[col_byte..].starts_with("nmae"),
            "step {}",
            step.id.name
        );
    }
}

#[test]
fn expression_errors_point_into_the_scalar() {
    let text = "flow: f\nsteps:\n  - id: a\n    fail: 'it''s ${a +}'\n";
    let source = Source::new("e.flow.yaml", text, Syntax::Yaml);
    let (_, diagnostics) = yaml::parse(&source);
    let d = diagnostics.iter().next().expect("an error");
    assert_eq!(d.code, Code::ExprSyntax);
    // After `+`, inside the quotes.
    assert_eq!(
        d.primary_span().start as usize,
        text.find("+}").unwrap_or(0) + 1
    );
}

#[test]
fn all_errors_are_reported_not_only_the_first() {
    let text = "flow: f\nfoo: 1\nbar: 2\ndata:\n  a: { type: string, bad: 1 }\nsteps:\n  - id: x\n    fail: y\n    baz: 3\n  - fail: z\n";
    let source = Source::new("many.flow.yaml", text, Syntax::Yaml);
    let (flow, diagnostics) = yaml::parse(&source);
    let codes: Vec<Code> = diagnostics.into_sorted().iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [
            Code::UnknownKey,
            Code::UnknownKey,
            Code::UnknownKey,
            Code::UnknownKey,
            Code::MissingKey
        ]
    );
    // The AST is still there, without the step that has no id.
    let flow = flow.expect("flow");
    assert_eq!(flow.steps.len(), 1);
    assert_eq!(flow.data.len(), 1);
}

/// End to end through the checker: every "unknown name" (E0101) in a YAML
/// flow points, line and column, at the misspelled name in the file, in
/// every scalar style. (Vacuous until the checker reports E0101.)
#[test]
fn checker_reports_point_at_the_misspelled_reference() {
    let text = "flow: f\ndata:\n  customer_name: string\n  total: integer\nsteps:\n  - id: a\n    fail: ${custmer_name}\n  - id: b\n    fail: 'it''s ${custmer_name}'\n  - id: c\n    fail: \"tab\\t${totl + 1}\"\n  - id: d\n    fail: |\n      first line\n      and ${upper(custmer_name)} here\n  - id: e\n    fail: >\n      folded\n      ${totl}\n  - id: f\n    fail: plain\n      continued ${totl}\n";
    let source = Source::new("e0101.flow.yaml", text, Syntax::Yaml);
    let checked = flowc::check(&source);
    for d in checked
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::UnknownReference)
    {
        let json = flowc::diagnostic::render::json(&source, d);
        let line = json["line"].as_u64().unwrap_or(0) as usize;
        let column = json["column"].as_u64().unwrap_or(0) as usize;
        let line_text = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
        let at: String = line_text.chars().skip(column.saturating_sub(1)).collect();
        assert!(
            at.starts_with("custmer_name") || at.starts_with("totl"),
            "{} at {line}:{column}: {at:?}",
            d.message
        );
    }
}
