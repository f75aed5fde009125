//! Stripe's lists come in pages of at most 100 (`{"data": [...], "has_more"}`);
//! the next page starts after the last id of the one before (`starting_after`).
//! A list action's `limit` input is how many rows it returns in all: the first
//! request asks for `min(limit, 100)`, and further pages are fetched while
//! `has_more` and fewer than `limit` rows came. The outputs are read from the
//! pages joined (`data` holds every row; `has_more` tells whether more remain).

use flowc_catalog::{Action, FieldType};
use serde_json::Value;

use crate::engine::Runtime;
use crate::flow::StepError;
use crate::http::HttpRequest;

/// The most rows one page holds.
pub const PAGE_MAX: usize = 100;

/// Whether an action reads one of Stripe's lists (a GET with a table output at `data`).
pub fn is_list(action: &Action) -> bool {
    action.api.method == "GET"
        && action
            .outputs
            .iter()
            .any(|o| o.ty == FieldType::Table && o.api.as_deref() == Some("data"))
}

/// Sets the first page's size from the `limit` parameter and returns how many
/// rows are wanted in all (`None`: no `limit`, Stripe's one page of 10).
pub fn first_page(query: &mut [(String, String)]) -> Option<usize> {
    let (_, v) = query.iter_mut().find(|(k, _)| k == "limit")?;
    let wanted: usize = v.parse().ok()?;
    *v = wanted.min(PAGE_MAX).to_string();
    Some(wanted)
}

fn rows(body: &Value) -> usize {
    body.get("data")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

fn has_more(body: &Value) -> bool {
    body.get("has_more")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The request for the page after `body`'s, or `None` when there is no more to
/// fetch (`wanted` rows came, `has_more` is false, or the last row has no id).
pub fn next_page(req: &HttpRequest, body: &Value, wanted: usize) -> Option<HttpRequest> {
    let have = rows(body);
    if have >= wanted || !has_more(body) {
        return None;
    }
    let last = body.get("data")?.as_array()?.last()?.get("id")?.as_str()?;
    let mut next = req.clone();
    next.query
        .retain(|(k, _)| k != "starting_after" && k != "limit");
    next.query
        .push(("limit".into(), (wanted - have).min(PAGE_MAX).to_string()));
    next.query.push(("starting_after".into(), last.to_string()));
    Some(next)
}

/// Appends one page's rows to `body` (the pages so far) and takes its `has_more`.
pub fn join(body: &mut Value, mut page: Value) -> Result<(), String> {
    let Some(Value::Array(more)) = page.get_mut("data").map(Value::take) else {
        return Err("a page of the list has no `data` list".into());
    };
    if let Some(Value::Array(rows)) = body.get_mut("data") {
        rows.extend(more);
    }
    if let Value::Object(o) = body {
        o.insert("has_more".into(), Value::Bool(has_more(&page)));
    }
    Ok(())
}

/// Fetches the pages after `body` until `wanted` rows came, joining them into
/// `body`; rows past `wanted` are dropped (and `has_more` is then true).
pub async fn follow(
    rt: &Runtime,
    req: &HttpRequest,
    body: &mut Value,
    wanted: usize,
) -> Result<(), StepError> {
    let mut page = 1;
    while let Some(next) = next_page(req, body, wanted) {
        page += 1;
        let resp = rt.http.execute(&next, None, rt).await?;
        let v: Value = serde_json::from_str(&resp.body).map_err(|_| {
            StepError::Fatal(format!("page {page} of the list: the response is not JSON"))
        })?;
        let before = rows(body);
        join(body, v).map_err(|e| StepError::Fatal(format!("page {page}: {e}")))?;
        if rows(body) == before {
            // An empty page that claims more: stop rather than ask forever.
            break;
        }
    }
    if let Some(Value::Array(rows)) = body.get_mut("data")
        && rows.len() > wanted
    {
        rows.truncate(wanted);
        if let Value::Object(o) = body {
            o.insert("has_more".into(), Value::Bool(true));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;
    use serde_json::json;

    fn page(ids: std::ops::Range<usize>, more: bool) -> Value {
        let data: Vec<Value> = ids.map(|i| json!({"id": format!("re_{i}")})).collect();
        json!({"object": "list", "data": data, "has_more": more})
    }

    #[test]
    fn list_actions_are_found_by_their_data_table() {
        let stripe = flowc_catalog::provider("stripe").unwrap();
        assert!(is_list(stripe.action("list_refunds").unwrap()));
        assert!(is_list(stripe.action("find_customer").unwrap()));
        assert!(!is_list(stripe.action("retrieve_invoice").unwrap()));
    }

    #[test]
    fn the_first_page_is_at_most_100_rows() {
        let mut q = vec![
            ("charge".to_string(), "ch_1".to_string()),
            ("limit".into(), "250".into()),
        ];
        assert_eq!(first_page(&mut q), Some(250));
        assert_eq!(q[1].1, "100");
        let mut q = vec![("limit".to_string(), "7".to_string())];
        assert_eq!(first_page(&mut q), Some(7));
        assert_eq!(q[0].1, "7");
        assert_eq!(first_page(&mut []), None);
    }

    #[test]
    fn pages_follow_the_last_id_until_enough_rows() {
        let req = HttpRequest::new(Method::Get, "http://127.0.0.1/v1/refunds")
            .query("charge", "ch_1")
            .query("limit", "100");
        let mut body = page(0..100, true);
        let next = next_page(&req, &body, 250).unwrap();
        assert_eq!(
            next.query,
            [
                ("charge".to_string(), "ch_1".to_string()),
                ("limit".into(), "100".into()),
                ("starting_after".into(), "re_99".into())
            ]
        );
        join(&mut body, page(100..200, true)).unwrap();
        let next = next_page(&next, &body, 250).unwrap();
        assert_eq!(next.query[1], ("limit".into(), "50".into()));
        assert_eq!(next.query[2], ("starting_after".into(), "re_199".into()));
        join(&mut body, page(200..250, true)).unwrap();
        assert!(next_page(&next, &body, 250).is_none(), "enough rows");
        let done = page(0..3, false);
        assert!(next_page(&req, &done, 250).is_none(), "no more");
        assert!(join(&mut body, json!({"error": {}})).is_err());
    }
}
