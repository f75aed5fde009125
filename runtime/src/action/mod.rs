//! Catalog-driven provider actions: `cx.action(ActionCall { .. })` for one call,
//! `cx.batch(BatchCall { .. })` for a record of a batch (a request file).
//!
//! ```text
//! let result = cx.action(ActionCall {
//!     provider: "stripe", action: "create_charge", connection: "stripe",
//!     inputs: json!({"amount": 1500, "currency": "jpy", "customer": "cus_123"}),
//!     retry: Some(RetryPolicy::new(2, Duration::from_secs(2), Duration::from_secs(300))),
//! }).await?;
//! let id: String = result.get("id")?;
//! ```
//!
//! The request is built from the catalog (`flowc_catalog`): method and path,
//! path parameters, query, and the body in the provider's encoding, amounts per
//! `unit`. Inputs are validated against the catalog first; a validation failure
//! fails the step and nothing is sent. Side-effecting actions go through the
//! idempotency ledger (the key recorded before the call, sent in the provider's
//! header on every attempt). Outputs are read by their `api` paths and type-checked.
//! A failure worth retrying carries the call's `retry` policy (the step's `retry:`
//! block), so the engine tries the step again by it; `None` uses the flow's default.

pub mod batch;
pub mod input;
pub mod output;
pub mod path;
pub mod request;

pub use batch::{
    BatchCall, BatchPending, BatchResult, BatchSchedule, BatchStatus, env_name, inbox_env,
    outbox_dir, outbox_env,
};

use flowc_catalog::{Action, Provider};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::engine::StepContext;
use crate::flow::{ConnectionDef, StepError};
use crate::http::{HttpRequest, RateLimit};
use crate::providers::{Kind, stripe};
use crate::retry::RetryPolicy;

/// One provider action step, as generated code writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionCall {
    /// The catalog's provider name: `stripe`, `paypal`, `vipps`, `buckaroo`.
    pub provider: &'static str,
    /// The catalog's action name, e.g. `create_charge`.
    pub action: &'static str,
    /// The flow's connection (its credentials, mode and base URL).
    pub connection: &'static str,
    /// The inputs by their catalog names, in the runtime's JSON shapes.
    pub inputs: Value,
    /// The step's `retry:` policy (attempts, backoff, cap); `None`: the flow's default.
    pub retry: Option<RetryPolicy>,
}

/// The outputs of an action, type-checked against the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionResult {
    pub provider: &'static str,
    pub action: &'static str,
    /// The HTTP status (0 for a batch record).
    pub status: u16,
    /// Every output of the action by its catalog name (`null` when absent).
    pub fields: Map<String, Value>,
}

impl ActionResult {
    /// An output as a Rust value (`result.get::<String>("id")`). Asking for an
    /// output the action does not have, or as a type it cannot be, fails the step.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, StepError> {
        let v = self.fields.get(name).ok_or_else(|| {
            StepError::Fatal(format!(
                "{}.{} has no output `{name}`",
                self.provider, self.action
            ))
        })?;
        serde_json::from_value(v.clone()).map_err(|e| {
            StepError::Fatal(format!(
                "{}.{}: output `{name}` ({v}): {e}",
                self.provider, self.action
            ))
        })
    }
}

/// The catalog entries of a call, or a fatal error naming what is unknown.
pub(crate) fn lookup(
    provider: &str,
    action: &str,
) -> Result<(Kind, &'static Provider, &'static Action), StepError> {
    let p = flowc_catalog::provider(provider)
        .ok_or_else(|| StepError::Fatal(format!("unknown provider `{provider}`")))?;
    let kind = Kind::from_name(provider)
        .ok_or_else(|| StepError::Fatal(format!("provider `{provider}` has no runtime support")))?;
    let a = p
        .action(action)
        .ok_or_else(|| StepError::Fatal(format!("{provider} has no action `{action}`")))?;
    Ok((kind, p, a))
}

/// The base URL of a connection: the runtime's (the flow's, `FLOWC_<NAME>_BASE_URL`,
/// or a simulator's), else the catalog's for the connection's mode.
pub fn base_url(
    base_urls: &std::collections::HashMap<String, String>,
    conn: &ConnectionDef,
    provider: &Provider,
) -> Result<String, StepError> {
    if let Some(u) = base_urls.get(conn.name).filter(|u| !u.is_empty()) {
        return Ok(u.clone());
    }
    if let Ok(u) = std::env::var(conn.base_url_env()) {
        return Ok(u);
    }
    if !conn.base_url.is_empty() {
        return Ok(conn.base_url.to_string());
    }
    provider
        .base_urls
        .iter()
        .find(|m| m.mode == conn.mode)
        .map(|m| m.url.clone())
        .ok_or_else(|| {
            StepError::Fatal(format!(
                "connection `{}`: {} has no base URL for mode `{}`",
                conn.name, provider.name, conn.mode
            ))
        })
}

/// A retryable failure of a step with a `retry:` policy: retried by that policy
/// unless the failure named its own.
pub(crate) fn with_policy(e: StepError, step: Option<RetryPolicy>) -> StepError {
    match e {
        StepError::Retry {
            message,
            retry_after,
            policy,
        } => StepError::Retry {
            message,
            retry_after,
            policy: policy.or(step),
        },
        other => other,
    }
}

impl StepContext {
    /// The flow's connection named `name`.
    pub(crate) fn connection(&self, name: &str) -> Result<&'static ConnectionDef, StepError> {
        self.rt
            .connections
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| StepError::Fatal(format!("unknown connection `{name}`")))
    }

    /// Runs one provider action: validates the inputs against the catalog (nothing
    /// is sent when they are wrong), builds and authorizes the request, records the
    /// idempotency key of a side effect before sending, maps the provider's errors
    /// and reads the outputs.
    pub async fn action(&mut self, call: ActionCall) -> Result<ActionResult, StepError> {
        let step = self.step;
        let name = format!("{}.{}", call.provider, call.action);
        let fatal = |m: String| StepError::Fatal(format!("step `{step}`: {name}: {m}"));
        let (kind, provider, action) = lookup(call.provider, call.action).map_err(|e| match e {
            StepError::Fatal(m) => fatal(m),
            other => other,
        })?;
        if action.batch {
            return Err(fatal("a batch action: use cx.batch".into()));
        }
        let built = request::build(kind, provider, action, &call.inputs)
            .map_err(|e| fatal(format!("invalid input: {}; nothing was sent", e.join("; "))))?;
        let conn = self.connection(call.connection)?;
        if conn.provider != call.provider {
            return Err(fatal(format!(
                "connection `{}` is a {} connection",
                conn.name, conn.provider
            )));
        }
        if conn.mode == "live"
            && !self.rt.http.live_allowed()
            && !self.rt.base_urls.contains_key(crate::http::SIMULATED)
        {
            return Err(fatal(format!(
                "connection `{}` is a live connection (real money): run the binary with \
                 --live to call it; nothing was sent",
                conn.name
            )));
        }
        let base = base_url(&self.rt.base_urls, conn, provider)?;
        let rate = RateLimit::for_connection(conn, kind.default_rate_limit(conn.mode))
            .map_err(|e| fatal(format!("connection `{}`: {e}", conn.name)))?;
        let mut req = HttpRequest::new(
            built.method,
            format!("{}{}", base.trim_end_matches('/'), built.path),
        )
        .idempotency_header(kind.idempotency_header(action))
        .idempotency_key_max(kind.idempotency_key_max(action))
        .side_effect(action.side_effect)
        .error_message(kind.error_message())
        .budget(conn.name, rate);
        if let Some(f) = kind.error_class() {
            req = req.error_class(f);
        }
        req.query = built.query;
        req.body = built.body;
        // A Stripe list: `limit` rows in all, in pages of at most 100.
        let wanted = (kind == Kind::Stripe && stripe::pages::is_list(action))
            .then(|| stripe::pages::first_page(&mut req.query))
            .flatten();
        let rt = self.rt.clone();
        req.retry = call.retry;
        let req = kind
            .authorize(&rt, conn, &base, req)
            .map_err(|e| match e {
                StepError::Fatal(m) => fatal(m),
                other => other,
            })
            .map_err(|e| with_policy(e, call.retry))?;
        let key = if req.side_effect {
            Some(
                self.begin_effect(&format!("{name}: {}", req.describe(&rt.base_urls)))
                    .await?,
            )
        } else {
            None
        };
        let begun = match &key {
            Some(k) if kind.looks_before_repeating(action) => self.outcome_unknown(k),
            _ => None,
        };
        let result = async {
            let resp = kind.send(&rt, &req, key.as_deref(), action, begun).await?;
            let mut body: Value = if resp.status >= 400 {
                // An error answer the provider's classifier handed over (a declined card).
                kind.error_answer(action, &call.inputs, resp.status, &resp.body)
                    .map_err(|m| {
                        StepError::Fatal(format!("{}: {m}", req.describe(&rt.base_urls)))
                    })?
            } else if resp.body.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&resp.body).map_err(|_| {
                    StepError::Fatal(format!("HTTP {}: the response is not JSON", resp.status))
                })?
            };
            if let Some(wanted) = wanted {
                stripe::pages::follow(&rt, &req, &mut body, wanted).await?;
            }
            kind.normalize_response(action, &mut body);
            kind.check_response(&body).map_err(StepError::Fatal)?;
            let fields = output::map(kind, action, &body)
                .map_err(|e| StepError::Fatal(format!("{}; nothing was stored", e.join("; "))))?;
            Ok(ActionResult {
                provider: call.provider,
                action: call.action,
                status: resp.status,
                fields,
            })
        }
        .await
        .map_err(|e| match e {
            StepError::Fatal(m) => fatal(m),
            StepError::Retry {
                message,
                retry_after,
                policy,
            } => StepError::Retry {
                message: format!("step `{step}`: {name}: {message}"),
                retry_after,
                policy: policy.or(call.retry),
            },
            other => other,
        });
        if let Some(k) = key {
            match &result {
                Ok(r) => {
                    self.finish_effect(k, true, json!({"status": r.status, "fields": r.fields}))
                }
                Err(StepError::Fatal(m)) => self.finish_effect(k, false, json!({"error": m})),
                Err(_) => {}
            }
        }
        result
    }
}

#[cfg(test)]
pub(crate) mod tests;
