//! On every DIGG example and test-data file, our verdict equals the official oracle's (XSD with xmllint,
//! DIGG's rule files), and every DIGG rule id it reports, we report too.

mod common;

use sdk_relay::envelope::{self, DocumentError};
use sdk_relay::xml::Limits;

#[test]
fn digg_examples_agree_with_the_oracle() {
    let files = common::digg_documents();
    let tmp = tempfile::tempdir().expect("temp dir");
    // Inner layers of XHEs carrying plain SDK documents, judged by the oracle separately.
    let mut inner_files = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let bytes = std::fs::read(f).expect("read example");
        if let Some(inner) = common::plain_sdk_payload(&bytes) {
            let p = tmp.path().join(format!("inner-{i}.xml"));
            std::fs::write(&p, inner).expect("write inner payload");
            inner_files.push((i, p));
        }
    }
    let mut all = files.clone();
    all.extend(inner_files.iter().map(|(_, p)| p.clone()));
    let verdicts = common::oracle_validate(&all);
    let (outer, inner) = verdicts.split_at(files.len());

    let mut compared = 0;
    for (i, (file, oracle)) in files.iter().zip(outer).enumerate() {
        let bytes = std::fs::read(file).expect("read example");
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let ours = envelope::check_bytes(&bytes, &Limits::default());
        if oracle.doctype.is_none() {
            assert!(
                matches!(ours, Err(DocumentError::UnknownRoot { .. })),
                "{name}: the oracle does not know this root, nor should we: {ours:?}"
            );
            continue;
        }
        let (doctype, violations) = ours.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            Some(doctype.name()),
            oracle.doctype.as_deref(),
            "{name}: doctype"
        );
        let inner_valid = inner_files
            .iter()
            .position(|(j, _)| *j == i)
            .is_none_or(|k| inner[k].valid);
        let oracle_valid = oracle.valid && inner_valid;
        assert_eq!(
            violations.is_empty(),
            oracle_valid,
            "{name}: our verdict differs from the oracle's.\nours: {violations:#?}\noracle: {}",
            oracle.raw
        );
        for id in common::digg_rule_ids(oracle) {
            assert!(
                violations.iter().any(|v| v.rule == id),
                "{name}: the oracle reports {id}, we do not: {violations:#?}"
            );
        }
        let xsd_ours = violations.iter().any(|v| v.rule.starts_with("XSD-"));
        assert_eq!(
            xsd_ours, !oracle.xsd_valid,
            "{name}: XSD verdict differs: {violations:#?}"
        );
        compared += 1;
    }
    // Six XHE/message files valid, two test files invalid, five receipts: all typed documents compared.
    assert!(compared >= 13, "compared only {compared} documents");
    // The two invalid test-data files must be among them, so the comparison is not all-valid.
    assert!(
        outer
            .iter()
            .filter(|o| o.doctype.is_some() && !o.valid)
            .count()
            >= 2
    );
}

/// The sample documents shipped in `examples/documents/` (written by our builders) are valid for the oracle
/// and for us.
#[test]
fn shipped_sample_documents_are_valid_for_the_oracle() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/documents");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/documents")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    for f in &files {
        let (_, violations) =
            envelope::check_bytes(&std::fs::read(f).expect("read"), &Limits::default())
                .expect("typed document");
        assert!(violations.is_empty(), "{}: {violations:?}", f.display());
    }
    for v in common::oracle_validate(&files) {
        assert!(v.valid, "the oracle rejects {}: {}", v.file, v.raw);
    }
}

/// Every valid DIGG document reads as a typed value and writes back (through our writers) to a document that
/// both we and the oracle find valid: the typed model keeps everything the rules need, whatever the payload
/// (an SDK message, a v2 message, EDIFACT text, an encrypted payload).
#[test]
fn valid_digg_documents_survive_read_and_write() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut written = Vec::new();
    for f in common::digg_documents() {
        let bytes = std::fs::read(&f).expect("read");
        let Ok(doc) = envelope::Document::parse(&bytes, &Limits::default()) else {
            continue;
        };
        let xml = match doc {
            envelope::Document::Xhe(x) => x.to_xml(),
            envelope::Document::Message(m) => m.to_xml(),
            envelope::Document::Receipt(r) => r.to_xml(),
        }
        .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let out = tmp.path().join(f.file_name().expect("file name"));
        std::fs::write(&out, xml).expect("write");
        written.push(out);
    }
    assert!(
        written.len() >= 11,
        "only {} valid DIGG documents",
        written.len()
    );
    for v in common::oracle_validate(&written) {
        assert!(
            v.valid,
            "the oracle rejects our rewrite of {}: {}",
            v.file, v.raw
        );
    }
}
