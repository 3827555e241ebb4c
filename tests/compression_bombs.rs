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
