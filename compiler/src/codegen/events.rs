//! The flow's provider events for the runtime's event feed: `fn triggers()`
//! (start events) and `fn event_feeds()` (the events its waits match), each
//! with its connection and how often to poll for it.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{self, Expr, ExprKind, StepKind, WaitOn};

/// A poll interval known when the flow is built: a duration literal. A computed
/// interval polls at the runtime's default instead (`None` here).
fn literal_secs(e: Option<&Expr>) -> TokenStream {
    match e.map(|e| &e.kind) {
        Some(ExprKind::Duration { seconds }) => {
            let n = proc_macro2::Literal::u64_unsuffixed(*seconds);
            quote!(::core::option::Option::Some(::std::time::Duration::from_secs(#n)))
        }
        _ => quote!(::core::option::Option::None),
    }
}

/// `fn triggers()`, `fn schedules()` and `fn event_feeds()` with their
/// statics; nothing for a flow without start events, schedules and event
/// waits (the trait's defaults are empty).
pub fn event_defs(flow: &ir::Flow, statics: &mut TokenStream) -> TokenStream {
    let triggers: Vec<TokenStream> = flow
        .start
        .iter()
        .filter_map(|s| match s {
            ir::Start::Event {
                provider,
                event,
                connection,
                every,
            } => {
                let every = literal_secs(every.as_ref());
                Some(quote! {
                    ::flowc_runtime::flow::TriggerDef {
                        provider: #provider,
                        event: #event,
                        connection: #connection,
                        every: #every,
                    }
                })
            }
            _ => None,
        })
        .collect();
    let mut feeds: Vec<TokenStream> = Vec::new();
    let mut seen: Vec<(String, String, String)> = Vec::new();
    flow.walk_steps(&mut |step| {
        if let StepKind::Wait(ir::Wait {
            on:
                WaitOn::Event {
                    provider,
                    event,
                    connection,
                    poll,
                    ..
                },
            ..
        }) = &step.kind
        {
            // One entry per (connection, event) and poll; the runtime takes the smallest.
            let poll_tokens = literal_secs(poll.as_ref());
            let key = (connection.clone(), event.clone(), poll_tokens.to_string());
            if !seen.contains(&key) {
                seen.push(key);
                feeds.push(quote! {
                    ::flowc_runtime::flow::FeedDef {
                        provider: #provider,
                        event: #event,
                        connection: #connection,
                        poll: #poll_tokens,
                    }
                });
            }
        }
    });
    let mut out = TokenStream::new();
    if !triggers.is_empty() {
        let n = proc_macro2::Literal::usize_unsuffixed(triggers.len());
        statics.extend(quote! {
            static TRIGGERS: [::flowc_runtime::flow::TriggerDef; #n] = [#(#triggers),*];
        });
        out.extend(quote! {
            fn triggers() -> &'static [::flowc_runtime::flow::TriggerDef] {
                &TRIGGERS
            }
        });
    }
    out.extend(super::schedules::schedule_defs(flow, statics));
    if !feeds.is_empty() {
        let n = proc_macro2::Literal::usize_unsuffixed(feeds.len());
        statics.extend(quote! {
            static EVENT_FEEDS: [::flowc_runtime::flow::FeedDef; #n] = [#(#feeds),*];
        });
        out.extend(quote! {
            fn event_feeds() -> &'static [::flowc_runtime::flow::FeedDef] {
                &EVENT_FEEDS
            }
        });
    }
    out
}
