//! Steps: the step enum, `impl StepId`, `impl Flow` and one `match` arm per
//! step. Nested `if`/`switch`/`for_each` blocks are flattened into steps
//! with explicit next steps.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::data::{self, Model};
use super::events;
use super::expr::{self, Local, Scope};
use super::names;
use crate::ir::{self, Expr, HttpAuth, HttpBody, StepKind, Target, Type, Value, WaitOn};

/// Where control goes after a step.
#[derive(Debug, Clone, PartialEq)]
enum After {
    Step(String),
    /// The end of a `for_each` body.
    LoopNext,
    /// The end of the flow: completed.
    End,
}

/// One step of the flattened flow.
#[derive(Debug)]
struct Node<'a> {
    id: String,
    /// `None` for a synthetic step (the end of a loop that has no step after it).
    step: Option<&'a ir::Step>,
    next: After,
    /// The enclosing loops: (variable, table item).
    loops: Vec<(String, String)>,
}

fn flatten<'a>(
    steps: &'a [ir::Step],
    after: &After,
    loops: &[(String, String)],
    out: &mut Vec<Node<'a>>,
) {
    for (i, step) in steps.iter().enumerate() {
        let next = steps
            .get(i + 1)
            .map_or_else(|| after.clone(), |s| After::Step(s.id.clone()));
        out.push(Node {
            id: step.id.clone(),
            step: Some(step),
            next: next.clone(),
            loops: loops.to_vec(),
        });
        match &step.kind {
            StepKind::If {
                then, otherwise, ..
            } => {
                flatten(then, &next, loops, out);
                flatten(otherwise, &next, loops, out);
            }
            StepKind::Switch { cases, default, .. } => {
                for case in cases {
                    flatten(&case.steps, &next, loops, out);
                }
                flatten(default, &next, loops, out);
            }
            StepKind::ForEach { over, var, steps } => {
                let item = match &over.kind {
                    ir::ExprKind::Data(item) => item.clone(),
                    _ => String::new(),
                };
                let mut inner = loops.to_vec();
                inner.push((var.clone(), item));
                flatten(steps, &After::LoopNext, &inner, out);
                if !matches!(next, After::Step(_)) && !steps.is_empty() {
                    // `EnterLoop` needs a step to go on with.
                    out.push(Node {
                        id: format!("{}_done", step.id),
                        step: None,
                        next: next.clone(),
                        loops: loops.to_vec(),
                    });
                }
            }
            StepKind::Timer(_) if !matches!(next, After::Step(_)) => out.push(Node {
                id: format!("{}_done", step.id),
                step: None,
                next: next.clone(),
                loops: loops.to_vec(),
            }),
            _ => {}
        }
    }
}

/// Visits every expression of the flow's steps, with the id of the step
/// whose `save` holds it (where its own results are read from the response).
pub fn visit_exprs(flow: &ir::Flow, f: &mut dyn FnMut(Option<&str>, &Expr)) {
    visit_all(flow, &mut |owner, e| f(owner, e));
}

fn visit_all(flow: &ir::Flow, f: &mut dyn FnMut(Option<&str>, &Expr)) {
    let mut g = |step: &ir::Step, saves: bool, e: &Expr| f(saves.then_some(step.id.as_str()), e);
    flow.walk_steps(&mut |step| visit_step(step, &mut |saves, e| g(step, saves, e)));
}

/// The expressions of one step; `true` for those in its `save`.
fn visit_step(step: &ir::Step, f: &mut dyn FnMut(bool, &Expr)) {
    let mut f_in = |e: &Expr| f(false, e);
    let saves = step_exprs(step, &mut f_in);
    saves.iter().for_each(|a| f(true, &a.value));
}

fn step_exprs<'a>(step: &'a ir::Step, f: &mut dyn FnMut(&Expr)) -> &'a [ir::Assign] {
    fn value(v: &Value, f: &mut dyn FnMut(&Expr)) {
        match v {
            Value::Expr(e) => f(e),
            Value::Map(fields) => fields.iter().for_each(|x| value(&x.value, f)),
        }
    }
    {
        match &step.kind {
            StepKind::Action(a) => {
                a.inputs.iter().for_each(|x| value(&x.value, f));
                &a.save
            }
            StepKind::Batch(b) => {
                b.inputs.iter().for_each(|x| value(&x.value, f));
                &b.save
            }
            StepKind::Http(h) => {
                f(&h.url);
                h.headers
                    .iter()
                    .chain(&h.query)
                    .for_each(|x| value(&x.value, f));
                match &h.body {
                    Some(HttpBody::Json(v)) => value(v, f),
                    Some(HttpBody::Form(fields)) => fields.iter().for_each(|x| value(&x.value, f)),
                    Some(HttpBody::Xml(e) | HttpBody::Text(e)) => f(e),
                    None => {}
                }
                &h.save
            }
            StepKind::Wait(w) => {
                if let WaitOn::Event {
                    matching: Some(m), ..
                } = &w.on
                {
                    f(m);
                }
                &w.save
            }
            StepKind::Timer(ir::Timer::Until(e) | ir::Timer::For(e)) => {
                f(e);
                &[]
            }
            StepKind::If { condition, .. } => {
                f(condition);
                &[]
            }
            StepKind::Switch { on, cases, .. } => {
                f(on);
                cases.iter().flat_map(|c| &c.values).for_each(&mut *f);
                &[]
            }
            StepKind::ForEach { over, .. } => {
                f(over);
                &[]
            }
            StepKind::Set(assigns) => assigns,
            StepKind::Fail(e) => {
                f(e);
                &[]
            }
            _ => &[],
        }
    }
}

fn goto(next: &After) -> TokenStream {
    match next {
        After::Step(id) => {
            let v = names::step_variant(id);
            quote!(::flowc_runtime::flow::Transition::Next(Step::#v))
        }
        After::LoopNext => quote!(::flowc_runtime::flow::Transition::LoopNext),
        After::End => quote!(::flowc_runtime::flow::Transition::End(
            ::flowc_runtime::flow::Outcome::Completed
        )),
    }
}

/// Where a block starts: its first step, else where the block goes after.
fn enter(block: &[ir::Step], next: &After) -> TokenStream {
    match block.first() {
        Some(s) => goto(&After::Step(s.id.clone())),
        None => goto(next),
    }
}

/// The step enum, its `StepId` impl, per-step statics and `impl Flow`.
pub fn steps(flow: &ir::Flow, model: &Model) -> TokenStream {
    let mut nodes = Vec::new();
    flatten(&flow.steps, &After::End, &[], &mut nodes);
    let variants: Vec<Ident> = nodes.iter().map(|n| names::step_variant(&n.id)).collect();
    let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let mut statics = TokenStream::new();
    let arms: Vec<TokenStream> = nodes
        .iter()
        .map(|n| {
            let v = names::step_variant(&n.id);
            let scope = Scope {
                model,
                loops: &n.loops,
                local: None,
            };
            let body = match n.step {
                Some(step) => step_body(step, &n.next, scope, &mut statics),
                None => {
                    let t = goto(&n.next);
                    quote!(Ok(#t))
                }
            };
            // The row index of each enclosing loop the step reads.
            let text = body.to_string();
            let indices = n.loops.iter().enumerate().filter_map(|(depth, (var, _))| {
                let index = expr::index_ident(var);
                let depth = proc_macro2::Literal::usize_unsuffixed(depth);
                text.contains(&index.to_string()).then(|| {
                    quote!(let #index = ::flowc_runtime::rt::loop_index(cx.loop_indices(), #depth);)
                })
            });
            quote!(Step::#v => { #(#indices)* #body })
        })
        .collect();
    let signal_schema = signals(flow, &mut statics);
    let event_defs = events::event_defs(flow, &mut statics);
    let connection_settings = data::connection_settings(flow);
    let batch_steps: Vec<TokenStream> = nodes
        .iter()
        .filter_map(|n| match &n.step?.kind {
            StepKind::Batch(b) => {
                let (id, action) = (&n.id, format!("{}.{}", b.provider, b.action));
                let connection = &b.connection;
                Some(quote!((#id, #action, #connection)))
            }
            _ => None,
        })
        .collect();
    // Only a flow with batch steps says so (the trait's default is none).
    let batch_steps = if batch_steps.is_empty() {
        TokenStream::new()
    } else {
        quote! {
            fn batch_steps() -> &'static [(&'static str, &'static str, &'static str)] {
                &[#(#batch_steps),*]
            }
        }
    };
    let arms_text = quote!(#(#arms)*).to_string();
    let cx = if arms_text.contains("cx") {
        quote!(cx)
    } else {
        quote!(_cx)
    };
    let data_param = if arms_text.contains("data") {
        quote!(data)
    } else {
        quote!(_data)
    };
    let flow_ty = names::flow_type(&flow.name);
    let flow_name = &flow.name;
    let first = variants
        .first()
        .cloned()
        .unwrap_or_else(|| names::ident("Done"));
    quote! {
        /// The flow's steps, nested blocks flattened.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Step { #(#variants),* }

        impl ::flowc_runtime::flow::StepId for Step {
            const ALL: &'static [Step] = &[#(Step::#variants),*];
            fn id(self) -> &'static str {
                match self { #(Step::#variants => #ids),* }
            }
        }

        #statics

        /// The flow, for the runtime's engine and CLI.
        #[derive(Debug)]
        pub struct #flow_ty;

        impl ::flowc_runtime::flow::Flow for #flow_ty {
            const NAME: &'static str = #flow_name;
            type Data = Data;
            type Step = Step;

            fn schema() -> &'static ::flowc_runtime::value::DataSchema {
                &SCHEMA
            }
            fn connections() -> &'static [::flowc_runtime::flow::ConnectionDef] {
                &CONNECTIONS
            }
            #connection_settings
            #signal_schema
            #event_defs
            #batch_steps
            fn first_step() -> Step {
                Step::#first
            }
            fn run_step<'a>(
                step: Step,
                #data_param: &'a mut Data,
                #cx: &'a mut ::flowc_runtime::flow::StepContext,
            ) -> ::flowc_runtime::flow::BoxFuture<'a, ::core::result::Result<::flowc_runtime::flow::Transition<Step>, ::flowc_runtime::flow::StepError>> {
                ::std::boxed::Box::pin(async move {
                    match step { #(#arms)* }
                })
            }
        }
    }
}

/// `fn signal_schema` and the statics of signal payloads.
fn signals(flow: &ir::Flow, statics: &mut TokenStream) -> TokenStream {
    let mut arms = Vec::new();
    flow.walk_steps(&mut |step| {
        if let StepKind::Wait(ir::Wait {
            on: WaitOn::Signal { name, fields },
            ..
        }) = &step.kind
        {
            let items = format!("SIGNAL_{}", names::upper(name));
            let schema = format_ident!("{}_SCHEMA", items);
            let items_ident = names::ident(&items);
            statics.extend(data::item_statics(&items, fields));
            statics.extend(quote! {
                static #schema: ::flowc_runtime::value::DataSchema = ::flowc_runtime::value::DataSchema::new(&#items_ident);
            });
            arms.push(quote!(#name => Some(&#schema),));
        }
    });
    if arms.is_empty() {
        return TokenStream::new();
    }
    quote! {
        fn signal_schema(name: &str) -> ::core::option::Option<&'static ::flowc_runtime::value::DataSchema> {
            match name { #(#arms)* _ => None }
        }
    }
}

/// `target = value`.
fn assign(a: &ir::Assign, s: Scope<'_>) -> TokenStream {
    match &a.target {
        Target::Data(name) => {
            let f = names::field(name);
            let (ty, optional) = s
                .model
                .items
                .get(name)
                .cloned()
                .unwrap_or((Type::Json, true));
            if a.value.kind == ir::ExprKind::Null {
                return if optional {
                    quote!(data.#f = None;)
                } else {
                    quote!(data.#f = ::core::default::Default::default();)
                };
            }
            if optional && let Some(v) = expr::optional_step_result(&a.value, &ty, s) {
                return quote!(data.#f = #v;);
            }
            let v = expr::expr_as(&a.value, &ty, s);
            if optional {
                quote!(data.#f = Some(#v);)
            } else {
                quote!(data.#f = #v;)
            }
        }
        Target::LoopField { var, field } => {
            let Some((_, item)) = s.loop_item(var) else {
                return quote!(::core::compile_error!("flowc: unknown loop variable"););
            };
            let (t, c) = (names::field(item), names::field(field));
            let optional = s.model.column_optional(item, field);
            let ty = match s.model.items.get(item) {
                Some((Type::Table(cols), _)) => cols
                    .iter()
                    .find(|col| col.name == *field)
                    .map(|col| col.ty.clone())
                    .unwrap_or(Type::Json),
                _ => Type::Json,
            };
            let v = expr::expr_as(&a.value, &ty, s);
            let v = if optional { quote!(Some(#v)) } else { v };
            let index = expr::index_ident(var);
            quote! {
                let value = #v;
                ::flowc_runtime::rt::row_mut(&mut data.#t, #index)?.#c = value;
            }
        }
    }
}

/// The JSON of an input or body value.
fn json_value(v: &Value, s: Scope<'_>) -> TokenStream {
    match v {
        Value::Expr(e) => {
            let v = expr::by_ref(e, s);
            quote!(::flowc_runtime::rt::json(#v)?)
        }
        Value::Map(fields) => json_object(fields, s),
    }
}

fn json_object(fields: &[ir::Field], s: Scope<'_>) -> TokenStream {
    let entries = fields.iter().map(|f| {
        let (k, v) = (&f.name, json_value(&f.value, s));
        quote!((#k, #v))
    });
    quote!(::flowc_runtime::rt::object([#(#entries),*]))
}

/// The inputs of a provider action or batch record: like [`json_object`], except
/// that an optional data item (or table column) given whole to an input that
/// is not required is passed as it is, `null` when it has no value. The
/// runtime leaves out an input that is `null`, as if it were not given (an
/// empty column of a batch record). A required input still fails the step
/// when its item has no value, naming the item.
fn inputs_object(
    provider: &str,
    action: &str,
    connection: &str,
    fields: &[ir::Field],
    s: Scope<'_>,
) -> TokenStream {
    let catalog = flowc_catalog::provider(provider).and_then(|p| p.action(action));
    let mut entries: Vec<TokenStream> = fields
        .iter()
        .map(|f| {
            let k = &f.name;
            let optional_input = catalog
                .and_then(|a| a.input(&f.name))
                .is_some_and(|i| !i.required);
            let v = match &f.value {
                Value::Expr(e) if optional_input => match expr::optional_place(e, s) {
                    Some(place) => quote!(::flowc_runtime::rt::json(&#place)?),
                    None => json_value(&f.value, s),
                },
                _ => json_value(&f.value, s),
            };
            quote!((#k, #v))
        })
        .collect();
    // An input the flow leaves out that takes a connection setting's value
    // (Buckaroo's `currency`): the connection's setting, else its default.
    let conn = s.model.connections.iter().find(|c| c.name == connection);
    for input in catalog.into_iter().flat_map(|a| &a.inputs) {
        let Some(setting) = &input.default_setting else {
            continue;
        };
        if fields.iter().any(|f| f.name == input.name) {
            continue;
        }
        let given = conn.and_then(|c| c.settings.iter().find(|f| f.name == *setting));
        let v = match given {
            Some(f) => json_value(&f.value, s),
            None => {
                let default = flowc_catalog::provider(provider)
                    .and_then(|p| p.settings.iter().find(|x| x.name == *setting))
                    .and_then(|x| x.default.clone());
                match default {
                    Some(d) => quote!(::flowc_runtime::rt::json(&#d)?),
                    None => continue,
                }
            }
        };
        let k = &input.name;
        entries.push(quote!((#k, #v)));
    }
    quote!(::flowc_runtime::rt::object([#(#entries),*]))
}

/// Keeps the step results that expressions read, from `response.get(..)`.
fn keep_results(step: &str, s: Scope<'_>, get: impl Fn(&str) -> TokenStream) -> TokenStream {
    let keep = s
        .model
        .results
        .iter()
        .filter(|(st, _)| st == step)
        .map(|(_, field)| {
            let key = format!("{step}.{field}");
            let v = get(field);
            quote!(data.step_results.insert(::std::string::String::from(#key), #v);)
        });
    quote!(#(#keep)*)
}

fn retry(r: &Option<ir::Retry>, s: Scope<'_>) -> Option<TokenStream> {
    let r = r.as_ref()?;
    let opt = |e: &Option<Expr>| match e {
        Some(e) => {
            let v = expr::expr(e, s);
            quote!(Some(#v))
        }
        None => quote!(None),
    };
    let (a, b, c) = (opt(&r.max_attempts), opt(&r.backoff), opt(&r.max_backoff));
    Some(quote!(::flowc_runtime::rt::retry(#a, #b, #c)))
}

/// The `retry` field of an `ActionCall` or `BatchCall`: the step's policy, or
/// `None` for the flow's default.
fn retry_field(r: &Option<ir::Retry>, s: Scope<'_>) -> TokenStream {
    match retry(r, s) {
        Some(r) => quote!(::core::option::Option::Some(#r)),
        None => quote!(::core::option::Option::None),
    }
}

fn auth(a: &HttpAuth, s: Scope<'_>) -> Option<TokenStream> {
    let auth = quote!(::flowc_runtime::http::Auth);
    let sec = data::secret;
    Some(match a {
        HttpAuth::None => return None,
        HttpAuth::Basic { username, password } => {
            let (u, p) = (sec(username), sec(password));
            quote!(#auth::Basic { username: #u, password: #p })
        }
        HttpAuth::Bearer(t) => {
            let t = sec(t);
            quote!(#auth::Bearer(#t))
        }
        HttpAuth::OAuth2 {
            token_url,
            client_id,
            client_secret,
            scope,
        } => {
            let url = expr::string(token_url, s);
            let (id, secret) = (sec(client_id), sec(client_secret));
            let scope = match scope {
                Some(e) => {
                    let v = expr::string(e, s);
                    quote!(Some(#v))
                }
                None => quote!(None),
            };
            quote!(#auth::OAuth2 { token_url: #url, client_id: #id, client_secret: #secret, scope: #scope })
        }
        HttpAuth::Header { name, value } => {
            let v = sec(value);
            quote!(#auth::Header { name: ::std::string::String::from(#name), value: #v })
        }
    })
}

fn field_string(v: &Value, s: Scope<'_>) -> TokenStream {
    match v {
        Value::Expr(e) => expr::string(e, s),
        Value::Map(_) => {
            let j = json_value(v, s);
            quote!(#j.to_string())
        }
    }
}

fn http(step: &ir::Step, h: &ir::Http, s: Scope<'_>, statics: &mut TokenStream) -> TokenStream {
    let method = names::ident(&names::camel(&h.method.to_ascii_lowercase()));
    let url = expr::string(&h.url, s);
    let mut req = quote!(::flowc_runtime::http::HttpRequest::new(::flowc_runtime::http::Method::#method, #url));
    for f in &h.headers {
        let (k, v) = (&f.name, field_string(&f.value, s));
        req.extend(quote!(.header(#k, #v)));
    }
    for f in &h.query {
        let (k, v) = (&f.name, field_string(&f.value, s));
        req.extend(quote!(.query(#k, #v)));
    }
    match &h.body {
        Some(HttpBody::Json(v)) => {
            let j = json_value(v, s);
            req.extend(quote!(.json(#j)));
        }
        Some(HttpBody::Form(fields)) => {
            let pairs = fields.iter().map(|f| {
                let (k, v) = (&f.name, field_string(&f.value, s));
                quote!((::std::string::String::from(#k), #v))
            });
            req.extend(quote!(.form(::std::vec::Vec::from([#(#pairs),*]))));
        }
        Some(HttpBody::Xml(e)) => {
            let v = expr::string(e, s);
            req.extend(quote!(.xml(#v)));
        }
        Some(HttpBody::Text(e)) => {
            let v = expr::string(e, s);
            req.extend(quote!(.text(#v)));
        }
        None => {}
    }
    if let Some(a) = auth(&h.auth, s) {
        req.extend(quote!(.auth(#a)));
    }
    if let Some(t) = &h.timeout {
        let v = expr::expr(t, s);
        req.extend(quote!(.timeout(#v)));
    }
    if !h.response.is_empty() {
        let name = format!("RESPONSE_{}", names::upper(&step.id));
        statics.extend(data::item_statics(&name, &h.response));
        let ident = names::ident(&name);
        req.extend(quote!(.response(&#ident)));
    }
    if let Some(r) = retry(&h.retry, s) {
        req.extend(quote!(.retry(#r)));
    }
    let keep = keep_results(
        &step.id,
        s,
        |field| quote!(response.get::<::flowc_runtime::rt::serde_json::Value>(#field)?),
    );
    let local = Scope {
        local: Some((step.id.as_str(), Local::Response)),
        ..s
    };
    let saves: Vec<TokenStream> = h.save.iter().map(|a| assign(a, local)).collect();
    let response = if keep.is_empty() && !quote!(#(#saves)*).to_string().contains("response") {
        quote!(_response)
    } else {
        quote!(response)
    };
    quote! {
        let #response = cx.http(#req).await?;
        #keep
        #(#saves)*
    }
}

/// A batch's `schedule`: `every <duration>`, or a daily cron (`M H * * *`).
fn batch_schedule(schedule: Option<&ir::Schedule>, s: Scope<'_>) -> TokenStream {
    let bs = quote!(::flowc_runtime::action::BatchSchedule);
    match schedule {
        Some(ir::Schedule::Every(e)) => {
            let v = expr::expr(e, s);
            quote!(#bs::Every(#v))
        }
        Some(ir::Schedule::Cron(cron)) => {
            let fields: Vec<&str> = cron.split_whitespace().collect();
            let daily = match fields.as_slice() {
                [m, h, "*", "*", "*"] => m.parse::<i8>().ok().zip(h.parse::<i8>().ok()),
                _ => None,
            };
            match daily {
                Some((minute, hour)) => {
                    let (hour, minute) = (
                        proc_macro2::Literal::i8_unsuffixed(hour),
                        proc_macro2::Literal::i8_unsuffixed(minute),
                    );
                    quote!(#bs::DailyAt { hour: #hour, minute: #minute })
                }
                None => {
                    let msg = format!(
                        "flowc: batch schedule `{cron}`: only daily cron (`M H * * *`) is supported"
                    );
                    quote!(::core::compile_error!(#msg))
                }
            }
        }
        None => quote!(#bs::Every(::std::time::Duration::from_secs(86_400))),
    }
}

/// A provider action or batch (`flowc_runtime::action`).
fn action(step: &ir::Step, s: Scope<'_>) -> TokenStream {
    let (call, save) = match &step.kind {
        StepKind::Action(a) => {
            let (p, n, c) = (&a.provider, &a.action, &a.connection);
            let inputs = inputs_object(p, n, c, &a.inputs, s);
            let retry = retry_field(&a.retry, s);
            let call = quote! {
                cx.action(::flowc_runtime::action::ActionCall {
                    provider: #p,
                    action: #n,
                    connection: #c,
                    inputs: #inputs,
                    retry: #retry,
                })
                .await?
            };
            (call, &a.save)
        }
        StepKind::Batch(b) => {
            let (p, n, c) = (&b.provider, &b.action, &b.connection);
            let inputs = inputs_object(p, n, c, &b.inputs, s);
            let max = match &b.max {
                Some(Expr {
                    kind: ir::ExprKind::Int(n),
                    ..
                }) => proc_macro2::Literal::usize_unsuffixed(usize::try_from(*n).unwrap_or(0)),
                _ => proc_macro2::Literal::usize_unsuffixed(0),
            };
            let schedule = batch_schedule(b.schedule.as_ref(), s);
            let retry = retry_field(&b.retry, s);
            let settings = s
                .model
                .connections
                .iter()
                .find(|conn| conn.name == b.connection)
                .map(|conn| json_object(&conn.settings, s))
                .unwrap_or_else(|| json_object(&[], s));
            let v = names::step_variant(&step.id);
            let call = quote! {
                match cx
                    .batch(::flowc_runtime::action::BatchCall {
                        provider: #p,
                        action: #n,
                        connection: #c,
                        inputs: #inputs,
                        max: #max,
                        schedule: #schedule,
                        settings: #settings,
                        retry: #retry,
                    })
                    .await?
                {
                    ::flowc_runtime::action::BatchStatus::HandedOver(result) => result,
                    // Still open: wait for the hand-over in this same visit of
                    // the step (its polls keep the step's iteration, and so the
                    // record's idempotency key; a timer would enter it anew).
                    ::flowc_runtime::action::BatchStatus::Pending(pending) => {
                        return Ok(pending.wait(Step::#v));
                    }
                }
            };
            (call, &b.save)
        }
        _ => return TokenStream::new(),
    };
    let keep = keep_results(
        &step.id,
        s,
        |field| quote!(result.get::<::flowc_runtime::rt::serde_json::Value>(#field)?),
    );
    let local = Scope {
        local: Some((step.id.as_str(), Local::Result)),
        ..s
    };
    let saves: Vec<TokenStream> = save.iter().map(|a| assign(a, local)).collect();
    let result = if keep.is_empty() && !quote!(#(#saves)*).to_string().contains("result") {
        quote!(_result)
    } else {
        quote!(result)
    };
    quote! {
        let #result = #call;
        #keep
        #(#saves)*
    }
}

fn wait(step: &ir::Step, w: &ir::Wait, next: &After, s: Scope<'_>) -> TokenStream {
    let on = match &w.on {
        WaitOn::Signal { name, .. } => quote!(::flowc_runtime::flow::WaitOn::Signal(#name)),
        WaitOn::Event {
            event, matching, ..
        } => {
            let key = match matching {
                Some(m) => expr::string(m, s),
                None => quote!(::std::string::String::new()),
            };
            quote!(::flowc_runtime::flow::WaitOn::Event { name: #event, key: #key })
        }
    };
    let poll = match &w.on {
        WaitOn::Event { poll: Some(p), .. } => {
            let v = expr::expr(p, s);
            quote!(Some(#v))
        }
        _ => quote!(None),
    };
    let timeout = expr::expr(&w.timeout, s);
    let on_timeout = names::step_variant(&w.on_timeout);
    let keep = keep_results(
        &step.id,
        s,
        |field| quote!(::flowc_runtime::rt::from_json(&payload, #field, &[#field])?),
    );
    let local = Scope {
        local: Some((step.id.as_str(), Local::Payload)),
        ..s
    };
    let saves: Vec<TokenStream> = w.save.iter().map(|a| assign(a, local)).collect();
    let payload = if keep.is_empty() && !quote!(#(#saves)*).to_string().contains("payload") {
        quote!(_payload)
    } else {
        quote!(payload)
    };
    let t = goto(next);
    quote! {
        match cx.wake_data::<::flowc_runtime::rt::serde_json::Value>()? {
            Some(#payload) => {
                #keep
                #(#saves)*
                Ok(#t)
            }
            None => Ok(::flowc_runtime::flow::Transition::Wait(::flowc_runtime::flow::Wait {
                on: #on,
                timeout: #timeout,
                on_timeout: Step::#on_timeout,
                poll: #poll,
            })),
        }
    }
}

/// The body of one step's `match` arm: statements, then the transition.
fn step_body(
    step: &ir::Step,
    next: &After,
    s: Scope<'_>,
    statics: &mut TokenStream,
) -> TokenStream {
    let t = goto(next);
    match &step.kind {
        StepKind::Http(h) => {
            let body = http(step, h, s, statics);
            quote!(#body Ok(#t))
        }
        StepKind::Action(_) | StepKind::Batch(_) => {
            let body = action(step, s);
            quote!(#body Ok(#t))
        }
        StepKind::Wait(w) => wait(step, w, next, s),
        StepKind::Timer(timer) => {
            let until = match timer {
                ir::Timer::Until(e) => {
                    let v = expr::expr(e, s);
                    quote!(::flowc_runtime::rt::until(#v)?)
                }
                ir::Timer::For(e) => {
                    let v = expr::expr(e, s);
                    quote!(::flowc_runtime::clock::add(cx.now(), #v))
                }
            };
            let next = match next {
                After::Step(id) => names::step_variant(id),
                _ => names::step_variant(&format!("{}_done", step.id)),
            };
            quote!(Ok(::flowc_runtime::flow::Transition::Timer { until: #until, next: Step::#next }))
        }
        StepKind::If {
            condition,
            then,
            otherwise,
        } => {
            let c = expr::condition(condition, s);
            let (a, b) = (enter(then, next), enter(otherwise, next));
            quote!(if #c { Ok(#a) } else { Ok(#b) })
        }
        StepKind::Switch { on, cases, default } => {
            let v = expr::expr(on, s);
            let mut chain = {
                let d = enter(default, next);
                quote!(Ok(#d))
            };
            for case in cases.iter().rev() {
                let tests = case.values.iter().map(|val| {
                    let val = match &val.kind {
                        ir::ExprKind::Str(text) => quote!(#text),
                        _ => expr::expr_as(val, &on.ty, s),
                    };
                    quote!(::flowc_runtime::rt::eq(&on, &#val))
                });
                let go = enter(&case.steps, next);
                chain = quote!(if #(#tests)||* { Ok(#go) } else { #chain });
            }
            quote! {
                let on = #v;
                #chain
            }
        }
        StepKind::ForEach { over, steps, .. } => {
            let Some(first) = steps.first() else {
                return quote!(Ok(#t));
            };
            let table = match &over.kind {
                ir::ExprKind::Data(item) => {
                    let f = names::field(item);
                    quote!(&data.#f)
                }
                _ => quote!(::core::compile_error!("flowc: for_each over a non-item")),
            };
            let body = names::step_variant(&first.id);
            let after = match next {
                After::Step(id) => names::step_variant(id),
                _ => names::step_variant(&format!("{}_done", step.id)),
            };
            quote! {
                Ok(::flowc_runtime::flow::Transition::EnterLoop {
                    count: ::flowc_runtime::rt::count(#table),
                    body: Step::#body,
                    after: Step::#after,
                })
            }
        }
        StepKind::Set(assigns) => {
            let a = assigns.iter().map(|a| assign(a, s));
            quote!(#(#a)* Ok(#t))
        }
        StepKind::Fail(e) => {
            let m = expr::string(e, s);
            quote!(Ok(::flowc_runtime::flow::Transition::Fail(#m)))
        }
        StepKind::End(status) => {
            let o = match status {
                ir::EndStatus::Completed => quote!(Completed),
                ir::EndStatus::Cancelled => quote!(Cancelled),
            };
            quote!(Ok(::flowc_runtime::flow::Transition::End(::flowc_runtime::flow::Outcome::#o)))
        }
        StepKind::Goto(id) => {
            let g = goto(&After::Step(id.clone()));
            quote!(Ok(#g))
        }
    }
}
