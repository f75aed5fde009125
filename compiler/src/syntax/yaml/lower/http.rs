//! The generic `http` step: method, url, auth, headers, query, body,
//! timeout and typed response fields.

use super::{Lowerer, get, keys};
use crate::ast::{Credential, HttpAuth, HttpAuthKind, HttpBody, HttpBodyKind, HttpStep, Ident};
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::yaml::node::{Entry, Node, NodeKind};

const AUTH_HELP: &str = "auth is `none`, `{ basic: { username: CRED, password: CRED } }`, \
                         `{ bearer: CRED }`, `{ oauth2: { token_url: …, client_id: CRED, \
                         client_secret: CRED, scope: … } }` or `{ header: NAME, value: CRED }`, \
                         where CRED is `{ env: NAME }` or `{ secret_file: PATH }`";

impl Lowerer<'_> {
    /// `http: { … }` plus the step's `save` and `retry`.
    pub(super) fn http(&mut self, kind: &Entry, step: &[Entry]) -> Option<HttpStep> {
        let entries = self.map(&kind.value, "`http`")?;
        self.check_keys(entries, keys::HTTP, "`http`");
        let method = match get(entries, "method") {
            Some(e) => self.ident(&e.value, "HTTP method"),
            None => {
                self.missing(kind.key.span, "`http`", "method", "method: POST");
                None
            }
        };
        let url = match get(entries, "url") {
            Some(e) => self.expr(&e.value, "`url`"),
            None => {
                self.missing(kind.key.span, "`http`", "url", "url: \"https://…\"");
                None
            }
        };
        let auth = get(entries, "auth").and_then(|e| self.auth(e));
        let headers =
            get(entries, "headers").map_or_else(Vec::new, |e| self.fields(&e.value, "`headers`"));
        let query =
            get(entries, "query").map_or_else(Vec::new, |e| self.fields(&e.value, "`query`"));
        let body = get(entries, "body").and_then(|e| self.body(&e.value));
        let timeout = get(entries, "timeout").and_then(|e| self.expr(&e.value, "`timeout`"));
        let response = get(entries, "response")
            .map_or_else(Vec::new, |e| self.data_items(&e.value, "response"));
        let save = get(step, "save").map_or_else(Vec::new, |e| self.assigns(&e.value, "`save`"));
        let retry = get(step, "retry").and_then(|e| self.retry(&e.value));
        Some(HttpStep {
            method: method?,
            url: url?,
            auth,
            headers,
            query,
            body,
            timeout,
            response,
            save,
            retry,
        })
    }

    fn auth(&mut self, entry: &Entry) -> Option<HttpAuth> {
        let node = &entry.value;
        let span = node.span;
        let entries = match &node.kind {
            NodeKind::Scalar(s) if s.value == "none" && !s.style.is_quoted() => {
                return Some(HttpAuth {
                    kind: HttpAuthKind::None,
                    span,
                });
            }
            NodeKind::Map(entries) => entries,
            NodeKind::Invalid => return None,
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::WrongShape,
                        "not an HTTP auth",
                        span,
                        "expected `none` or a map",
                    )
                    .with_help(AUTH_HELP),
                );
                return None;
            }
        };
        // `header` goes with `value`; the other forms stand alone.
        let forms: Vec<&Entry> = entries
            .iter()
            .filter(|e| keys::HTTP_AUTH.contains(&e.key.value.as_str()))
            .collect();
        let [form] = forms.as_slice() else {
            let (message, at) = match forms.get(1) {
                Some(second) => ("an HTTP auth has one form", second.key.span),
                None => ("an HTTP auth needs a form", span),
            };
            self.report(
                Diagnostic::new(
                    Code::WrongShape,
                    message,
                    at,
                    "expected one of `basic`, `bearer`, `oauth2`, `header`",
                )
                .with_help(AUTH_HELP),
            );
            return None;
        };
        let kind = match form.key.value.as_str() {
            "basic" => {
                self.check_keys(entries, &["basic"], "`auth`");
                let inner = self.map(&form.value, "`basic`")?;
                self.check_keys(inner, keys::HTTP_BASIC, "`basic`");
                let username = self.auth_credential(inner, "username", form);
                let password = self.auth_credential(inner, "password", form);
                HttpAuthKind::Basic {
                    username: username?,
                    password: password?,
                }
            }
            "bearer" => {
                self.check_keys(entries, &["bearer"], "`auth`");
                HttpAuthKind::Bearer {
                    token: self.credential(named("token", form), form)?,
                }
            }
            "oauth2" => {
                self.check_keys(entries, &["oauth2"], "`auth`");
                let inner = self.map(&form.value, "`oauth2`")?;
                self.check_keys(inner, keys::HTTP_OAUTH2, "`oauth2`");
                let token_url = match get(inner, "token_url") {
                    Some(e) => self.expr(&e.value, "`token_url`"),
                    None => {
                        self.missing(
                            form.key.span,
                            "`oauth2`",
                            "token_url",
                            "token_url: \"https://…\"",
                        );
                        None
                    }
                };
                let client_id = self.auth_credential(inner, "client_id", form);
                let client_secret = self.auth_credential(inner, "client_secret", form);
                let scope = get(inner, "scope").and_then(|e| self.expr(&e.value, "`scope`"));
                HttpAuthKind::OAuth2 {
                    token_url: token_url?,
                    client_id: client_id?,
                    client_secret: client_secret?,
                    scope,
                }
            }
            _ => {
                self.check_keys(entries, keys::HTTP_HEADER, "a header auth");
                let name = self.text(&form.value, "the header name");
                let value = match get(entries, "value") {
                    Some(v) => self.credential(named("value", v), v),
                    None => {
                        self.missing(
                            form.key.span,
                            "a header auth",
                            "value",
                            "value: { env: TOKEN }",
                        );
                        None
                    }
                };
                HttpAuthKind::Header {
                    name: name?,
                    value: value?,
                }
            }
        };
        Some(HttpAuth { kind, span })
    }

    /// A required credential `key` inside an auth form.
    fn auth_credential(
        &mut self,
        entries: &[Entry],
        key: &str,
        form: &Entry,
    ) -> Option<Credential> {
        match get(entries, key) {
            Some(e) => self.credential(named(key, e), e),
            None => {
                self.missing(
                    form.key.span,
                    &format!("`{}`", form.key.value),
                    key,
                    &format!("{key}: {{ env: NAME }}"),
                );
                None
            }
        }
    }

    /// `{ json: … }`, `{ form: { … } }`, `{ xml: … }` or `{ text: … }`.
    fn body(&mut self, node: &Node) -> Option<HttpBody> {
        let entries = self.map(node, "`body`")?;
        self.check_keys(entries, keys::HTTP_BODY, "`body`");
        let forms: Vec<&Entry> = entries
            .iter()
            .filter(|e| keys::HTTP_BODY.contains(&e.key.value.as_str()))
            .collect();
        let [form] = forms.as_slice() else {
            let (message, at) = match forms.get(1) {
                Some(second) => ("an HTTP body has one form", second.key.span),
                None => ("an HTTP body needs a form", node.span),
            };
            self.report(
                Diagnostic::new(
                    Code::WrongShape,
                    message,
                    at,
                    "expected one of `json`, `form`, `xml`, `text`",
                )
                .with_help("write `body: { json: { … } }`, `{ form: { … } }`, `{ xml: … }` or `{ text: … }`"),
            );
            return None;
        };
        let kind = match form.key.value.as_str() {
            "json" => HttpBodyKind::Json(self.value(&form.value, "the JSON body")?),
            "form" => HttpBodyKind::Form(self.fields(&form.value, "`form`")),
            "xml" => HttpBodyKind::Xml(self.expr(&form.value, "the XML body")?),
            _ => HttpBodyKind::Text(self.expr(&form.value, "the text body")?),
        };
        Some(HttpBody {
            kind,
            span: node.span,
        })
    }
}

/// A credential's name: the AST field it fills (`username`, `token`, …),
/// placed at the key that holds it.
fn named(name: &str, at: &Entry) -> Ident {
    Ident {
        name: name.to_owned(),
        span: at.key.span,
    }
}
