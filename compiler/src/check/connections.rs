//! Connections (provider, mode, credentials, settings) and starts.

use super::Checker;
use super::actions::{default_mode, env_var_name};
use super::types::Type;
use super::values::{Expected, What};
use crate::ast::{self, CredentialSource};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::ir;
use crate::span::Span;
use foldhash::{HashMap, HashMapExt};

impl<'a> Checker<'a> {
    /// Declares connection names (duplicates are E0103).
    pub(crate) fn declare_connections(&mut self, connections: &'a [ast::Connection]) {
        for c in connections {
            if let Err(first) = self.scope.declare_connection(c) {
                self.duplicate(&c.name, first, "connection");
            }
        }
    }

    /// Checks every connection; lowers them.
    pub(crate) fn check_connections(
        &mut self,
        connections: &[ast::Connection],
    ) -> Vec<ir::Connection> {
        connections
            .iter()
            .map(|c| self.check_connection(c))
            .collect()
    }

    fn check_connection(&mut self, c: &ast::Connection) -> ir::Connection {
        let provider = self.provider(&c.provider);
        let mode = match (&c.mode, provider) {
            (Some(mode), Some(p)) => {
                if !p.modes.contains(&mode.name) {
                    let mut d = Diagnostic::new(
                        Code::UnknownMode,
                        format!("{} has no mode `{}`", p.title, mode.name),
                        mode.span,
                        "unknown mode",
                    );
                    let modes = super::list_names(&p.modes);
                    d = match did_you_mean(&mode.name, p.modes.iter().map(String::as_str)) {
                        Some(best) => d.with_help(format!(
                            "did you mean `{best}`? {}'s modes are {modes}",
                            p.title
                        )),
                        None => d.with_help(format!("{}'s modes are {modes}", p.title)),
                    };
                    self.report(d);
                }
                mode.name.clone()
            }
            (Some(mode), None) => mode.name.clone(),
            (None, p) => {
                self.check_live_without_mode(c);
                p.map(default_mode).unwrap_or_else(|| "test".to_owned())
            }
        };
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut credentials = Vec::with_capacity(c.credentials.len());
        for cred in &c.credentials {
            if let Some(&first) = seen.get(cred.name.name.as_str()) {
                self.duplicate(&cred.name, first, "credential");
            }
            seen.entry(&cred.name.name).or_insert(cred.name.span);
            if let Some(p) = provider
                && !p.credentials.iter().any(|k| k.name == cred.name.name)
            {
                let names: Vec<&str> = p.credentials.iter().map(|k| k.name.as_str()).collect();
                let mut d = Diagnostic::new(
                    Code::UnknownCredential,
                    format!("{} has no credential `{}`", p.title, cred.name.name),
                    cred.name.span,
                    "unknown credential",
                );
                d = match did_you_mean(&cred.name.name, names.iter().copied()) {
                    Some(best) => d.with_help(format!("did you mean `{best}`?")),
                    None if names.is_empty() => {
                        d.with_help(format!("{} takes no credentials", p.title))
                    }
                    None => d.with_help(format!(
                        "{}'s credentials are {}",
                        p.title,
                        super::list_names(&names)
                    )),
                };
                self.report(d);
            }
            let source = self.credential_source(cred, provider.map(|p| p.name.as_str()));
            credentials.push(ir::Credential {
                name: cred.name.name.clone(),
                source,
            });
        }
        let settings = match provider {
            Some(p) => {
                let missing: Vec<&str> = p
                    .credentials
                    .iter()
                    .filter(|k| k.required && !seen.contains_key(k.name.as_str()))
                    .map(|k| k.name.as_str())
                    .collect();
                if !missing.is_empty() {
                    let adds: Vec<String> = missing
                        .iter()
                        .map(|m| {
                            let env = env_var_name(&p.name, m);
                            format!("`{m}: {{ env: {env} }}` (DSL: `{m} = env(\"{env}\")`)")
                        })
                        .collect();
                    self.report(
                        Diagnostic::new(
                            Code::MissingCredential,
                            format!(
                                "connection `{}` is missing the {} credential {}",
                                c.name.name,
                                p.title,
                                super::list_names(&missing)
                            ),
                            c.name.span,
                            format!("needs {}", super::list_names(&missing)),
                        )
                        .with_help(format!("add {} to its credentials", adds.join(" and "))),
                    );
                }
                let owner = What::from(format!("{} connection `{}`", p.title, c.name.name));
                self.check_file_settings(p, c);
                self.check_fields(p, &p.settings, &c.settings, c.name.span, &owner, "setting")
            }
            None => self.fields_any(&c.settings),
        };
        ir::Connection {
            name: c.name.name.clone(),
            provider: c.provider.name.clone(),
            mode,
            credentials,
            settings,
        }
    }

    /// E0502: no mode, but the name or a credential says `live`.
    fn check_live_without_mode(&mut self, c: &ast::Connection) {
        let says_live = |s: &str| s.to_ascii_lowercase().contains("live");
        let evidence: Option<(Span, String)> = if says_live(&c.name.name) {
            Some((c.name.span, "the name says `live`".to_owned()))
        } else {
            c.credentials.iter().find_map(|cred| match &cred.source {
                CredentialSource::Env(s) | CredentialSource::SecretFile(s)
                    if says_live(&s.value) =>
                {
                    Some((s.span, format!("`{}` says `live`", s.value)))
                }
                _ => None,
            })
        };
        let Some((span, why)) = evidence else { return };
        let mut d = Diagnostic::new(
            Code::LiveWithoutMode,
            format!(
                "connection `{}` looks live but does not say `mode: live`",
                c.name.name
            ),
            c.name.span,
            "no mode: this would run in test mode",
        );
        if span != c.name.span {
            d = d.with_label(span, why);
        }
        self.report(d.with_help(
            "add `mode: live` (DSL: `connection name: provider live`) if it moves real money; otherwise say `mode: test` or rename it",
        ));
    }

    /// Where a credential comes from; E0501 for a literal.
    pub(crate) fn credential_source(
        &mut self,
        cred: &ast::Credential,
        provider: Option<&str>,
    ) -> ir::CredentialSource {
        match &cred.source {
            CredentialSource::Env(name) => ir::CredentialSource::Env(name.value.clone()),
            CredentialSource::SecretFile(path) => {
                ir::CredentialSource::SecretFile(path.value.clone())
            }
            CredentialSource::Literal(secret) => {
                let env = env_var_name(provider.unwrap_or("flow"), &cred.name.name);
                self.report(
                    Diagnostic::new(
                        Code::LiteralSecret,
                        format!("credential `{}` is written into the flow file", cred.name.name),
                        secret.span,
                        "a literal secret",
                    )
                    .with_help(format!(
                        "read it from the environment, `{}: {{ env: {env} }}` (DSL: `{} = env(\"{env}\")`), or from a secret file; and rotate this secret, it has been exposed",
                        cred.name.name, cred.name.name
                    )),
                );
                ir::CredentialSource::Env(String::new())
            }
        }
    }

    /// Checks every start; lowers them.
    pub(crate) fn check_starts(&mut self, starts: &[ast::Start]) -> Vec<ir::Start> {
        starts.iter().map(|s| self.check_start(s)).collect()
    }

    fn check_start(&mut self, start: &ast::Start) -> ir::Start {
        match &start.kind {
            ast::StartKind::Input => ir::Start::Input,
            ast::StartKind::Schedule(s) => ir::Start::Schedule(self.check_start_schedule(s)),
            ast::StartKind::Event {
                event,
                connection,
                every,
            } => {
                let resolved = self.resolve_event(event, connection.as_ref(), true);
                if let Some(r) = &resolved
                    && !r.event.trigger
                {
                    let triggers: Vec<String> = r
                        .provider
                        .events
                        .iter()
                        .filter(|e| e.trigger)
                        .map(|e| format!("{}.{}", r.provider.name, e.name))
                        .collect();
                    let help = if triggers.is_empty() {
                        format!(
                            "{} has no trigger events; start with `input` or a schedule",
                            r.provider.title
                        )
                    } else {
                        format!(
                            "the events that can start issues are {}",
                            super::list_names(&triggers)
                        )
                    };
                    self.report(
                        Diagnostic::new(
                            Code::InvalidStart,
                            format!(
                                "`{}` cannot start issues: it is not a trigger",
                                event.text()
                            ),
                            event.span,
                            "not a trigger event",
                        )
                        .with_help(help),
                    );
                }
                let every = every.as_ref().map(|e| {
                    let typed = self.duration(e, "`every` of a start event");
                    self.warn_short_poll(e, "every");
                    if let Some(r) = &resolved {
                        self.poll_served(e, r, "every");
                    }
                    self.require_literal(
                        &typed,
                        e.span,
                        "`every` of a start event",
                        super::literals::Literal::Duration,
                    );
                    typed
                });
                match resolved {
                    Some(r) => ir::Start::Event {
                        provider: r.provider.name.clone(),
                        event: r.event.name.clone(),
                        connection: r.connection.unwrap_or_default(),
                        every,
                    },
                    None => ir::Start::Event {
                        provider: String::new(),
                        event: event.text(),
                        connection: String::new(),
                        every,
                    },
                }
            }
        }
    }

    /// A cron expression (five fields) or `every <duration>`.
    pub(crate) fn check_schedule(&mut self, s: &ast::Schedule) -> ir::Schedule {
        match s {
            ast::Schedule::Cron(cron) => {
                // The runtime's own reading of it (croner, five fields).
                if let Err(why) = flowc_runtime::schedule::parse_cron(&cron.value) {
                    let fields = cron.value.split_whitespace().count();
                    let label = if fields == 5 {
                        why
                    } else {
                        format!("{fields} fields")
                    };
                    self.report(
                        Diagnostic::new(
                            Code::InvalidStart,
                            format!("`{}` is not a cron schedule", cron.value),
                            cron.span,
                            label,
                        )
                        .with_help("write five fields, minute hour day-of-month month day-of-week: `0 9 * * 1-5`"),
                    );
                }
                ir::Schedule::Cron(cron.value.clone())
            }
            ast::Schedule::Every(e) => {
                let typed = self.expect(e, &Expected::new(Type::Duration, "`every`"));
                if let ast::ExprKind::Duration(d) = &e.kind
                    && d.as_seconds() == 0
                {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidStart,
                            "a schedule cannot run every 0 seconds",
                            e.span,
                            "zero",
                        )
                        .with_help("give a positive interval, e.g. `every: 1d`"),
                    );
                }
                ir::Schedule::Every(typed)
            }
        }
    }
}
