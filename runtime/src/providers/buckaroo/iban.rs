//! IBAN validation (ISO 13616): the country's length and the mod-97 check
//! digits, before a record enters a direct debit batch. An account that fails
//! is "invalid" in the seed's sense: the record carries the connection's
//! dummy account number and the method for an invalid account instead.
//!
//! Written here rather than taken from a crate: the check is a dozen lines of
//! arithmetic, and the length table is the registry's, kept beside it.

/// Whether `iban` (upper case, no spaces; the flow's pattern makes it so) is
/// a valid IBAN: a known country of the right length and check digits that
/// make the number 1 modulo 97.
pub fn is_valid(iban: &str) -> bool {
    let b = iban.as_bytes();
    if b.len() < 5 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let country_and_check = b[0].is_ascii_uppercase()
        && b[1].is_ascii_uppercase()
        && b[2].is_ascii_digit()
        && b[3].is_ascii_digit();
    if !country_and_check {
        return false;
    }
    match length_of(&iban[..2]) {
        Some(n) if n == b.len() => {}
        _ => return false,
    }
    // The first four characters move to the end; letters count as 10..=35.
    let mut rem: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    rem == 1
}

/// Whether an account number stands for no account at all: empty or only
/// zeros ("null or zero", as the seed puts it).
pub fn is_missing(account: &str) -> bool {
    account.trim().chars().all(|c| c == '0')
}

/// The IBAN length of a country in the SWIFT IBAN registry (the SEPA
/// countries and the others that use IBANs).
fn length_of(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" => 20,
        "CH" | "CR" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "LY" | "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        "RU" => 33,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_examples_are_valid() {
        for iban in [
            "NL91ABNA0417164300",
            "DE89370400440532013000",
            "GB82WEST12345698765432",
            "BE68539007547034",
            "FR1420041010050500013M02606",
            "NO9386011117947",
            "MT84MALT011000012345MTLCAST001S",
        ] {
            assert!(is_valid(iban), "{iban}");
        }
    }

    #[test]
    fn a_wrong_digit_length_or_country_is_invalid() {
        for iban in [
            "NL91ABNA0417164301", // one digit off
            "NL19ABNA0417164300", // check digits swapped
            "NL91ABNA041716430",  // too short for NL
            "XX91ABNA0417164300", // no such country
            "nl91abna0417164300", // lower case
            "NL91 ABNA 0417 1643 00",
            "",
            "NL9",
        ] {
            assert!(!is_valid(iban), "{iban}");
        }
    }

    #[test]
    fn empty_and_zero_accounts_are_missing() {
        assert!(is_missing(""));
        assert!(is_missing("0000000000"));
        assert!(!is_missing("NL91ABNA0417164300"));
    }

    proptest! {
        /// Any change of one digit of a valid IBAN is caught: a digit changes
        /// the number by d·10^k, never a multiple of the prime 97.
        #[test]
        fn one_changed_digit_is_caught(
            i in prop::sample::select(vec![2usize, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]),
            d in 0u8..10,
        ) {
            let valid = "NL91ABNA0417164300";
            let mut changed = valid.as_bytes().to_vec();
            prop_assume!(changed[i] != b'0' + d);
            changed[i] = b'0' + d;
            let changed = String::from_utf8(changed).unwrap();
            prop_assert!(!is_valid(&changed), "{}", changed);
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = is_valid(&s);
        }
    }
}
