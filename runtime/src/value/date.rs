//! Dates and datetimes of data items, and `format_date` with the Japanese era calendar.

use icu_calendar::cal::Japanese;
use icu_calendar::{Date as IcuDate, Iso};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::ValueError;

/// `format_date(d, fmt)` of the flow language for a date.
///
/// `fmt` is `"iso"` (`2025-03-13`), `"era_ja"` (`令和7年3月13日`; the first year of
/// an era is `元年`), `"era_en"` (`March 13, Reiwa 7`), or a strftime pattern
/// (`%Y/%m/%d`).
pub fn format_date(d: Date, fmt: &str) -> Result<String, ValueError> {
    match fmt {
        "iso" => Ok(d.to_string()),
        "era_ja" => Ok(era_ja(d)),
        "era_en" => Ok(era_en(d)),
        pattern => strftime(pattern, || Ok(d.strftime(pattern).to_string())),
    }
}

/// `format_date` for a datetime: shown in the local time zone (`TZ`, else the
/// system's), so that a Japanese operator sees the Japanese date.
pub fn format_datetime(t: Timestamp, fmt: &str) -> Result<String, ValueError> {
    format_datetime_in(t, fmt, &TimeZone::system())
}

/// `format_date` for a datetime in a given time zone.
pub fn format_datetime_in(t: Timestamp, fmt: &str, tz: &TimeZone) -> Result<String, ValueError> {
    let zoned = t.to_zoned(tz.clone());
    match fmt {
        "iso" => Ok(zoned.timestamp().to_string()),
        "era_ja" | "era_en" => format_date(zoned.date(), fmt),
        pattern => strftime(pattern, || Ok(zoned.strftime(pattern).to_string())),
    }
}

fn strftime(
    pattern: &str,
    f: impl FnOnce() -> Result<String, ValueError>,
) -> Result<String, ValueError> {
    if !pattern.contains('%') {
        return Err(ValueError::new(format!(
            "unknown date format `{pattern}`: use \"iso\", \"era_ja\", \"era_en\" or a pattern such as \"%Y-%m-%d\""
        )));
    }
    // jiff reports a bad directive by panicking inside Display; catch it as an error.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(ValueError::new(format!("invalid date pattern `{pattern}`"))))
}

/// The era of a date in the Japanese calendar: (Japanese name, English name, year).
/// `None` before Meiji 6 (1873), when the Gregorian calendar was not yet in use.
fn japanese_era(d: Date) -> Option<(&'static str, &'static str, i32)> {
    let iso =
        IcuDate::<Iso>::try_new_iso(i32::from(d.year()), d.month() as u8, d.day() as u8).ok()?;
    let jp = iso.to_calendar(Japanese::new());
    let ey = jp.era_year();
    let (ja, en) = match ey.era.as_str() {
        "meiji" => ("明治", "Meiji"),
        "taisho" => ("大正", "Taisho"),
        "showa" => ("昭和", "Showa"),
        "heisei" => ("平成", "Heisei"),
        "reiwa" => ("令和", "Reiwa"),
        _ => return None,
    };
    Some((ja, en, ey.year))
}

fn era_ja(d: Date) -> String {
    match japanese_era(d) {
        Some((era, _, 1)) => format!("{era}元年{}月{}日", d.month(), d.day()),
        Some((era, _, y)) => format!("{era}{y}年{}月{}日", d.month(), d.day()),
        None => format!("西暦{}年{}月{}日", d.year(), d.month(), d.day()),
    }
}

fn era_en(d: Date) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month = MONTHS[(d.month() - 1) as usize];
    match japanese_era(d) {
        Some((_, era, y)) => format!("{month} {}, {era} {y}", d.day()),
        None => format!("{month} {}, {}", d.day(), d.year()),
    }
}

/// Parses a `date` data item: `2025-03-13`.
pub fn parse_date(s: &str) -> Result<Date, ValueError> {
    s.trim()
        .parse::<Date>()
        .map_err(|_| ValueError::new(format!("`{s}` is not a date (write it as 2025-03-13)")))
}

/// Parses a `datetime` data item: RFC 3339 with an offset (`2025-03-13T09:00:00+09:00`).
pub fn parse_datetime(s: &str) -> Result<Timestamp, ValueError> {
    s.trim().parse::<Timestamp>().map_err(|_| {
        ValueError::new(format!(
            "`{s}` is not a datetime (write it as 2025-03-13T09:00:00Z or with an offset)"
        ))
    })
}

/// Parses a flow duration literal: `30s`, `15m`, `2h`, `7d`, `2w` (also `500ms`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, ValueError> {
    let s = s.trim();
    let bad = || {
        ValueError::new(format!(
            "`{s}` is not a duration (e.g. 30s, 15m, 2h, 7d, 2w)"
        ))
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => return Ok(std::time::Duration::from_millis(n)),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "w" => n * 7 * 86_400,
        _ => return Err(bad()),
    };
    Ok(std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        parse_date(s).unwrap()
    }

    #[test]
    fn era_ja_uses_gannen_for_the_first_year() {
        assert_eq!(
            format_date(d("2019-05-01"), "era_ja").unwrap(),
            "令和元年5月1日"
        );
        assert_eq!(
            format_date(d("2025-03-13"), "era_ja").unwrap(),
            "令和7年3月13日"
        );
        assert_eq!(
            format_date(d("2019-04-30"), "era_ja").unwrap(),
            "平成31年4月30日"
        );
        assert_eq!(
            format_date(d("1989-01-08"), "era_ja").unwrap(),
            "平成元年1月8日"
        );
        assert_eq!(
            format_date(d("1989-01-07"), "era_ja").unwrap(),
            "昭和64年1月7日"
        );
        assert_eq!(
            format_date(d("1926-12-25"), "era_ja").unwrap(),
            "昭和元年12月25日"
        );
        assert_eq!(
            format_date(d("1912-07-30"), "era_ja").unwrap(),
            "大正元年7月30日"
        );
        assert_eq!(
            format_date(d("1900-01-01"), "era_ja").unwrap(),
            "明治33年1月1日"
        );
        assert_eq!(
            format_date(d("1850-01-01"), "era_ja").unwrap(),
            "西暦1850年1月1日"
        );
    }

    #[test]
    fn era_en() {
        assert_eq!(
            format_date(d("2025-03-13"), "era_en").unwrap(),
            "March 13, Reiwa 7"
        );
        assert_eq!(
            format_date(d("2019-05-01"), "era_en").unwrap(),
            "May 1, Reiwa 1"
        );
        assert_eq!(
            format_date(d("2000-12-31"), "era_en").unwrap(),
            "December 31, Heisei 12"
        );
    }

    #[test]
    fn iso_and_patterns() {
        assert_eq!(format_date(d("2025-03-13"), "iso").unwrap(), "2025-03-13");
        assert_eq!(
            format_date(d("2025-03-13"), "%Y/%m/%d").unwrap(),
            "2025/03/13"
        );
        assert!(format_date(d("2025-03-13"), "weird").is_err());
        let t = parse_datetime("2025-03-12T20:00:00Z").unwrap();
        let tokyo =
            TimeZone::get("Asia/Tokyo").unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(9)));
        assert_eq!(
            format_datetime_in(t, "era_ja", &tokyo).unwrap(),
            "令和7年3月13日"
        );
        assert_eq!(
            format_datetime_in(t, "era_ja", &TimeZone::UTC).unwrap(),
            "令和7年3月12日"
        );
    }

    #[test]
    fn parsing() {
        assert!(parse_date("2025-02-30").is_err());
        assert!(parse_datetime("2025-03-13").is_err());
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 7 * 86_400);
        assert_eq!(parse_duration("2w").unwrap().as_secs(), 14 * 86_400);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert!(parse_duration("7x").is_err());
        assert!(parse_duration("d").is_err());
    }
}
