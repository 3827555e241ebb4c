//! Sealing and opening XHE envelopes (SDK "Utökad Bas"), and interoperability with xmlsec1 in both directions
//! for both the signature and the payload encryption.

mod common;

use std::process::Command;

use common::o2o::{self, Setup};
use sdk_relay::xml::{Limits, parse};
use sdk_relay::xmlsec::{self, SignerPolicy};

/// Runs xmlsec1 (Debian's, the independent implementation) and insists it succeeded.
fn xmlsec1(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = Command::new("xmlsec1")
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("xmlsec1 is installed (.ci/run installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "xmlsec1 {:?} failed: {stderr}",
        args.iter()
            .map(|a| a.as_ref().to_owned())
            .collect::<Vec<_>>()
    );
    stderr
}

fn setup() -> (tempfile::TempDir, Setup) {
    let dir = tempfile::tempdir().unwrap();
    let setup = o2o::setup(dir.path(), "o2o-test");
    (dir, setup)
}

fn sealed(s: &Setup) -> String {
    let clear = o2o::clear_envelope();
    let doc = parse(&clear, &Limits::default()).unwrap();
    xmlsec::seal(&doc, &s.sender.signing_key(), &s.recipient.cert).expect("seal")
}

#[test]
fn sealed_envelope_opens_to_the_original_payload() {
    let (_dir, s) = setup();
    let clear = o2o::clear_envelope();
    let sealed = sealed(&s);
    assert!(!sealed.contains("messageHeader"), "payload still readable");
    let doc = parse(&sealed, &Limits::default()).unwrap();
    let opened =
        xmlsec::open(&doc, &SignerPolicy::default(), &s.recipient.payload_key()).expect("open");
    assert_eq!(opened.signer, s.sender.cert);
    assert_eq!(
        o2o::payload_of(&opened.decrypted.xhe),
        o2o::payload_of(&clear)
    );
    assert!(
        opened
            .decrypted
            .xhe
            .contains("<InstanceEncryptionIndicator>false<")
    );
    assert!(!opened.decrypted.xhe.contains("Signature"));
}

#[test]
fn xmlsec1_verifies_our_signature_with_the_federation_chain() {
    let (dir, s) = setup();
    let signed = dir.path().join("sealed.xml");
    std::fs::write(&signed, sealed(&s)).unwrap();
    // Through the oracle (embedded certificate) and with xmlsec1 building the chain to our test O2O CA.
    assert_eq!(common::oracle_verify(&signed), Some(true));
    let report = xmlsec1(&[&"--verify", &"--trusted-pem", &s.o2o_ca, &signed]);
    assert!(report.contains("OK"), "{report}");
}

#[test]
fn we_verify_a_signature_made_by_xmlsec1() {
    let (dir, s) = setup();
    let clear = o2o::clear_envelope();
    let template = clear.replace(
        "</x:XHE>",
            "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>\
<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
<ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/></ds:Transforms>\
<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>\
<ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature></x:XHE>",
    );
    let template_path = dir.path().join("template.xml");
    let signed_path = dir.path().join("signed-by-xmlsec1.xml");
    std::fs::write(&template_path, template).unwrap();
    let key_and_cert = format!(
        "{},{}",
        s.sender.key_pem.display(),
        s.sender.cert_pem.display()
    );
    xmlsec1(&[
        &"--sign",
        &"--privkey-pem",
        &key_and_cert,
        &"--output",
        &signed_path,
        &template_path,
    ]);
    let bytes = std::fs::read(&signed_path).unwrap();
    let doc = sdk_relay::xml::parse_bytes(&bytes, &Limits::default()).unwrap();
    let verified = xmlsec::verify_enveloped(&doc).expect("xmlsec1's signature verifies with ours");
    assert_eq!(verified.signer, s.sender.cert);
    // And the same document changed by one character after signing is refused.
    let tampered = String::from_utf8(bytes)
        .unwrap()
        .replacen("0203:", "0203:x", 1);
    let doc = parse(&tampered, &Limits::default()).unwrap();
    assert!(matches!(
        xmlsec::verify_enveloped(&doc),
        Err(xmlsec::SignatureError::Invalid(_))
    ));
}

#[test]
fn xmlsec1_decrypts_our_encryption() {
    let (dir, s) = setup();
    let clear = o2o::clear_envelope();
    for (name, document) in [("xml", clear.clone()), ("non-xml", nonxml_envelope())] {
        let doc = parse(&document, &Limits::default()).unwrap();
        let encrypted = xmlsec::encrypt_payload(&doc, &s.recipient.cert).expect("encrypt");
        let encrypted_path = dir.path().join(format!("encrypted-{name}.xml"));
        let decrypted_path = dir.path().join(format!("decrypted-{name}.xml"));
        std::fs::write(&encrypted_path, &encrypted).unwrap();
        xmlsec1(&[
            &"--decrypt",
            &"--privkey-pem",
            &format!(
                "{},{}",
                s.recipient.key_pem.display(),
                s.recipient.cert_pem.display()
            ),
            &"--output",
            &decrypted_path,
            &encrypted_path,
        ]);
        let decrypted = std::fs::read_to_string(&decrypted_path).unwrap();
        assert_eq!(payload_text(&decrypted), payload_text(&document), "{name}");
        if name == "xml" {
            assert_eq!(o2o::payload_of(&decrypted), o2o::payload_of(&clear));
        }
    }
}

#[test]
fn we_decrypt_xmlsec1_encryption_and_open_it_once_signed() {
    let (dir, s) = setup();
    let clear = o2o::clear_envelope();
    let data_path = dir.path().join("clear.xml");
    std::fs::write(
        &data_path,
        clear.replace(
            "<InstanceEncryptionIndicator>false<",
            "<InstanceEncryptionIndicator>true<",
        ),
    )
    .unwrap();
    let template_path = dir.path().join("enc-template.xml");
    std::fs::write(
        &template_path,
        "<EncryptedData xmlns=\"http://www.w3.org/2001/04/xmlenc#\" Type=\"http://www.w3.org/2001/04/xmlenc#Element\">\
<EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#aes256-cbc\"/>\
<KeyInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><EncryptedKey xmlns=\"http://www.w3.org/2001/04/xmlenc#\">\
<EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\"/>\
<KeyInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><X509Data/></KeyInfo>\
<CipherData><CipherValue/></CipherData></EncryptedKey></KeyInfo>\
<CipherData><CipherValue/></CipherData></EncryptedData>",
    )
    .unwrap();
    let encrypted_path = dir.path().join("encrypted-by-xmlsec1.xml");
    xmlsec1(&[
        &"--encrypt",
        &"--pubkey-cert-pem",
        &s.recipient.cert_pem,
        &"--session-key",
        &"aes-256",
        &"--xml-data",
        &data_path,
        &"--node-xpath",
        &"//*[local-name()='PayloadContent']/*",
        &"--output",
        &encrypted_path,
        &template_path,
    ]);
    let encrypted = std::fs::read_to_string(&encrypted_path).unwrap();
    assert!(
        !encrypted.contains("messageHeader"),
        "xmlsec1 left the payload in clear"
    );
    let doc = parse(&encrypted, &Limits::default()).unwrap();
    let decrypted =
        xmlsec::decrypt_unsigned(&doc, &s.recipient.payload_key()).expect("decrypt xmlsec1's");
    assert_eq!(o2o::payload_of(&decrypted.xhe), o2o::payload_of(&clear));
    // Signed by us, the xmlsec1-encrypted envelope opens as any other.
    let signed = xmlsec::sign_enveloped(&doc, &s.sender.signing_key()).unwrap();
    let doc = parse(&signed, &Limits::default()).unwrap();
    let opened = xmlsec::open(&doc, &SignerPolicy::default(), &s.recipient.payload_key()).unwrap();
    assert_eq!(
        o2o::payload_of(&opened.decrypted.xhe),
        o2o::payload_of(&clear)
    );
}

/// DIGG's non-XML example: the payload is base64 text, encrypted as `xmlenc#Content`.
fn nonxml_envelope() -> String {
    std::fs::read_to_string(common::sdk_docs().join("xhe/examples/XHE-NonXML-tm-base.xml"))
        .unwrap()
        .trim_start_matches('\u{feff}')
        .to_owned()
}

/// The text content of `xha:PayloadContent`, whitespace removed (for non-XML payloads).
fn payload_text(xhe: &str) -> String {
    let doc = parse(xhe, &Limits::default()).unwrap();
    let content = doc
        .root()
        .descendants_or_self()
        .into_iter()
        .find(|e| e.local() == "PayloadContent")
        .unwrap();
    content.string_value().split_whitespace().collect()
}

#[test]
fn non_xml_payload_is_sealed_as_content_and_opens_to_the_same_text() {
    let (_dir, s) = setup();
    let original = nonxml_envelope();
    let doc = parse(&original, &Limits::default()).unwrap();
    let sealed = xmlsec::seal(&doc, &s.sender.signing_key(), &s.recipient.cert).unwrap();
    assert!(sealed.contains("Type=\"http://www.w3.org/2001/04/xmlenc#Content\""));
    let doc = parse(&sealed, &Limits::default()).unwrap();
    let opened = xmlsec::open(&doc, &SignerPolicy::default(), &s.recipient.payload_key()).unwrap();
    assert_eq!(opened.decrypted.kind, xmlsec::EncryptedType::Content);
    assert_eq!(payload_text(&opened.decrypted.xhe), payload_text(&original));
}

#[test]
fn sealed_envelope_is_valid_for_validate_and_for_the_official_rules() {
    let (dir, s) = setup();
    let path = dir.path().join("sealed.xml");
    std::fs::write(&path, sealed(&s)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sdk-relay"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "validate: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("xhe: valid"), "{stdout}");
    let oracle = common::oracle_validate(std::slice::from_ref(&path));
    assert!(oracle[0].valid, "oracle: {:?}", oracle[0].raw);
    // The official rules notice an indicator that lies about the payload (R12-XHE).
    let lying = dir.path().join("lying.xml");
    std::fs::write(
        &lying,
        sealed(&s).replace(
            "<InstanceEncryptionIndicator>true<",
            "<InstanceEncryptionIndicator>false<",
        ),
    )
    .unwrap();
    let oracle = common::oracle_validate(std::slice::from_ref(&lying));
    assert!(!oracle[0].valid);
    assert!(common::digg_rule_ids(&oracle[0]).contains(&"R13-XHE".to_owned()));
    let out = Command::new(env!("CARGO_BIN_EXE_sdk-relay"))
        .arg("validate")
        .arg(&lying)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("R13-XHE"));
}
