//! The pest parsers for the DSL: `flow.pest` compiled together with the
//! expression grammar `expr.pest`, so there is one expression grammar.
//!
//! There are two, differing only in how `flow.pest` reads an expression
//! (`dsl_expr`): [`DslParser`] matches it whole (`expr_whole.pest`), which
//! is fast, for the builder; [`reporting::ReportingParser`] reads it with
//! the expression rules (`expr_traced.pest`), for the errors of a file
//! that does not parse. They accept the same text (tested below).

/// The DSL parser the builder reads. Its `Rule` enum holds the expression
/// rules too.
#[derive(pest_derive::Parser)]
#[grammar = "syntax/expr.pest"]
#[grammar = "syntax/dsl/flow.pest"]
#[grammar = "syntax/dsl/expr_whole.pest"]
pub(super) struct DslParser;

/// The parser whose errors are reported: it records every rule it tries
/// inside an expression, so an error there is placed and named exactly.
pub(super) mod reporting {
    #[derive(pest_derive::Parser)]
    #[grammar = "syntax/expr.pest"]
    #[grammar = "syntax/dsl/flow.pest"]
    #[grammar = "syntax/dsl/expr_traced.pest"]
    pub(in crate::syntax::dsl) struct ReportingParser;
}

/// Punctuation and keywords: tokens that carry no content of their own.
pub(super) fn is_token(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        lbrace
            | rbrace
            | lparen
            | rparen
            | eq
            | colon
            | dot
            | kw_flow
            | kw_data
            | kw_connection
            | kw_start
            | kw_step
            | kw_setting
            | kw_env
            | kw_secret_file
            | kw_input
            | kw_cron
            | kw_every
            | kw_timezone
            | kw_catch_up
            | kw_event
            | kw_via
            | kw_save
            | kw_retry
            | kw_http
            | kw_wait
            | kw_timer
            | kw_if
            | kw_switch
            | kw_for_each
            | kw_set
            | kw_fail
            | kw_end
            | kw_goto
            | kw_batch
            | kw_signal
            | kw_else
            | kw_case
            | kw_default
            | kw_in
            | kw_for
            | kw_poll
            | kw_timeout
            | kw_on_timeout
            | kw_until
            | kw_max
            | kw_auth
            | kw_header
            | kw_query
            | kw_body
            | kw_response
            | kw_none
            | kw_basic
            | kw_bearer
            | kw_oauth2
            | kw_scope
            | kw_json
            | kw_form
            | kw_xml
            | kw_text
            | kw_required
            | kw_min
            | kw_max_length
            | kw_pattern
            | kw_label
            | kw_money
            | kw_id
            | kw_select
            | kw_table
    )
}

#[cfg(test)]
mod tests {
    //! The two parsers accept the same text, item for item, with the same
    //! pairs outside expressions; an expression matched whole ends where the
    //! expression grammar's ends.

    use super::reporting::{ReportingParser, Rule as TracedRule};
    use super::{DslParser, Rule};
    use crate::syntax::dsl::build::{content_end, content_end_scanned, skip_trivia};
    use pest::Parser as _;
    use pest::iterators::Pair;
    use proptest::prelude::*;

    const EVERY_CONSTRUCT: &str = include_str!("../../../tests/dsl_fixtures/every_construct.flow");

    /// Each pair as (rule, start, end), in order; an expression as one pair.
    fn outline<R: pest::RuleType>(pair: Pair<'_, R>, out: &mut Vec<(String, usize, usize)>) {
        let name = format!("{:?}", pair.as_rule());
        let span = pair.as_span();
        let is_expr = matches!(name.as_str(), "dsl_expr" | "expr");
        out.push((
            if is_expr { "dsl_expr".into() } else { name },
            span.start(),
            span.end(),
        ));
        if !is_expr {
            for inner in pair.into_inner() {
                outline(inner, out);
            }
        }
    }

    type Outline = Result<Vec<(String, usize, usize)>, usize>;

    /// The outline of a parse, or where it failed.
    fn outline_of<R: pest::RuleType>(
        parsed: Result<pest::iterators::Pairs<'_, R>, pest::error::Error<R>>,
    ) -> Outline {
        match parsed {
            Ok(pairs) => Ok(pairs.fold(Vec::new(), |mut out, p| {
                outline(p, &mut out);
                out
            })),
            Err(e) => Err(error_at(&e.location)),
        }
    }

    fn whole(rule: Rule, text: &str) -> Outline {
        outline_of(DslParser::parse(rule, text))
    }

    fn traced(rule: TracedRule, text: &str) -> Outline {
        outline_of(ReportingParser::parse(rule, text))
    }

    fn error_at(at: &pest::error::InputLocation) -> usize {
        match at {
            pest::error::InputLocation::Pos(p) | pest::error::InputLocation::Span((p, _)) => *p,
        }
    }

    /// The builder's shortcut for where a pair's content ends agrees with the
    /// scan, for every pair.
    fn content_ends_agree(pair: Pair<'_, Rule>) {
        assert_eq!(
            content_end(&pair),
            content_end_scanned(&pair),
            "{:?} {:?}",
            pair.as_rule(),
            pair.as_str()
        );
        pair.into_inner().for_each(content_ends_agree);
    }

    /// Both parsers, as `items` and as `item`, give the same outline (and
    /// both fail, where they fail: only the traced one's errors are shown,
    /// so where the fast one stops does not matter).
    fn same_answers(text: &str) {
        if let Ok(pairs) = DslParser::parse(Rule::items, text) {
            pairs.for_each(content_ends_agree);
        }
        for (fast, slow) in [
            (Rule::items, TracedRule::items),
            (Rule::item, TracedRule::item),
        ] {
            let (a, b) = (whole(fast, text), traced(slow, text));
            match (&a, &b) {
                (Ok(a), Ok(b)) => assert!(
                    same_outline(text, a, b),
                    "{fast:?} of {text:?}:\n{a:?}\n{b:?}"
                ),
                (Err(_), Err(_)) => {}
                _ => panic!("{fast:?} of {text:?}: fast parser {a:?}, reporting parser {b:?}"),
            }
        }
    }

    /// The same pairs, in the same order, from the same offsets; an end may
    /// differ by whitespace and comments only (a non-atomic rule that ends
    /// in an optional part keeps the trivia after it, which the builder
    /// trims; an expression matched whole keeps none).
    fn same_outline(
        text: &str,
        a: &[(String, usize, usize)],
        b: &[(String, usize, usize)],
    ) -> bool {
        let trivia_between = |x: usize, y: usize| x == y || skip_trivia(text, x.min(y)) >= x.max(y);
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(a, b)| a.0 == b.0 && a.1 == b.1 && trivia_between(a.2, b.2))
    }

    /// An expression matched whole ends where `expr` ends (or both fail).
    /// From its first token: in the DSL, whitespace before an expression is
    /// always skipped by the rule around it.
    fn same_expression(text: &str) {
        let text = &text[skip_trivia(text, 0)..];
        let end = |r: Result<usize, usize>| r.ok();
        let fast = DslParser::parse(Rule::dsl_expr, text)
            .map(|mut p| p.next().map_or(0, |p| p.as_span().end()))
            .map_err(|e| error_at(&e.location));
        let slow = ReportingParser::parse(TracedRule::expr, text)
            .map(|mut p| p.next().map_or(0, |p| p.as_span().end()))
            .map_err(|e| error_at(&e.location));
        let same = match (end(fast), end(slow)) {
            (Some(a), Some(b)) => a == b || (a < b && skip_trivia(text, a) >= b),
            (a, b) => a == b,
        };
        assert!(
            same,
            "{text:?}: matched whole to {fast:?}, by `expr` to {slow:?}"
        );
    }

    #[test]
    fn the_fixture_with_every_construct_reads_the_same() {
        let fast = whole(Rule::items, EVERY_CONSTRUCT).expect("fixture parses");
        assert_eq!(fast.first().map(|p| p.2), Some(EVERY_CONSTRUCT.len()));
        assert!(fast.iter().filter(|p| p.0 == "dsl_expr").count() > 50);
        same_answers(EVERY_CONSTRUCT);
    }

    #[test]
    fn trailing_comments_are_not_content() {
        // A pair ends after the trivia that follows its optional parts; at
        // the end of the file that can be a comment with no newline after it.
        for text in [
            "step s = end # done",
            "step s = end cancelled # done",
            "step s = end # done\n",
            "step s = wait signal ok # done",
            "step s = set { a = 1 } # done",
        ] {
            same_answers(text);
            let step = DslParser::parse(Rule::items, text).unwrap().next().unwrap();
            let step = step.into_inner().next().unwrap();
            assert_eq!(
                content_end(&step),
                text.find(" # done").unwrap(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn expressions_end_in_the_same_place() {
        for text in [
            "a",
            "a b",
            "a.b . c",
            "f ( x , y , ) + 1",
            "f(x,",
            "- - !x",
            "not a or b and c",
            "1.5s",
            "5sec",
            "12.50",
            "7d + x",
            "\"a ${ b + \"${c}\" } \\u{41} \\q $ $x\" == y",
            "\"unclosed",
            "\"a ${ + } b\" + c",
            "\"$$ ${a}$\"",
            "trueish or falsey",
            "true(1)",
            "a # comment\n + b",
            "a +",
            "(a",
            "and",
            "x <= y >= z != w % 2",
            "é",
        ] {
            same_expression(text);
        }
    }

    /// Tokens of the DSL and of expressions, for random texts.
    const TOKENS: &[&str] = &[
        "step",
        "s",
        "=",
        "set",
        "{",
        "}",
        "if",
        "else",
        "wait",
        "signal",
        "timeout",
        "14d",
        "on_timeout",
        "http",
        "POST",
        "stripe.create_charge",
        "save",
        "for_each",
        "in",
        "case",
        "switch",
        "default",
        "fail",
        "end",
        "goto",
        "data",
        ":",
        "string",
        "required",
        "min",
        "flow",
        "connection",
        "start",
        "input",
        "every",
        "a",
        "b.c",
        "f(",
        ")",
        "(",
        ",",
        "1",
        "12.5",
        "7d",
        "\"x y\"",
        "true",
        "null",
        "not",
        "and",
        "or",
        "-",
        "!",
        "+",
        "*",
        "==",
        "<=",
        "<",
        " ",
        "\n",
        "%",
        "/",
        "!=",
        "&&",
        "||",
        ">=",
        "x_1",
        ".",
        "#",
        "\"",
        "${",
        "\\n",
        "\\q",
        "$",
        "é",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        #[test]
        fn random_texts_read_the_same(tokens in prop::collection::vec(
            prop::sample::select(TOKENS), 0..24,
        )) {
            for text in [tokens.join(" "), tokens.concat()] {
                same_answers(&text);
                let trivia = DslParser::parse(Rule::trivia_only, &text).is_ok();
                prop_assert_eq!(skip_trivia(&text, 0) >= text.len(), trivia, "{:?}", text);
            }
            same_expression(&tokens.join(" "));
            same_expression(&tokens.concat());
        }

        #[test]
        fn mutated_fixtures_read_the_same(
            cuts in prop::collection::vec((0..EVERY_CONSTRUCT.len(), 0..40usize, prop::sample::select(TOKENS)), 1..4),
        ) {
            let mut text = EVERY_CONSTRUCT.to_owned();
            for (at, len, token) in cuts {
                let mut at = at.min(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let mut end = (at + len).min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.replace_range(at..end, token);
            }
            same_answers(&text);
        }
    }
}
