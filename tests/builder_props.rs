//! Random valid documents built through the builders: each one validates with our own checks (the writers
//! refuse anything else), reads back to the same typed value, and the official oracle finds every one valid.

mod common;

use std::cell::RefCell;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sdk_relay::envelope::ids::{self, TransportModel};
use sdk_relay::envelope::message::{
    Attention, ContentFile, DigitalDocument, Ii, MessageHeader, Party, Person, Reference,
    SubOrganization,
};
use sdk_relay::envelope::receipt::{LineResponse, ReasonCode};
use sdk_relay::envelope::xhe::{BusinessScope, Payload, PayloadContent};
use sdk_relay::envelope::{DocumentError, Message, Receipt, Xhe};
use sdk_relay::xml::Limits;

/// Cases in CI; each yields one document (plus its inner layer for envelopes) for the oracle.
const CASES: u32 = 240;

/// Free text: Swedish letters, XML's special characters, spaces inside but never only spaces.
fn text(max: usize) -> impl Strategy<Value = String> {
    let edge = "[a-zA-Z0-9åäöÅÄÖ&<>\"'/.:-]";
    let middle = format!(
        "[a-zA-Z0-9åäöÅÄÖ &<>\"'/.:,!?()\\-]{{0,{}}}",
        max.saturating_sub(2)
    );
    (
        edge,
        proptest::string::string_regex(&middle).expect("regex"),
        edge,
    )
        .prop_map(|(a, m, b)| format!("{a}{m}{b}"))
}

fn participant() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,15}\\.(se|org|nu)".prop_map(|d| format!("0203:{d}"))
}

fn uuid() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string())
}

/// (year, month, day, hour, minute, second): always a real calendar date.
fn date_time_parts() -> impl Strategy<Value = (u32, u32, u32, u32, u32, u32)> {
    (
        2000u32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
    )
}

fn timestamp() -> impl Strategy<Value = String> {
    (date_time_parts(), 0u32..1000).prop_map(|((y, mo, d, h, mi, s), ms)| {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    })
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn ii(root: &'static str) -> impl Strategy<Value = Ii> {
    text(30).prop_map(move |e| Ii::new(root, e))
}

fn attention() -> impl Strategy<Value = Attention> {
    let person = (
        proptest::option::of(ii("1.2.752.129.2.1.3.1")),
        proptest::option::of(text(40)),
    )
        .prop_filter("a person needs an id or a name", |(i, l)| {
            i.is_some() || l.is_some()
        })
        .prop_map(|(id, label)| Person { id, label });
    let reference =
        (ii("dnr"), proptest::option::of(text(40))).prop_map(|(id, label)| Reference { id, label });
    (
        proptest::collection::vec(person, 0..3),
        "[a-z][a-z0-9.-]{0,20}",
        proptest::option::of(text(60)),
        proptest::collection::vec(reference, 0..3),
    )
        .prop_map(|(persons, function, label, references)| Attention {
            persons,
            sub_organization: SubOrganization {
                id: Ii::functional_address(function),
                label,
            },
            references,
        })
}

fn document() -> impl Strategy<Value = DigitalDocument> {
    let file = (
        text(30),
        prop_oneof!["application/pdf", "text/plain", "image/png"],
        proptest::collection::vec(any::<u8>(), 1..300),
    )
        .prop_map(|(file_name, ct, bytes)| ContentFile {
            file_name,
            content_type: ct.to_owned(),
            content: base64(&bytes),
        });
    (
        text(40),
        proptest::option::of(text(60)),
        proptest::option::of("[1-9]"),
        proptest::collection::vec(file, 0..3),
        proptest::collection::vec(text(200), 1..3),
    )
        .prop_map(
            |(document_id, document_name, index, files, texts)| DigitalDocument {
                document_id,
                document_name,
                index,
                files,
                texts,
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    let parties = (
        participant(),
        proptest::option::of(text(60)),
        attention(),
        participant(),
        proptest::option::of(text(60)),
        proptest::option::of(attention()),
    );
    let header = (
        timestamp(),
        uuid(),
        proptest::option::of(uuid()),
        proptest::option::of(text(256)),
        any::<bool>(),
        proptest::option::of(ii("kodverk-id")),
        any::<bool>(),
    );
    (header, parties, proptest::collection::vec(document(), 1..3)).prop_map(
        |(
            (created, id, reply_to, label, confidential, system, new_thread),
            (to, to_label, to_att, from, from_label, from_att),
            documents,
        )| {
            Message {
                header: MessageHeader {
                    creation_date_time: created,
                    conversation_id: if new_thread {
                        id.clone()
                    } else {
                        uuid::Uuid::new_v4().to_string()
                    },
                    message_id: id,
                    ref_to_message_id: reply_to,
                    label,
                    confidentiality: confidential,
                    generating_system: system,
                    recipient: Party {
                        id: Ii::participant(to),
                        label: to_label,
                        attention: Some(to_att),
                    },
                    sender: Party {
                        id: Ii::participant(from),
                        label: from_label,
                        attention: from_att,
                    },
                },
                documents,
            }
        },
    )
}

fn receipt() -> impl Strategy<Value = Receipt> {
    let line = (
        prop_oneof![
            "NA".prop_map(String::from),
            "/[a-zA-Z/]{1,40}".prop_map(String::from)
        ],
        prop_oneof![
            Just(ReasonCode::Sv),
            Just(ReasonCode::Bv),
            Just(ReasonCode::Sig)
        ],
        proptest::option::of(prop_oneof![
            "invariant",
            "structure",
            "security",
            "not-found"
        ]),
        text(120),
    )
        .prop_map(|(line_id, code, c, status_reason)| LineResponse {
            line_id,
            code,
            status_reason_code: c,
            status_reason,
        });
    (
        participant(),
        participant(),
        uuid(),
        date_time_parts(),
        proptest::collection::vec(line, 0..4),
    )
        .prop_map(
            |(sender, receiver, reference, (y, mo, d, h, mi, s), lines)| {
                let mut r = if lines.is_empty() {
                    Receipt::accepted(&sender, &receiver, &reference)
                } else {
                    Receipt::rejected(&sender, &receiver, &reference, lines)
                };
                r.issue_date = format!("{y:04}-{mo:02}-{d:02}");
                r.issue_time = format!("{h:02}:{mi:02}:{s:02}Z");
                r
            },
        )
}

/// An envelope for a non-XML payload (base64 text), like DIGG's EDIFACT example: SDK's code lists for
/// messages and receipts do not apply to it.
fn non_sdk_envelope() -> impl Strategy<Value = Xhe> {
    (
        (uuid(), timestamp(), participant(), participant()),
        "[A-Z]{3,8}:[A-Z0-9:]{1,20}",
        prop_oneof![
            "application/EDIFACT",
            "application/pdf",
            "application/octet-stream"
        ],
        proptest::option::of("[a-z][a-z0-9.-]{0,20}"),
        proptest::collection::vec(any::<u8>(), 1..400),
    )
        .prop_map(
            |((id, created, from, to), doc_type, content_type, function, bytes)| Xhe {
                id,
                creation_date_time: created,
                scope: BusinessScope {
                    document_id: format!("urn:example:{}::tm-base", doc_type.to_lowercase()),
                    document_id_scheme: ids::DOCUMENT_ID_SCHEME.to_owned(),
                    process_id: "urn:example:process".to_owned(),
                    process_id_scheme: ids::PROCESS_ID_SCHEME.to_owned(),
                    federation_id: String::new(),
                },
                from,
                to,
                payload: Payload {
                    document_type_code: doc_type,
                    content_type_code: content_type.to_owned(),
                    handling_service_id: function,
                    content: PayloadContent::Text(base64(&bytes)),
                },
                signatures: 0,
            },
        )
}

#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // test data, built once per case
enum Built {
    Message(Message),
    Receipt(Receipt),
    Envelope(Box<Xhe>),
}

fn built() -> impl Strategy<Value = Built> {
    let federation = prop_oneof![Just(ids::FEDERATION_SDK), Just(ids::FEDERATION_TEST)];
    let tm = prop_oneof![
        Just(TransportModel::Base),
        Just(TransportModel::BaseExtSigEnc)
    ];
    prop_oneof![
        message().prop_map(Built::Message),
        receipt().prop_map(Built::Receipt),
        (message(), federation.clone(), tm.clone())
            .prop_map(|(m, f, t)| Built::Envelope(Box::new(Xhe::for_message(m, f, t)))),
        (receipt(), "[a-z][a-z0-9.-]{0,20}", federation.clone(), tm).prop_map(|(r, func, f, t)| {
            Built::Envelope(Box::new(Xhe::for_receipt(r, &func, f, t)))
        }),
        (non_sdk_envelope(), federation).prop_map(|(mut x, f)| {
            x.scope.federation_id = f.to_owned();
            Built::Envelope(Box::new(x))
        }),
    ]
}

/// The writer's output must read back, through validation, to the value that was written.
fn round_trip<T: PartialEq + std::fmt::Debug>(
    written: Result<String, DocumentError>,
    read: impl Fn(&[u8]) -> Result<T, DocumentError>,
    original: &T,
) -> Result<String, TestCaseError> {
    let xml = written.map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back = read(xml.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, original);
    Ok(xml)
}

#[test]
fn built_documents_are_valid_for_us_and_for_the_oracle() {
    let written: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let limits = Limits::default();
    runner
        .run(&built(), |b| {
            let xml = match &b {
                Built::Message(m) => round_trip(m.to_xml(), |x| Message::parse(x, &limits), m)?,
                Built::Receipt(r) => round_trip(r.to_xml(), |x| Receipt::parse(x, &limits), r)?,
                Built::Envelope(x) => {
                    round_trip(x.to_xml(), |b| Xhe::parse(b, &limits), x.as_ref())?
                }
            };
            written.borrow_mut().push(xml);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("a built document failed: {e}"));

    let written = written.into_inner();
    assert!(written.len() >= CASES as usize);
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for (i, xml) in written.iter().enumerate() {
        let p = tmp.path().join(format!("built-{i:04}.xml"));
        std::fs::write(&p, xml).expect("write");
        files.push(p);
        if let Some(inner) = common::plain_sdk_payload(xml.as_bytes()) {
            let p = tmp.path().join(format!("built-{i:04}-inner.xml"));
            std::fs::write(&p, inner).expect("write");
            files.push(p);
        }
    }
    let verdicts = common::oracle_validate(&files);
    let invalid: Vec<_> = verdicts
        .iter()
        .filter(|v| !v.valid)
        .map(|v| v.raw.to_string())
        .collect();
    println!(
        "{} built documents ({} files with inner layers), all judged by the oracle",
        written.len(),
        files.len()
    );
    assert!(
        invalid.is_empty(),
        "the oracle rejects built documents:\n{}",
        invalid.join("\n")
    );
}
