//! Attachment encryption for AS4 (CEF eDelivery AS4 1.15): one AES-128-GCM content key per message,
//! transported with xmlenc11 RSA-OAEP (SHA-256, MGF1-SHA-256) to the receiver's AP certificate; one
//! `xenc:EncryptedData` per attachment whose CipherReference names the MIME part (`cid:`), which then holds
//! IV ‖ ciphertext ‖ tag.

use std::io::{Read, Write};

use base64::Engine;
use rustls_pki_types::CertificateDer;

use super::error::{EbmsError, ErrorCode};
use super::gcm;
use super::wssec::{BASE64_BINARY, X509V3};
use crate::clip::shown;
use crate::pki::CertInfo;
use crate::xml::El;
use crate::xml::names::{DS, WSSE, XENC};
use crate::xmlsec::keys::wrap_key;
use crate::xmlsec::{Oaep, PayloadKey};

// The algorithm URIs live in one place, `xmlsec::algorithms`; AS4 names the ones its profile uses.
pub use crate::xmlsec::algorithms::{
    AES128_GCM, AES256_GCM, MGF1_SHA256, RSA_OAEP_11 as RSA_OAEP, SHA256, XENC11,
};
pub const CONTENT_ONLY: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Only";
pub const CIPHERTEXT_TRANSFORM: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Ciphertext-Transform";
pub const ENCRYPTED_KEY_ID: &str = "_encryptedkey";
pub const RECIPIENT_TOKEN_ID: &str = "_recipienttoken";

/// The per-message AES-128 content key.
pub struct ContentKey([u8; 16]);

impl ContentKey {
    pub fn generate() -> Result<ContentKey, EbmsError> {
        let mut key = [0u8; 16];
        aws_lc_rs::rand::fill(&mut key).map_err(|_| other("no randomness".into()))?;
        Ok(ContentKey(key))
    }

    /// Encrypts one attachment as it streams: IV ‖ ciphertext ‖ tag.
    pub fn seal(&self, input: &mut dyn Read, output: &mut dyn Write) -> Result<u64, EbmsError> {
        gcm::seal(&self.0, input, output).map_err(|e| other(format!("AES-GCM: {e}")))
    }
}

/// The Security header elements for `attachments` (content id, MIME type before encryption) encrypted
/// under `key`: the receiver's certificate as a token, the EncryptedKey, and one EncryptedData each.
pub fn header(
    attachments: &[(&str, &str)],
    recipient: &CertificateDer<'_>,
    key: &ContentKey,
) -> Result<String, EbmsError> {
    let info =
        CertInfo::parse(recipient).map_err(|e| other(format!("receiver AP certificate: {e}")))?;
    let wrapped = wrap_key(&info, Oaep::Sha256, &key.0).map_err(|e| other(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut data_refs = String::new();
    let mut data = String::new();
    for (i, (cid, mime_type)) in attachments.iter().enumerate() {
        let id = format!("_encrypteddata{}", i + 1);
        data_refs.push_str(&format!("<xenc:DataReference URI=\"#{id}\"/>"));
        data.push_str(&format!(
            "<xenc:EncryptedData xmlns:xenc=\"{XENC}\" Id=\"{id}\" MimeType=\"{mime_type}\" Type=\"{CONTENT_ONLY}\">\
<xenc:EncryptionMethod Algorithm=\"{AES128_GCM}\"/>\
<ds:KeyInfo xmlns:ds=\"{DS}\"><wsse:SecurityTokenReference><wsse:Reference URI=\"#{ENCRYPTED_KEY_ID}\"/></wsse:SecurityTokenReference></ds:KeyInfo>\
<xenc:CipherData><xenc:CipherReference URI=\"cid:{cid}\"><xenc:Transforms><ds:Transform xmlns:ds=\"{DS}\" Algorithm=\"{CIPHERTEXT_TRANSFORM}\"/></xenc:Transforms></xenc:CipherReference></xenc:CipherData>\
</xenc:EncryptedData>"
        ));
    }
    // The receiver's certificate travels as a token the EncryptedKey points at (the WSS4J layout), so the
    // receiver can tell at once whether the message was encrypted for it.
    Ok(format!(
        "<wsse:BinarySecurityToken EncodingType=\"{BASE64_BINARY}\" ValueType=\"{X509V3}\" wsu:Id=\"{RECIPIENT_TOKEN_ID}\">{recipient_b64}</wsse:BinarySecurityToken>\
<xenc:EncryptedKey xmlns:xenc=\"{XENC}\" Id=\"{ENCRYPTED_KEY_ID}\">\
<xenc:EncryptionMethod Algorithm=\"{RSA_OAEP}\"><ds:DigestMethod xmlns:ds=\"{DS}\" Algorithm=\"{SHA256}\"/><xenc11:MGF xmlns:xenc11=\"{XENC11}\" Algorithm=\"{MGF1_SHA256}\"/></xenc:EncryptionMethod>\
<ds:KeyInfo xmlns:ds=\"{DS}\"><wsse:SecurityTokenReference><wsse:Reference URI=\"#{RECIPIENT_TOKEN_ID}\" ValueType=\"{X509V3}\"/></wsse:SecurityTokenReference></ds:KeyInfo>\
<xenc:CipherData><xenc:CipherValue>{wrapped}</xenc:CipherValue></xenc:CipherData>\
<xenc:ReferenceList>{data_refs}</xenc:ReferenceList></xenc:EncryptedKey>{data}",
        recipient_b64 = b64.encode(recipient),
        wrapped = b64.encode(&wrapped),
    ))
}

fn other(detail: String) -> EbmsError {
    EbmsError::new(ErrorCode::Other, detail)
}

fn failed(detail: impl Into<String>) -> EbmsError {
    EbmsError::new(ErrorCode::FailedDecryption, detail)
}

fn policy(detail: impl Into<String>) -> EbmsError {
    EbmsError::new(ErrorCode::PolicyNoncompliance, detail)
}

/// What the Security header says about one encrypted attachment.
pub struct EncryptedPart {
    pub content_id: String,
    pub mime_type: Option<String>,
    key_len: usize,
}

/// Reads the EncryptedKey and EncryptedData elements of a verified Security header and unwraps the content
/// key with `key` (one RSA private-key operation).
pub fn read(
    security: El<'_, '_>,
    key: &dyn PayloadKey,
) -> Result<(Vec<EncryptedPart>, Vec<u8>), EbmsError> {
    let keys: Vec<El<'_, '_>> = security.children_named(XENC, "EncryptedKey").collect();
    let [encrypted_key] = keys.as_slice() else {
        return Err(policy(format!(
            "the Security header must carry exactly one xenc:EncryptedKey (attachments must be encrypted), has {}",
            keys.len()
        )));
    };
    let method = encrypted_key
        .child(XENC, "EncryptionMethod")
        .ok_or_else(|| policy("EncryptedKey without EncryptionMethod"))?;
    let digest = method
        .child(DS, "DigestMethod")
        .and_then(|d| d.attr("Algorithm"));
    let mgf = method
        .child(XENC11, "MGF")
        .and_then(|d| d.attr("Algorithm"));
    if method.attr("Algorithm") != Some(RSA_OAEP)
        || digest != Some(SHA256)
        || mgf != Some(MGF1_SHA256)
    {
        return Err(policy(format!(
            "key transport must be xmlenc11 rsa-oaep with sha256 and mgf1sha256, found {} / {} / {}",
            shown(method.attr("Algorithm")),
            shown(digest),
            shown(mgf)
        )));
    }
    let wrapped = encrypted_key
        .child(XENC, "CipherData")
        .and_then(|c| c.child(XENC, "CipherValue"))
        .ok_or_else(|| policy("EncryptedKey without CipherValue"))?;
    let wrapped = wrapped
        .base64()
        .map_err(|e| failed(format!("EncryptedKey CipherValue: {e}")))?;
    check_recipient(security, *encrypted_key, key)?;
    let key_id = encrypted_key.attr("Id").unwrap_or_default();
    let mut parts = Vec::new();
    for data in security.children_named(XENC, "EncryptedData") {
        let key_len = match data
            .child(XENC, "EncryptionMethod")
            .and_then(|m| m.attr("Algorithm"))
        {
            Some(AES128_GCM) => 16,
            Some(AES256_GCM) => 32,
            other => {
                return Err(policy(format!(
                    "attachment encryption {other:?} is not AES-GCM"
                )));
            }
        };
        let points_at_key = data
            .child(DS, "KeyInfo")
            .and_then(|k| k.child(WSSE, "SecurityTokenReference"))
            .and_then(|s| s.child(WSSE, "Reference"))
            .and_then(|r| r.attr("URI"))
            .is_none_or(|u| u.strip_prefix('#') == Some(key_id));
        if !points_at_key {
            return Err(policy(
                "an EncryptedData names a key other than the message's EncryptedKey",
            ));
        }
        let uri = data
            .child(XENC, "CipherData")
            .and_then(|c| c.child(XENC, "CipherReference"))
            .and_then(|r| r.attr("URI"))
            .ok_or_else(|| policy("EncryptedData without a CipherReference to an attachment"))?;
        let cid = uri
            .strip_prefix("cid:")
            .ok_or_else(|| policy(format!("CipherReference {uri:?} is not a cid: reference")))?;
        parts.push(EncryptedPart {
            content_id: cid.to_owned(),
            mime_type: data.attr("MimeType").map(str::to_owned),
            key_len,
        });
    }
    let content_key = key.unwrap_key(Oaep::Sha256, &wrapped).map_err(|e| {
        failed(format!(
            "the content key does not decrypt with our AP key: {e}"
        ))
    })?;
    Ok((parts, content_key))
}

/// When the EncryptedKey names the receiver's certificate by a token, it must be ours.
fn check_recipient(
    security: El<'_, '_>,
    encrypted_key: El<'_, '_>,
    key: &dyn PayloadKey,
) -> Result<(), EbmsError> {
    let Some(id) = encrypted_key
        .child(DS, "KeyInfo")
        .and_then(|k| k.child(WSSE, "SecurityTokenReference"))
        .and_then(|s| s.child(WSSE, "Reference"))
        .and_then(|r| r.attr("URI"))
        .and_then(|u| u.strip_prefix('#'))
    else {
        return Ok(());
    };
    let token = security
        .children_named(WSSE, "BinarySecurityToken")
        .find(|t| {
            t.attributes()
                .iter()
                .any(|a| a.name.local_name == "Id" && a.value == id)
        });
    let Some(token) = token else {
        return Err(policy(format!(
            "the EncryptedKey names token #{id}, which is not in the header"
        )));
    };
    let der = token
        .base64()
        .map_err(|e| policy(format!("token #{id}: {e}")))?;
    if der.as_slice() != key.certificate().as_ref() {
        let named = CertInfo::parse(&der).map_or_else(|e| e.to_string(), |i| i.subject);
        return Err(failed(format!(
            "the message was encrypted for another AP ({named})"
        )));
    }
    Ok(())
}

/// Decrypts one attachment (IV ‖ ciphertext ‖ tag) as it streams; GCM's tag authenticates it. On an error,
/// what reached `output` must be discarded.
pub fn decrypt(
    part: &EncryptedPart,
    content_key: &[u8],
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> Result<u64, EbmsError> {
    if content_key.len() != part.key_len {
        return Err(failed(format!(
            "the content key is {} bytes, the algorithm needs {}",
            content_key.len(),
            part.key_len
        )));
    }
    gcm::open(content_key, input, output).map_err(|e| {
        failed(format!(
            "attachment {} does not decrypt ({e})",
            part.content_id
        ))
    })
}
