//! The one certificate check every layer calls: is this certificate good for this use, in this environment,
//! at this time? Chains are built with rustls-webpki against the trust store of the environment and the role
//! the use belongs to, with hard-fail revocation from the stored CRLs.

use std::fmt;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, ExtendedKeyUsageValidator,
    KeyPurposeIdIter, KeyUsage, RevocationCheckDepth, RevocationOptionsBuilder,
    UnknownStatusPolicy,
};

use super::cert::CertInfo;
use super::profile::key_usage_problem;
use super::truststore::Trust;
use super::{Env, Purpose, Role};

/// What a certificate is being checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// A peer access point's AS4 signing/encryption certificate.
    Ap,
    /// A TLS server we connect to.
    TlsServer,
    /// A TLS client connecting to us.
    TlsClient,
    /// An organisation's XHE signature.
    O2oSign,
    /// An organisation's XHE encryption certificate.
    O2oEncrypt,
    /// An SMP's signature on ServiceMetadata.
    Smp,
}

impl Usage {
    pub fn purpose(self) -> Purpose {
        match self {
            Usage::Ap => Purpose::Ap,
            Usage::TlsServer | Usage::TlsClient => Purpose::Tls,
            Usage::O2oSign => Purpose::O2oSign,
            Usage::O2oEncrypt => Purpose::O2oEncrypt,
            Usage::Smp => Purpose::Smp,
        }
    }

    pub fn role(self) -> Role {
        self.purpose().role()
    }

    fn eku(self) -> Option<&'static str> {
        match self {
            Usage::TlsServer => Some("serverAuth"),
            Usage::TlsClient => Some("clientAuth"),
            _ => None,
        }
    }

    /// The natural check for one of our own entries of `purpose`.
    pub fn for_purpose(purpose: Purpose) -> Usage {
        match purpose {
            Purpose::Ap => Usage::Ap,
            Purpose::Tls => Usage::TlsClient,
            Purpose::O2oSign => Usage::O2oSign,
            Purpose::O2oEncrypt => Usage::O2oEncrypt,
            Purpose::Smp => Usage::Smp,
        }
    }
}

/// The verdict on one certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Verdict {
    Ok,
    Expired,
    NotYetValid,
    Revoked,
    /// No chain to a CA trusted for this role in any environment.
    UntrustedIssuer,
    /// Chains to a CA of another environment (TF-03): never accepted across environments.
    WrongEnvironment {
        env: String,
    },
    WrongKeyUsage {
        detail: String,
    },
    /// No current CRL covers a CA on the path; hard-fail, like a revocation (TF-02 expects failure, not
    /// silence, when revocation cannot be checked).
    RevocationUnknown,
    /// The certificate or the chain could not be used at all (bad encoding, bad signature, ...).
    Invalid {
        detail: String,
    },
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        *self == Verdict::Ok
    }

    /// Short kebab-case name, as `certs list` prints it.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Expired => "expired",
            Verdict::NotYetValid => "not-yet-valid",
            Verdict::Revoked => "revoked",
            Verdict::UntrustedIssuer => "untrusted",
            Verdict::WrongEnvironment { .. } => "wrong-environment",
            Verdict::WrongKeyUsage { .. } => "wrong-key-usage",
            Verdict::RevocationUnknown => "revocation-unknown",
            Verdict::Invalid { .. } => "invalid",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ok => f.write_str("ok"),
            Verdict::Expired => f.write_str("expired"),
            Verdict::NotYetValid => f.write_str("not yet valid"),
            Verdict::Revoked => f.write_str("revoked by its CA"),
            Verdict::UntrustedIssuer => f.write_str("untrusted: no chain to a trusted CA for this role"),
            Verdict::WrongEnvironment { env } => write!(f, "wrong environment: issued by a CA of {env}"),
            Verdict::WrongKeyUsage { detail } => write!(f, "wrong key usage: {detail}"),
            Verdict::RevocationUnknown => {
                f.write_str("revocation status unknown: no current CRL for a CA on the path (`sdk-relay crl update`)")
            }
            Verdict::Invalid { detail } => write!(f, "invalid: {detail}"),
        }
    }
}

/// How revocation is checked. The default is hard-fail with a one-day grace after a CRL's nextUpdate.
#[derive(Clone, Copy, Debug)]
pub struct RevocationPolicy {
    /// A CRL keeps counting this long after its nextUpdate, so a CA that publishes late does not stop
    /// traffic at once.
    pub grace: Duration,
    /// When false, revocation is not checked at all (only for diagnostics; never the node's default).
    pub enabled: bool,
}

impl Default for RevocationPolicy {
    fn default() -> Self {
        RevocationPolicy {
            grace: Duration::days(1),
            enabled: true,
        }
    }
}

/// Checks certificates against a loaded [`Trust`].
pub struct Checker<'t> {
    trust: TrustRef<'t>,
    policy: RevocationPolicy,
}

/// The trust a checker reads: borrowed, or a shared snapshot (a running node's, which a reload replaces
/// while checks on the old one finish).
enum TrustRef<'t> {
    Borrowed(&'t Trust),
    Shared(std::sync::Arc<Trust>),
}

impl std::ops::Deref for TrustRef<'_> {
    type Target = Trust;
    fn deref(&self) -> &Trust {
        match self {
            TrustRef::Borrowed(t) => t,
            TrustRef::Shared(t) => t,
        }
    }
}

impl<'t> Checker<'t> {
    pub fn new(trust: &'t Trust, policy: RevocationPolicy) -> Self {
        Checker {
            trust: TrustRef::Borrowed(trust),
            policy,
        }
    }

    /// A checker over a shared snapshot of the trust.
    pub fn shared(trust: std::sync::Arc<Trust>, policy: RevocationPolicy) -> Checker<'static> {
        Checker {
            trust: TrustRef::Shared(trust),
            policy,
        }
    }

    /// Checks `chain` (leaf first; the rest are intermediates the holder sent) for `usage` in `env` at `at`.
    pub fn check(
        &self,
        chain: &[CertificateDer<'_>],
        usage: Usage,
        env: &Env,
        at: OffsetDateTime,
    ) -> Verdict {
        let Some(leaf) = chain.first() else {
            return Verdict::Invalid {
                detail: "no certificate".into(),
            };
        };
        let info = match CertInfo::parse(leaf) {
            Ok(i) => i,
            Err(e) => {
                return Verdict::Invalid {
                    detail: e.to_string(),
                };
            }
        };
        if let Some(detail) = key_usage_problem(&info, usage.purpose(), usage.eku()) {
            return Verdict::WrongKeyUsage { detail };
        }
        match self.verify_in(env, chain, usage, at, true) {
            Verdict::UntrustedIssuer => {}
            other => return other,
        }
        for other in self.trust.envs() {
            if &other != env
                && self.verify_in(&other, chain, usage, at, false) != Verdict::UntrustedIssuer
            {
                return Verdict::WrongEnvironment {
                    env: other.to_string(),
                };
            }
        }
        Verdict::UntrustedIssuer
    }

    fn verify_in(
        &self,
        env: &Env,
        chain: &[CertificateDer<'_>],
        usage: Usage,
        at: OffsetDateTime,
        revocation: bool,
    ) -> Verdict {
        let role = usage.role();
        let stored: Vec<&super::truststore::TrustedCert> =
            self.trust.certs_for(env, role).collect();
        // Anchors are the top of what we were given for the role: self-signed roots, and CAs whose issuer is
        // not itself trusted (an O2O function CA imported without its root).
        let (anchors, intermediates): (Vec<_>, Vec<_>) =
            stored
                .iter()
                .partition(|c: &&&super::truststore::TrustedCert| {
                    c.info.self_signed
                        || !stored
                            .iter()
                            .any(|p| p.info.issued(&c.info) && p.info.sha256 != c.info.sha256)
                });
        let anchors: Vec<TrustAnchor<'_>> = anchors
            .iter()
            .filter_map(|c: &&super::truststore::TrustedCert| {
                webpki::anchor_from_trusted_cert(&c.der).ok()
            })
            .collect();
        if anchors.is_empty() {
            return Verdict::UntrustedIssuer;
        }
        let mut inter: Vec<CertificateDer<'_>> =
            intermediates.iter().map(|c| c.der.clone()).collect();
        inter.extend(chain.iter().skip(1).cloned());
        let leaf = match EndEntityCert::try_from(&chain[0]) {
            Ok(l) => l,
            Err(e) => {
                return Verdict::Invalid {
                    detail: format!("{e}"),
                };
            }
        };
        let check_revocation = revocation && self.policy.enabled;
        let crl_refs: Vec<&CertRevocationList<'_>> = if check_revocation {
            self.trust
                .crls_for(env)
                .filter(|c| c.next_update.is_none_or(|n| at <= n + self.policy.grace))
                .map(|c| &c.revocation_list)
                .collect()
        } else {
            Vec::new()
        };
        let revocation_options = if check_revocation {
            match RevocationOptionsBuilder::new(&crl_refs) {
                Ok(b) => Some(
                    b.with_depth(RevocationCheckDepth::Chain)
                        .with_status_policy(UnknownStatusPolicy::Deny)
                        // nextUpdate (with grace) was applied above, so the grace period is ours to set.
                        .with_expiration_policy(ExpirationPolicy::Ignore)
                        .build(),
                ),
                // No CRL at all: build the path first, then report the unknown status.
                Err(_) => None,
            }
        } else {
            None
        };
        let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            at.unix_timestamp().max(0) as u64,
        ));
        let result = leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &inter,
            time,
            EkuCheck(usage),
            revocation_options,
            None,
        );
        match result {
            Ok(_) if check_revocation && crl_refs.is_empty() => Verdict::RevocationUnknown,
            Ok(_) => Verdict::Ok,
            Err(e) => map_error(e),
        }
    }
}

fn map_error(e: webpki::Error) -> Verdict {
    use webpki::Error as E;
    match e {
        E::CertExpired { .. } => Verdict::Expired,
        E::CertNotValidYet { .. } => Verdict::NotYetValid,
        E::CertRevoked => Verdict::Revoked,
        E::UnknownIssuer => Verdict::UntrustedIssuer,
        E::UnknownRevocationStatus | E::CrlExpired { .. } => Verdict::RevocationUnknown,
        E::RequiredEkuNotFoundContext(_) => Verdict::WrongKeyUsage {
            detail: "extended key usage does not allow this use".into(),
        },
        other => Verdict::Invalid {
            detail: format!("{other}"),
        },
    }
}

/// EKU policy: TLS uses must allow serverAuth/clientAuth when the extension is present; other uses are
/// checked by key usage (see `profile`), since SDK's O2O and AP certificates carry assorted EKUs.
struct EkuCheck(Usage);

impl ExtendedKeyUsageValidator for EkuCheck {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        match self.0 {
            Usage::TlsServer => KeyUsage::server_auth().validate(iter),
            Usage::TlsClient => KeyUsage::client_auth().validate(iter),
            _ => Ok(()),
        }
    }
}
