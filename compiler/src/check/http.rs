//! The generic HTTP step: method, URL, auth (credentials only from the
//! environment or a secret file), headers, query, body and typed response.

use super::Checker;
use super::types::Type;
use super::values::Expected;
use crate::ast;
use crate::diagnostic::{Code, Diagnostic};
use crate::ir;

impl Checker<'_> {
    pub(crate) fn check_http(&mut self, h: &ast::HttpStep) -> ir::Http {
        const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];
        let method = h.method.name.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            self.report(
                Diagnostic::new(
                    Code::TypeMismatch,
                    format!("`{}` is not an HTTP method flowc supports", h.method.name),
                    h.method.span,
                    "unknown method",
                )
                .with_help(format!("use {}", super::list_alternatives(METHODS))),
            );
        }
        let url = self.expect(&h.url, &Expected::new(Type::Url, "the URL"));
        let auth = h
            .auth
            .as_ref()
            .map(|a| self.check_http_auth(a))
            .unwrap_or(ir::HttpAuth::None);
        let headers = h
            .headers
            .iter()
            .map(|f| self.scalar_field(f, "header"))
            .collect();
        let query = h
            .query
            .iter()
            .map(|f| self.scalar_field(f, "query parameter"))
            .collect();
        let body = h.body.as_ref().map(|b| match &b.kind {
            ast::HttpBodyKind::Json(v) => ir::HttpBody::Json(match v {
                ast::Value::Map(entries, _) => ir::Value::Map(self.map_entries(entries, true)),
                ast::Value::Expr(e) => ir::Value::Expr(self.expr(e)),
            }),
            ast::HttpBodyKind::Form(fields) => ir::HttpBody::Form(
                fields
                    .iter()
                    .map(|f| self.scalar_field(f, "form field"))
                    .collect(),
            ),
            ast::HttpBodyKind::Xml(e) => {
                ir::HttpBody::Xml(self.expect(e, &Expected::new(Type::Text, "an XML body")))
            }
            ast::HttpBodyKind::Text(e) => {
                ir::HttpBody::Text(self.expect(e, &Expected::new(Type::Text, "a text body")))
            }
        });
        let timeout = h
            .timeout
            .as_ref()
            .map(|t| self.duration(t, "the HTTP timeout"));
        let response = h
            .response
            .iter()
            .map(|item| self.check_item(item))
            .collect();
        ir::Http {
            method,
            url,
            auth,
            headers,
            query,
            body,
            timeout,
            response,
            save: self.check_assigns(&h.save),
            retry: h.retry.as_ref().map(|r| self.check_retry(r)),
        }
    }

    /// A header, query parameter or form field: one value.
    pub(crate) fn scalar_field(&mut self, f: &ast::Field, what: &str) -> ir::Field {
        let value = match &f.value {
            ast::Value::Expr(e) => ir::Value::Expr(self.scalar(e)),
            ast::Value::Map(_, span) => {
                self.report(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        format!("{what} `{}` must be a single value, not a map", f.name.name),
                        *span,
                        "a map",
                    )
                    .with_help("write one value; a map only fits a JSON body"),
                );
                self.value_any(&f.value)
            }
        };
        ir::Field {
            name: f.name.name.clone(),
            value,
        }
    }

    pub(crate) fn check_http_auth(&mut self, auth: &ast::HttpAuth) -> ir::HttpAuth {
        use ast::HttpAuthKind as K;
        let cred = |c: &ast::Credential, this: &mut Self| this.credential_source(c, None);
        match &auth.kind {
            K::None => ir::HttpAuth::None,
            K::Basic { username, password } => ir::HttpAuth::Basic {
                username: cred(username, self),
                password: cred(password, self),
            },
            K::Bearer { token } => ir::HttpAuth::Bearer(cred(token, self)),
            K::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scope,
            } => ir::HttpAuth::OAuth2 {
                token_url: self.expect(token_url, &Expected::new(Type::Url, "the token URL")),
                client_id: cred(client_id, self),
                client_secret: cred(client_secret, self),
                scope: scope
                    .as_ref()
                    .map(|s| self.expect(s, &Expected::new(Type::String, "the scope"))),
            },
            K::Header { name, value } => ir::HttpAuth::Header {
                name: name.value.clone(),
                value: cred(value, self),
            },
        }
    }
}
