//! The provider action catalog: one source of truth for what each provider
//! action takes and returns, and which events it can wait for.
//!
//! The data lives in `data/<provider>.yaml` beside this crate. The checker
//! (`flowc`) reads it to type-check action steps; the runtime reads the same
//! files to build requests. Names, enums and constraints come from the
//! official specs in `shared/specs/` (Buckaroo from its public docs); each
//! action names the spec operation it maps to in [`Action::api`].

mod types;

pub use types::*;

use std::sync::OnceLock;

/// The embedded data files, one per provider.
const SOURCES: &[(&str, &str)] = &[
    ("stripe", include_str!("../data/stripe.yaml")),
    ("paypal", include_str!("../data/paypal.yaml")),
    ("vipps", include_str!("../data/vipps.yaml")),
    ("buckaroo", include_str!("../data/buckaroo.yaml")),
];

/// The names of every provider in the catalog.
pub fn provider_names() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(name, _)| *name)
}

/// The catalog entry of one provider, parsed on first use and cached.
///
/// Returns `None` for a provider the catalog does not know.
pub fn provider(name: &str) -> Option<&'static Provider> {
    static CACHE: [OnceLock<Provider>; SOURCES.len()] = [const { OnceLock::new() }; SOURCES.len()];
    let index = SOURCES.iter().position(|(n, _)| *n == name)?;
    Some(CACHE[index].get_or_init(|| {
        // The data files are part of this crate and covered by its tests, so a
        // parse failure here is a bug in the crate, not bad user input.
        parse_provider(SOURCES[index].1)
            .unwrap_or_else(|e| panic!("catalog data for `{name}` is invalid: {e}"))
    }))
}

/// Parses one provider's catalog file.
pub fn parse_provider(yaml: &str) -> Result<Provider, String> {
    serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
}
