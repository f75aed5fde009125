//! The `flowc` command line.

fn main() {}
