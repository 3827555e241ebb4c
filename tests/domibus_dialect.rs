//! Talking to Domibus (issue 19): independent Java implementations of WS-Security — Apache Santuario 2.1 and
//! WSS4J 1.6, the libraries under Domibus's CXF — against sdk-relay, through `tests/java/Dialect.java`.
//!
//! - Santuario verifies every signature sdk-relay writes: a UserMessage (its cid: attachment references over
//!   the bytes sdk-relay digests), a receipt, and an Error signal (a signed SOAP Fault, issue 19 point 5).
//! - Receipts signed by WSS4J in the Domibus layout — InclusiveNamespaces PrefixLists in SignedInfo and in
//!   every reference, the key named by BinarySecurityToken, X509SubjectKeyIdentifier, ThumbprintSHA1 or
//!   X509IssuerSerial — are accepted from the expected receiving AP and refused from anyone else, and a
//!   PrefixList cannot be used to change a namespace binding unnoticed, nor a signed eb:Messaging be moved.
//! - A UserMessage re-signed in the Domibus layout is taken in by `pack::unpack` and `sdk-relay as4 unpack`;
//!   one that names its key by subject key identifier is refused (a message must carry its certificate).

mod common;
#[macro_use]
#[path = "common/java.rs"]
mod java;

use std::path::{Path, PathBuf};

use common::as4::{Net, net, receive, send, signer, xhe};
use common::pki::{relay, stderr, stdout};
use sdk_relay::as4::ErrorCode;
use sdk_relay::as4::mime::{self, MimeLimits, Part};
use sdk_relay::as4::pack::{self, Packed};
use sdk_relay::as4::wsenc;
use sdk_relay::xml::names::{DS, S12, WSSE};
use sdk_relay::xml::{El, Limits, parse};

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ATTACHMENT_CONTENT: &str = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform";
const KEY_REFERENCES: [&str; 4] = ["bst", "ski", "thumbprint", "issuerserial"];

struct Scene {
    n: Net,
    dir: tempfile::TempDir,
}

fn scene() -> Scene {
    Scene {
        n: net(),
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Scene {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name))
            .unwrap_or_else(|e| panic!("{name}: {e} (the Java helper did not write it?)"))
    }

    /// sdk-relay's own receipt for `packed`, signed by the receiving AP.
    fn receipt_for(&self, packed: &Packed) -> String {
        let received = receive(&self.n, &packed.content_type, &packed.body)
            .expect("sdk-relay takes its own message");
        pack::receipt(&received, &signer(&self.n.receiver)).unwrap()
    }

    /// `sign-receipt IN OUT` with `who`'s key (AP0002 is the expected signer) and `keyref`, plus `extra`.
    fn sign_receipt(
        &self,
        input: &Path,
        out: &str,
        who: &common::o2o::Party,
        keyref: &str,
        extra: &[&str],
    ) -> Vec<String> {
        let mut c = cmd![
            "sign-receipt",
            input,
            self.path(out),
            "--key",
            who.key_pem,
            "--cert",
            who.cert_pem,
            "--keyref",
            keyref
        ];
        c.extend(extra.iter().map(|s| s.to_string()));
        c
    }
}

/// The SOAP part of a packed message, its (encrypted) MIME attachments, and each attachment's plaintext: the
/// compressed content, which is what the Attachment-Content-Signature-Transform digests (pack.rs digests the
/// gzip output before it encrypts).
struct Opened {
    soap: Vec<u8>,
    attachments: Vec<Part>,
    plain: Vec<(String, Vec<u8>)>,
}

fn open(n: &Net, packed: &Packed) -> Opened {
    let multipart = mime::read(&packed.content_type, &packed.body, &MimeLimits::default())
        .expect("our own MIME body");
    let doc = sdk_relay::xml::parse_bytes(&multipart.soap.body, &Limits::default()).unwrap();
    let security = doc
        .root()
        .child(S12, "Header")
        .and_then(|h| h.child(WSSE, "Security"))
        .expect("a Security header");
    let (parts, key) =
        wsenc::read(security, &n.receiver.payload_key()).expect("our own encryption");
    let mut plain = Vec::new();
    for part in &parts {
        let sealed = multipart
            .attachments
            .iter()
            .find(|a| a.content_id == part.content_id)
            .expect("the encrypted part");
        let mut out = Vec::new();
        wsenc::decrypt(part, &key, &mut &sealed.body[..], &mut out).expect("decrypts");
        plain.push((part.content_id.clone(), out));
    }
    Opened {
        soap: multipart.soap.body.clone(),
        attachments: multipart.attachments,
        plain,
    }
}

/// `s` with the one occurrence of `from` replaced by `to`.
fn replace_once(s: &str, from: &str, to: &str) -> String {
    assert_eq!(s.matches(from).count(), 1, "{from:?} once in the document");
    s.replacen(from, to, 1)
}

/// The `<eb:Messaging …>…</eb:Messaging>` of a SOAP envelope, as written, and where it starts.
fn messaging(xml: &str) -> (usize, &str) {
    let start = xml.find("<eb:Messaging").expect("eb:Messaging");
    let end = xml.find("</eb:Messaging>").expect("</eb:Messaging>") + "</eb:Messaging>".len();
    assert_eq!(xml.matches("<eb:Messaging").count(), 1);
    (start, &xml[start..end])
}

/// What the signature of a SOAP envelope looks like: how it canonicalizes, what it references with which
/// PrefixList, and how it names its key.
#[derive(Debug)]
struct Layout {
    signatures: usize,
    signed_info_prefixes: Option<String>,
    /// (URI, transform algorithm, PrefixList)
    references: Vec<(String, String, Option<String>)>,
    /// "Reference #id", "KeyIdentifier <ValueType>" or "X509IssuerSerial".
    key_ref: String,
    signature_value: String,
}

fn prefix_list(method: El<'_, '_>) -> Option<String> {
    method
        .child(EXC_C14N, "InclusiveNamespaces")
        .and_then(|i| i.attr("PrefixList"))
        .map(str::to_owned)
}

fn layout(xml: &str) -> Layout {
    let doc = parse(xml, &Limits::default()).expect("parses");
    let security = doc
        .root()
        .child(S12, "Header")
        .and_then(|h| h.child(WSSE, "Security"))
        .expect("Security header");
    let signatures = security.children_named(DS, "Signature").count();
    let signature = security.child(DS, "Signature").expect("a signature");
    let signed_info = signature.child(DS, "SignedInfo").unwrap();
    let c14n = signed_info.child(DS, "CanonicalizationMethod").unwrap();
    let references = signed_info
        .children_named(DS, "Reference")
        .map(|r| {
            let t = r
                .child(DS, "Transforms")
                .and_then(|t| t.child(DS, "Transform"))
                .unwrap();
            (
                r.attr("URI").unwrap_or_default().to_owned(),
                t.attr("Algorithm").unwrap_or_default().to_owned(),
                prefix_list(t),
            )
        })
        .collect();
    let str_ = signature
        .child(DS, "KeyInfo")
        .and_then(|k| k.child(WSSE, "SecurityTokenReference"))
        .expect("KeyInfo/SecurityTokenReference");
    let inner = str_.children().next().expect("a key reference");
    let key_ref = match inner.local() {
        "Reference" => format!("Reference {}", inner.attr("URI").unwrap_or_default()),
        "KeyIdentifier" => format!(
            "KeyIdentifier {}",
            inner.attr("ValueType").unwrap_or_default()
        ),
        "X509Data" if inner.child(DS, "X509IssuerSerial").is_some() => "X509IssuerSerial".into(),
        other => other.to_owned(),
    };
    Layout {
        signatures,
        signed_info_prefixes: prefix_list(c14n),
        references,
        key_ref,
        signature_value: signature
            .child(DS, "SignatureValue")
            .map(|v| v.text())
            .unwrap_or_default(),
    }
}

fn expected_key_ref(keyref: &str) -> &'static str {
    match keyref {
        "bst" => "Reference #",
        "ski" => {
            "KeyIdentifier http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier"
        }
        "thumbprint" => {
            "KeyIdentifier http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#ThumbprintSHA1"
        }
        "issuerserial" => "X509IssuerSerial",
        _ => unreachable!(),
    }
}

/// The PrefixList of the reference to `uri`.
fn reference_prefixes(l: &Layout, uri: &str) -> String {
    l.references
        .iter()
        .find(|(u, ..)| u == uri)
        .unwrap_or_else(|| panic!("a reference to {uri}: {l:?}"))
        .2
        .clone()
        .unwrap_or_else(|| panic!("the reference to {uri} has no PrefixList: {l:?}"))
}

fn has_prefix(list: &str, prefix: &str) -> bool {
    list.split_ascii_whitespace().any(|p| p == prefix)
}

// ------------------------------------------------------------------------------------------------------------
// (a) Santuario verifies what sdk-relay signs.

#[test]
fn santuario_verifies_every_signature_sdk_relay_writes() {
    let s = scene();
    let n = &s.n;
    let second: &[u8] = b"\x00\x01\x02 a second, binary payload \xff";
    let packed = send(n, &n.sender, &[&xhe(), second]);
    let opened = open(n, &packed);
    assert_eq!(opened.plain.len(), 2);
    let msg = s.write("message.xml", &opened.soap);
    let mut attachments = Vec::new();
    for (i, (cid, bytes)) in opened.plain.iter().enumerate() {
        // The plaintext is the gzip stream, not the payload (pack.rs signs what it sends, compressed).
        assert_eq!(&bytes[..2], b"\x1f\x8b", "attachment {cid} is gzip");
        let file = s.write(&format!("attachment-{i}.bin"), bytes);
        attachments.push(format!("--attachment\t{cid}={}", file.display()));
    }
    let with = |c: Vec<String>, atts: &[String]| -> Vec<String> {
        let mut c = c;
        for a in atts {
            c.extend(a.split('\t').map(str::to_owned));
        }
        c
    };
    let receipt = s.receipt_for(&packed);
    let receipt_file = s.write("receipt.xml", &receipt);

    // Mutants, so that the oracle is seen to refuse.
    let soap = String::from_utf8(opened.soap.clone()).unwrap();
    let tampered_messaging = s.write(
        "message-conversation.xml",
        replace_once(
            &soap,
            "<eb:ConversationId>conversation-1<",
            "<eb:ConversationId>conversation-2<",
        ),
    );
    let mut flipped = opened.plain[1].1.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let flipped_file = s.write("attachment-1-flipped.bin", &flipped);
    let flipped_atts = [
        attachments[0].clone(),
        format!(
            "--attachment\t{}={}",
            opened.plain[1].0,
            flipped_file.display()
        ),
    ];
    let (_, m) = messaging(&receipt);
    let forged_ref = m.replace(&packed.message_id, "another@sdk-relay");
    let tampered_receipt = s.write("receipt-ref.xml", receipt.replace(m, &forged_ref));
    let error = sdk_relay::as4::error_signal::write_signed(
        Some(&packed.message_id),
        &[sdk_relay::as4::EbmsError::not_serviced("0203:b.example.se")],
        sdk_relay::as4::error::FaultCode::Sender,
        &signer(&n.receiver),
    )
    .unwrap();
    assert!(error.contains("<S12:Fault>"), "{error}");
    let error_file = s.write("error.xml", &error);
    let tampered_error = s.write(
        "error-code.xml",
        replace_once(&error, "S12:Sender</S12:Value>", "S12:Receiver</S12:Value>"),
    );

    let o = java::dialect().batch(&[
        with(cmd!["verify", msg], &attachments),
        cmd!["verify", receipt_file],
        cmd!["verify", msg],
        with(cmd!["verify", tampered_messaging], &attachments),
        with(cmd!["verify", msg], &flipped_atts),
        cmd!["verify", tampered_receipt],
        cmd!["verify", receipt_file, "--cert", n.stranger.cert_pem],
        cmd!["verify", error_file],
        cmd!["verify", tampered_error],
    ]);
    // The message: Messaging, Body, Timestamp and both attachments, each digested by Santuario.
    assert!(
        o[0].ok,
        "Santuario refuses sdk-relay's UserMessage: {}",
        o[0].message
    );
    for uri in ["#_ebmessaging", "#_body", "#_timestamp"]
        .into_iter()
        .map(str::to_owned)
        .chain(opened.plain.iter().map(|(cid, _)| format!("cid:{cid}")))
    {
        assert!(
            o[0].message.contains(&format!("reference {uri}: ok")),
            "{uri} checked: {}",
            o[0].message
        );
    }
    assert!(o[0].message.contains("signer: CN=AP0001-SDK-TEST"));
    assert!(
        o[1].ok,
        "Santuario refuses sdk-relay's receipt: {}",
        o[1].message
    );
    assert!(o[1].message.contains("signer: CN=AP0002-SDK-TEST"));
    // Without the attachment bytes the cid: references cannot be checked, and that is a failure.
    assert!(
        !o[2].ok && o[2].message.contains("no --attachment given"),
        "{}",
        o[2].message
    );
    assert!(
        !o[3].ok
            && o[3]
                .message
                .contains("reference #_ebmessaging: DIGEST MISMATCH"),
        "{}",
        o[3].message
    );
    let cid1 = format!("reference cid:{}: DIGEST MISMATCH", opened.plain[1].0);
    assert!(!o[4].ok && o[4].message.contains(&cid1), "{}", o[4].message);
    assert!(
        !o[5].ok
            && o[5]
                .message
                .contains("reference #_ebmessaging: DIGEST MISMATCH"),
        "{}",
        o[5].message
    );
    assert!(
        !o[6].ok && o[6].message.contains("signature value: BAD"),
        "{}",
        o[6].message
    );
    // The Error signal: Messaging (with the eb:Error), the Body holding the Fault, and the Timestamp.
    assert!(
        o[7].ok,
        "Santuario refuses sdk-relay's Error signal: {}",
        o[7].message
    );
    for uri in ["#_ebmessaging", "#_body", "#_timestamp"] {
        assert!(
            o[7].message.contains(&format!("reference {uri}: ok")),
            "{uri} checked: {}",
            o[7].message
        );
    }
    assert!(o[7].message.contains("signer: CN=AP0002-SDK-TEST"));
    assert!(
        !o[8].ok && o[8].message.contains("reference #_body: DIGEST MISMATCH"),
        "the Fault is signed: {}",
        o[8].message
    );
}

// ------------------------------------------------------------------------------------------------------------
// (b) Receipts in the Domibus layout.

#[test]
fn domibus_receipts_are_accepted_for_every_key_reference() {
    let s = scene();
    let n = &s.n;
    let packed = send(n, &n.sender, &[&xhe()]);
    let unsigned = s.write("receipt.xml", s.receipt_for(&packed));
    let mut commands = Vec::new();
    let mut files = Vec::new();
    for keyref in KEY_REFERENCES {
        for engine in ["wss4j", "santuario"] {
            let out = format!("{engine}-{keyref}.xml");
            commands.push(s.sign_receipt(
                &unsigned,
                &out,
                &n.receiver,
                keyref,
                &["--engine", engine],
            ));
            files.push((out, engine, keyref, true));
        }
    }
    // WSS4J without WS-I BSP compliance writes no PrefixLists: plain exclusive C14N.
    commands.push(s.sign_receipt(
        &unsigned,
        "wss4j-plain.xml",
        &n.receiver,
        "bst",
        &["--no-prefixlist"],
    ));
    files.push(("wss4j-plain.xml".into(), "wss4j", "bst", false));
    for (file, ..) in &files {
        commands.push(cmd!["verify", s.path(file), "--cert", n.receiver.cert_pem]);
    }
    let o = java::dialect().batch(&commands);
    let (signed, verified) = o.split_at(files.len());
    for ((file, engine, keyref, prefixes), (sign, check)) in
        files.iter().zip(signed.iter().zip(verified))
    {
        assert!(sign.ok, "{file}: {}", sign.message);
        assert!(check.ok, "{file}: Santuario: {}", check.message);
        let xml = s.read(file);
        let l = layout(&xml);
        assert_eq!(l.signatures, 1, "{file}");
        assert!(
            l.key_ref.starts_with(expected_key_ref(keyref)),
            "{file}: {}",
            l.key_ref
        );
        assert_eq!(
            l.references
                .iter()
                .map(|r| r.0.as_str())
                .collect::<Vec<_>>(),
            ["#_ebmessaging", "#_body", "#_timestamp"],
            "{file}"
        );
        if *prefixes {
            // The Domibus layout: the envelope's prefixes in SignedInfo, and a PrefixList in every reference
            // (for the Timestamp, the prefixes declared above it that it does not use itself).
            assert_eq!(l.signed_info_prefixes.as_deref(), Some("S12 wsu"), "{file}");
            assert!(
                has_prefix(&reference_prefixes(&l, "#_timestamp"), "wsse"),
                "{file}: {l:?}"
            );
        } else {
            assert_eq!(l.signed_info_prefixes, None, "{file}");
            assert!(l.references.iter().all(|r| r.2.is_none()), "{file}");
        }
        if *keyref != "bst" {
            assert!(
                !xml.contains("BinarySecurityToken"),
                "{file}: a {keyref} receipt carries no token"
            );
        }
        pack::verify_receipt(xml.as_bytes(), &packed, &n.receiver.cert).unwrap_or_else(|e| {
            panic!("{engine} receipt with {keyref} key reference ({file}) refused: {e}")
        });
    }
}

#[test]
fn receipts_signed_by_another_certificate_are_refused() {
    let s = scene();
    let n = &s.n;
    let packed = send(n, &n.sender, &[&xhe()]);
    let unsigned = s.write("receipt.xml", s.receipt_for(&packed));
    let mut commands = Vec::new();
    for keyref in KEY_REFERENCES {
        // AP0003, a valid AP of the same federation, signs and names itself.
        commands.push(s.sign_receipt(
            &unsigned,
            &format!("stranger-{keyref}.xml"),
            &n.stranger,
            keyref,
            &[],
        ));
        // AP0003 signs, but the KeyInfo names AP0002, the expected signer (the BST then holds AP0002's
        // certificate).
        let named = n.receiver.cert_pem.display().to_string();
        commands.push(s.sign_receipt(
            &unsigned,
            &format!("lying-{keyref}.xml"),
            &n.stranger,
            keyref,
            &["--engine", "santuario", "--name-cert", &named],
        ));
    }
    for o in java::dialect().batch(&commands) {
        assert!(o.ok, "{}", o.message);
    }
    for keyref in KEY_REFERENCES {
        let stranger = s.read(&format!("stranger-{keyref}.xml"));
        assert!(
            layout(&stranger)
                .key_ref
                .starts_with(expected_key_ref(keyref))
        );
        let e = pack::verify_receipt(stranger.as_bytes(), &packed, &n.receiver.cert).expect_err(
            &format!("a receipt AP0003 signed ({keyref}) settles AP0002's"),
        );
        assert_eq!(e.code, ErrorCode::InvalidReceipt, "{keyref}: {e}");
        assert!(
            e.detail
                .contains("names another certificate than the expected one"),
            "{keyref}: {e}"
        );
        // The same receipt is sound: expecting AP0003, it is accepted.
        pack::verify_receipt(stranger.as_bytes(), &packed, &n.stranger.cert)
            .unwrap_or_else(|e| panic!("{keyref}: AP0003's own receipt, expecting AP0003: {e}"));

        let lying = s.read(&format!("lying-{keyref}.xml"));
        let e = pack::verify_receipt(lying.as_bytes(), &packed, &n.receiver.cert).expect_err(
            &format!("AP0003's signature under a KeyInfo ({keyref}) naming AP0002 accepted"),
        );
        assert_eq!(e.code, ErrorCode::InvalidReceipt, "{keyref}: {e}");
        assert!(
            e.detail.contains("signature value"),
            "{keyref}: refused for the key, not for something else: {e}"
        );
        assert!(
            pack::verify_receipt(lying.as_bytes(), &packed, &n.stranger.cert).is_err(),
            "{keyref}: the lying KeyInfo names AP0002, so expecting AP0003 refuses it too"
        );
    }
}

/// Exclusive C14N §3: a prefix on the InclusiveNamespaces PrefixList is treated as inclusive C14N treats it —
/// its namespace node is output wherever it is in scope, visibly utilized or not — so its binding on an
/// ancestor is signed, and changing it after signing must break the digest. A prefix on no list stays outside.
#[test]
fn prefix_lists_sign_namespace_bindings_that_cannot_be_changed_afterwards() {
    let s = scene();
    let n = &s.n;
    let packed = send(n, &n.sender, &[&xhe()]);
    let receipt = s.receipt_for(&packed);
    let one = "xmlns:smug=\"urn:smuggled:one\"";
    // On the Security header: in scope for the Timestamp only (WSS4J lists it for that reference alone).
    let on_security = s.write(
        "on-security.xml",
        replace_once(
            &receipt,
            "<wsse:Security ",
            &format!("<wsse:Security {one} "),
        ),
    );
    // On the Envelope: in scope everywhere, so on every PrefixList, SignedInfo's included.
    let on_envelope = s.write(
        "on-envelope.xml",
        replace_once(&receipt, "<S12:Envelope ", &format!("<S12:Envelope {one} ")),
    );
    // A default namespace on the Security header (every element in it is prefixed, so it means nothing there):
    // WSS4J lists it as "#default" for the Timestamp.
    let default_one = "xmlns=\"urn:default:one\"";
    let on_security_default = s.write(
        "on-security-default.xml",
        replace_once(
            &receipt,
            "<wsse:Security ",
            &format!("<wsse:Security {default_one} "),
        ),
    );
    let o = java::dialect().batch(&[
        s.sign_receipt(&on_security, "signed-security.xml", &n.receiver, "bst", &[]),
        s.sign_receipt(&on_envelope, "signed-envelope.xml", &n.receiver, "ski", &[]),
        s.sign_receipt(
            &on_security_default,
            "signed-default.xml",
            &n.receiver,
            "thumbprint",
            &[],
        ),
    ]);
    for r in &o {
        assert!(r.ok, "{}", r.message);
    }
    let security = s.read("signed-security.xml");
    let envelope = s.read("signed-envelope.xml");
    let default = s.read("signed-default.xml");
    assert!(
        has_prefix(
            &reference_prefixes(&layout(&default), "#_timestamp"),
            "#default"
        ),
        "{:?}",
        layout(&default)
    );
    let ls = layout(&security);
    assert!(
        has_prefix(&reference_prefixes(&ls, "#_timestamp"), "smug"),
        "{ls:?}"
    );
    assert!(!has_prefix(
        &reference_prefixes(&ls, "#_ebmessaging"),
        "smug"
    ));
    assert!(!has_prefix(
        ls.signed_info_prefixes.as_deref().unwrap(),
        "smug"
    ));
    let le = layout(&envelope);
    assert!(has_prefix(
        le.signed_info_prefixes.as_deref().unwrap(),
        "smug"
    ));
    assert!(has_prefix(
        &reference_prefixes(&le, "#_ebmessaging"),
        "smug"
    ));

    // As signed, both are accepted: the digests include xmlns:smug, so this already needs the PrefixList.
    for (name, xml) in [
        ("security", &security),
        ("envelope", &envelope),
        ("security as the default namespace", &default),
    ] {
        pack::verify_receipt(xml.as_bytes(), &packed, &n.receiver.cert)
            .unwrap_or_else(|e| panic!("declared on {name}, as signed: {e}"));
    }
    let two = "xmlns:smug=\"urn:smuggled:two\"";
    let rebound_security = replace_once(&security, one, two);
    let rebound_envelope = replace_once(&envelope, one, two);
    let rebound_default = replace_once(&default, default_one, "xmlns=\"urn:default:two\"");
    let e = pack::verify_receipt(rebound_security.as_bytes(), &packed, &n.receiver.cert)
        .expect_err("smug rebound on the Security header after signing");
    assert!(
        e.detail.contains("digest") && e.detail.contains("Timestamp"),
        "refused by the Timestamp's digest: {e}"
    );
    let e = pack::verify_receipt(rebound_envelope.as_bytes(), &packed, &n.receiver.cert)
        .expect_err("smug rebound on the Envelope after signing");
    assert!(
        e.detail.contains("digest") && e.detail.contains("Messaging"),
        "refused by the first reference's digest: {e}"
    );
    let e = pack::verify_receipt(rebound_default.as_bytes(), &packed, &n.receiver.cert)
        .expect_err("the default namespace rebound on the Security header after signing");
    assert!(
        e.detail.contains("digest") && e.detail.contains("Timestamp"),
        "refused by the Timestamp's digest: {e}"
    );
    // A declaration on no PrefixList and used nowhere is outside every exclusive canonical form.
    let late = replace_once(
        &security,
        "<S12:Envelope ",
        "<S12:Envelope xmlns:late=\"urn:added:after:signing\" ",
    );
    pack::verify_receipt(late.as_bytes(), &packed, &n.receiver.cert)
        .expect("an unlisted, unused declaration added after signing changes nothing signed");

    // Santuario agrees on all four.
    let files = [
        s.write("rebound-security.xml", &rebound_security),
        s.write("rebound-envelope.xml", &rebound_envelope),
        s.write("late.xml", &late),
        s.write("rebound-default.xml", &rebound_default),
    ];
    let o = java::dialect().batch(
        &files
            .iter()
            .map(|f| cmd!["verify", f, "--cert", n.receiver.cert_pem])
            .collect::<Vec<_>>(),
    );
    assert!(
        !o[0].ok
            && o[0]
                .message
                .contains("reference #_timestamp: DIGEST MISMATCH"),
        "{}",
        o[0].message
    );
    assert!(
        !o[1].ok
            && o[1]
                .message
                .contains("reference #_ebmessaging: DIGEST MISMATCH"),
        "{}",
        o[1].message
    );
    assert!(o[2].ok, "{}", o[2].message);
    assert!(
        !o[3].ok
            && o[3]
                .message
                .contains("reference #_timestamp: DIGEST MISMATCH"),
        "{}",
        o[3].message
    );
}

/// XML signature wrapping: the signed eb:Messaging of a receipt for message X moved or copied so that an
/// unsigned Messaging acknowledging message Y sits where a receipt's Messaging is read.
#[test]
fn a_signed_messaging_moved_or_copied_is_refused() {
    let s = scene();
    let n = &s.n;
    let x = send(n, &n.sender, &[&xhe()]);
    let y = send(n, &n.sender, &[&xhe()]);
    let unsigned = s.write("receipt-x.xml", s.receipt_for(&x));
    let o =
        java::dialect().run(&s.sign_receipt(&unsigned, "signed-x.xml", &n.receiver, "bst", &[]));
    assert!(o.ok, "{}", o.message);
    let signed = s.read("signed-x.xml");
    pack::verify_receipt(signed.as_bytes(), &x, &n.receiver.cert).expect("the receipt for X");
    assert!(pack::verify_receipt(signed.as_bytes(), &y, &n.receiver.cert).is_err());

    let (at, signed_messaging) = messaging(&signed);
    let signed_messaging = signed_messaging.to_owned();
    let receipt_y = s.receipt_for(&y);
    let (_, forged) = messaging(&receipt_y);
    let forged_with_id = forged.to_owned();
    let forged = replace_once(forged, " wsu:Id=\"_ebmessaging\"", "");
    let wrapper = format!("<w:Wrapper xmlns:w=\"urn:xsw\">{signed_messaging}</w:Wrapper>");
    let header_start = signed.find("<S12:Header>").expect("<S12:Header>") + "<S12:Header>".len();
    assert!(header_start <= at);
    let with_forged = |replacement: &str| signed.replacen(&signed_messaging, replacement, 1);
    let variants = [
        // Moved into a wrapper before it; Y's Messaging, without an Id, in its place.
        (
            "moved to a wrapper",
            with_forged(&format!("{wrapper}{forged}")),
        ),
        // Moved into the Security header.
        (
            "moved into Security",
            replace_once(
                &with_forged(&forged),
                "</wsse:Security>",
                &format!("{signed_messaging}</wsse:Security>"),
            ),
        ),
        // Copied: Y's Messaging with the signed one's Id in place, the signed one in a wrapper.
        (
            "copied, same Id",
            with_forged(&format!("{wrapper}{forged_with_id}")),
        ),
        // Left in place, with a second Messaging beside it.
        (
            "a second Messaging",
            with_forged(&format!("{forged}{signed_messaging}")),
        ),
    ];
    for (name, xml) in &variants {
        for (sent, which) in [(&y, "Y"), (&x, "X")] {
            let e = pack::verify_receipt(xml.as_bytes(), sent, &n.receiver.cert)
                .expect_err(&format!("{name}: taken as a receipt for {which}"));
            assert_eq!(e.code, ErrorCode::InvalidReceipt, "{name}: {e}");
        }
    }
    // Santuario checks references, not positions: the moved Messaging still verifies there. Only the rule
    // that each reference names the part at its place tells these receipts apart from good ones.
    let files: Vec<PathBuf> = variants
        .iter()
        .enumerate()
        .map(|(i, (_, xml))| s.write(&format!("xsw-{i}.xml"), xml))
        .collect();
    let o = java::dialect().batch(&[
        cmd!["verify", files[0]],
        cmd!["verify", files[1]],
        cmd!["verify", files[2]],
    ]);
    assert!(o[0].ok, "moved to a wrapper: {}", o[0].message);
    assert!(o[1].ok, "moved into Security: {}", o[1].message);
    assert!(
        !o[2].ok && o[2].message.contains("occurs twice"),
        "{}",
        o[2].message
    );
}

// ------------------------------------------------------------------------------------------------------------
// (c) Messages in the Domibus layout.

/// A packed message re-signed by Santuario in the Domibus layout with `keyref`: (MIME Content-Type, body,
/// the re-signed SOAP part). Also checks the helper refuses to sign attachment bytes other than those
/// sdk-relay signed, which shows what an attachment's digest covers.
fn domibus_message(s: &Scene, packed: &Packed, keyref: &str) -> (String, Vec<u8>, String) {
    let n = &s.n;
    let opened = open(n, packed);
    let soap = s.write("message.xml", &opened.soap);
    let (cid, plain) = &opened.plain[0];
    let plain_file = s.write("attachment.bin", plain);
    let payload_file = s.write("payload.xml", xhe());
    let signed_name = format!("domibus-{keyref}.xml");
    let sign = |out: &str, attachment: &Path| {
        cmd![
            "sign-message",
            soap,
            s.path(out),
            "--key",
            n.sender.key_pem,
            "--cert",
            n.sender.cert_pem,
            "--keyref",
            keyref,
            "--attachment",
            format!("{cid}={}", attachment.display())
        ]
    };
    let o = java::dialect().batch(&[
        sign(&signed_name, &plain_file),
        // The uncompressed payload is not what sdk-relay signed.
        sign("wrong.xml", &payload_file),
        cmd![
            "verify",
            s.path(&signed_name),
            "--cert",
            n.sender.cert_pem,
            "--attachment",
            format!("{cid}={}", plain_file.display())
        ],
    ]);
    assert!(o[0].ok, "{}", o[0].message);
    assert!(
        !o[1].ok && o[1].message.contains("not the bytes it signed"),
        "{}",
        o[1].message
    );
    assert!(o[2].ok, "Santuario verifies its own: {}", o[2].message);
    let resigned = s.read(&signed_name);
    let before = layout(&String::from_utf8(opened.soap.clone()).unwrap());
    let l = layout(&resigned);
    assert_eq!(l.signatures, 1);
    assert_ne!(l.signature_value, before.signature_value, "re-signed");
    assert_eq!(l.signed_info_prefixes.as_deref(), Some("S12 wsu"));
    assert!(has_prefix(&reference_prefixes(&l, "#_timestamp"), "wsse"));
    let cid_ref = l
        .references
        .iter()
        .find(|r| r.0 == format!("cid:{cid}"))
        .expect("the attachment is signed");
    assert_eq!(cid_ref.1, ATTACHMENT_CONTENT);
    assert!(l.key_ref.starts_with(expected_key_ref(keyref)), "{l:?}");
    // The encryption elements stay as they were.
    assert!(resigned.contains("EncryptedKey") && resigned.contains("EncryptedData"));
    let (content_type, body) = mime::write(resigned.as_bytes(), &opened.attachments);
    (content_type, body, resigned)
}

#[test]
fn a_domibus_signed_user_message_is_accepted_by_the_library_and_the_cli() {
    let s = scene();
    let n = &s.n;
    let packed = send(n, &n.sender, &[&xhe()]);
    let (content_type, body, resigned) = domibus_message(&s, &packed, "bst");
    assert_eq!(
        layout(&resigned).key_ref,
        "Reference #_bst",
        "the message's own token"
    );

    let received = receive(n, &content_type, &body)
        .unwrap_or_else(|e| panic!("the Domibus-signed message refused: {}", e.error));
    assert_eq!(received.payloads.len(), 1);
    assert_eq!(received.payloads[0].1, xhe());
    assert_eq!(received.signer, n.sender.cert);
    // The NRR of our receipt repeats the references as signed, PrefixLists included, and Santuario verifies
    // the receipt.
    assert!(
        received
            .references
            .iter()
            .any(|r| r.inclusive_prefixes.iter().any(|p| p == "wsse")),
        "{:?}",
        received.references
    );
    let receipt = pack::receipt(&received, &signer(&n.receiver)).unwrap();
    let signed_list = reference_prefixes(&layout(&resigned), "#_timestamp");
    assert!(
        receipt.contains(&format!("PrefixList=\"{signed_list}\"")),
        "the NRR repeats the Timestamp's PrefixList {signed_list:?}: {receipt}"
    );
    let receipt_file = s.write("receipt.xml", &receipt);
    let verify = cmd!["verify", receipt_file];
    let o = java::dialect().run(&verify);
    assert!(o.ok, "{}", o.message);

    // The same through `sdk-relay as4 unpack`.
    let body_file = s.write("domibus.body", &body);
    let out_dir = s.path("received");
    let out = relay(
        &n.data_dir,
        &cmd![
            "as4",
            "unpack",
            body_file,
            "--type",
            content_type,
            "--env",
            "as4-test",
            "--key",
            n.receiver.key_pem,
            "--cert",
            n.receiver.cert_pem,
            "--out-dir",
            out_dir
        ]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["accepted"], true);
    assert_eq!(std::fs::read(out_dir.join("payload-1.xml")).unwrap(), xhe());
    let cli_receipt = std::fs::read_to_string(out_dir.join("receipt.xml")).unwrap();
    assert!(cli_receipt.contains("InclusiveNamespaces"), "{cli_receipt}");
}

#[test]
fn a_domibus_signed_user_message_naming_its_key_by_ski_is_refused() {
    let s = scene();
    let n = &s.n;
    let packed = send(n, &n.sender, &[&xhe()]);
    // Santuario verified this one with the sender's certificate (in domibus_message): the signature is sound,
    // only the way it names its key is not what eDelivery AS4 allows for messages.
    let (content_type, body, _) = domibus_message(&s, &packed, "ski");
    let e = receive(n, &content_type, &body)
        .expect_err("a message whose KeyInfo is a subject key identifier");
    assert_eq!(e.error.code, ErrorCode::PolicyNoncompliance, "{}", e.error);
    assert!(
        e.error.detail.contains("BinarySecurityToken"),
        "the error says a token is required: {}",
        e.error
    );
    let body_file = s.write("domibus.body", &body);
    let out_dir = s.path("refused");
    let args = cmd![
        "as4",
        "unpack",
        body_file,
        "--type",
        content_type,
        "--env",
        "as4-test",
        "--key",
        n.receiver.key_pem,
        "--cert",
        n.receiver.cert_pem,
        "--out-dir",
        out_dir
    ];
    let out = relay(
        &n.data_dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["accepted"], false);
    assert_eq!(report["error_code"], "EBMS:0103");
    assert!(
        report["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("BinarySecurityToken"),
        "{report}"
    );
    assert!(!out_dir.join("payload-1.xml").exists());
}
