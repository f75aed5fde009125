//! Stripe's error answers: `{"error": {"type", "code", "message", "param",
//! "decline_code", "charge"}}` with Stripe's HTTP statuses.

use serde_json::{Map, Value, json};

/// One error answer (boxed: results stay small).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError(Box<ErrorDetail>);

impl std::ops::Deref for ApiError {
    type Target = ErrorDetail;
    fn deref(&self) -> &ErrorDetail {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorDetail {
        &mut self.0
    }
}

/// The fields of an error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDetail {
    pub status: u16,
    pub kind: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub param: Option<String>,
    pub decline_code: Option<String>,
    pub charge: Option<String>,
    /// The payment intent a declined confirmation leaves behind.
    pub payment_intent: Option<Value>,
}

impl ApiError {
    fn new(status: u16, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError(Box::new(ErrorDetail {
            status,
            kind,
            code: None,
            message: message.into(),
            param: None,
            decline_code: None,
            charge: None,
            payment_intent: None,
        }))
    }

    /// 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_request_error", message)
    }

    /// 400 `parameter_missing` for a required parameter.
    pub fn missing(param: &str) -> ApiError {
        ApiError::invalid(format!("Missing required param: {param}."))
            .code("parameter_missing")
            .param(param)
    }

    /// 400 `parameter_invalid_*` for a parameter of the wrong form.
    pub fn bad_param(param: &str, message: impl Into<String>) -> ApiError {
        ApiError::invalid(message)
            .code("parameter_invalid_string")
            .param(param)
    }

    /// 404 `resource_missing`.
    pub fn no_such(what: &str, id: &str, param: &str) -> ApiError {
        ApiError::new(
            404,
            "invalid_request_error",
            format!("No such {what}: '{id}'"),
        )
        .code("resource_missing")
        .param(param)
    }

    /// 404 for a path that is not an endpoint.
    pub fn unknown_route(method: &str, path: &str) -> ApiError {
        ApiError::new(
            404,
            "invalid_request_error",
            format!("Unrecognized request URL ({method}: {path})."),
        )
    }

    /// 401: no key or a key that is not a test key.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(401, "invalid_request_error", message)
    }

    /// 402 `card_error` for a declined charge.
    pub fn card_declined(decline_code: &str, message: &str, charge: Option<&str>) -> ApiError {
        let mut e = ApiError::new(402, "card_error", message).code("card_declined");
        e.decline_code = Some(decline_code.to_string());
        e.charge = charge.map(str::to_string);
        e
    }

    /// 409/400 for a state that does not allow the request (e.g. paying a void invoice).
    pub fn state(message: impl Into<String>) -> ApiError {
        ApiError::invalid(message).code("invoice_not_editable")
    }

    /// 400 `idempotency_error`: the key was used with another request.
    pub fn idempotency(key: &str) -> ApiError {
        ApiError::new(
            400,
            "idempotency_error",
            format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. \
                 Try using a key other than '{key}' if you meant to execute a different request."
            ),
        )
    }

    /// 409 `idempotency_key_in_use`: a request with the key is still running.
    pub fn key_in_use() -> ApiError {
        ApiError::new(
            409,
            "invalid_request_error",
            "There is currently another in-progress request using this Idempotent Key. Please try again later.",
        )
        .code("idempotency_key_in_use")
    }

    /// 429 `rate_limit`.
    pub fn rate_limited() -> ApiError {
        ApiError::new(
            429,
            "invalid_request_error",
            "Too many requests hit the API too quickly.",
        )
        .code("rate_limit")
    }

    /// 500 `api_error`.
    pub fn server() -> ApiError {
        ApiError::new(500, "api_error", "An unknown error occurred (simulated).")
    }

    pub fn code(mut self, code: &str) -> ApiError {
        self.code = Some(code.to_string());
        self
    }

    pub fn param(mut self, param: &str) -> ApiError {
        self.param = Some(param.to_string());
        self
    }

    /// The JSON body; absent fields are left out, as Stripe does.
    pub fn body(&self) -> Value {
        let mut e = Map::new();
        e.insert("type".into(), json!(self.kind));
        e.insert("message".into(), json!(self.message));
        for (k, v) in [
            ("code", &self.code),
            ("param", &self.param),
            ("decline_code", &self.decline_code),
            ("charge", &self.charge),
        ] {
            if let Some(v) = v {
                e.insert(k.into(), json!(v));
            }
        }
        if let Some(pi) = &self.payment_intent {
            e.insert("payment_intent".into(), pi.clone());
        }
        json!({ "error": e })
    }
}

impl From<super::form::FormError> for ApiError {
    fn from(e: super::form::FormError) -> ApiError {
        let mut out = ApiError::invalid(e.message);
        out.param = e.param;
        out
    }
}
