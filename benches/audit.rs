//! The audit log: durable appends one by one and in batches (records/s), `verify` over a log of one million
//! records (records/s), and `show` latency for one message in that log through the index.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sdk_relay::audit::{AuditIndex, AuditLog, Event, Options, verify};

fn event(i: u64) -> Event {
    Event {
        kind: "message.received".into(),
        outcome: "ok".into(),
        message_id: Some(format!("{:08x}-0b7a-4f3e-9d52-1a2b3c4d5e6f", i / 4)),
        conversation_id: Some(format!("conv-{}", i / 40)),
        org: Some("0203:goteborg.se".into()),
        sender: Some("0203:region-b.example.se".into()),
        receiver: Some("0203:goteborg.se".into()),
        peer_ap: Some("AP0045-SDK-QA".into()),
        detail: "AS4 message received, verified and stored".into(),
        ..Event::default()
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = AuditLog::open(dir.path(), Options::default(), None).expect("log");
    let mut group = c.benchmark_group("audit-append");
    let mut i = 0u64;
    group.throughput(Throughput::Elements(1));
    group.bench_function("one-by-one-durable", |b| {
        b.iter(|| {
            i += 1;
            log.append(black_box(event(i))).expect("append")
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("batch-of-100-durable", |b| {
        b.iter(|| {
            let batch: Vec<Event> = (0..100).map(|k| event(i + k)).collect();
            i += 100;
            log.append_batch(black_box(batch)).expect("append")
        })
    });
    group.finish();
    million();
}

/// One million records (written in durable batches of 1 000), then verify and show, timed once each.
fn million() {
    const N: u64 = 1_000_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let log = AuditLog::open(dir.path(), Options::default(), None).expect("log");
    let started = Instant::now();
    for chunk in 0..N / 1000 {
        log.append_batch((0..1000).map(|k| event(chunk * 1000 + k)).collect())
            .expect("append");
    }
    let written = started.elapsed();
    let started = Instant::now();
    let report = verify(dir.path()).expect("verify");
    let verified = started.elapsed();
    assert!(report.problem.is_none() && report.records == N);
    let index = AuditIndex::open(dir.path()).expect("index");
    let started = Instant::now();
    index.catch_up().expect("index");
    let indexed = started.elapsed();
    let message = format!("{:08x}-0b7a-4f3e-9d52-1a2b3c4d5e6f", 123_456u64);
    let started = Instant::now();
    let mut shown = 0;
    for _ in 0..100 {
        shown = index.records_of(Some(&message), None).expect("show").len();
    }
    let show = started.elapsed() / 100;
    assert_eq!(shown, 4);
    let bytes: u64 = std::fs::read_dir(dir.path().join("audit"))
        .expect("dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    eprintln!(
        "audit 1M records ({} MB on disk incl. index): written in durable batches of 1000 at {:.0} records/s; \
         verify {:.0} records/s ({:.1} s); index build {:.1} s; show one message {:.0} µs",
        bytes / 1_000_000,
        N as f64 / written.as_secs_f64(),
        N as f64 / verified.as_secs_f64(),
        verified.as_secs_f64(),
        indexed.as_secs_f64(),
        show.as_secs_f64() * 1e6
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
