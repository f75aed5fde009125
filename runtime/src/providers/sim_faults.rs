//! Fault injection of the provider simulators (Stripe's, PayPal's): the next N
//! requests (optionally only under a path prefix) answer 429 with
//! `Retry-After`, or 500 (each simulator in its provider's error shape), or are
//! delayed; webhook deliveries are dropped (the next N, or a fraction of them).
//! Set from Rust ([`Faults`]) or over `POST /_sim/faults` with the same JSON shape.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a faulty request gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// 429 `rate_limit` with `Retry-After: secs`.
    RateLimit {
        #[serde(default = "one")]
        retry_after_secs: u64,
    },
    /// 500 `api_error`.
    ServerError,
    /// The answer comes this much later (real time, not the simulator's clock).
    Delay { millis: u64 },
    /// The request is applied, then its answer is lost: the connection closes
    /// before the body is complete, so the caller cannot tell whether it took
    /// effect (a crash or a timeout after sending, as the caller sees it).
    LoseAnswer,
}

fn one() -> u64 {
    1
}

/// A fault for the next `count` requests matching `path_prefix` (all if none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestFault {
    #[serde(flatten)]
    pub fault: Fault,
    #[serde(default = "one_u32")]
    pub count: u32,
    #[serde(default)]
    pub path_prefix: Option<String>,
}

fn one_u32() -> u32 {
    1
}

/// Lost webhook deliveries (a lost delivery is not retried: polling must find the event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookFaults {
    /// Drop the next N deliveries.
    #[serde(default)]
    pub drop_next: u32,
    /// Then drop this fraction (0–1) of deliveries at random.
    #[serde(default)]
    pub drop_fraction: f64,
}

/// `resp` as a lost answer: its status and headers go out, then its body
/// fails, so the server closes the connection before the answer is complete
/// and the client reads an error, though the request took effect.
pub fn lose_answer(resp: axum::response::Response) -> axum::response::Response {
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::new(LostBody))
}

/// A body that fails at once.
struct LostBody;

impl http_body::Body for LostBody {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "the simulator lost this answer (lose_answer fault)",
        ))))
    }
}

/// Every fault in force.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    #[serde(default)]
    pub requests: Vec<RequestFault>,
    #[serde(default)]
    pub webhooks: WebhookFaults,
}

/// What to do with one request: wait, then maybe answer with an error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    pub delay: Duration,
    pub error: Option<Fault>,
}

impl Faults {
    /// Adds a request fault.
    pub fn add(&mut self, f: RequestFault) {
        if f.count > 0 {
            self.requests.push(f);
        }
    }

    /// Uses up the faults that apply to a request to `path`: delays add up, the
    /// first error rule wins (and only it is used up).
    pub fn take(&mut self, path: &str) -> Verdict {
        let mut v = Verdict::default();
        for rule in &mut self.requests {
            let applies = rule.count > 0
                && rule
                    .path_prefix
                    .as_deref()
                    .is_none_or(|p| path.starts_with(p));
            if !applies {
                continue;
            }
            match &rule.fault {
                Fault::Delay { millis } => {
                    v.delay += Duration::from_millis(*millis);
                    rule.count -= 1;
                }
                e if v.error.is_none() => {
                    v.error = Some(e.clone());
                    rule.count -= 1;
                }
                _ => {}
            }
        }
        self.requests.retain(|r| r.count > 0);
        v
    }

    /// Whether the next webhook delivery is lost.
    pub fn drop_delivery(&mut self) -> bool {
        if self.webhooks.drop_next > 0 {
            self.webhooks.drop_next -= 1;
            return true;
        }
        let f = self.webhooks.drop_fraction;
        f > 0.0 && rand::random::<f64>() < f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_up_per_matching_request() {
        let mut f = Faults::default();
        f.add(RequestFault {
            fault: Fault::RateLimit {
                retry_after_secs: 2,
            },
            count: 2,
            path_prefix: Some("/v1/charges".into()),
        });
        f.add(RequestFault {
            fault: Fault::Delay { millis: 5 },
            count: 1,
            path_prefix: None,
        });
        let v = f.take("/v1/customers");
        assert_eq!(
            v,
            Verdict {
                delay: Duration::from_millis(5),
                error: None
            }
        );
        assert!(f.take("/v1/charges").error.is_some());
        assert!(f.take("/v1/charges/ch_1").error.is_some());
        assert_eq!(f.take("/v1/charges"), Verdict::default());
        assert!(f.requests.is_empty());
    }

    #[test]
    fn control_json_reads_into_faults() {
        let r: RequestFault = serde_json::from_str(
            r#"{"kind":"rate_limit","retry_after_secs":3,"count":2,"path_prefix":"/v1/"}"#,
        )
        .unwrap();
        assert_eq!(
            r.fault,
            Fault::RateLimit {
                retry_after_secs: 3
            }
        );
        let r: RequestFault = serde_json::from_str(r#"{"kind":"server_error"}"#).unwrap();
        assert_eq!((r.count, r.path_prefix), (1, None));
        let mut f = Faults::default();
        f.webhooks.drop_next = 1;
        assert!(f.drop_delivery());
        assert!(!f.drop_delivery());
    }
}
