//! The flow's scheduled starts for the runtime: `fn schedules()`, one
//! `ScheduleDef` per `start: { schedule: … }` (every a duration literal, or a
//! cron expression in its time zone, and the catch-up policy).

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{self, CatchUp, ExprKind, Schedule};

/// `fn schedules()` with its static; nothing for a flow without a schedule
/// (the trait's default is empty).
pub fn schedule_defs(flow: &ir::Flow, statics: &mut TokenStream) -> TokenStream {
    let defs: Vec<TokenStream> = flow
        .start
        .iter()
        .filter_map(|s| match s {
            ir::Start::Schedule(s) => Some(def(s)),
            _ => None,
        })
        .collect();
    if defs.is_empty() {
        return TokenStream::new();
    }
    let n = proc_macro2::Literal::usize_unsuffixed(defs.len());
    statics.extend(quote! {
        static SCHEDULES: [::flowc_runtime::schedule::ScheduleDef; #n] = [#(#defs),*];
    });
    quote! {
        fn schedules() -> &'static [::flowc_runtime::schedule::ScheduleDef] {
            &SCHEDULES
        }
    }
}

fn def(s: &ir::ScheduleStart) -> TokenStream {
    let tick = match &s.schedule {
        Schedule::Cron(expr) => {
            let tz = s.timezone.as_deref().unwrap_or("UTC");
            quote!(::flowc_runtime::schedule::TickDef::Cron { expr: #expr, timezone: #tz })
        }
        Schedule::Every(e) => {
            // The checker lets only a duration literal through.
            let seconds = match &e.kind {
                ExprKind::Duration { seconds } => *seconds,
                _ => 0,
            };
            let n = proc_macro2::Literal::u64_unsuffixed(seconds);
            quote!(::flowc_runtime::schedule::TickDef::Every(::std::time::Duration::from_secs(#n)))
        }
    };
    let catch_up = match s.catch_up {
        CatchUp::Last => quote!(::flowc_runtime::schedule::CatchUp::Last),
        CatchUp::All => quote!(::flowc_runtime::schedule::CatchUp::All),
    };
    quote! {
        ::flowc_runtime::schedule::ScheduleDef { tick: #tick, catch_up: #catch_up }
    }
}
