//! The node's private keys, loaded once at start from its key store: the AP key (AS4 signing, AS4
//! decryption, audit checkpoints) and the organisation keys (XHE signing, XHE decryption).

use std::path::Path;

use rcgen::KeyPair;
use rustls_pki_types::CertificateDer;

use super::NodeError;
use crate::as4::wssec::ApSigner;
use crate::pki::{CertInfo, KeyStore, Purpose};
use crate::xmlsec::{RsaPayloadKey, SigningKey};

pub struct NodeKeys {
    pub ap_pair: KeyPair,
    pub ap_signer: ApSigner,
    /// The AP key as a decryption key: peers encrypt AS4 attachments to the AP certificate.
    pub ap_decrypt: RsaPayloadKey,
    /// Signs the XHE envelopes of every hosted organisation.
    pub o2o_sign: SigningKey,
    /// Decrypts XHE payloads: the active key first, then next and retired ones senders may still use.
    pub o2o_decrypt: Vec<RsaPayloadKey>,
}

fn keys_error(e: impl std::fmt::Display) -> NodeError {
    NodeError::Keys(e.to_string())
}

fn material(
    store: &KeyStore,
    purpose: Purpose,
) -> Result<(KeyPair, CertificateDer<'static>), NodeError> {
    let entry = store.signing(purpose).map_err(|e| {
        NodeError::Keys(format!(
            "{e} (make one with `sdk-relay certs csr --purpose {}` and import the certificate, or `certs issue {}` from a test federation)",
            purpose.as_str(),
            purpose.as_str()
        ))
    })?;
    let leaf = entry
        .leaf()
        .cloned()
        .ok_or_else(|| NodeError::Keys(format!("{} has no certificate yet", entry.id())))?;
    Ok((entry.key_pair().map_err(keys_error)?, leaf))
}

impl NodeKeys {
    /// Loads the active keys; the AP certificate's CN must be the configured `ap_id`.
    pub fn load(data_dir: &Path, ap_id: &str) -> Result<NodeKeys, NodeError> {
        let store = KeyStore::open(data_dir);
        let (ap_pair, ap_cert) = material(&store, Purpose::Ap)?;
        let cn = CertInfo::parse(&ap_cert)
            .map_err(keys_error)?
            .common_name
            .unwrap_or_default();
        if cn != ap_id {
            return Err(NodeError::Config(format!(
                "[as4] ap_id = {ap_id:?} but the active AP certificate's CN is {cn:?}; make them equal"
            )));
        }
        let ap_signer = ApSigner::new(&ap_pair, ap_cert.clone()).map_err(keys_error)?;
        let ap_decrypt = RsaPayloadKey::new(&ap_pair, ap_cert).map_err(keys_error)?;
        let (sign_pair, sign_cert) = material(&store, Purpose::O2oSign)?;
        let o2o_sign = SigningKey::new(&sign_pair, sign_cert).map_err(keys_error)?;
        let mut o2o_decrypt = Vec::new();
        for e in store
            .decryption_entries(Purpose::O2oEncrypt)
            .map_err(keys_error)?
        {
            if let Some(leaf) = e.leaf().cloned() {
                let pair = e.key_pair().map_err(keys_error)?;
                o2o_decrypt.push(RsaPayloadKey::new(&pair, leaf).map_err(keys_error)?);
            }
        }
        if o2o_decrypt.is_empty() {
            return Err(NodeError::Keys(
                "no o2o-encrypt key (make one with `sdk-relay certs csr --purpose o2o-encrypt` and import the certificate)"
                    .into(),
            ));
        }
        Ok(NodeKeys {
            ap_pair,
            ap_signer,
            ap_decrypt,
            o2o_sign,
            o2o_decrypt,
        })
    }
}
