//! Signed checkpoints: (sequence number, hash of that record) signed with the node's key, so a verifier can
//! prove the chain up to there and see when records after it are missing.

use aws_lc_rs::signature::{self, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use super::AuditError;
use crate::pki::CertInfo;

/// One checkpoint line of `checkpoints.log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
    pub time: String,
    /// The signer's certificate (base64 DER), so the log verifies on its own.
    pub certificate: String,
    pub signature: String,
}

fn signed_bytes(seq: u64, hash: &str, time: &str) -> Vec<u8> {
    format!("sdk-relay audit checkpoint\n{seq}\n{hash}\n{time}\n").into_bytes()
}

impl Checkpoint {
    /// Checks the signature with the embedded certificate's key; returns the signer's subject.
    pub fn verify(&self) -> Result<String, String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let der = b64
            .decode(&self.certificate)
            .map_err(|e| format!("certificate: {e}"))?;
        let info = CertInfo::parse(&der).map_err(|e| e.to_string())?;
        let (_, spki) = <x509_parser::x509::SubjectPublicKeyInfo as x509_parser::prelude::FromDer<_>>::from_der(
            &info.spki_der,
        )
        .map_err(|e| format!("certificate key: {e}"))?;
        let signature = b64
            .decode(&self.signature)
            .map_err(|e| format!("signature: {e}"))?;
        UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            &spki.subject_public_key.data,
        )
        .verify(&signed_bytes(self.seq, &self.hash, &self.time), &signature)
        .map_err(|_| "the signature does not verify".to_owned())?;
        Ok(info.subject)
    }
}

/// The key that signs checkpoints (the node's AP key, or any RSA key with its certificate).
pub struct CheckpointSigner {
    key: RsaKeyPair,
    certificate: CertificateDer<'static>,
}

impl CheckpointSigner {
    pub fn new(
        key: &rcgen::KeyPair,
        certificate: CertificateDer<'static>,
    ) -> Result<Self, AuditError> {
        let key = RsaKeyPair::from_pkcs8(&key.serialize_der())
            .map_err(|e| AuditError::Signing(e.to_string()))?;
        Ok(CheckpointSigner { key, certificate })
    }

    pub(crate) fn sign(&self, seq: u64, hash: &str, time: &str) -> Result<Checkpoint, AuditError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut value = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &rng,
                &signed_bytes(seq, hash, time),
                &mut value,
            )
            .map_err(|_| AuditError::Signing("RSA signing failed".into()))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(Checkpoint {
            seq,
            hash: hash.to_owned(),
            time: time.to_owned(),
            certificate: b64.encode(&self.certificate),
            signature: b64.encode(&value),
        })
    }
}
