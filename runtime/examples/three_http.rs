//! The three-`http`-step flow as a binary, exactly as a generated one:
//! `cargo run -p flowc_runtime --example three_http -- --help`.

#[path = "../tests/flows/three_http.rs"]
mod three_http;

fn main() {
    flowc_runtime::cli::main::<three_http::ThreeHttp>()
}
