//! AS4 messages between two access points of a test federation: packing, unpacking, receipts, and every
//! tampering refused with the right ebMS error.

mod common;

use common::as4::{DOC_ID, Net, message, net, receive, send, signer, xhe};
use common::o2o::Party;
use rustls_pki_types::CertificateDer;
use sdk_relay::as4::mime::MimeLimits;
use sdk_relay::as4::pack::{self, Packed};
use sdk_relay::as4::{ErrorCode, mime};

#[test]
fn a_message_with_several_payloads_arrives_in_order_and_its_receipt_verifies() {
    let n = net();
    let first = xhe();
    let second = b"second payload \x00\xff binary".to_vec();
    let packed = send(&n, &n.sender, &[&first, &second]);
    // The payloads travel compressed and encrypted: not readable in the body.
    assert!(!String::from_utf8_lossy(&packed.body).contains("messageHeader"));
    assert!(packed.content_type.starts_with("multipart/related"));
    let received = receive(&n, &packed.content_type, &packed.body).expect("unpack");
    assert_eq!(received.payloads.len(), 2);
    assert_eq!(received.payloads[0].1, first);
    assert_eq!(received.payloads[1].1, second);
    assert_eq!(received.message.from.id, "AP0001-SDK-TEST");
    assert_eq!(received.message.conversation_id, "conversation-1");
    assert_eq!(received.message.original_sender, "0203:kommun-a.example.se");
    assert_eq!(
        received.message.action,
        format!("busdox-docid-qns::{DOC_ID}")
    );
    assert_eq!(received.signer, n.sender.cert);
    // Messaging, Body, Timestamp and both attachments are signed.
    assert_eq!(received.references.len(), 5);
    assert_eq!(received.references, packed.references);

    let receipt = pack::receipt(&received, &signer(&n.receiver)).unwrap();
    assert!(receipt.contains("ebbp:NonRepudiationInformation"));
    pack::verify_receipt(receipt.as_bytes(), &packed, &n.receiver.cert).expect("receipt verifies");
    // A receipt for another message, or signed by someone else, is EBMS:0302.
    let other = send(&n, &n.sender, &[&first]);
    assert_eq!(
        pack::verify_receipt(receipt.as_bytes(), &other, &n.receiver.cert)
            .unwrap_err()
            .code,
        ErrorCode::InvalidReceipt
    );
    assert_eq!(
        pack::verify_receipt(receipt.as_bytes(), &packed, &n.stranger.cert)
            .unwrap_err()
            .code,
        ErrorCode::InvalidReceipt
    );
    let tampered = receipt.replacen("<ds:DigestValue>", "<ds:DigestValue>AAAA", 1);
    assert_eq!(
        pack::verify_receipt(tampered.as_bytes(), &packed, &n.receiver.cert)
            .unwrap_err()
            .code,
        ErrorCode::InvalidReceipt
    );
}

fn soap_and_parts(p: &Packed) -> (String, Vec<mime::Part>) {
    let m = mime::read(&p.content_type, &p.body, &MimeLimits::default()).unwrap();
    (String::from_utf8(m.soap.body).unwrap(), m.attachments)
}

fn rebuild(soap: &str, parts: &[mime::Part]) -> (String, Vec<u8>) {
    mime::write(soap.as_bytes(), parts)
}

fn code_of(n: &Net, body: (String, Vec<u8>)) -> ErrorCode {
    receive(n, &body.0, &body.1)
        .expect_err("refused")
        .error
        .code
}

#[test]
fn tampered_messages_are_refused_with_the_right_ebms_error() {
    let n = net();
    let payload = xhe();
    let packed = send(&n, &n.sender, &[&payload]);
    let (soap, parts) = soap_and_parts(&packed);

    // One byte of the encrypted attachment changed: AES-GCM refuses it.
    let mut flipped = parts.clone();
    flipped[0].body[40] ^= 1;
    assert_eq!(
        code_of(&n, rebuild(&soap, &flipped)),
        ErrorCode::FailedDecryption
    );

    // The attachment reference removed from the signature.
    let start = soap.find("<ds:Reference URI=\"cid:").unwrap();
    let end = start + soap[start..].find("</ds:Reference>").unwrap() + "</ds:Reference>".len();
    let removed = format!("{}{}", &soap[..start], &soap[end..]);
    assert_eq!(
        code_of(&n, rebuild(&removed, &parts)),
        ErrorCode::PolicyNoncompliance
    );

    // A reference swapped to point at the Security header's token instead of the Body.
    let swapped = soap.replacen("URI=\"#_body\"", "URI=\"#_bst\"", 1);
    assert_eq!(
        code_of(&n, rebuild(&swapped, &parts)),
        ErrorCode::PolicyNoncompliance
    );

    // eb:Messaging moved into the Body (wrapping): the header no longer has it where it must be.
    let m_start = soap.find("<eb:Messaging").unwrap();
    let m_end = soap.find("</eb:Messaging>").unwrap() + "</eb:Messaging>".len();
    let messaging = &soap[m_start..m_end];
    let moved = format!("{}{}", &soap[..m_start], &soap[m_end..]).replacen(
        "<S12:Body wsu:Id=\"_body\"/>",
        &format!("<S12:Body wsu:Id=\"_body\">{messaging}</S12:Body>"),
        1,
    );
    assert_eq!(
        code_of(&n, rebuild(&moved, &parts)),
        ErrorCode::InvalidHeader
    );

    // A second Body.
    let two_bodies = soap.replacen("</S12:Envelope>", "<S12:Body/></S12:Envelope>", 1);
    assert_eq!(
        code_of(&n, rebuild(&two_bodies, &parts)),
        ErrorCode::InvalidHeader
    );

    // A header value changed after signing.
    let changed = soap.replacen("conversation-1", "conversation-2", 1);
    assert_eq!(
        code_of(&n, rebuild(&changed, &parts)),
        ErrorCode::FailedAuthentication
    );

    // A gzip bomb, properly signed and encrypted by a trusted sender.
    let bomb = vec![b'A'; 60 * 1024 * 1024];
    let packed_bomb = send(&n, &n.sender, &[&bomb]);
    let refused =
        receive(&n, &packed_bomb.content_type, &packed_bomb.body).expect_err("bomb refused");
    assert_eq!(refused.error.code, ErrorCode::DecompressionFailure);
    assert_eq!(
        refused.message_id.as_deref(),
        Some(packed_bomb.message_id.as_str())
    );
}

#[test]
fn senders_are_judged_by_chain_environment_validity_and_party_id() {
    let n = net();
    let payload = xhe();
    let detail = |from: &Party| {
        let packed = send(&n, from, &[&payload]);
        let refused = receive(&n, &packed.content_type, &packed.body).expect_err("refused");
        assert_eq!(
            refused.error.code,
            ErrorCode::FailedAuthentication,
            "{}",
            refused.error
        );
        refused.error.detail
    };
    assert!(detail(&n.other_env).contains("wrong environment"));
    assert!(detail(&n.expired).contains("expired"));
    // A trusted AP of the federation claiming to be AP0001: its CN is not the PartyId.
    assert!(detail(&n.stranger).contains("AP0003-SDK-TEST"));
}

#[test]
fn a_message_for_another_ap_does_not_decrypt() {
    let n = net();
    let payload = xhe();
    let packed = pack::pack(
        &message(1),
        &[&payload],
        &signer(&n.sender),
        &n.stranger.cert,
    )
    .unwrap();
    let err = receive(&n, &packed.content_type, &packed.body).expect_err("refused");
    assert_eq!(err.error.code, ErrorCode::FailedDecryption);
}

/// xmlsec1's verdict on a signed SOAP envelope, with the wsu:Id attributes declared as ids.
fn xmlsec1_verifies(soap: &str, cert: &CertificateDer<'_>) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("soap.xml");
    std::fs::write(&path, soap).unwrap();
    let cert_pem = dir.path().join("cert.pem");
    std::fs::write(
        &cert_pem,
        sdk_relay::pki::cert::to_pem(std::slice::from_ref(cert)),
    )
    .unwrap();
    let out = std::process::Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(&cert_pem)
        .args([
            "--id-attr:Id",
            "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/:Messaging",
            "--id-attr:Id",
            "http://www.w3.org/2003/05/soap-envelope:Body",
            "--id-attr:Id",
            "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd:Timestamp",
        ])
        .arg(&path)
        .output()
        .expect("xmlsec1 is installed");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() && stderr.contains("OK") {
        Ok(())
    } else {
        Err(stderr)
    }
}

#[test]
fn our_signed_soap_parts_verify_with_xmlsec1_where_it_can_resolve_the_references() {
    // xmlsec1 cannot resolve cid: references (nor the SwA transforms), so it checks what has none: a signed
    // receipt, and a UserMessage without payloads (Messaging, Body, Timestamp).
    let n = net();
    let packed = send(&n, &n.sender, &[&xhe()]);
    let received = receive(&n, &packed.content_type, &packed.body).unwrap();
    let receipt = pack::receipt(&received, &signer(&n.receiver)).unwrap();
    xmlsec1_verifies(&receipt, &n.receiver.cert).expect("xmlsec1 verifies our receipt");

    let bare = send(&n, &n.sender, &[]);
    let (soap, parts) = soap_and_parts(&bare);
    assert!(parts.is_empty());
    xmlsec1_verifies(&soap, &n.sender.cert).expect("xmlsec1 verifies our signed UserMessage");
    // And it refuses the same message changed after signing.
    let changed = soap.replacen("conversation-1", "conversation-2", 1);
    assert!(xmlsec1_verifies(&changed, &n.sender.cert).is_err());
}
