//! Signed checkpoints: (sequence number, hash of that record) signed with the node's key, so a verifier can
//! prove the chain up to there and see when records after it are missing.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::AuditError;
use crate::pki::CertInfo;
use crate::pki::keys::{RsaSha256Signer, verify_rsa_sha256};

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
        let signature = b64
            .decode(&self.signature)
            .map_err(|e| format!("signature: {e}"))?;
        verify_rsa_sha256(
            &der,
            &signed_bytes(self.seq, &self.hash, &self.time),
            &signature,
        )
        .map_err(|e| e.to_string())?;
        Ok(info.subject)
    }
}

/// The key that signs checkpoints (the node's AP key, or any RSA key with its certificate).
pub type CheckpointSigner = RsaSha256Signer;

pub(crate) fn sign(
    signer: &CheckpointSigner,
    seq: u64,
    hash: &str,
    time: &str,
) -> Result<Checkpoint, AuditError> {
    let value = signer
        .sign(&signed_bytes(seq, hash, time))
        .map_err(|e| AuditError::Signing(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Checkpoint {
        seq,
        hash: hash.to_owned(),
        time: time.to_owned(),
        certificate: b64.encode(signer.certificate()),
        signature: b64.encode(&value),
    })
}
