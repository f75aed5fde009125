//! Property test: no input panics `flowc`'s core.
//!
//! Random bytes, random token soup, and mutations (bit flips, deletions,
//! duplications, truncations, insertions) of every flow in `flows/` and of
//! the CLI test fixtures go through `flowc::load` + `flowc::check` as both
//! syntaxes; whatever parses is also drawn (`graph::mermaid`/`dot`) and
//! printed back (`syntax::yaml::print`/`dsl::print`), and every diagnostic
//! is rendered in all three formats. Nothing may panic.
//!
//! 1,000 cases per property by default (a few thousand in all, for CI);
//! `PROPTEST_CASES=1000000 cargo test --release -p flowc --test fuzz_check`
//! runs a million per property on demand.

mod cli_support;

use cli_support::fixtures;
use flowc::Syntax;
use flowc::diagnostic::render;
use proptest::prelude::*;
use proptest::sample::Index;
use std::sync::LazyLock;

/// Cases per property: `PROPTEST_CASES`, or 1,000.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    ProptestConfig {
        cases,
        // Shrinking a failure is worth it, but bounded.
        max_shrink_iters: 10_000,
        ..ProptestConfig::default()
    }
}

/// Runs one input through every phase, as both syntaxes.
fn exercise(bytes: &[u8]) {
    for (name, syntax) in [("fuzz.flow.yaml", Syntax::Yaml), ("fuzz.flow", Syntax::Dsl)] {
        let (source, diagnostics) = match flowc::load(name, bytes.to_vec(), syntax) {
            Ok(source) => {
                let checked = flowc::check(&source);
                if let Some(ast) = &checked.ast {
                    let _ = flowc::graph::mermaid(ast);
                    let _ = flowc::graph::dot(ast);
                    let _ = flowc::syntax::yaml::print(ast);
                    let _ = flowc::syntax::dsl::print(ast);
                }
                (source, checked.diagnostics)
            }
            Err(e) => {
                let (source, d) = *e;
                (source, vec![d])
            }
        };
        let _ = render::human(&source, &diagnostics, false);
        for d in &diagnostics {
            let _ = render::json(&source, d);
            let _ = render::github(&source, d);
        }
    }
}

/// The seeds for mutation: every flow in `flows/` (if any yet) and the
/// fixtures of the CLI tests.
static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut seeds: Vec<Vec<u8>> = [
        fixtures::CLEAN_YAML,
        fixtures::CLEAN_DSL,
        fixtures::WARNING_YAML,
        fixtures::ERROR_YAML,
        fixtures::ERROR_DSL,
        fixtures::GRAPH_YAML,
        fixtures::GRAPH_DSL,
        fixtures::MALFORMED_YAML,
        fixtures::BROKEN_DSL,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let dir = cli_support::repo_root().join("flows");
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            if cli_support::syntax_of(&path).is_some()
                && let Ok(bytes) = std::fs::read(&path)
            {
                seeds.push(bytes);
            }
        }
    }
    seeds
});

/// Tokens of both syntaxes and of the expression language.
const TOKENS: &[&str] = &[
    "flow",
    "data",
    "connections",
    "connection",
    "start",
    "steps",
    "step",
    "id:",
    "- id:",
    "action:",
    "with:",
    "save:",
    "save",
    "http:",
    "wait:",
    "wait",
    "signal",
    "event",
    "timeout",
    "timeout:",
    "on_timeout",
    "on_timeout:",
    "timer",
    "until",
    "for",
    "if",
    "if:",
    "then:",
    "else",
    "else:",
    "switch",
    "switch:",
    "cases:",
    "case",
    "when:",
    "default",
    "default:",
    "for_each",
    "for_each:",
    "as:",
    "in",
    "do:",
    "set",
    "set:",
    "fail",
    "end",
    "goto",
    "batch",
    "via",
    "every",
    "cron",
    "input",
    "env",
    "env(",
    "secret_file",
    "required",
    "min",
    "max",
    "pattern",
    "max_length",
    "label",
    "type:",
    "string",
    "money(JPY)",
    "money",
    "table",
    "select",
    "id(stripe.customer)",
    "stripe.create_charge",
    "stripe",
    "test",
    "live",
    "mode:",
    "provider:",
    "credentials:",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ",",
    ":",
    "=",
    "-",
    "+",
    "*",
    "/",
    "%",
    "==",
    "!=",
    "<",
    ">=",
    "&&",
    "||",
    "!",
    "not",
    "and",
    "or",
    ".",
    "${",
    "$${",
    "\"",
    "'",
    "\\",
    "#",
    "|",
    ">",
    "&a",
    "*a",
    "!!str",
    "---",
    "...",
    "?",
    "\t",
    "  ",
    "    ",
    "\n",
    "\n  ",
    "\n    - ",
    "\r\n",
    "0",
    "42",
    "-1",
    "12.50",
    "99999999999999999999999",
    "7d",
    "30s",
    "2w",
    "true",
    "false",
    "null",
    "x",
    "total",
    "customer_id",
    "create_charge.id",
    "minor_units(total)",
    "format_date(",
    "\"era_ja\"",
    "令和",
    "\u{feff}",
    "\u{0}",
    "é",
    "😀",
];

/// One edit of a byte buffer.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Delete(Index, usize),
    Duplicate(Index, usize, Index),
    Truncate(Index),
    Insert(Index, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), 1usize..128, any::<Index>())
            .prop_map(|(i, n, at)| Mutation::Duplicate(i, n, at)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), prop::sample::select(TOKENS)).prop_map(|(i, t)| Mutation::Insert(i, t)),
    ]
}

/// Applies an edit; positions are taken modulo the current length.
fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match m {
        Mutation::Flip(i, bit) if len > 0 => bytes[i.index(len)] ^= 1 << bit,
        Mutation::Delete(i, n) if len > 0 => {
            let at = i.index(len);
            let end = (at + n).min(len);
            bytes.drain(at..end);
        }
        Mutation::Duplicate(i, n, to) if len > 0 => {
            let at = i.index(len);
            let end = (at + n).min(len);
            let chunk = bytes[at..end].to_vec();
            let to = to.index(len + 1);
            bytes.splice(to..to, chunk);
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(len + 1)),
        Mutation::Insert(i, t) => {
            let at = i.index(len + 1);
            bytes.splice(at..at, t.bytes());
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        exercise(&bytes);
    }

    #[test]
    fn token_soup_never_panics(
        tokens in prop::collection::vec(
            (prop::sample::select(TOKENS), prop::sample::select(&[" ", "", "\n", "  "][..])),
            0..160,
        )
    ) {
        let text: String = tokens.iter().flat_map(|(t, sep)| [*t, *sep]).collect();
        exercise(text.as_bytes());
    }

    #[test]
    fn mutated_flows_never_panic(
        seed in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let mut bytes = SEEDS[seed.index(SEEDS.len())].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        exercise(&bytes);
    }
}

/// The seeds themselves go through cleanly too.
#[test]
fn seeds_never_panic() {
    for seed in SEEDS.iter() {
        exercise(seed);
    }
}

/// Deeply nested input must not overflow the stack.
#[test]
fn deep_nesting_never_panics() {
    for depth in [100, 1_000, 10_000] {
        let open = "[".repeat(depth);
        exercise(format!("flow: x\nsteps: {open}").as_bytes());
        let parens = "(".repeat(depth);
        exercise(format!("flow: x\nsteps:\n  - {{ id: a, fail: \"${{{parens}\" }}\n").as_bytes());
        exercise(format!("flow x\nstart input\nstep a = fail {parens}1\n").as_bytes());
        let blocks = "step a = if true {\n".repeat(depth);
        exercise(format!("flow x\nstart input\n{blocks}").as_bytes());
    }
}
