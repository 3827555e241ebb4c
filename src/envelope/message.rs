//! SDK Meddelande v3 (`messagePayload`): typed value, reader and writer.

use serde::Serialize;

use super::{DocType, DocumentError, ids, parse_as, self_check};
use crate::xml::names::MSG3 as NS;
use crate::xml::{El, Limits, Writer};

/// An instance identifier: `root` names the scheme, `extension` the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ii {
    pub root: String,
    pub extension: String,
}

impl Ii {
    pub fn new(root: impl Into<String>, extension: impl Into<String>) -> Self {
        Self {
            root: root.into(),
            extension: extension.into(),
        }
    }

    /// A participant (`iso6523-actorid-upis`), e.g. `0203:kommun-a.se`.
    pub fn participant(id: impl Into<String>) -> Self {
        Self::new(ids::PARTY_SCHEME, id)
    }

    /// A functional address (funktionsadress).
    pub fn functional_address(id: impl Into<String>) -> Self {
        Self::new(ids::FUNCTIONAL_ADDRESS_ROOT, id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub id: Option<Ii>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubOrganization {
    pub id: Ii,
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    pub id: Ii,
    pub label: Option<String>,
}

/// Who within an organisation: people, the functional address, case references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attention {
    pub persons: Vec<Person>,
    pub sub_organization: SubOrganization,
    pub references: Vec<Reference>,
}

impl Attention {
    /// Just a functional address.
    pub fn function(id: impl Into<String>) -> Self {
        Self {
            persons: Vec::new(),
            sub_organization: SubOrganization {
                id: Ii::functional_address(id),
                label: None,
            },
            references: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Party {
    pub id: Ii,
    pub label: Option<String>,
    pub attention: Option<Attention>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageHeader {
    /// UTC with 1–3 fraction digits, e.g. `2024-05-01T08:00:00.000Z`.
    pub creation_date_time: String,
    pub message_id: String,
    pub conversation_id: String,
    pub ref_to_message_id: Option<String>,
    /// The subject, at most 256 characters.
    pub label: Option<String>,
    pub confidentiality: bool,
    pub generating_system: Option<Ii>,
    /// The recipient always has an attention (its functional address).
    pub recipient: Party,
    pub sender: Party,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContentFile {
    pub file_name: String,
    pub content_type: String,
    /// Base64 (RFC 4648), as carried.
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigitalDocument {
    pub document_id: String,
    pub document_name: Option<String>,
    pub index: Option<String>,
    pub files: Vec<ContentFile>,
    /// `ContentText/characterSequence` values (limited Markdown).
    pub texts: Vec<String>,
}

/// A valid SDK message. Extension elements in other namespaces (the schema's `xs:any`) are not kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub header: MessageHeader,
    pub documents: Vec<DigitalDocument>,
}

/// The SDK timestamp form (UTC, milliseconds) for `now`.
pub fn timestamp_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

impl Message {
    /// Parse and validate a standalone `messagePayload` document.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Self, DocumentError> {
        let doc = parse_as(bytes, limits, DocType::MessageV3)?;
        Ok(Self::read(doc.root()))
    }

    /// Read from a `messagePayload` element that has passed validation.
    /// Reads a root that [`super::check`] found without violations (anything else reads as defaults).
    pub fn read(root: El<'_, '_>) -> Self {
        let msg = root.child(NS, "message");
        let header = msg.and_then(|m| m.child(NS, "messageHeader"));
        let body = msg.and_then(|m| m.child(NS, "messageBody"));
        let h = |l: &str| header.and_then(|h| h.child(NS, l));
        Self {
            header: MessageHeader {
                creation_date_time: text(h("creationDateTime")),
                message_id: text(h("messageId")),
                conversation_id: text(h("conversationId")),
                ref_to_message_id: h("refToMessageId").map(|e| e.string_value()),
                label: h("label").map(|e| e.string_value()),
                confidentiality: matches!(text(h("confidentiality")).trim(), "true" | "1"),
                generating_system: h("generatingSystem").map(read_ii),
                recipient: read_party(h("recipient"), "recipientID"),
                sender: read_party(h("sender"), "senderID"),
            },
            documents: body
                .map(|b| {
                    b.children_named(NS, "documents")
                        .map(read_document)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Write as a standalone document (`<?xml …?>` + `messagePayload`), checked before it is returned.
    pub fn to_xml(&self) -> Result<String, DocumentError> {
        let mut w = Writer::new();
        w.declaration();
        self.write(&mut w, "ns6");
        self_check(w.finish(), DocType::MessageV3)
    }

    /// Write the `messagePayload` element into `w` with `prefix` bound to the message namespace.
    pub fn write(&self, w: &mut Writer, prefix: &str) {
        let q = |l: &str| format!("{prefix}:{l}");
        let xmlns = format!("xmlns:{prefix}");
        w.start(&q("messagePayload"), &[(xmlns.as_str(), NS)]);
        w.start(&q("message"), &[]);
        w.start(&q("messageHeader"), &[]);
        let h = &self.header;
        w.leaf(&q("creationDateTime"), &[], &h.creation_date_time);
        w.leaf(&q("messageId"), &[], &h.message_id);
        w.leaf(&q("conversationId"), &[], &h.conversation_id);
        if let Some(r) = &h.ref_to_message_id {
            w.leaf(&q("refToMessageId"), &[], r);
        }
        if let Some(l) = &h.label {
            w.leaf(&q("label"), &[], l);
        }
        w.leaf(
            &q("confidentiality"),
            &[],
            if h.confidentiality { "true" } else { "false" },
        );
        if let Some(g) = &h.generating_system {
            write_ii(w, &q("generatingSystem"), g, prefix);
        }
        write_party(w, &q("recipient"), "recipientID", &h.recipient, prefix);
        write_party(w, &q("sender"), "senderID", &h.sender, prefix);
        w.end();
        w.start(&q("messageBody"), &[]);
        for d in &self.documents {
            w.start(&q("documents"), &[]);
            w.leaf(&q("documentID"), &[], &d.document_id);
            if let Some(n) = &d.document_name {
                w.leaf(&q("documentName"), &[], n);
            }
            if let Some(i) = &d.index {
                w.leaf(&q("index"), &[], i);
            }
            for f in &d.files {
                w.start(&q("ContentFiles"), &[]);
                w.leaf(&q("fileName"), &[], &f.file_name);
                w.leaf(&q("contentType"), &[], &f.content_type);
                w.leaf(&q("content"), &[], &f.content);
                w.end();
            }
            for t in &d.texts {
                w.start(&q("ContentText"), &[]);
                w.leaf(&q("characterSequence"), &[], t);
                w.end();
            }
            w.end();
        }
        w.end();
        w.end();
        w.end();
    }
}

fn text(e: Option<El<'_, '_>>) -> String {
    e.map(|e| e.string_value()).unwrap_or_default()
}

fn read_ii(e: El<'_, '_>) -> Ii {
    Ii {
        root: text(e.child(NS, "root")),
        extension: text(e.child(NS, "extension")),
    }
}

fn read_label(e: El<'_, '_>) -> Option<String> {
    e.child(NS, "label").map(|l| l.string_value())
}

fn read_party(e: Option<El<'_, '_>>, id: &str) -> Party {
    Party {
        id: e
            .and_then(|e| e.child(NS, id))
            .map(read_ii)
            .unwrap_or_else(|| Ii::new("", "")),
        label: e.and_then(read_label),
        attention: e.and_then(|e| e.child(NS, "attention")).map(read_attention),
    }
}

fn read_attention(e: El<'_, '_>) -> Attention {
    let sub = e.child(NS, "subOrganization");
    Attention {
        persons: e
            .children_named(NS, "person")
            .map(|p| Person {
                id: p.child(NS, "personId").map(read_ii),
                label: read_label(p),
            })
            .collect(),
        sub_organization: SubOrganization {
            id: sub
                .and_then(|s| s.child(NS, "organizationId"))
                .map(read_ii)
                .unwrap_or_else(|| Ii::new("", "")),
            label: sub.and_then(read_label),
        },
        references: e
            .children_named(NS, "reference")
            .map(|r| Reference {
                id: r
                    .child(NS, "referenceId")
                    .map(read_ii)
                    .unwrap_or_else(|| Ii::new("", "")),
                label: read_label(r),
            })
            .collect(),
    }
}

fn read_document(d: El<'_, '_>) -> DigitalDocument {
    DigitalDocument {
        document_id: text(d.child(NS, "documentID")),
        document_name: d.child(NS, "documentName").map(|e| e.string_value()),
        index: d.child(NS, "index").map(|e| e.string_value()),
        files: d
            .children_named(NS, "ContentFiles")
            .map(|f| ContentFile {
                file_name: text(f.child(NS, "fileName")),
                content_type: text(f.child(NS, "contentType")),
                content: text(f.child(NS, "content")),
            })
            .collect(),
        texts: d
            .children_named(NS, "ContentText")
            .map(|t| text(t.child(NS, "characterSequence")))
            .collect(),
    }
}

fn write_ii(w: &mut Writer, name: &str, ii: &Ii, prefix: &str) {
    w.start(name, &[]);
    w.leaf(&format!("{prefix}:root"), &[], &ii.root);
    w.leaf(&format!("{prefix}:extension"), &[], &ii.extension);
    w.end();
}

fn write_label(w: &mut Writer, label: &Option<String>, prefix: &str) {
    if let Some(l) = label {
        w.leaf(&format!("{prefix}:label"), &[], l);
    }
}

fn write_party(w: &mut Writer, name: &str, id: &str, p: &Party, prefix: &str) {
    w.start(name, &[]);
    write_ii(w, &format!("{prefix}:{id}"), &p.id, prefix);
    write_label(w, &p.label, prefix);
    if let Some(a) = &p.attention {
        w.start(&format!("{prefix}:attention"), &[]);
        for person in &a.persons {
            w.start(&format!("{prefix}:person"), &[]);
            if let Some(id) = &person.id {
                write_ii(w, &format!("{prefix}:personId"), id, prefix);
            }
            write_label(w, &person.label, prefix);
            w.end();
        }
        w.start(&format!("{prefix}:subOrganization"), &[]);
        write_ii(
            w,
            &format!("{prefix}:organizationId"),
            &a.sub_organization.id,
            prefix,
        );
        write_label(w, &a.sub_organization.label, prefix);
        w.end();
        for r in &a.references {
            w.start(&format!("{prefix}:reference"), &[]);
            write_ii(w, &format!("{prefix}:referenceId"), &r.id, prefix);
            write_label(w, &r.label, prefix);
            w.end();
        }
        w.end();
    }
    w.end();
}
