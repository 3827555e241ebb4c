//! The XHE envelope: typed value, reader and writer.

use serde::Serialize;

use super::ids::{self, PayloadKind, TransportModel};
use super::rules::sdk::plain_payload;
use super::{DocType, DocumentError, Message, Receipt, parse_as, self_check};
use crate::xml::names::{DS, MSG3, UBL_APP, XENC, XHA, XHB, XHE};
use crate::xml::{El, Limits, Writer};

/// The five business-scope criteria (`sdk-spec.md` §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BusinessScope {
    pub document_id: String,
    pub document_id_scheme: String,
    pub process_id: String,
    pub process_id_scheme: String,
    pub federation_id: String,
}

impl BusinessScope {
    /// The SDK values for a payload kind, transport model and federation.
    pub fn sdk(kind: PayloadKind, tm: TransportModel, federation: &str) -> Self {
        Self {
            document_id: kind.document_id(tm),
            document_id_scheme: ids::DOCUMENT_ID_SCHEME.to_owned(),
            process_id: ids::PROCESS_ID.to_owned(),
            process_id_scheme: ids::PROCESS_ID_SCHEME.to_owned(),
            federation_id: federation.to_owned(),
        }
    }
}

/// What `PayloadContent` holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum PayloadContent {
    /// A plain SDK message, validated with the envelope.
    Message(Box<Message>),
    /// A plain receipt, validated with the envelope.
    Receipt(Box<Receipt>),
    /// Another XML payload, as standalone XML.
    Xml(String),
    /// `xenc:EncryptedData`, as standalone XML (decrypted by the O2O layer).
    Encrypted(String),
    /// Text, e.g. base64 of a non-XML payload.
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Payload {
    pub document_type_code: String,
    pub content_type_code: String,
    /// The receiver's functional address.
    pub handling_service_id: Option<String>,
    pub content: PayloadContent,
}

impl Payload {
    pub fn encrypted(&self) -> bool {
        matches!(self.content, PayloadContent::Encrypted(_))
    }
}

/// A valid XHE envelope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Xhe {
    /// UUID; equals the carried message's messageId.
    pub id: String,
    /// `xs:dateTime` with a time zone.
    pub creation_date_time: String,
    pub scope: BusinessScope,
    /// Sender participant id (`0203:…`).
    pub from: String,
    /// Receiver participant id.
    pub to: String,
    pub payload: Payload,
    /// Number of `ds:Signature` elements (signing and verifying belong to the O2O layer).
    pub signatures: usize,
}

impl Xhe {
    /// The envelope for an SDK message: ID, parties and functional address taken from the message, so the
    /// cross-layer rules hold by construction.
    pub fn for_message(message: Message, federation: &str, tm: TransportModel) -> Self {
        let h = &message.header;
        Self {
            id: h.message_id.clone(),
            creation_date_time: h.creation_date_time.clone(),
            scope: BusinessScope::sdk(PayloadKind::Message, tm, federation),
            from: h.sender.id.extension.clone(),
            to: h.recipient.id.extension.clone(),
            payload: Payload {
                document_type_code: ids::MESSAGE_DOCUMENT_TYPE.to_owned(),
                content_type_code: ids::XML_CONTENT_TYPE.to_owned(),
                handling_service_id: h
                    .recipient
                    .attention
                    .as_ref()
                    .map(|a| a.sub_organization.id.extension.clone()),
                content: PayloadContent::Message(Box::new(message)),
            },
            signatures: 0,
        }
    }

    /// The envelope for a receipt, addressed to the functional address of the message it acknowledges.
    pub fn for_receipt(
        receipt: Receipt,
        function: &str,
        federation: &str,
        tm: TransportModel,
    ) -> Self {
        Self {
            id: ids::new_uuid(),
            creation_date_time: super::message::timestamp_now(),
            scope: BusinessScope::sdk(PayloadKind::Receipt, tm, federation),
            from: receipt.sender.clone(),
            to: receipt.receiver.clone(),
            payload: Payload {
                document_type_code: ids::RECEIPT_DOCUMENT_TYPE.to_owned(),
                content_type_code: ids::XML_CONTENT_TYPE.to_owned(),
                handling_service_id: Some(function.to_owned()),
                content: PayloadContent::Receipt(Box::new(receipt)),
            },
            signatures: 0,
        }
    }

    /// Parse and validate an XHE (both layers when it carries a plain SDK message or receipt).
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Self, DocumentError> {
        let doc = parse_as(bytes, limits, DocType::Xhe)?;
        Ok(Self::read(doc.root()))
    }

    /// Reads a root that [`super::check`] found without violations (anything else reads as defaults).
    pub fn read(root: El<'_, '_>) -> Self {
        let text = |e: Option<El<'_, '_>>| {
            e.map(|e| e.string_value().trim().to_owned())
                .unwrap_or_default()
        };
        let header = root.child(XHA, "Header");
        let criterion = |code: &str| {
            header
                .and_then(|h| h.child(XHA, "BusinessScope"))
                .and_then(|s| {
                    s.children_named(XHA, "BusinessScopeCriterion")
                        .find(|c| text(c.child(XHB, "BusinessScopeCriterionTypeCode")) == code)
                })
                .map(|c| text(c.child(XHB, "BusinessScopeCriterionValue")))
                .unwrap_or_default()
        };
        let party = |which: &str| {
            text(
                header
                    .and_then(|h| h.child(XHA, which))
                    .and_then(|p| p.child(XHA, "PartyIdentification"))
                    .and_then(|p| p.child(XHB, "ID")),
            )
        };
        let payload = root
            .child(XHA, "Payloads")
            .and_then(|p| p.child(XHA, "Payload"));
        let field = |l: &str| payload.and_then(|p| p.child(XHB, l));
        let content = match plain_payload(root) {
            Some(p) if p.is(MSG3, "messagePayload") => {
                PayloadContent::Message(Box::new(Message::read(p)))
            }
            Some(p) if p.is(UBL_APP, "ApplicationResponse") => {
                PayloadContent::Receipt(Box::new(Receipt::read(p)))
            }
            Some(p) => PayloadContent::Xml(p.to_standalone_xml()),
            None => {
                let pc = payload.and_then(|p| p.child(XHA, "PayloadContent"));
                match pc.and_then(|c| c.child(XENC, "EncryptedData")) {
                    Some(enc) => PayloadContent::Encrypted(enc.to_standalone_xml()),
                    None => PayloadContent::Text(pc.map(|c| c.string_value()).unwrap_or_default()),
                }
            }
        };
        Self {
            id: text(header.and_then(|h| h.child(XHB, "ID"))),
            creation_date_time: text(header.and_then(|h| h.child(XHB, "CreationDateTime"))),
            scope: BusinessScope {
                document_id: criterion("DOCUMENTID"),
                document_id_scheme: criterion("DOCUMENTID_SCHEME"),
                process_id: criterion("PROCESSID"),
                process_id_scheme: criterion("PROCESSID_SCHEME"),
                federation_id: criterion("FEDERATIONID"),
            },
            from: party("FromParty"),
            to: party("ToParty"),
            payload: Payload {
                document_type_code: text(field("DocumentTypeCode")),
                content_type_code: text(field("ContentTypeCode")),
                handling_service_id: field("HandlingServiceID")
                    .map(|e| e.string_value().trim().to_owned()),
                content,
            },
            signatures: root.children_named(DS, "Signature").count(),
        }
    }

    /// Write the envelope (namespaces as in DIGG's examples: `x:XHE`, XHE basic components as the default
    /// namespace, `xha:` aggregates), checked on both layers before it is returned. Signatures are not
    /// written here: signing is the O2O layer's job on the written bytes.
    pub fn to_xml(&self) -> Result<String, DocumentError> {
        let mut w = Writer::new();
        w.declaration();
        w.start(
            "x:XHE",
            &[("xmlns:x", XHE), ("xmlns", XHB), ("xmlns:xha", XHA)],
        );
        w.leaf("XHEVersionID", &[], "1.0");
        w.leaf("CustomizationID", &[], ids::XHE_CUSTOMIZATION_ID);
        w.start("xha:Header", &[]);
        w.leaf("ID", &[], &self.id);
        w.leaf("CreationDateTime", &[], &self.creation_date_time);
        w.start("xha:BusinessScope", &[]);
        let s = &self.scope;
        for (code, value) in [
            ("DOCUMENTID", &s.document_id),
            ("DOCUMENTID_SCHEME", &s.document_id_scheme),
            ("PROCESSID", &s.process_id),
            ("PROCESSID_SCHEME", &s.process_id_scheme),
            ("FEDERATIONID", &s.federation_id),
        ] {
            w.start("xha:BusinessScopeCriterion", &[]);
            w.leaf("BusinessScopeCriterionTypeCode", &[], code);
            w.leaf("BusinessScopeCriterionValue", &[], value);
            w.end();
        }
        w.end();
        for (party, id) in [("xha:FromParty", &self.from), ("xha:ToParty", &self.to)] {
            w.start(party, &[]);
            w.start("xha:PartyIdentification", &[]);
            w.leaf("ID", &[("schemeID", ids::PARTY_SCHEME)], id);
            w.end();
            w.end();
        }
        w.end();
        w.start("xha:Payloads", &[]);
        w.start("xha:Payload", &[]);
        let p = &self.payload;
        w.leaf("DocumentTypeCode", &[], &p.document_type_code);
        w.leaf("ContentTypeCode", &[], &p.content_type_code);
        if let Some(h) = &p.handling_service_id {
            w.leaf("HandlingServiceID", &[], h);
        }
        w.leaf(
            "InstanceEncryptionIndicator",
            &[],
            if p.encrypted() { "true" } else { "false" },
        );
        match &p.content {
            PayloadContent::Text(t) => w.leaf("xha:PayloadContent", &[], t),
            content => {
                w.start("xha:PayloadContent", &[]);
                match content {
                    PayloadContent::Message(m) => m.write(&mut w, "ns6"),
                    PayloadContent::Receipt(r) => r.write(&mut w),
                    PayloadContent::Xml(x) | PayloadContent::Encrypted(x) => {
                        w.raw(strip_declaration(x))
                    }
                    PayloadContent::Text(_) => {}
                }
                w.end();
            }
        }
        w.end();
        w.end();
        w.end();
        self_check(w.finish(), DocType::Xhe)
    }
}

/// Standalone XML may start with `<?xml …?>`, which cannot appear inside another document.
fn strip_declaration(xml: &str) -> &str {
    let t = xml.trim_start();
    match t
        .strip_prefix("<?xml")
        .and_then(|r| r.find("?>").map(|i| &r[i + 2..]))
    {
        Some(rest) => rest.trim(),
        None => t.trim_end(),
    }
}
