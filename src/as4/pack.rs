//! Packing and unpacking whole AS4 messages: compress → sign → encrypt on the way out; on the way in, verify
//! the signature and the sender first, then decrypt, then check each attachment's signed digest, then
//! decompress within limits. Every failure is one ebMS error.

use std::io::{Read, Write};

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use super::ebms::{self, NrrReference, PartInfo, UserMessage};
use super::error::{EbmsError, ErrorCode};
use super::gzip::{self, InflateLimits};
use super::keyref::KeySource;
use super::mime::{self, MimeLimits, MimeWriter};
use super::spool::{Digesting, Spool};
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
/// signed by `signer` and encrypted to the receiving AP's certificate `recipient`, in memory.
pub fn pack(
    message: &UserMessage,
    payloads: &[&[u8]],
    signer: &ApSigner,
    recipient: &CertificateDer<'_>,
) -> Result<Packed, EbmsError> {
    let mut readers: Vec<&[u8]> = payloads.to_vec();
    let mut sources: Vec<&mut dyn Read> = readers.iter_mut().map(|r| r as &mut dyn Read).collect();
    let mut body = Vec::new();
    let mut packed = pack_to(
        message,
        &mut sources,
        signer,
        recipient,
        &mut body,
        usize::MAX,
    )?;
    packed.body = body;
    Ok(packed)
}

/// Packs as [`pack`] does, streaming: payloads are read once, compressed (and digested) into spools that go
/// to disk above `spool_threshold`, and encrypted straight into `out`. The returned `Packed` has an empty
/// `body`: the body went to `out`.
pub fn pack_to(
    message: &UserMessage,
    payloads: &mut [&mut dyn Read],
    signer: &ApSigner,
    recipient: &CertificateDer<'_>,
    out: &mut dyn Write,
    spool_threshold: usize,
) -> Result<Packed, EbmsError> {
    let io = |e: std::io::Error| EbmsError::new(ErrorCode::Other, format!("packing: {e}"));
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
    // Compress → (digest) → spool: what is signed is the compressed content.
    let mut prepared: Vec<(String, String, Spool, String)> = Vec::new();
    for (info, source) in message.payloads.iter().zip(payloads.iter_mut()) {
        let cid = info
            .href
            .strip_prefix("cid:")
            .unwrap_or(&info.href)
            .to_owned();
        let mut sink = Digesting::new(Spool::new(spool_threshold));
        let ty = if info.compressed {
            gzip::compress_to(*source, &mut sink).map_err(io)?;
            "application/gzip".to_owned()
        } else {
            std::io::copy(*source, &mut sink).map_err(io)?;
            info.mime_type.clone()
        };
        let (spool, digest) = sink.finish();
        prepared.push((cid, ty, spool, digest));
    }
    let key = wsenc::ContentKey::generate()?;
    let described: Vec<(&str, &str)> = prepared
        .iter()
        .map(|(c, t, ..)| (c.as_str(), t.as_str()))
        .collect();
    let encryption = wsenc::header(&described, recipient, &key)?;
    let security =
        wssec::security_start(signer.certificate(), OffsetDateTime::now_utc(), &encryption);
    let mut messaging = crate::xml::Writer::new();
    message.write(&mut messaging);
    let unsigned = ebms::envelope(
        &[
            &messaging.finish(),
            &format!("{security}{}", wssec::SECURITY_END),
        ],
        BODY_ID,
    );
    let digests: Vec<(&str, &str)> = prepared
        .iter()
        .map(|(c, _, _, d)| (c.as_str(), d.as_str()))
        .collect();
    let (signed, references) = wssec::sign(&unsigned, &security, &digests, signer)?;
    // Encrypt → MIME, straight into the output.
    let (mut writer, content_type) = MimeWriter::start(out, signed.as_bytes()).map_err(io)?;
    for (cid, _, spool, _) in &mut prepared {
        writer.part(cid, "application/octet-stream").map_err(io)?;
        let mut reader = spool.reader().map_err(io)?;
        key.seal(&mut reader, writer.content())?;
    }
    writer.finish().map_err(io)?;
    Ok(Packed {
        message_id: message.message_id.clone(),
        content_type,
        body: Vec::new(),
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
    /// How far a sender's `wsu:Created` may lie in our future (its clock running ahead).
    pub clock_skew: time::Duration,
}

impl<'c> ReceivePolicy<'c> {
    /// Checks against `checker` in `env` now, with the default limits.
    pub fn new(checker: &'c Checker<'c>, env: &'c Env) -> Self {
        ReceivePolicy {
            checker,
            env,
            at: OffsetDateTime::now_utc(),
            // No XHE larger than the XML limit can be read, so none may inflate beyond it.
            inflate: InflateLimits {
                max_bytes: Limits::DEFAULT_MAX_BYTES as u64,
                ..InflateLimits::default()
            },
            mime: MimeLimits::default(),
            xml: Limits::default(),
            clock_skew: wssec::DEFAULT_CLOCK_SKEW,
        }
    }

    /// The same policy with another clock skew (`[as4] clock_skew_seconds`).
    pub fn with_clock_skew(self, skew: std::time::Duration) -> Self {
        ReceivePolicy {
            clock_skew: duration(skew),
            ..self
        }
    }
}

/// A configured skew as a signed duration; one too large for it is as good as no limit.
fn duration(skew: std::time::Duration) -> time::Duration {
    time::Duration::try_from(skew).unwrap_or(time::Duration::MAX)
}

/// A received, verified, decrypted and decompressed message; payloads in memory, or spooled (`Spool`) when
/// unpacked from a stream.
#[derive(Debug)]
pub struct Received<P = Vec<u8>> {
    pub message: UserMessage,
    /// The payloads in PartInfo order, decompressed.
    pub payloads: Vec<(PartInfo, P)>,
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

/// Unpacks an AS4 request body held in memory. What is decrypted and inflated goes through spools at the
/// policy's threshold, so a compression bomb fills at most a temporary file up to the inflate limit, never
/// memory; payloads are read into memory only once every check passed.
pub fn unpack(
    content_type: &str,
    body: &[u8],
    policy: &ReceivePolicy<'_>,
    key: &dyn PayloadKey,
) -> Result<Received, Refused> {
    unpack_read(content_type, &mut &body[..], policy, key)
}

/// [`unpack`] of a body read from `body` (a spool the listener wrote it to), the payloads in memory.
pub fn unpack_read(
    content_type: &str,
    body: &mut dyn Read,
    policy: &ReceivePolicy<'_>,
    key: &dyn PayloadKey,
) -> Result<Received, Refused> {
    let received = unpack_from(content_type, body, policy, key)?;
    let message_id = received.message.message_id.clone();
    let payloads = received
        .payloads
        .into_iter()
        .map(|(info, spool)| Ok((info, spool.into_bytes()?)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Refused {
            message_id: Some(message_id),
            error: EbmsError::new(ErrorCode::Other, format!("reading a spooled payload: {e}")),
        })?;
    Ok(Received {
        message: received.message,
        payloads,
        signer: received.signer,
        references: received.references,
    })
}

/// Unpacks an AS4 request body as it streams in: the SOAP part in memory, attachments spooled (to disk above
/// the policy's threshold), each then decrypted, digest-checked and decompressed through further spools.
pub fn unpack_from(
    content_type: &str,
    body: &mut dyn Read,
    policy: &ReceivePolicy<'_>,
    key: &dyn PayloadKey,
) -> Result<Received<Spool>, Refused> {
    let refuse = |message_id: Option<&str>| {
        let message_id = message_id.map(str::to_owned);
        move |error: EbmsError| Refused {
            message_id: message_id.clone(),
            error,
        }
    };
    let mut streamed = mime::read_stream(content_type, body, &policy.mime).map_err(refuse(None))?;
    let doc = parse_bytes(&streamed.soap, &policy.xml)
        .map_err(|e| EbmsError::new(ErrorCode::InvalidHeader, format!("the SOAP envelope: {e}")))
        .map_err(refuse(None))?;
    let parts = Parts::locate(&doc).map_err(refuse(None))?;
    let message = UserMessage::read(parts.messaging).map_err(refuse(None))?;
    let refused = refuse(Some(&message.message_id));
    let attachment_ids: Vec<&str> = streamed
        .attachments
        .iter()
        .map(|a| a.content_id.as_str())
        .collect();
    let check = wssec::verify(&doc, &attachment_ids).map_err(&refused)?;
    // Judged only once verify has proved the Timestamp is signed, so the dates are the sender's own.
    if let Some(timestamp) = parts.timestamp {
        wssec::check_timestamp(timestamp, policy.at, policy.clock_skew).map_err(&refused)?;
    }
    check_sender(&check.signer, &message, policy).map_err(&refused)?;
    let (encrypted, content_key) = wsenc::read(parts.security, key).map_err(&refused)?;
    if streamed.attachments.len() != message.payloads.len() {
        return Err(refused(EbmsError::new(
            ErrorCode::MimeInconsistency,
            format!(
                "{} MIME attachments for {} PartInfo entries",
                streamed.attachments.len(),
                message.payloads.len()
            ),
        )));
    }
    let threshold = policy.mime.spool_threshold;
    let mut payloads = Vec::new();
    for info in &message.payloads {
        let cid = info.href.trim_start_matches("cid:");
        let attachment = streamed
            .attachments
            .iter_mut()
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
        let io =
            |e: std::io::Error| EbmsError::new(ErrorCode::Other, format!("attachment {cid}: {e}"));
        // Decrypt into a spool, digesting the plaintext; none of it is used before tag and digest agree.
        let mut plain = Digesting::new(Spool::new(threshold));
        let mut sealed = attachment.data.reader().map_err(io).map_err(&refused)?;
        wsenc::decrypt(part, &content_key, &mut sealed, &mut plain).map_err(&refused)?;
        drop(sealed);
        let (mut plain, digest) = plain.finish();
        wssec::check_attachment(&check, cid, &digest).map_err(&refused)?;
        let content = if info.compressed {
            let mut inflated = Spool::new(threshold);
            let len = plain.len();
            let mut reader = plain.reader().map_err(io).map_err(&refused)?;
            gzip::decompress_to(&mut reader, len, &mut inflated, &policy.inflate)
                .map_err(&refused)?;
            inflated
        } else {
            plain
        };
        payloads.push((info.clone(), content));
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
pub fn receipt<P>(received: &Received<P>, signer: &ApSigner) -> Result<String, EbmsError> {
    let messaging = ebms::write_receipt(&received.message.message_id, &received.references);
    let security = wssec::security_start(signer.certificate(), OffsetDateTime::now_utc(), "");
    let unsigned = ebms::envelope(
        &[&messaging, &format!("{security}{}", wssec::SECURITY_END)],
        BODY_ID,
    );
    wssec::sign(&unsigned, &security, &[], signer).map(|(signed, _)| signed)
}

/// Checks a receipt against what was sent: its signature (by `expected_signer`, the receiving AP's
/// certificate), its signed Timestamp (now, with the default clock skew), `RefToMessageId`, and NRR
/// references that are the ones we signed, in any order. EBMS:0302 otherwise; an expired or future
/// Timestamp is EBMS:0103.
pub fn verify_receipt(
    receipt: &[u8],
    sent: &Packed,
    expected_signer: &CertificateDer<'_>,
) -> Result<(), EbmsError> {
    verify_receipt_at(
        receipt,
        sent,
        expected_signer,
        OffsetDateTime::now_utc(),
        wssec::DEFAULT_CLOCK_SKEW.unsigned_abs(),
    )
}

/// [`verify_receipt`] at `now`, allowing the receiving AP's clock to run `clock_skew` ahead of ours.
pub fn verify_receipt_at(
    receipt: &[u8],
    sent: &Packed,
    expected_signer: &CertificateDer<'_>,
    now: OffsetDateTime,
    clock_skew: std::time::Duration,
) -> Result<(), EbmsError> {
    let invalid = |detail: String| EbmsError::new(ErrorCode::InvalidReceipt, detail);
    let doc =
        parse_bytes(receipt, &Limits::default()).map_err(|e| invalid(format!("not XML: {e}")))?;
    let check = wssec::verify_with(&doc, &[], KeySource::Expected(expected_signer))
        .map_err(|e| invalid(format!("signature: {e}")))?;
    if check.signer.as_ref() != expected_signer.as_ref() {
        return Err(invalid(
            "signed by another certificate than the receiving AP's".into(),
        ));
    }
    let parts = Parts::locate(&doc).map_err(|e| invalid(e.to_string()))?;
    // A stale receipt is kept apart from a wrong one (EBMS:0103, as for messages): it is authentic, but
    // WSS4J would refuse it the same way, and a replayed old receipt must not settle a new attempt.
    if let Some(timestamp) = parts.timestamp {
        wssec::check_timestamp(timestamp, now, duration(clock_skew))?;
    }
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
            inclusive_prefixes: r
                .child(crate::xml::names::DS, "Transforms")
                .into_iter()
                .flat_map(|t| t.children())
                .filter_map(|x| x.child(wssec::EXC_C14N, "InclusiveNamespaces"))
                .filter_map(|i| i.attr("PrefixList"))
                .flat_map(|l| l.split_ascii_whitespace().map(str::to_owned))
                .collect(),
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
    same_references(&nrr, &sent.references).map_err(invalid)
}

/// The NRR of a receipt names each reference we signed exactly once, with the same transforms, digest
/// method and digest, and nothing else; order is free (ebBP does not fix it, and peers reorder).
fn same_references(nrr: &[NrrReference], signed: &[NrrReference]) -> Result<(), String> {
    // By URI in maps: the receipt is the peer's, and its entry count is bounded only by the XML limits.
    let ours: std::collections::HashMap<&str, &NrrReference> =
        signed.iter().map(|s| (s.uri.as_str(), s)).collect();
    let mut named = std::collections::HashSet::new();
    for r in nrr {
        if !named.insert(r.uri.as_str()) {
            return Err(format!("the NRR names {} twice", r.uri));
        }
        match ours.get(r.uri.as_str()) {
            None => {
                return Err(format!(
                    "the NRR names {}, which the message's signature does not reference",
                    r.uri
                ));
            }
            Some(s) if *s != r => {
                return Err(format!(
                    "the NRR entry for {} differs from what we signed (transforms, digest method or digest)",
                    r.uri
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(missing) = signed.iter().find(|s| !named.contains(s.uri.as_str())) {
        return Err(format!("the NRR does not name {}", missing.uri));
    }
    Ok(())
}
