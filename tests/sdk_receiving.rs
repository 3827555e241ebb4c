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
