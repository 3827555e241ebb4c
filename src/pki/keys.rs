//! Private keys: generation, reading and the public half. Keys live as PKCS#8 PEM, written 0600, and are never
//! printed.

use std::fmt;
use std::str::FromStr;

use rcgen::{KeyPair, PKCS_RSA_SHA256, RsaKeySize};

use super::PkiError;

/// Key types the node generates. SDK asks for RSA 3072 ("nyckellängd 3072"); 2048 exists for fast tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    Rsa2048,
    #[default]
    Rsa3072,
    Rsa4096,
}

impl KeyAlgorithm {
    pub fn generate(self) -> Result<KeyPair, PkiError> {
        let size = match self {
            KeyAlgorithm::Rsa2048 => RsaKeySize::_2048,
            KeyAlgorithm::Rsa3072 => RsaKeySize::_3072,
            KeyAlgorithm::Rsa4096 => RsaKeySize::_4096,
        };
        KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, size)
            .map_err(|e| PkiError::Crypto(e.to_string()))
    }
}

impl FromStr for KeyAlgorithm {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self, PkiError> {
        match s {
            "rsa2048" => Ok(KeyAlgorithm::Rsa2048),
            "rsa3072" => Ok(KeyAlgorithm::Rsa3072),
            "rsa4096" => Ok(KeyAlgorithm::Rsa4096),
            _ => Err(PkiError::Usage(format!(
                "unknown key type {s:?}; one of rsa3072 (default), rsa2048, rsa4096"
            ))),
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyAlgorithm::Rsa2048 => "rsa2048",
            KeyAlgorithm::Rsa3072 => "rsa3072",
            KeyAlgorithm::Rsa4096 => "rsa4096",
        })
    }
}

/// Reads a private key from PEM (PKCS#8, PKCS#1 or SEC1) or PKCS#8 DER. The error never echoes the input.
pub fn read_key_pair(bytes: &[u8], what: &str) -> Result<KeyPair, PkiError> {
    let bad = |detail: &str| PkiError::BadKey {
        what: what.to_owned(),
        detail: detail.to_owned(),
    };
    if super::cert::looks_like_pem(bytes) {
        let text = std::str::from_utf8(bytes).map_err(|_| bad("PEM is not UTF-8"))?;
        KeyPair::from_pem(text).map_err(|_| bad("no supported private key in the PEM"))
    } else {
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from(bytes.to_vec());
        KeyPair::try_from(&der).map_err(|_| bad("not a PKCS#8 private key"))
    }
}

/// Writes a key (0600) and its certificate chain as PEM files, e.g. for material issued outside a store.
pub fn write_key_and_chain(
    key_path: &std::path::Path,
    cert_path: &std::path::Path,
    key: &KeyPair,
    chain: &[rustls_pki_types::CertificateDer<'_>],
) -> Result<(), PkiError> {
    super::fsutil::write_atomic(key_path, key.serialize_pem().as_bytes(), true)?;
    super::fsutil::write_atomic(cert_path, super::cert::to_pem(chain).as_bytes(), false)
}

/// The DER SubjectPublicKeyInfo of a key pair, to pair keys with certificates.
pub fn spki_der(key: &KeyPair) -> Vec<u8> {
    use rcgen::PublicKeyData;
    key.subject_public_key_info()
}

/// Compares the subjectPublicKey bits of two SPKIs: encoders differ in how they write the algorithm
/// parameters, the key itself is what matters.
pub(crate) fn same_public_key(a: &[u8], b: &[u8]) -> bool {
    use x509_parser::prelude::FromDer;
    use x509_parser::x509::SubjectPublicKeyInfo;
    match (
        SubjectPublicKeyInfo::from_der(a),
        SubjectPublicKeyInfo::from_der(b),
    ) {
        (Ok((_, a)), Ok((_, b))) => a.subject_public_key.data == b.subject_public_key.data,
        _ => false,
    }
}

/// A key that signs with RSA-SHA256 (PKCS#1 v1.5), with its certificate: the AP's AS4 signatures and the audit
/// log's checkpoints.
pub struct RsaSha256Signer {
    key: aws_lc_rs::signature::RsaKeyPair,
    certificate: rustls_pki_types::CertificateDer<'static>,
}

impl RsaSha256Signer {
    pub fn new(
        key: &KeyPair,
        certificate: rustls_pki_types::CertificateDer<'static>,
    ) -> Result<Self, PkiError> {
        let key = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&key.serialize_der())
            .map_err(|e| PkiError::Crypto(format!("not an RSA key: {e}")))?;
        Ok(RsaSha256Signer { key, certificate })
    }

    pub fn certificate(&self) -> &rustls_pki_types::CertificateDer<'static> {
        &self.certificate
    }

    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut value = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &rng,
                message,
                &mut value,
            )
            .map_err(|_| PkiError::Crypto("RSA signing failed".into()))?;
        Ok(value)
    }
}

/// Checks an RSA-SHA256 (PKCS#1 v1.5) signature with the key of `certificate`.
pub fn verify_rsa_sha256(
    certificate: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), PkiError> {
    use x509_parser::prelude::FromDer;
    use x509_parser::x509::SubjectPublicKeyInfo;
    let info = super::CertInfo::parse(certificate)?;
    let (_, spki) = SubjectPublicKeyInfo::from_der(&info.spki_der)
        .map_err(|e| PkiError::Crypto(format!("the certificate's key: {e}")))?;
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &spki.subject_public_key.data,
    )
    .verify(message, signature)
    .map_err(|_| PkiError::Crypto("the signature does not verify".into()))
}
