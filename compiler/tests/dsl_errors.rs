//! Diagnostics for bad DSL input, as a person sees them (snapshots), and
//! their codes and positions.

mod dsl_common;

use dsl_common::{render, source};
use flowc::Code;
use flowc::syntax::dsl::parse;

/// The codes and `line:column`s of the diagnostics of `text`.
fn codes(text: &str) -> Vec<String> {
    let src = source(text);
    let (_, diags) = parse(&src);
    diags
        .into_sorted()
        .iter()
        .map(|d| {
            let (line, col) = src.line_col(d.primary_span().start);
            format!("{} {line}:{col}", d.code.as_str())
        })
        .collect()
}

macro_rules! snapshot {
    ($name:ident, $text:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), render($text));
        }
    };
}

snapshot!(
    missing_eq_after_step_id,
    "flow f\nstep charge stripe.create_charge\n"
);
snapshot!(
    missing_eq_in_inputs,
    "flow f\nstep charge = stripe.create_charge via stripe {\n  amount minor_units(total)\n}\n"
);
snapshot!(
    unknown_step_kind,
    "flow f\nstep approval = wiat signal approve timeout 3d on_timeout escalate\nstep escalate = end\n"
);
snapshot!(
    unclosed_brace_before_next_step,
    "flow f\nstep mark = set {\n  status = \"paid\"\nstep done = end\n"
);
snapshot!(
    unclosed_brace_at_end_of_file,
    "flow f\nstep large = if total > 100 {\n  step a = end\n"
);
snapshot!(
    bad_string_escape,
    "flow f\nstep give_up = fail \"no payment \\q yet\"\n"
);
snapshot!(
    bad_unicode_escape,
    "flow f\nstep give_up = fail \"\\u{D800}\"\n"
);
snapshot!(empty_file, "");
snapshot!(only_comments, "# a flow, some day\n\n   # nothing yet\n");
snapshot!(
    binary_garbage,
    "\u{7f}ELF\u{2}\u{1}\u{1}\u{0}\u{0}\u{3}\u{0}>\u{0}\u{1}\u{0}\u{0}\u{0}@\u{10}@\n"
);
snapshot!(
    several_errors_in_one_run,
    "flow f\nstep a = stripe.create_charge { amount 5 }\nstep b = wiat signal s\nstep c = set { x = }\n"
);
snapshot!(
    unknown_constraint,
    "flow f\ndata {\n  total: money(EUR) requird min 1\n}\n"
);
snapshot!(
    unknown_retry_setting,
    "flow f\nstep c = stripe.create_charge retry { max_attempt = 3 }\n"
);
snapshot!(
    unquoted_credential,
    "flow f\nconnection stripe: stripe live {\n  secret_key = sk_live_123\n}\n"
);
snapshot!(
    sections_out_of_order,
    "flow f\nstep a = end\ndata {\n  x: string\n}\n"
);
snapshot!(missing_flow_header, "step a = end\n");
snapshot!(
    clause_given_twice,
    "flow f\nstep w = wait stripe.invoice.paid timeout 1d timeout 2d on_timeout w\n"
);
snapshot!(
    template_in_plain_string,
    "flow f\ndata {\n  x: string label \"Total ${total}\"\n}\n"
);
snapshot!(
    poll_on_a_signal,
    "flow f\nstep w = wait signal approve poll 1h timeout 1d on_timeout w\n"
);
snapshot!(
    misspelled_clause_after_a_block,
    "flow f\nstep c = stripe.create_charge {\n  amount = 1\n} sav {\n  id = c.id\n}\n"
);
snapshot!(
    unknown_http_entry,
    "flow f\nstep h = http POST \"https://example.com\" {\n  hedaer Accept = \"application/json\"\n}\n"
);
snapshot!(
    incomplete_expression,
    "flow f\nstep s = set {\n  total = 1 +\n}\n"
);
snapshot!(
    goto_without_target,
    "flow f\nstep again = goto\nstep done = end\n"
);
snapshot!(
    unterminated_string,
    "flow f\nstep s = set {\n  note = \"never closed }\n}\nstep b = end\n"
);
snapshot!(
    else_if,
    "flow f\nstep a = if x > 1 {\n  step b = end\n} else if x > 0 {\n  step c = end\n}\n"
);
snapshot!(
    yaml_style_colon_in_inputs,
    "flow f\nstep c = stripe.create_charge {\n  amount: 100\n}\n"
);
snapshot!(
    invalid_names,
    "flow f\ndata {\n  \"\": string\n}\nconnection s: stripe {\n  \"\" = env(\"K\")\n}\nstart event stripe via s\nstep a = set { \"x y\" = 1 }\nstep w = wait paid timeout 1d on_timeout a\nstep b = batch direct_debit { x = 1 }\n"
);

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        "flow f\nstep s = set {{ a = {}1{} }}\n",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    assert_eq!(codes(&deep), ["E0004 2:83"]);
    let mut nested = String::from("flow f\n");
    for i in 0..200 {
        nested.push_str(&format!("step s{i} = if a {{\n"));
    }
    assert_eq!(codes(&nested)[0], "E0004 66:17");
    let prefixes = format!("flow f\nstep s = fail {}x\n", "-".repeat(100_000));
    assert_eq!(codes(&prefixes), ["E0005 2:79"]);
    let long = format!("flow f\nstep s = fail 1{}\n", " + 1".repeat(100_000));
    assert_eq!(codes(&long).len(), 1);
}

#[test]
fn errors_point_at_the_offending_token() {
    assert_eq!(codes("flow f\nstep x stripe.a\n"), ["E0004 2:8"]);
    assert_eq!(codes("flow f\nstep x = wiat y\n"), ["E0004 2:10"]);
    assert_eq!(codes("flow f\nstep x = fail \"\\q\"\n"), ["E0013 2:16"]);
    assert_eq!(codes(""), ["E0001 1:1"]);
    assert_eq!(codes("\n\n  # c\n"), ["E0001 1:1"]);
    assert_eq!(
        codes("flow f\nstep x = fail 99999999999999999999999s\n"),
        ["E0013 2:15"]
    );
}

#[test]
fn several_items_with_errors_are_all_reported() {
    let text =
        "flow f\nstep a = wiat\nstep b = end\nstep c = set { x }\nstep d = goto\nstep e = end\n";
    assert_eq!(codes(text), ["E0004 2:10", "E0004 4:18", "E0004 6:1"]);
}

#[test]
fn a_flow_with_errors_is_not_returned() {
    let (flow, diags) = parse(&source("flow f\nstep a = wiat\n"));
    assert!(flow.is_none());
    assert!(diags.iter().all(|d| d.code == Code::DslSyntax));
}

#[test]
fn moderately_nested_input_parses_on_a_small_stack() {
    let mut text = String::from("flow f\n");
    for i in 0..30 {
        text.push_str(&format!("step s{i} = if (((a + b) * c) > 1) {{\n"));
    }
    text.push_str(&"}\n".repeat(30));
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || parse(&source(&text)).0.is_some())
        .expect("thread");
    assert!(handle.join().expect("no stack overflow"));
}
