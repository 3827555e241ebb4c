//! Validation throughput: parse + every check (XSD structure, DIGG rules, SDK rules, both layers) of an XHE
//! carrying an SDK message, at 10 KB and at 5 MB. The two documents are also written to
//! `target/bench-data/` so the oracle can be timed on the same files.

mod support;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sdk_relay::envelope;
use sdk_relay::envelope::ids::TransportModel;
use sdk_relay::xml::Limits;

fn bench(c: &mut Criterion) {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&out).expect("bench-data dir");
    let limits = Limits::default();
    let mut group = c.benchmark_group("validate-xhe");
    for (name, size) in [("10KB", 10 * 1024), ("5MB", 5 * 1024 * 1024)] {
        let doc = support::envelope_of_size(size, TransportModel::Base);
        std::fs::write(out.join(format!("xhe-{name}.xml")), &doc).expect("write bench doc");
        let (_, violations) = envelope::check_bytes(doc.as_bytes(), &limits).expect("checks");
        assert!(violations.is_empty(), "{violations:?}");
        group.throughput(Throughput::Bytes(doc.len() as u64));
        if size > 1024 * 1024 {
            group.sample_size(20);
        }
        group.bench_function(name, |b| {
            b.iter(|| envelope::check_bytes(black_box(doc.as_bytes()), &limits).expect("checks"))
        });
        // The floor: parsing alone, with the same limits, so the cost of the checks shows as a ratio.
        group.bench_function(format!("{name}-parse-only"), |b| {
            b.iter(|| {
                sdk_relay::xml::parse_bytes(black_box(doc.as_bytes()), &limits)
                    .expect("parses")
                    .root()
                    .local()
                    .len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
