//! The simulator's eCom payments and what they go through: initiate (an order
//! id used before is refused), the payer approving or rejecting, capture (full
//! or partial), refund (several, partial), cancel, and the transaction log the
//! details show — each operation an entry stamped on the simulator's clock.
//! Answers are in `shared/specs/vipps/ecom/swagger.yaml`'s shapes; errors in
//! its `ErrorArray` shape (`[{"errorGroup", "errorCode", "errorMessage"}]`).

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::Clock;

/// An error answer: status and body.
#[derive(Debug, Clone, PartialEq)]
pub struct SimError {
    pub status: u16,
    pub body: Value,
}

impl SimError {
    pub fn new(status: u16, group: &str, code: &str, message: &str) -> SimError {
        SimError {
            status,
            body: json!([{"errorGroup": group, "errorCode": code, "errorMessage": message}]),
        }
    }
    fn invalid(message: &str) -> SimError {
        SimError::new(400, "InvalidRequest", "99", message)
    }
    fn not_found(order: &str) -> SimError {
        SimError::new(
            404,
            "InvalidRequest",
            "35",
            &format!("Requested Order {order} not found"),
        )
    }
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HTTP {}: {}",
            self.status,
            crate::providers::vipps::error_message(&self.body.to_string())
        )
    }
}

/// One answered API request (not `/_sim/` ones).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// `X-Request-Id` (eCom) or `Idempotency-Key` (ePayment), when sent.
    pub request_id: Option<String>,
    pub status: u16,
    /// Answered from an earlier request with the same `X-Request-Id`.
    pub replayed: bool,
    /// When, on the simulator's clock.
    pub at: Timestamp,
}

/// An eCom payment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Payment {
    pub order_id: String,
    pub amount: i64,
    pub transaction_text: String,
    pub callback_prefix: String,
    /// The `merchantInfo.authToken` the merchant set (sent back on the callback).
    #[serde(skip)]
    pub auth_token: Option<String>,
    /// Whether the payer answered (approved or rejected).
    pub answered: bool,
    pub reserved: bool,
    pub captured: i64,
    pub refunded: i64,
    pub closed: bool,
    /// Newest last.
    pub log: Vec<Value>,
}

impl Payment {
    pub fn summary(&self) -> Value {
        json!({
            "capturedAmount": self.captured,
            "refundedAmount": self.refunded,
            "remainingAmountToCapture": if self.reserved && !self.closed { self.amount - self.captured } else { 0 },
            "remainingAmountToRefund": self.captured - self.refunded,
        })
    }

    /// The newest operation, as the details show it first.
    pub fn status(&self) -> String {
        self.log
            .last()
            .and_then(|e| e["operation"].as_str())
            .unwrap_or("INITIATE")
            .to_string()
    }

    pub fn details(&self) -> Value {
        let mut log = self.log.clone();
        log.reverse();
        json!({"orderId": self.order_id, "transactionLogHistory": log,
               "transactionSummary": self.summary()})
    }
}

/// A callback to send: where, with which token, what.
#[derive(Debug, Clone)]
pub struct Callback {
    pub url: String,
    pub auth_token: Option<String>,
    pub body: Value,
}

/// The simulator's state.
#[derive(Debug)]
pub struct Store {
    clock: Arc<dyn Clock>,
    pub payments: Vec<Payment>,
    index: HashMap<String, usize>,
    pub log: Vec<LoggedRequest>,
    /// Access tokens and when they expire.
    pub tokens: HashMap<String, Timestamp>,
    /// Answers by `X-Request-Id` (with the path they answered).
    pub replies: HashMap<String, (String, u16, Value)>,
    next_tx: u64,
    pub msn: String,
    pub(super) base_url: String,
    /// ePayment payments ([`super::epayment`]), oldest first.
    pub epayments: Vec<super::epayment::EPayment>,
    pub(super) epayment_index: HashMap<String, usize>,
    /// ePayment answers by `Idempotency-Key`: path, body, status, answer.
    pub idempotency: HashMap<String, (String, Value, u16, Value)>,
    /// Webhooks registered with the Webhooks API.
    pub webhooks: Vec<super::epayment::Webhook>,
    pub(super) next_psp: u64,
}

impl Store {
    pub fn new(clock: Arc<dyn Clock>, msn: String, base_url: String) -> Store {
        Store {
            clock,
            payments: Vec::new(),
            index: HashMap::new(),
            log: Vec::new(),
            tokens: HashMap::new(),
            replies: HashMap::new(),
            next_tx: 5_001_000_000,
            msn,
            base_url,
            epayments: Vec::new(),
            epayment_index: HashMap::new(),
            idempotency: HashMap::new(),
            webhooks: Vec::new(),
            next_psp: 7_000_000_000,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A time as Vipps writes it (RFC 3339, milliseconds, UTC).
    pub(super) fn stamp(&self) -> String {
        self.now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }

    pub fn payment(&self, order: &str) -> Option<&Payment> {
        self.index.get(order).map(|i| &self.payments[*i])
    }

    fn payment_mut(&mut self, order: &str) -> Result<&mut Payment, SimError> {
        match self.index.get(order) {
            Some(i) => Ok(&mut self.payments[*i]),
            None => Err(SimError::not_found(order)),
        }
    }

    /// Adds a log entry to `order`; its transaction id.
    fn record(
        &mut self,
        order: &str,
        operation: &str,
        success: bool,
        amount: i64,
        text: &str,
        request_id: Option<&str>,
    ) -> Result<(String, String), SimError> {
        self.next_tx += 1;
        let tx = self.next_tx.to_string();
        let at = self.stamp();
        let p = self.payment_mut(order)?;
        let mut entry = json!({
            "amount": amount, "operation": operation, "operationSuccess": success,
            "timeStamp": at, "transactionId": tx, "transactionText": text,
        });
        if let Some(r) = request_id {
            entry["requestId"] = json!(r);
        }
        p.log.push(entry);
        Ok((tx, at))
    }

    /// `POST /ecomm/v2/payments`.
    pub fn initiate(&mut self, body: &Value, request_id: Option<&str>) -> Result<Value, SimError> {
        let s = |p: &str| body.pointer(p).and_then(Value::as_str);
        if s("/merchantInfo/merchantSerialNumber") != Some(self.msn.as_str()) {
            return Err(SimError::new(
                400,
                "Merchant",
                "21",
                "merchantInfo.merchantSerialNumber is missing or not this sales unit's",
            ));
        }
        let prefix = s("/merchantInfo/callbackPrefix")
            .filter(|p| p.starts_with("http"))
            .ok_or_else(|| SimError::invalid("merchantInfo.callbackPrefix is required"))?
            .to_string();
        s("/merchantInfo/fallBack")
            .ok_or_else(|| SimError::invalid("merchantInfo.fallBack is required"))?;
        let order = s("/transaction/orderId")
            .filter(|o| {
                !o.is_empty()
                    && o.len() <= 50
                    && o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            .ok_or_else(|| SimError::invalid("transaction.orderId is required (a-z, 0-9, -)"))?
            .to_string();
        let amount = body
            .pointer("/transaction/amount")
            .and_then(Value::as_i64)
            .filter(|a| *a >= 100)
            .ok_or_else(|| SimError::invalid("transaction.amount must be at least 100 øre"))?;
        let text = s("/transaction/transactionText")
            .ok_or_else(|| SimError::invalid("transaction.transactionText is required"))?
            .to_string();
        if self.index.contains_key(&order) {
            return Err(SimError::new(400, "Merchant", "34", "Duplicate Order Id"));
        }
        self.index.insert(order.clone(), self.payments.len());
        self.payments.push(Payment {
            order_id: order.clone(),
            amount,
            transaction_text: text.clone(),
            callback_prefix: prefix,
            auth_token: s("/merchantInfo/authToken").map(str::to_string),
            answered: false,
            reserved: false,
            captured: 0,
            refunded: 0,
            closed: false,
            log: Vec::new(),
        });
        self.record(&order, "INITIATE", true, amount, &text, request_id)?;
        Ok(json!({"orderId": order,
                  "url": format!("{}/_sim/landing/{order}", self.base_url)}))
    }

    /// The payer approves (`true`) or rejects in the app: the reservation is
    /// logged, and the callback to send.
    pub fn answer(&mut self, order: &str, approve: bool) -> Result<Callback, SimError> {
        let p = self.payment_mut(order)?;
        if p.answered || p.closed {
            return Err(SimError::invalid(&format!(
                "the payer cannot answer order {order} now ({})",
                p.status()
            )));
        }
        p.answered = true;
        p.reserved = approve;
        let (amount, text) = (p.amount, p.transaction_text.clone());
        if !approve {
            p.closed = true;
        }
        let (tx, at) = self.record(order, "RESERVE", approve, amount, &text, None)?;
        let p = self.payment_mut(order)?;
        Ok(Callback {
            url: format!(
                "{}/v2/payments/{order}",
                p.callback_prefix.trim_end_matches('/')
            ),
            auth_token: p.auth_token.clone(),
            body: json!({
                "merchantSerialNumber": self.msn,
                "orderId": order,
                "transactionInfo": {
                    "amount": amount,
                    "status": if approve { "RESERVED" } else { "REJECTED" },
                    "timeStamp": at,
                    "transactionId": tx,
                }
            }),
        })
    }

    fn amount_of(body: &Value, default: i64) -> Result<i64, SimError> {
        match body.pointer("/transaction/amount") {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_i64() {
                Some(0) => Ok(default),
                Some(a) if a > 0 => Ok(a),
                _ => Err(SimError::invalid(
                    "transaction.amount must be a positive integer",
                )),
            },
        }
    }

    fn text_of(body: &Value) -> Result<String, SimError> {
        body.pointer("/transaction/transactionText")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| SimError::invalid("transaction.transactionText is required"))
    }

    fn check_msn(&self, body: &Value) -> Result<(), SimError> {
        if body
            .pointer("/merchantInfo/merchantSerialNumber")
            .and_then(Value::as_str)
            != Some(self.msn.as_str())
        {
            return Err(SimError::new(
                400,
                "Merchant",
                "21",
                "merchantInfo.merchantSerialNumber is missing or not this sales unit's",
            ));
        }
        Ok(())
    }

    /// `POST /ecomm/v2/payments/{orderId}/capture`: all that is left, or `amount`.
    pub fn capture(
        &mut self,
        order: &str,
        body: &Value,
        request_id: Option<&str>,
    ) -> Result<Value, SimError> {
        self.check_msn(body)?;
        let text = Self::text_of(body)?;
        let p = self.payment_mut(order)?;
        let left = p.amount - p.captured;
        if !p.reserved || p.closed || left <= 0 {
            return Err(SimError::new(
                400,
                "Payment",
                "61",
                &format!("Captured amount exceeds the reserved amount of order {order}"),
            ));
        }
        let amount = Self::amount_of(body, left)?;
        if amount > left {
            return Err(SimError::new(
                400,
                "Payment",
                "61",
                "Captured amount exceeds the reserved amount",
            ));
        }
        p.captured += amount;
        let (tx, at) = self.record(order, "CAPTURE", true, amount, &text, request_id)?;
        let p = self.payment_mut(order)?;
        Ok(json!({"orderId": order, "paymentInstrument": "VIPPS",
            "transactionInfo": {"amount": amount, "status": "Captured", "timeStamp": at,
                                "transactionId": tx, "transactionText": text},
            "transactionSummary": p.summary()}))
    }

    /// `POST /ecomm/v2/payments/{orderId}/refund`: all that is refundable, or `amount`.
    pub fn refund(
        &mut self,
        order: &str,
        body: &Value,
        request_id: Option<&str>,
    ) -> Result<Value, SimError> {
        self.check_msn(body)?;
        let text = Self::text_of(body)?;
        let p = self.payment_mut(order)?;
        let left = p.captured - p.refunded;
        if left <= 0 {
            return Err(SimError::new(
                400,
                "Payment",
                "71",
                &format!("Nothing is left to refund on order {order}"),
            ));
        }
        let amount = Self::amount_of(body, left)?;
        if amount > left {
            return Err(SimError::new(
                400,
                "Payment",
                "71",
                "Refunded amount too large",
            ));
        }
        p.refunded += amount;
        let (tx, at) = self.record(order, "REFUND", true, amount, &text, request_id)?;
        let p = self.payment_mut(order)?;
        Ok(json!({"orderId": order,
            "transaction": {"amount": amount, "status": "Refund", "timeStamp": at,
                            "transactionId": tx, "transactionText": text},
            "transactionSummary": p.summary()}))
    }

    /// `PUT /ecomm/v2/payments/{orderId}/cancel`: an unanswered request is
    /// withdrawn (`CANCEL`), a reservation released (`VOID`); nothing once captured.
    pub fn cancel(
        &mut self,
        order: &str,
        body: &Value,
        request_id: Option<&str>,
    ) -> Result<Value, SimError> {
        self.check_msn(body)?;
        let text = Self::text_of(body)?;
        let p = self.payment_mut(order)?;
        if p.closed || p.captured > 0 {
            return Err(SimError::new(
                400,
                "Payment",
                "42",
                &format!("Order {order} cannot be cancelled ({})", p.status()),
            ));
        }
        let op = if p.reserved { "VOID" } else { "CANCEL" };
        p.closed = true;
        p.answered = true;
        let amount = p.amount;
        let (tx, at) = self.record(order, op, true, amount, &text, request_id)?;
        let p = self.payment_mut(order)?;
        Ok(json!({"orderId": order, "paymentInstrument": "VIPPS",
            "transactionInfo": {"amount": amount, "status": "Cancelled", "timeStamp": at,
                                "transactionId": tx, "transactionText": text},
            "transactionSummary": p.summary()}))
    }

    /// `GET /ecomm/v2/payments/{orderId}/details`.
    pub fn details(&self, order: &str) -> Result<Value, SimError> {
        self.payment(order)
            .map(Payment::details)
            .ok_or_else(|| SimError::not_found(order))
    }
}
