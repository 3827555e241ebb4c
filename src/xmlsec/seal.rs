//! The two operations the node uses: `seal` (encrypt to the recipient, then sign as the sender) and `open`
//! (verify the signature and the signer, then — only then — decrypt).

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use super::decrypt::{DecryptError, Decrypted, decrypt_verified};
use super::encrypt::encrypt_payload;
use super::keys::{PayloadKey, SigningKey};
use super::sign::{SealError, sign_enveloped};
use super::verify::{SignatureError, Verified, verify_enveloped};
use crate::pki::{CertInfo, Checker, Env, Usage, Verdict};
use crate::xml::{Doc, Limits};

/// Encrypts the payload of `doc` to `recipient`, then signs the whole envelope with `signer`.
pub fn seal(
    doc: &Doc<'_>,
    signer: &SigningKey,
    recipient: &CertificateDer<'_>,
) -> Result<String, SealError> {
    let encrypted = encrypt_payload(doc, recipient)?;
    // Our own output, parsed again only to sign the tree that will be sent.
    let encrypted_doc = crate::xml::parse(&encrypted, &Limits::default())
        .map_err(|e| SealError::Payload(format!("encrypted envelope: {e}")))?;
    sign_enveloped(&encrypted_doc, signer)
}

/// How the signer of an envelope is judged.
#[derive(Default)]
pub struct SignerPolicy<'c> {
    /// The chain, validity and revocation check for the O2O role; `None` checks the signature only.
    pub trust: Option<TrustCheck<'c>>,
    /// The certificate the sender must have signed with (its CertPub signing certificate).
    pub pinned: Option<&'c CertificateDer<'c>>,
}

/// A chain check with the `pki` checking API.
pub struct TrustCheck<'c> {
    pub checker: &'c Checker<'c>,
    pub env: &'c Env,
    pub at: OffsetDateTime,
}

/// Why an envelope was not opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("signer {subject}: {verdict}")]
    Untrusted { subject: String, verdict: Verdict },
    #[error("signer {found} is not the expected signing certificate {expected}")]
    NotPinned { found: String, expected: String },
    #[error("decryption: {0}")]
    Decrypt(#[from] DecryptError),
}

/// A verified envelope and what was decided about its signer.
pub struct Trusted<'d, 'a> {
    pub verified: Verified<'d, 'a>,
    /// The chain verdict (always `Ok` here), or `None` when no chain check was asked for.
    pub verdict: Option<Verdict>,
}

/// Verifies the signature of `doc`, then judges its signer by `policy`: the chain first (its verdict says the
/// most about a stranger's certificate), then the pin.
pub fn verify_signer<'d, 'a>(
    doc: &'d Doc<'a>,
    policy: &SignerPolicy<'_>,
) -> Result<Trusted<'d, 'a>, OpenError> {
    let verified = verify_enveloped(doc)?;
    let subject =
        || CertInfo::parse(&verified.signer).map_or_else(|e| e.to_string(), |i| i.subject);
    let verdict = match &policy.trust {
        Some(t) => {
            let verdict = t.checker.check(
                std::slice::from_ref(&verified.signer),
                Usage::O2oSign,
                t.env,
                t.at,
            );
            if !verdict.is_ok() {
                return Err(OpenError::Untrusted {
                    subject: subject(),
                    verdict,
                });
            }
            Some(verdict)
        }
        None => None,
    };
    if let Some(expected) = policy.pinned
        && expected.as_ref() != verified.signer.as_ref()
    {
        return Err(OpenError::NotPinned {
            found: subject(),
            expected: CertInfo::parse(expected).map_or_else(|e| e.to_string(), |i| i.subject),
        });
    }
    Ok(Trusted { verified, verdict })
}

/// An opened envelope.
pub struct Opened {
    pub signer: CertificateDer<'static>,
    pub verdict: Option<Verdict>,
    pub decrypted: Decrypted,
}

/// Verifies the envelope and its signer, and only then decrypts the payload with `key`.
pub fn open(
    doc: &Doc<'_>,
    policy: &SignerPolicy<'_>,
    key: &dyn PayloadKey,
) -> Result<Opened, OpenError> {
    let trusted = verify_signer(doc, policy)?;
    let decrypted = decrypt_verified(&trusted.verified, key)?;
    Ok(Opened {
        signer: trusted.verified.signer.clone(),
        verdict: trusted.verdict,
        decrypted,
    })
}
