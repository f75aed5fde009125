//! Buckaroo's file side, simulated: request files taken from a connection's
//! outbox are answered, after a delay on the given clock, with response files
//! written into its inbox in the default layout of [`super::response_file`].
//! Each record's outcome is chosen by its invoice number, else its IBAN, else
//! it is debited; a record whose account failed its check (`account_valid`
//! false) is answered as an invalid account unless an outcome is named for it.
//! A request file is answered once: its response file's name is derived from
//! its own (`<name>.response.csv`), and a response file already in the inbox
//! (or in its `processed/`) is not written again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::action::batch::file_records;

/// What Buckaroo answers for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 190: collected.
    Debited,
    /// 490 AM04: the account lacked the money.
    InsufficientFunds,
    /// 491 AC01: the account is invalid.
    AccountInvalid,
    /// 690 MD01: no valid mandate.
    MandateRefused,
    /// 190 now, then 490 MD06 in a second response file after `reverse_after`.
    Reversed,
    /// No record at all.
    NoResponse,
    /// A row that cannot be read (a status code that is not a number).
    Malformed,
}

impl Outcome {
    pub fn parse(s: &str) -> Result<Outcome, String> {
        Ok(match s {
            "debited" => Outcome::Debited,
            "insufficient_funds" => Outcome::InsufficientFunds,
            "account_invalid" => Outcome::AccountInvalid,
            "mandate_refused" => Outcome::MandateRefused,
            "reversed" => Outcome::Reversed,
            "no_response" => Outcome::NoResponse,
            "malformed" => Outcome::Malformed,
            other => {
                return Err(format!(
                    "unknown Buckaroo outcome `{other}` (debited, insufficient_funds, \
                     account_invalid, mandate_refused, reversed, no_response, malformed)"
                ));
            }
        })
    }

    /// Status code, sub code and reason of its record.
    fn status(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Outcome::Debited | Outcome::Reversed => ("190", "", ""),
            Outcome::InsufficientFunds => ("490", "AM04", "Insufficient funds"),
            Outcome::AccountInvalid => ("491", "AC01", "Invalid account"),
            Outcome::MandateRefused => ("690", "MD01", "No valid mandate"),
            Outcome::Malformed => ("19O", "", ""),
            Outcome::NoResponse => ("", "", ""),
        }
    }
}

/// How the simulated Buckaroo answers.
#[derive(Debug, Clone)]
pub struct FileConfig {
    /// From a request file's creation to its response file.
    pub delay: Duration,
    /// From a response file to the reversal file of its `reversed` records.
    pub reverse_after: Duration,
    /// Outcomes by invoice number or IBAN.
    pub outcomes: HashMap<String, Outcome>,
}

impl Default for FileConfig {
    fn default() -> FileConfig {
        FileConfig {
            delay: Duration::from_secs(3 * 86_400),
            reverse_after: Duration::from_secs(2 * 86_400),
            outcomes: HashMap::new(),
        }
    }
}

/// One connection's simulated file exchange.
#[derive(Debug)]
pub struct FileSim {
    outbox: PathBuf,
    inbox: PathBuf,
    config: FileConfig,
    /// Files to write: (when, name, text).
    due: Vec<(Timestamp, String, String)>,
    /// Request files already planned for.
    seen: Vec<String>,
}

fn text(r: &Value, k: &str) -> String {
    match r.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// A request file's creation time, from its header record.
fn created(path: &Path) -> Option<Timestamp> {
    let t = std::fs::read_to_string(path).ok()?;
    let header = t.lines().next()?;
    header.split(',').nth(2)?.trim().parse().ok()
}

impl FileSim {
    pub fn new(outbox: PathBuf, inbox: PathBuf, config: FileConfig) -> FileSim {
        FileSim {
            outbox,
            inbox,
            config,
            due: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn outcome(&self, record: &Value) -> Outcome {
        let o = &self.config.outcomes;
        o.get(&text(record, "invoice_number"))
            .or_else(|| o.get(&text(record, "iban")))
            .copied()
            .unwrap_or(
                if record.get("account_valid") == Some(&Value::Bool(false)) {
                    Outcome::AccountInvalid
                } else {
                    Outcome::Debited
                },
            )
    }

    /// Looks for new request files, and writes the response files due at
    /// `now`; one line per file written.
    pub fn step(&mut self, now: Timestamp) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = match std::fs::read_dir(&self.outbox) {
            Ok(e) => e
                .filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        for name in names {
            if self.seen.contains(&name) {
                continue;
            }
            self.seen.push(name.clone());
            self.plan(&name, now)?;
        }
        let mut lines = Vec::new();
        let mut rest = Vec::new();
        for (at, name, body) in std::mem::take(&mut self.due) {
            if at > now {
                rest.push((at, name, body));
                continue;
            }
            let done = self.inbox.join(crate::events::inbox::PROCESSED).join(&name);
            let target = self.inbox.join(&name);
            if !target.exists() && !done.exists() {
                std::fs::create_dir_all(&self.inbox)
                    .map_err(|e| format!("cannot create {}: {e}", self.inbox.display()))?;
                let tmp = self.inbox.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, &body)
                    .and_then(|()| std::fs::rename(&tmp, &target))
                    .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
                lines.push(format!(
                    "buckaroo: answered with {name} ({} records)",
                    body.lines().count().saturating_sub(1)
                ));
            }
        }
        self.due = rest;
        Ok(lines)
    }

    /// When a response file is next due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.due.iter().map(|d| d.0).min()
    }

    fn plan(&mut self, name: &str, now: Timestamp) -> Result<(), String> {
        let records = file_records(&self.outbox, name)?;
        let at = crate::clock::add(
            created(&self.outbox.join(name)).unwrap_or(now),
            self.config.delay,
        );
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        let mut body = format!("H,{name},{at}\r\n");
        let mut reversals = format!("H,{name},reversals\r\n");
        let mut reversed = 0;
        for (i, r) in records.iter().enumerate() {
            let outcome = self.outcome(r);
            if outcome == Outcome::NoResponse {
                continue;
            }
            let (code, sub, reason) = outcome.status();
            let invoice = text(r, "invoice_number");
            let key = format!("SIM-{stem}-{}", i + 1);
            let amount = match r.get("amount") {
                Some(Value::Object(m)) => m.get("amount").map_or(String::new(), |a| {
                    a.as_str().map_or_else(|| a.to_string(), str::to_string)
                }),
                _ => text(r, "amount"),
            };
            body.push_str(&format!(
                "D,{invoice},{key},{code},{sub},{amount},EUR,{reason}\r\n"
            ));
            if outcome == Outcome::Reversed {
                reversed += 1;
                reversals.push_str(&format!(
                    "D,{invoice},{key},490,MD06,{amount},EUR,Reversed by the payer\r\n"
                ));
            }
        }
        self.due.push((at, format!("{stem}.response.csv"), body));
        if reversed > 0 {
            self.due.push((
                crate::clock::add(at, self.config.reverse_after),
                format!("{stem}.reversals.csv"),
                reversals,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::buckaroo::response_file::{DEFAULT_LAYOUT, layout, read};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn request_files_are_answered_once_after_the_delay() {
        let out = tempfile::tempdir().unwrap();
        let inbox = tempfile::tempdir().unwrap();
        drop(crate::action::batch::Spool::open(out.path()).unwrap());
        let db = rusqlite::Connection::open(out.path().join(".flowc-batches.sqlite")).unwrap();
        db.execute(
            "INSERT INTO batches (id, provider, action, connection, opened_at, close_at, closed_at, file) \
             VALUES (1, 'buckaroo', 'direct_debit_batch', 'b', 0, 0, 0, 'REQ1.csv')",
            [],
        )
        .unwrap();
        let records = [
            ("INV-1", "NL91ABNA0417164300", true),
            ("INV-2", "0000000000", false),
            ("INV-3", "DE89370400440532013000", true),
            ("INV-4", "NL02ABNA0123456789", true),
            ("INV-5", "NL02ABNA0123456789", true),
        ];
        for (n, (inv, iban, valid)) in records.iter().enumerate() {
            let r = serde_json::json!({"invoice_number": inv, "iban": iban, "account_valid": valid,
                "amount": {"amount": "10.00", "currency": "EUR"}});
            db.execute(
                "INSERT INTO records (key, batch, n, issue, record) VALUES (?1, 1, ?2, ?3, ?4)",
                rusqlite::params![
                    format!("k{n}"),
                    n as i64 + 1,
                    format!("i{n}"),
                    r.to_string()
                ],
            )
            .unwrap();
        }
        std::fs::write(
            out.path().join("REQ1.csv"),
            "H,REQ1.csv,2025-03-03T06:00:00Z,5\r\nD,…\r\n",
        )
        .unwrap();
        let mut config = FileConfig {
            delay: Duration::from_secs(86_400),
            ..FileConfig::default()
        };
        config.outcomes.insert("INV-3".into(), Outcome::Reversed);
        config.outcomes.insert("INV-4".into(), Outcome::NoResponse);
        config
            .outcomes
            .insert("NL02ABNA0123456789".into(), Outcome::MandateRefused);
        let mut sim = FileSim::new(out.path().into(), inbox.path().into(), config);

        assert!(sim.step(at("2025-03-03T06:05:00Z")).unwrap().is_empty());
        assert_eq!(sim.next_due(), Some(at("2025-03-04T06:00:00Z")));
        let lines = sim.step(at("2025-03-04T06:00:00Z")).unwrap();
        assert_eq!(
            lines,
            ["buckaroo: answered with REQ1.response.csv (4 records)"]
        );
        let text = std::fs::read_to_string(inbox.path().join("REQ1.response.csv")).unwrap();
        let got: Vec<(String, String)> = read(&text, &layout(DEFAULT_LAYOUT).unwrap())
            .into_iter()
            .map(|r| {
                let (_, k, m) = r.unwrap();
                (k, m["status"].as_str().unwrap().to_string())
            })
            .collect();
        let want = [
            ("INV-1", "success"),
            ("INV-2", "validation_failure"),
            ("INV-3", "success"),
            // By IBAN; INV-4 (no_response) has no record.
            ("INV-5", "rejected"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
        // Answered once, even when the file was read and moved aside.
        std::fs::create_dir_all(inbox.path().join("processed")).unwrap();
        std::fs::rename(
            inbox.path().join("REQ1.response.csv"),
            inbox.path().join("processed/REQ1.response.csv"),
        )
        .unwrap();
        assert!(sim.step(at("2025-03-05T06:00:00Z")).unwrap().is_empty());
        // The reversal comes two days after the response.
        let lines = sim.step(at("2025-03-06T06:00:00Z")).unwrap();
        assert_eq!(
            lines,
            ["buckaroo: answered with REQ1.reversals.csv (1 records)"]
        );
        let text = std::fs::read_to_string(inbox.path().join("REQ1.reversals.csv")).unwrap();
        let (_, k, m) = read(&text, &layout(DEFAULT_LAYOUT).unwrap())[0]
            .clone()
            .unwrap();
        assert_eq!(
            (k.as_str(), m["status_code"].as_i64()),
            ("INV-3", Some(490))
        );
        assert_eq!(sim.next_due(), None);
    }
}
