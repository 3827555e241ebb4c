//! How a receiving node reads DIGG's texts (issue 19): where it finds the sender's signing certificate, and
//! which faults of a received message are answered with a Meddelandekvittens rather than an ebMS error.

mod common;

use common::node::{MESSAGE_DOC, World, ebms_errors, post_as4, sealed_xhe};

fn fresh_as4_id(m: &mut sdk_relay::as4::ebms::UserMessage) {
    m.message_id = format!("{}@test", uuid::Uuid::new_v4());
}

#[test]
fn a_send_only_sender_is_checked_against_its_receipt_registration() {
    let world = World::new();
    let (a, mut b) = world.pair();
    // Kommun A only sends: registered for Meddelandekvittens, not for messages (CertPub REST binding §3:
    // the receiver looks up the signing certificate under the receipt document type).
    world
        .run(&world.smp_dir, &["smp", "unpublish", &a.org, MESSAGE_DOC])
        .expect("unpublish");
    b.start();
    let (id, xhe) = sealed_xhe(&a, &b, |x| x);
    let (answer, _) = post_as4(&world, &a, &b, &xhe, fresh_as4_id);
    assert!(
        answer.status == 200 && ebms_errors(&answer).is_empty(),
        "{:?}",
        ebms_errors(&answer)
    );
    assert_eq!(b.status(&world.rt, &id), "NEW");
    assert!(b.stop());
}

/// A message from `from` to `to`, signed by `from` but not encrypted, its XML changed by `edit` first.
fn signed_in_clear(
    from: &common::node::Node,
    to: &common::node::Node,
    edit: impl FnOnce(String, &str) -> String,
) -> (String, Vec<u8>) {
    use sdk_relay::envelope::Xhe;
    use sdk_relay::envelope::ids::TransportModel;
    let body = serde_json::to_vec(&common::node::message_to(from, to, "Klartext", "Hej")).unwrap();
    let message = sdk_relay::node::json::read_create(&body).unwrap();
    let id = message.header.message_id.clone();
    let xml = Xhe::for_message(
        message,
        "urn:fdc:digg.se:edelivery:federation:test",
        TransportModel::BaseExtSigEnc,
    )
    .to_xml()
    .unwrap();
    let xml = edit(xml, &id);
    let doc = sdk_relay::xml::parse(&xml, &sdk_relay::xml::Limits::default()).unwrap();
    let (pair, cert) = common::node::key_of(from, sdk_relay::pki::Purpose::O2oSign);
    let signer = sdk_relay::xmlsec::SigningKey::new(&pair, cert).unwrap();
    let signed = sdk_relay::xmlsec::sign_enveloped(&doc, &signer).unwrap();
    (id, signed.into_bytes())
}

#[test]
fn a_message_breaking_a_content_rule_gets_a_rejected_meddelandekvittens_not_an_ebms_error() {
    let world = World::new();
    let (a, mut b) = world.pair();
    b.start();
    // The XHE ID is not the messageId (SDK-XHE-MSG-ID): the XHE Header's ID comes first in the envelope.
    let xhe_id = uuid::Uuid::new_v4().to_string();
    let (_, xhe) = signed_in_clear(&a, &b, |x, id| x.replacen(id, &xhe_id, 1));
    let (answer, _) = post_as4(&world, &a, &b, &xhe, fresh_as4_id);
    assert!(
        answer.status == 200 && ebms_errors(&answer).is_empty(),
        "an AS4 receipt, not {:?}",
        ebms_errors(&answer)
    );
    let m = b.message(&world.rt, &xhe_id);
    assert_eq!(m["attributes"]["messageStatus"], "REJECTED");
    let reason = m["attributes"]["events"][0]["title"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.contains("BV security: SDK-XHE-MSG-ID") && reason.contains("SIG security"),
        "{reason}"
    );
    assert!(b.stop());
}

#[test]
fn a_meddelandekvittens_without_handling_service_id_resolves_its_message() {
    use sdk_relay::envelope::ids::TransportModel;
    use sdk_relay::envelope::{Receipt, Xhe};
    let world = World::new();
    let (mut a, b) = world.pair();
    a.start();
    // A sends to B, which is not running: the message waits in A's queue.
    let id = common::node::created_id(&a.post(
        &world.rt,
        &common::node::message_to(&a, &b, "Utan funktion", "Hej"),
    ));
    // B's ACCEPTED Meddelandekvittens for it, without HandlingServiceID (0..1 in the XHE profile).
    let receipt = Receipt::accepted(&b.org, &a.org, &id);
    let xml = Xhe::for_receipt(
        receipt,
        "NA",
        "urn:fdc:digg.se:edelivery:federation:test",
        TransportModel::BaseExtSigEnc,
    )
    .to_xml()
    .unwrap();
    let start = xml.find("<HandlingServiceID>").expect("HandlingServiceID");
    let end = xml.find("</HandlingServiceID>").unwrap() + "</HandlingServiceID>".len();
    let xml = format!("{}{}", &xml[..start], &xml[end..]);
    let doc = sdk_relay::xml::parse(&xml, &sdk_relay::xml::Limits::default()).unwrap();
    let (pair, cert) = common::node::key_of(&b, sdk_relay::pki::Purpose::O2oSign);
    let signer = sdk_relay::xmlsec::SigningKey::new(&pair, cert).unwrap();
    let signed = sdk_relay::xmlsec::sign_enveloped(&doc, &signer).unwrap();
    let (answer, _) = post_as4(&world, &b, &a, signed.as_bytes(), |m| {
        fresh_as4_id(m);
        m.action = format!("busdox-docid-qns::{}", common::node::RECEIPT_DOC);
    });
    assert!(
        answer.status == 200 && ebms_errors(&answer).is_empty(),
        "{:?}",
        ebms_errors(&answer)
    );
    a.wait_status(
        &world.rt,
        &id,
        "ACCEPTED",
        std::time::Duration::from_secs(20),
    );
    assert!(a.stop());
}

#[test]
fn a_message_without_handling_service_id_is_delivered_to_its_functional_address() {
    let world = World::new();
    let (a, mut b) = world.pair();
    b.start();
    let (id, xhe) = sealed_xhe(&a, &b, |x| {
        let start = x.find("<HandlingServiceID>").expect("HandlingServiceID");
        let end = x.find("</HandlingServiceID>").unwrap() + "</HandlingServiceID>".len();
        format!("{}{}", &x[..start], &x[end..])
    });
    let (answer, _) = post_as4(&world, &a, &b, &xhe, fresh_as4_id);
    assert!(
        answer.status == 200 && ebms_errors(&answer).is_empty(),
        "{:?}",
        ebms_errors(&answer)
    );
    let m = b.message(&world.rt, &id);
    assert_eq!(m["attributes"]["messageStatus"], "NEW", "{m:#}");
    // Listed in the functional address's mailbox.
    let mailbox = b.list(
        &world.rt,
        &format!(
            "filter[recipientAttention.subOrganization.extension]={}",
            b.functions[0]
        ),
    );
    assert!(
        mailbox.iter().any(|m| m["id"] == id.as_str()),
        "{mailbox:#?}"
    );
    assert!(b.stop());
}
