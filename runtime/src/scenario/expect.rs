//! Checking a scenario's expectations once the simulation has stopped.

use std::collections::HashMap;

use serde_json::Value;

use super::buckaroo::BuckarooSims;
use super::file::{Expectation, HttpExpect};
use super::paypal::PayPalSims;
use super::stripe::StripeSims;
use super::vipps::VippsSims;
use crate::store::{IssueRow, IssueState, Store};
use crate::testing::{Seen, TestServer};

/// The failures of one expectation (none: it is met).
#[allow(clippy::too_many_arguments)] // one simulator set per provider
pub async fn check(
    x: &Expectation,
    store: &dyn Store,
    ids: &HashMap<String, String>,
    sims: &StripeSims,
    paypal: &PayPalSims,
    buckaroo: &BuckarooSims,
    vipps: &VippsSims,
    server: &TestServer,
) -> Result<Vec<String>, String> {
    let selectors = [
        x.issue.is_some(),
        x.matching.is_some(),
        x.stripe.is_some(),
        x.paypal.is_some(),
        x.buckaroo.is_some(),
        x.vipps.is_some(),
        x.http.is_some(),
    ];
    if selectors.iter().filter(|s| **s).count() != 1 {
        return Ok(vec![
            "an expectation is about one of `issue`, `match`, `stripe`, `paypal`, `vipps`, `buckaroo` or `http`".into(),
        ]);
    }
    if let Some(v) = &x.vipps {
        if x.state.is_some() || x.step.is_some() || x.data.is_some() || x.error_contains.is_some() {
            return Ok(vec![
                "a `vipps` expectation counts objects only (no state, step, data)".into(),
            ]);
        }
        return vipps.check(v);
    }
    if let Some(b) = &x.buckaroo {
        if x.state.is_some() || x.step.is_some() || x.data.is_some() || x.error_contains.is_some() {
            return Ok(vec![
                "a `buckaroo` expectation counts objects only (no state, step, data)".into(),
            ]);
        }
        return buckaroo.check(b);
    }
    if let Some(p) = &x.paypal {
        if x.state.is_some() || x.step.is_some() || x.data.is_some() || x.error_contains.is_some() {
            return Ok(vec![
                "a `paypal` expectation counts objects only (no state, step, data)".into(),
            ]);
        }
        return paypal.check(p);
    }
    if let Some(h) = &x.http {
        if x.state.is_some() || x.step.is_some() || x.data.is_some() || x.error_contains.is_some() {
            return Ok(vec![
                "an `http` expectation is about requests only (no state, step, data)".into(),
            ]);
        }
        return Ok(check_http(h, &server.seen()));
    }
    if x.count.is_some() && x.matching.is_none() {
        return Ok(vec!["`count` goes with `match`".into()]);
    }
    if let Some(s) = &x.stripe {
        if x.state.is_some() || x.step.is_some() || x.data.is_some() || x.error_contains.is_some() {
            return Ok(vec![
                "a `stripe` expectation counts objects only (no state, step, data)".into(),
            ]);
        }
        return sims.check(s);
    }
    if let Some(name) = &x.issue {
        let Some(id) = ids.get(name) else {
            return Ok(vec![format!("{name}: no such record in the scenario")]);
        };
        let row = store
            .load(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("issue vanished")?;
        return Ok(check_row(x, name, &row));
    }
    let want = x.matching.clone().unwrap_or_default();
    let label = format!("match {}", Value::Object(want.clone()));
    let rows: Vec<IssueRow> = store
        .list(None, usize::MAX >> 1)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|r| {
            want.iter()
                .all(|(k, v)| r.data.get(k).unwrap_or(&Value::Null) == v)
        })
        .collect();
    let mut failures = Vec::new();
    match x.count {
        Some(n) if rows.len() != n => failures.push(format!(
            "{label}: expected {n} issues, found {}",
            rows.len()
        )),
        None if rows.is_empty() => failures.push(format!("{label}: no issue matches")),
        _ => {}
    }
    for row in &rows {
        failures.extend(check_row(x, &format!("{label} (issue {})", row.id), row));
    }
    Ok(failures)
}

/// State, step, error and data of one issue.
fn check_row(x: &Expectation, who: &str, row: &IssueRow) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(s) = &x.state {
        if IssueState::parse(s).is_none() {
            failures.push(format!("{who}: unknown state `{s}`"));
        } else if row.state.as_str() != s {
            failures.push(format!(
                "{who}: expected state {s}, got {} at step {}{}",
                row.state,
                row.step,
                row.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
    }
    if let Some(st) = &x.step
        && &row.step != st
    {
        failures.push(format!("{who}: expected step {st}, got {}", row.step));
    }
    if let Some(want) = &x.error_contains
        && !row.error.as_deref().unwrap_or("").contains(want.as_str())
    {
        failures.push(format!(
            "{who}: expected an error containing `{want}`, got {:?}",
            row.error
        ));
    }
    for (k, v) in x.data.iter().flatten() {
        let got = row.data.get(k).cloned().unwrap_or(Value::Null);
        if &got != v {
            failures.push(format!("{who}: expected {k} = {v}, got {got}"));
        }
    }
    failures
}

/// The requests on `h.route`: their number, and each one's headers, query
/// and body.
pub(crate) fn check_http(h: &HttpExpect, seen: &[Seen]) -> Vec<String> {
    let Some((method, path)) = h.route.split_once(' ') else {
        return vec![format!(
            "http `{}`: write the route as `METHOD /path`",
            h.route
        )];
    };
    let on: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.method.eq_ignore_ascii_case(method) && s.path == path)
        .collect();
    let label = format!("http {}", h.route);
    let mut failures = Vec::new();
    match h.count {
        Some(n) if on.len() != n => {
            failures.push(format!("{label}: expected {n} requests, got {}", on.len()));
        }
        None if on.is_empty() => failures.push(format!("{label}: no request")),
        _ => {}
    }
    if let Some(n) = h.request
        && on.len() < n.max(1)
    {
        failures.push(format!("{label}: no request {n}"));
    }
    for (i, s) in on.iter().enumerate() {
        if h.request.is_some_and(|n| n != i + 1) {
            continue;
        }
        let who = format!("{label} (request {})", i + 1);
        for (k, v) in &h.headers {
            let got = s.headers.get(&k.to_ascii_lowercase());
            if got != Some(v) {
                failures.push(format!("{who}: expected header {k}: {v}, got {got:?}"));
            }
        }
        if let Some(q) = &h.query
            && s.query.as_deref() != Some(q.as_str())
        {
            failures.push(format!("{who}: expected query {q:?}, got {:?}", s.query));
        }
        if let Some(b) = &h.body
            && &s.body != b
        {
            failures.push(format!("{who}: expected body {b:?}, got {:?}", s.body));
        }
        if let Some(j) = &h.json
            && &s.json() != j
        {
            failures.push(format!("{who}: expected JSON {j}, got {:?}", s.body));
        }
    }
    failures
}
