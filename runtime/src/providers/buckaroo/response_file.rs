//! Buckaroo BPE 3.0 response files: Buckaroo's answer to a direct debit
//! request file, one record per request record, matched to its issue by
//! invoice number. The inbox reading itself (exactly once, files moved aside)
//! is provider-neutral (`crate::events::inbox`); this module reads one file's
//! text into the outputs of `buckaroo.response_file` events.
//!
//! A file, comma-separated, one record a line, LF or CRLF:
//!
//! ```text
//! H,<anything: a header record is skipped>
//! D,<the columns of the response layout>…
//! ```
//!
//! The `D,` in front of a record may be left out. The columns are those of
//! [`DEFAULT_LAYOUT`] unless `FLOWC_<CONNECTION>_RESPONSE_LAYOUT` names others
//! (comma-separated, from [`COLUMNS`]); `invoice_number` and `status_code` are
//! required. The default follows Buckaroo's description of the response
//! message: the invoice number links the record to its request, the status
//! code says what happened, the debit amount is the amount collected.

use serde_json::{Map, Value};

use super::status_name;

/// The response record's columns, in the order Buckaroo writes them by default.
pub const DEFAULT_LAYOUT: &str =
    "invoice_number,transaction_key,status_code,sub_code,amount,currency,failure_reason";

/// The columns a response layout may name.
pub const COLUMNS: &[&str] = &[
    "invoice_number",
    "transaction_key",
    "status_code",
    "sub_code",
    "amount",
    "currency",
    "failure_reason",
];

/// `FLOWC_<NAME>_RESPONSE_LAYOUT`: the columns of a connection's response records.
pub fn layout_env(connection: &str) -> String {
    format!(
        "FLOWC_{}_RESPONSE_LAYOUT",
        crate::action::env_name(connection)
    )
}

/// A layout's columns; an unknown or missing required column is an error.
pub fn layout(text: &str) -> Result<Vec<String>, String> {
    let cols: Vec<String> = text
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if let Some(bad) = cols.iter().find(|c| !COLUMNS.contains(&c.as_str())) {
        return Err(format!(
            "response layout: unknown column `{bad}` (known: {})",
            COLUMNS.join(", ")
        ));
    }
    for need in ["invoice_number", "status_code"] {
        if !cols.iter().any(|c| c == need) {
            return Err(format!("response layout: no `{need}` column"));
        }
    }
    Ok(cols)
}

/// One record of a response file: its line (1-based), the invoice number it
/// answers and the event's outputs; or the line and why it cannot be read.
pub type Record = Result<(usize, String, Map<String, Value>), (usize, String)>;

/// Reads a response file's records (header records and blank lines skipped).
pub fn read(text: &str, layout: &[String]) -> Vec<Record> {
    let mut out = Vec::new();
    // Line by line (a record never spans lines), so that every error names
    // the line it is on, whatever the line ends.
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(raw.as_bytes());
        let row = match reader.records().next() {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                out.push(Err((line, format!("not CSV: {e}"))));
                continue;
            }
            None => continue,
        };
        let mut fields: Vec<&str> = row.iter().collect();
        match fields.first().map(|f| f.trim()) {
            Some("H") => continue,
            Some("D") => {
                fields.remove(0);
            }
            _ => {}
        }
        out.push(
            record(&fields, layout)
                .map_err(|e| (line, e))
                .map(|(k, m)| (line, k, m)),
        );
    }
    out
}

/// One record's fields as the event's outputs.
fn record(fields: &[&str], layout: &[String]) -> Result<(String, Map<String, Value>), String> {
    if fields.len() != layout.len() {
        return Err(format!(
            "{} fields, the response layout has {}",
            fields.len(),
            layout.len()
        ));
    }
    let get = |c: &str| {
        layout
            .iter()
            .position(|l| l == c)
            .map(|i| fields[i].trim())
            .filter(|s| !s.is_empty())
    };
    let invoice = get("invoice_number").ok_or("no invoice number")?;
    let code_text = get("status_code").ok_or("no status code")?;
    let code: i64 = code_text
        .parse()
        .map_err(|_| format!("status code `{code_text}` is not a number"))?;
    let status = status_name(code).ok_or_else(|| format!("unknown status code {code}"))?;
    let amount = match get("amount") {
        Some(a) => {
            let d: rust_decimal::Decimal = a
                .parse()
                .map_err(|_| format!("amount `{a}` is not a decimal number"))?;
            let currency = get("currency").unwrap_or("EUR").to_ascii_uppercase();
            serde_json::json!({"amount": d.to_string(), "currency": currency})
        }
        None => Value::Null,
    };
    let text = |v: Option<&str>| v.map_or(Value::Null, |s| Value::String(s.to_string()));
    let reason = match get("failure_reason") {
        Some(r) => Value::String(r.to_string()),
        None if code == 190 => Value::String(String::new()),
        // A failure always says why: the sub code, else the status.
        None => Value::String(get("sub_code").unwrap_or(status).to_string()),
    };
    let mut m = Map::new();
    m.insert("invoice_number".into(), Value::String(invoice.to_string()));
    m.insert("status_code".into(), Value::from(code));
    m.insert("status".into(), Value::String(status.to_string()));
    m.insert("transaction_key".into(), text(get("transaction_key")));
    m.insert("amount".into(), amount);
    m.insert("failure_reason".into(), reason);
    Ok((invoice.to_string(), m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> Vec<String> {
        layout(DEFAULT_LAYOUT).unwrap()
    }

    #[test]
    fn records_become_event_outputs() {
        let text = "H,ACME_DD_20250303-000001.csv,2025-03-10T05:00:00Z,3\r\n\
                    D,INV-1,TX1,190,,25.00,EUR,\r\n\
                    D,INV-2,TX2,491,AC01,12.50,EUR,Invalid account\r\n\
                    INV-3,TX3,690,MD01,1.00,eur,\r\n";
        let r = read(text, &default());
        assert_eq!(r.len(), 3);
        let (line, key, m) = r[0].clone().unwrap();
        assert_eq!((line, key.as_str()), (2, "INV-1"));
        assert_eq!(m["status"], "success");
        assert_eq!(m["transaction_key"], "TX1");
        assert_eq!(
            m["amount"],
            serde_json::json!({"amount": "25.00", "currency": "EUR"})
        );
        assert_eq!(m["failure_reason"], "");
        let (_, _, m) = r[1].clone().unwrap();
        assert_eq!(m["status"], "validation_failure");
        assert_eq!(m["failure_reason"], "Invalid account");
        // Without a reason, a failure carries its sub code.
        let (line, _, m) = r[2].clone().unwrap();
        assert_eq!(line, 4);
        assert_eq!(m["status"], "rejected");
        assert_eq!(m["failure_reason"], "MD01");
        assert_eq!(m["amount"]["currency"], "EUR");
    }

    #[test]
    fn a_malformed_row_is_reported_and_the_others_read() {
        let text = "D,INV-1,TX1,190,,25.00,EUR,\n\
                    D,INV-2,TX2,abc,,1.00,EUR,\n\
                    D,INV-3,TX3\n\
                    D,,TX4,190,,1.00,EUR,\n\
                    D,INV-5,TX5,999,,1.00,EUR,\n\
                    D,INV-6,TX6,190,,ten,EUR,\n\
                    D,INV-7,TX7,190,,7.00,EUR,\n";
        let r = read(text, &default());
        let errs: Vec<(usize, String)> = r.iter().filter_map(|r| r.clone().err()).collect();
        assert_eq!(
            errs.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![2, 3, 4, 5, 6]
        );
        assert!(errs[0].1.contains("`abc` is not a number"), "{errs:?}");
        assert!(errs[1].1.contains("2 fields"), "{errs:?}");
        assert!(errs[2].1.contains("no invoice number"), "{errs:?}");
        assert!(errs[3].1.contains("unknown status code 999"), "{errs:?}");
        assert!(errs[4].1.contains("not a decimal"), "{errs:?}");
        let ok: Vec<String> = r.into_iter().filter_map(|r| r.ok()).map(|r| r.1).collect();
        assert_eq!(ok, ["INV-1", "INV-7"]);
    }

    #[test]
    fn a_layout_is_checked_and_followed() {
        assert!(
            layout("invoice_number,colour")
                .unwrap_err()
                .contains("`colour`")
        );
        assert!(
            layout("invoice_number,amount")
                .unwrap_err()
                .contains("status_code")
        );
        let l = layout("status_code, INVOICE_NUMBER").unwrap();
        let r = read("190,INV-9\n", &l);
        let (_, key, m) = r[0].clone().unwrap();
        assert_eq!(key, "INV-9");
        assert_eq!(m["amount"], Value::Null);
        assert_eq!(m["transaction_key"], Value::Null);
    }
}
