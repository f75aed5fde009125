//! The keys each YAML mapping of a flow file accepts. The lowering rejects
//! any other key (E0010); the JSON Schema (`crate::schema`) lists the same
//! keys, and a test keeps the two in step.

/// Top-level keys of a flow file.
pub const FLOW: &[&str] = &[
    "flow",
    "description",
    "data",
    "connections",
    "start",
    "steps",
];

/// Keys of a data item (and of a table column, a response field, a signal field).
pub const DATA_ITEM: &[&str] = &[
    "type",
    "required",
    "default",
    "min",
    "max",
    "max_length",
    "pattern",
    "label",
    "options",
    "columns",
];

/// Keys of a connection.
pub const CONNECTION: &[&str] = &["provider", "mode", "credentials", "settings"];

/// The two credential sources written as a map.
pub const CREDENTIAL: &[&str] = &["env", "secret_file"];

/// Keys of a start written as a map.
pub const START: &[&str] = &["schedule", "event", "connection", "every"];

/// Keys of a batch's `schedule:`.
pub const SCHEDULE: &[&str] = &["cron", "every"];

/// Keys of a start's schedule (`start: { schedule: … }`).
pub const START_SCHEDULE: &[&str] = &["cron", "every", "timezone", "catch_up"];

/// The key that names a step.
pub const STEP_ID: &str = "id";

/// The step kinds, each the key that gives a step its kind.
pub const STEP_KINDS: &[&str] = &[
    "action", "http", "wait", "timer", "if", "switch", "for_each", "set", "fail", "end", "goto",
    "batch",
];

/// The keys a step of `kind` accepts besides `id` and the kind key itself.
pub fn step_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "action" => &["connection", "with", "save", "retry"],
        "http" => &["save", "retry"],
        "wait" => &["timeout", "on_timeout", "save"],
        "if" => &["then", "else"],
        "switch" => &["cases", "default"],
        "for_each" => &["as", "do"],
        "batch" => &["connection", "schedule", "max", "with", "save", "retry"],
        _ => &[],
    }
}

/// Keys of `retry:`.
pub const RETRY: &[&str] = &["max_attempts", "backoff", "max_backoff"];

/// Keys of `http:`.
pub const HTTP: &[&str] = &[
    "method", "url", "auth", "headers", "query", "body", "timeout", "response",
];

/// HTTP auth forms written as a map (`auth: none` is the scalar form).
pub const HTTP_AUTH: &[&str] = &["basic", "bearer", "oauth2", "header"];

/// Keys of `auth: { basic: … }`.
pub const HTTP_BASIC: &[&str] = &["username", "password"];

/// Keys of `auth: { oauth2: … }`.
pub const HTTP_OAUTH2: &[&str] = &["token_url", "client_id", "client_secret", "scope"];

/// Keys of `auth: { header: …, value: … }`.
pub const HTTP_HEADER: &[&str] = &["header", "value"];

/// HTTP body forms.
pub const HTTP_BODY: &[&str] = &["json", "form", "xml", "text"];

/// Keys of `wait:` waiting for a provider event.
pub const WAIT_EVENT: &[&str] = &["event", "for", "poll", "connection"];

/// Keys of `wait:` waiting for a signal.
pub const WAIT_SIGNAL: &[&str] = &["signal", "data"];

/// Keys of `timer:`.
pub const TIMER: &[&str] = &["until", "for"];

/// Keys of a `switch` case.
pub const CASE: &[&str] = &["when", "steps"];

/// Every key a step may have, for "did you mean" on a step without a kind.
pub fn all_step_keys() -> Vec<&'static str> {
    let mut keys = vec![STEP_ID];
    for kind in STEP_KINDS {
        keys.push(kind);
        for key in step_keys(kind) {
            if !keys.contains(key) {
                keys.push(key);
            }
        }
    }
    keys
}
