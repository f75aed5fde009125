//! PayPal's error answers: `{"name", "message", "debug_id", "details": [{"field",
//! "value", "location", "issue", "description"}], "links"}` with the status codes
//! of invoicing_v2.json (400, 401, 403, 404, 422; 429 and 5xx as PayPal sends them).

use serde_json::{Value, json};

/// An error answer of the simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub name: &'static str,
    pub message: String,
    /// (issue, description, field).
    pub details: Vec<(String, String, Option<String>)>,
}

impl ApiError {
    fn new(status: u16, name: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            name,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// One detail: the fine-grained issue code, its text, the JSON pointer of the field.
    pub fn detail(
        mut self,
        issue: &str,
        description: impl Into<String>,
        field: Option<&str>,
    ) -> Self {
        self.details.push((
            issue.to_string(),
            description.into(),
            field.map(str::to_string),
        ));
        self
    }

    /// 400 `INVALID_REQUEST`.
    pub fn invalid(issue: &str, description: impl Into<String>, field: Option<&str>) -> ApiError {
        ApiError::new(
            400,
            "INVALID_REQUEST",
            "Request is not well-formed, syntactically incorrect, or violates schema.",
        )
        .detail(issue, description, field)
    }

    /// 401 `AUTHENTICATION_FAILURE`.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            401,
            "AUTHENTICATION_FAILURE",
            "Authentication failed due to invalid authentication credentials or a missing Authorization header.",
        )
    }

    /// 404 `RESOURCE_NOT_FOUND`.
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(
            404,
            "RESOURCE_NOT_FOUND",
            "The specified resource does not exist.",
        )
        .detail(
            "INVALID_RESOURCE_ID",
            format!("The {what} `{id}` does not exist."),
            None,
        )
    }

    /// 422 `UNPROCESSABLE_ENTITY` with one detail.
    pub fn unprocessable(
        issue: &str,
        description: impl Into<String>,
        field: Option<&str>,
    ) -> ApiError {
        ApiError::new(
            422,
            "UNPROCESSABLE_ENTITY",
            "The requested action could not be performed, semantically incorrect, or failed business validation.",
        )
        .detail(issue, description, field)
    }

    /// 429 `RATE_LIMIT_REACHED`.
    pub fn rate_limited() -> ApiError {
        ApiError::new(
            429,
            "RATE_LIMIT_REACHED",
            "Too many requests. Blocked due to rate limiting.",
        )
    }

    /// 500 `INTERNAL_SERVER_ERROR`.
    pub fn server() -> ApiError {
        ApiError::new(
            500,
            "INTERNAL_SERVER_ERROR",
            "An internal server error occurred.",
        )
    }

    /// 404 for a path the simulator does not serve.
    pub fn unknown_route(method: &str, path: &str) -> ApiError {
        ApiError::new(
            404,
            "RESOURCE_NOT_FOUND",
            "The specified resource does not exist.",
        )
        .detail(
            "UNKNOWN_ROUTE",
            format!("The PayPal simulator has no route {method} {path}."),
            None,
        )
    }

    /// The JSON body PayPal sends.
    pub fn body(&self) -> Value {
        let details: Vec<Value> = self
            .details
            .iter()
            .map(|(issue, description, field)| {
                let mut d = json!({"issue": issue, "description": description});
                if let Some(f) = field {
                    d["field"] = json!(f);
                    d["location"] = json!("body");
                }
                d
            })
            .collect();
        let mut v = json!({
            "name": self.name,
            "message": self.message,
            "debug_id": "f00dcafe0000",
            "links": [{
                "href": format!("https://developer.paypal.com/docs/api/invoicing/#errors"),
                "rel": "information_link"
            }]
        });
        if !details.is_empty() {
            v["details"] = Value::Array(details);
        }
        v
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}: {}", self.status, self.name, self.message)?;
        for (issue, description, _) in &self.details {
            write!(f, "; {issue}: {description}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}
