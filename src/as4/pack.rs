//! Packing and unpacking whole AS4 messages: compress → sign → encrypt on the way out; on the way in, verify
//! the signature and the sender first, then decrypt, then check each attachment's signed digest, then
//! decompress within limits. Every failure is one ebMS error.

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use super::ebms::{self, NrrReference, PartInfo, UserMessage};
use super::error::{EbmsError, ErrorCode};
use super::gzip::{self, InflateLimits};
use super::mime::{self, MimeLimits, Part};
use super::wsenc;
use super::wssec::{self, ApSigner, BODY_ID, Parts};
use crate::pki::{CertInfo, Checker, Env, Usage};
use crate::xml::{Limits, parse_bytes};
use crate::xmlsec::PayloadKey;

/// A packed message: the HTTP body, its Content-Type, and what was signed (to check the receipt against).
#[derive(Debug, Clone)]
pub struct Packed {
    pub message_id: String,
    pub content_type: String,
    pub body: Vec<u8>,
    pub references: Vec<NrrReference>,
}

/// Packs `message` with one payload per `PartInfo` (`payloads[i]` is the content of `message.payloads[i]`),
/// signed by `signer` and encrypted to the receiving AP's certificate `recipient`.
pub fn pack(
    message: &UserMessage,
    payloads: &[&[u8]],
    signer: &ApSigner,
    recipient: &CertificateDer<'_>,
) -> Result<Packed, EbmsError> {
    if payloads.len() != message.payloads.len() {
        return Err(EbmsError::new(
            ErrorCode::Other,
            format!(
                "{} payloads for {} PartInfo entries",
                payloads.len(),
                message.payloads.len()
            ),
        ));
    }
    let mut prepared: Vec<(String, String, Vec<u8>)> = Vec::new();
    for (info, content) in message.payloads.iter().zip(payloads) {
        let cid = info
            .href
            .strip_prefix("cid:")
            .unwrap_or(&info.href)
            .to_owned();
        let (ty, bytes) = if info.compressed {
            ("application/gzip".to_owned(), gzip::compress(content))
        } else {
            (info.mime_type.clone(), content.to_vec())
        };
        prepared.push((cid, ty, bytes));
    }
    let encrypted = wsenc::encrypt(
        &prepared
            .iter()
            .map(|(c, t, b)| (c.as_str(), t.as_str(), b.as_slice()))
            .collect::<Vec<_>>(),
        recipient,
    )?;
    let security = wssec::security_start(
        signer.certificate(),
        OffsetDateTime::now_utc(),
        &encrypted.header,
    );
    let mut messaging = crate::xml::Writer::new();
    message.write(&mut messaging);
    let unsigned = ebms::envelope(
        &[
            &messaging.finish(),
            &format!("{security}{}", wssec::SECURITY_END),
        ],
        BODY_ID,
    );
    let signed_parts: Vec<(&str, &[u8])> = prepared
        .iter()
        .map(|(c, _, b)| (c.as_str(), b.as_slice()))
        .collect();
    let (signed, references) = wssec::sign(&unsigned, &security, &signed_parts, signer)?;
    let attachments: Vec<Part> = encrypted
        .parts
        .into_iter()
        .map(|(content_id, body)| Part {
            content_id,
            content_type: "application/octet-stream".to_owned(),
            body,
        })
        .collect();
    let (content_type, body) = mime::write(signed.as_bytes(), &attachments);
    Ok(Packed {
        message_id: message.message_id.clone(),
        content_type,
        body,
        references,
    })
}

/// How a receiving AP judges what comes in.
pub struct ReceivePolicy<'c> {
    pub checker: &'c Checker<'c>,
    pub env: &'c Env,
    pub at: OffsetDateTime,
    pub inflate: InflateLimits,
    pub mime: MimeLimits,
    pub xml: Limits,
}

impl<'c> ReceivePolicy<'c> {
    /// Checks against `checker` in `env` now, with the default limits.
    pub fn new(checker: &'c Checker<'c>, env: &'c Env) -> Self {
        ReceivePolicy {
            checker,
            env,
            at: OffsetDateTime::now_utc(),
            inflate: InflateLimits::default(),
            mime: MimeLimits::default(),
            xml: Limits::default(),
        }
    }
}

/// A received, verified, decrypted and decompressed message.
#[derive(Debug)]
pub struct Received {
    pub message: UserMessage,
    /// The payloads in PartInfo order, decompressed.
    pub payloads: Vec<(PartInfo, Vec<u8>)>,
    pub signer: CertificateDer<'static>,
    /// The signature's references, for the receipt's NRR.
    pub references: Vec<NrrReference>,
}

/// A refusal: the ebMS error and, when it could be read, the MessageId it answers.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Refused {
    pub message_id: Option<String>,
    pub error: EbmsError,
}

/// Unpacks an AS4 request body.
pub fn unpack(
    content_type: &str,
    body: &[u8],
    policy: &ReceivePolicy<'_>,
    key: &dyn PayloadKey,
) -> Result<Received, Refused> {
    let refuse = |message_id: Option<&str>| {
        let message_id = message_id.map(str::to_owned);
        move |error: EbmsError| Refused {
            message_id: message_id.clone(),
            error,
        }
    };
    let multipart = mime::read(content_type, body, &policy.mime).map_err(refuse(None))?;
    let doc = parse_bytes(&multipart.soap.body, &policy.xml)
        .map_err(|e| EbmsError::new(ErrorCode::InvalidHeader, format!("the SOAP envelope: {e}")))
        .map_err(refuse(None))?;
    let parts = Parts::locate(&doc).map_err(refuse(None))?;
    let message = UserMessage::read(parts.messaging).map_err(refuse(None))?;
    let refused = refuse(Some(&message.message_id));
    let attachment_ids: Vec<&str> = multipart
        .attachments
        .iter()
        .map(|a| a.content_id.as_str())
        .collect();
    let check = wssec::verify(&doc, &attachment_ids).map_err(&refused)?;
    check_sender(&check.signer, &message, policy).map_err(&refused)?;
    let (encrypted, content_key) = wsenc::read(parts.security, key).map_err(&refused)?;
    let mut payloads = Vec::new();
    for info in &message.payloads {
        let cid = info.href.trim_start_matches("cid:");
        let attachment = multipart
            .attachments
            .iter()
            .find(|a| a.content_id == cid)
            .ok_or_else(|| {
                EbmsError::new(
                    ErrorCode::ExternalPayloadError,
                    format!("PartInfo {} names no MIME part", info.href),
                )
            })
            .map_err(&refused)?;
        let part = encrypted
            .iter()
            .find(|p| p.content_id == cid)
            .ok_or_else(|| {
                EbmsError::new(
                    ErrorCode::PolicyNoncompliance,
                    format!("attachment {cid} is not encrypted"),
                )
            })
            .map_err(&refused)?;
        let plain = wsenc::decrypt(part, &content_key, &attachment.body).map_err(&refused)?;
        wssec::check_attachment(&check, cid, &plain).map_err(&refused)?;
        let content = if info.compressed {
            gzip::decompress(&plain, &policy.inflate).map_err(&refused)?
        } else {
            plain
        };
        payloads.push((info.clone(), content));
    }
    if multipart.attachments.len() != message.payloads.len() {
        return Err(refused(EbmsError::new(
            ErrorCode::MimeInconsistency,
            format!(
                "{} MIME attachments for {} PartInfo entries",
                multipart.attachments.len(),
                message.payloads.len()
            ),
        )));
    }
    Ok(Received {
        message,
        payloads,
        signer: check.signer,
        references: check.references,
    })
}

/// The sender's AP certificate: trusted for the AP role in this environment (revocation included), and its CN
/// the `eb:From/eb:PartyId`.
fn check_sender(
    signer: &CertificateDer<'_>,
    message: &UserMessage,
    policy: &ReceivePolicy<'_>,
) -> Result<(), EbmsError> {
    let verdict = policy.checker.check(
        std::slice::from_ref(signer),
        Usage::Ap,
        policy.env,
        policy.at,
    );
    if !verdict.is_ok() {
        return Err(EbmsError::new(
            ErrorCode::FailedAuthentication,
            format!("sender AP certificate: {verdict}"),
        ));
    }
    let cn = CertInfo::parse(signer)
        .ok()
        .and_then(|i| i.common_name)
        .unwrap_or_default();
    if cn != message.from.id {
        return Err(EbmsError::new(
            ErrorCode::FailedAuthentication,
            format!(
                "the sender certificate's CN {cn:?} is not eb:From/eb:PartyId {:?}",
                message.from.id
            ),
        ));
    }
    Ok(())
}

/// A signed Receipt (SOAP envelope) for a received message, with its references as NRR.
pub fn receipt(received: &Received, signer: &ApSigner) -> Result<String, EbmsError> {
    let messaging = ebms::write_receipt(&received.message.message_id, &received.references);
    let security = wssec::security_start(signer.certificate(), OffsetDateTime::now_utc(), "");
    let unsigned = ebms::envelope(
        &[&messaging, &format!("{security}{}", wssec::SECURITY_END)],
        BODY_ID,
    );
    wssec::sign(&unsigned, &security, &[], signer).map(|(signed, _)| signed)
}

/// Checks a receipt against what was sent: its signature (by `expected_signer`, the receiving AP's
/// certificate), `RefToMessageId`, and NRR references equal to the ones we signed. EBMS:0302 otherwise.
pub fn verify_receipt(
    receipt: &[u8],
    sent: &Packed,
    expected_signer: &CertificateDer<'_>,
) -> Result<(), EbmsError> {
    let invalid = |detail: String| EbmsError::new(ErrorCode::InvalidReceipt, detail);
    let doc =
        parse_bytes(receipt, &Limits::default()).map_err(|e| invalid(format!("not XML: {e}")))?;
    let check = wssec::verify(&doc, &[]).map_err(|e| invalid(format!("signature: {e}")))?;
    if check.signer.as_ref() != expected_signer.as_ref() {
        return Err(invalid(
            "signed by another certificate than the receiving AP's".into(),
        ));
    }
    let parts = Parts::locate(&doc).map_err(|e| invalid(e.to_string()))?;
    let signal = parts
        .messaging
        .child(crate::xml::names::EB, "SignalMessage")
        .ok_or_else(|| invalid("no eb:SignalMessage".into()))?;
    let ref_to = signal
        .child(crate::xml::names::EB, "MessageInfo")
        .and_then(|i| i.child(crate::xml::names::EB, "RefToMessageId"))
        .map(|r| r.text().trim().to_owned());
    if ref_to.as_deref() != Some(sent.message_id.as_str()) {
        return Err(invalid(format!(
            "RefToMessageId {ref_to:?} is not {}",
            sent.message_id
        )));
    }
    let receipt = signal
        .child(crate::xml::names::EB, "Receipt")
        .ok_or_else(|| invalid("a SignalMessage without eb:Receipt (an Error signal?)".into()))?;
    let nrr: Vec<NrrReference> = receipt
        .descendants_or_self()
        .into_iter()
        .filter(|e| e.is(crate::xml::names::DS, "Reference"))
        .map(|r| NrrReference {
            uri: r.attr("URI").unwrap_or_default().to_owned(),
            transforms: r
                .child(crate::xml::names::DS, "Transforms")
                .map(|t| {
                    t.children()
                        .map(|x| x.attr("Algorithm").unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            digest_method: r
                .child(crate::xml::names::DS, "DigestMethod")
                .and_then(|d| d.attr("Algorithm"))
                .unwrap_or_default()
                .to_owned(),
            digest_value: r
                .child(crate::xml::names::DS, "DigestValue")
                .map(|d| d.text().trim().to_owned())
                .unwrap_or_default(),
        })
        .collect();
    if nrr != sent.references {
        return Err(invalid(
            "the NRR references are not the ones we signed".into(),
        ));
    }
    Ok(())
}
