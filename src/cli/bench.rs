//! `sdk-relay bench`: the end-to-end benchmark between two local nodes, as a table or JSON; with `--stores`,
//! the same 10 KB path with the sender on redb and on PostgreSQL clusters.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::exit;
use crate::lab::Lab;
use crate::lab::bench::{self, Bound, Options, Report, StoreOptions, StoreReport, StoreSetup};

/// Measure the whole path between two local nodes against the RSA bound of this machine.
#[derive(clap::Args)]
#[command(after_help = "Example:
  cargo run --release -- bench
  sdk-relay bench --messages 1000 --concurrency 1,8,32 --json > bench.json
  sdk-relay bench --large-mb 0          (skip the large message)
  sdk-relay bench --stores redb,pg1,pg2 (a build with --features postgres; PostgreSQL from .ci/postgres)

Two nodes run as child processes on loopback in a generated test federation. For each concurrency level,
that many API clients each submit 10 KB messages one after the other; the latency is from SCHEDULED to the
Meddelandekvittens (ACCEPTED) at the sender, as the node timestamps them. Then both nodes are restarted and
one message whose sealed XHE is --large-mb MB is sent, with each node's peak memory. The bound is what the
RSA private-key operations every message needs would allow on all cores, measured in the same run.
Build with --release: a debug build is several times slower.

With --stores, the 10 KB messages only (at --concurrency, 16 by default), once per store setup, each on
nodes of its own: `redb` is the pair above; `pgN` makes the sender N nodes sharing one PostgreSQL schema
(fresh for the run, left behind afterwards) behind a TCP balancer, the receiver one redb node. The table
gives each setup's throughput against the RSA bound and against the redb pair.")]
pub struct Args {
    /// 10 KB messages per concurrency level (and store setup).
    #[arg(long, default_value_t = 300)]
    messages: usize,
    /// Concurrent API clients, one level after the other [default: 1,4,16; with --stores, 16].
    #[arg(long, value_delimiter = ',')]
    concurrency: Option<Vec<usize>>,
    /// Size of the large message's XHE in MB (SDK access points take 100 MB); 0 skips it [default: 100;
    /// not with --stores].
    #[arg(long)]
    large_mb: Option<usize>,
    /// Compare stores instead: `redb`, and `pgN` for N sender nodes on PostgreSQL behind a balancer.
    #[arg(long, value_delimiter = ',', value_name = "SETUPS")]
    stores: Option<Vec<StoreSetup>>,
    /// The PostgreSQL database for the `pgN` setups (each gets a schema of its own).
    #[arg(
        long,
        value_name = "URL",
        env = crate::lab::TEST_POSTGRES_VAR,
        default_value = crate::lab::DEFAULT_POSTGRES_URL,
        hide_env_values = true
    )]
    postgres: String,
    /// Print the report as JSON (progress goes to standard error).
    #[arg(long)]
    json: bool,
    /// Where to create the federation and the nodes; by default a temporary directory, removed afterwards.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    super::finish(bench_cmd(args))
}

fn bench_cmd(args: Args) -> Result<u8> {
    let default_levels: &[usize] = if args.stores.is_some() {
        &[16]
    } else {
        &[1, 4, 16]
    };
    let concurrency = args
        .concurrency
        .clone()
        .unwrap_or_else(|| default_levels.to_vec());
    anyhow::ensure!(
        args.messages > 0 && !concurrency.is_empty() && concurrency.iter().all(|c| *c > 0),
        "--messages and every --concurrency level must be at least 1"
    );
    if let Some(stores) = &args.stores {
        anyhow::ensure!(!stores.is_empty(), "--stores needs at least one setup");
        anyhow::ensure!(
            args.large_mb.is_none(),
            "--large-mb does not go with --stores (the store comparison sends 10 KB messages only)"
        );
        let postgres = stores.iter().find(|s| **s != StoreSetup::Redb);
        if let Some(setup) = postgres {
            anyhow::ensure!(
                cfg!(feature = "postgres"),
                "--stores {setup}: this sdk-relay was built without PostgreSQL support; build it with \
                 `cargo build --release --features postgres`"
            );
        }
    }
    let temporary;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            temporary = tempfile::Builder::new()
                .prefix("sdk-relay-bench-")
                .tempdir()
                .context("creating a temporary directory")?;
            temporary.path().to_owned()
        }
    };
    let binary = std::env::current_exe().context("finding this program")?;
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: a debug build; use `cargo run --release -- bench` for representative numbers"
        );
    }
    eprintln!(
        "setting up a test federation and its nodes in {}",
        dir.display()
    );
    let lab = Lab::create(&dir, &binary, "bench")?;
    if let Some(setups) = args.stores.clone() {
        let options = StoreOptions {
            setups,
            messages: args.messages,
            concurrency,
            postgres_url: args.postgres.clone(),
        };
        let report = bench::compare_stores(&lab, &options, &mut |step| eprintln!("… {step}"))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_stores(&report);
        }
        return Ok(exit::OK);
    }
    let (mut a, mut b) = bench::setup(&lab)?;
    let options = Options {
        messages: args.messages,
        concurrency,
        large_mb: args.large_mb.unwrap_or(100),
    };
    let report = bench::run(&mut a, &mut b, &options, &mut |step| eprintln!("… {step}"))?;
    a.stop()?;
    b.stop()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(exit::OK)
}

fn print_bound(b: &Bound) {
    println!(
        "RSA-2048 sign: {:.3} ms on one core; {} private-key operations per message on {} cores → bound {:.0} messages/s",
        b.rsa_2048_sign_ms, b.rsa_ops_per_message, b.cores, b.bound_messages_per_second
    );
}

fn print_build(b: &Bound) {
    if !b.release_build {
        println!("\n(debug build: not representative)");
    }
}

fn print_table(r: &Report) {
    print_bound(&r.bound);
    println!(
        "\n10 KB messages (request body {} bytes), SCHEDULED → ACCEPTED at the sender:",
        r.message_bytes
    );
    println!("| concurrency | messages | msg/s | p50 ms | p95 ms | p99 ms | ratio to RSA bound |");
    println!("|---|---|---|---|---|---|---|");
    for l in &r.levels {
        println!(
            "| {} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {:.1} % |",
            l.concurrency,
            l.messages,
            l.messages_per_second,
            l.p50_ms,
            l.p95_ms,
            l.p99_ms,
            100.0 * l.ratio_to_bound
        );
    }
    println!(
        "peak memory after these: Kommun A {:.0} MB, Region B {:.0} MB",
        r.peak_mb_a, r.peak_mb_b
    );
    if let Some(l) = &r.large {
        println!(
            "\nLarge message: XHE {:.1} MB ({:.1} MB attachment): submit {:.1} s, delivery (SCHEDULED → ACCEPTED) {:.1} s; peak memory Kommun A {:.0} MB, Region B {:.0} MB",
            l.xhe_bytes as f64 / 1_048_576.0,
            l.file_bytes as f64 / 1_048_576.0,
            l.submit_seconds,
            l.delivery_seconds,
            l.peak_mb_a,
            l.peak_mb_b
        );
    }
    print_build(&r.bound);
}

fn print_stores(r: &StoreReport) {
    print_bound(&r.bound);
    println!(
        "\n10 KB messages (request body {} bytes), SCHEDULED → ACCEPTED at the sender; the receiver is one redb node:",
        r.message_bytes
    );
    println!(
        "| store | sender | concurrency | messages | msg/s | p50 ms | p95 ms | p99 ms | ratio to RSA bound | ratio to redb |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for row in &r.rows {
        let l = &row.level;
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {:.1} % | {} |",
            row.store,
            row.description,
            l.concurrency,
            l.messages,
            l.messages_per_second,
            l.p50_ms,
            l.p95_ms,
            l.p99_ms,
            100.0 * l.ratio_to_bound,
            row.ratio_to_redb
                .map_or_else(|| "–".to_owned(), |x| format!("{:.0} %", 100.0 * x))
        );
    }
    print_build(&r.bound);
}
