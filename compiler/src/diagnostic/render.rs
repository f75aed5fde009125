//! Renders diagnostics: human (miette), JSON Lines, GitHub annotations.
