//! Each verdict of the checking API, proven with generated federations (SDK test cases TF-02 and TF-03
//! among them), plus CRL import rules and key rotation in the store.

mod common;

use common::pki::*;
use sdk_relay::pki::{
    Checker, EntryState, KeyStore, Purpose, RevocationPolicy, TrustStore, Usage, Verdict,
};
use time::{Duration, OffsetDateTime};

struct World {
    _tmp: tempfile::TempDir,
    node: std::path::PathBuf,
    alpha: sdk_relay::pki::federation::Federation,
    beta: sdk_relay::pki::federation::Federation,
    stranger: sdk_relay::pki::federation::Federation,
}

/// Node trusts federation `alpha` (its own environment) and `beta` (another environment); `stranger` is
/// trusted nowhere.
fn world() -> World {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = tmp.path().join("node");
    let alpha = federation(&tmp.path().join("alpha"), "alpha");
    let beta = federation(&tmp.path().join("beta"), "beta");
    let stranger = federation(&tmp.path().join("stranger"), "stranger");
    trust_federation(&node, &alpha);
    trust_federation(&node, &beta);
    World {
        _tmp: tmp,
        node,
        alpha,
        beta,
        stranger,
    }
}

fn verdict(
    w: &World,
    chain: &[rustls_pki_types::CertificateDer<'static>],
    usage: Usage,
    at: OffsetDateTime,
) -> Verdict {
    let trust = TrustStore::open(&w.node).load().expect("load trust");
    Checker::new(&trust, RevocationPolicy::default()).check(chain, usage, &env("alpha"), at)
}

/// An AP certificate chain (leaf, AP CA) from `fed`.
fn ap(
    fed: &sdk_relay::pki::federation::Federation,
    cn: &str,
    options: &sdk_relay::pki::federation::IssueOptions,
) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    fed.issue(Purpose::Ap, &subject(cn), options)
        .expect("issue")
        .1
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[test]
fn every_verdict_of_the_checking_api() {
    let w = world();
    let good = ap(&w.alpha, "AP0001-SDK-ALPHA", &fast());
    assert_eq!(verdict(&w, &good, Usage::Ap, now()), Verdict::Ok);
    // The leaf alone works too: the AP intermediate is in the trust store.
    assert_eq!(verdict(&w, &good[..1], Usage::Ap, now()), Verdict::Ok);

    let old = ap(&w.alpha, "AP0002-SDK-ALPHA", &expired());
    assert_eq!(verdict(&w, &old, Usage::Ap, now()), Verdict::Expired);

    let early = ap(&w.alpha, "AP0003-SDK-ALPHA", &not_yet_valid());
    assert_eq!(verdict(&w, &early, Usage::Ap, now()), Verdict::NotYetValid);

    // TF-03: an AP certificate of another environment's CA.
    let other_env = ap(&w.beta, "AP0001-SDK-BETA", &fast());
    assert_eq!(
        verdict(&w, &other_env, Usage::Ap, now()),
        Verdict::WrongEnvironment { env: "beta".into() }
    );

    let unknown = ap(&w.stranger, "AP0009-SDK-X", &fast());
    assert_eq!(
        verdict(&w, &unknown, Usage::Ap, now()),
        Verdict::UntrustedIssuer
    );

    // An encryption-only O2O certificate cannot sign.
    let (_, encrypt_only) = w
        .alpha
        .issue(Purpose::O2oEncrypt, &subject("Kommun A"), &fast())
        .unwrap();
    assert_eq!(
        verdict(&w, &encrypt_only, Usage::O2oEncrypt, now()),
        Verdict::Ok
    );
    assert!(matches!(
        verdict(&w, &encrypt_only, Usage::O2oSign, now()),
        Verdict::WrongKeyUsage { detail } if detail.contains("digitalSignature")
    ));

    // Roles are kept apart: an AP certificate is not a TLS certificate even in its own environment.
    assert_eq!(
        verdict(&w, &good, Usage::TlsClient, now()),
        Verdict::UntrustedIssuer
    );
}

#[test]
fn tf02_revoked_after_the_ca_revokes_and_the_crl_is_reimported() {
    let w = world();
    let chain = ap(&w.alpha, "AP0001-SDK-ALPHA", &fast());
    assert_eq!(verdict(&w, &chain, Usage::Ap, now()), Verdict::Ok);

    w.alpha.revoke(&chain[0]).expect("revoke");
    // Until the node has the new CRL it cannot know.
    assert_eq!(verdict(&w, &chain, Usage::Ap, now()), Verdict::Ok);
    import_crls(&w.node, &w.alpha);
    assert_eq!(verdict(&w, &chain, Usage::Ap, now()), Verdict::Revoked);

    // Revoking the intermediate (by the root's CRL) revokes everything under it.
    let other = ap(&w.alpha, "AP0002-SDK-ALPHA", &fast());
    assert_eq!(verdict(&w, &other, Usage::Ap, now()), Verdict::Ok);
    w.alpha.revoke(&other[1]).expect("revoke the AP CA");
    import_crls(&w.node, &w.alpha);
    assert_eq!(verdict(&w, &other, Usage::Ap, now()), Verdict::Revoked);
}

#[test]
fn revocation_is_hard_fail_once_crls_are_out_of_date() {
    let w = world();
    let chain = ap(&w.alpha, "AP0001-SDK-ALPHA", &fast());
    // The federation's CRLs say nextUpdate = now + 7 days; the default grace is one day.
    assert_eq!(
        verdict(&w, &chain, Usage::Ap, now() + Duration::days(7)),
        Verdict::Ok
    );
    assert_eq!(
        verdict(&w, &chain, Usage::Ap, now() + Duration::days(9)),
        Verdict::RevocationUnknown
    );
    // With no CRL at all for the environment, nothing passes either.
    let bare = tempfile::tempdir().unwrap();
    let store = TrustStore::open(bare.path());
    for (role, file) in w.alpha.trust_files() {
        let certs = sdk_relay::pki::read_certificates(&std::fs::read(file).unwrap(), "ca").unwrap();
        store.import(w.alpha.env(), role, &certs).unwrap();
    }
    let trust = store.load().unwrap();
    assert_eq!(
        Checker::new(&trust, RevocationPolicy::default()).check(
            &chain,
            Usage::Ap,
            &env("alpha"),
            now()
        ),
        Verdict::RevocationUnknown
    );
}

#[test]
fn crl_import_refuses_strangers_and_replays() {
    let w = world();
    let store = TrustStore::open(&w.node);
    let stranger_crl = std::fs::read(&w.stranger.crl_files()[0]).unwrap();
    let err = store
        .import_crl(&stranger_crl, "stranger.crl")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no trusted CA issued this CRL"), "{err}");

    let old = std::fs::read(&w.alpha.crl_files()[1]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    w.alpha.publish_crl("ap-ca").unwrap();
    import_crls(&w.node, &w.alpha);
    let err = store.import_crl(&old, "old.crl").unwrap_err().to_string();
    assert!(err.contains("older than the stored one"), "{err}");

    let err = store
        .import_crl(b"not a crl", "junk.crl")
        .unwrap_err()
        .to_string();
    assert!(err.contains("junk.crl"), "{err}");
}

#[test]
fn rotation_signs_with_the_newest_and_accepts_all_active() {
    let w = world();
    let keys = KeyStore::open(&w.node);
    let first = issue_into(&w.node, &w.alpha, Purpose::Tls, "node.example", &fast());
    let second = issue_into(&w.node, &w.alpha, Purpose::Tls, "node.example", &fast());
    assert_eq!(keys.get(&first).unwrap().meta.state, EntryState::Active);
    assert_eq!(
        keys.get(&second).unwrap().meta.state,
        EntryState::Next,
        "adding never changes what is used"
    );
    assert_eq!(keys.signing(Purpose::Tls).unwrap().id(), first);

    keys.activate(&second).unwrap();
    assert_eq!(keys.signing(Purpose::Tls).unwrap().id(), second);
    let active_ids = || -> Vec<String> {
        let active = keys.active(Purpose::Tls).unwrap();
        active.iter().map(|e| e.id().to_owned()).collect()
    };
    assert_eq!(active_ids(), vec![second.clone(), first.clone()]);

    keys.retire(&first).unwrap();
    assert_eq!(active_ids(), vec![second.clone()]);
    assert!(
        keys.activate(&second)
            .unwrap_err()
            .to_string()
            .contains("already active")
    );
    assert!(keys.get("tls-99").is_err());

    // An expired certificate cannot be activated.
    let old = issue_into(&w.node, &w.alpha, Purpose::Tls, "node.example", &expired());
    assert!(
        keys.activate(&old)
            .unwrap_err()
            .to_string()
            .contains("expired")
    );
}

#[cfg(unix)]
#[test]
fn private_keys_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let w = world();
    let id = issue_into(&w.node, &w.alpha, Purpose::Ap, "AP0001-SDK-ALPHA", &fast());
    let entry = KeyStore::open(&w.node).get(&id).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&entry.dir().join("key.pem")), 0o600);
    assert_eq!(mode(entry.dir()), 0o700);
    assert_eq!(mode(&w.node.join("keys")), 0o700);
    for ca in ["ap-root", "ap-ca", "smp-ca", "tls-root", "tls-ca", "o2o-ca"] {
        assert_eq!(mode(&w.alpha.dir().join(ca).join("key.pem")), 0o600, "{ca}");
    }
    // The certificate is public and readable.
    assert_eq!(mode(&entry.dir().join("cert.pem")), 0o644);
}
