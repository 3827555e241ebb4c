//! Decrypting the XHE payload — only ever on an envelope whose signature verified, or on one that was never
//! signed (the output of `encrypt` alone). A failed signature means the ciphertext is never touched: AES-CBC
//! would otherwise hand an attacker a padding oracle (SDK §3.5).

use super::algorithms as alg;
use super::edit::Edits;
use super::encrypt::{EncryptedType, single_payload};
use super::keys::{Oaep, PayloadKey};
use super::sign::xhe_root;
use super::verify::Verified;
use crate::pki::CertInfo;
use crate::xml::names::{DS, XENC, XHA, XHB};
use crate::xml::{Doc, El, Limits};

/// Why an encrypted payload cannot be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecryptError {
    #[error("the payload is not encrypted (no xenc:EncryptedData in xha:PayloadContent)")]
    NotEncrypted,
    #[error("the envelope is signed: open it (verify, then decrypt) instead")]
    Signed,
    #[error("encrypted data structure: {0}")]
    Structure(String),
    #[error("{what} algorithm {uri:?} is not allowed")]
    Algorithm { what: &'static str, uri: String },
    #[error("the payload was encrypted for another certificate ({0}), not for this key")]
    NotForThisKey(String),
    #[error("{0}")]
    Key(String),
    #[error("decrypted payload: {0}")]
    Content(String),
}

/// An opened payload.
#[derive(Debug)]
pub struct Decrypted {
    pub kind: EncryptedType,
    /// The plaintext as it was encrypted: the payload element's XML, or `PayloadContent`'s text.
    pub payload: Vec<u8>,
    /// The envelope with the payload in clear, `InstanceEncryptionIndicator` false, and without the signature
    /// (which covered the encrypted form and would no longer verify).
    pub xhe: String,
}

/// Decrypts the payload of an envelope whose signature verified.
pub fn decrypt_verified(
    verified: &Verified<'_, '_>,
    key: &dyn PayloadKey,
) -> Result<Decrypted, DecryptError> {
    decrypt_in(verified.doc(), key)
}

/// Decrypts the payload of an envelope that carries no signature at all (encrypted but not yet signed).
/// A signed envelope is refused: it must go through verification first.
pub fn decrypt_unsigned(doc: &Doc<'_>, key: &dyn PayloadKey) -> Result<Decrypted, DecryptError> {
    if doc
        .root()
        .descendants_or_self()
        .iter()
        .any(|e| e.is(DS, "Signature"))
    {
        return Err(DecryptError::Signed);
    }
    decrypt_in(doc, key)
}

fn decrypt_in(doc: &Doc<'_>, key: &dyn PayloadKey) -> Result<Decrypted, DecryptError> {
    let sealed = Sealed::read(doc)?;
    sealed.check_recipient(key)?;
    let content_key = sealed.unwrap_with(key)?;
    sealed.open(&content_key)
}

/// An encrypted payload as the envelope carries it: everything public about it read and checked against the
/// allow-lists, before any private-key operation. The stages are apart so a receiver can refuse a reused
/// content key between them (a member re-signing another's envelope would otherwise get one decryption per
/// query: a padding oracle despite verify-before-decrypt).
pub struct Sealed<'d, 'a> {
    doc: &'d Doc<'a>,
    root: El<'d, 'a>,
    payload: El<'d, 'a>,
    encrypted: El<'d, 'a>,
    parts: Parts,
}

/// A content key unwrapped by a [`PayloadKey`]. Never printed, compared or stored: [`PayloadKey::keyed_hash`]
/// of it is what a receiver remembers.
pub struct ContentKey(Vec<u8>);

impl ContentKey {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for ContentKey {
    fn drop(&mut self) {
        // Best effort: the key's bytes do not outlive their use in this buffer.
        self.0.iter_mut().for_each(|b| *b = 0);
    }
}

impl<'d, 'a> Sealed<'d, 'a> {
    /// Reads the EncryptedData of the envelope's one payload.
    pub fn read(doc: &'d Doc<'a>) -> Result<Sealed<'d, 'a>, DecryptError> {
        let root = xhe_root(doc).map_err(|e| DecryptError::Structure(e.to_string()))?;
        let payload = single_payload(root).map_err(|e| DecryptError::Structure(e.to_string()))?;
        let content = payload
            .child(XHA, "PayloadContent")
            .ok_or(DecryptError::NotEncrypted)?;
        let encrypted = match content.children().collect::<Vec<_>>().as_slice() {
            [one] if one.is(XENC, "EncryptedData") => *one,
            _ => return Err(DecryptError::NotEncrypted),
        };
        let parts = read_encrypted_data(encrypted)?;
        bergshamra::crypto::cipher::from_uri(&parts.cipher).map_err(|e| {
            DecryptError::Algorithm {
                what: "content encryption",
                uri: e.to_string(),
            }
        })?;
        Ok(Sealed {
            doc,
            root,
            payload,
            encrypted,
            parts,
        })
    }

    /// Reads the EncryptedData of an envelope whose signature verified.
    pub fn of_verified(verified: &'d Verified<'d, 'a>) -> Result<Sealed<'d, 'a>, DecryptError> {
        Sealed::read(verified.doc())
    }

    /// The transported (RSA-OAEP wrapped) content key as it travels: public, and never the same twice from a
    /// sender that makes a fresh key per message.
    pub fn wrapped_key(&self) -> &[u8] {
        &self.parts.wrapped_key
    }

    /// Refuses a key the envelope names another recipient certificate for.
    pub fn check_recipient(&self, key: &dyn PayloadKey) -> Result<(), DecryptError> {
        check_recipient(&self.parts, key)
    }

    /// Unwraps the content key with `key` (one RSA private-key operation).
    pub fn unwrap_with(&self, key: &dyn PayloadKey) -> Result<ContentKey, DecryptError> {
        let content_key = key
            .unwrap_key(self.parts.oaep, &self.parts.wrapped_key)
            .map_err(|e| DecryptError::Key(e.to_string()))?;
        let size = self.key_size();
        if content_key.len() != size {
            return Err(DecryptError::Key(format!(
                "the transported key is {} bytes, {} needs {size}",
                content_key.len(),
                self.parts.cipher,
            )));
        }
        Ok(ContentKey(content_key))
    }

    /// A random key of the size the content encryption needs: what a receiver decrypts with when unwrapping
    /// failed, so that failure costs and looks the same as a payload that does not decrypt (as TLS does
    /// against Bleichenbacher's attack).
    pub fn random_key(&self) -> ContentKey {
        let mut key = vec![0u8; self.key_size()];
        // Without randomness the all-zero key is as unknown to the sender as a random one would be.
        let _ = aws_lc_rs::rand::fill(&mut key);
        ContentKey(key)
    }

    fn key_size(&self) -> usize {
        bergshamra::crypto::cipher::from_uri(&self.parts.cipher).map_or(32, |c| c.key_size())
    }

    /// Decrypts the payload with `content_key` and puts it in clear into the envelope.
    pub fn open(&self, content_key: &ContentKey) -> Result<Decrypted, DecryptError> {
        let cipher = bergshamra::crypto::cipher::from_uri(&self.parts.cipher).map_err(|e| {
            DecryptError::Algorithm {
                what: "content encryption",
                uri: e.to_string(),
            }
        })?;
        let plaintext = cipher
            .decrypt(content_key.as_bytes(), &self.parts.ciphertext)
            .map_err(|_| {
                DecryptError::Content("does not decrypt (wrong key or damaged ciphertext)".into())
            })?;
        let text = std::str::from_utf8(&plaintext)
            .map_err(|e| DecryptError::Content(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
        let xhe = opened_envelope(self.doc, self.root, self.payload, self.encrypted, text)?;
        Ok(Decrypted {
            kind: self.parts.kind,
            payload: plaintext,
            xhe,
        })
    }
}

struct Parts {
    kind: EncryptedType,
    cipher: String,
    oaep: Oaep,
    recipient: Option<Vec<u8>>,
    wrapped_key: Vec<u8>,
    ciphertext: Vec<u8>,
}

fn only<'d, 'a>(parent: El<'d, 'a>, ns: &str, local: &str) -> Result<El<'d, 'a>, DecryptError> {
    let found: Vec<El<'d, 'a>> = parent.children_named(ns, local).collect();
    match found.as_slice() {
        [one] => Ok(*one),
        _ => Err(DecryptError::Structure(format!(
            "{} must have exactly one {local}, has {}",
            parent.path(),
            found.len()
        ))),
    }
}

fn cipher_value(parent: El<'_, '_>) -> Result<Vec<u8>, DecryptError> {
    let value = only(only(parent, XENC, "CipherData")?, XENC, "CipherValue")?;
    base64_of(value)
}

fn base64_of(el: El<'_, '_>) -> Result<Vec<u8>, DecryptError> {
    el.base64()
        .map_err(|e| DecryptError::Structure(format!("{} is not base64: {e}", el.path())))
}

/// Reads the EncryptedData and its one EncryptedKey, refusing every algorithm not on the allow-list.
fn read_encrypted_data(data: El<'_, '_>) -> Result<Parts, DecryptError> {
    let kind = match data.attr("Type") {
        Some(alg::TYPE_ELEMENT) => EncryptedType::Element,
        Some(alg::TYPE_CONTENT) => EncryptedType::Content,
        other => {
            return Err(DecryptError::Structure(format!(
                "EncryptedData/@Type must be xmlenc#Element or xmlenc#Content, found {other:?}"
            )));
        }
    };
    let cipher = only(data, XENC, "EncryptionMethod")?
        .attr("Algorithm")
        .unwrap_or_default();
    if !alg::CONTENT_ENCRYPTION.contains(&cipher) {
        return Err(DecryptError::Algorithm {
            what: "content encryption",
            uri: cipher.to_owned(),
        });
    }
    let key_info = only(data, DS, "KeyInfo")?;
    let encrypted_key = only(key_info, XENC, "EncryptedKey")?;
    let method = only(encrypted_key, XENC, "EncryptionMethod")?;
    let oaep = key_transport(method)?;
    let recipient = match encrypted_key.child(DS, "KeyInfo") {
        Some(ki) => {
            let certs: Vec<El<'_, '_>> = ki
                .children_named(DS, "X509Data")
                .flat_map(|d| d.children_named(DS, "X509Certificate"))
                .collect();
            match certs.as_slice() {
                [] => None,
                [one] => Some(base64_of(*one)?),
                _ => {
                    return Err(DecryptError::Structure(
                        "the EncryptedKey names more than one recipient certificate".into(),
                    ));
                }
            }
        }
        None => None,
    };
    Ok(Parts {
        kind,
        cipher: cipher.to_owned(),
        oaep,
        recipient,
        wrapped_key: cipher_value(encrypted_key)?,
        ciphertext: cipher_value(data)?,
    })
}

fn key_transport(method: El<'_, '_>) -> Result<Oaep, DecryptError> {
    let uri = method.attr("Algorithm").unwrap_or_default();
    let digest = method
        .child(DS, "DigestMethod")
        .and_then(|d| d.attr("Algorithm"));
    let mgf = method
        .child(alg::XENC11, "MGF")
        .and_then(|d| d.attr("Algorithm"));
    if method.child(XENC, "OAEPparams").is_some() {
        return Err(DecryptError::Structure(
            "OAEPparams are not supported".into(),
        ));
    }
    match (uri, digest, mgf) {
        (alg::RSA_OAEP_MGF1P, None | Some(alg::SHA1), None) => Ok(Oaep::Sha1),
        (alg::RSA_OAEP_11, Some(alg::SHA256), Some(alg::MGF1_SHA256)) => Ok(Oaep::Sha256),
        _ => Err(DecryptError::Algorithm {
            what: "key transport",
            uri: format!(
                "{uri} (digest {}, mgf {})",
                digest.unwrap_or("default"),
                mgf.unwrap_or("default")
            ),
        }),
    }
}

fn check_recipient(parts: &Parts, key: &dyn PayloadKey) -> Result<(), DecryptError> {
    match &parts.recipient {
        Some(cert) if cert.as_slice() != key.certificate().as_ref() => {
            let named =
                CertInfo::parse(cert).map_or_else(|e| format!("unreadable: {e}"), |i| i.subject);
            Err(DecryptError::NotForThisKey(named))
        }
        _ => Ok(()),
    }
}

/// The envelope with `plaintext` in place of the EncryptedData, the indicator false and no signature;
/// parsed once more with the hardened parser so a payload that is not well-formed is caught here.
fn opened_envelope(
    doc: &Doc<'_>,
    root: El<'_, '_>,
    payload: El<'_, '_>,
    encrypted: El<'_, '_>,
    plaintext: &str,
) -> Result<String, DecryptError> {
    let mut edits = Edits::new(doc.source());
    edits.replace(encrypted.source_range(), plaintext);
    if let Some(range) = payload
        .child(XHB, "InstanceEncryptionIndicator")
        .and_then(|i| i.content_range())
    {
        edits.replace(range, "false");
    }
    for signature in root.children_named(DS, "Signature") {
        edits.remove(signature.source_range());
    }
    let opened = edits.apply();
    crate::xml::parse(&opened, &Limits::default())
        .map_err(|e| DecryptError::Content(format!("not well-formed XML in its envelope: {e}")))?;
    Ok(opened)
}
