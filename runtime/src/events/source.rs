//! What the event layer asks of a provider, and nothing else provider-specific
//! lives above this file: how to read an event's head (id, type, object), which
//! credential turns a connection's webhooks on and how a delivery is verified,
//! whether (and how) its event list can be polled, and which events come as
//! files (Buckaroo's response files) and how a file is read. The engine, the store's
//! deduplication by event id and the listener stay provider-neutral; a provider
//! that joins (Vipps, Buckaroo) adds its arms here and its module under
//! `providers/`.

use axum::http::HeaderMap;
use jiff::Timestamp;
use serde_json::{Map, Value};

use super::webhook::WebhookError;
use crate::action::base_url;
use crate::engine::Runtime;
use crate::flow::ConnectionDef;
use crate::providers::{
    EventHead, Kind, buckaroo, credential, credential_source, paypal, stripe, vipps,
};

/// How the runtime lists a provider's events for the consolidated poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// By event-id cursor, newest first (Stripe's `GET /v1/events`).
    IdCursor,
    /// By time window, newest first (PayPal's `GET /v1/notifications/webhooks-events`).
    TimeWindow,
    /// No event list: each object an issue waits on is read on its own
    /// ([`read_object`]), under the connection's poll budget
    /// ([`super::per_object`]).
    PerObject,
}

/// How the provider's events are listed, or `None`: its events come by webhook only.
pub fn listing(kind: Kind) -> Option<Listing> {
    match kind {
        Kind::Stripe => Some(Listing::IdCursor),
        Kind::PayPal => Some(Listing::TimeWindow),
        // Buckaroo lists nothing either: a push wait reads its transaction's
        // status (its response files come into the inbox, not by a poll).
        Kind::Vipps | Kind::Buckaroo => Some(Listing::PerObject),
    }
}

/// The default request budget of a per-object poll (requests per second of
/// one connection, shared by every waiting issue), when
/// `FLOWC_<CONNECTION>_POLL_BUDGET` does not set one.
pub fn poll_budget(kind: Kind) -> f64 {
    match kind {
        // Vipps MobilePay documents 120 calls per minute for reading a payment
        // ("Get a payment" and "Get payment event log", counted per reference
        // and subscription key; "Rate limiting" in
        // https://developer.vippsmobilepay.com/docs/APIs/epayment-api/api-guide/errors.md).
        // Spent for the whole connection, it can never exceed that for any one
        // payment, whatever the unpublished total.
        Kind::Vipps => 2.0,
        Kind::Stripe | Kind::PayPal | Kind::Buckaroo => 1.0,
    }
}

/// What one read of an object found: its events (raw and normalized, as a
/// webhook's, oldest first) and whether it is settled (nothing more can
/// happen to it, so it is read no more).
#[derive(Debug, Clone, Default)]
pub struct ObjectRead {
    pub events: Vec<Value>,
    pub settled: bool,
}

/// Reads the events of object `key` (a wait's `for`) on a connection, for a
/// wait on event type `ty`: the provider's arm of the per-object poll. `get`
/// sends one GET, authorized as the connection's actions are and counted
/// against its budget, and gives back the body. A provider without an event
/// list joins the poll with one arm here.
pub async fn read_object(
    kind: Kind,
    get: &super::per_object::Reader<'_>,
    ty: &str,
    key: &str,
) -> Result<ObjectRead, super::per_object::ReadError> {
    use super::per_object::ReadError;
    match kind {
        Kind::Vipps => {
            if !vipps::poll::valid_key(key) {
                return Err(ReadError::Object(format!(
                    "`{key}` is not a Vipps order id or reference"
                )));
            }
            let body = get
                .get(vipps::poll::read_request(get.base(), ty, key))
                .await?;
            let (events, settled) =
                vipps::poll::read_answer(ty, key, &body).map_err(ReadError::Object)?;
            Ok(ObjectRead { events, settled })
        }
        Kind::Buckaroo => {
            use buckaroo::status_poll::{read_answer, read_request, valid_key};
            if ty != "push" {
                return Err(ReadError::Object(format!(
                    "a Buckaroo `{ty}` is not read by transaction"
                )));
            }
            if !valid_key(key) {
                return Err(ReadError::Object(format!(
                    "`{key}` is not a Buckaroo transaction key"
                )));
            }
            let body = get.get(read_request(get.base(), key)).await?;
            let (events, settled) = read_answer(key, &body).map_err(ReadError::Object)?;
            Ok(ObjectRead { events, settled })
        }
        Kind::Stripe | Kind::PayPal => Err(ReadError::Object(format!(
            "{kind:?} objects are not read one by one"
        ))),
    }
}

/// Whether the runtime can poll the events of a provider (by catalog name): what
/// the checker asks before it accepts a wait's `poll` or a trigger's `every`.
pub fn can_poll(provider: &str) -> bool {
    Kind::from_name(provider).and_then(listing).is_some()
}

/// The event types of a provider that come as files into the connection's
/// inbox (`FLOWC_<NAME>_INBOX`) rather than by webhook or list call.
pub fn file_events(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Buckaroo => &["response_file"],
        Kind::Stripe | Kind::PayPal | Kind::Vipps => &[],
    }
}

/// One record of an inbox file: its line, the object it is about (the `for`
/// of a wait) and the event's outputs; or the line and why it is unreadable.
pub type FileRecord = Result<(usize, String, Map<String, Value>), (usize, String)>;

/// Reads the records of one inbox file of a connection (an event type of
/// [`file_events`]); an error for the whole file (e.g. a bad layout).
pub fn read_file(kind: Kind, connection: &str, text: &str) -> Result<Vec<FileRecord>, String> {
    match kind {
        Kind::Buckaroo => {
            use buckaroo::response_file::{DEFAULT_LAYOUT, layout, layout_env, read};
            let env = layout_env(connection);
            let cols =
                layout(&crate::http::env_var(&env).unwrap_or_else(|| DEFAULT_LAYOUT.to_string()))
                    .map_err(|e| format!("{env}: {e}"))?;
            Ok(read(text, &cols))
        }
        Kind::Stripe | Kind::PayPal | Kind::Vipps => Err(format!("{kind:?} sends no files")),
    }
}

/// The credential that turns a connection's webhooks on (without it, its
/// events come by polling only).
pub fn webhook_credential(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Stripe => Some("webhook_secret"),
        Kind::PayPal => Some("webhook_id"),
        Kind::Vipps => Some("webhook_secret"),
        // A push is signed with the secret key, as the gateway's requests.
        Kind::Buckaroo => Some("secret_key"),
    }
}

/// The id, type and object id of a provider's event.
pub fn event_head(kind: Kind, raw: &Value) -> Result<EventHead<'_>, String> {
    match kind {
        Kind::Stripe => stripe::events::event_head(raw),
        Kind::PayPal => paypal::events::event_head(raw),
        Kind::Vipps => vipps::webhook::event_head(raw),
        Kind::Buckaroo => buckaroo::push::event_head(raw),
    }
}

/// When the provider says an event happened, where it says so (Vipps: the
/// callback's, the newest log entry's or the ePayment event's time): a wait
/// never takes an event older than the last one it took (a `CAPTURE`
/// seen after a `REFUND` moves nothing back).
pub fn event_time(kind: Kind, raw: &Value) -> Option<Timestamp> {
    match kind {
        Kind::Vipps => vipps::webhook::event_time(raw),
        Kind::Stripe | Kind::PayPal | Kind::Buckaroo => None,
    }
}

/// The events a verified, normalized delivery stands for besides itself (a
/// Vipps eCom callback is also its payment's `ecom.status_changed`).
pub fn companions(kind: Kind, raw: &Value) -> Vec<Value> {
    match kind {
        Kind::Vipps => vipps::webhook::companions(raw),
        _ => Vec::new(),
    }
}

/// Completes a verified delivery's body before [`event_head`] reads it: an
/// ePayment event gets its identity (reference, name and `pspReference`),
/// which its body does not carry as one field.
pub fn normalize(kind: Kind, raw: &mut Value) -> Result<(), String> {
    match kind {
        Kind::Vipps => vipps::webhook::normalize(raw),
        _ => Ok(()),
    }
}

/// Checks that a delivery to a connection's webhook is the provider's, before
/// anything reads it. Stripe's signature is an HMAC of the connection's
/// `webhook_secret`, checked here, as is Vipps's ePayment signature (an HMAC of
/// its `webhook_secret` over the path, date, host and body hash); a PayPal
/// delivery is checked by PayPal's verify endpoint, one call per delivery.
pub async fn verify(
    rt: &Runtime,
    conn: &'static ConnectionDef,
    kind: Kind,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Result<(), WebhookError> {
    let name = conn.name;
    let header = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    // An eCom callback carries its payment's token, derived from the client
    // secret: it needs no webhook secret.
    if kind == Kind::Vipps && vipps::callback::is_callback(&header) {
        let read = |c: &str| {
            credential(conn, c)
                .map_err(|e| WebhookError::Unavailable(format!("connection `{name}`: {e}")))
        };
        let (msn, key) = (read("merchant_serial_number")?, read("client_secret")?);
        return vipps::callback::verify(
            header("authorization").as_deref(),
            body,
            msn.expose(),
            &key,
        )
        .map_err(WebhookError::BadRequest);
    }
    let Some(cred) = webhook_credential(kind) else {
        return Err(WebhookError::NotFound(format!(
            "connection `{name}` ({}) takes no webhooks here",
            conn.provider
        )));
    };
    if credential_source(conn, cred).is_err() {
        return Err(WebhookError::NotFound(format!(
            "connection `{name}` has no `{cred}` credential"
        )));
    }
    let secret = credential(conn, cred)
        .map_err(|e| WebhookError::Unavailable(format!("connection `{name}`: {e}")))?;
    match kind {
        Kind::Stripe => {
            use stripe::signature::{TOLERANCE_SECS, verify};
            verify(
                header("stripe-signature").as_deref(),
                body,
                secret.expose(),
                now.as_second(),
                TOLERANCE_SECS,
            )
            .map_err(|e| WebhookError::BadRequest(e.to_string()))
        }
        Kind::PayPal => {
            use paypal::events::{VerifyError, verify_answer, verify_body, verify_request};
            let map = |e: VerifyError| match e {
                VerifyError::Refused(m) => WebhookError::BadRequest(m),
                VerifyError::Unavailable(m) => {
                    WebhookError::Unavailable(format!("connection `{name}`: {m}"))
                }
            };
            let request = verify_body(&header, secret.expose(), body, now).map_err(map)?;
            let provider = flowc_catalog::provider(conn.provider).ok_or_else(|| {
                WebhookError::Unavailable(format!("unknown provider `{}`", conn.provider))
            })?;
            let base = base_url(&rt.base_urls, conn, provider)
                .map_err(|e| WebhookError::Unavailable(e.to_string()))?;
            let req = kind
                .authorize(rt, conn, &base, verify_request(&base, request))
                .map_err(|e| WebhookError::Unavailable(e.to_string()))?;
            let resp = rt.http.execute(&req, None, rt).await.map_err(|e| {
                WebhookError::Unavailable(format!(
                    "connection `{name}`: the signature check failed: {e}"
                ))
            })?;
            verify_answer(&resp.body).map_err(map)
        }
        // ePayment's Webhooks API signs the path it posts to: the webhook is
        // registered as `https://<host>/webhooks/<connection>`.
        Kind::Vipps => vipps::webhook::verify(
            &header,
            &format!("/webhooks/{name}"),
            body,
            secret.expose(),
            now,
        )
        .map_err(WebhookError::BadRequest),
        Kind::Buckaroo => {
            // Signed over the push URL: this route on the host it was posted to.
            let host = header("host").unwrap_or_default();
            let url = format!("{host}/webhooks/{name}");
            let website_key = credential(conn, "website_key")
                .map_err(|e| WebhookError::Unavailable(format!("connection `{name}`: {e}")))?;
            buckaroo::push::verify(
                header("authorization").as_deref(),
                website_key.expose(),
                secret.expose(),
                &url,
                body,
                now.as_second(),
            )
            .map_err(WebhookError::BadRequest)
        }
    }
}
