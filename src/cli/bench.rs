//! `sdk-relay bench`: the end-to-end benchmark between two local nodes, as a table or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::exit;
use crate::lab::Lab;
use crate::lab::bench::{self, Options, Report};

/// Measure the whole path between two local nodes against the RSA bound of this machine.
#[derive(clap::Args)]
#[command(after_help = "Example:
  cargo run --release -- bench
  sdk-relay bench --messages 1000 --concurrency 1,8,32 --json > bench.json
  sdk-relay bench --large-mb 0          (skip the large message)

Two nodes run as child processes on loopback in a generated test federation. For each concurrency level,
that many API clients each submit 10 KB messages one after the other; the latency is from SCHEDULED to the
Meddelandekvittens (ACCEPTED) at the sender, as the node timestamps them. Then both nodes are restarted and
one message whose sealed XHE is --large-mb MB is sent, with each node's peak memory. The bound is what the
RSA private-key operations every message needs would allow on all cores, measured in the same run.
Build with --release: a debug build is several times slower.")]
pub struct Args {
    /// 10 KB messages per concurrency level.
    #[arg(long, default_value_t = 300)]
    messages: usize,
    /// Concurrent API clients, one level after the other.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    concurrency: Vec<usize>,
    /// Size of the large message's XHE in MB (SDK access points take 100 MB); 0 skips it.
    #[arg(long, default_value_t = 100)]
    large_mb: usize,
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
    anyhow::ensure!(
        args.messages > 0 && args.concurrency.iter().all(|c| *c > 0),
        "--messages and every --concurrency level must be at least 1"
    );
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
        "setting up a test federation and two nodes in {}",
        dir.display()
    );
    let lab = Lab::create(&dir, &binary, "bench")?;
    let (mut a, mut b) = bench::setup(&lab)?;
    let options = Options {
        messages: args.messages,
        concurrency: args.concurrency.clone(),
        large_mb: args.large_mb,
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

fn print_table(r: &Report) {
    println!(
        "RSA-2048 sign: {:.3} ms on one core; {} private-key operations per message on {} cores → bound {:.0} messages/s",
        r.rsa_2048_sign_ms, r.rsa_ops_per_message, r.cores, r.bound_messages_per_second
    );
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
    if !r.release_build {
        println!("\n(debug build: not representative)");
    }
}
