//! End to end between two local nodes (real processes, release build): the same measurement as
//! `sdk-relay bench` (see `lab::bench`), run by `cargo bench --bench relay`.
//!
//! RELAY_BENCH_MESSAGES=… changes the count per concurrency level; RELAY_BENCH_LARGE_MB=… the large
//! message's size (0 skips it).
//!
//! RELAY_BENCH_STORES=redb,pg1,pg2 runs the store comparison instead (`sdk-relay bench --stores`; the pgN
//! setups need `--features postgres`), at RELAY_BENCH_CONCURRENCY (16) concurrent clients, on the
//! PostgreSQL of SDK_RELAY_TEST_POSTGRES (by default the local one `.ci/postgres` starts).

use std::path::Path;

use sdk_relay::lab::Lab;
use sdk_relay::lab::bench::{self, Options, StoreOptions, StoreSetup};

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
    let progress = &mut |s: &str| eprintln!("… {s}");
    if let Ok(stores) = std::env::var("RELAY_BENCH_STORES") {
        let setups = stores
            .split(',')
            .map(|s| s.parse::<StoreSetup>())
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("RELAY_BENCH_STORES: {e}"));
        let options = StoreOptions {
            setups,
            messages: setting("RELAY_BENCH_MESSAGES", 300),
            concurrency: vec![setting("RELAY_BENCH_CONCURRENCY", 16)],
            postgres_url: sdk_relay::lab::postgres_url(),
        };
        let report = bench::compare_stores(&lab, &options, progress).expect("bench");
        println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
        return;
    }
    let (mut a, mut b) = bench::setup(&lab).expect("two nodes");
    let options = Options {
        messages: setting("RELAY_BENCH_MESSAGES", 300),
        concurrency: vec![1, 4, 16],
        large_mb: setting("RELAY_BENCH_LARGE_MB", 100),
    };
    let report = bench::run(&mut a, &mut b, &options, progress).expect("bench");
    println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
}
