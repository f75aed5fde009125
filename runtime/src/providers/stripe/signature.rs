//! `Stripe-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">[,v1=…]`,
//! signed with the webhook endpoint's `whsec_…` secret. The simulator signs with
//! [`sign`]; `run --listen` checks with [`verify`] (several `v1` values are allowed,
//! as during a secret roll; the timestamp must be within the tolerance; the compare
//! is constant-time, by `hmac`'s `verify_slice`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's default tolerance between the signature's timestamp and now.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a webhook was refused. The texts never contain the secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    Missing,
    /// The header has no `t=` or no `v1=` value, or they are not numbers/hex.
    Malformed,
    /// The timestamp is further than the tolerance from now.
    OutsideTolerance { age_secs: i64 },
    /// No `v1` value matches the body.
    NoMatch,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureError::Missing => f.write_str("no Stripe-Signature header"),
            SignatureError::Malformed => {
                f.write_str("the Stripe-Signature header has no valid `t=` and `v1=` values")
            }
            SignatureError::OutsideTolerance { age_secs } => write!(
                f,
                "the signature's timestamp is {age_secs} s away from now (tolerance {TOLERANCE_SECS} s)"
            ),
            SignatureError::NoMatch => f.write_str("no v1 signature matches the body"),
        }
    }
}

impl std::error::Error for SignatureError {}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Stripe-Signature` header Stripe would send for `body` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex(&tag))
}

/// Checks a `Stripe-Signature` header against the body, at `now` (unix seconds).
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => {
                if let Some(bytes) = unhex(v) {
                    candidates.push(bytes);
                }
            }
            // `v0` (a test-mode scheme Stripe no longer uses) and unknown parts are skipped.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let age = now.saturating_sub(timestamp);
    if age.abs() > tolerance_secs {
        return Err(SignatureError::OutsideTolerance { age_secs: age });
    }
    let expected = mac(secret, timestamp, body);
    if candidates
        .iter()
        .any(|c| expected.clone().verify_slice(c).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    #[test]
    fn a_signed_body_verifies_within_the_tolerance() {
        let h = sign(SECRET, 1_700_000_000, BODY);
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(verify(Some(&h), BODY, SECRET, 1_700_000_000, 300), Ok(()));
        assert_eq!(verify(Some(&h), BODY, SECRET, 1_700_000_299, 300), Ok(()));
        assert_eq!(
            verify(Some(&h), BODY, SECRET, 1_700_000_301, 300),
            Err(SignatureError::OutsideTolerance { age_secs: 301 })
        );
    }

    #[test]
    fn another_body_or_secret_does_not_verify() {
        let h = sign(SECRET, 10, BODY);
        assert_eq!(
            verify(Some(&h), b"{}", SECRET, 10, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some(&h), BODY, "whsec_other", 10, 300),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn any_of_several_v1_values_may_match() {
        let good = sign(SECRET, 10, BODY);
        let v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t=10,v1={},v1={v1},v0=abc", "00".repeat(32));
        assert_eq!(verify(Some(&header), BODY, SECRET, 10, 300), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused_without_panic() {
        for h in [
            "",
            "t=10",
            "v1=abcd",
            "t=x,v1=abcd",
            "t=10,v1=zz",
            "t=10,v1=abc",
            "t=10,v1=é1",
        ] {
            assert_eq!(
                verify(Some(h), BODY, SECRET, 10, 300),
                Err(SignatureError::Malformed),
                "{h}"
            );
        }
        assert_eq!(
            verify(None, BODY, SECRET, 10, 300),
            Err(SignatureError::Missing)
        );
    }
}
