//! `sdk-relay xhe`: the commands an administrator runs, their exit codes and what they say.

mod common;

use std::path::Path;

use common::o2o::Party;
use common::pki::{relay, stderr, stdout};

struct Files {
    dir: tempfile::TempDir,
    s: common::o2o::Setup,
    clear: std::path::PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let s = common::o2o::setup(dir.path(), "o2o-test");
    let clear = dir.path().join("clear.xml");
    std::fs::write(&clear, common::o2o::clear_envelope()).unwrap();
    Files { dir, s, clear }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs `sdk-relay xhe ARGS… --key K --cert C` with `party`'s key files.
fn xhe_with_key(f: &Files, party: &Party, args: &[&str]) -> std::process::Output {
    let mut all = vec!["xhe"];
    all.extend_from_slice(args);
    all.extend(["--key", p(&party.key_pem), "--cert", p(&party.cert_pem)]);
    relay(f.dir.path(), &all)
}

fn seal_file(f: &Files) -> std::path::PathBuf {
    let sealed = f.dir.path().join("sealed.xml");
    let out = xhe_with_key(
        f,
        &f.s.sender,
        &[
            "seal",
            p(&f.clear),
            "--to",
            p(&f.s.recipient.cert_pem),
            "-o",
            p(&sealed),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("CN=Region B"));
    sealed
}

#[test]
fn seal_then_open_with_files_gives_back_the_payload() {
    let f = files();
    let sealed = seal_file(&f);
    let out = xhe_with_key(
        &f,
        &f.s.recipient,
        &["open", p(&sealed), "--ca", p(&f.s.o2o_ca), "--payload"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("messageHeader"));
    assert!(
        stderr(&out).contains("signed by CN=Kommun A"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_says_when_the_chain_was_not_checked_and_checks_it_with_ca() {
    let f = files();
    let sealed = seal_file(&f);
    let bare = relay(f.dir.path(), &["xhe", "verify", p(&sealed)]);
    assert_eq!(bare.status.code(), Some(0));
    assert!(
        stdout(&bare).contains("chain NOT checked"),
        "{}",
        stdout(&bare)
    );

    let crl = f.s.o2o_ca.with_file_name("crl.pem");
    let json = relay(
        f.dir.path(),
        &[
            "xhe",
            "verify",
            p(&sealed),
            "--ca",
            p(&f.s.o2o_ca),
            "--crl",
            p(&crl),
            "--json",
        ],
    );
    assert_eq!(json.status.code(), Some(0), "{}", stdout(&json));
    let report: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["chain_checked"], true);
    assert_eq!(report["signer"]["subject"], "CN=Kommun A");

    // Another CA than the signer's: invalid (exit 1) with the reason.
    let wrong_ca =
        f.s.o2o_ca
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("ap-ca/cert.pem");
    let out = relay(
        f.dir.path(),
        &["xhe", "verify", p(&sealed), "--ca", p(&wrong_ca)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("untrusted"), "{}", stdout(&out));

    // Long after the certificate expired.
    let out = relay(
        f.dir.path(),
        &[
            "xhe",
            "verify",
            p(&sealed),
            "--ca",
            p(&f.s.o2o_ca),
            "--at",
            "2040-01-01T00:00:00Z",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["kind"], "untrusted-signer");
    assert!(report["reason"].as_str().unwrap().contains("expired"));
}

#[test]
fn a_tampered_envelope_is_invalid_and_does_not_open() {
    let f = files();
    let sealed = seal_file(&f);
    let text = std::fs::read_to_string(&sealed).unwrap();
    std::fs::write(&sealed, text.replacen("0203:kommun-a", "0203:kommun-x", 1)).unwrap();
    let out = relay(f.dir.path(), &["xhe", "verify", p(&sealed)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("digest"), "{}", stdout(&out));
    let out = xhe_with_key(&f, &f.s.recipient, &["open", p(&sealed)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).is_empty(),
        "nothing is written when the envelope does not open"
    );
    assert!(
        stderr(&out).contains("not opened: signature"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn keys_come_from_the_node_stores_when_no_files_are_given() {
    let f = files();
    let node = f.dir.path().join("node");
    common::pki::issue_into(
        &node,
        &f.s.fed,
        sdk_relay::pki::Purpose::O2oSign,
        "Kommun A",
        &common::pki::fast(),
    );
    let recipient = common::pki::issue_into(
        &node,
        &f.s.fed,
        sdk_relay::pki::Purpose::O2oEncrypt,
        "Region B",
        &common::pki::fast(),
    );
    common::pki::trust_federation(&node, &f.s.fed);
    let recipient_cert = node.join("recipient.pem");
    let entry = sdk_relay::pki::KeyStore::open(&node)
        .get(&recipient)
        .unwrap();
    std::fs::write(&recipient_cert, sdk_relay::pki::cert::to_pem(&entry.chain)).unwrap();
    let sealed = node.join("sealed.xml");
    let out = relay(
        &node,
        &[
            "xhe",
            "seal",
            p(&f.clear),
            "--to",
            p(&recipient_cert),
            "-o",
            p(&sealed),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = relay(
        &node,
        &["xhe", "open", p(&sealed), "--env", "o2o-test", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stderr(&out)).unwrap();
    assert_eq!(report["opened"], true);
    assert!(
        report["scope"]
            .as_str()
            .unwrap()
            .contains("node's O2O trust for o2o-test")
    );
}

#[test]
fn usage_errors_exit_2() {
    let f = files();
    // --key without --cert, an unknown file, a signed envelope given to decrypt.
    let out = relay(
        f.dir.path(),
        &["xhe", "sign", p(&f.clear), "--key", p(&f.s.sender.key_pem)],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = relay(
        f.dir.path(),
        &["xhe", "verify", "/nonexistent/envelope.xml"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/envelope.xml"));
    let sealed = seal_file(&f);
    let out = xhe_with_key(&f, &f.s.recipient, &["decrypt", p(&sealed)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("open it"), "{}", stderr(&out));
    // Signing an already signed envelope is refused with the reason.
    let out = xhe_with_key(&f, &f.s.sender, &["sign", p(&sealed)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already signed"), "{}", stderr(&out));
}
