//! The CEF eDelivery AS4 1.15 conformance assertions that apply to SDK's One-Way/Push with signing, encryption
//! and compression, one named test each, checked on what `pack` puts on the wire and what `unpack` accepts.

mod common;

use common::as4::{message, net, receive, send, xhe};
use sdk_relay::as4::mime::{self, MimeLimits};
use sdk_relay::as4::pack::Packed;
use sdk_relay::xml::names::{DS, EB, S12, WSSE, XENC};
use sdk_relay::xml::{Limits, parse};

fn wire(p: &Packed) -> (String, mime::Multipart) {
    let m = mime::read(&p.content_type, &p.body, &MimeLimits::default()).unwrap();
    (String::from_utf8(m.soap.body.clone()).unwrap(), m)
}

fn security<'d, 'a>(doc: &'d sdk_relay::xml::Doc<'a>) -> sdk_relay::xml::El<'d, 'a> {
    doc.root()
        .child(S12, "Header")
        .and_then(|h| h.child(WSSE, "Security"))
        .expect("a Security header")
}

#[test]
fn payloads_travel_as_mime_parts_and_the_soap_body_is_empty() {
    let n = net();
    let (soap, m) = wire(&send(&n, &n.sender, &[&xhe()]));
    let doc = parse(&soap, &Limits::default()).unwrap();
    let body = doc.root().child(S12, "Body").unwrap();
    assert!(body.children().next().is_none() && body.text().trim().is_empty());
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].content_type, "application/octet-stream");
}

#[test]
fn payloads_are_gzip_compressed_with_the_compression_type_and_mime_type_properties() {
    let n = net();
    let (soap, _) = wire(&send(&n, &n.sender, &[&xhe()]));
    assert!(soap.contains("<eb:Property name=\"CompressionType\">application/gzip</eb:Property>"));
    assert!(soap.contains("<eb:Property name=\"MimeType\">text/xml</eb:Property>"));
}

#[test]
fn one_rsa_sha256_signature_covers_messaging_body_and_every_part() {
    let n = net();
    let packed = send(&n, &n.sender, &[&xhe(), b"two"]);
    let (soap, m) = wire(&packed);
    let doc = parse(&soap, &Limits::default()).unwrap();
    let security = security(&doc);
    let signatures: Vec<_> = security.children_named(DS, "Signature").collect();
    assert_eq!(signatures.len(), 1);
    let si = signatures[0].child(DS, "SignedInfo").unwrap();
    assert_eq!(
        si.child(DS, "SignatureMethod").unwrap().attr("Algorithm"),
        Some("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    );
    let uris: Vec<&str> = si
        .children_named(DS, "Reference")
        .map(|r| r.attr("URI").unwrap())
        .collect();
    assert!(uris.contains(&"#_ebmessaging") && uris.contains(&"#_body"));
    for part in &m.attachments {
        assert!(
            uris.contains(&format!("cid:{}", part.content_id).as_str()),
            "{} not signed",
            part.content_id
        );
    }
    for r in si.children_named(DS, "Reference") {
        assert_eq!(
            r.child(DS, "DigestMethod").unwrap().attr("Algorithm"),
            Some("http://www.w3.org/2001/04/xmlenc#sha256")
        );
    }
}

#[test]
fn attachments_are_encrypted_with_aes128_gcm_to_the_receivers_certificate() {
    let n = net();
    let (soap, _) = wire(&send(&n, &n.sender, &[&xhe()]));
    let doc = parse(&soap, &Limits::default()).unwrap();
    let security = security(&doc);
    let data = security.child(XENC, "EncryptedData").unwrap();
    assert_eq!(
        data.child(XENC, "EncryptionMethod")
            .unwrap()
            .attr("Algorithm"),
        Some("http://www.w3.org/2009/xmlenc11#aes128-gcm")
    );
    let key = security.child(XENC, "EncryptedKey").unwrap();
    let method = key.child(XENC, "EncryptionMethod").unwrap();
    assert_eq!(
        method.attr("Algorithm"),
        Some("http://www.w3.org/2009/xmlenc11#rsa-oaep")
    );
    assert!(soap.contains("xmlenc11#mgf1sha256") && soap.contains("<ds:DigestMethod xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>"));
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &n.receiver.cert);
    assert!(
        soap.contains(&b64),
        "the receiver's certificate names the key"
    );
}

#[test]
fn the_receipt_carries_non_repudiation_information_and_ref_to_message_id() {
    let n = net();
    let packed = send(&n, &n.sender, &[&xhe()]);
    let received = receive(&n, &packed.content_type, &packed.body).unwrap();
    let receipt =
        sdk_relay::as4::pack::receipt(&received, &common::as4::signer(&n.receiver)).unwrap();
    let doc = parse(&receipt, &Limits::default()).unwrap();
    let signal = doc
        .root()
        .child(S12, "Header")
        .unwrap()
        .child(EB, "Messaging")
        .unwrap()
        .child(EB, "SignalMessage")
        .unwrap();
    let ref_to = signal
        .child(EB, "MessageInfo")
        .unwrap()
        .child(EB, "RefToMessageId")
        .unwrap();
    assert_eq!(ref_to.text(), packed.message_id);
    let nrr: Vec<_> = signal
        .descendants_or_self()
        .into_iter()
        .filter(|e| e.local() == "MessagePartNRInformation")
        .collect();
    assert_eq!(nrr.len(), packed.references.len());
    sdk_relay::as4::pack::verify_receipt(receipt.as_bytes(), &packed, &n.receiver.cert).unwrap();
}

/// Duplicates are told apart by MessageId, so every message needs its own; the node's durable duplicate rule
/// is tested end to end in `node_flow` (the same AS4 message twice is delivered once).
#[test]
fn every_message_gets_a_new_message_id_that_reads_back() {
    let n = net();
    let a = send(&n, &n.sender, &[&xhe()]);
    let b = send(&n, &n.sender, &[&xhe()]);
    assert_ne!(a.message_id, b.message_id);
    for p in [&a, &b] {
        let read = receive(&n, &p.content_type, &p.body).unwrap();
        assert_eq!(read.message.message_id, p.message_id);
    }
}

#[test]
fn the_conversation_id_is_carried() {
    let n = net();
    let mut m = message(1);
    m.conversation_id = "samtal-42".into();
    let packed = sdk_relay::as4::pack::pack(
        &m,
        &[&xhe()],
        &common::as4::signer(&n.sender),
        &n.receiver.cert,
    )
    .unwrap();
    assert_eq!(
        receive(&n, &packed.content_type, &packed.body)
            .unwrap()
            .message
            .conversation_id,
        "samtal-42"
    );
}

#[test]
fn several_payloads_keep_their_order() {
    let n = net();
    let parts: Vec<Vec<u8>> = (0..4)
        .map(|i| format!("payload {i}").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let packed = send(&n, &n.sender, &refs);
    let received = receive(&n, &packed.content_type, &packed.body).unwrap();
    let got: Vec<&[u8]> = received
        .payloads
        .iter()
        .map(|(_, c)| c.as_slice())
        .collect();
    assert_eq!(got, refs);
}

#[test]
fn a_payload_that_does_not_decompress_is_ebms_0303() {
    let n = net();
    // A bomb is the decompression failure a signed, trusted sender can still cause.
    let bomb = vec![0u8; 80 * 1024 * 1024];
    let packed = send(&n, &n.sender, &[&bomb]);
    let refused = receive(&n, &packed.content_type, &packed.body).unwrap_err();
    assert_eq!(refused.error.code.as_str(), "EBMS:0303");
}

#[test]
fn a_revoked_sender_is_refused() {
    let n = net();
    n.fed.revoke(&n.sender.cert).unwrap();
    common::pki::import_crls(&n.data_dir, &n.fed);
    let trust = sdk_relay::pki::TrustStore::open(&n.data_dir)
        .load()
        .unwrap();
    let checker = sdk_relay::pki::Checker::new(&trust, sdk_relay::pki::RevocationPolicy::default());
    let packed = send(&n, &n.sender, &[&xhe()]);
    let policy = sdk_relay::as4::pack::ReceivePolicy::new(&checker, &n.env);
    let refused = sdk_relay::as4::pack::unpack(
        &packed.content_type,
        &packed.body,
        &policy,
        &n.receiver.payload_key(),
    )
    .unwrap_err();
    assert_eq!(refused.error.code.as_str(), "EBMS:0101");
    assert!(
        refused.error.detail.contains("revoked"),
        "{}",
        refused.error.detail
    );
}
