//! Request files in a simulation: every connection of a batch provider
//! (Buckaroo's direct debit files) writes into a temporary outbox of its own,
//! not into `./outbox` of whatever directory the simulation runs in. A
//! connection whose `FLOWC_<NAME>_OUTBOX` is set keeps that directory (to look
//! at the files afterwards); the temporary ones are removed at the end. The
//! same goes for the inbox their response files arrive in
//! (`FLOWC_<NAME>_INBOX`).

use std::path::PathBuf;

use crate::action::{inbox_env, outbox_env};
use crate::flow::ConnectionDef;

/// The outbox directory of each batch connection of a simulation.
#[derive(Debug, Default)]
pub struct Outboxes {
    /// (connection, directory, made by the simulation and so removed after it).
    dirs: Vec<(&'static str, PathBuf, bool)>,
    /// The same for the inboxes response files arrive in.
    inboxes: Vec<(&'static str, PathBuf, bool)>,
}

impl Outboxes {
    /// Gives every connection whose provider writes batch files an outbox.
    pub fn prepare(connections: &[ConnectionDef]) -> Result<Outboxes, String> {
        let mut dirs = Vec::new();
        for c in connections.iter().filter(|c| writes_files(c.provider)) {
            let env = outbox_env(c.name);
            if let Ok(dir) = std::env::var(&env) {
                dirs.push((c.name, PathBuf::from(dir), false));
                continue;
            }
            let dir = std::env::temp_dir().join(format!(
                "flowc-sim-{}-{}",
                c.name,
                uuid::Uuid::now_v7().simple()
            ));
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create the outbox {}: {e}", dir.display()))?;
            crate::http::set_simulated_env(&env, &dir.to_string_lossy());
            dirs.push((c.name, dir, true));
        }
        let mut inboxes = Vec::new();
        for c in connections.iter().filter(|c| reads_files(c.provider)) {
            let env = inbox_env(c.name);
            if let Ok(dir) = std::env::var(&env) {
                inboxes.push((c.name, PathBuf::from(dir), false));
                continue;
            }
            let dir = std::env::temp_dir().join(format!(
                "flowc-sim-inbox-{}-{}",
                c.name,
                uuid::Uuid::now_v7().simple()
            ));
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create the inbox {}: {e}", dir.display()))?;
            crate::http::set_simulated_env(&env, &dir.to_string_lossy());
            inboxes.push((c.name, dir, true));
        }
        Ok(Outboxes { dirs, inboxes })
    }

    /// The outbox and the inbox of each connection that has both.
    pub fn exchanges(&self) -> Vec<(&'static str, PathBuf, PathBuf)> {
        self.dirs
            .iter()
            .filter_map(|(c, out, _)| {
                let (_, inbox, _) = self.inboxes.iter().find(|(i, _, _)| i == c)?;
                Some((*c, out.clone(), inbox.clone()))
            })
            .collect()
    }

    /// One line per request file written: `buckaroo: wrote NAME (N records)`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (conn, dir, _) in &self.dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<(String, usize)> = entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') || !e.path().is_file() {
                        return None;
                    }
                    let lines = std::fs::read_to_string(e.path())
                        .map(|t| t.lines().count())
                        .unwrap_or(0);
                    Some((name, lines))
                })
                .collect();
            files.sort();
            for (name, lines) in files {
                out.push(format!("{conn}: wrote {name} ({lines} lines)"));
            }
        }
        out
    }
}

impl Drop for Outboxes {
    fn drop(&mut self) {
        for (_, dir, owned) in self.dirs.iter().chain(&self.inboxes) {
            if *owned {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// Providers whose batch actions write request files.
fn writes_files(provider: &str) -> bool {
    flowc_catalog::provider(provider).is_some_and(|p| p.actions.iter().any(|a| a.batch))
}

/// Providers some of whose events come back as files into an inbox.
fn reads_files(provider: &str) -> bool {
    crate::providers::Kind::from_name(provider)
        .is_some_and(|k| !crate::events::source::file_events(k).is_empty())
}
