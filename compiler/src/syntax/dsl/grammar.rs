//! The pest parser for the DSL: `flow.pest` compiled together with the
//! expression grammar `expr.pest`, so there is one expression grammar.

/// The DSL parser. Its `Rule` enum holds the expression rules too.
#[derive(pest_derive::Parser)]
#[grammar = "syntax/expr.pest"]
#[grammar = "syntax/dsl/flow.pest"]
pub(super) struct DslParser;

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
