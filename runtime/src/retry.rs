//! Retries: exponential backoff with full jitter, `Retry-After`, and which
//! failures are worth retrying at all.

use std::time::Duration;

use jiff::Timestamp;
use rand::Rng;

/// A step's retry limits (`retry: { max_attempts, backoff, max_backoff }` in a flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// The base delay: attempt n waits up to `backoff * 2^(n-1)`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
        }
    }
}

/// The longest `Retry-After` that is honoured as given (a day); longer ones are capped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

impl RetryPolicy {
    pub const fn new(max_attempts: u32, backoff: Duration, max_backoff: Duration) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            backoff,
            max_backoff,
        }
    }

    /// The cap of the delay after `failures` failed attempts (1 after the first).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        self.backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff)
    }

    /// Full jitter: uniform in `[0, ceiling]`; a server's `Retry-After` wins when given.
    pub fn delay(
        &self,
        failures: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(MAX_RETRY_AFTER);
        }
        let cap = self.ceiling(failures);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rng.random_range(0..=nanos))
    }
}

/// How an HTTP status is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    /// 408, 429 and 5xx: try again later.
    Retry,
    /// Any other 4xx (and 1xx/3xx left over): the request itself is wrong.
    Fatal,
}

pub fn classify(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Success,
        408 | 425 | 429 | 500..=599 => StatusClass::Retry,
        _ => StatusClass::Fatal,
    }
}

/// Parses `Retry-After`: delta seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let d = when.duration_since(now);
    Some(if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_under_the_exponential_ceiling() {
        let p = RetryPolicy::new(10, Duration::from_secs(1), Duration::from_secs(20));
        assert_eq!(p.ceiling(1), Duration::from_secs(1));
        assert_eq!(p.ceiling(3), Duration::from_secs(4));
        assert_eq!(p.ceiling(9), Duration::from_secs(20));
        let mut rng = rand::rng();
        let mut seen_small = false;
        let mut seen_large = false;
        for _ in 0..500 {
            let d = p.delay(4, None, &mut rng);
            assert!(d <= Duration::from_secs(8));
            seen_small |= d < Duration::from_secs(2);
            seen_large |= d > Duration::from_secs(6);
        }
        assert!(
            seen_small && seen_large,
            "full jitter covers the whole range"
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(42)), &mut rng),
            Duration::from_secs(42)
        );
    }

    #[test]
    fn statuses_and_retry_after() {
        assert_eq!(classify(201), StatusClass::Success);
        assert_eq!(classify(429), StatusClass::Retry);
        assert_eq!(classify(503), StatusClass::Retry);
        assert_eq!(classify(400), StatusClass::Fatal);
        assert_eq!(classify(422), StatusClass::Fatal);
        let now: Timestamp = "2015-10-21T07:28:00Z".parse().unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
