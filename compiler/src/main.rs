//! The `flowc` command line. Every file, terminal and process concern lives
//! in [`cli`]; the library (`flowc::…`) stays pure.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
