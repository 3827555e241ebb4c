//! Encrypting the XHE payload for the receiving organisation (SDK §3.5): `xenc:EncryptedData` in
//! `PayloadContent`, AES-256-CBC content encryption, the key transported with RSA-OAEP (MGF1-SHA1) to the
//! recipient's certificate, which is named in the EncryptedKey's KeyInfo.

use base64::Engine;
use rustls_pki_types::CertificateDer;

use super::algorithms as alg;
use super::edit::Edits;
use super::keys::{Oaep, wrap_key};
use super::sign::{SealError, xhe_root};
use crate::pki::CertInfo;
use crate::xml::names::{DS, XENC, XHA, XHB};
use crate::xml::{Doc, El};

/// What was encrypted: an XML payload element, or the text content of `PayloadContent` (base64 for
/// non-XML payloads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncryptedType {
    Element,
    Content,
}

impl EncryptedType {
    pub fn uri(self) -> &'static str {
        match self {
            EncryptedType::Element => alg::TYPE_ELEMENT,
            EncryptedType::Content => alg::TYPE_CONTENT,
        }
    }
}

/// Encrypts the payload of `doc` (an unsigned XHE with `InstanceEncryptionIndicator` false) to `recipient`,
/// and sets the indicator to true. Returns the new document; nothing else in it changes.
pub fn encrypt_payload(doc: &Doc<'_>, recipient: &CertificateDer<'_>) -> Result<String, SealError> {
    let root = xhe_root(doc)?;
    if root
        .descendants_or_self()
        .iter()
        .any(|e| e.is(DS, "Signature"))
    {
        return Err(SealError::AlreadySigned);
    }
    let recipient_info = CertInfo::parse(recipient).map_err(|e| SealError::Key(e.to_string()))?;
    let payload = single_payload(root)?;
    let indicator = payload
        .child(XHB, "InstanceEncryptionIndicator")
        .ok_or_else(|| SealError::Payload("xhb:InstanceEncryptionIndicator is missing".into()))?;
    if indicator.text().trim() != "false" {
        return Err(SealError::AlreadyEncrypted);
    }
    let content = payload
        .child(XHA, "PayloadContent")
        .ok_or_else(|| SealError::Payload("xha:PayloadContent is missing".into()))?;
    if content
        .descendants_or_self()
        .iter()
        .any(|e| e.is(XENC, "EncryptedData"))
    {
        return Err(SealError::AlreadyEncrypted);
    }
    let (kind, range, plaintext) = plaintext(doc, content)?;
    let encrypted = encrypted_data(kind, plaintext.as_bytes(), recipient, &recipient_info)?;
    let mut edits = Edits::new(doc.source());
    edits.replace(range, encrypted);
    let indicator_range = indicator
        .content_range()
        .ok_or_else(|| SealError::Payload("xhb:InstanceEncryptionIndicator is empty".into()))?;
    edits.replace(indicator_range, "true");
    Ok(edits.apply())
}

pub(crate) fn single_payload<'d, 'a>(root: El<'d, 'a>) -> Result<El<'d, 'a>, SealError> {
    let payloads: Vec<El<'d, 'a>> = root
        .child(XHA, "Payloads")
        .map(|p| p.children_named(XHA, "Payload").collect())
        .unwrap_or_default();
    match payloads.as_slice() {
        [one] => Ok(*one),
        other => Err(SealError::Payload(format!(
            "an SDK XHE has exactly one xha:Payload, this one has {}",
            other.len()
        ))),
    }
}

/// The part of `PayloadContent` to encrypt, where it is in the source, and its serialized form.
fn plaintext(
    doc: &Doc<'_>,
    content: El<'_, '_>,
) -> Result<(EncryptedType, std::ops::Range<usize>, String), SealError> {
    let elements: Vec<El<'_, '_>> = content.children().collect();
    match elements.as_slice() {
        [] => {
            let range = content
                .content_range()
                .filter(|r| !crate::xml::is_xml_whitespace(&doc.source()[r.clone()]))
                .ok_or_else(|| SealError::Payload("xha:PayloadContent is empty".into()))?;
            Ok((
                EncryptedType::Content,
                range.clone(),
                doc.source()[range].to_owned(),
            ))
        }
        [element] if !content.has_character_content() => {
            // Standalone: the element declares every namespace it uses, so it parses on its own once
            // decrypted, wherever the recipient puts it.
            let xml = element.to_standalone_xml();
            Ok((
                EncryptedType::Element,
                element.source_range(),
                xml.trim_end().to_owned(),
            ))
        }
        _ => Err(SealError::Payload(
            "xha:PayloadContent must hold one XML element or text, not mixed content".into(),
        )),
    }
}

/// Builds the `xenc:EncryptedData` element: a fresh AES-256 key encrypts `plaintext`, RSA-OAEP carries the
/// key to the recipient.
fn encrypted_data(
    kind: EncryptedType,
    plaintext: &[u8],
    recipient: &CertificateDer<'_>,
    recipient_info: &CertInfo,
) -> Result<String, SealError> {
    let mut content_key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut content_key)
        .map_err(|_| SealError::Crypto("no randomness".into()))?;
    let cipher = bergshamra::crypto::cipher::from_uri(alg::AES256_CBC)
        .map_err(|e| SealError::Crypto(e.to_string()))?;
    let ciphertext = cipher
        .encrypt(&content_key, plaintext)
        .map_err(|e| SealError::Crypto(e.to_string()))?;
    let wrapped = wrap_key(recipient_info, Oaep::Sha1, &content_key)
        .map_err(|e| SealError::Key(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(format!(
        "<xenc:EncryptedData xmlns:xenc=\"{XENC}\" Type=\"{ty}\">\
<xenc:EncryptionMethod Algorithm=\"{aes}\"/>\
<ds:KeyInfo xmlns:ds=\"{DS}\">\
<xenc:EncryptedKey>\
<xenc:EncryptionMethod Algorithm=\"{oaep}\"><ds:DigestMethod Algorithm=\"{sha1}\"/></xenc:EncryptionMethod>\
<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\
<xenc:CipherData><xenc:CipherValue>{key}</xenc:CipherValue></xenc:CipherData>\
</xenc:EncryptedKey>\
</ds:KeyInfo>\
<xenc:CipherData><xenc:CipherValue>{data}</xenc:CipherValue></xenc:CipherData>\
</xenc:EncryptedData>",
        ty = kind.uri(),
        aes = alg::AES256_CBC,
        oaep = alg::RSA_OAEP_MGF1P,
        sha1 = alg::SHA1,
        cert = b64.encode(recipient),
        key = b64.encode(&wrapped),
        data = b64.encode(&ciphertext),
    ))
}
