//! Buckaroo BPE 3.0 direct debit request files, as Rator's Request Generator
//! wrote them: the connection's settings (the seed's configuration table)
//! fill each record's derived columns, and each file opens with a header
//! record. The spool and the file writing itself are provider-neutral
//! (`crate::action::batch`).
//!
//! A file, one line per record, comma-separated, CRLF:
//!
//! ```text
//! H,<file name>,<created, RFC 3339>,<records>,<total amount>,<currency>,<website key>,<brand name>,<instance number>
//! D,<the columns of file_layout>…
//! ```

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::iban;

/// The day before which a mandate's date is replaced by `sepa_mandate_date`
/// (the SEPA migration, as the seed fixes it).
const SEPA_MIGRATION: Date = jiff::civil::date(2013, 12, 11);

/// The connection's settings that shape records and headers, with the
/// catalog's defaults for those it does not set.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Buckaroo service names this connection collects; `None`: every one.
    pub payment_types: Option<Vec<String>>,
    pub description_prefix: String,
    pub vat: String,
    pub currency: String,
    pub due_date_offset_days: Option<i64>,
    pub culture: String,
    pub allowed_methods: String,
    pub invalid_account_method: String,
    pub dummy_account_number: String,
    pub country: String,
    pub sepa_mandate_date: Date,
    pub collect_date_offset_days: i64,
    pub pay_per_email: bool,
    pub brand_name: String,
    pub instance_number: Option<i64>,
}

/// A setting as text: the flow's value, else the catalog's default.
pub fn setting(settings: &Value, name: &str) -> Option<String> {
    match settings.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => flowc_catalog::provider("buckaroo")?
            .settings
            .iter()
            .find(|s| s.name == name)?
            .default
            .clone(),
    }
}

impl Settings {
    /// Reads the settings; a value of the wrong shape is an error naming it
    /// (the checker has checked literal settings; this guards hand-written calls).
    pub fn of(settings: &Value) -> Result<Settings, String> {
        let text = |name: &str| setting(settings, name).unwrap_or_default();
        let int = |name: &str| -> Result<Option<i64>, String> {
            setting(settings, name)
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| format!("setting `{name}`: `{v}` is not a whole number"))
                })
                .transpose()
        };
        let mandate = text("sepa_mandate_date");
        Ok(Settings {
            payment_types: setting(settings, "payment_types").map(|t| {
                t.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
            description_prefix: text("description_prefix"),
            vat: text("vat"),
            currency: text("currency"),
            due_date_offset_days: int("due_date_offset_days")?,
            culture: text("culture"),
            allowed_methods: text("allowed_methods"),
            invalid_account_method: text("invalid_account_method"),
            dummy_account_number: text("dummy_account_number"),
            country: text("country"),
            sepa_mandate_date: mandate
                .parse()
                .map_err(|_| format!("setting `sepa_mandate_date`: `{mandate}` is not a date"))?,
            collect_date_offset_days: int("collect_date_offset_days")?.unwrap_or(0),
            pay_per_email: text("pay_per_email") == "true",
            brand_name: text("brand_name"),
            instance_number: int("instance_number")?,
        })
    }

    /// Whether the connection collects a payment type (Buckaroo service name).
    pub fn collects(&self, service: &str) -> bool {
        self.payment_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|s| s == service))
    }
}

/// Completes a checked direct debit record: the derived columns of the
/// catalog's `file_columns` and the defaults the settings give. `currency` is
/// the currency of the record's amount. Errors (the step fails, nothing is
/// written): a connection that does not collect direct debits, an amount in
/// another currency than the connection's.
pub fn complete_record(
    record: &mut Map<String, Value>,
    currency: Option<&str>,
    s: &Settings,
    today: Date,
) -> Result<(), String> {
    if !s.collects("sepadirectdebit") {
        return Err(format!(
            "the connection's payment_types ({}) do not include sepadirectdebit: it collects no direct debits",
            s.payment_types.as_deref().unwrap_or_default().join(",")
        ));
    }
    if let Some(c) = currency
        && !c.eq_ignore_ascii_case(&s.currency)
    {
        return Err(format!(
            "the amount is in {c}, but the connection collects {} (its `currency` setting)",
            s.currency
        ));
    }
    let text = |r: &Map<String, Value>, k: &str| -> String {
        r.get(k).and_then(Value::as_str).unwrap_or("").to_string()
    };
    let put = |r: &mut Map<String, Value>, k: &str, v: String| {
        r.insert(k.into(), Value::String(v));
    };

    // The account: a missing or invalid IBAN is replaced, and collected otherwise.
    let given = text(record, "iban");
    let valid = !iban::is_missing(&given) && iban::is_valid(&given);
    if !valid {
        put(record, "iban", s.dummy_account_number.clone());
    }
    record.insert("account_valid".into(), Value::Bool(valid));
    let method = if valid {
        &s.allowed_methods
    } else {
        &s.invalid_account_method
    };
    put(record, "payment_method", method.clone());
    let invite = !valid && s.pay_per_email && s.collects("payperemail");
    let (email, methods) = if invite {
        (text(record, "email"), s.invalid_account_method.clone())
    } else {
        (String::new(), String::new())
    };
    put(record, "ppe_email", email);
    put(record, "ppe_methods", methods);

    // Dates.
    let mandate = record
        .get("mandate_date")
        .and_then(Value::as_str)
        .and_then(|d| d.parse::<Date>().ok());
    if mandate.is_none_or(|d| d < SEPA_MIGRATION) {
        put(record, "mandate_date", s.sepa_mandate_date.to_string());
    }
    if !record.contains_key("collect_date") {
        let d = add_days(today, s.collect_date_offset_days)?;
        put(record, "collect_date", d.to_string());
    }
    let due = match s.due_date_offset_days {
        Some(n) => add_days(today, n)?.to_string(),
        None => String::new(),
    };
    put(record, "due_date", due);

    // Texts.
    if !s.description_prefix.is_empty() {
        let d = text(record, "description");
        let joined = if d.is_empty() {
            s.description_prefix.trim_end().to_string()
        } else if s.description_prefix.ends_with(char::is_whitespace) {
            format!("{}{d}", s.description_prefix)
        } else {
            format!("{} {d}", s.description_prefix)
        };
        put(record, "description", joined);
    }
    put(record, "currency", s.currency.to_ascii_uppercase());
    put(record, "vat", s.vat.clone());
    put(record, "country", s.country.clone());
    put(record, "culture", s.culture.clone());
    Ok(())
}

fn add_days(day: Date, n: i64) -> Result<Date, String> {
    day.checked_add(jiff::Span::new().days(n))
        .map_err(|e| format!("{day} plus {n} days: {e}"))
}

/// The header record of a request file: `H`, its name, when it was made,
/// how many records, their total amount, the currency, the website key, the
/// brand name and instance number.
pub fn header(
    file: &str,
    created: Timestamp,
    records: &[Value],
    s: &Settings,
    website_key: &str,
) -> Result<Vec<String>, String> {
    let mut total = Decimal::ZERO;
    for r in records {
        let a = r.get("amount").and_then(Value::as_str).unwrap_or("0");
        let a: Decimal = a
            .parse()
            .map_err(|_| format!("a record's amount `{a}` is not a decimal"))?;
        total = total
            .checked_add(a)
            .ok_or("the file's total amount overflows")?;
    }
    total.rescale(2);
    Ok(vec![
        "H".into(),
        file.into(),
        created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        records.len().to_string(),
        total.to_string(),
        s.currency.to_ascii_uppercase(),
        website_key.into(),
        s.brand_name.clone(),
        s.instance_number.map(|n| n.to_string()).unwrap_or_default(),
    ])
}

/// The marker that opens each payment record (after the header's `H`).
pub const RECORD: &str = "D";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TODAY: Date = jiff::civil::date(2025, 3, 3);

    fn record() -> Map<String, Value> {
        json!({
            "invoice_number": "INV-1", "amount": "25.00", "customer_name": "J. de Vries",
            "iban": "NL91ABNA0417164300", "mandate_reference": "M-1",
            "mandate_date": "2021-06-01", "description": "factuur INV-1",
            "email": "j@example.nl"
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn completed(
        settings: &Value,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> Map<String, Value> {
        let mut r = record();
        change(&mut r);
        let s = Settings::of(settings).unwrap();
        complete_record(&mut r, Some("EUR"), &s, TODAY).unwrap();
        r
    }

    fn col<'r>(r: &'r Map<String, Value>, k: &str) -> &'r str {
        r.get(k)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no `{k}` in {r:?}"))
    }

    #[test]
    fn defaults_fill_every_derived_column() {
        let r = completed(&json!({}), |_| {});
        assert_eq!(col(&r, "currency"), "EUR");
        assert_eq!(col(&r, "vat"), "21");
        assert_eq!(col(&r, "country"), "NL");
        assert_eq!(col(&r, "culture"), "nl-NL");
        assert_eq!(col(&r, "payment_method"), "machtiging");
        assert_eq!(
            col(&r, "collect_date"),
            "2025-03-10",
            "today plus the default 7 days"
        );
        assert_eq!(col(&r, "due_date"), "", "no due date offset, no due date");
        assert_eq!(col(&r, "mandate_date"), "2021-06-01");
        assert_eq!(col(&r, "description"), "factuur INV-1");
        assert_eq!(r["account_valid"], json!(true));
        assert_eq!((col(&r, "ppe_email"), col(&r, "ppe_methods")), ("", ""));
    }

    /// Each setting of the seed's table, and its effect on the record.
    #[test]
    fn each_setting_changes_its_column() {
        let r = completed(&json!({"vat": 9}), |_| {});
        assert_eq!(col(&r, "vat"), "9");
        let r = completed(&json!({"country": "BE"}), |_| {});
        assert_eq!(col(&r, "country"), "BE");
        let r = completed(&json!({"culture": "en-US"}), |_| {});
        assert_eq!(col(&r, "culture"), "en-US");
        let r = completed(&json!({"due_date_offset_days": 14}), |_| {});
        assert_eq!(col(&r, "due_date"), "2025-03-17");
        let r = completed(&json!({"collect_date_offset_days": 3}), |_| {});
        assert_eq!(col(&r, "collect_date"), "2025-03-06");
        let r = completed(
            &json!({"allowed_methods": "machtiging,sepadirectdebit"}),
            |_| {},
        );
        assert_eq!(col(&r, "payment_method"), "machtiging,sepadirectdebit");
        let r = completed(&json!({"description_prefix": "Acme Telecom "}), |_| {});
        assert_eq!(col(&r, "description"), "Acme Telecom factuur INV-1");
        let r = completed(&json!({"description_prefix": "Acme"}), |_| {});
        assert_eq!(col(&r, "description"), "Acme factuur INV-1");
        let r = completed(&json!({"currency": "EUR"}), |_| {});
        assert_eq!(col(&r, "currency"), "EUR");
    }

    #[test]
    fn a_mandate_without_a_date_or_from_before_sepa_takes_the_setting() {
        let r = completed(&json!({}), |r| {
            r.remove("mandate_date");
        });
        assert_eq!(col(&r, "mandate_date"), "2013-12-11");
        let old = |r: &mut Map<String, Value>| {
            r.insert("mandate_date".into(), json!("2009-04-01"));
        };
        let r = completed(&json!({"sepa_mandate_date": "2014-02-01"}), old);
        assert_eq!(col(&r, "mandate_date"), "2014-02-01");
        // On the migration day itself, the mandate's own date stands.
        let r = completed(&json!({"sepa_mandate_date": "2014-02-01"}), |r| {
            r.insert("mandate_date".into(), json!("2013-12-11"));
        });
        assert_eq!(col(&r, "mandate_date"), "2013-12-11");
    }

    #[test]
    fn an_invalid_or_missing_account_takes_the_dummy_number_and_the_other_method() {
        let bad = |r: &mut Map<String, Value>| {
            r.insert("iban".into(), json!("NL91ABNA0417164301"));
        };
        let settings =
            json!({"dummy_account_number": "0000000000", "invalid_account_method": "ideal"});
        let r = completed(&settings, bad);
        assert_eq!(col(&r, "iban"), "0000000000");
        assert_eq!(col(&r, "payment_method"), "ideal");
        assert_eq!(r["account_valid"], json!(false));
        assert_eq!(col(&r, "ppe_email"), "", "PayPerEmail is off by default");
        let r = completed(&settings, |r| {
            r.insert("iban".into(), json!("0000000000"));
        });
        assert_eq!(
            (col(&r, "iban"), col(&r, "payment_method")),
            ("0000000000", "ideal")
        );
        // The dummy number defaults to empty, as in the seed.
        let r = completed(&json!({}), bad);
        assert_eq!(col(&r, "iban"), "");
    }

    #[test]
    fn pay_per_email_fills_its_columns_only_for_an_invalid_account() {
        let on = json!({"pay_per_email": true, "invalid_account_method": "ideal"});
        let r = completed(&on, |_| {});
        assert_eq!(
            (col(&r, "ppe_email"), col(&r, "ppe_methods")),
            ("", ""),
            "valid account"
        );
        let bad = |r: &mut Map<String, Value>| {
            r.insert("iban".into(), json!("DE00370400440532013000"));
        };
        let r = completed(&on, bad);
        assert_eq!(
            (col(&r, "ppe_email"), col(&r, "ppe_methods")),
            ("j@example.nl", "ideal")
        );
        // Not when the connection does not collect PayPerEmail.
        let r = completed(
            &json!({"pay_per_email": true, "payment_types": "sepadirectdebit"}),
            bad,
        );
        assert_eq!(col(&r, "ppe_email"), "");
    }

    #[test]
    fn payment_types_and_currency_refuse_what_the_connection_does_not_collect() {
        let s = Settings::of(&json!({"payment_types": "ideal,payperemail"})).unwrap();
        let err = complete_record(&mut record(), Some("EUR"), &s, TODAY).unwrap_err();
        assert!(err.contains("do not include sepadirectdebit"), "{err}");
        let s = Settings::of(&json!({"payment_types": "SepaDirectDebit"})).unwrap();
        assert!(complete_record(&mut record(), Some("EUR"), &s, TODAY).is_ok());
        let s = Settings::of(&json!({"currency": "EUR"})).unwrap();
        let err = complete_record(&mut record(), Some("USD"), &s, TODAY).unwrap_err();
        assert!(
            err.contains("in USD, but the connection collects EUR"),
            "{err}"
        );
    }

    #[test]
    fn the_header_counts_and_totals_its_records() {
        let s = Settings::of(&json!({"brand_name": "Acme Telecom", "instance_number": 2})).unwrap();
        let records = [json!({"amount": "25.00"}), json!({"amount": "12.5"})];
        let created: Timestamp = "2025-03-03T06:00:00Z".parse().unwrap();
        let h = header("DD_1.csv", created, &records, &s, "WEBKEY").unwrap();
        assert_eq!(
            h,
            [
                "H",
                "DD_1.csv",
                "2025-03-03T06:00:00Z",
                "2",
                "37.50",
                "EUR",
                "WEBKEY",
                "Acme Telecom",
                "2"
            ]
        );
        let s = Settings::of(&json!({})).unwrap();
        let h = header("x", created, &[], &s, "K").unwrap();
        assert_eq!(
            (h[3].as_str(), h[4].as_str(), h[7].as_str(), h[8].as_str()),
            ("0", "0.00", "", "")
        );
        assert!(header("x", created, &[json!({"amount": "x"})], &s, "K").is_err());
    }

    #[test]
    fn a_setting_of_the_wrong_shape_is_named() {
        let err = Settings::of(&json!({"collect_date_offset_days": "soon"})).unwrap_err();
        assert!(err.contains("collect_date_offset_days"), "{err}");
        let err = Settings::of(&json!({"sepa_mandate_date": "11-12-2013"})).unwrap_err();
        assert!(err.contains("sepa_mandate_date"), "{err}");
    }
}
