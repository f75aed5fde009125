//! Reads `data/<provider>.yaml`, checks each file against the catalog types,
//! and writes it as JSON to `OUT_DIR` for `lib.rs` to embed. A data file
//! that does not fit the types fails the build with the parser's message.

#[allow(dead_code, unreachable_pub)]
#[path = "src/types.rs"]
mod types;

use std::path::PathBuf;

const PROVIDERS: [&str; 4] = ["stripe", "paypal", "vipps", "buckaroo"];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    println!("cargo::rerun-if-changed=src/types.rs");
    for name in PROVIDERS {
        let path = manifest.join("data").join(format!("{name}.yaml"));
        println!("cargo::rerun-if-changed={}", path.display());
        let yaml = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let provider: types::Provider = serde_saphyr::from_str(&yaml)
            .unwrap_or_else(|e| panic!("{} does not fit the catalog types: {e}", path.display()));
        let json = serde_json::to_string(&provider).expect("catalog types serialize");
        std::fs::write(out.join(format!("{name}.json")), json).expect("OUT_DIR is writable");
    }
}
