//! The keys the O2O layer works with: the organisation's signing key, and the private key that opens payloads
//! encrypted to it. Both are paired with their certificate, checked to match when loaded.

use aws_lc_rs::rsa::{OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use rcgen::KeyPair;
use rustls_pki_types::CertificateDer;

use crate::pki::CertInfo;
use crate::pki::keys::{same_public_key, spki_der};

/// Why a key or certificate cannot be used for O2O work.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the private key does not belong to the certificate {0}")]
    Mismatch(String),
    #[error("SDK O2O keys are RSA; this key is {0}")]
    NotRsa(String),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("key: {0}")]
    Key(String),
}

/// The organisation's XHE signing key and its certificate (sent in the signature's KeyInfo).
pub struct SigningKey {
    pub(crate) key: bergshamra::Key,
    pub(crate) certificate: CertificateDer<'static>,
}

impl SigningKey {
    pub fn new(key: &KeyPair, certificate: CertificateDer<'static>) -> Result<Self, KeyError> {
        matching_certificate(key, &certificate)?;
        if !key.is_compatible(&rcgen::PKCS_RSA_SHA256) {
            return Err(KeyError::NotRsa(format!("{:?}", key.algorithm())));
        }
        let key = bergshamra::keys::loader::load_pem_auto(key.serialize_pem().as_bytes(), None)
            .map_err(|e| KeyError::Key(e.to_string()))?;
        Ok(SigningKey { key, certificate })
    }

    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }
}

/// RSA-OAEP parameters the O2O layer accepts for the transported content key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oaep {
    /// `xmlenc#rsa-oaep-mgf1p` with SHA-1 (SDK §3.5).
    Sha1,
    /// `xmlenc11#rsa-oaep` with SHA-256 and MGF1-SHA-256 (the AS4 profile's choice).
    Sha256,
}

impl Oaep {
    fn algorithm(self) -> &'static OaepAlgorithm {
        match self {
            Oaep::Sha1 => &aws_lc_rs::rsa::OAEP_SHA1_MGF1SHA1,
            Oaep::Sha256 => &aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256,
        }
    }
}

/// A private key that unwraps content keys transported to its certificate. A trait, so the node can later
/// keep the key in an HSM, and so tests can count when decryption is attempted.
pub trait PayloadKey {
    /// The certificate senders encrypt to.
    fn certificate(&self) -> &CertificateDer<'static>;
    /// Decrypts a transported content key (one RSA private-key operation).
    fn unwrap_key(&self, oaep: Oaep, wrapped: &[u8]) -> Result<Vec<u8>, KeyError>;
    /// HMAC-SHA-256 of `data` (a content key) under a secret of this key's: what a receiver keeps to
    /// recognise a content key used twice, without keeping the key. This default is keyed with the
    /// certificate, which is public; keys that hold their private part override it with a secret.
    fn keyed_hash(&self, data: &[u8]) -> [u8; 32] {
        let secret = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.certificate());
        hmac(secret.as_ref(), data)
    }
}

fn hmac(secret: &[u8], data: &[u8]) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(&tag.as_ref()[..32]);
    out
}

/// A software RSA decryption key.
pub struct RsaPayloadKey {
    key: OaepPrivateDecryptingKey,
    certificate: CertificateDer<'static>,
    /// Derived from the private key: the same on every node that holds the key, so nodes sharing a database
    /// recognise each other's content keys, and secret where the private key is.
    hash_secret: [u8; 32],
}

impl RsaPayloadKey {
    pub fn new(key: &KeyPair, certificate: CertificateDer<'static>) -> Result<Self, KeyError> {
        matching_certificate(key, &certificate)?;
        let der = key.serialize_der();
        let private = PrivateDecryptingKey::from_pkcs8(&der)
            .map_err(|_| KeyError::NotRsa(format!("{:?}", key.algorithm())))?;
        let hash_secret = hmac(b"sdk-relay content-key mark v1", &der);
        let key = OaepPrivateDecryptingKey::new(private)
            .map_err(|_| KeyError::Key("RSA-OAEP is not available for this key".into()))?;
        Ok(RsaPayloadKey {
            key,
            certificate,
            hash_secret,
        })
    }
}

impl PayloadKey for RsaPayloadKey {
    fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    fn unwrap_key(&self, oaep: Oaep, wrapped: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut out = vec![0u8; self.key.min_output_size()];
        // One error for every failure: a padding oracle must learn nothing from the message.
        let plain = self
            .key
            .decrypt(oaep.algorithm(), wrapped, &mut out, None)
            .map_err(|_| KeyError::Key("the content key does not decrypt with this key".into()))?;
        Ok(plain.to_vec())
    }

    fn keyed_hash(&self, data: &[u8]) -> [u8; 32] {
        hmac(&self.hash_secret, data)
    }
}

/// Encrypts a content key to `recipient` (its SPKI from the certificate).
pub(crate) fn wrap_key(
    recipient: &CertInfo,
    oaep: Oaep,
    content_key: &[u8],
) -> Result<Vec<u8>, KeyError> {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};
    let public = PublicEncryptingKey::from_der(&recipient.spki_der)
        .map_err(|_| KeyError::NotRsa(format!("the key of {}", recipient.subject)))?;
    let key = OaepPublicEncryptingKey::new(public)
        .map_err(|_| KeyError::Key("RSA-OAEP is not available for this key".into()))?;
    let mut out = vec![0u8; key.ciphertext_size()];
    let wrapped = key
        .encrypt(oaep.algorithm(), content_key, &mut out, None)
        .map_err(|e| KeyError::Key(format!("RSA-OAEP: {e}")))?;
    Ok(wrapped.to_vec())
}

fn matching_certificate(
    key: &KeyPair,
    certificate: &CertificateDer<'_>,
) -> Result<CertInfo, KeyError> {
    let info = CertInfo::parse(certificate).map_err(|e| KeyError::Certificate(e.to_string()))?;
    if !same_public_key(&info.spki_der, &spki_der(key)) {
        return Err(KeyError::Mismatch(info.subject));
    }
    Ok(info)
}
