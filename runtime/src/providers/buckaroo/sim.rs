//! Buckaroo's file side, simulated: request files taken from a connection's
//! outbox are answered, after a delay on the given clock, with response files
//! written into its inbox in the default layout of [`super::response_file`].
//!
//! The simulator reads what Buckaroo reads: the request file itself (see
//! [`super::request_file`]), its `D` records in the connection's
//! `file_layout`, of which it needs `invoice_number`, `amount` and `iban`.
//! Each record's outcome is chosen by its invoice number, else its IBAN, else
//! it is debited; a record whose IBAN column holds no valid IBAN (the flow
//! wrote the connection's `dummy_account_number` there) is answered as an
//! invalid account unless an outcome is named for it. A file that is not a
//! request file (no `H` header, a record of the wrong width, a header whose
//! record count is not the file's) is refused, with an error naming the file
//! and the line, and never answered.
//!
//! A request file is answered once: its response file's name is derived from
//! its own (`<name>.response.csv`), and a response file already in the inbox
//! (or in its `processed/`) is not written again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;

use super::{iban, request_file};

/// The columns of a request file's records the simulator reads.
const NEEDED: [&str; 3] = ["invoice_number", "amount", "iban"];

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
    /// The columns of the request files' records, in order: the connection's
    /// `file_layout` setting, comma-separated (default: the catalog's).
    pub layout: String,
}

impl Default for FileConfig {
    fn default() -> FileConfig {
        FileConfig {
            delay: Duration::from_secs(3 * 86_400),
            reverse_after: Duration::from_secs(2 * 86_400),
            outcomes: HashMap::new(),
            layout: default_layout(),
        }
    }
}

/// The catalog's default `file_layout` of a Buckaroo connection.
pub fn default_layout() -> String {
    request_file::setting(&serde_json::Value::Null, "file_layout").unwrap_or_default()
}

/// Where the columns the simulator reads are in a record (after its `D`).
#[derive(Debug, Clone, Copy)]
struct Columns {
    /// How many columns the layout has.
    width: usize,
    invoice: usize,
    amount: usize,
    iban: usize,
}

impl Columns {
    /// A layout's columns; a layout without a needed column is an error naming it.
    fn of(layout: &str) -> Result<Columns, String> {
        let cols: Vec<&str> = layout.split(',').map(str::trim).collect();
        let at = |name: &str| {
            cols.iter().position(|c| *c == name).ok_or_else(|| {
                format!(
                    "request file layout `{layout}` has no `{name}` column (the simulator reads {})",
                    NEEDED.join(", ")
                )
            })
        };
        Ok(Columns {
            width: cols.len(),
            invoice: at(NEEDED[0])?,
            amount: at(NEEDED[1])?,
            iban: at(NEEDED[2])?,
        })
    }
}

/// A request file as the simulator reads it.
#[derive(Debug, Clone, PartialEq)]
struct Request {
    /// When it was made, from its header record.
    created: Timestamp,
    records: Vec<Record>,
}

/// One `D` record: the columns the simulator reads.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    invoice: String,
    amount: String,
    iban: String,
}

/// Reads a request file; an error names the file and, where there is one,
/// the line.
fn parse(name: &str, text: &[u8], cols: Columns) -> Result<Request, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let at = |line: usize, what: String| format!("{name} line {line}: {what}");
    // The line a record starts on, from its byte offset (which may stand on
    // the line end before it: the reader takes a CRLF's LF with the next record).
    let line_of = |p: Option<&csv::Position>| {
        let mut end = p.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
        end = end.min(text.len());
        while end < text.len() && matches!(text[end], b'\r' | b'\n') {
            end += 1;
        }
        1 + text[..end].iter().filter(|b| **b == b'\n').count()
    };
    let mut header: Option<(Timestamp, usize)> = None;
    let mut records = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| {
            let line = line_of(e.position());
            at(line, format!("not CSV: {e}"))
        })?;
        let line = line_of(row.position());
        let marker = row.get(0).unwrap_or_default();
        if header.is_none() {
            if marker != "H" {
                return Err(at(
                    line,
                    "not a request file: its first record is not an `H` header".into(),
                ));
            }
            let created = row.get(2).unwrap_or_default();
            let created: Timestamp = created.parse().map_err(|_| {
                at(
                    line,
                    format!("the header's creation time `{created}` is not an RFC 3339 time"),
                )
            })?;
            let n = row.get(3).unwrap_or_default();
            let n: usize = n.parse().map_err(|_| {
                at(
                    line,
                    format!("the header's record count `{n}` is not a whole number"),
                )
            })?;
            header = Some((created, n));
            continue;
        }
        if marker != request_file::RECORD {
            return Err(at(
                line,
                format!(
                    "a record that does not start with `{}`",
                    request_file::RECORD
                ),
            ));
        }
        if row.len() != cols.width + 1 {
            return Err(at(
                line,
                format!(
                    "a record of {} columns, but the layout has {}",
                    row.len().saturating_sub(1),
                    cols.width
                ),
            ));
        }
        let col = |i: usize| row.get(i + 1).unwrap_or_default().to_string();
        records.push(Record {
            invoice: col(cols.invoice),
            amount: col(cols.amount),
            iban: col(cols.iban),
        });
    }
    let Some((created, count)) = header else {
        return Err(format!("{name}: not a request file: it is empty"));
    };
    if count != records.len() {
        return Err(format!(
            "{name}: the header says {count} records, the file has {}",
            records.len()
        ));
    }
    Ok(Request { created, records })
}

/// One connection's simulated file exchange.
#[derive(Debug)]
pub struct FileSim {
    outbox: PathBuf,
    inbox: PathBuf,
    config: FileConfig,
    columns: Columns,
    /// Files to write: (when, name, text).
    due: Vec<(Timestamp, String, String)>,
    /// Request files already planned for (or refused).
    seen: Vec<String>,
}

impl FileSim {
    /// A simulator of the exchange between an outbox and an inbox; an error
    /// when the config's layout lacks a column the simulator reads.
    pub fn new(outbox: PathBuf, inbox: PathBuf, config: FileConfig) -> Result<FileSim, String> {
        let columns = Columns::of(&config.layout)?;
        Ok(FileSim {
            outbox,
            inbox,
            config,
            columns,
            due: Vec::new(),
            seen: Vec::new(),
        })
    }

    fn outcome(&self, record: &Record) -> Outcome {
        let o = &self.config.outcomes;
        let valid = !iban::is_missing(&record.iban) && iban::is_valid(&record.iban);
        o.get(&record.invoice)
            .or_else(|| o.get(&record.iban))
            .copied()
            .unwrap_or(if valid {
                Outcome::Debited
            } else {
                Outcome::AccountInvalid
            })
    }

    /// Looks for new request files, and writes the response files due at
    /// `now`; one line per file written, or refused (`buckaroo: refused
    /// NAME: why`: a file that is not a request file is not answered, and
    /// the simulator goes on). An error: the inbox cannot be written.
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
        let mut lines = Vec::new();
        for name in names {
            if self.seen.contains(&name) {
                continue;
            }
            let text = match std::fs::read(self.outbox.join(&name)) {
                Ok(t) => t,
                // Gone or unreadable for now: looked at again next time.
                Err(_) => continue,
            };
            self.seen.push(name.clone());
            match parse(&name, &text, self.columns) {
                Ok(request) => self.plan(&name, &request),
                Err(e) => lines.push(format!("buckaroo: refused {name}: {e}")),
            }
        }
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

    fn plan(&mut self, name: &str, request: &Request) {
        let at = crate::clock::add(request.created, self.config.delay);
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        let mut body = format!("H,{name},{at}\r\n");
        let mut reversals = format!("H,{name},reversals\r\n");
        let mut reversed = 0;
        for (i, r) in request.records.iter().enumerate() {
            let outcome = self.outcome(r);
            if outcome == Outcome::NoResponse {
                continue;
            }
            let (code, sub, reason) = outcome.status();
            let (invoice, amount) = (&r.invoice, &r.amount);
            let key = format!("SIM-{stem}-{}", i + 1);
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::batch::write_file;
    use crate::providers::buckaroo::response_file::{DEFAULT_LAYOUT, layout, read};
    use serde_json::{Value, json};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cols(layout: &str) -> Vec<String> {
        layout.split(',').map(str::to_string).collect()
    }

    /// Writes a request file as the flow does: its header, then its records
    /// in `layout`'s columns.
    fn request(dir: &std::path::Path, name: &str, layout: &str, records: &[Value]) {
        let settings = request_file::Settings::of(&json!({})).unwrap();
        let header = request_file::header(
            name,
            at("2025-03-03T06:00:00Z"),
            records,
            &settings,
            "WEBSITE_KEY",
        )
        .unwrap();
        write_file(&dir.join(name), Some(&header), &cols(layout), records).unwrap();
    }

    fn record(invoice: &str, iban: &str, amount: &str) -> Value {
        json!({"invoice_number": invoice, "iban": iban, "amount": amount, "currency": "EUR",
            "customer_name": "J. de Vries, Amsterdam", "mandate_reference": "M-1"})
    }

    /// The response file's records: (invoice, status, amount).
    fn answered(inbox: &std::path::Path, name: &str) -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(inbox.join(name)).unwrap();
        read(&text, &layout(DEFAULT_LAYOUT).unwrap())
            .into_iter()
            .map(|r| {
                let (_, k, m) = r.unwrap();
                let amount = m["amount"]["amount"].as_str().unwrap().to_string();
                (k, m["status"].as_str().unwrap().to_string(), amount)
            })
            .collect()
    }

    fn sim(out: &std::path::Path, inbox: &std::path::Path, layout: &str) -> FileSim {
        let config = FileConfig {
            delay: Duration::from_secs(86_400),
            layout: layout.into(),
            ..FileConfig::default()
        };
        FileSim::new(out.into(), inbox.into(), config).unwrap()
    }

    #[test]
    fn request_files_are_answered_once_after_the_delay() {
        let out = tempfile::tempdir().unwrap();
        let inbox = tempfile::tempdir().unwrap();
        let records = [
            record("INV-1", "NL91ABNA0417164300", "10.00"),
            // The flow's dummy account number in place of an invalid IBAN.
            record("INV-2", "0000000000", "10.00"),
            record("INV-3", "DE89370400440532013000", "10.00"),
            record("INV-4", "NL02ABNA0123456789", "10.00"),
            record("INV-5", "NL02ABNA0123456789", "10.00"),
        ];
        request(out.path(), "REQ1.csv", &default_layout(), &records);
        let mut config = FileConfig {
            delay: Duration::from_secs(86_400),
            ..FileConfig::default()
        };
        config.outcomes.insert("INV-3".into(), Outcome::Reversed);
        config.outcomes.insert("INV-4".into(), Outcome::NoResponse);
        config
            .outcomes
            .insert("NL02ABNA0123456789".into(), Outcome::MandateRefused);
        let mut sim = FileSim::new(out.path().into(), inbox.path().into(), config).unwrap();

        assert!(sim.step(at("2025-03-03T06:05:00Z")).unwrap().is_empty());
        assert_eq!(sim.next_due(), Some(at("2025-03-04T06:00:00Z")));
        let lines = sim.step(at("2025-03-04T06:00:00Z")).unwrap();
        assert_eq!(
            lines,
            ["buckaroo: answered with REQ1.response.csv (4 records)"]
        );
        let got: Vec<(String, String)> = answered(inbox.path(), "REQ1.response.csv")
            .into_iter()
            .map(|(k, s, _)| (k, s))
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

    #[test]
    fn a_file_in_another_layout_is_read_by_that_layout() {
        let out = tempfile::tempdir().unwrap();
        let inbox = tempfile::tempdir().unwrap();
        // Amount and IBAN elsewhere than in the catalog's layout, a comma in
        // a quoted column before them.
        let layout = "customer_name,iban,mandate_reference,amount,currency,invoice_number";
        let records = [
            record("INV-7", "NL91ABNA0417164300", "12.50"),
            record("INV-8", "DE89370400440532013000", "99.99"),
        ];
        request(out.path(), "ACME_1.csv", layout, &records);
        let mut sim = sim(out.path(), inbox.path(), layout);
        assert!(sim.step(at("2025-03-03T07:00:00Z")).unwrap().is_empty());
        let lines = sim.step(at("2025-03-04T06:00:00Z")).unwrap();
        assert_eq!(
            lines,
            ["buckaroo: answered with ACME_1.response.csv (2 records)"]
        );
        let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            answered(inbox.path(), "ACME_1.response.csv"),
            [
                s("INV-7", "success", "12.50"),
                s("INV-8", "success", "99.99")
            ]
        );
        // The same file read by the catalog's layout does not fit: refused.
        let other = tempfile::tempdir().unwrap();
        let mut wrong = FileSim::new(
            out.path().into(),
            other.path().into(),
            FileConfig::default(),
        )
        .unwrap();
        let lines = wrong.step(at("2025-03-03T07:00:00Z")).unwrap();
        assert_eq!(
            lines,
            [
                "buckaroo: refused ACME_1.csv: ACME_1.csv line 2: a record of 6 columns, but the layout has 17"
            ]
        );
    }

    #[test]
    fn an_invalid_iban_is_answered_as_an_invalid_account_unless_named() {
        let out = tempfile::tempdir().unwrap();
        let inbox = tempfile::tempdir().unwrap();
        let layout = "invoice_number,amount,iban";
        let records = [
            // Check digits off by one.
            record("INV-1", "NL91ABNA0417164301", "5.00"),
            // The default dummy account number: empty.
            record("INV-2", "", "5.00"),
            record("INV-3", "NL91ABNA0417164300", "5.00"),
            record("INV-4", "NL91ABNA0417164301", "5.00"),
        ];
        request(out.path(), "R.csv", layout, &records);
        let mut config = FileConfig {
            delay: Duration::from_secs(60),
            layout: layout.into(),
            ..FileConfig::default()
        };
        config
            .outcomes
            .insert("INV-4".into(), Outcome::InsufficientFunds);
        let mut sim = FileSim::new(out.path().into(), inbox.path().into(), config).unwrap();
        sim.step(at("2025-03-03T06:01:00Z")).unwrap();
        let got: Vec<String> = answered(inbox.path(), "R.response.csv")
            .into_iter()
            .map(|(k, s, _)| format!("{k} {s}"))
            .collect();
        assert_eq!(
            got,
            [
                "INV-1 validation_failure",
                "INV-2 validation_failure",
                "INV-3 success",
                "INV-4 failed"
            ]
        );
    }

    #[test]
    fn a_file_that_is_not_a_request_file_is_refused_by_name_and_line_and_not_answered() {
        let layout = "invoice_number,amount,iban";
        let cases = [
            (
                "WIDTH.csv",
                "H,WIDTH.csv,2025-03-03T06:00:00Z,2,20.00,EUR,K,,\r\n\
                 D,INV-1,10.00,NL91ABNA0417164300\r\n\
                 D,INV-2,10.00\r\n",
                "WIDTH.csv line 3: a record of 2 columns, but the layout has 3",
            ),
            (
                "NOHEAD.csv",
                "D,INV-1,10.00,NL91ABNA0417164300\r\n",
                "NOHEAD.csv line 1: not a request file: its first record is not an `H` header",
            ),
            (
                "COUNT.csv",
                "H,COUNT.csv,2025-03-03T06:00:00Z,3,20.00,EUR,K,,\r\n\
                 D,INV-1,10.00,NL91ABNA0417164300\r\n\
                 D,INV-2,10.00,NL91ABNA0417164300\r\n",
                "COUNT.csv: the header says 3 records, the file has 2",
            ),
            (
                "BADCOUNT.csv",
                "H,BADCOUNT.csv,2025-03-03T06:00:00Z,two,20.00,EUR,K,,\r\n",
                "BADCOUNT.csv line 1: the header's record count `two` is not a whole number",
            ),
            (
                "MARK.csv",
                "H,MARK.csv,2025-03-03T06:00:00Z,1,10.00,EUR,K,,\r\n\
                 X,INV-1,10.00,NL91ABNA0417164300\r\n",
                "MARK.csv line 2: a record that does not start with `D`",
            ),
            (
                "EMPTY.csv",
                "",
                "EMPTY.csv: not a request file: it is empty",
            ),
        ];
        for (name, text, error) in cases {
            let out = tempfile::tempdir().unwrap();
            let inbox = tempfile::tempdir().unwrap();
            std::fs::write(out.path().join(name), text).unwrap();
            // A good file beside it is still answered.
            request(
                out.path(),
                "GOOD.csv",
                layout,
                &[record("INV-9", "NL91ABNA0417164300", "1.00")],
            );
            let mut sim = sim(out.path(), inbox.path(), layout);
            let lines = sim.step(at("2025-03-03T06:00:00Z")).unwrap();
            assert_eq!(lines, [format!("buckaroo: refused {name}: {error}")]);
            // Refused once, never answered.
            let lines = sim.step(at("2025-03-10T06:00:00Z")).unwrap();
            assert_eq!(
                lines,
                ["buckaroo: answered with GOOD.response.csv (1 records)"],
                "{name}"
            );
            let stem = name.trim_end_matches(".csv");
            assert!(!inbox.path().join(format!("{stem}.response.csv")).exists());
            assert_eq!(sim.next_due(), None);
        }
    }

    #[test]
    fn a_layout_without_a_column_the_simulator_reads_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let config = |layout: &str| FileConfig {
            layout: layout.into(),
            ..FileConfig::default()
        };
        let e = FileSim::new(
            dir.path().into(),
            dir.path().into(),
            config("invoice_number,amount,bic"),
        )
        .unwrap_err();
        assert!(e.contains("has no `iban` column"), "{e}");
        let e =
            FileSim::new(dir.path().into(), dir.path().into(), config("iban,amount")).unwrap_err();
        assert!(e.contains("has no `invoice_number` column"), "{e}");
        assert!(
            FileSim::new(dir.path().into(), dir.path().into(), FileConfig::default()).is_ok(),
            "the catalog's layout has them all"
        );
    }

    mod properties {
        use super::*;
        use crate::action::batch::render_file;
        use proptest::prelude::*;

        /// Any text in a CSV field: commas, quotes, line ends, non-ASCII.
        fn field() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9 ,\"\r\n.é-]{0,12}"
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever is in the outbox, reading it gives a request or an
            /// error naming the file; it never panics.
            #[test]
            fn any_bytes_read_or_refused_by_name(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                let cols = Columns::of(&default_layout()).unwrap();
                if let Err(e) = parse("F.csv", &bytes, cols) {
                    prop_assert!(e.starts_with("F.csv"), "{}", e);
                }
            }

            /// A file the flow writes (any texts in its columns) reads back
            /// record for record.
            #[test]
            fn what_the_flow_writes_reads_back(rows in proptest::collection::vec((field(), field(), field()), 0..8)) {
                let layout = "invoice_number,customer_name,amount,iban";
                let records: Vec<Value> = rows
                    .iter()
                    .map(|(inv, name, iban)| json!({"invoice_number": inv, "customer_name": name,
                        "amount": "1.50", "iban": iban}))
                    .collect();
                let settings = request_file::Settings::of(&json!({})).unwrap();
                let header = request_file::header("F.csv", at("2025-03-03T06:00:00Z"), &records, &settings, "K").unwrap();
                let bytes = render_file(Some(&header), &cols(layout), &records).unwrap();
                let got = parse("F.csv", &bytes, Columns::of(layout).unwrap()).unwrap();
                prop_assert_eq!(got.created, at("2025-03-03T06:00:00Z"));
                let want: Vec<Record> = rows
                    .iter()
                    .map(|(inv, _, iban)| Record { invoice: inv.clone(), amount: "1.50".into(), iban: iban.clone() })
                    .collect();
                prop_assert_eq!(got.records, want);
            }
        }
    }
}
