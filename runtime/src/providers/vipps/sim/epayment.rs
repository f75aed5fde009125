//! The simulator's ePayment v1 payments, in the shapes and status codes of
//! `shared/specs/vipps/epayment/epayment.v1.yml`: create (by a reference the
//! merchant chose; `Idempotency-Key` required on every POST: the same key and
//! body answer as the first call did, the same key with another body is a
//! 409, and a reference used before under another key a 409), the payer
//! authorizing or aborting, capture (full or partial), refund (several,
//! partial), cancel, and the payment's event log — each an event stamped on
//! the simulator's clock with its own `pspReference`. Errors are the spec's
//! `Problem` (RFC 7807). Registered webhooks (the Webhooks API) are kept
//! here too; the events to send them are handed back to the caller.

use serde::Serialize;
use serde_json::{Value, json};

use super::store::{SimError, Store};

impl SimError {
    /// An ePayment error: the spec's `Problem`.
    pub fn problem(status: u16, title: &str, detail: &str) -> SimError {
        SimError {
            status,
            body: json!({
                "type": format!("https://developer.vippsmobilepay.com/docs/APIs/epayment-api/api-guide/errors#{status}"),
                "title": title, "detail": detail, "status": status,
                "traceId": format!("sim-{:016x}", rand::random::<u64>()),
            }),
        }
    }
}

fn bad(detail: &str) -> SimError {
    SimError::problem(400, "Bad Request", detail)
}

fn not_found(reference: &str) -> SimError {
    SimError::problem(
        404,
        "Not Found",
        &format!("payment `{reference}` not found"),
    )
}

fn conflict(detail: &str) -> SimError {
    SimError::problem(409, "Conflict", detail)
}

/// An ePayment payment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EPayment {
    pub reference: String,
    pub psp_reference: String,
    pub currency: String,
    pub amount: i64,
    pub payment_method: String,
    /// `CREATED`, `ABORTED`, `EXPIRED`, `AUTHORIZED` or `TERMINATED`.
    pub state: String,
    pub authorized: i64,
    pub captured: i64,
    pub refunded: i64,
    pub cancelled: i64,
    /// The key the payment was created with.
    pub idempotency_key: String,
    pub redirect_url: String,
    /// The event log, oldest first (`PaymentEvent`s).
    pub events: Vec<Value>,
}

impl EPayment {
    fn money(&self, value: i64) -> Value {
        json!({"value": value, "currency": self.currency})
    }

    fn aggregate(&self) -> Value {
        json!({
            "authorizedAmount": self.money(self.authorized),
            "cancelledAmount": self.money(self.cancelled),
            "capturedAmount": self.money(self.captured),
            "refundedAmount": self.money(self.refunded),
        })
    }

    /// `GET /epayment/v1/payments/{reference}` (`GetPaymentResponse`).
    pub fn get(&self) -> Value {
        json!({
            "aggregate": self.aggregate(),
            "amount": self.money(self.amount),
            "state": self.state,
            "paymentMethod": {"type": self.payment_method},
            "profile": {},
            "pspReference": self.psp_reference,
            "redirectUrl": self.redirect_url,
            "reference": self.reference,
        })
    }

    /// A modification's answer (`ModificationResponse`).
    fn modification(&self) -> Value {
        json!({
            "amount": self.money(self.amount),
            "state": self.state,
            "aggregate": self.aggregate(),
            "pspReference": self.psp_reference,
            "reference": self.reference,
        })
    }
}

/// Every ePayment event name (`PaymentEventName`).
pub const EVENT_NAMES: [&str; 8] = [
    "CREATED",
    "ABORTED",
    "EXPIRED",
    "CANCELLED",
    "CAPTURED",
    "REFUNDED",
    "AUTHORIZED",
    "TERMINATED",
];

/// A webhook registered with the Webhooks API.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// The HMAC key deliveries are signed with.
    pub secret: String,
    /// Event types (`epayments.payment.captured.v1`).
    pub events: Vec<String>,
}

/// An amount `{value, currency}` in the payment's currency (or any of the
/// spec's when `currency` is `None`).
fn amount(
    v: Option<&Value>,
    field: &str,
    currency: Option<&str>,
) -> Result<(i64, String), SimError> {
    let v = v.ok_or_else(|| bad(&format!("`{field}` is required")))?;
    let value = v
        .get("value")
        .and_then(Value::as_i64)
        .filter(|a| (0..=65_000_000).contains(a))
        .ok_or_else(|| bad(&format!("`{field}.value` must be an integer 0..65000000")))?;
    let cur = v
        .get("currency")
        .and_then(Value::as_str)
        .filter(|c| ["NOK", "DKK", "EUR"].contains(c))
        .ok_or_else(|| bad(&format!("`{field}.currency` must be NOK, DKK or EUR")))?;
    if let Some(want) = currency
        && want != cur
    {
        return Err(bad(&format!(
            "`{field}.currency` must be the payment's ({want})"
        )));
    }
    Ok((value, cur.to_string()))
}

fn valid_reference(r: &str) -> bool {
    (8..=50).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Store {
    pub fn epayment(&self, reference: &str) -> Option<&EPayment> {
        self.epayment_index
            .get(reference)
            .map(|i| &self.epayments[*i])
    }

    fn epayment_mut(&mut self, reference: &str) -> Result<&mut EPayment, SimError> {
        match self.epayment_index.get(reference) {
            Some(i) => Ok(&mut self.epayments[*i]),
            None => Err(not_found(reference)),
        }
    }

    /// Appends an event to the payment's log; the event.
    fn event(
        &mut self,
        reference: &str,
        name: &str,
        value: i64,
        success: bool,
        key: Option<&str>,
    ) -> Result<Value, SimError> {
        self.next_psp += 1;
        let psp = self.next_psp.to_string();
        let at = self.stamp();
        let p = self.epayment_mut(reference)?;
        let mut e = json!({
            "reference": reference, "pspReference": psp, "name": name,
            "amount": p.money(value), "timestamp": at, "success": success,
        });
        if let Some(k) = key {
            e["idempotencyKey"] = json!(k);
        }
        p.events.push(e.clone());
        Ok(e)
    }

    /// `POST /epayment/v1/payments` (201); the answer and the events.
    pub fn epayment_create(
        &mut self,
        body: &Value,
        key: &str,
    ) -> Result<(u16, Value, Vec<Value>), SimError> {
        let s = |p: &str| body.pointer(p).and_then(Value::as_str);
        let reference = s("/reference")
            .filter(|r| valid_reference(r))
            .ok_or_else(|| bad("`reference` is required: 8 to 50 of a-z, A-Z, 0-9 and -"))?
            .to_string();
        let (value, currency) = amount(body.get("amount"), "amount", None)?;
        let method = s("/paymentMethod/type")
            .filter(|t| ["WALLET", "CARD"].contains(t))
            .ok_or_else(|| bad("`paymentMethod.type` must be WALLET or CARD"))?
            .to_string();
        let flow = s("/userFlow")
            .filter(|f| ["PUSH_MESSAGE", "NATIVE_REDIRECT", "WEB_REDIRECT", "QR"].contains(f))
            .ok_or_else(|| {
                bad("`userFlow` must be PUSH_MESSAGE, NATIVE_REDIRECT, WEB_REDIRECT or QR")
            })?;
        // "PUSH_MESSAGE … requires a valid `customer` field" (the spec's
        // userFlow): the push goes to a known payer.
        let customer = ["phoneNumber", "personalQr", "customerToken"]
            .iter()
            .any(|k| s(&format!("/customer/{k}")).is_some_and(|v| !v.is_empty()));
        if flow == "PUSH_MESSAGE" && !customer {
            return Err(bad(
                "`userFlow` PUSH_MESSAGE needs the payer: `customer.phoneNumber` (or a QR code or customer token)",
            ));
        }
        if self.epayment_index.contains_key(&reference) {
            return Err(conflict(&format!(
                "reference `{reference}` is already used by another payment"
            )));
        }
        self.next_psp += 1;
        let psp = self.next_psp.to_string();
        let redirect_url = format!("{}/_sim/landing/{reference}", self.base_url);
        self.epayment_index
            .insert(reference.clone(), self.epayments.len());
        self.epayments.push(EPayment {
            reference: reference.clone(),
            psp_reference: psp,
            currency,
            amount: value,
            payment_method: method,
            state: "CREATED".into(),
            authorized: 0,
            captured: 0,
            refunded: 0,
            cancelled: 0,
            idempotency_key: key.to_string(),
            redirect_url: redirect_url.clone(),
            events: Vec::new(),
        });
        let e = self.event(&reference, "CREATED", value, true, Some(key))?;
        let mut answer = json!({"reference": reference});
        if flow != "PUSH_MESSAGE" {
            answer["redirectUrl"] = json!(redirect_url);
        }
        Ok((201, answer, vec![e]))
    }

    /// The payer authorizes (`true`) or aborts a `CREATED` payment; the event.
    pub fn epayment_answer(&mut self, reference: &str, approve: bool) -> Result<Value, SimError> {
        let p = self.epayment_mut(reference)?;
        if p.state != "CREATED" {
            return Err(bad(&format!(
                "the payer cannot answer payment `{reference}` now ({})",
                p.state
            )));
        }
        let value = p.amount;
        if approve {
            p.state = "AUTHORIZED".into();
            p.authorized = value;
        } else {
            p.state = "ABORTED".into();
        }
        let name = if approve { "AUTHORIZED" } else { "ABORTED" };
        self.event(reference, name, value, true, None)
    }

    /// The payment expires: the payer did not act in time (Vipps MobilePay's
    /// own timeout, or `expiresAt`); only while `CREATED`. The event.
    pub fn epayment_expire(&mut self, reference: &str) -> Result<Value, SimError> {
        let p = self.epayment_mut(reference)?;
        if p.state != "CREATED" {
            return Err(bad(&format!(
                "payment `{reference}` cannot expire now ({})",
                p.state
            )));
        }
        p.state = "EXPIRED".into();
        let value = p.amount;
        self.event(reference, "EXPIRED", value, true, None)
    }

    /// `POST …/capture`: `modificationAmount` of what is authorized and not
    /// captured or cancelled.
    pub fn epayment_capture(
        &mut self,
        reference: &str,
        body: &Value,
        key: &str,
    ) -> Result<(u16, Value, Vec<Value>), SimError> {
        let p = self.epayment_mut(reference)?;
        let (value, _) = amount(
            body.get("modificationAmount"),
            "modificationAmount",
            Some(&p.currency.clone()),
        )?;
        let left = p.authorized - p.captured - p.cancelled;
        if p.state != "AUTHORIZED" || value == 0 || value > left {
            return Err(bad(&format!(
                "cannot capture {value} of payment `{reference}` ({}, {left} left to capture)",
                p.state
            )));
        }
        p.captured += value;
        let e = self.event(reference, "CAPTURED", value, true, Some(key))?;
        Ok((200, self.epayment_mut(reference)?.modification(), vec![e]))
    }

    /// `POST …/refund`: `modificationAmount` of what is captured and not
    /// refunded (`key` is `None` for a refund made in the portal).
    pub fn epayment_refund(
        &mut self,
        reference: &str,
        body: &Value,
        key: Option<&str>,
    ) -> Result<(u16, Value, Vec<Value>), SimError> {
        let p = self.epayment_mut(reference)?;
        let (value, _) = amount(
            body.get("modificationAmount"),
            "modificationAmount",
            Some(&p.currency.clone()),
        )?;
        let left = p.captured - p.refunded;
        if value == 0 || value > left {
            return Err(bad(&format!(
                "cannot refund {value} of payment `{reference}` ({left} left to refund)"
            )));
        }
        p.refunded += value;
        let e = self.event(reference, "REFUNDED", value, true, key)?;
        Ok((200, self.epayment_mut(reference)?.modification(), vec![e]))
    }

    /// `POST …/cancel`: a `CREATED` payment is terminated, an authorized one
    /// has what is not captured released; nothing once captured.
    pub fn epayment_cancel(
        &mut self,
        reference: &str,
        key: &str,
    ) -> Result<(u16, Value, Vec<Value>), SimError> {
        let p = self.epayment_mut(reference)?;
        let mut events = Vec::new();
        match p.state.as_str() {
            "CREATED" => {
                p.state = "TERMINATED".into();
                let value = p.amount;
                events.push(self.event(reference, "TERMINATED", value, true, Some(key))?);
            }
            "AUTHORIZED" if p.captured == 0 && p.cancelled == 0 => {
                let value = p.authorized;
                p.cancelled = value;
                p.state = "TERMINATED".into();
                events.push(self.event(reference, "CANCELLED", value, true, Some(key))?);
            }
            _ => {
                return Err(bad(&format!(
                    "payment `{reference}` cannot be cancelled ({}, {} captured)",
                    p.state, p.captured
                )));
            }
        }
        Ok((200, self.epayment_mut(reference)?.modification(), events))
    }

    /// `GET …/events`: the log, oldest first.
    pub fn epayment_events(&self, reference: &str) -> Result<Value, SimError> {
        self.epayment(reference)
            .map(|p| Value::Array(p.events.clone()))
            .ok_or_else(|| not_found(reference))
    }

    /// `POST /webhooks/v1/webhooks` (201 `{id, secret}`).
    pub fn register_webhook(&mut self, body: &Value) -> Result<(u16, Value, Vec<Value>), SimError> {
        let url = body
            .get("url")
            .and_then(Value::as_str)
            .filter(|u| reqwest::Url::parse(u).is_ok())
            .ok_or_else(|| bad("`url` must be a URL"))?;
        let events: Vec<String> = body
            .get("events")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect()
            })
            .filter(|e: &Vec<String>| !e.is_empty())
            .ok_or_else(|| bad("`events` must be a non-empty list of event types"))?;
        let id = uuid_v4();
        let secret = uuid_v4();
        self.webhooks.push(Webhook {
            id: id.clone(),
            url: url.to_string(),
            secret: secret.clone(),
            events,
        });
        Ok((201, json!({"id": id, "secret": secret}), Vec::new()))
    }

    /// The ePayment routes: `/epayment/v1/payments…` and `/webhooks/v1/webhooks`.
    /// Every POST needs an `Idempotency-Key`; its answer is kept by key.
    pub fn epayment_route(
        &mut self,
        method: &str,
        path: &str,
        body: &Value,
        key: Option<&str>,
    ) -> Result<(u16, Value, Vec<Value>, bool), SimError> {
        if path == "/webhooks/v1/webhooks" {
            return match method {
                "POST" => self
                    .register_webhook(body)
                    .map(|(s, v, e)| (s, v, e, false)),
                "GET" => Ok((
                    200,
                    json!({"webhooks": self.webhooks.iter().map(|w| json!({"id": w.id, "url": w.url, "events": w.events})).collect::<Vec<_>>()}),
                    Vec::new(),
                    false,
                )),
                _ => Err(SimError::problem(
                    404,
                    "Not Found",
                    &format!("no route {method} {path}"),
                )),
            };
        }
        let rest = path.strip_prefix("/epayment/v1/payments").ok_or_else(|| {
            SimError::problem(404, "Not Found", &format!("no route {method} {path}"))
        })?;
        let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        if method == "GET" {
            return match parts.as_slice() {
                [r] => self
                    .epayment(r)
                    .map(|p| (200, p.get(), Vec::new(), false))
                    .ok_or_else(|| not_found(r)),
                [r, "events"] => self.epayment_events(r).map(|v| (200, v, Vec::new(), false)),
                _ => Err(SimError::problem(
                    404,
                    "Not Found",
                    &format!("no route {method} {path}"),
                )),
            };
        }
        if method != "POST" {
            return Err(SimError::problem(
                404,
                "Not Found",
                &format!("no route {method} {path}"),
            ));
        }
        let key = key
            .filter(|k| !k.is_empty() && k.len() <= 50)
            .ok_or_else(|| {
                bad("the `Idempotency-Key` header is required (at most 50 characters)")
            })?;
        if let Some((p, b, s, v)) = self.idempotency.get(key) {
            if p == path && b == body {
                return Ok((*s, v.clone(), Vec::new(), true));
            }
            return Err(conflict(&format!(
                "Idempotency-Key `{key}` was used for another request"
            )));
        }
        let result = match parts.as_slice() {
            [] => self.epayment_create(body, key),
            [r, "capture"] => self.epayment_capture(r, body, key),
            [r, "refund"] => self.epayment_refund(r, body, Some(key)),
            [r, "cancel"] => self.epayment_cancel(r, key),
            _ => Err(SimError::problem(
                404,
                "Not Found",
                &format!("no route {method} {path}"),
            )),
        };
        let (status, v, events) = match result {
            Ok(x) => x,
            Err(e) => (e.status, e.body, Vec::new()),
        };
        self.idempotency.insert(
            key.to_string(),
            (path.to_string(), body.clone(), status, v.clone()),
        );
        Ok((status, v, events, false))
    }
}

/// A random UUID (version 4) as text.
fn uuid_v4() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}
