//! A signed compression bomb sent to a running node (issue 20): refused with EBMS:0303, and inflated into a
//! temporary file rather than memory. The node's peak resident memory (VmHWM, the kernel's count) is the judge.

mod common;

use common::node::{World, ebms_errors, post_as4};

#[test]
fn a_signed_gzip_bomb_is_refused_without_inflating_into_memory() {
    let world = World::new();
    let (a, mut b) = world.pair();
    b.start();
    // Warm the node up with an ordinary refusal, so the baseline includes its working set.
    let (answer, _) = post_as4(&world, &a, &b, b"<not-an-xhe/>", |m| {
        m.message_id = format!("{}@test", uuid::Uuid::new_v4());
    });
    assert!(!ebms_errors(&answer).is_empty());
    let idle = b.peak_memory_mb();
    // 400 MiB of zeros: a few hundred KB once gzipped, and signed by a real federation AP.
    let bomb = vec![0u8; 400 << 20];
    let (answer, packed) = post_as4(&world, &a, &b, &bomb, |m| {
        m.message_id = format!("{}@test", uuid::Uuid::new_v4());
    });
    drop(bomb);
    assert!(
        packed.body.len() < 4 << 20,
        "{} bytes sent",
        packed.body.len()
    );
    let errors = ebms_errors(&answer);
    assert!(
        errors.iter().any(|e| e.starts_with("EBMS:0303")),
        "{errors:?}"
    );
    let peak = b.peak_memory_mb();
    eprintln!("receiving node: peak {idle:.1} MB before, {peak:.1} MB after the bomb");
    // Up to the ratio limit (200×) the bomb inflates to about 80 MB; held in memory that was all RSS.
    assert!(
        peak - idle < 32.0,
        "the node's peak memory grew by {:.1} MB",
        peak - idle
    );
    assert!(b.stop());
}

/// Issue 20 item 1: the `/as4` body streams into a spool (a temporary file above 1 MiB) instead of a buffer of
/// up to 160 MiB. A signed 100 MB message whose attachment was damaged in transit is refused while it is read
/// from the spool; before, the body alone cost its full size in memory first.
#[test]
fn a_large_body_is_spooled_not_buffered() {
    let world = World::new();
    let (a, mut b) = world.pair();
    b.start();
    let (answer, _) = post_as4(&world, &a, &b, b"<not-an-xhe/>", |m| {
        m.message_id = format!("{}@test", uuid::Uuid::new_v4());
    });
    assert!(!ebms_errors(&answer).is_empty());
    let idle = b.peak_memory_mb();
    // Incompressible, so the body is as large as the payload.
    let mut payload = vec![0u8; 100 << 20];
    aws_lc_rs::rand::fill(&mut payload).unwrap();
    let (pair, cert) = common::node::key_of(&a, sdk_relay::pki::Purpose::Ap);
    let signer = sdk_relay::as4::wssec::ApSigner::new(&pair, cert).unwrap();
    let (_, recipient) = common::node::key_of(&b, sdk_relay::pki::Purpose::Ap);
    let mut message = sdk_relay::as4::ebms::UserMessage::sdk(
        &a.ap_id,
        &b.ap_id,
        "doc",
        &a.org,
        &b.org,
        "c0ffee00-0000-4000-8000-000000000000",
    );
    message.message_id = format!("{}@test", uuid::Uuid::new_v4());
    let mut packed =
        sdk_relay::as4::pack::pack(&message, &[&payload], &signer, &recipient).unwrap();
    drop(payload);
    assert!(packed.body.len() > 100 << 20, "{} bytes", packed.body.len());
    let middle = packed.body.len() / 2;
    packed.body[middle] ^= 0x01;
    let answer = common::node::send_packed(&world, &a, &b, &packed);
    drop(packed);
    let errors = ebms_errors(&answer);
    assert!(!errors.is_empty(), "the damaged message was taken");
    let peak = b.peak_memory_mb();
    eprintln!(
        "receiving node: peak {idle:.1} MB before, {peak:.1} MB after a 100 MB body ({errors:?})"
    );
    assert!(
        peak - idle < 64.0,
        "the node's peak memory grew by {:.1} MB for a 100 MB body",
        peak - idle
    );
    assert!(b.stop());
}
