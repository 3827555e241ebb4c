//! A receipt's NRR (`ebbp:MessagePartNRInformation`) is compared with what we signed as a set: any order, each
//! reference once, same transforms, digest method and digest, nothing extra (issue 19 point 6). Every receipt
//! here is properly signed by the receiving AP, so only the NRR comparison can refuse it.

mod common;

use common::as4::{Net, message, net, send, signer, xhe};
use sdk_relay::as4::ErrorCode;
use sdk_relay::as4::ebms::NrrReference;
use sdk_relay::as4::pack::{self, Packed};

/// A receipt for `packed`, signed by the receiving AP, whose NRR lists `references` in that order.
fn receipt_with(n: &Net, packed: &Packed, references: Vec<NrrReference>) -> String {
    let mut m = message(2);
    m.message_id = packed.message_id.clone();
    let received: pack::Received = pack::Received {
        message: m,
        payloads: Vec::new(),
        signer: n.sender.cert.clone(),
        references,
    };
    pack::receipt(&received, &signer(&n.receiver)).unwrap()
}

fn sent(n: &Net) -> Packed {
    let packed = send(n, &n.sender, &[&xhe(), b"second"]);
    // Messaging, Body, Timestamp and two attachments: enough to reorder.
    assert_eq!(packed.references.len(), 5);
    packed
}

fn verdict(n: &Net, packed: &Packed, receipt: &str) -> Result<(), sdk_relay::as4::EbmsError> {
    pack::verify_receipt(receipt.as_bytes(), packed, &n.receiver.cert)
}

#[test]
fn a_receipt_with_the_nrr_in_another_order_is_accepted() {
    let n = net();
    let packed = sent(&n);
    let mut reversed = packed.references.clone();
    reversed.reverse();
    let receipt = receipt_with(&n, &packed, reversed);
    // The first NRR entry really is the last reference we signed.
    let first_uri = receipt
        .split("<ds:Reference URI=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    assert_eq!(first_uri, packed.references[4].uri);
    verdict(&n, &packed, &receipt).expect("reordered NRR accepted");
    let mut rotated = packed.references.clone();
    rotated.rotate_left(2);
    verdict(&n, &packed, &receipt_with(&n, &packed, rotated)).expect("rotated NRR accepted");
    // And the receipt in our own order still is.
    verdict(
        &n,
        &packed,
        &receipt_with(&n, &packed, packed.references.clone()),
    )
    .expect("same order accepted");
}

fn refused(n: &Net, packed: &Packed, references: Vec<NrrReference>, why: &str) {
    let e = verdict(n, packed, &receipt_with(n, packed, references)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidReceipt, "{why}: {e}");
}

#[test]
fn a_receipt_with_a_duplicated_nrr_entry_is_refused() {
    let n = net();
    let packed = sent(&n);
    let mut twice = packed.references.clone();
    twice.push(packed.references[1].clone());
    refused(&n, &packed, twice, "one entry twice, all present");
    // A duplicate standing in for a missing entry keeps the count right, and is still refused.
    let mut replaced = packed.references.clone();
    replaced[0] = packed.references[1].clone();
    refused(&n, &packed, replaced, "one entry twice, one missing");
}

#[test]
fn a_receipt_with_a_missing_or_extra_nrr_entry_is_refused() {
    let n = net();
    let packed = sent(&n);
    for i in 0..packed.references.len() {
        let mut missing = packed.references.clone();
        missing.remove(i);
        refused(&n, &packed, missing, &format!("without entry {i}"));
    }
    let mut extra = packed.references.clone();
    extra.push(NrrReference {
        uri: "cid:not-sent@sdk-relay".into(),
        ..packed.references[4].clone()
    });
    refused(&n, &packed, extra, "an entry we never signed");
    refused(&n, &packed, Vec::new(), "no NRR at all");
}

#[test]
fn a_receipt_with_a_wrong_digest_or_method_is_refused_in_any_order() {
    let n = net();
    let packed = sent(&n);
    for i in 0..packed.references.len() {
        let mut wrong = packed.references.clone();
        wrong[i].digest_value = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
        wrong.reverse();
        refused(&n, &packed, wrong, &format!("digest of entry {i}"));
    }
    let mut method = packed.references.clone();
    method[2].digest_method = "http://www.w3.org/2000/09/xmldsig#sha1".into();
    method.reverse();
    refused(&n, &packed, method, "digest method");
    let mut transform = packed.references.clone();
    transform[0].transforms = vec!["http://www.w3.org/TR/2001/REC-xml-c14n-20010315".into()];
    transform.reverse();
    refused(&n, &packed, transform, "transform");
}
