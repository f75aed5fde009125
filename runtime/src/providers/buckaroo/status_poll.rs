//! What the per-object poll (`crate::events::per_object`) reads of one
//! Buckaroo transaction a `buckaroo.push` wait is for, when its push is late
//! or lost: `GET /json/Transaction/Status/{key}`, signed as every gateway
//! request. The answer is the transaction as a push carries it, so it becomes
//! the same event (`push:<key>:<status code>`, deduplicated with the push).
//! A pending status (79x: awaiting the consumer, processing, on hold) is no
//! event: Buckaroo pushes when that changes. A paid transaction (190) is
//! settled and read no more.

use serde_json::{Value, json};

use crate::http::{HttpRequest, Method};

/// Whether `key` is a transaction key (32 hexadecimal digits), safe in a path.
pub fn valid_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The status read of transaction `key`.
pub fn read_request(base: &str, key: &str) -> HttpRequest {
    let url = format!(
        "{}/json/Transaction/Status/{key}",
        base.trim_end_matches('/')
    );
    HttpRequest::new(Method::Get, url)
        .idempotency_header(None)
        .side_effect(false)
        .error_message(super::error_message)
}

/// The push-shaped events one read found (none while the status is pending)
/// and whether the transaction is settled.
pub fn read_answer(key: &str, body: &str) -> Result<(Vec<Value>, bool), String> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| format!("transaction `{key}`: not JSON: {e}"))?;
    if v.get("Key").and_then(Value::as_str) != Some(key) {
        return Err(format!(
            "transaction `{key}`: the status is of another transaction"
        ));
    }
    let code = v
        .pointer("/Status/Code/Code")
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("transaction `{key}`: no status code"))?;
    if code / 100 == 7 {
        return Ok((Vec::new(), false));
    }
    Ok((vec![json!({ "Transaction": v })], code == 190))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "8211EB10D26CD6B37A95207E8CCCE65C";

    #[test]
    fn a_final_status_is_the_push_event_a_pending_one_is_none() {
        let paid = json!({"Key": KEY, "Invoice": "INV-2", "ServiceCode": "ideal",
            "Status": {"Code": {"Code": 190}}});
        let (events, settled) = read_answer(KEY, &paid.to_string()).unwrap();
        assert!(settled);
        let head = crate::providers::buckaroo::push::event_head(&events[0]).unwrap();
        assert_eq!(head.id, format!("push:{KEY}:190"));
        assert_eq!(head.object_id, KEY);

        let waiting = json!({"Key": KEY, "Status": {"Code": {"Code": 792}}});
        assert_eq!(
            read_answer(KEY, &waiting.to_string()).unwrap(),
            (vec![], false)
        );
        let cancelled = json!({"Key": KEY, "Status": {"Code": {"Code": 890}}});
        let (events, settled) = read_answer(KEY, &cancelled.to_string()).unwrap();
        assert_eq!((events.len(), settled), (1, false));

        let other = json!({"Key": "0000", "Status": {"Code": {"Code": 190}}});
        assert!(read_answer(KEY, &other.to_string()).is_err());
        assert!(read_answer(KEY, "<html>").is_err());
        assert!(valid_key(KEY) && !valid_key("PPE-TX-1") && !valid_key("../x"));
    }
}
