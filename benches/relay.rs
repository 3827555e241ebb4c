//! End to end between two local nodes (real processes, release build): the same measurement as
//! `sdk-relay bench` (see `lab::bench`), run by `cargo bench --bench relay`.
//!
//! RELAY_BENCH_MESSAGES=… changes the count per concurrency level; RELAY_BENCH_LARGE_MB=… the large
//! message's size (0 skips it).

use std::path::Path;

use sdk_relay::lab::Lab;
use sdk_relay::lab::bench::{self, Options};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let binary = Path::new(env!("CARGO_BIN_EXE_sdk-relay"));
    let lab = Lab::create(dir.path(), binary, "bench").expect("the lab");
    let (mut a, mut b) = bench::setup(&lab).expect("two nodes");
    let options = Options {
        messages: setting("RELAY_BENCH_MESSAGES", 300),
        concurrency: vec![1, 4, 16],
        large_mb: setting("RELAY_BENCH_LARGE_MB", 100),
    };
    let report = bench::run(&mut a, &mut b, &options, &mut |s| eprintln!("… {s}")).expect("bench");
    println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
}
