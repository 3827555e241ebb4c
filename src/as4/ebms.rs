//! ebMS 3.0 headers for SDK: the UserMessage with every P-Mode value of DIGG's profile (SDK §2.2), and the
//! Receipt and Error signals.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{EbmsError, ErrorCode, FaultCode};
use crate::clip::echo;
use crate::xml::names::{DS, EB, EBBP, S12, WSU};
use crate::xml::{El, Writer};

pub const MPC_DEFAULT: &str =
    "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/defaultMPC";
pub const PARTY_TYPE_AP: &str = "urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap";
pub const ROLE_INITIATOR: &str =
    "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator";
pub const ROLE_RESPONDER: &str =
    "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder";
pub const SERVICE_TYPE: &str = "urn:fdc:digg.se:edelivery:process";
pub const PARTICIPANT_SCHEME: &str = "iso6523-actorid-upis";
pub const ACTION_SCHEME: &str = "busdox-docid-qns";
pub const GZIP: &str = "application/gzip";
/// The `wsu:Id` of `eb:Messaging`, which the signature references.
pub const MESSAGING_ID: &str = "_ebmessaging";
/// Bytes of an `eb:MessageId` or `eb:RefToMessageId`. ebMS sets no limit, but Domibus (what most SDK access
/// points run) stores at most 255, so no peer needs more; the id is read before the signature is checked and
/// then repeated in the Error signal and the audit log, so an unbounded one would be repeated whole.
pub const MAX_MESSAGE_ID: usize = 255;

/// An access point as ebMS names it: the CN of its AP certificate (`AP0001-SDK-QA`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub id: String,
    pub party_type: String,
}

impl Party {
    pub fn ap(id: &str) -> Party {
        Party {
            id: id.to_owned(),
            party_type: PARTY_TYPE_AP.to_owned(),
        }
    }
}

/// One payload: a MIME part named by `href` (`cid:…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub href: String,
    pub mime_type: String,
    pub compressed: bool,
}

/// A UserMessage with the SDK P-Mode (One-Way/Push).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessage {
    pub message_id: String,
    pub timestamp: OffsetDateTime,
    pub ref_to_message_id: Option<String>,
    pub from: Party,
    pub to: Party,
    /// `PROCESSID`, e.g. `bdx:noprocess`.
    pub service: String,
    /// `busdox-docid-qns::` + the document id.
    pub action: String,
    pub conversation_id: String,
    /// C1: the sending organisation's participant id (= XHE FromParty).
    pub original_sender: String,
    /// C4: the receiving organisation's participant id (= XHE ToParty).
    pub final_recipient: String,
    pub payloads: Vec<PartInfo>,
}

impl UserMessage {
    /// A message from AP `from` to AP `to` carrying one XHE (gzip-compressed, as SDK does) for `document_id`.
    pub fn sdk(
        from: &str,
        to: &str,
        document_id: &str,
        original_sender: &str,
        final_recipient: &str,
        conversation_id: &str,
    ) -> UserMessage {
        UserMessage {
            message_id: format!("{}@sdk-relay", uuid::Uuid::new_v4()),
            // Milliseconds, as the wire carries them, so a message and what its peer reads are equal.
            timestamp: super::wssec::to_millis(OffsetDateTime::now_utc()),
            ref_to_message_id: None,
            from: Party::ap(from),
            to: Party::ap(to),
            service: "bdx:noprocess".to_owned(),
            action: format!("{ACTION_SCHEME}::{document_id}"),
            conversation_id: conversation_id.to_owned(),
            original_sender: original_sender.to_owned(),
            final_recipient: final_recipient.to_owned(),
            payloads: vec![PartInfo {
                href: "cid:message".to_owned(),
                mime_type: "text/xml".to_owned(),
                compressed: true,
            }],
        }
    }

    /// A message carrying `xhe` from AP `from` to AP `to`: Service, Action and the participants come from the
    /// envelope's business scope and parties (SDK §3.3 "AS4 mapping"); the conversation is the XHE's id.
    pub fn for_xhe(xhe: &crate::envelope::Xhe, from: &str, to: &str) -> UserMessage {
        let mut m = UserMessage::sdk(
            from,
            to,
            &xhe.scope.document_id,
            &xhe.from,
            &xhe.to,
            &xhe.id,
        );
        m.service = xhe.scope.process_id.clone();
        m.action = format!(
            "{}::{}",
            xhe.scope.document_id_scheme, xhe.scope.document_id
        );
        m
    }

    /// The `eb:Messaging` header element.
    pub fn write(&self, w: &mut Writer) {
        messaging_start(w);
        w.start("eb:UserMessage", &[("mpc", MPC_DEFAULT)]);
        message_info(
            w,
            &self.timestamp,
            &self.message_id,
            self.ref_to_message_id.as_deref(),
        );
        w.start("eb:PartyInfo", &[]);
        for (tag, party, role) in [
            ("eb:From", &self.from, ROLE_INITIATOR),
            ("eb:To", &self.to, ROLE_RESPONDER),
        ] {
            w.start(tag, &[]);
            w.leaf("eb:PartyId", &[("type", &party.party_type)], &party.id);
            w.leaf("eb:Role", &[], role);
            w.end();
        }
        w.end();
        w.start("eb:CollaborationInfo", &[]);
        w.leaf("eb:Service", &[("type", SERVICE_TYPE)], &self.service);
        w.leaf("eb:Action", &[], &self.action);
        w.leaf("eb:ConversationId", &[], &self.conversation_id);
        w.end();
        w.start("eb:MessageProperties", &[]);
        w.leaf(
            "eb:Property",
            &[("name", "originalSender"), ("type", PARTICIPANT_SCHEME)],
            &self.original_sender,
        );
        w.leaf(
            "eb:Property",
            &[("name", "finalRecipient"), ("type", PARTICIPANT_SCHEME)],
            &self.final_recipient,
        );
        w.end();
        w.start("eb:PayloadInfo", &[]);
        for p in &self.payloads {
            w.start("eb:PartInfo", &[("href", &p.href)]);
            w.start("eb:PartProperties", &[]);
            w.leaf("eb:Property", &[("name", "MimeType")], &p.mime_type);
            if p.compressed {
                w.leaf("eb:Property", &[("name", "CompressionType")], GZIP);
            }
            w.end();
            w.end();
        }
        w.end();
        w.end();
        w.end();
    }

    /// Reads a UserMessage and checks it against the SDK P-Mode. Missing or malformed headers are EBMS:0009,
    /// values that contradict the P-Mode EBMS:0010, payloads outside the message EBMS:0011.
    pub fn read(messaging: El<'_, '_>) -> Result<UserMessage, EbmsError> {
        let um = one(messaging, "UserMessage")?;
        if let Some(mpc) = um.attr("mpc")
            && mpc != MPC_DEFAULT
        {
            return Err(mismatch(format!(
                "MPC {:?} ({} bytes) is not the default MPC",
                echo(mpc),
                mpc.len()
            )));
        }
        let (timestamp, message_id, ref_to) = read_message_info(one(um, "MessageInfo")?)?;
        let party_info = one(um, "PartyInfo")?;
        let from = read_party(one(party_info, "From")?, ROLE_INITIATOR)?;
        let to = read_party(one(party_info, "To")?, ROLE_RESPONDER)?;
        let collab = one(um, "CollaborationInfo")?;
        let service = one(collab, "Service")?;
        if service.attr("type") != Some(SERVICE_TYPE) {
            return Err(mismatch(format!(
                "Service/@type is {}, the SDK profile fixes {SERVICE_TYPE}",
                crate::clip::shown(service.attr("type"))
            )));
        }
        let action = text(one(collab, "Action")?)?;
        if !action.starts_with(&format!("{ACTION_SCHEME}::")) {
            return Err(mismatch(format!(
                "Action {:?} is not {ACTION_SCHEME}::<document id>",
                echo(&action)
            )));
        }
        let props = one(um, "MessageProperties")?;
        let property = |name: &str| -> Result<String, EbmsError> {
            let found: Vec<El<'_, '_>> = props
                .children_named(EB, "Property")
                .filter(|p| p.attr("name") == Some(name))
                .collect();
            match found.as_slice() {
                [one] => text(*one),
                _ => Err(invalid(format!(
                    "exactly one {name} message property is required, found {}",
                    found.len()
                ))),
            }
        };
        let payloads = match um.child(EB, "PayloadInfo") {
            Some(info) => info
                .children_named(EB, "PartInfo")
                .map(read_part_info)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(UserMessage {
            message_id,
            timestamp,
            ref_to_message_id: ref_to,
            from,
            to,
            service: text(service)?,
            action,
            conversation_id: text(one(collab, "ConversationId")?)?,
            original_sender: property("originalSender")?,
            final_recipient: property("finalRecipient")?,
            payloads,
        })
    }
}

fn invalid(detail: String) -> EbmsError {
    EbmsError::new(ErrorCode::InvalidHeader, detail)
}

fn mismatch(detail: String) -> EbmsError {
    EbmsError::new(ErrorCode::ProcessingModeMismatch, detail)
}

fn one<'d, 'a>(parent: El<'d, 'a>, local: &str) -> Result<El<'d, 'a>, EbmsError> {
    let found: Vec<El<'d, 'a>> = parent.children_named(EB, local).collect();
    match found.as_slice() {
        [one] => Ok(*one),
        _ => Err(invalid(format!(
            "{} must have exactly one eb:{local}, has {}",
            parent.path(),
            found.len()
        ))),
    }
}

fn text(el: El<'_, '_>) -> Result<String, EbmsError> {
    let t = el.text().trim().to_owned();
    if t.is_empty() {
        Err(invalid(format!("{} is empty", el.path())))
    } else {
        Ok(t)
    }
}

fn message_info(w: &mut Writer, timestamp: &OffsetDateTime, id: &str, ref_to: Option<&str>) {
    w.start("eb:MessageInfo", &[]);
    w.leaf("eb:Timestamp", &[], &super::wssec::xml_datetime(*timestamp));
    w.leaf("eb:MessageId", &[], id);
    if let Some(r) = ref_to {
        w.leaf("eb:RefToMessageId", &[], r);
    }
    w.end();
}

fn read_message_info(
    info: El<'_, '_>,
) -> Result<(OffsetDateTime, String, Option<String>), EbmsError> {
    let ts_text = text(one(info, "Timestamp")?)?;
    let timestamp = OffsetDateTime::parse(&ts_text, &Rfc3339).map_err(|e| {
        invalid(format!(
            "eb:Timestamp {:?} is not a dateTime: {e}",
            echo(&ts_text)
        ))
    })?;
    let message_id = bounded_id(one(info, "MessageId")?)?;
    let ref_to = match info.child(EB, "RefToMessageId") {
        Some(r) => Some(bounded_id(r)?),
        None => None,
    };
    Ok((timestamp, message_id, ref_to))
}

/// A message id of at most [`MAX_MESSAGE_ID`] bytes.
fn bounded_id(el: El<'_, '_>) -> Result<String, EbmsError> {
    let id = text(el)?;
    if id.len() > MAX_MESSAGE_ID {
        return Err(invalid(format!(
            "{} is {} bytes long; at most {MAX_MESSAGE_ID} are accepted",
            el.path(),
            id.len()
        )));
    }
    Ok(id)
}

fn read_party(el: El<'_, '_>, role: &str) -> Result<Party, EbmsError> {
    let id = one(el, "PartyId")?;
    let party_type = id.attr("type").unwrap_or_default().to_owned();
    if party_type != PARTY_TYPE_AP {
        return Err(mismatch(format!(
            "{} type {:?} is not the SDK AP party type {PARTY_TYPE_AP}",
            id.path(),
            echo(&party_type)
        )));
    }
    let found_role = text(one(el, "Role")?)?;
    if found_role != role {
        return Err(mismatch(format!(
            "{} role {:?} is not {role}",
            el.path(),
            echo(&found_role)
        )));
    }
    Ok(Party {
        id: text(id)?,
        party_type,
    })
}

fn read_part_info(el: El<'_, '_>) -> Result<PartInfo, EbmsError> {
    let href = el.attr("href").unwrap_or_default().to_owned();
    if !href.starts_with("cid:") {
        return Err(EbmsError::new(
            ErrorCode::ExternalPayloadError,
            format!(
                "PartInfo href {:?} is not a cid: reference to a MIME part of this message",
                echo(&href)
            ),
        ));
    }
    let props: Vec<(String, String)> = match el.child(EB, "PartProperties") {
        Some(p) => p
            .children_named(EB, "Property")
            .map(|p| {
                (
                    p.attr("name").unwrap_or_default().to_owned(),
                    p.text().trim().to_owned(),
                )
            })
            .collect(),
        None => Vec::new(),
    };
    let get = |name: &str| {
        props
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mime_type = get("MimeType")
        .ok_or_else(|| invalid(format!("PartInfo {} has no MimeType property", echo(&href))))?;
    let compressed = match get("CompressionType").as_deref() {
        None => false,
        Some(GZIP) => true,
        Some(other) => {
            return Err(EbmsError::new(
                ErrorCode::FeatureNotSupported,
                format!(
                    "CompressionType {:?} is not supported (only {GZIP})",
                    echo(other)
                ),
            ));
        }
    };
    Ok(PartInfo {
        href,
        mime_type,
        compressed,
    })
}

/// One `ds:Reference` of the signature a receipt acknowledges (NRR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NrrReference {
    pub uri: String,
    /// The transform algorithms, in order.
    pub transforms: Vec<String>,
    /// The PrefixList of an exclusive C14N transform (WSS4J writes one; we do not).
    pub inclusive_prefixes: Vec<String>,
    pub digest_method: String,
    pub digest_value: String,
}

/// `eb:Messaging` opened with a SignalMessage and its MessageInfo; the caller adds the signal and finishes.
fn signal(ref_to_message_id: Option<&str>) -> Writer {
    let mut w = Writer::new();
    messaging_start(&mut w);
    w.start("eb:SignalMessage", &[]);
    message_info(
        &mut w,
        &OffsetDateTime::now_utc(),
        &new_message_id(),
        ref_to_message_id,
    );
    w
}

/// The `eb:Messaging` start tag every message and signal shares (its wsu:Id is what the signature references).
fn messaging_start(w: &mut Writer) {
    w.start(
        "eb:Messaging",
        &[
            ("xmlns:eb", EB),
            ("xmlns:wsu", WSU),
            ("S12:mustUnderstand", "true"),
            ("wsu:Id", MESSAGING_ID),
        ],
    );
}

/// A Receipt signal for `ref_to_message_id`, carrying the references of the received message's signature.
pub fn write_receipt(ref_to_message_id: &str, references: &[NrrReference]) -> String {
    let mut w = signal(Some(ref_to_message_id));
    w.start("eb:Receipt", &[]);
    w.start(
        "ebbp:NonRepudiationInformation",
        &[("xmlns:ebbp", EBBP), ("xmlns:ds", DS)],
    );
    for r in references {
        w.start("ebbp:MessagePartNRInformation", &[]);
        w.start("ds:Reference", &[("URI", &r.uri)]);
        w.start("ds:Transforms", &[]);
        for t in &r.transforms {
            if t == super::wssec::EXC_C14N && !r.inclusive_prefixes.is_empty() {
                // The NRR repeats the reference as the sender signed it, parameters included.
                w.start("ds:Transform", &[("Algorithm", t)]);
                w.leaf(
                    "ec:InclusiveNamespaces",
                    &[
                        ("xmlns:ec", super::wssec::EXC_C14N),
                        ("PrefixList", &r.inclusive_prefixes.join(" ")),
                    ],
                    "",
                );
                w.end();
            } else {
                w.leaf("ds:Transform", &[("Algorithm", t)], "");
            }
        }
        w.end();
        w.leaf("ds:DigestMethod", &[("Algorithm", &r.digest_method)], "");
        w.leaf("ds:DigestValue", &[], &r.digest_value);
        w.end();
        w.end();
    }
    w.end();
    w.end();
    w.end();
    w.end();
    w.finish()
}

/// An Error signal, in reply to `ref_to_message_id` when the failing message's id could be read.
pub fn write_error(ref_to_message_id: Option<&str>, errors: &[EbmsError]) -> String {
    let mut w = signal(ref_to_message_id);
    for e in errors {
        let mut attrs = vec![
            ("category", e.code.category()),
            ("errorCode", e.code.as_str()),
            ("severity", e.code.severity()),
            ("shortDescription", e.code.short_description()),
            ("origin", "ebMS"),
        ];
        if let Some(r) = ref_to_message_id {
            attrs.push(("refToMessageInError", r));
        }
        w.start("eb:Error", &attrs);
        if !e.explanation.is_empty() {
            w.leaf("eb:Description", &[("xml:lang", "en")], &e.explanation);
        }
        w.leaf("eb:ErrorDetail", &[], &e.detail);
        w.end();
    }
    w.end();
    w.end();
    w.finish()
}

pub fn new_message_id() -> String {
    format!("{}@sdk-relay", uuid::Uuid::new_v4())
}

/// The SOAP 1.2 envelope around a header set and a body (empty for AS4: the payloads are MIME parts).
pub fn envelope(headers: &[&str], body_id: &str) -> String {
    envelope_with_body(headers, body_id, "")
}

/// An envelope whose Body is a SOAP 1.2 Fault (SOAP 1.2 part 1 §5.4), the shape in which Domibus sends and
/// reads Error signals: the eb:Error itself travels in the eb:Messaging header among `headers`.
pub fn fault_envelope(headers: &[&str], body_id: &str, code: FaultCode, reason: &str) -> String {
    let mut w = Writer::new();
    w.start("S12:Fault", &[]);
    w.start("S12:Code", &[]);
    w.leaf("S12:Value", &[], code.qname());
    w.end();
    w.start("S12:Reason", &[]);
    w.leaf("S12:Text", &[("xml:lang", "en")], reason);
    w.end();
    w.end();
    envelope_with_body(headers, body_id, &w.finish())
}

fn envelope_with_body(headers: &[&str], body_id: &str, body: &str) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<S12:Envelope xmlns:S12=\"{S12}\" xmlns:wsu=\"{WSU}\"><S12:Header>"
    );
    for h in headers {
        out.push_str(h.trim_end());
    }
    if body.is_empty() {
        out.push_str(&format!(
            "</S12:Header><S12:Body wsu:Id=\"{body_id}\"/></S12:Envelope>"
        ));
    } else {
        out.push_str(&format!(
            "</S12:Header><S12:Body wsu:Id=\"{body_id}\">{body}</S12:Body></S12:Envelope>"
        ));
    }
    out
}

/// The errors of an Error signal (`errorCode`, `ErrorDetail`), when `soap` is a SOAP envelope carrying one;
/// `None` for anything else. See `error_signal::read` for how a sender weighs them.
pub fn read_errors(soap: &[u8]) -> Option<Vec<(String, String)>> {
    let doc = crate::xml::parse_bytes(soap, &crate::xml::Limits::default()).ok()?;
    let errors = errors_in(&doc);
    (!errors.is_empty()).then_some(errors)
}

/// `(errorCode, ErrorDetail)` of every eb:Error in `doc`, wherever it stands (header or Fault detail).
pub fn errors_in(doc: &crate::xml::Doc<'_>) -> Vec<(String, String)> {
    doc.root()
        .descendants_or_self()
        .into_iter()
        .filter(|e| e.is(EB, "Error"))
        .map(|e| {
            let detail = e
                .child(EB, "ErrorDetail")
                .map(|d| d.text().trim().to_owned())
                .unwrap_or_default();
            (e.attr("errorCode").unwrap_or_default().to_owned(), detail)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messaging(m: &UserMessage) -> String {
        let mut w = Writer::new();
        m.write(&mut w);
        w.finish()
    }

    fn read(messaging: &str) -> Result<UserMessage, EbmsError> {
        let soap = envelope(&[messaging], "body");
        let doc = crate::xml::parse(&soap, &crate::xml::Limits::default()).unwrap();
        let messaging = doc
            .root()
            .descendants_or_self()
            .into_iter()
            .find(|e| e.is(EB, "Messaging"))
            .unwrap();
        UserMessage::read(messaging)
    }

    fn sdk() -> UserMessage {
        UserMessage::sdk(
            "AP0001",
            "AP0002",
            "doc",
            "0203:a.example.se",
            "0203:b.example.se",
            "c1",
        )
    }

    #[test]
    fn a_written_message_reads_back() {
        let m = sdk();
        assert_eq!(read(&messaging(&m)).unwrap(), m);
    }

    #[test]
    fn a_huge_mpc_is_named_by_its_start_and_size_only() {
        let huge = "m".repeat(8 << 20);
        let xml = messaging(&sdk()).replace(MPC_DEFAULT, &huge);
        let e = read(&xml).unwrap_err();
        assert_eq!(e.code, ErrorCode::ProcessingModeMismatch);
        assert!(e.detail.len() < 400, "{} bytes", e.detail.len());
        assert!(e.detail.contains("(8388608 bytes)"), "{}", e.detail);
    }

    #[test]
    fn an_over_long_message_id_is_refused_without_repeating_it() {
        let mut m = sdk();
        m.message_id = "i".repeat(MAX_MESSAGE_ID);
        assert!(read(&messaging(&m)).is_ok());
        m.message_id = "i".repeat(1 << 20);
        let e = read(&messaging(&m)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidHeader);
        assert!(e.detail.contains("1048576 bytes long"), "{}", e.detail);
        assert!(e.detail.len() < 400, "{} bytes", e.detail.len());
        m.message_id = "m1".into();
        m.ref_to_message_id = Some("r".repeat(MAX_MESSAGE_ID + 1));
        assert_eq!(
            read(&messaging(&m)).unwrap_err().code,
            ErrorCode::InvalidHeader
        );
    }
}
