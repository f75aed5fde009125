//! The eCom payment details (`GET /ecomm/v2/payments/{orderId}/details`): the
//! payment's status is the newest operation of its `transactionLogHistory`.
//! Vipps documents the log as newest first, but the newest is taken by the
//! entries' `timeStamp`, not by their position: the log is sorted newest first
//! by time (stably; an entry without a readable time counts as the oldest)
//! before the catalog's outputs (`transactionLogHistory[0].operation`) read it.

use jiff::Timestamp;
use serde_json::Value;

/// Sorts a details body's `transactionLogHistory` newest first by `timeStamp`.
pub fn newest_first(body: &mut Value) {
    let Some(log) = body
        .get_mut("transactionLogHistory")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let time = |e: &Value| {
        e.get("timeStamp")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Timestamp>().ok())
    };
    // `None` sorts before `Some`, so newest first puts it last.
    log.sort_by_key(|e| std::cmp::Reverse(time(e)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_newest_entry_by_time_comes_first_wherever_it_was() {
        let mut body = json!({"orderId": "ORD-1", "transactionLogHistory": [
            {"operation": "INITIATE", "timeStamp": "2025-01-01T00:00:00Z"},
            {"operation": "REFUND", "timeStamp": "2025-02-20T09:00:00.500Z"},
            {"operation": "CAPTURE", "timeStamp": "2025-01-01T00:05:00Z"},
            {"operation": "VOID"},
            {"operation": "RESERVE", "timeStamp": "2025-01-01T00:01:00+01:00"},
        ]});
        newest_first(&mut body);
        let ops: Vec<&str> = body["transactionLogHistory"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["operation"].as_str().unwrap())
            .collect();
        assert_eq!(ops, ["REFUND", "CAPTURE", "INITIATE", "RESERVE", "VOID"]);
        // Anything else is left alone.
        let mut other = json!({"orderId": "ORD-1"});
        newest_first(&mut other);
        assert_eq!(other, json!({"orderId": "ORD-1"}));
    }
}
