//! Time for every timer, wait, retry and poll: the real clock, or a virtual one
//! that `simulate` and the tests move by hand (a month of billing in milliseconds).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

/// A boxed, sendable future (the runtime's traits return these so they stay object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The source of "now" and of sleeping.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    fn now(&self) -> Timestamp;
    /// Resolves when `now() >= t` (at once if it already is).
    fn sleep_until(&self, t: Timestamp) -> BoxFuture<'static, ()>;
    fn is_virtual(&self) -> bool {
        false
    }
}

/// Adds a std duration to a timestamp, saturating at the end of time.
pub fn add(t: Timestamp, d: Duration) -> Timestamp {
    let sd = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    t.checked_add(sd).unwrap_or(Timestamp::MAX)
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, t: Timestamp) -> BoxFuture<'static, ()> {
        let d = t.duration_since(Timestamp::now());
        Box::pin(async move {
            if d.is_positive() {
                tokio::time::sleep(d.unsigned_abs()).await;
            }
        })
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    inner: Arc<VirtualInner>,
}

#[derive(Debug)]
struct VirtualInner {
    now: Mutex<Timestamp>,
    moved: Notify,
}

impl VirtualClock {
    pub fn new(start: Timestamp) -> VirtualClock {
        VirtualClock {
            inner: Arc::new(VirtualInner {
                now: Mutex::new(start),
                moved: Notify::new(),
            }),
        }
    }

    /// Moves the clock forward to `t` (never backward) and wakes sleepers.
    pub fn advance_to(&self, t: Timestamp) {
        {
            let mut now = self.inner.now.lock().unwrap_or_else(|e| e.into_inner());
            if t > *now {
                *now = t;
            }
        }
        self.inner.moved.notify_waiters();
    }

    pub fn advance(&self, d: Duration) {
        let t = add(self.now(), d);
        self.advance_to(t);
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        *self.inner.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sleep_until(&self, t: Timestamp) -> BoxFuture<'static, ()> {
        let inner = self.inner.clone();
        Box::pin(async move {
            loop {
                let notified = inner.moved.notified();
                if *inner.now.lock().unwrap_or_else(|e| e.into_inner()) >= t {
                    return;
                }
                notified.await;
            }
        })
    }

    fn is_virtual(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn virtual_sleep_wakes_only_when_advanced() {
        let start: Timestamp = "2025-03-01T00:00:00Z".parse().unwrap();
        let clock = VirtualClock::new(start);
        let c2 = clock.clone();
        let t = add(start, Duration::from_secs(86_400 * 3));
        let h = tokio::spawn(async move { c2.sleep_until(t).await });
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(86_400));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!h.is_finished(), "woke a day early");
        clock.advance(Duration::from_secs(2 * 86_400));
        tokio::time::timeout(Duration::from_secs(2), h)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(clock.now(), t);
        clock.advance_to(start);
        assert_eq!(clock.now(), t, "a virtual clock never goes back");
    }
}
