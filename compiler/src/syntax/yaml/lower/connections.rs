//! `connections:` and credentials.

use super::{Lowerer, entry_span, get, keys};
use crate::ast::{Connection, Credential, CredentialSource, Ident, Str};
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::yaml::node::{Entry, Node, NodeKind};
use crate::syntax::yaml::scalar;

impl Lowerer<'_> {
    /// `connections: { name: { provider, mode, credentials, settings } }`
    pub(super) fn connections(&mut self, node: &Node) -> Vec<Connection> {
        let Some(entries) = self.map_or_empty(node, "`connections`") else {
            return Vec::new();
        };
        entries.iter().filter_map(|e| self.connection(e)).collect()
    }

    fn connection(&mut self, entry: &Entry) -> Option<Connection> {
        let name = match scalar::ident(&entry.key, "connection name", false) {
            Ok(n) => Some(n),
            Err(d) => {
                self.report(d);
                None
            }
        };
        let context = format!("connection `{}`", entry.key.value);
        let entries = self.map(&entry.value, &context)?;
        self.check_keys(entries, keys::CONNECTION, &context);
        let provider = match get(entries, "provider") {
            Some(e) => self.ident(&e.value, "provider name"),
            None => {
                self.missing(entry.key.span, &context, "provider", "provider: stripe");
                None
            }
        };
        let mode = get(entries, "mode").and_then(|e| self.ident(&e.value, "connection mode"));
        let credentials = match get(entries, "credentials") {
            Some(e) => match self.map_or_empty(&e.value, "`credentials`") {
                Some(creds) => creds
                    .iter()
                    .filter_map(|c| {
                        let name = self.field_name(&c.key, "credential name")?;
                        self.credential(name, c)
                    })
                    .collect(),
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        let settings =
            get(entries, "settings").map_or_else(Vec::new, |e| self.fields(&e.value, "`settings`"));
        Some(Connection {
            name: name?,
            provider: provider?,
            mode,
            credentials,
            settings,
            span: entry_span(entry),
        })
    }

    /// A credential `name: CRED` where CRED is `{ env: NAME }`,
    /// `{ secret_file: PATH }`, or a literal (kept so the checker reports it).
    pub(super) fn credential(&mut self, name: Ident, entry: &Entry) -> Option<Credential> {
        let node = &entry.value;
        let source = match &node.kind {
            NodeKind::Scalar(s) => CredentialSource::Literal(Str {
                value: s.value.clone(),
                span: s.text_span(),
            }),
            NodeKind::Map(entries) => {
                let context = format!("credential `{}`", entry.key.value);
                self.check_keys(entries, keys::CREDENTIAL, &context);
                match (get(entries, "env"), get(entries, "secret_file")) {
                    (Some(env), None) => CredentialSource::Env(self.text(&env.value, "`env`")?),
                    (None, Some(file)) => {
                        CredentialSource::SecretFile(self.text(&file.value, "`secret_file`")?)
                    }
                    (Some(_), Some(second)) => {
                        self.report(Diagnostic::new(
                            Code::WrongShape,
                            format!("{context} has both `env` and `secret_file`"),
                            second.key.span,
                            "a second source",
                        ));
                        return None;
                    }
                    (None, None) => {
                        self.report(
                            Diagnostic::new(
                                Code::MissingKey,
                                format!("{context} needs `env` or `secret_file`"),
                                node.span,
                                "no source",
                            )
                            .with_help(
                                "write `{ env: NAME }` or `{ secret_file: /run/secrets/name }`",
                            ),
                        );
                        return None;
                    }
                }
            }
            NodeKind::Seq(_) | NodeKind::Invalid => {
                self.wrong_shape(node, &format!("credential `{}`", entry.key.value), "a map");
                return None;
            }
        };
        Some(Credential {
            name,
            source,
            span: entry_span(entry),
        })
    }
}
