//! End to end between two local nodes (real processes, release build): 10 KB messages A→B at several
//! concurrency levels — throughput and latency from submission (SCHEDULED at A) to the Meddelandekvittens
//! (ACCEPTED at A), as the nodes themselves timestamp them — against the bound set by the RSA private-key
//! operations each message needs, measured in the same run on this machine.
//!
//! Run: `cargo bench --bench relay` (RELAY_BENCH_MESSAGES=… to change the count per level).

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::node::{World, message_to};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RSA private-key operations per message, both nodes together: A seals (1) and signs the AS4 message (1);
/// B decrypts the AS4 key (1) and the XHE key (1), signs the Meddelandekvittens (1) and two AS4 receipts'
/// worth of signatures — its receipt to A (1) and the AS4 message carrying its Meddelandekvittens (1); A
/// decrypts that message's key (1) and signs its receipt (1); and the TLS handshakes — A→B mutual (2),
/// B→A mutual (2), the API call (1).
const RSA_OPS_PER_MESSAGE: f64 = 14.0;

fn rsa_sign_ms() -> f64 {
    let key = sdk_relay::pki::KeyAlgorithm::Rsa2048.generate().unwrap();
    let signer = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&key.serialize_der()).unwrap();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut out = vec![0u8; signer.public_modulus_len()];
    let n = 400;
    let start = Instant::now();
    for _ in 0..n {
        signer
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &rng,
                b"signed info",
                &mut out,
            )
            .unwrap();
    }
    start.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn event_time(m: &serde_json::Value, status: &str) -> Option<OffsetDateTime> {
    m["attributes"]["events"]
        .as_array()?
        .iter()
        .find(|e| e["typeCode"] == status)
        .and_then(|e| e["detail"].as_str())
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let per_level: usize = std::env::var("RELAY_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let world = Arc::new(World::new());
    let mut a = world.node(
        "kommun-a",
        "AP0001-SDK-TEST",
        "0203:kommun-a.example.se",
        &["registrator"],
    );
    let mut b = world.node(
        "region-b",
        "AP0002-SDK-TEST",
        "0203:region-b.example.se",
        &["socialtjanst"],
    );
    a.start();
    b.start();
    let text = "Lorem ipsum dolor sit amet. ".repeat(10 * 1024 / 28);
    let body = serde_json::to_vec(&message_to(&a, &b, "Bench", &text)).unwrap();
    let a = Arc::new(a);
    // Warm the SMP caches and connections.
    let warm =
        common::node::created_id(&a.post(&world.rt, &serde_json::from_slice(&body).unwrap()));
    a.wait_status(&world.rt, &warm, "ACCEPTED", Duration::from_secs(60));

    let sign_ms = rsa_sign_ms();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let bound = cores * 1000.0 / (RSA_OPS_PER_MESSAGE * sign_ms);
    println!(
        "RSA-2048 sign: {sign_ms:.3} ms; {RSA_OPS_PER_MESSAGE} private-key operations per message on {cores} cores → bound {bound:.0} messages/s"
    );
    println!("| concurrency | messages | msg/s | p50 ms | p95 ms | p99 ms | ratio to RSA bound |");
    println!("|---|---|---|---|---|---|---|");
    for concurrency in [1usize, 4, 16] {
        let ids = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let threads: Vec<_> = (0..concurrency)
            .map(|i| {
                let (world, a, ids, body) = (world.clone(), a.clone(), ids.clone(), body.clone());
                let share = per_level / concurrency + usize::from(i < per_level % concurrency);
                std::thread::spawn(move || {
                    for _ in 0..share {
                        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let id = common::node::created_id(&a.post(&world.rt, &value));
                        ids.lock().unwrap().push(id);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let ids = ids.lock().unwrap().clone();
        let latencies: Vec<f64> = loop {
            let listed = a.list(&world.rt, "filter[direction]=outbound");
            let done: Vec<&serde_json::Value> = listed
                .iter()
                .filter(|m| {
                    ids.iter().any(|id| m["id"] == id.as_str())
                        && m["attributes"]["messageStatus"] == "ACCEPTED"
                })
                .collect();
            if done.len() == ids.len() {
                break done
                    .iter()
                    .filter_map(|m| {
                        let from = event_time(m, "SCHEDULED")?;
                        let to = event_time(m, "ACCEPTED")?;
                        Some((to - from).as_seconds_f64() * 1000.0)
                    })
                    .collect();
            }
            assert!(
                start.elapsed() < Duration::from_secs(600),
                "not all accepted"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // Wall time from the first POST to the last ACCEPTED, as the nodes recorded it.
        let listed = a.list(&world.rt, "filter[direction]=outbound");
        let last = listed
            .iter()
            .filter(|m| ids.iter().any(|id| m["id"] == id.as_str()))
            .filter_map(|m| event_time(m, "ACCEPTED"))
            .max()
            .unwrap();
        let first = listed
            .iter()
            .filter(|m| ids.iter().any(|id| m["id"] == id.as_str()))
            .filter_map(|m| event_time(m, "SCHEDULED"))
            .min()
            .unwrap();
        let seconds = (last - first).as_seconds_f64();
        let rate = ids.len() as f64 / seconds;
        let mut sorted = latencies.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "| {concurrency} | {} | {rate:.1} | {:.1} | {:.1} | {:.1} | {:.1} % |",
            ids.len(),
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.95),
            percentile(&sorted, 0.99),
            100.0 * rate / bound
        );
    }
    println!(
        "peak memory: A {:.0} MB, B {:.0} MB",
        common::node::peak_memory_mb(&a),
        common::node::peak_memory_mb(&b)
    );
    b.stop();
}
