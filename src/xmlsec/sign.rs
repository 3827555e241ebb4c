//! Signing an XHE: the enveloped `ds:Signature` of SDK §3.6, as the last child of `XHE`.

use base64::Engine;
use bergshamra::{DsigContext, KeysManager};

use super::algorithms as alg;
use super::edit::Edits;
use super::keys::SigningKey;
use crate::xml::names::{DS, XHE};
use crate::xml::{Doc, El};

/// Why an envelope cannot be signed or encrypted as asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the document element is {0}, not an XHE")]
    NotXhe(String),
    #[error("the XHE is already signed; a signature must be the last step (encrypt, then sign)")]
    AlreadySigned,
    #[error("the payload is already encrypted (InstanceEncryptionIndicator is true)")]
    AlreadyEncrypted,
    #[error("payload: {0}")]
    Payload(String),
    #[error("{0}")]
    Key(String),
    #[error("signing failed: {0}")]
    Crypto(String),
}

/// Signs `doc` (an unsigned XHE) with `key`: enveloped signature over the whole envelope, C14N 1.0,
/// RSA-SHA256, SHA-256 digest, and the signer's certificate in `ds:X509Data`. Returns the signed document;
/// every byte outside the new `ds:Signature` is unchanged.
pub fn sign_enveloped(doc: &Doc<'_>, key: &SigningKey) -> Result<String, SealError> {
    xhe_root(doc)?;
    sign_document(doc, key)
}

/// Signs any document the same way (the signature the last child of the document element, over the whole
/// document), e.g. an SMP's SignedServiceMetadata.
pub fn sign_document(doc: &Doc<'_>, key: &SigningKey) -> Result<String, SealError> {
    let root = doc.root();
    if root
        .descendants_or_self()
        .iter()
        .any(|e| e.is(DS, "Signature"))
    {
        return Err(SealError::AlreadySigned);
    }
    let content = root
        .content_range()
        .ok_or_else(|| SealError::Payload("the document element is empty".into()))?;
    let mut edits = Edits::new(doc.source());
    edits.insert(content.end, template(&key.certificate));
    let mut keys = KeysManager::new();
    keys.add_key(key.key.clone());
    let ctx = DsigContext::new(keys);
    // The template holds the only ds:Signature of a document we parsed with the hardened parser, so
    // bergshamra fills exactly the signature we wrote.
    bergshamra::dsig::sign::sign_owned(&ctx, edits.apply())
        .map_err(|e| SealError::Crypto(e.to_string()))
}

pub(crate) fn xhe_root<'d, 'a>(doc: &'d Doc<'a>) -> Result<El<'d, 'a>, SealError> {
    let root = doc.root();
    if root.is(XHE, "XHE") {
        Ok(root)
    } else {
        Err(SealError::NotXhe(format!(
            "{{{}}}{}",
            root.ns(),
            root.local()
        )))
    }
}

/// The signature template with empty DigestValue and SignatureValue, which bergshamra fills.
fn template(certificate: &[u8]) -> String {
    let cert = base64::engine::general_purpose::STANDARD.encode(certificate);
    format!(
        "<ds:Signature xmlns:ds=\"{DS}\">\
<ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm=\"{c14n}\"/>\
<ds:SignatureMethod Algorithm=\"{rsa}\"/>\
<ds:Reference URI=\"\">\
<ds:Transforms>\
<ds:Transform Algorithm=\"{enveloped}\"/>\
<ds:Transform Algorithm=\"{c14n}\"/>\
</ds:Transforms>\
<ds:DigestMethod Algorithm=\"{sha256}\"/>\
<ds:DigestValue></ds:DigestValue>\
</ds:Reference>\
</ds:SignedInfo>\
<ds:SignatureValue></ds:SignatureValue>\
<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\
</ds:Signature>",
        c14n = alg::C14N,
        rsa = alg::RSA_SHA256,
        enveloped = alg::ENVELOPED,
        sha256 = alg::SHA256,
    )
}
