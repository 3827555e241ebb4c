//! Verifying the XHE's enveloped signature without signature wrapping.

use bergshamra::{DsigContext, KeysManager, VerifyResult};
use rustls_pki_types::CertificateDer;

use super::algorithms as alg;
use crate::xml::names::{DS, XHE};
use crate::xml::{Doc, El};

/// Why an envelope's signature is refused. Each message says what was found where.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the document element is {0}, not an XHE")]
    NotXhe(String),
    #[error("the XHE is not signed (no ds:Signature)")]
    Unsigned,
    #[error("{0} ds:Signature elements; exactly one is allowed")]
    SignatureCount(usize),
    #[error("ds:Signature at {0} is not the last child of the document element")]
    SignatureMisplaced(String),
    #[error("signature structure: {0}")]
    Structure(String),
    #[error("{what} algorithm {uri:?} is not allowed")]
    Algorithm { what: &'static str, uri: String },
    #[error("the Reference must be URI=\"\" (the whole envelope), found {0:?}")]
    ReferenceScope(String),
    #[error("embedded certificate: {0}")]
    Certificate(String),
    #[error("signature does not verify: {0}")]
    Invalid(String),
}

/// A signature that verified, the certificate that made it, and the document it covers. The chain is not yet
/// checked: callers pass `signer` to [`crate::pki::Checker`] for the O2O role of their environment (see
/// [`super::verify_signer`]). Decryption takes a `Verified`, so it cannot run on an envelope that did not verify.
#[derive(Clone)]
pub struct Verified<'d, 'a> {
    doc: &'d Doc<'a>,
    pub signer: CertificateDer<'static>,
    pub signature_algorithm: String,
    pub digest_algorithm: String,
}

impl std::fmt::Debug for Verified<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("signer", &crate::pki::cert::sha256_hex(&self.signer))
            .field("signature_algorithm", &self.signature_algorithm)
            .field("digest_algorithm", &self.digest_algorithm)
            .finish_non_exhaustive()
    }
}

impl<'d, 'a> Verified<'d, 'a> {
    /// The verified tree: the one to read from afterwards.
    pub fn doc(&self) -> &'d Doc<'a> {
        self.doc
    }
}

/// Verifies the enveloped signature of the XHE in `doc` (the tree that will be read afterwards).
pub fn verify_enveloped<'d, 'a>(doc: &'d Doc<'a>) -> Result<Verified<'d, 'a>, SignatureError> {
    let root = doc.root();
    if !root.is(XHE, "XHE") {
        return Err(SignatureError::NotXhe(format!(
            "{{{}}}{}",
            root.ns(),
            root.local()
        )));
    }
    verify_document(doc)
}

/// The same checks for any document signed the same way: an enveloped signature, the last child of the
/// document element, over the whole document (an SMP's SignedServiceMetadata).
pub fn verify_document<'d, 'a>(doc: &'d Doc<'a>) -> Result<Verified<'d, 'a>, SignatureError> {
    let root = doc.root();
    let signatures: Vec<El<'_, '_>> = root
        .descendants_or_self()
        .into_iter()
        .filter(|e| e.is(DS, "Signature"))
        .collect();
    let signature = match signatures.as_slice() {
        [] => return Err(SignatureError::Unsigned),
        [one] => *one,
        many => return Err(SignatureError::SignatureCount(many.len())),
    };
    let last_child = root.children().last();
    if !signature.parent().is_some_and(|p| p.same_node(&root))
        || !last_child.is_some_and(|c| c.same_node(&signature))
    {
        return Err(SignatureError::SignatureMisplaced(signature.path()));
    }
    // Comments and processing instructions are taken (DIGG's own receipt examples carry comments): C14N
    // drops them, so they are not signed, and they cannot change what is read either, because every value
    // the node reads is the concatenation of all its text children (`El::text`) — a comment splitting an
    // identifier yields the whole, signed identifier.
    let shape = check_shape(signature)?;
    let ctx = context(&shape.certificate)?;
    let result = bergshamra::dsig::verify::verify_document(&ctx, doc.tree())
        .map_err(|e| SignatureError::Invalid(e.to_string()))?;
    match result {
        VerifyResult::Valid {
            signature_node,
            references,
            key_info,
        } => {
            // What bergshamra verified must be exactly what we inspected: this signature, one reference to the
            // whole document, signed with the embedded certificate.
            if signature_node != signature.node_id() {
                return Err(SignatureError::Invalid(
                    "a different ds:Signature was verified".into(),
                ));
            }
            let [reference] = references.as_slice() else {
                return Err(SignatureError::Invalid(format!(
                    "{} references verified, expected 1",
                    references.len()
                )));
            };
            if !reference.uri.is_empty() || !reference.digest_verified {
                return Err(SignatureError::ReferenceScope(reference.uri.clone()));
            }
            // The only key bergshamra may use is the embedded certificate's; if it reports a chain, it must be that.
            if key_info
                .x509_chain
                .first()
                .is_some_and(|c| c.as_slice() != shape.certificate.as_ref())
            {
                return Err(SignatureError::Certificate(
                    "the key that verified is not the embedded certificate".into(),
                ));
            }
            Ok(Verified {
                doc,
                signer: shape.certificate,
                signature_algorithm: shape.signature_algorithm,
                digest_algorithm: shape.digest_algorithm,
            })
        }
        VerifyResult::Invalid { reason } => Err(SignatureError::Invalid(reason)),
    }
}

struct Shape {
    certificate: CertificateDer<'static>,
    signature_algorithm: String,
    digest_algorithm: String,
}

fn only_child<'d, 'a>(parent: El<'d, 'a>, local: &str) -> Result<El<'d, 'a>, SignatureError> {
    let found: Vec<El<'d, 'a>> = parent.children().filter(|c| c.is(DS, local)).collect();
    match found.as_slice() {
        [one] => Ok(*one),
        _ => Err(SignatureError::Structure(format!(
            "{} must have exactly one ds:{local}, has {}",
            parent.path(),
            found.len()
        ))),
    }
}

fn algorithm(
    el: El<'_, '_>,
    what: &'static str,
    allowed: &[&str],
) -> Result<String, SignatureError> {
    let uri = el.attr("Algorithm").unwrap_or_default().to_owned();
    if allowed.contains(&uri.as_str()) {
        Ok(uri)
    } else {
        Err(SignatureError::Algorithm { what, uri })
    }
}

/// Checks everything about the signature that does not need cryptography.
fn check_shape(signature: El<'_, '_>) -> Result<Shape, SignatureError> {
    let signed_info = only_child(signature, "SignedInfo")?;
    if let Some(object) = signature.children().find(|c| c.is(DS, "Object")) {
        return Err(SignatureError::Structure(format!(
            "{} is not allowed",
            object.path()
        )));
    }
    algorithm(
        only_child(signed_info, "CanonicalizationMethod")?,
        "canonicalization",
        &alg::CANONICALIZATION,
    )?;
    let signature_algorithm = algorithm(
        only_child(signed_info, "SignatureMethod")?,
        "signature",
        &alg::SIGNATURE,
    )?;
    let reference = only_child(signed_info, "Reference")?;
    let uri = reference.attr("URI");
    if uri != Some("") {
        return Err(SignatureError::ReferenceScope(
            uri.unwrap_or("(none)").to_owned(),
        ));
    }
    let transforms: Vec<String> = match reference.child(DS, "Transforms") {
        Some(t) => t
            .children()
            .map(|tr| tr.attr("Algorithm").unwrap_or_default().to_owned())
            .collect(),
        None => Vec::new(),
    };
    let allowed_transforms = match transforms.as_slice() {
        [first] => first == alg::ENVELOPED,
        [first, second] => {
            first == alg::ENVELOPED && alg::CANONICALIZATION.contains(&second.as_str())
        }
        _ => false,
    };
    if !allowed_transforms {
        return Err(SignatureError::Structure(format!(
            "transforms must be enveloped-signature, optionally followed by C14N; found {transforms:?}"
        )));
    }
    let digest_algorithm = algorithm(
        only_child(reference, "DigestMethod")?,
        "digest",
        &alg::DIGEST,
    )?;
    let key_info = only_child(signature, "KeyInfo")?;
    let x509_data = only_child(key_info, "X509Data")?;
    let certificates: Vec<El<'_, '_>> = x509_data
        .children()
        .filter(|c| c.is(DS, "X509Certificate"))
        .collect();
    let [certificate] = certificates.as_slice() else {
        return Err(SignatureError::Certificate(format!(
            "ds:X509Data must hold exactly one ds:X509Certificate, has {}",
            certificates.len()
        )));
    };
    let der = certificate
        .base64()
        .map_err(|e| SignatureError::Certificate(format!("not base64: {e}")))?;
    crate::pki::CertInfo::parse(&der).map_err(|e| SignatureError::Certificate(e.to_string()))?;
    Ok(Shape {
        certificate: CertificateDer::from(der),
        signature_algorithm,
        digest_algorithm,
    })
}

/// bergshamra checks digests and the signature value with exactly one key — the embedded certificate's,
/// already extracted and parsed by us; trust in that certificate is decided by `pki`.
fn context(certificate: &CertificateDer<'_>) -> Result<DsigContext, SignatureError> {
    let key = bergshamra::keys::loader::load_x509_cert_der(certificate)
        .map_err(|e| SignatureError::Certificate(e.to_string()))?;
    let mut keys = KeysManager::new();
    keys.add_key(key);
    let mut ctx = DsigContext::new(keys);
    ctx.skip_time_checks = true;
    Ok(ctx)
}
