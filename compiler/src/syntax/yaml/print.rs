//! The AST -> canonical YAML (`flowc fmt --to yaml`).
//!
//! The output is deterministic, in block style with short maps on one line
//! (`{ type: string, required: true }`), and reads back to an equal AST
//! (modulo spans): strings that would be misread are quoted, expressions are
//! written as `${…}`, templates with their `${…}` parts.

use super::emit::{Layout, MapBuilder, Y, document};
use crate::ast::*;
use crate::syntax::expr::{print_expr, print_template_text};

/// Prints a flow as YAML.
pub fn print(flow: &Flow) -> String {
    let mut top = MapBuilder::new();
    top.put("flow", ident(&flow.name));
    top.opt("description", flow.description.as_ref().map(text));
    if !flow.data.is_empty() {
        top.put("data", data_items(&flow.data));
    }
    if !flow.connections.is_empty() {
        let connections = flow
            .connections
            .iter()
            .map(|c| (c.name.name.clone(), connection(c)))
            .collect();
        top.put("connections", Y::Map(connections, Layout::Block));
    }
    match flow.start.as_slice() {
        [] => {}
        [one] => {
            top.put("start", start(one));
        }
        many => {
            top.put(
                "start",
                Y::Seq(many.iter().map(start).collect(), Layout::Auto),
            );
        }
    }
    if !flow.steps.is_empty() {
        top.put("steps", steps(&flow.steps));
    }
    let Y::Map(entries, _) = top.build(Layout::Block) else {
        return String::new();
    };
    document(&entries)
}

fn ident(i: &Ident) -> Y {
    Y::text(i.name.clone())
}

fn text(s: &Str) -> Y {
    Y::text(s.value.clone())
}

fn dotted(d: &DottedName) -> Y {
    Y::text(d.text())
}

/// An expression as a YAML scalar: literals plain, strings and templates as
/// text, anything else as `${…}`.
pub fn expr(e: &Expr) -> Y {
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Decimal(_)
        | ExprKind::Bool(_)
        | ExprKind::Null
        | ExprKind::Duration(_) => Y::lit(print_expr(e)),
        ExprKind::Str(s) => Y::text(print_template_text(&[TemplatePart::Text(s.clone())])),
        // `"${a}"` alone would read back as the expression `a` (of its own
        // type), not as text: keep the DSL string inside `${…}`.
        // Likewise text ending in `$` before a `${…}` part: `$${` would
        // read as an escaped `${`.
        ExprKind::Template(parts)
            if matches!(parts.as_slice(), [TemplatePart::Expr(_)])
                || parts.windows(2).any(|w| {
                    matches!(w, [TemplatePart::Text(t), TemplatePart::Expr(_)] if t.ends_with('$'))
                }) =>
        {
            Y::text(format!("${{{}}}", print_expr(e)))
        }
        ExprKind::Template(parts) => Y::quoted(print_template_text(parts)),
        _ => Y::text(format!("${{{}}}", print_expr(e))),
    }
}

// ---------------------------------------------------------------- data

fn data_items(items: &[DataItem]) -> Y {
    Y::Map(
        items
            .iter()
            .map(|i| (i.name.name.clone(), data_item(i)))
            .collect(),
        Layout::Block,
    )
}

fn data_item(item: &DataItem) -> Y {
    let c = &item.constraints;
    let (options, columns) = match &item.ty.kind {
        TypeKind::Select { options } => (options.as_slice(), &[][..]),
        TypeKind::Table { columns } => (&[][..], columns.as_slice()),
        _ => (&[][..], &[][..]),
    };
    let bare = item.label.is_none() && *c == Constraints::default();
    if bare && options.is_empty() && columns.is_empty() {
        return type_name(&item.ty);
    }
    let mut m = MapBuilder::new();
    m.put("type", type_name(&item.ty));
    if !options.is_empty() {
        let options = options
            .iter()
            .map(|o| (o.id.value.clone(), text(&o.label)))
            .collect();
        m.put("options", Y::Map(options, Layout::Auto));
    }
    if c.required.is_some() {
        m.put("required", Y::lit("true"));
    }
    m.opt("default", c.default.as_ref().map(expr));
    m.opt("min", c.min.as_ref().map(expr));
    m.opt("max", c.max.as_ref().map(expr));
    m.opt("max_length", c.max_length.as_ref().map(expr));
    m.opt("pattern", c.pattern.as_ref().map(text));
    m.opt("label", item.label.as_ref().map(text));
    // Columns last: they are a block of their own.
    if !columns.is_empty() {
        m.put("columns", data_items(columns));
    }
    m.build(Layout::Auto)
}

fn type_name(ty: &TypeExpr) -> Y {
    Y::text(match &ty.kind {
        TypeKind::String => "string".to_owned(),
        TypeKind::Text => "text".to_owned(),
        TypeKind::Integer => "integer".to_owned(),
        TypeKind::Decimal => "decimal".to_owned(),
        TypeKind::Money { currency: None } => "money".to_owned(),
        TypeKind::Money {
            currency: Some(cur),
        } => format!("money({})", cur.name),
        TypeKind::Bool => "bool".to_owned(),
        TypeKind::Date => "date".to_owned(),
        TypeKind::Datetime => "datetime".to_owned(),
        TypeKind::Email => "email".to_owned(),
        TypeKind::Phone => "phone".to_owned(),
        TypeKind::Url => "url".to_owned(),
        TypeKind::Select { .. } => "select".to_owned(),
        TypeKind::Table { .. } => "table".to_owned(),
        TypeKind::Id { provider, kind } => format!("id({}.{})", provider.name, kind.name),
        TypeKind::Unknown(name) => name.name.clone(),
    })
}

// ---------------------------------------------------------------- connections

fn connection(c: &Connection) -> Y {
    let mut m = MapBuilder::new();
    m.put("provider", ident(&c.provider));
    m.opt("mode", c.mode.as_ref().map(ident));
    if !c.credentials.is_empty() {
        let creds = c
            .credentials
            .iter()
            .map(|cr| (cr.name.name.clone(), credential(cr)))
            .collect();
        m.put("credentials", Y::Map(creds, Layout::Block));
    }
    if !c.settings.is_empty() {
        m.put("settings", fields(&c.settings, Layout::Block));
    }
    m.build(Layout::Block)
}

fn credential(c: &Credential) -> Y {
    match &c.source {
        CredentialSource::Env(name) => Y::Map(vec![("env".into(), text(name))], Layout::Auto),
        CredentialSource::SecretFile(path) => {
            Y::Map(vec![("secret_file".into(), text(path))], Layout::Auto)
        }
        CredentialSource::Literal(secret) => text(secret),
    }
}

// ---------------------------------------------------------------- start

fn start(s: &Start) -> Y {
    match &s.kind {
        StartKind::Input => Y::lit("input"),
        StartKind::Schedule(s) => {
            Y::Map(vec![("schedule".into(), start_schedule(s))], Layout::Auto)
        }
        StartKind::Event {
            event,
            connection,
            every,
        } => MapBuilder::new()
            .put("event", dotted(event))
            .opt("connection", connection.as_ref().map(ident))
            .opt("every", every.as_ref().map(expr))
            .build(Layout::Auto),
    }
}

fn start_schedule(s: &ScheduleStart) -> Y {
    let mut m = MapBuilder::new();
    match &s.schedule {
        Schedule::Cron(cron) => m.put("cron", text(cron)),
        Schedule::Every(every) => m.put("every", expr(every)),
    };
    m.opt("timezone", s.timezone.as_ref().map(text))
        .opt("catch_up", s.catch_up.as_ref().map(ident))
        .build(Layout::Auto)
}

fn schedule(s: &Schedule) -> Y {
    match s {
        Schedule::Cron(cron) => Y::Map(vec![("cron".into(), text(cron))], Layout::Auto),
        Schedule::Every(every) => Y::Map(vec![("every".into(), expr(every))], Layout::Auto),
    }
}

// ---------------------------------------------------------------- values

fn fields(fields: &[Field], layout: Layout) -> Y {
    Y::Map(
        fields
            .iter()
            .map(|f| (f.name.name.clone(), value(&f.value)))
            .collect(),
        layout,
    )
}

fn value(v: &Value) -> Y {
    match v {
        Value::Expr(e) => expr(e),
        Value::Map(fs, _) => fields(fs, Layout::Auto),
    }
}

fn assigns(assigns: &[Assign], layout: Layout) -> Y {
    Y::Map(
        assigns
            .iter()
            .map(|a| (a.target.name.clone(), expr(&a.value)))
            .collect(),
        layout,
    )
}

fn retry(r: &Retry) -> Y {
    MapBuilder::new()
        .opt("max_attempts", r.max_attempts.as_ref().map(expr))
        .opt("backoff", r.backoff.as_ref().map(expr))
        .opt("max_backoff", r.max_backoff.as_ref().map(expr))
        .build(Layout::Auto)
}

// ---------------------------------------------------------------- steps

fn steps(steps: &[Step]) -> Y {
    Y::Seq(steps.iter().map(step).collect(), Layout::Block)
}

fn step(s: &Step) -> Y {
    let mut m = MapBuilder::new();
    m.put("id", ident(&s.id));
    let save = |m: &mut MapBuilder, save: &[Assign]| {
        if !save.is_empty() {
            m.put("save", assigns(save, Layout::Block));
        }
    };
    let inputs = |m: &mut MapBuilder, inputs: &[Field]| {
        if !inputs.is_empty() {
            m.put("with", fields(inputs, Layout::Block));
        }
    };
    match &s.kind {
        StepKind::Action(a) => {
            m.put("action", dotted(&a.action));
            m.opt("connection", a.connection.as_ref().map(ident));
            inputs(&mut m, &a.inputs);
            save(&mut m, &a.save);
            m.opt("retry", a.retry.as_ref().map(retry));
        }
        StepKind::Http(h) => {
            m.put("http", http(h));
            save(&mut m, &h.save);
            m.opt("retry", h.retry.as_ref().map(retry));
        }
        StepKind::Wait(w) => {
            m.put("wait", wait_on(&w.on));
            m.opt("timeout", w.timeout.as_ref().map(expr));
            m.opt("on_timeout", w.on_timeout.as_ref().map(ident));
            save(&mut m, &w.save);
        }
        StepKind::Timer(t) => {
            let (key, e) = match t {
                TimerStep::Until(e) => ("until", e),
                TimerStep::For(e) => ("for", e),
            };
            m.put("timer", Y::Map(vec![(key.into(), expr(e))], Layout::Auto));
        }
        StepKind::If(i) => {
            m.put("if", expr(&i.condition));
            m.put("then", steps(&i.then));
            if !i.otherwise.is_empty() {
                m.put("else", steps(&i.otherwise));
            }
        }
        StepKind::Switch(sw) => {
            m.put("switch", expr(&sw.on));
            let cases = sw
                .cases
                .iter()
                .map(|c| {
                    MapBuilder::new()
                        .put(
                            "when",
                            Y::Seq(c.values.iter().map(expr).collect(), Layout::Auto),
                        )
                        .put("steps", steps(&c.steps))
                        .build(Layout::Block)
                })
                .collect();
            m.put("cases", Y::Seq(cases, Layout::Block));
            m.opt("default", sw.default.as_deref().map(steps));
        }
        StepKind::ForEach(f) => {
            m.put("for_each", expr(&f.over));
            m.put("as", ident(&f.var));
            m.put("do", steps(&f.steps));
        }
        StepKind::Set(set) => {
            m.put("set", assigns(set, Layout::Auto));
        }
        StepKind::Fail(message) => {
            m.put("fail", expr(message));
        }
        StepKind::End(state) => {
            m.put("end", state.as_ref().map_or_else(|| Y::lit("null"), ident));
        }
        StepKind::Goto(target) => {
            m.put("goto", ident(target));
        }
        StepKind::Batch(b) => {
            m.put("batch", dotted(&b.action));
            m.opt("connection", b.connection.as_ref().map(ident));
            m.opt("schedule", b.schedule.as_ref().map(schedule));
            m.opt("max", b.max.as_ref().map(expr));
            inputs(&mut m, &b.inputs);
            save(&mut m, &b.save);
            m.opt("retry", b.retry.as_ref().map(retry));
        }
    }
    m.build(Layout::Block)
}

fn http(h: &HttpStep) -> Y {
    let mut m = MapBuilder::new();
    m.put("method", ident(&h.method));
    m.put("url", expr(&h.url));
    m.opt("auth", h.auth.as_ref().map(auth));
    if !h.headers.is_empty() {
        m.put("headers", fields(&h.headers, Layout::Auto));
    }
    if !h.query.is_empty() {
        m.put("query", fields(&h.query, Layout::Auto));
    }
    m.opt("body", h.body.as_ref().map(body));
    m.opt("timeout", h.timeout.as_ref().map(expr));
    if !h.response.is_empty() {
        m.put("response", data_items(&h.response));
    }
    m.build(Layout::Block)
}

fn auth(a: &HttpAuth) -> Y {
    let one = |key: &str, v: Y| Y::Map(vec![(key.to_owned(), v)], Layout::Auto);
    match &a.kind {
        HttpAuthKind::None => Y::lit("none"),
        HttpAuthKind::Basic { username, password } => one(
            "basic",
            MapBuilder::new()
                .put("username", credential(username))
                .put("password", credential(password))
                .build(Layout::Auto),
        ),
        HttpAuthKind::Bearer { token } => one("bearer", credential(token)),
        HttpAuthKind::OAuth2 {
            token_url,
            client_id,
            client_secret,
            scope,
        } => one(
            "oauth2",
            MapBuilder::new()
                .put("token_url", expr(token_url))
                .put("client_id", credential(client_id))
                .put("client_secret", credential(client_secret))
                .opt("scope", scope.as_ref().map(expr))
                .build(Layout::Block),
        ),
        HttpAuthKind::Header { name, value } => MapBuilder::new()
            .put("header", text(name))
            .put("value", credential(value))
            .build(Layout::Auto),
    }
}

fn body(b: &HttpBody) -> Y {
    let (key, v) = match &b.kind {
        HttpBodyKind::Json(v) => ("json", value(v)),
        HttpBodyKind::Form(fs) => ("form", fields(fs, Layout::Auto)),
        HttpBodyKind::Xml(e) => ("xml", expr(e)),
        HttpBodyKind::Text(e) => ("text", expr(e)),
    };
    Y::Map(vec![(key.into(), v)], Layout::Auto)
}

fn wait_on(on: &WaitOn) -> Y {
    match on {
        WaitOn::Event {
            event,
            connection,
            matching,
            poll,
        } => MapBuilder::new()
            .put("event", dotted(event))
            .opt("for", matching.as_ref().map(expr))
            .opt("poll", poll.as_ref().map(expr))
            .opt("connection", connection.as_ref().map(ident))
            .build(Layout::Auto),
        WaitOn::Signal { name, fields } => {
            let mut m = MapBuilder::new();
            m.put("signal", ident(name));
            if !fields.is_empty() {
                m.put("data", data_items_auto(fields));
            }
            m.build(Layout::Auto)
        }
    }
}

/// Data items that may share a line (a signal's fields).
fn data_items_auto(items: &[DataItem]) -> Y {
    Y::Map(
        items
            .iter()
            .map(|i| (i.name.name.clone(), data_item(i)))
            .collect(),
        Layout::Auto,
    )
}
