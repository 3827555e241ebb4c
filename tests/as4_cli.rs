//! `sdk-relay as4 pack|unpack|receipt` between two node data directories of one test federation.

mod common;

use common::pki::{relay, stderr, stdout};
use sdk_relay::pki::{KeyStore, Purpose};

#[test]
fn pack_unpack_and_receipt_between_two_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fed = common::pki::federation(&d.join("fed"), "as4-cli");
    let (ap1, ap2) = (d.join("ap1"), d.join("ap2"));
    common::pki::issue_into(
        &ap1,
        &fed,
        Purpose::Ap,
        "AP0001-SDK-TEST",
        &common::pki::fast(),
    );
    let id2 = common::pki::issue_into(
        &ap2,
        &fed,
        Purpose::Ap,
        "AP0002-SDK-TEST",
        &common::pki::fast(),
    );
    common::pki::trust_federation(&ap2, &fed);
    let ap2_cert = d.join("ap2.pem");
    let entry = KeyStore::open(&ap2).get(&id2).unwrap();
    std::fs::write(&ap2_cert, sdk_relay::pki::cert::to_pem(&entry.chain[..1])).unwrap();
    let xhe =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/documents/xhe-message.xml");
    let p = |x: &std::path::Path| x.to_str().unwrap().to_owned();

    let out = relay(
        &ap1,
        &[
            "as4",
            "pack",
            &p(&xhe),
            "--from",
            "AP0001-SDK-TEST",
            "--to",
            "AP0002-SDK-TEST",
            "--to-cert",
            &p(&ap2_cert),
            "--out",
            &p(&d.join("msg")),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let received = d.join("received");
    let out = relay(
        &ap2,
        &[
            "as4",
            "unpack",
            &p(&d.join("msg.body")),
            "--type-file",
            &p(&d.join("msg.type")),
            "--env",
            "as4-cli",
            "--out-dir",
            &p(&received),
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["accepted"], true);
    assert_eq!(report["original_sender"], "0203:kommun-a.example.se");
    assert_eq!(
        report["action"],
        "busdox-docid-qns::urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base"
    );
    assert_eq!(
        std::fs::read(received.join("payload-1.xml")).unwrap(),
        std::fs::read(&xhe).unwrap()
    );
    let out = relay(
        &ap1,
        &[
            "as4",
            "receipt",
            "verify",
            &p(&received.join("receipt.xml")),
            "--sent",
            &p(&d.join("msg.sent.json")),
            "--cert",
            &p(&ap2_cert),
        ],
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("valid receipt"));

    // `receipt make` verifies the same message and writes only the receipt.
    let only = d.join("receipt-only");
    let out = relay(
        &ap2,
        &[
            "as4",
            "receipt",
            "make",
            &p(&d.join("msg.body")),
            "--type-file",
            &p(&d.join("msg.type")),
            "--env",
            "as4-cli",
            "--out-dir",
            &p(&only),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(only.join("receipt.xml").exists() && !only.join("payload-1.xml").exists());

    // One byte of the body changed: refused with an ebMS error, and an Error signal written.
    let mut body = std::fs::read(d.join("msg.body")).unwrap();
    let at = body.len() - 100;
    body[at] ^= 0x55;
    std::fs::write(d.join("bad.body"), body).unwrap();
    let refused = d.join("refused");
    let out = relay(
        &ap2,
        &[
            "as4",
            "unpack",
            &p(&d.join("bad.body")),
            "--type-file",
            &p(&d.join("msg.type")),
            "--env",
            "as4-cli",
            "--out-dir",
            &p(&refused),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["accepted"], false);
    assert_eq!(report["error_code"], "EBMS:0102");
    let error = std::fs::read_to_string(refused.join("error.xml")).unwrap();
    assert!(error.contains("errorCode=\"EBMS:0102\""));
    assert!(!refused.join("payload-1.xml").exists());
}
