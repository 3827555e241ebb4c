//! Transportmodell Bas (`tm-base`: no O2O signature or encryption) beside Utökad Bas (issue 19 point 10).
//! OPEN-TEST and DIGG's Bas test cases use it; SDK's qa and prod do not. A node sends in the model its
//! configuration names, takes Bas where it is allowed to, and answers each message in the message's model.
//! Every check here is on real nodes over mutual TLS.

mod common;

use common::node::{Node, World, ebms_errors, message_to, post_as4};
use sdk_relay::envelope::Xhe;
use sdk_relay::envelope::ids::{FEDERATION_TEST, PayloadKind, TransportModel};
use sdk_relay::store::payload_path;

const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

fn base(kind: PayloadKind) -> String {
    kind.document_id(TransportModel::Base)
}

/// Registers `node`'s organisation for messages and receipts in Bas too.
fn publish_base(world: &World, node: &Node) {
    for kind in [PayloadKind::Message, PayloadKind::Receipt] {
        world.publish(node, &base(kind), &node.as4_url());
    }
}

fn sending_in_base(text: &mut String) {
    *text = text.replacen("[node]\n", "[node]\ntransport_model = \"tm-base\"\n", 1);
}

/// A message from `from` to `to` in Bas, as `from`'s message service would write it.
fn base_xhe(from: &Node, to: &Node, edit: impl FnOnce(String) -> String) -> (String, Vec<u8>) {
    let body = serde_json::to_vec(&message_to(from, to, "Bas", "Hej i klartext")).unwrap();
    let message = sdk_relay::node::json::read_create(&body).unwrap();
    let id = message.header.message_id.clone();
    let xml = Xhe::for_message(message, FEDERATION_TEST, TransportModel::Base)
        .to_xml()
        .unwrap();
    (id, edit(xml).into_bytes())
}

fn in_base(m: &mut sdk_relay::as4::ebms::UserMessage) {
    m.message_id = format!("{}@test", uuid::Uuid::new_v4());
    m.action = format!("busdox-docid-qns::{}", base(PayloadKind::Message));
}

#[test]
fn a_node_sending_in_base_gets_its_message_delivered_and_answered_in_base() {
    let world = World::new();
    let mut a = world.node_with(
        "kommun-a",
        "AP0001-SDK-TEST",
        "0203:kommun-a.example.se",
        &["registrator"],
        sending_in_base,
    );
    let mut b = world.node(
        "region-b",
        "AP0002-SDK-TEST",
        "0203:region-b.example.se",
        &["socialtjanst"],
    );
    publish_base(&world, &a);
    a.start();
    b.start();
    // B is registered only for Utökad Bas yet: A, sending in Bas, says so before storing anything.
    let refused = a.post(&world.rt, &message_to(&a, &b, "Bas", "Hej i klartext"));
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    let problem = String::from_utf8_lossy(&refused.body).into_owned();
    assert!(
        problem.contains("::tm-base") && problem.contains("not registered"),
        "{problem}"
    );
    publish_base(&world, &b);
    let answer = a.post(&world.rt, &message_to(&a, &b, "Bas", "Hej i klartext"));
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let id = common::node::created_id(&answer);
    // ACCEPTED at A means B's Meddelandekvittens came back and was taken — in Bas, unsigned.
    a.wait_status(&world.rt, &id, "ACCEPTED", WAIT);
    let received = b.message(&world.rt, &id);
    assert_eq!(received["attributes"]["messageStatus"], "NEW");
    assert!(
        received.to_string().contains("Hej i klartext"),
        "the message arrives whole: {received}"
    );
    assert!(a.stop());
    assert!(b.stop());
    let (a_log, b_log) = (common::node::audit_text(&a), common::node::audit_text(&b));
    assert!(!a_log.contains("EBMS:"), "no ebMS error at A: {a_log}");
    assert!(!b_log.contains("EBMS:"), "no ebMS error at B: {b_log}");
    // What went each way, as stored: the message in Bas, and B's Meddelandekvittens in Bas too.
    assert_in_base(&std::fs::read_to_string(payload_path(&a.data, &id)).unwrap());
    let receipt_id = b_log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["kind"] == "message.scheduled" && r["sender"] == b.org.as_str())
        .and_then(|r| r["message_id"].as_str().map(str::to_owned))
        .expect("B scheduled its Meddelandekvittens");
    let receipt = std::fs::read_to_string(payload_path(&b.data, &receipt_id)).unwrap();
    assert!(receipt.contains("ApplicationResponse"), "{receipt}");
    assert_in_base(&receipt);
}

/// An envelope in Bas: its document type says so, and it is neither signed nor encrypted.
fn assert_in_base(xhe: &str) {
    assert!(xhe.contains("::tm-base<"), "{xhe}");
    assert!(
        !xhe.contains("Signature") && !xhe.contains("EncryptedData"),
        "{xhe}"
    );
}

#[test]
fn a_base_message_is_answered_in_base_and_refused_where_base_is_not_taken() {
    let world = World::new();
    let (a, mut b) = world.pair();
    b.start();
    let (id, xhe) = base_xhe(&a, &b, |x| x);
    let (answer, _) = post_as4(&world, &a, &b, &xhe, in_base);
    assert!(
        answer.status == 200 && ebms_errors(&answer).is_empty(),
        "{:?}",
        ebms_errors(&answer)
    );
    assert_eq!(b.status(&world.rt, &id), "NEW");
    assert!(b.stop());

    // The same node told not to take Bas (as in qa and prod, by default) says the document type is not served.
    let mut c = world.node_with(
        "region-c",
        "AP0003-SDK-TEST",
        "0203:region-c.example.se",
        &["socialtjanst"],
        |t| *t = t.replacen("[node]\n", "[node]\naccept_tm_base = false\n", 1),
    );
    c.start();
    let (_, xhe) = base_xhe(&a, &c, |x| x);
    let (answer, _) = post_as4(&world, &a, &c, &xhe, |m| {
        in_base(m);
        m.to.id = c.ap_id.clone();
    });
    let errors = ebms_errors(&answer);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("EBMS:0004") && e.contains("NOT_SERVICED")),
        "{errors:?}"
    );
    assert!(c.stop());
}

#[test]
fn an_envelope_claiming_base_but_signed_or_encrypted_is_refused() {
    let world = World::new();
    let (a, mut b) = world.pair();
    b.start();
    // A sealed envelope whose document type is rewritten to Bas: its model and its form disagree.
    let (_, sealed) =
        common::node::sealed_xhe(&a, &b, |x| x.replace("::tm-base-ext-sigenc<", "::tm-base<"));
    let (answer, _) = post_as4(&world, &a, &b, &sealed, in_base);
    let errors = ebms_errors(&answer);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("EBMS:0003") && e.contains("neither signed nor encrypted")),
        "{errors:?}"
    );
    assert!(b.stop());
}

#[test]
fn an_unsigned_base_receipt_cannot_settle_a_signed_and_encrypted_message() {
    let world = World::new();
    let (mut a, mut b) = world.pair();
    publish_base(&world, &a);
    a.start();
    b.start();
    let answer = a.post(&world.rt, &message_to(&a, &b, "Utökad", "Hej"));
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let id = common::node::created_id(&answer);
    a.wait_status(&world.rt, &id, "ACCEPTED", WAIT);
    let sent = a.message(&world.rt, &id);
    assert!(b.stop());
    // A second message, not yet answered: B is stopped, so it waits at A.
    let answer = a.post(&world.rt, &message_to(&a, &b, "Utökad 2", "Hej igen"));
    let waiting = common::node::created_id(&answer);
    // Anyone's access point forges B's REJECTED answer to it in Bas, unsigned.
    let receipt = sdk_relay::envelope::Receipt::rejected(
        &b.org,
        &a.org,
        &waiting,
        vec![sdk_relay::envelope::receipt::LineResponse {
            line_id: "NA".into(),
            code: sdk_relay::envelope::receipt::ReasonCode::Bv,
            status_reason_code: Some("not-found".into()),
            status_reason: "forged".into(),
        }],
    );
    let xhe = Xhe::for_receipt(
        receipt,
        "registrator",
        FEDERATION_TEST,
        TransportModel::Base,
    )
    .to_xml()
    .unwrap();
    let (answer, _) = post_as4(&world, &b, &a, xhe.as_bytes(), |m| {
        m.message_id = format!("{}@test", uuid::Uuid::new_v4());
        m.action = format!("busdox-docid-qns::{}", base(PayloadKind::Receipt));
    });
    let errors = ebms_errors(&answer);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("EBMS:0101") && e.contains("cannot settle")),
        "{errors:?}"
    );
    assert_ne!(a.status(&world.rt, &waiting), "REJECTED");
    assert_eq!(
        a.message(&world.rt, &id)["attributes"]["messageStatus"],
        sent["attributes"]["messageStatus"]
    );
    assert!(a.stop());
}
