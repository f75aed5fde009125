//! The schemas of steps: one per step kind, and the `http` and `wait`
//! maps they hold.

use super::{describe, field, object, r};
use flowc_catalog::Provider;
use serde_json::{Map, Value, json};

pub(super) fn http() -> Value {
    object(
        &[
            (
                "method",
                describe(
                    json!({ "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"] }),
                    "The HTTP method.",
                ),
            ),
            (
                "url",
                describe(r("expr"), "The URL; may hold `${…}` parts."),
            ),
            ("auth", r("auth")),
            (
                "headers",
                describe(
                    json!({ "type": "object", "additionalProperties": r("expr") }),
                    "Request headers.",
                ),
            ),
            (
                "query",
                describe(
                    json!({ "type": "object", "additionalProperties": r("expr") }),
                    "Query parameters.",
                ),
            ),
            ("body", r("body")),
            (
                "timeout",
                describe(
                    r("duration"),
                    "How long to wait for the answer (default 30s).",
                ),
            ),
            (
                "response",
                describe(
                    json!({ "type": "object", "propertyNames": { "minLength": 1 }, "additionalProperties": r("data_item") }),
                    "The response fields the flow uses, with their types: `${step.field}`. `${step.status}` is always there.",
                ),
            ),
        ],
        &["method", "url"],
    )
}

pub(super) fn auth() -> Value {
    json!({
        "description": "How the request authenticates.",
        "oneOf": [
            { "const": "none", "description": "No authentication." },
            object(&[("basic", object(&[("username", r("credential")), ("password", r("credential"))], &["username", "password"]))], &["basic"]),
            object(&[("bearer", describe(r("credential"), "The bearer token."))], &["bearer"]),
            object(&[("oauth2", object(&[
                ("token_url", describe(r("expr"), "The token endpoint.")),
                ("client_id", r("credential")),
                ("client_secret", r("credential")),
                ("scope", describe(r("expr"), "The scope to ask for.")),
            ], &["token_url", "client_id", "client_secret"]))], &["oauth2"]),
            object(&[
                ("header", describe(json!({ "type": "string" }), "The header that carries the secret, e.g. X-Cybozu-API-Token.")),
                ("value", r("credential")),
            ], &["header", "value"]),
        ],
    })
}

pub(super) fn body() -> Value {
    json!({
        "description": "The request body.",
        "oneOf": [
            object(&[("json", describe(r("value"), "A JSON body."))], &["json"]),
            object(&[("form", describe(r("fields"), "A form-encoded body."))], &["form"]),
            object(&[("xml", describe(r("expr"), "An XML body."))], &["xml"]),
            object(&[("text", describe(r("expr"), "A text body."))], &["text"]),
        ],
    })
}

pub(super) fn wait() -> Value {
    json!({
        "description": "Wait for a provider event (webhook first, polling as the fallback) or for a signal.",
        "oneOf": [
            object(&[
                ("event", r("event")),
                ("for", describe(r("expr"), "Which object the event must be about, e.g. `${create_invoice.id}`.")),
                ("poll", describe(r("duration"), "Polling fallback interval when no webhook arrives.")),
                ("connection", describe(r("name"), "Which connection.")),
            ], &["event"]),
            object(&[
                ("signal", describe(r("name"), "The signal's name (a person's step).")),
                ("data", describe(json!({ "type": "object", "propertyNames": { "minLength": 1 }, "additionalProperties": r("data_item") }), "The signal's typed data.")),
            ], &["signal"]),
        ],
    })
}

/// The schema of a step of one kind.
pub(super) fn step(kind: &str, providers: &[&'static Provider]) -> Value {
    let id = (
        "id",
        describe(
            r("name"),
            "The step's id, unique in the flow; its results are `${id.field}`.",
        ),
    );
    let save = (
        "save",
        describe(r("assigns"), "Copy results into data items."),
    );
    let connection = (
        "connection",
        describe(
            r("name"),
            "Which connection; optional when the flow has one of that provider.",
        ),
    );
    let with = ("with", describe(r("fields"), "The inputs."));
    let (props, required): (Vec<(&str, Value)>, Vec<&str>) = match kind {
        "action" => (
            vec![
                id,
                ("action", r("action")),
                connection,
                with,
                save,
                ("retry", r("retry")),
            ],
            vec!["id", "action"],
        ),
        "http" => (
            vec![
                id,
                ("http", describe(r("http"), "A generic HTTP request.")),
                save,
                ("retry", r("retry")),
            ],
            vec!["id", "http"],
        ),
        "wait" => (
            vec![
                id,
                ("wait", r("wait")),
                (
                    "timeout",
                    describe(r("duration"), "How long to wait (required)."),
                ),
                (
                    "on_timeout",
                    describe(
                        r("name"),
                        "The top-level step to continue at when the timeout passes.",
                    ),
                ),
                save,
            ],
            vec!["id", "wait", "timeout", "on_timeout"],
        ),
        "timer" => (
            vec![
                id,
                (
                    "timer",
                    json!({
                        "description": "Wait until a date or for a duration.",
                        "oneOf": [
                            object(&[("until", describe(r("expr"), "A date or datetime, e.g. `${due_date}`."))], &["until"]),
                            object(&[("for", describe(r("duration"), "A duration."))], &["for"]),
                        ],
                    }),
                ),
            ],
            vec!["id", "timer"],
        ),
        "if" => (
            vec![
                id,
                (
                    "if",
                    describe(r("expr"), "The condition, e.g. `${total > 100000}`."),
                ),
                (
                    "then",
                    describe(r("steps"), "Steps when the condition holds."),
                ),
                ("else", describe(r("steps"), "Steps otherwise.")),
            ],
            vec!["id", "if", "then"],
        ),
        "switch" => (
            vec![
                id,
                (
                    "switch",
                    describe(r("expr"), "The value to switch on, e.g. `${region}`."),
                ),
                (
                    "cases",
                    json!({
                        "type": "array",
                        "items": object(&[
                            ("when", json!({ "description": "One value or a list of values.", "oneOf": [r("expr"), { "type": "array", "items": r("expr") }] })),
                            ("steps", r("steps")),
                        ], &["when", "steps"]),
                    }),
                ),
                (
                    "default",
                    describe(r("steps"), "Steps when no case matches."),
                ),
            ],
            vec!["id", "switch", "cases"],
        ),
        "for_each" => (
            vec![
                id,
                (
                    "for_each",
                    describe(r("expr"), "The table to loop over, e.g. `${lines}`."),
                ),
                ("as", describe(r("name"), "The row variable.")),
                ("do", describe(r("steps"), "Steps for each row.")),
            ],
            vec!["id", "for_each", "as", "do"],
        ),
        "set" => (
            vec![id, ("set", describe(r("assigns"), "Assign data items."))],
            vec!["id", "set"],
        ),
        "fail" => (
            vec![
                id,
                (
                    "fail",
                    describe(r("expr"), "Fail the issue with this message."),
                ),
            ],
            vec!["id", "fail"],
        ),
        "end" => (
            vec![
                id,
                (
                    "end",
                    json!({ "description": "Finish the issue: completed (the default) or cancelled.", "enum": ["completed", "cancelled", null] }),
                ),
            ],
            vec!["id", "end"],
        ),
        "goto" => (
            vec![
                id,
                (
                    "goto",
                    describe(r("name"), "Continue at this top-level step."),
                ),
            ],
            vec!["id", "goto"],
        ),
        _ => (
            vec![
                id,
                ("batch", r("batch_action")),
                connection,
                (
                    "schedule",
                    describe(r("schedule"), "When a batch is closed."),
                ),
                (
                    "max",
                    describe(r("integer"), "At most this many records per batch."),
                ),
                (
                    "with",
                    describe(r("fields"), "This issue's record in the batch."),
                ),
                save,
                ("retry", r("retry")),
            ],
            vec!["id", "batch"],
        ),
    };
    let mut s = object(&props, &required);
    // Action inputs from the catalog, for completion.
    if kind == "action" || kind == "batch" {
        let per_action: Vec<Value> = providers
            .iter()
            .flat_map(|p| p.actions.iter().map(move |a| (p, a)))
            .filter(|(_, a)| a.batch == (kind == "batch"))
            .map(|(p, a)| {
                let inputs: Map<String, Value> =
                    a.inputs.iter().map(|f| (f.name.clone(), field(f))).collect();
                json!({
                    "if": { "properties": { kind: { "const": format!("{}.{}", p.name, a.name) } }, "required": [kind] },
                    "then": { "properties": { "with": { "properties": inputs } } },
                })
            })
            .collect();
        if let Value::Object(m) = &mut s {
            m.insert("allOf".into(), Value::Array(per_action));
        }
    }
    s
}
