//! Validation throughput: parse + every check (XSD structure, DIGG rules, SDK rules, both layers) of an XHE
//! carrying an SDK message, at 10 KB and at 5 MB. The two documents are also written to
//! `target/bench-data/` so the oracle can be timed on the same files.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sdk_relay::envelope::ids::{FEDERATION_SDK, TransportModel};
use sdk_relay::envelope::message::{
    Attention, ContentFile, DigitalDocument, Ii, MessageHeader, Party, timestamp_now,
};
use sdk_relay::envelope::{self, Message, Xhe};
use sdk_relay::xml::Limits;

fn envelope_of_size(target: usize) -> String {
    let id = envelope::ids::new_uuid();
    let mut message = Message {
        header: MessageHeader {
            creation_date_time: timestamp_now(),
            message_id: id.clone(),
            conversation_id: id,
            ref_to_message_id: None,
            label: Some("Kallelse till möte".into()),
            confidentiality: true,
            generating_system: None,
            recipient: Party {
                id: Ii::participant("0203:region-b.example.se"),
                label: Some("Region B".into()),
                attention: Some(Attention::function("socialtjanst")),
            },
            sender: Party {
                id: Ii::participant("0203:kommun-a.example.se"),
                label: Some("Kommun A".into()),
                attention: Some(Attention::function("registrator")),
            },
        },
        documents: vec![DigitalDocument {
            document_id: "1".into(),
            document_name: Some("Kallelse".into()),
            index: Some("1".into()),
            files: Vec::new(),
            texts: vec!["Hej! Välkommen till mötet.".into()],
        }],
    };
    let base = Xhe::for_message(message.clone(), FEDERATION_SDK, TransportModel::Base)
        .to_xml()
        .expect("valid")
        .len();
    // Base64 of a PDF-like payload fills the rest; 76-character lines as mail-style encoders write them.
    let fill = target.saturating_sub(base + 200);
    let line = "JVBERi0xLjcKJcTl8uXrp/Og0MTGCjQgMCBvYmoKPDwgL0xlbmd0aCA1IDAgUiAvRmlsdGVyIC9G\n";
    let content: String = line.repeat(fill / line.len() + 1)[..fill / 4 * 4].to_owned();
    message.documents[0].files.push(ContentFile {
        file_name: "kallelse.pdf".into(),
        content_type: "application/pdf".into(),
        content: content.replace('\n', "A"),
    });
    Xhe::for_message(message, FEDERATION_SDK, TransportModel::Base)
        .to_xml()
        .expect("valid")
}

fn bench(c: &mut Criterion) {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&out).expect("bench-data dir");
    let limits = Limits::default();
    let mut group = c.benchmark_group("validate-xhe");
    for (name, size) in [("10KB", 10 * 1024), ("5MB", 5 * 1024 * 1024)] {
        let doc = envelope_of_size(size);
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
