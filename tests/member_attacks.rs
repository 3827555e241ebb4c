//! Attacks a federation member can make with its own valid AP and O2O certificates (issue 18), against a real
//! receiving node on loopback: the CBC padding/format oracle by re-signing a captured envelope, replays
//! (after the message was deleted, and of old envelopes), and the unsigned 20 MiB envelope.

mod common;

use base64::Engine;
use common::node::{
    Node, World, audit_text, ebms_errors, key_of, post_as4, sealed_xhe, sealed_xhe_signed_by,
};
use sdk_relay::pki::Purpose;
use sdk_relay::pki::https::Answer;
use serde_json::Value;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn attacker(world: &World) -> Node {
    world.node(
        "kommun-c",
        "AP0003-SDK-TEST",
        "0203:kommun-c.example.se",
        &["registrator"],
    )
}

fn signer_of(node: &Node) -> sdk_relay::xmlsec::SigningKey {
    let (pair, cert) = key_of(node, Purpose::O2oSign);
    sdk_relay::xmlsec::SigningKey::new(&pair, cert).unwrap()
}

/// A fresh AS4 MessageId, so each post is a new AS4 message.
fn as4_id(m: &mut sdk_relay::as4::ebms::UserMessage) {
    m.message_id = format!("{}@test", uuid::Uuid::new_v4());
}

/// The envelope without its signature, with `edit` applied to (wrapped key, IV + ciphertext), signed again by
/// `signer`.
fn resign(
    xhe: &str,
    signer: &sdk_relay::xmlsec::SigningKey,
    edit: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>),
) -> Vec<u8> {
    let start = xhe.find("<ds:Signature").expect("a signature");
    let end = xhe.find("</ds:Signature>").expect("its end") + "</ds:Signature>".len();
    let unsigned = format!("{}{}", &xhe[..start], &xhe[end..]);
    let values: Vec<(usize, usize)> = unsigned
        .match_indices("<xenc:CipherValue>")
        .map(|(at, tag)| {
            let from = at + tag.len();
            (from, from + unsigned[from..].find('<').unwrap())
        })
        .collect();
    let [(k0, k1), (d0, d1)] = values.as_slice() else {
        panic!("expected the wrapped key and the data: {values:?}");
    };
    let mut key = B64.decode(&unsigned[*k0..*k1]).unwrap();
    let mut data = B64.decode(&unsigned[*d0..*d1]).unwrap();
    edit(&mut key, &mut data);
    let edited = format!(
        "{}{}{}{}{}",
        &unsigned[..*k0],
        B64.encode(&key),
        &unsigned[*k1..*d0],
        B64.encode(&data),
        &unsigned[*d1..]
    );
    let doc = sdk_relay::xml::parse(&edited, &sdk_relay::xml::Limits::default()).unwrap();
    sdk_relay::xmlsec::sign_enveloped(&doc, signer)
        .unwrap()
        .into_bytes()
}

/// AES-256-CBC of `blocks` (a whole number of blocks, padding included or deliberately wrong) under `key`,
/// IV first, as XML Encryption carries it.
fn cbc(key: &[u8; 32], blocks: &[u8]) -> Vec<u8> {
    use aws_lc_rs::cipher::{AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey};
    let iv: [u8; 16] = *uuid::Uuid::new_v4().as_bytes();
    let k = EncryptingKey::cbc(UnboundCipherKey::new(&AES_256, key).unwrap()).unwrap();
    let mut out = blocks.to_vec();
    k.less_safe_encrypt(&mut out, EncryptionContext::Iv128(iv.into()))
        .unwrap();
    [iv.as_slice(), &out].concat()
}

/// XML Encryption's padding: the last byte says how many bytes were added (1..=16).
fn padded(plain: &[u8]) -> Vec<u8> {
    let n = 16 - plain.len() % 16;
    let mut out = plain.to_vec();
    out.extend(std::iter::repeat_n(0x5a, n - 1));
    out.push(u8::try_from(n).unwrap());
    out
}

/// `content_key` wrapped with RSA-OAEP (MGF1-SHA1, SDK's key transport) to `to`'s encryption certificate.
fn wrap_for(to: &Node, content_key: &[u8]) -> Vec<u8> {
    use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PublicEncryptingKey};
    let (_, cert) = key_of(to, Purpose::O2oEncrypt);
    let (_, parsed) = x509_parser::parse_x509_certificate(&cert).unwrap();
    let public = PublicEncryptingKey::from_der(parsed.public_key().raw).unwrap();
    let key = OaepPublicEncryptingKey::new(public).unwrap();
    let mut out = vec![0u8; key.ciphertext_size()];
    key.encrypt(&OAEP_SHA1_MGF1SHA1, content_key, &mut out, None)
        .unwrap()
        .to_vec()
}

/// A message from `from` to `to` whose payload is exactly `ciphertext` under a fresh `content_key`.
fn with_payload(from: &Node, to: &Node, content_key: &[u8; 32], ciphertext: Vec<u8>) -> Vec<u8> {
    let signer = signer_of(from);
    let (_, sealed) = sealed_xhe_signed_by(from, to, &signer, |x| x);
    resign(&String::from_utf8(sealed).unwrap(), &signer, |key, data| {
        *key = wrap_for(to, content_key);
        *data = ciphertext;
    })
}

fn xhe_id(xhe: &[u8]) -> String {
    let text = String::from_utf8_lossy(xhe);
    let doc = sdk_relay::xml::parse(&text, &sdk_relay::xml::Limits::default()).unwrap();
    sdk_relay::envelope::Xhe::read(doc.root()).id
}

fn metric(node: &Node, world: &World, name: &str) -> f64 {
    let (_, text) = world.rt.block_on(node.admin_get("/metrics")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

fn last_reason(m: &Value) -> String {
    m["attributes"]["events"]
        .as_array()
        .and_then(|e| e.last())
        .map(|e| e["title"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

fn is_receipt(a: &Answer) -> bool {
    a.status == 200 && ebms_errors(a).is_empty()
}

#[test]
fn a_member_resigning_a_captured_envelope_learns_nothing_and_a_fresh_message_still_goes_through() {
    let world = World::new();
    let (a, mut b) = world.pair();
    let c = attacker(&world);
    b.start();

    // Kommun A's envelope to Region B, delivered; Kommun C captured it on the way.
    let (original_id, captured) = sealed_xhe(&a, &b, |x| x);
    let (answer, _) = post_as4(&world, &a, &b, &captured, as4_id);
    assert!(is_receipt(&answer), "{:?}", ebms_errors(&answer));
    let captured = String::from_utf8(captured).unwrap();

    // C's own envelopes with fresh content keys and plaintexts that cannot be opened in four different ways:
    // each must look like every other from the outside (a receipt, then REJECTED for one fixed reason).
    // The plaintext blocks, padding included (all zeros: a padding length of 0, which is invalid).
    let unopenable: [(&str, Vec<u8>); 4] = [
        ("bad padding", vec![0u8; 48]),
        ("not UTF-8", padded(b"<a>\xff\xfe</a>")),
        ("not XML", padded(b"<a><b></a>")),
        ("XML, not an SDK message", padded(b"<a>hej</a>")),
    ];
    let mut reasons = Vec::new();
    for (i, (what, blocks)) in unopenable.into_iter().enumerate() {
        let mut fresh = [7u8; 32];
        fresh[0] = u8::try_from(i).unwrap();
        let xhe = with_payload(&c, &b, &fresh, cbc(&fresh, &blocks));
        let id = xhe_id(&xhe);
        let (answer, _) = post_as4(&world, &c, &b, &xhe, as4_id);
        assert!(is_receipt(&answer), "{what}: {:?}", ebms_errors(&answer));
        let m = b.message(&world.rt, &id);
        assert_eq!(m["attributes"]["messageStatus"], "REJECTED", "{what}");
        reasons.push((what, last_reason(&m)));
    }
    for (what, reason) in &reasons {
        assert!(
            reason.ends_with("SIG security: the message could not be opened"),
            "{what}: {reason}"
        );
        assert_eq!(
            reason, &reasons[0].1,
            "{what} differs from {}",
            reasons[0].0
        );
    }
    assert_eq!(metric(&b, &world, "sdk_relay_open_failures_total"), 4.0);

    // The oracle queries: A's ciphertext with blocks changed (and once unchanged), A's wrapped key kept, C as
    // the sender with a new id, signed with C's own valid key. None may be decrypted.
    let c_signer = signer_of(&c);
    let mut answers = Vec::new();
    for block in 0..10usize {
        let new_id = uuid::Uuid::new_v4().to_string();
        let edited = captured
            .replace(&original_id, &new_id)
            .replace(&a.org, &c.org);
        let xhe = resign(&edited, &c_signer, |_, data| {
            if block > 0 && block * 16 < data.len() {
                data[(block - 1) * 16 + 15] ^= 0x01;
            }
        });
        let (answer, _) = post_as4(&world, &c, &b, &xhe, as4_id);
        answers.push(answer);
    }
    let first = ebms_errors(&answers[0]);
    assert!(
        first
            .iter()
            .any(|e| e.contains("REPLAY") && e.contains("content key")),
        "{first:?}"
    );
    for (i, answer) in answers.iter().enumerate() {
        let errors = ebms_errors(answer);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("REPLAY") || e.contains("SENDER_BLOCKED")),
            "query {i} was not refused: {errors:?}"
        );
    }
    // C reached the threshold with its fifth failure (the first query): it is refused from then on.
    assert!(
        ebms_errors(&answers[9])
            .iter()
            .any(|e| e.contains("SENDER_BLOCKED"))
    );
    // Nothing of the queries was opened, stored or answered with a Meddelandekvittens.
    assert_eq!(metric(&b, &world, "sdk_relay_open_failures_total"), 4.0);
    assert_eq!(metric(&b, &world, "sdk_relay_senders_blocked_total"), 1.0);
    let stored = b.list(&world.rt, "");
    assert_eq!(stored.len(), 5, "A's message and C's four: {stored:#?}");

    // A fresh message from A is still taken in and delivered.
    let (id, fresh) = sealed_xhe(&a, &b, |x| x);
    let (answer, _) = post_as4(&world, &a, &b, &fresh, as4_id);
    assert!(is_receipt(&answer), "{:?}", ebms_errors(&answer));
    assert_eq!(b.status(&world.rt, &id), "NEW");
    assert_eq!(b.status(&world.rt, &original_id), "NEW");
    assert!(b.stop());
    let audit = audit_text(&b);
    assert!(audit.contains("security.sender-blocked"));
}

#[test]
fn a_replay_after_delete_and_an_old_envelope_are_refused() {
    let world = World::new();
    let (a, mut b) = world.pair();
    b.start();
    let (id, xhe) = sealed_xhe(&a, &b, |x| x);
    let (answer, packed) = post_as4(&world, &a, &b, &xhe, as4_id);
    assert!(is_receipt(&answer), "{:?}", ebms_errors(&answer));
    let deleted = b.call(&world.rt, "DELETE", &format!("/v1/sdk/messages/{id}"), None);
    assert!(
        deleted.status < 300,
        "{}",
        String::from_utf8_lossy(&deleted.body)
    );
    // The same envelope in a new AS4 message (another AP, or the same one replaying).
    let (again, _) = post_as4(&world, &a, &b, &xhe, as4_id);
    let errors = ebms_errors(&again);
    assert!(
        errors.iter().any(|e| e.contains("REPLAY")),
        "replay after delete: {errors:?}"
    );
    // The same AS4 message again (its receipt was lost) is still acknowledged, and not delivered again.
    let resent = common::node::send_packed(&world, &a, &b, &packed);
    assert!(is_receipt(&resent), "{:?}", ebms_errors(&resent));
    assert!(b.list(&world.rt, "").is_empty(), "nothing came back");

    // An envelope created eight days ago (the default window is seven).
    let old = (time::OffsetDateTime::now_utc() - time::Duration::days(8))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (_, old_xhe) = sealed_xhe(&a, &b, |x| {
        let open = "<CreationDateTime>";
        let start = x.find(open).expect("CreationDateTime") + open.len();
        let end = start + x[start..].find('<').unwrap();
        format!("{}{old}{}", &x[..start], &x[end..])
    });
    let (answer, _) = post_as4(&world, &a, &b, &old_xhe, as4_id);
    let errors = ebms_errors(&answer);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("REPLAY") && e.contains("envelope_max_age_seconds")),
        "{errors:?}"
    );
    assert!(b.list(&world.rt, "").is_empty());
    assert!(b.stop());
    // The refusals are filed under the ids they claimed, never as a stored message's.
    let audit = audit_text(&b);
    let refusals: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "as4.refused")
        .collect();
    assert_eq!(refusals.len(), 2, "{refusals:#?}");
    for r in &refusals {
        assert!(r["message_id"].is_null(), "{r}");
        assert!(r["claimed_message_id"].is_string(), "{r}");
    }
}

#[test]
fn a_20_mib_envelope_that_is_not_signed_leaves_a_digest_and_queues_nothing() {
    let world = World::new();
    let (a, mut b) = world.pair();
    b.start();
    let (_, sealed) = sealed_xhe(&a, &b, |x| x);
    let sealed = String::from_utf8(sealed).unwrap();
    let start = sealed.find("<ds:Signature").unwrap();
    let end = sealed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    // Unsigned, and 20 MiB of valid base64 in its ciphertext.
    let unsigned = format!("{}{}", &sealed[..start], &sealed[end..]);
    let at = unsigned.rfind("</xenc:CipherValue>").unwrap();
    let big = format!(
        "{}{}{}",
        &unsigned[..at],
        "QUJD".repeat(20 * 1024 * 1024 / 4),
        &unsigned[at..]
    );
    let (answer, _) = post_as4(&world, &a, &b, big.as_bytes(), as4_id);
    let errors = ebms_errors(&answer);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("EBMS:0101") && e.contains("sha256")),
        "{errors:?}"
    );
    let queue = b.call(&world.rt, "GET", "/v1/queue", None);
    let queued: Value = serde_json::from_slice(&queue.body).unwrap();
    assert_eq!(queued["data"].as_array().map(Vec::len), Some(0), "{queued}");
    assert!(b.list(&world.rt, "").is_empty());
    assert_eq!(common::stored::payloads(&b.data), 0, "no payload stored");
    assert!(b.stop());
    // On disk: no file anywhere in B's data directory holds the envelope (the largest is far smaller).
    let largest = largest_file(&b.data);
    assert!(
        largest.1 < 4 * 1024 * 1024,
        "{} is {} bytes",
        largest.0.display(),
        largest.1
    );
    // The audit record names its digest and is bounded.
    let audit = audit_text(&b);
    let record = audit
        .lines()
        .find(|l| l.contains("as4.refused"))
        .expect("the refusal is audited");
    assert!(record.contains("sha256"), "{record}");
    assert!(record.len() < 4096, "{} bytes", record.len());
}

fn largest_file(dir: &std::path::Path) -> (std::path::PathBuf, u64) {
    let mut largest = (dir.to_path_buf(), 0);
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let meta = entry.metadata().unwrap();
        let found = if meta.is_dir() {
            largest_file(&path)
        } else {
            (path, meta.len())
        };
        if found.1 > largest.1 {
            largest = found;
        }
    }
    largest
}

#[test]
fn a_revoked_ap_certificate_is_refused_on_as4_without_a_restart() {
    let world = World::new();
    let (a, mut b) = world.pair();
    b.start();
    let (_, xhe) = sealed_xhe(&a, &b, |x| x);
    let (answer, _) = post_as4(&world, &a, &b, &xhe, as4_id);
    assert!(is_receipt(&answer), "{:?}", ebms_errors(&answer));
    // A's AP (message signing) certificate is revoked; B's administrator imports the new CRL while B runs.
    let (_, ap_cert) = key_of(&a, Purpose::Ap);
    world.fed.revoke(&ap_cert).unwrap();
    common::pki::import_crls(&b.data, &world.fed);
    let (_, xhe) = sealed_xhe(&a, &b, |x| x);
    let (answer, _) = post_as4(&world, &a, &b, &xhe, as4_id);
    let errors = ebms_errors(&answer);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("EBMS:0101") && e.to_lowercase().contains("revoked")),
        "{errors:?}"
    );
    assert_eq!(
        b.list(&world.rt, "").len(),
        1,
        "only the first was taken in"
    );
    assert!(b.stop());
}
