//! Error signals the way Domibus sends and reads them. Ours go out as a SOAP 1.2 Fault whose header carries
//! the `eb:Messaging`/`eb:SignalMessage`/`eb:Error`, signed with the AP key like a receipt. A peer's are read
//! in any of the shapes peers send — in a Fault or not, signed or not — because what makes them authentic is
//! the mutual-TLS connection to the AP whose certificate we checked; a signature is verified when there is
//! one, and the verdict is reported so the audit log can say which it was.

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use super::ebms;
use super::error::{EbmsError, FaultCode};
use super::keyref::KeySource;
use super::wssec::{self, ApSigner, BODY_ID};
use crate::xml::names::{EB, WSSE};
use crate::xml::{Doc, Limits, parse_bytes};

/// The Fault's Reason: fixed words, so nothing of the refused input reaches it twice.
const REASON: &str =
    "The message was not accepted; the eb:Error in the eb:Messaging header says why.";

/// A signed Error signal in a SOAP Fault, in reply to `ref_to_message_id` when the failing message's id
/// could be read.
pub fn write_signed(
    ref_to_message_id: Option<&str>,
    errors: &[EbmsError],
    fault: FaultCode,
    signer: &ApSigner,
) -> Result<String, EbmsError> {
    let messaging = ebms::write_error(ref_to_message_id, errors);
    let security = wssec::security_start(signer.certificate(), OffsetDateTime::now_utc(), "");
    let unsigned = ebms::fault_envelope(
        &[&messaging, &format!("{security}{}", wssec::SECURITY_END)],
        BODY_ID,
        fault,
        REASON,
    );
    wssec::sign(&unsigned, &security, &[], signer).map(|(signed, _)| signed)
}

/// The same signal unsigned, for when signing itself failed: the peer still learns the verdict.
pub fn write_unsigned(
    ref_to_message_id: Option<&str>,
    errors: &[EbmsError],
    fault: FaultCode,
) -> String {
    let messaging = ebms::write_error(ref_to_message_id, errors);
    ebms::fault_envelope(&[&messaging], BODY_ID, fault, REASON)
}

/// A peer's Error signal, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorSignal {
    /// `(errorCode, ErrorDetail)` of each eb:Error.
    pub errors: Vec<(String, String)>,
    pub signature: Signature,
    /// The body was a SOAP Fault.
    pub fault: bool,
}

/// What the signal's own signature says, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// Signed by the peer AP's certificate over Messaging and Body.
    Verified,
    /// No signature (Domibus's faults, which its security policy leaves unsigned).
    Absent,
    /// A signature that does not verify, or by another key than the peer AP's.
    Invalid(String),
}

impl ErrorSignal {
    /// How the signal was authenticated, in words for the audit log.
    pub fn provenance(&self) -> String {
        let shape = if self.fault { "in a SOAP Fault" } else { "" };
        let how = match &self.signature {
            Signature::Verified => "signed by the peer AP (verified)".to_owned(),
            Signature::Absent => "unsigned, authentic by mutual TLS".to_owned(),
            Signature::Invalid(why) => {
                format!("with a signature that does not verify ({why}), authentic by mutual TLS")
            }
        };
        if shape.is_empty() {
            how
        } else {
            format!("{how}, {shape}")
        }
    }

    /// The errors as one line: `EBMS:0004 NOT_SERVICED; …`, each value clipped.
    pub fn codes(&self) -> String {
        self.errors
            .iter()
            .map(|(c, d)| format!("{} {}", crate::clip::echo(c), crate::clip::echo(d)))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Why a response that carries eb:Error elements is not an answer to the message sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Error signal refers to {found}, not to {sent}")]
pub struct AboutAnotherMessage {
    pub found: String,
    pub sent: String,
}

/// The Error signal in `body`, the answer to the message `sent_message_id` sent to the AP whose certificate
/// is `peer`; `None` when `body` carries no eb:Error.
pub fn read(
    body: &[u8],
    sent_message_id: &str,
    peer: &CertificateDer<'_>,
) -> Option<Result<ErrorSignal, AboutAnotherMessage>> {
    let doc = parse_bytes(body, &Limits::default()).ok()?;
    let errors = ebms::errors_in(&doc);
    if errors.is_empty() {
        return None;
    }
    if let Some(found) = ref_to_message_id(&doc)
        && found != sent_message_id
    {
        return Some(Err(AboutAnotherMessage {
            found: crate::clip::echo(&found).into_owned(),
            sent: sent_message_id.to_owned(),
        }));
    }
    Some(Ok(ErrorSignal {
        errors,
        signature: signature(&doc, peer),
        fault: doc
            .root()
            .descendants_or_self()
            .into_iter()
            .any(|e| e.is(crate::xml::names::S12, "Fault")),
    }))
}

/// The RefToMessageId of the SignalMessage, when it names one (Domibus leaves it out when it could not read
/// the message's id).
fn ref_to_message_id(doc: &Doc<'_>) -> Option<String> {
    doc.root()
        .descendants_or_self()
        .into_iter()
        .find(|e| e.is(EB, "SignalMessage"))?
        .child(EB, "MessageInfo")?
        .child(EB, "RefToMessageId")
        .map(|r| r.text().trim().to_owned())
        .filter(|r| !r.is_empty())
}

fn signature(doc: &Doc<'_>, peer: &CertificateDer<'_>) -> Signature {
    let signed = doc
        .root()
        .descendants_or_self()
        .into_iter()
        .any(|e| e.is(WSSE, "Security"));
    if !signed {
        return Signature::Absent;
    }
    match wssec::verify_with(doc, &[], KeySource::Expected(peer)) {
        Ok(check) if check.signer.as_ref() == peer.as_ref() => Signature::Verified,
        Ok(_) => Signature::Invalid("signed by another certificate than the peer AP's".into()),
        Err(e) => Signature::Invalid(e.to_string()),
    }
}
