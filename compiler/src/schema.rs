//! `flowc schema`: a JSON Schema (draft 2020-12) of the YAML flow format,
//! for editor completion and validation (e.g. the YAML language server's
//! `# yaml-language-server: $schema=…`).
//!
//! The schema follows docs/language.md and the YAML front end: every map
//! the front end closes to unknown keys has `additionalProperties: false`,
//! each step kind is one branch of a `oneOf`, and provider, action, event,
//! credential and setting names come from the provider catalog, with their
//! titles as descriptions. It describes what a valid flow looks like; the
//! checker still has the last word (types, references, units).

mod steps;

use crate::syntax::yaml::keys;
use flowc_catalog::{Field, Provider};
use serde_json::{Map, Value, json};
use steps::{auth, body, http, step, wait};

/// The JSON Schema of `*.flow.yaml` files.
pub fn json_schema() -> Value {
    let providers: Vec<&'static Provider> = flowc_catalog::provider_names()
        .filter_map(flowc_catalog::provider)
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://flowc.dev/schemas/flow.schema.json",
        "title": "flowc billing flow",
        "description": "One billing process, from a completed delivery to a confirmed payment. See docs/language.md.",
        "type": "object",
        "required": ["flow"],
        "additionalProperties": false,
        "properties": {
            "flow": describe(r("name"), "The flow's name: letters, digits and `_`."),
            "description": describe(r("text"), "What the flow does, for people."),
            "data": {
                "description": "The issue's typed data items: name -> type, or name -> { type, required, default, … }.",
                "type": "object",
                "propertyNames": { "minLength": 1 },
                "additionalProperties": r("data_item"),
            },
            "connections": {
                "description": "Named provider accounts: name -> { provider, mode, credentials, settings }.",
                "type": "object",
                "propertyNames": r("name"),
                "additionalProperties": r("connection"),
            },
            "start": {
                "description": "How issues begin: `input`, a schedule, a provider event, or a list of them.",
                "oneOf": [r("start"), { "type": "array", "items": r("start") }],
            },
            "steps": describe(r("steps"), "The steps, in order."),
        },
        "$defs": defs(&providers),
    })
}

/// `{ "$ref": "#/$defs/<name>" }`
fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{name}") })
}

/// `schema` with a description (a `$ref` may have siblings in 2020-12).
fn describe(mut schema: Value, description: &str) -> Value {
    if let Value::Object(m) = &mut schema {
        m.insert("description".into(), Value::String(description.into()));
    }
    schema
}

/// A closed object: these properties (with descriptions), these required.
fn object(properties: &[(&str, Value)], required: &[&str]) -> Value {
    let props: Map<String, Value> = properties
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}

/// Known names (each a `const` with its title, which editors show when
/// completing), or anything matching `fallback` (names the catalog does not
/// list yet; the checker reports unknown ones).
fn choices(description: &str, items: &[(String, String)], fallback: Value) -> Value {
    let known: Vec<Value> = items
        .iter()
        .map(|(name, title)| json!({ "const": name, "description": title }))
        .collect();
    let mut any = Vec::new();
    if !known.is_empty() {
        any.push(json!({ "oneOf": known }));
    }
    any.push(fallback);
    json!({ "description": description, "anyOf": any })
}

fn defs(providers: &[&'static Provider]) -> Value {
    let provider_names: Vec<(String, String)> = providers
        .iter()
        .map(|p| (p.name.clone(), p.title.clone()))
        .collect();
    let actions: Vec<(String, String)> = providers
        .iter()
        .flat_map(|p| {
            p.actions
                .iter()
                .filter(|a| !a.batch)
                .map(move |a| (format!("{}.{}", p.name, a.name), a.title.clone()))
        })
        .collect();
    let batch_actions: Vec<(String, String)> = providers
        .iter()
        .flat_map(|p| {
            p.actions
                .iter()
                .filter(|a| a.batch)
                .map(move |a| (format!("{}.{}", p.name, a.name), a.title.clone()))
        })
        .collect();
    let events: Vec<(String, String)> = providers
        .iter()
        .flat_map(|p| {
            p.events
                .iter()
                .map(move |e| (format!("{}.{}", p.name, e.name), e.title.clone()))
        })
        .collect();
    let id_types: Vec<(String, String)> = providers
        .iter()
        .flat_map(|p| {
            p.ids.iter().map(move |k| {
                let what = if k.description.is_empty() {
                    format!("A {} {} id.", p.title, k.name)
                } else {
                    k.description.clone()
                };
                (format!("id({}.{})", p.name, k.name), what)
            })
        })
        .collect();
    let dotted = "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)+$";

    let mut defs = json!({
        "name": {
            "description": "A name: letters, digits and `_`, starting with a letter or `_`.",
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
        },
        "text": {
            "description": "Text, taken as written.",
            "type": ["string", "number", "boolean"],
        },
        "expr": {
            "description": "A value: a number, `true`/`false`, `null`, a duration (`30s 15m 2h 7d 2w`), text, a template with `${…}` parts, or `${expr}` alone (an expression of its own type).",
            "type": ["string", "number", "boolean", "null"],
        },
        "duration": {
            "description": "A duration (`30s`, `15m`, `2h`, `7d`, `2w`) or `${expr}`.",
            "type": "string",
            "pattern": "^(?:[0-9]+[smhdw]|\\$\\{.*\\})$",
        },
        "integer": {
            "description": "An integer or `${expr}`.",
            "oneOf": [
                { "type": "integer" },
                { "type": "string", "pattern": "^\\$\\{.*\\}$" },
            ],
        },
        "value": {
            "description": "A value, or a map of named values (e.g. Stripe `metadata`, a JSON body).",
            "anyOf": [
                r("expr"),
                { "type": "object", "additionalProperties": r("value") },
            ],
        },
        "fields": {
            "description": "Named values.",
            "type": "object",
            "additionalProperties": r("value"),
        },
        "assigns": {
            "description": "Data item (or `row.column` inside `for_each`) -> value.",
            "type": "object",
            "propertyNames": { "pattern": "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$" },
            "additionalProperties": r("expr"),
        },
        "type_name": {
            "description": "A type: string, text, integer, decimal, money, money(CUR), bool, date, datetime, email, phone, url, select, table, or id(provider.kind).",
            "anyOf": [
                { "enum": ["string", "text", "integer", "decimal", "money", "bool", "date", "datetime", "email", "phone", "url", "select", "table"] },
                { "type": "string", "pattern": "^money\\([A-Z]{3}\\)$", "description": "Money fixed to one ISO 4217 currency, e.g. money(JPY)." },
                choices(
                    "A typed provider id, e.g. id(stripe.customer).",
                    &id_types,
                    json!({ "type": "string", "pattern": "^id\\([A-Za-z_][A-Za-z0-9_]*\\.[A-Za-z_][A-Za-z0-9_]*\\)$" }),
                ),
            ],
        },
        "data_item": data_item(),
        "connection": connection(providers, &provider_names),
        "credential": {
            "description": "A secret, from the environment or a secret file; never written into the flow file.",
            "oneOf": [
                object(&[("env", describe(json!({ "type": "string" }), "The environment variable that holds the secret."))], &["env"]),
                object(&[("secret_file", describe(json!({ "type": "string" }), "The file that holds the secret (e.g. /run/secrets/name)."))], &["secret_file"]),
            ],
        },
        "schedule": {
            "description": "`{ every: 1d }` or `{ cron: \"0 9 * * 1-5\" }`.",
            "oneOf": [
                object(&[("every", describe(r("duration"), "How often."))], &["every"]),
                object(&[("cron", describe(json!({ "type": "string" }), "A cron expression: minute hour day month weekday."))], &["cron"]),
            ],
        },
        "start_schedule": {
            "description": "`{ every: 1d }` or `{ cron: \"0 9 * * 1-5\", timezone: Europe/Amsterdam }`, each with an optional `catch_up`.",
            "oneOf": [
                object(&[
                    ("every", describe(r("duration"), "How often: at whole multiples of this since 1970-01-01T00:00:00Z (`1d`: midnight UTC). Written out, not computed.")),
                    ("catch_up", r("catch_up")),
                ], &["every"]),
                object(&[
                    ("cron", describe(json!({ "type": "string" }), "A cron expression of five fields: minute hour day-of-month month day-of-week.")),
                    ("timezone", describe(json!({ "type": "string" }), "The IANA time zone the cron expression is read in (default UTC), e.g. Europe/Amsterdam.")),
                    ("catch_up", r("catch_up")),
                ], &["cron"]),
            ],
        },
        "catch_up": {
            "description": "Which ticks missed while no worker ran are started: `last` (the newest one; the default) or `all`.",
            "enum": ["last", "all"],
        },
        "start": {
            "oneOf": [
                { "const": "input", "description": "Input records: one from the CLI, an HTTP POST, or a CSV / JSON-lines file." },
                object(&[("schedule", describe(r("start_schedule"), "Start an issue on a schedule, one per tick."))], &["schedule"]),
                object(&[
                    ("event", describe(r("event"), "The provider event that starts an issue (a trigger).")),
                    ("connection", describe(r("name"), "Which connection to poll.")),
                    ("every", describe(r("duration"), "How often to poll for new events.")),
                ], &["event"]),
            ],
        },
        "event": choices("A provider event: provider.event.", &events, json!({ "type": "string", "pattern": dotted })),
        "action": choices("A provider action: provider.action.", &actions, json!({ "type": "string", "pattern": dotted })),
        "batch_action": choices("A provider batch action: provider.action.", &batch_actions, json!({ "type": "string", "pattern": dotted })),
        "retry": describe(object(&[
            ("max_attempts", describe(r("integer"), "At most this many attempts.")),
            ("backoff", describe(r("duration"), "The first backoff delay; doubled each attempt, with full jitter.")),
            ("max_backoff", describe(r("duration"), "The longest backoff delay.")),
        ], &[]), "Retry limits for network errors, 429 and 5xx."),
        "steps": {
            "type": "array",
            "items": r("step"),
        },
        "step": {
            "description": "A step: an `id` and exactly one kind key.",
            "oneOf": keys::STEP_KINDS.iter().map(|k| r(&format!("step_{k}"))).collect::<Vec<_>>(),
        },
        "http": http(),
        "auth": auth(),
        "body": body(),
        "wait": wait(),
    });
    if let Value::Object(m) = &mut defs {
        for kind in keys::STEP_KINDS {
            m.insert(format!("step_{kind}"), step(kind, providers));
        }
    }
    defs
}

fn data_item() -> Value {
    let full = object(
        &[
            ("type", describe(r("type_name"), "The item's type.")),
            (
                "required",
                describe(
                    json!({ "type": "boolean" }),
                    "Whether every issue must have a value.",
                ),
            ),
            (
                "default",
                describe(r("expr"), "The value when none is given."),
            ),
            ("min", describe(r("expr"), "The smallest value allowed.")),
            ("max", describe(r("expr"), "The largest value allowed.")),
            (
                "max_length",
                describe(r("integer"), "The longest text allowed, in characters."),
            ),
            (
                "pattern",
                describe(
                    json!({ "type": "string" }),
                    "A regular expression the text must match.",
                ),
            ),
            ("label", describe(r("text"), "A human-readable label.")),
            (
                "options",
                describe(
                    json!({ "type": "object", "additionalProperties": r("text") }),
                    "The options of a select: id -> label. An option whose id starts with another's id is its child (\"81\" is under \"8\").",
                ),
            ),
            (
                "columns",
                describe(
                    json!({ "type": "object", "propertyNames": { "minLength": 1 }, "additionalProperties": r("data_item") }),
                    "The typed columns of a table.",
                ),
            ),
        ],
        &["type"],
    );
    let mut full = full;
    if let Value::Object(m) = &mut full {
        // `options` only with `type: select`, `columns` only with `type: table`.
        m.insert(
            "allOf".into(),
            json!([
                {
                    "if": { "required": ["options"] },
                    "then": { "properties": { "type": { "const": "select" } } },
                },
                {
                    "if": { "required": ["columns"] },
                    "then": { "properties": { "type": { "const": "table" } } },
                },
            ]),
        );
    }
    json!({
        "description": "A data item: a type (`notes: text`) or a map with `type` and constraints.",
        "oneOf": [r("type_name"), full],
    })
}

fn connection(providers: &[&'static Provider], provider_names: &[(String, String)]) -> Value {
    let mut c = object(
        &[
            (
                "provider",
                choices("The payment provider.", provider_names, r("name")),
            ),
            (
                "mode",
                describe(
                    json!({ "enum": ["test", "sandbox", "live"] }),
                    "test or sandbox (the default), or live (real money; must be said explicitly).",
                ),
            ),
            (
                "credentials",
                describe(
                    json!({ "type": "object", "propertyNames": { "minLength": 1 }, "additionalProperties": r("credential") }),
                    "The provider's credentials, each `{ env: NAME }` or `{ secret_file: PATH }`.",
                ),
            ),
            (
                "settings",
                describe(r("fields"), "Non-secret provider settings."),
            ),
        ],
        &["provider"],
    );
    // Per provider: its credential and setting names, for completion.
    let per_provider: Vec<Value> = providers
        .iter()
        .map(|p| {
            let creds: Map<String, Value> = p
                .credentials
                .iter()
                .map(|cr| {
                    let d = if cr.description.is_empty() {
                        cr.name.clone()
                    } else {
                        cr.description.clone()
                    };
                    (cr.name.clone(), describe(r("credential"), &d))
                })
                .collect();
            let settings: Map<String, Value> =
                p.settings.iter().map(|f| (f.name.clone(), field(f))).collect();
            json!({
                "if": { "properties": { "provider": { "const": p.name } }, "required": ["provider"] },
                "then": {
                    "properties": {
                        "credentials": { "properties": creds },
                        "settings": { "properties": settings },
                    },
                },
            })
        })
        .collect();
    if let Value::Object(m) = &mut c {
        m.insert("allOf".into(), Value::Array(per_provider));
    }
    c
}

/// A catalog field as a property schema: its description, and its allowed
/// values for completion (or any `${…}` expression).
fn field(f: &Field) -> Value {
    let mut d = f.description.clone();
    if f.required {
        d = format!("(required) {d}");
    }
    if f.enum_values.is_empty() {
        describe(r("value"), d.trim())
    } else {
        json!({
            "description": d.trim(),
            "anyOf": [
                { "enum": f.enum_values },
                { "type": "string", "pattern": "\\$\\{" },
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn property_names(schema: &Value) -> BTreeSet<String> {
        schema["properties"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| (*k).to_owned()).collect()
    }

    /// The schema accepts exactly the keys the YAML front end accepts.
    #[test]
    fn keys_match_the_front_end() {
        let schema = json_schema();
        let defs = &schema["$defs"];
        assert_eq!(property_names(&schema), set(keys::FLOW));
        assert_eq!(
            property_names(&defs["data_item"]["oneOf"][1]),
            set(keys::DATA_ITEM)
        );
        assert_eq!(property_names(&defs["connection"]), set(keys::CONNECTION));
        assert_eq!(property_names(&defs["http"]), set(keys::HTTP));
        assert_eq!(property_names(&defs["retry"]), set(keys::RETRY));
        assert_eq!(
            property_names(&defs["wait"]["oneOf"][0]),
            set(keys::WAIT_EVENT)
        );
        assert_eq!(
            property_names(&defs["wait"]["oneOf"][1]),
            set(keys::WAIT_SIGNAL)
        );
        for kind in keys::STEP_KINDS {
            let mut expected = set(keys::step_keys(kind));
            expected.insert("id".into());
            expected.insert((*kind).to_owned());
            assert_eq!(
                property_names(&defs[format!("step_{kind}")]),
                expected,
                "{kind}"
            );
        }
        let case = &defs["step_switch"]["properties"]["cases"]["items"];
        assert_eq!(property_names(case), set(keys::CASE));
    }

    #[test]
    fn lists_catalog_actions() {
        let schema = json_schema();
        let actions = schema["$defs"]["action"].to_string();
        assert!(actions.contains("stripe.create_charge"), "{actions}");
    }
}
