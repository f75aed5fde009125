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
