//! Signature wrapping and tampering: variants of a validly sealed envelope, each refused for its own reason by
//! `open` — and in none of them is the payload key ever used (no decryption after a failed verification).

mod common;

use std::cell::Cell;

use base64::Engine;
use common::o2o::{self, Party, Setup};
use rustls_pki_types::CertificateDer;
use sdk_relay::pki::{Checker, Env, Purpose, RevocationPolicy, TrustStore, Verdict};
use sdk_relay::xml::{Limits, parse};
use sdk_relay::xmlsec::{
    self, DecryptError, KeyError, Oaep, OpenError, PayloadKey, RsaPayloadKey, SignatureError,
    SignerPolicy, TrustCheck,
};

/// A payload key that counts how often it is asked to decrypt.
struct CountingKey {
    inner: RsaPayloadKey,
    uses: Cell<usize>,
}

impl PayloadKey for CountingKey {
    fn certificate(&self) -> &CertificateDer<'static> {
        self.inner.certificate()
    }

    fn unwrap_key(&self, oaep: Oaep, wrapped: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.uses.set(self.uses.get() + 1);
        self.inner.unwrap_key(oaep, wrapped)
    }
}

struct World {
    _dir: tempfile::TempDir,
    s: Setup,
    env: Env,
    trust: sdk_relay::pki::truststore::Trust,
    /// Another organisation of the same federation.
    stranger: Party,
    /// Kommun A's key from another environment's federation.
    other_env_sender: Party,
    expired_sender: Party,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let s = o2o::setup(dir.path(), "o2o-test");
    let other_fed = common::pki::federation(&dir.path().join("other"), "other-env");
    let data_dir = dir.path().join("node");
    common::pki::trust_federation(&data_dir, &s.fed);
    common::pki::trust_federation(&data_dir, &other_fed);
    let trust = TrustStore::open(&data_dir).load().unwrap();
    let stranger = o2o::party(dir.path(), &s.fed, Purpose::O2oSign, "Kommun C", "stranger");
    let other_env_sender = o2o::party(
        dir.path(),
        &other_fed,
        Purpose::O2oSign,
        "Kommun A",
        "other-env-sender",
    );
    let (key, chain) = s
        .fed
        .issue(
            Purpose::O2oSign,
            &common::pki::subject("Kommun A"),
            &common::pki::expired(),
        )
        .unwrap();
    let expired_sender = Party {
        key,
        cert: chain[0].clone(),
        key_pem: dir.path().join("unused"),
        cert_pem: dir.path().join("unused"),
    };
    World {
        _dir: dir,
        s,
        env: common::pki::env("o2o-test"),
        trust,
        stranger,
        other_env_sender,
        expired_sender,
    }
}

fn seal_as(w: &World, signer: &Party) -> String {
    let clear = o2o::clear_envelope();
    let doc = parse(&clear, &Limits::default()).unwrap();
    xmlsec::seal(&doc, &signer.signing_key(), &w.s.recipient.cert).unwrap()
}

type Expect = fn(&OpenError) -> bool;

/// Opens `text` with the full policy (chain in o2o-test, pinned to Kommun A's certificate) and a counting key.
fn open(w: &World, text: &str, key: &CountingKey) -> Result<(), OpenError> {
    let doc =
        parse(text, &Limits::default()).unwrap_or_else(|e| panic!("variant does not parse: {e}"));
    let checker = Checker::new(&w.trust, RevocationPolicy::default());
    let policy = SignerPolicy {
        trust: Some(TrustCheck {
            checker: &checker,
            env: &w.env,
            at: time::OffsetDateTime::now_utc(),
        }),
        pinned: Some(&w.s.sender.cert),
    };
    xmlsec::open(&doc, &policy, key).map(|_| ())
}

fn sig_range(text: &str) -> std::ops::Range<usize> {
    let start = text.find("<ds:Signature").expect("signature");
    let end = text.find("</ds:Signature>").expect("end") + "</ds:Signature>".len();
    start..end
}

fn without(text: &str, range: std::ops::Range<usize>) -> String {
    format!("{}{}", &text[..range.start], &text[range.end..])
}

fn cert_b64(cert: &CertificateDer<'_>) -> String {
    base64::engine::general_purpose::STANDARD.encode(cert)
}

#[test]
fn every_wrapping_and_tampering_variant_is_refused_without_decrypting() {
    let w = world();
    let sealed = seal_as(&w, &w.s.sender);
    let sig = sig_range(&sealed);
    let signature = sealed[sig.clone()].to_owned();
    let unsigned = without(&sealed, sig.clone());
    let payloads_at = unsigned.find("<xha:Payloads>").unwrap();
    let content_end = sealed.find("</xha:PayloadContent>").unwrap();
    let cipher_at = sealed.rfind("<xenc:CipherValue>").unwrap() + "<xenc:CipherValue>".len() + 10;
    let flipped = if &sealed[cipher_at..=cipher_at] == "A" {
        "B"
    } else {
        "A"
    };
    let decl_end = sealed.find("?>").unwrap() + 2;

    let variants: Vec<(&str, String, Expect)> = vec![
        ("the signature removed", unsigned.clone(), |e| {
            matches!(e, OpenError::Signature(SignatureError::Unsigned))
        }),
        (
            "one byte of the encrypted payload changed",
            format!("{}{flipped}{}", &sealed[..cipher_at], &sealed[cipher_at + 1..]),
            |e| matches!(e, OpenError::Signature(SignatureError::Invalid(_))),
        ),
        (
            "a copy of the signature inside the payload",
            format!("{}{signature}{}", &sealed[..content_end], &sealed[content_end..]),
            |e| matches!(e, OpenError::Signature(SignatureError::SignatureCount(2))),
        ),
        (
            "two signatures at the end of the envelope",
            format!("{}{signature}{}", &sealed[..sig.end], &sealed[sig.end..]),
            |e| matches!(e, OpenError::Signature(SignatureError::SignatureCount(2))),
        ),
        (
            "the signature moved before the payloads",
            format!("{}{signature}{}", &unsigned[..payloads_at], &unsigned[payloads_at..]),
            |e| matches!(e, OpenError::Signature(SignatureError::SignatureMisplaced(_))),
        ),
        (
            "a second XHE root wrapping the signed envelope",
            format!(
                "{}<x:XHE xmlns:x=\"http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope\">{}</x:XHE>",
                &sealed[..decl_end],
                &sealed[decl_end..]
            ),
            |e| matches!(e, OpenError::Signature(SignatureError::SignatureMisplaced(_))),
        ),
        (
            "forged payloads added outside the signed part (after the signature)",
            format!(
                "{}<xha:Payloads><xha:Payload/></xha:Payloads>{}",
                &sealed[..sig.end],
                &sealed[sig.end..]
            ),
            |e| matches!(e, OpenError::Signature(SignatureError::SignatureMisplaced(_))),
        ),
        (
            "the reference narrowed to an Id",
            sealed
                .replacen("<ds:Reference URI=\"\">", "<ds:Reference URI=\"#header\">", 1)
                .replacen("<xha:Header>", "<xha:Header Id=\"header\">", 1),
            |e| matches!(e, OpenError::Signature(SignatureError::ReferenceScope(u)) if u == "#header"),
        ),
        (
            // Comments themselves are taken (tests/xhe_comments.rs); one cannot hide a changed value.
            "a comment injected inside a signed value, and the value changed around it",
            sealed.replacen("0203:region-b.example.se", "0203:region-b<!-- -->.example.org", 1),
            |e| matches!(e, OpenError::Signature(SignatureError::Invalid(_))),
        ),
        (
            "whitespace injected inside a signed value",
            sealed.replacen("0203:region-b.example.se", "0203:region-b.example.se ", 1),
            |e| matches!(e, OpenError::Signature(SignatureError::Invalid(_))),
        ),
        (
            "the KeyInfo certificate swapped for another organisation's",
            sealed.replacen(&cert_b64(&w.s.sender.cert), &cert_b64(&w.stranger.cert), 1),
            |e| matches!(e, OpenError::Signature(SignatureError::Invalid(_))),
        ),
        (
            "a weaker signature algorithm named",
            sealed.replacen("xmldsig-more#rsa-sha256", "xmldsig#rsa-sha1", 1),
            |e| matches!(e, OpenError::Signature(SignatureError::Algorithm { what: "signature", .. })),
        ),
        (
            "an XPath transform added to the reference",
            sealed.replacen(
                "enveloped-signature\"/>",
                "enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"/>",
                1,
            ),
            |e| matches!(e, OpenError::Signature(SignatureError::Structure(_))),
        ),
        (
            "a ds:Object smuggled into the signature",
            sealed.replacen("</ds:Signature>", "<ds:Object><x>hidden</x></ds:Object></ds:Signature>", 1),
            |e| matches!(e, OpenError::Signature(SignatureError::Structure(m)) if m.contains("Object")),
        ),
        (
            "signed with a certificate from another environment's CA",
            seal_as(&w, &w.other_env_sender),
            |e| matches!(e, OpenError::Untrusted { verdict: Verdict::WrongEnvironment { .. }, .. }),
        ),
        (
            "signed by another organisation of the federation",
            seal_as(&w, &w.stranger),
            |e| matches!(e, OpenError::NotPinned { found, .. } if found.contains("Kommun C")),
        ),
    ];
    assert!(variants.len() >= 12);

    let key = CountingKey {
        inner: w.s.recipient.payload_key(),
        uses: Cell::new(0),
    };
    open(&w, &sealed, &key).expect("the valid original opens");
    assert_eq!(key.uses.get(), 1, "the original is decrypted exactly once");
    for (name, text, expected) in &variants {
        assert_ne!(text, &sealed, "{name}: the variant changed nothing");
        let before = key.uses.get();
        let err = open(&w, text, &key).expect_err(name);
        assert!(
            expected(&err),
            "{name}: refused for the wrong reason: {err}"
        );
        assert_eq!(
            key.uses.get(),
            before,
            "{name}: the payload key was used after a failed verification"
        );
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn the_signer_chain_decides_before_any_decryption() {
    let w = world();
    let key = CountingKey {
        inner: w.s.recipient.payload_key(),
        uses: Cell::new(0),
    };
    let checker = Checker::new(&w.trust, RevocationPolicy::default());
    let at = time::OffsetDateTime::now_utc();
    let policy = |env: &'static str| SignerPolicy {
        trust: Some(TrustCheck {
            checker: &checker,
            env: Box::leak(Box::new(common::pki::env(env))),
            at,
        }),
        pinned: None,
    };
    let open_as = |signer: &Party, env: &'static str| {
        let sealed = seal_as(&w, signer);
        let doc = parse(&sealed, &Limits::default()).unwrap();
        xmlsec::open(&doc, &policy(env), &key).map(|o| o.verdict)
    };
    // Trusted in its own environment; refused from the other one, and when expired.
    assert_eq!(open_as(&w.s.sender, "o2o-test").unwrap(), Some(Verdict::Ok));
    assert_eq!(key.uses.get(), 1);
    let refused = |r: Result<Option<Verdict>, OpenError>| match r {
        Err(OpenError::Untrusted { verdict, .. }) => verdict,
        other => panic!(
            "expected an untrusted signer, got {:?}",
            other.map_err(|e| e.to_string())
        ),
    };
    assert!(matches!(
        refused(open_as(&w.s.sender, "other-env")),
        Verdict::WrongEnvironment { .. }
    ));
    assert_eq!(
        refused(open_as(&w.expired_sender, "o2o-test")),
        Verdict::Expired
    );
    assert_eq!(key.uses.get(), 1, "no decryption for an untrusted signer");
}

#[test]
fn a_payload_for_another_recipient_is_refused_without_using_the_key() {
    let w = world();
    let sealed = seal_as(&w, &w.s.sender);
    let doc = parse(&sealed, &Limits::default()).unwrap();
    let key = CountingKey {
        inner: w.stranger.payload_key(),
        uses: Cell::new(0),
    };
    match xmlsec::open(&doc, &SignerPolicy::default(), &key) {
        Err(OpenError::Decrypt(DecryptError::NotForThisKey(who))) => {
            assert!(who.contains("Region B"))
        }
        other => panic!("{:?}", other.map(|_| ()).map_err(|e| e.to_string())),
    }
    assert_eq!(key.uses.get(), 0);
}
