//! A request budget per connection: every issue of a process shares its
//! connection's budget, so a thousand issues due at once do not run into the
//! provider's rate limit (Stripe: 25 requests per second in test mode, 100 live).
//!
//! The budget spaces requests `1/rate` apart (a token bucket holding one
//! token): no second ever holds more than `rate` requests. A request reserves the
//! next free slot at once (first come, first served) and waits for it on the
//! runtime's clock. On a virtual clock nothing is waited: virtual time moves only
//! between steps (`simulate` moves it when every issue is idle), so a wait inside
//! a step would never end, and the simulator has no rate limit to respect.
//!
//! The rate is the provider's default for the connection's mode, or
//! `FLOWC_<CONNECTION>_RATE_LIMIT` (`50/s`, `50`, `600/m`; `off` for none).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

use crate::clock::{Clock, add};
use crate::flow::ConnectionDef;

/// Requests per second of a connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
}

impl RateLimit {
    /// The time between two requests.
    pub fn interval(self) -> Duration {
        Duration::from_secs_f64(1.0 / self.per_second)
    }

    /// Parses `50/s`, `50`, `600/m` (or `/min`), `3600/h`; `off`, `none` or `0` for
    /// no limit (`Ok(None)`).
    pub fn parse(s: &str) -> Result<Option<RateLimit>, String> {
        let t = s.trim();
        if matches!(t, "off" | "none" | "0") {
            return Ok(None);
        }
        let (n, unit) = t.split_once('/').unwrap_or((t, "s"));
        let per: f64 = match unit.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            u => return Err(format!("unknown unit `{u}` in `{t}` (use /s, /m or /h)")),
        };
        let n: f64 = n
            .trim()
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n > 0.0)
            .ok_or_else(|| format!("`{t}` is not a rate (e.g. 50/s, or off)"))?;
        Ok(Some(RateLimit {
            per_second: n / per,
        }))
    }

    /// The env var that overrides a connection's rate: `FLOWC_<NAME>_RATE_LIMIT`.
    pub fn env_var(conn: &ConnectionDef) -> String {
        conn.base_url_env().replace("_BASE_URL", "_RATE_LIMIT")
    }

    /// The rate in force for a connection: the env var's, else `default`.
    pub fn for_connection(
        conn: &ConnectionDef,
        default: Option<RateLimit>,
    ) -> Result<Option<RateLimit>, String> {
        let var = RateLimit::env_var(conn);
        match std::env::var(&var) {
            Ok(v) => RateLimit::parse(&v).map_err(|e| format!("{var}: {e}")),
            Err(_) => Ok(default),
        }
    }
}

/// The budgets of a process, one per connection.
#[derive(Debug, Default)]
pub struct Budgets {
    /// The next free slot per connection.
    next: Mutex<HashMap<String, Timestamp>>,
}

impl Budgets {
    /// Reserves the connection's next slot and returns when it is (now, or later).
    pub fn reserve(&self, connection: &str, rate: RateLimit, now: Timestamp) -> Timestamp {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let free = next.get(connection).copied().unwrap_or(now);
        let slot = free.max(now);
        next.insert(connection.to_string(), add(slot, rate.interval()));
        slot
    }

    /// Waits for the connection's next slot on `clock` (not at all on a virtual clock).
    pub async fn acquire(&self, connection: &str, rate: RateLimit, clock: &dyn Clock) {
        if clock.is_virtual() {
            return;
        }
        let slot = self.reserve(connection, rate, clock.now());
        if slot > clock.now() {
            clock.sleep_until(slot).await;
        }
    }

    /// Like [`Budgets::acquire`], waiting on a virtual clock too (for tests that
    /// move the clock themselves).
    pub async fn acquire_on(&self, connection: &str, rate: RateLimit, clock: &dyn Clock) {
        let slot = self.reserve(connection, rate, clock.now());
        clock.sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::VirtualClock;

    #[test]
    fn rates_parse_with_their_unit() {
        let r = |s| RateLimit::parse(s).unwrap().map(|r| r.per_second);
        assert_eq!(r("50/s"), Some(50.0));
        assert_eq!(r(" 25 "), Some(25.0));
        assert_eq!(r("600/m"), Some(10.0));
        assert_eq!(r("off"), None);
        assert!(RateLimit::parse("fast").unwrap_err().contains("not a rate"));
        assert!(
            RateLimit::parse("5/week")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(RateLimit::parse("-3/s").is_err());
        let conn = ConnectionDef {
            name: "stripe-eu",
            provider: "stripe",
            mode: "test",
            base_url: "",
            credentials: &[],
        };
        assert_eq!(RateLimit::env_var(&conn), "FLOWC_STRIPE_EU_RATE_LIMIT");
    }

    /// 60 requests at 25/s: counted per virtual second, 25, 25 and 10, in the
    /// order they asked; another connection is not held up.
    #[tokio::test]
    async fn sixty_requests_at_25_per_second_take_three_virtual_seconds() {
        let start: Timestamp = "2025-03-01T09:00:00Z".parse().unwrap();
        let clock = VirtualClock::new(start);
        let budgets = Arc::new(Budgets::default());
        let rate = RateLimit { per_second: 25.0 };
        let granted = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..60 {
            let (b, c, g) = (budgets.clone(), clock.clone(), granted.clone());
            tasks.push(tokio::spawn(async move {
                b.acquire_on("stripe", rate, &c).await;
                g.lock().unwrap().push((i, c.now()));
            }));
            // Each asks after the one before (the order of arrival is the order served).
            tokio::task::yield_now().await;
        }
        let other = budgets.reserve("paypal", rate, clock.now());
        assert_eq!(other, start, "each connection has its own budget");
        // Move the virtual clock in 10 ms steps for 3 seconds.
        for _ in 0..300 {
            tokio::task::yield_now().await;
            clock.advance(Duration::from_millis(10));
        }
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .unwrap()
                .unwrap();
        }
        let granted = granted.lock().unwrap().clone();
        assert_eq!(granted.len(), 60);
        let mut per_second = [0; 4];
        for (_, at) in &granted {
            let s = at.duration_since(start).as_secs() as usize;
            per_second[s.min(3)] += 1;
        }
        assert_eq!(per_second, [25, 25, 10, 0]);
        // No two requests closer than 40 ms apart (virtual time of the grant is
        // at or after the reserved slot, and slots are 40 ms apart).
        let slots: Vec<Timestamp> = (0..3)
            .map(|_| budgets.reserve("fresh", rate, start))
            .collect();
        assert_eq!(
            slots[2].duration_since(slots[0]),
            jiff::SignedDuration::from_millis(80)
        );
    }

    #[tokio::test]
    async fn a_virtual_clock_is_never_waited_on_by_the_engine() {
        let clock = VirtualClock::new("2025-03-01T09:00:00Z".parse().unwrap());
        let budgets = Budgets::default();
        let rate = RateLimit { per_second: 1.0 };
        for _ in 0..5 {
            tokio::time::timeout(
                Duration::from_secs(1),
                budgets.acquire("stripe", rate, &clock),
            )
            .await
            .expect("no wait on a virtual clock");
        }
    }
}
