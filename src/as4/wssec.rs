//! WS-Security 1.1 for AS4 (CEF eDelivery AS4 1.15, SDK §2.3): the sender's AP certificate as
//! BinarySecurityToken, a `wsu:Timestamp`, and one signature (exc-c14n, RSA-SHA256, SHA-256) over
//! `eb:Messaging`, the SOAP Body, the Timestamp and every attachment (Attachment-Content-Signature-Transform).
//!
//! Verification never searches the document for what a reference points at: the required parts are found by
//! their position in the tree (`/Envelope/Header/eb:Messaging`, `/Envelope/Body`, the Timestamp in the
//! Security header, the MIME attachments), and every reference must name exactly one of them, each once.

use base64::Engine;
use bergshamra::c14n::{C14nMode, canonicalize_doc};
use bergshamra::xml::NodeSet;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::ebms::{MESSAGING_ID, NrrReference};
use super::error::{EbmsError, ErrorCode};
use super::keyref::{self, KeySource};
use crate::xml::names::{DS, EB, S12, WSSE, WSU};
use crate::xml::{Doc, El};

// The algorithm URIs live in one place, `xmlsec::algorithms`; AS4 names the ones its profile uses.
pub use crate::xmlsec::algorithms::{EXC_C14N, RSA_SHA256, SHA256};
pub const ATTACHMENT_CONTENT: &str = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform";
pub const X509V3: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
pub const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";
pub const BODY_ID: &str = "_body";
pub const TIMESTAMP_ID: &str = "_timestamp";
pub const BST_ID: &str = "_bst";

/// The AP key that signs messages and receipts, with its certificate (sent as BinarySecurityToken).
pub type ApSigner = crate::pki::keys::RsaSha256Signer;

/// The opening of the Security header up to where the signature goes: token, timestamp and `extra` (the
/// encryption elements, when there are any). Close it with [`SECURITY_END`].
pub fn security_start(
    certificate: &CertificateDer<'_>,
    now: OffsetDateTime,
    extra: &str,
) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let created = xml_datetime(now);
    let expires = xml_datetime(now + time::Duration::minutes(5));
    format!(
        "<wsse:Security xmlns:wsse=\"{WSSE}\" S12:mustUnderstand=\"true\">\
<wsse:BinarySecurityToken EncodingType=\"{BASE64_BINARY}\" ValueType=\"{X509V3}\" wsu:Id=\"{BST_ID}\">{cert}</wsse:BinarySecurityToken>\
<wsu:Timestamp wsu:Id=\"{TIMESTAMP_ID}\"><wsu:Created>{created}</wsu:Created><wsu:Expires>{expires}</wsu:Expires></wsu:Timestamp>{extra}",
        cert = b64.encode(certificate),
    )
}

pub const SECURITY_END: &str = "</wsse:Security>";

/// The one way the as4 module writes a dateTime (`wsu:Created`, `wsu:Expires`, `eb:Timestamp`): UTC, `Z`,
/// exactly three fraction digits. WSS4J refuses more than three in a Timestamp (BSP R3220/R3229) and
/// Domibus parses `eb:Timestamp` only with 0, 3, 6 or 9, so milliseconds are the width both take.
pub fn xml_datetime(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    utc.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    // Only a year outside 0000..=9999 fails to format; no clock we read gets there.
    .unwrap_or_default()
}

/// `at` cut to whole milliseconds: the precision `xml_datetime` writes.
pub fn to_millis(at: OffsetDateTime) -> OffsetDateTime {
    let millis = at.millisecond();
    at.replace_millisecond(millis).unwrap_or(at)
}

/// The default tolerance for a peer's clock running ahead of ours (WSS4J's future time-to-live is 60 s).
pub const DEFAULT_CLOCK_SKEW: time::Duration = time::Duration::seconds(60);

/// Judges a signed `wsu:Timestamp` at `now` as WSS4J's TimestampValidator does: refused when `Expires` has
/// passed, or when `Created` lies further than `skew` in the future. Refusals are EBMS:0103
/// PolicyNoncompliance, not 0101: the signature is sound, the message is merely outside the freshness
/// policy, which WSS4J reports as `wsse:MessageExpired` / invalid timestamp, not as `wsse:FailedAuthentication`.
pub fn check_timestamp(
    timestamp: El<'_, '_>,
    now: OffsetDateTime,
    skew: time::Duration,
) -> Result<(), EbmsError> {
    let read = |local: &str| -> Result<Option<OffsetDateTime>, EbmsError> {
        let found: Vec<El<'_, '_>> = timestamp.children_named(WSU, local).collect();
        match found.as_slice() {
            [] => Ok(None),
            [one] => {
                let text = one.text();
                OffsetDateTime::parse(text.trim(), &Rfc3339)
                    .map(Some)
                    .map_err(|e| policy(format!("wsu:{local} is not a UTC dateTime: {e}")))
            }
            _ => Err(policy(format!("two wsu:{local} in the Timestamp"))),
        }
    };
    let created = read("Created")?.ok_or_else(|| policy("the wsu:Timestamp has no wsu:Created"))?;
    if created > now + skew {
        return Err(policy(format!(
            "the wsu:Timestamp was created {} in the future, beyond the allowed clock skew of {} s",
            created - now,
            skew.whole_seconds()
        )));
    }
    if let Some(expires) = read("Expires")?
        && expires < now
    {
        return Err(policy(format!(
            "the wsu:Timestamp expired {} ago",
            now - expires
        )));
    }
    Ok(())
}

/// Signs the envelope `unsigned` (whose Security header is `security_start` + [`SECURITY_END`]) and the
/// attachments `(content_id, base64 SHA-256 of the content)`: returns the signed envelope and the references,
/// for NRR. Attachments are digested by the caller as they stream past.
pub fn sign(
    unsigned: &str,
    security_start: &str,
    attachments: &[(&str, &str)],
    signer: &ApSigner,
) -> Result<(String, Vec<NrrReference>), EbmsError> {
    let doc = crate::xml::parse(unsigned, &crate::xml::Limits::default())
        .map_err(|e| internal(format!("our own envelope does not parse: {e}")))?;
    let parts = Parts::locate(&doc)?;
    let timestamp = parts
        .timestamp
        .ok_or_else(|| internal("our own Security header has no Timestamp".into()))?;
    let mut references = Vec::new();
    for (id, el) in [
        (MESSAGING_ID, parts.messaging),
        (BODY_ID, parts.body),
        (TIMESTAMP_ID, timestamp),
    ] {
        references.push(NrrReference {
            uri: format!("#{id}"),
            transforms: vec![EXC_C14N.to_owned()],
            inclusive_prefixes: Vec::new(),
            digest_method: SHA256.to_owned(),
            digest_value: digest_b64(&exc_c14n(el)?),
        });
    }
    for (id, digest) in attachments {
        references.push(NrrReference {
            uri: format!("cid:{id}"),
            transforms: vec![ATTACHMENT_CONTENT.to_owned()],
            inclusive_prefixes: Vec::new(),
            digest_method: SHA256.to_owned(),
            digest_value: (*digest).to_owned(),
        });
    }
    let signed_info = signed_info(&references);
    let canonical = {
        let si = crate::xml::parse(&signed_info, &crate::xml::Limits::default())
            .map_err(|e| internal(format!("SignedInfo: {e}")))?;
        exc_c14n(si.root())?
    };
    let value = signer
        .sign(&canonical)
        .map_err(|e| internal(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let signature = format!(
        "<ds:Signature xmlns:ds=\"{DS}\">{signed_info}<ds:SignatureValue>{value}</ds:SignatureValue>\
<ds:KeyInfo><wsse:SecurityTokenReference><wsse:Reference URI=\"#{BST_ID}\" ValueType=\"{X509V3}\"/></wsse:SecurityTokenReference></ds:KeyInfo></ds:Signature>",
        value = b64.encode(&value),
    );
    let at = unsigned
        .find(security_start)
        .map(|i| i + security_start.len())
        .ok_or_else(|| internal("the Security header is not in the envelope".into()))?;
    let mut signed = String::with_capacity(unsigned.len() + signature.len());
    signed.push_str(&unsigned[..at]);
    signed.push_str(&signature);
    signed.push_str(&unsigned[at..]);
    Ok((signed, references))
}

fn signed_info(references: &[NrrReference]) -> String {
    let mut s = format!(
        "<ds:SignedInfo xmlns:ds=\"{DS}\"><ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"/><ds:SignatureMethod Algorithm=\"{RSA_SHA256}\"/>"
    );
    for r in references {
        let transforms: String = r
            .transforms
            .iter()
            .map(|t| format!("<ds:Transform Algorithm=\"{t}\"/>"))
            .collect();
        s.push_str(&format!(
            "<ds:Reference URI=\"{}\"><ds:Transforms>{transforms}</ds:Transforms><ds:DigestMethod Algorithm=\"{}\"/><ds:DigestValue>{}</ds:DigestValue></ds:Reference>",
            r.uri, r.digest_method, r.digest_value
        ));
    }
    s.push_str("</ds:SignedInfo>");
    s
}

fn internal(detail: String) -> EbmsError {
    EbmsError::new(ErrorCode::Other, detail)
}

fn policy(detail: impl Into<String>) -> EbmsError {
    EbmsError::new(ErrorCode::PolicyNoncompliance, detail)
}

fn auth(detail: impl Into<String>) -> EbmsError {
    EbmsError::new(ErrorCode::FailedAuthentication, detail)
}

fn digest_b64(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

fn exc_c14n(el: El<'_, '_>) -> Result<Vec<u8>, EbmsError> {
    exc_c14n_with(el, &[])
}

/// Exclusive C14N of `el` treating `inclusive` (an `InclusiveNamespaces` PrefixList) as inclusive C14N would
/// (Exclusive XML Canonicalization 1.0 §3).
fn exc_c14n_with(el: El<'_, '_>, inclusive: &[String]) -> Result<Vec<u8>, EbmsError> {
    let (doc, id) = el.raw_parts();
    canonicalize_doc(
        doc,
        C14nMode::Exclusive,
        Some(&NodeSet::tree_without_comments(id, doc)),
        inclusive,
    )
    .map_err(|e| internal(format!("exclusive C14N of {}: {e}", el.path())))
}

/// The parts a signature must cover, found by position.
pub(crate) struct Parts<'d, 'a> {
    pub messaging: El<'d, 'a>,
    pub body: El<'d, 'a>,
    pub security: El<'d, 'a>,
    pub timestamp: Option<El<'d, 'a>>,
}

impl<'d, 'a> Parts<'d, 'a> {
    pub(crate) fn locate(doc: &'d Doc<'a>) -> Result<Parts<'d, 'a>, EbmsError> {
        let root = doc.root();
        if !root.is(S12, "Envelope") {
            return Err(EbmsError::new(
                ErrorCode::InvalidHeader,
                format!(
                    "the root is {{{}}}{}, not a SOAP 1.2 Envelope",
                    root.ns(),
                    root.local()
                ),
            ));
        }
        let header = only(root, S12, "Header", ErrorCode::InvalidHeader)?;
        let body = only(root, S12, "Body", ErrorCode::InvalidHeader)?;
        let messaging = only(header, EB, "Messaging", ErrorCode::InvalidHeader)?;
        let security = only(header, WSSE, "Security", ErrorCode::PolicyNoncompliance)?;
        let timestamps: Vec<El<'d, 'a>> = security.children_named(WSU, "Timestamp").collect();
        let timestamp = match timestamps.as_slice() {
            [] => None,
            [one] => Some(*one),
            _ => {
                return Err(EbmsError::new(
                    ErrorCode::PolicyNoncompliance,
                    "two wsu:Timestamp elements",
                ));
            }
        };
        Ok(Parts {
            messaging,
            body,
            security,
            timestamp,
        })
    }
}

fn only<'d, 'a>(
    parent: El<'d, 'a>,
    ns: &str,
    local: &str,
    code: ErrorCode,
) -> Result<El<'d, 'a>, EbmsError> {
    let found: Vec<El<'d, 'a>> = parent.children_named(ns, local).collect();
    match found.as_slice() {
        [one] => Ok(*one),
        _ => Err(EbmsError::new(
            code,
            format!(
                "{} must have exactly one {local}, has {}",
                parent.path(),
                found.len()
            ),
        )),
    }
}

fn wsu_id<'d>(el: El<'d, '_>) -> Option<&'d str> {
    el.attributes()
        .iter()
        .find(|a| a.name.namespace_uri.as_deref() == Some(WSU) && a.name.local_name == "Id")
        .map(|a| a.value.as_ref())
}

/// A signature that verified over the XML parts; the attachment digests still to be compared with the
/// decrypted attachments, and the signer's certificate still to be judged by `pki`.
#[derive(Debug)]
pub struct SignatureCheck {
    pub signer: CertificateDer<'static>,
    /// Every reference of the signature, in order (what a receipt's NRR repeats).
    pub references: Vec<NrrReference>,
    /// (content id, expected SHA-256, base64) of each attachment.
    pub attachment_digests: Vec<(String, String)>,
}

/// Verifies the signature of a received envelope over Messaging, Body and Timestamp, and that it references
/// each of `attachment_ids` exactly once. Attachment digests are returned for [`check_attachment`], because
/// attachments are signed before they are encrypted.
pub fn verify(doc: &Doc<'_>, attachment_ids: &[&str]) -> Result<SignatureCheck, EbmsError> {
    verify_with(doc, attachment_ids, KeySource::Token)
}

/// [`verify`] with the key taken per `source`: a receipt's may be named by key identifier or issuer and
/// serial, resolved only against the certificate expected.
pub fn verify_with(
    doc: &Doc<'_>,
    attachment_ids: &[&str],
    source: KeySource<'_>,
) -> Result<SignatureCheck, EbmsError> {
    let parts = Parts::locate(doc)?;
    // Ids must be unique in the whole envelope, so a reference cannot be pointed at a copy.
    let mut ids = std::collections::HashMap::new();
    for el in doc.root().descendants_or_self() {
        if let Some(id) = wsu_id(el).or_else(|| el.attr("Id"))
            && ids.insert(id.to_owned(), el).is_some()
        {
            return Err(policy(format!(
                "the Id {id:?} occurs twice in the envelope"
            )));
        }
    }

    let signature = only(
        parts.security,
        DS,
        "Signature",
        ErrorCode::PolicyNoncompliance,
    )?;
    let signed_info = only(signature, DS, "SignedInfo", ErrorCode::PolicyNoncompliance)?;
    let c14n = only(
        signed_info,
        DS,
        "CanonicalizationMethod",
        ErrorCode::PolicyNoncompliance,
    )?;
    if c14n.attr("Algorithm") != Some(EXC_C14N) {
        return Err(policy(format!(
            "canonicalization must be exclusive C14N, found {}",
            crate::clip::shown(c14n.attr("Algorithm"))
        )));
    }
    // WSS4J names the SOAP envelope's prefix here (Domibus: PrefixList="env").
    let signed_info_prefixes = inclusive_prefixes(c14n)?;
    let method = only(
        signed_info,
        DS,
        "SignatureMethod",
        ErrorCode::PolicyNoncompliance,
    )?;
    if method.attr("Algorithm") != Some(RSA_SHA256) {
        return Err(policy(format!(
            "signature algorithm {} is not rsa-sha256",
            crate::clip::shown(method.attr("Algorithm"))
        )));
    }
    let signer = keyref::signer(parts.security, signature, source)?;
    // The Timestamp is optional on receipt (some AS4 implementations send none), but signed when present.
    let mut required = vec![parts.messaging, parts.body];
    required.extend(parts.timestamp);
    let mut covered_xml: Vec<El<'_, '_>> = Vec::new();
    let mut attachment_digests: Vec<(String, String)> = Vec::new();
    let mut references = Vec::new();
    for reference in signed_info.children() {
        if reference.is(DS, "CanonicalizationMethod") || reference.is(DS, "SignatureMethod") {
            continue;
        }
        if !reference.is(DS, "Reference") {
            return Err(policy(format!(
                "unexpected {} in SignedInfo",
                reference.path()
            )));
        }
        let r = read_reference(reference)?;
        if let Some(id) = r.uri.strip_prefix('#') {
            let target = ids
                .get(id)
                .ok_or_else(|| policy(format!("reference #{id} points at nothing")))?;
            let Some(part) = required.iter().find(|el| el.same_node(target)) else {
                return Err(policy(format!(
                    "reference #{id} points at {}, which is not Messaging, Body or the Timestamp",
                    target.path()
                )));
            };
            if covered_xml.iter().any(|c| c.same_node(part)) {
                return Err(policy(format!("{} is referenced twice", part.path())));
            }
            if r.transform != EXC_C14N {
                return Err(policy(format!(
                    "reference {} must use exclusive C14N",
                    r.uri
                )));
            }
            if digest_b64(&exc_c14n_with(*part, &r.reference.inclusive_prefixes)?)
                != r.reference.digest_value
            {
                return Err(auth(format!(
                    "the digest of {} does not match: it was changed after signing",
                    part.path()
                )));
            }
            covered_xml.push(*part);
        } else if let Some(cid) = r.uri.strip_prefix("cid:") {
            if r.transform != ATTACHMENT_CONTENT {
                return Err(policy(format!(
                    "reference {} must use the Attachment-Content-Signature-Transform",
                    r.uri
                )));
            }
            if !attachment_ids.contains(&cid) {
                return Err(policy(format!(
                    "reference {} names no attachment of this message",
                    r.uri
                )));
            }
            if attachment_digests.iter().any(|(c, _)| c == cid) {
                return Err(policy(format!("attachment {cid} is referenced twice")));
            }
            attachment_digests.push((cid.to_owned(), r.reference.digest_value.clone()));
        } else {
            return Err(policy(format!(
                "reference URI {:?} is neither #id nor cid:",
                r.uri
            )));
        }
        references.push(r.reference);
    }
    for part in &required {
        if !covered_xml.iter().any(|c| c.same_node(part)) {
            return Err(policy(format!(
                "{} is not covered by the signature",
                part.path()
            )));
        }
    }
    for id in attachment_ids {
        if !attachment_digests.iter().any(|(c, _)| c == id) {
            return Err(policy(format!(
                "attachment {id} is not covered by the signature"
            )));
        }
    }
    let value_el = only(
        signature,
        DS,
        "SignatureValue",
        ErrorCode::PolicyNoncompliance,
    )?;
    let value = value_el
        .base64()
        .map_err(|e| policy(format!("SignatureValue: {e}")))?;
    let canonical = exc_c14n_with(signed_info, &signed_info_prefixes)?;
    crate::pki::keys::verify_rsa_sha256(&signer, &canonical, &value)
        .map_err(|e| auth(format!("the signature value and the signer's key: {e}")))?;
    Ok(SignatureCheck {
        signer,
        references,
        attachment_digests,
    })
}

/// Compares a decrypted attachment's digest (base64 SHA-256) with the one the sender signed.
pub fn check_attachment(
    check: &SignatureCheck,
    content_id: &str,
    digest: &str,
) -> Result<(), EbmsError> {
    let expected = check
        .attachment_digests
        .iter()
        .find(|(c, _)| c == content_id)
        .map(|(_, d)| d)
        .ok_or_else(|| {
            policy(format!(
                "attachment {content_id} is not covered by the signature"
            ))
        })?;
    if digest != expected {
        return Err(auth(format!(
            "attachment {content_id} was changed after signing (digest mismatch)"
        )));
    }
    Ok(())
}

struct ReadReference {
    uri: String,
    transform: String,
    reference: NrrReference,
}

fn read_reference(reference: El<'_, '_>) -> Result<ReadReference, EbmsError> {
    let uri = reference.attr("URI").unwrap_or_default().to_owned();
    let transforms: Vec<El<'_, '_>> = reference
        .child(DS, "Transforms")
        .map(|t| t.children().collect())
        .unwrap_or_default();
    let [transform] = transforms.as_slice() else {
        return Err(policy(format!(
            "reference {uri} must have exactly one transform, has {}",
            transforms.len()
        )));
    };
    // Exclusive C14N may name InclusiveNamespaces (WSS4J always does); nothing else takes parameters here.
    let algorithm = transform.attr("Algorithm").unwrap_or_default().to_owned();
    let inclusive_prefixes = if algorithm == EXC_C14N {
        inclusive_prefixes(*transform)?
    } else if transform.children().next().is_some() {
        return Err(policy(format!(
            "reference {uri}: transform parameters are not allowed"
        )));
    } else {
        Vec::new()
    };
    let digest_method = only(
        reference,
        DS,
        "DigestMethod",
        ErrorCode::PolicyNoncompliance,
    )?
    .attr("Algorithm")
    .unwrap_or_default()
    .to_owned();
    if digest_method != SHA256 {
        return Err(policy(format!(
            "reference {uri}: digest {digest_method:?} is not sha256"
        )));
    }
    let digest_value: String = only(reference, DS, "DigestValue", ErrorCode::PolicyNoncompliance)?
        .text()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    Ok(ReadReference {
        transform: algorithm.clone(),
        reference: NrrReference {
            uri: uri.clone(),
            transforms: vec![algorithm],
            inclusive_prefixes,
            digest_method,
            digest_value,
        },
        uri,
    })
}

/// An NCName, as a namespace prefix must be (Namespaces in XML 1.0).
fn is_prefix(p: &str) -> bool {
    let mut chars = p.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '\u{b7}'))
}

/// Most prefixes one PrefixList may name: WSS4J lists the few declared above a signed element.
const MAX_INCLUSIVE_PREFIXES: usize = 32;

/// The PrefixList of an exclusive C14N method's one optional `ec:InclusiveNamespaces` child: prefixes
/// (NCNames) or `#default`, whitespace-separated. Any other child is refused.
fn inclusive_prefixes(method: El<'_, '_>) -> Result<Vec<String>, EbmsError> {
    let children: Vec<El<'_, '_>> = method.children().collect();
    let list = match children.as_slice() {
        [] => return Ok(Vec::new()),
        [one] if one.is(EXC_C14N, "InclusiveNamespaces") && one.children().next().is_none() => one
            .attr("PrefixList")
            .ok_or_else(|| policy("InclusiveNamespaces without a PrefixList"))?,
        _ => {
            return Err(policy(format!(
                "{}: exclusive C14N takes one InclusiveNamespaces and nothing else",
                method.path()
            )));
        }
    };
    let prefixes: Vec<String> = list.split_ascii_whitespace().map(str::to_owned).collect();
    if prefixes.len() > MAX_INCLUSIVE_PREFIXES {
        return Err(policy(format!(
            "a PrefixList of {} prefixes (at most {MAX_INCLUSIVE_PREFIXES})",
            prefixes.len()
        )));
    }
    if let Some(bad) = prefixes
        .iter()
        .find(|p| p.as_str() != "#default" && !is_prefix(p))
    {
        return Err(policy(format!(
            "PrefixList names {}, which is not a namespace prefix",
            crate::clip::echo(bad)
        )));
    }
    Ok(prefixes)
}
