//! Two access points of a test federation (and strangers) for the AS4 tests.

use sdk_relay::as4::ebms::{PartInfo, UserMessage};
use sdk_relay::as4::pack::{self, Packed, ReceivePolicy, Refused};
use sdk_relay::as4::wssec::ApSigner;
use sdk_relay::pki::federation::Federation;
use sdk_relay::pki::truststore::Trust;
use sdk_relay::pki::{Checker, Env, Purpose, RevocationPolicy, TrustStore};

use super::o2o::{Party, party};

pub const DOC_ID: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";

pub struct Net {
    _dir: tempfile::TempDir,
    pub fed: Federation,
    pub data_dir: std::path::PathBuf,
    pub sender: Party,
    pub receiver: Party,
    /// AP0003 of the same federation.
    pub stranger: Party,
    /// An AP certificate from another environment's federation, named like the sender.
    pub other_env: Party,
    pub expired: Party,
    pub trust: Trust,
    pub env: Env,
}

pub fn net() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let fed = super::pki::federation(&dir.path().join("fed"), "as4-test");
    let other = super::pki::federation(&dir.path().join("other"), "other-env");
    let data_dir = dir.path().join("node");
    super::pki::trust_federation(&data_dir, &fed);
    super::pki::trust_federation(&data_dir, &other);
    let (key, chain) = fed
        .issue(
            Purpose::Ap,
            &super::pki::subject("AP0001-SDK-TEST"),
            &super::pki::expired(),
        )
        .unwrap();
    let expired = Party {
        key,
        cert: chain[0].clone(),
        key_pem: dir.path().join("unused"),
        cert_pem: dir.path().join("unused"),
    };
    Net {
        sender: party(dir.path(), &fed, Purpose::Ap, "AP0001-SDK-TEST", "ap1"),
        receiver: party(dir.path(), &fed, Purpose::Ap, "AP0002-SDK-TEST", "ap2"),
        stranger: party(dir.path(), &fed, Purpose::Ap, "AP0003-SDK-TEST", "ap3"),
        other_env: party(
            dir.path(),
            &other,
            Purpose::Ap,
            "AP0001-SDK-TEST",
            "ap1-other",
        ),
        expired,
        trust: TrustStore::open(&data_dir).load().unwrap(),
        data_dir,
        fed,
        env: super::pki::env("as4-test"),
        _dir: dir,
    }
}

pub fn signer(p: &Party) -> ApSigner {
    ApSigner::new(&p.key, p.cert.clone()).unwrap()
}

pub fn message(payloads: usize) -> UserMessage {
    let mut m = UserMessage::sdk(
        "AP0001-SDK-TEST",
        "AP0002-SDK-TEST",
        DOC_ID,
        "0203:kommun-a.example.se",
        "0203:region-b.example.se",
        "conversation-1",
    );
    m.payloads = (0..payloads)
        .map(|i| PartInfo {
            href: format!("cid:payload-{i}@sdk-relay"),
            mime_type: "text/xml".into(),
            compressed: true,
        })
        .collect();
    m
}

pub fn xhe() -> Vec<u8> {
    super::o2o::clear_envelope().into_bytes()
}

pub fn send(n: &Net, from: &Party, payloads: &[&[u8]]) -> Packed {
    pack::pack(
        &message(payloads.len()),
        payloads,
        &signer(from),
        &n.receiver.cert,
    )
    .expect("pack")
}

pub fn receive(n: &Net, packed_type: &str, body: &[u8]) -> Result<pack::Received, Refused> {
    let checker = Checker::new(&n.trust, RevocationPolicy::default());
    let policy = ReceivePolicy::new(&checker, &n.env);
    pack::unpack(packed_type, body, &policy, &n.receiver.payload_key())
}
