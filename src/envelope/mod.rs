//! The three SDK documents, typed: the XHE envelope ([`Xhe`]), SDK Meddelande v3 ([`Message`]) and
//! Meddelandekvittens ([`Receipt`]).
//!
//! Parsing a document is validating it. [`check`] runs, in order: structure as the official XSDs
//! ([`schema`]), every rule of DIGG's rule files by DIGG's id, and the SDK prose rules the rule files leave
//! out ([`rules::sdk`]). An XHE whose payload is a plain SDK message or receipt is checked on both layers.
//! Every violation is collected, never just the first. The typed constructors (`Xhe::parse`, …) succeed only
//! on a document with no violations; the writers (`to_xml`) check their own output the same way.

pub mod ids;
pub mod message;
pub mod receipt;
pub mod rules;
pub mod schema;
mod violation;
pub mod xhe;

use serde::Serialize;

pub use message::Message;
pub use receipt::Receipt;
pub use violation::Violation;
pub use xhe::Xhe;

use crate::xml::{self, El, Limits, XmlError, names};

/// Which of the three documents a root element makes this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocType {
    Xhe,
    MessageV3,
    Receipt,
}

impl DocType {
    /// Detect the type from the root element's namespace and name.
    pub fn of(root: El<'_, '_>) -> Option<Self> {
        if root.is(names::XHE, "XHE") {
            Some(Self::Xhe)
        } else if root.is(names::MSG3, "messagePayload") {
            Some(Self::MessageV3)
        } else if root.is(names::UBL_APP, "ApplicationResponse") {
            Some(Self::Receipt)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Xhe => "xhe",
            Self::MessageV3 => "message-v3",
            Self::Receipt => "receipt",
        }
    }
}

/// Why a document could not be taken in.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error(
        "root element {{{ns}}}{local} is not an XHE, an SDK message (v3) or a Meddelandekvittens"
    )]
    UnknownRoot { ns: String, local: String },
    #[error("expected a {expected} document, found a {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("{} is invalid: {} violation(s), first: {}", .doctype.name(), .violations.len(),
        .violations.first().map(ToString::to_string).unwrap_or_default())]
    Invalid {
        doctype: DocType,
        violations: Vec<Violation>,
    },
}

/// Validate a parsed document on every layer; returns its type and every violation.
pub fn check(root: El<'_, '_>) -> Result<(DocType, Vec<Violation>), DocumentError> {
    let (doctype, mut out, payload) = check_layers(root)?;
    out.extend(payload);
    Ok((doctype, out))
}

/// [`check`] with the violations of an XHE's plain SDK payload kept apart from the envelope's own (and the
/// rules between the two): a receiving node answers a broken message with a REJECTED Meddelandekvittens but a
/// broken envelope with an ebMS error.
pub fn check_layers(
    root: El<'_, '_>,
) -> Result<(DocType, Vec<Violation>, Vec<Violation>), DocumentError> {
    let doctype = DocType::of(root).ok_or_else(|| DocumentError::UnknownRoot {
        ns: root.ns().to_owned(),
        local: root.local().to_owned(),
    })?;
    let mut out = Vec::new();
    let mut payload = Vec::new();
    match doctype {
        DocType::Xhe => {
            schema::validate(&schema::xhe::SCHEMA, root, &mut out);
            rules::xhe::check(root, &mut out);
            rules::sdk::check_xhe(root, &mut out);
            if let Some(inner) = rules::sdk::plain_payload(root) {
                match DocType::of(inner) {
                    Some(DocType::MessageV3) => check_message(inner, &mut payload),
                    Some(DocType::Receipt) => check_receipt(inner, &mut payload),
                    _ => {}
                }
            }
        }
        DocType::MessageV3 => check_message(root, &mut out),
        DocType::Receipt => check_receipt(root, &mut out),
    }
    Ok((doctype, out, payload))
}

fn check_message(root: El<'_, '_>, out: &mut Vec<Violation>) {
    schema::validate(&schema::message::SCHEMA, root, out);
    rules::message::check(root, out);
}

fn check_receipt(root: El<'_, '_>, out: &mut Vec<Violation>) {
    schema::validate(&schema::receipt::SCHEMA, root, out);
    rules::receipt::check(root, out);
}

/// Parse and validate raw bytes of any of the three types.
pub fn check_bytes(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(DocType, Vec<Violation>), DocumentError> {
    let doc = xml::parse_bytes(bytes, limits)?;
    check(doc.root())
}

/// A valid document of any of the three types.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    Xhe(Box<Xhe>),
    Message(Box<Message>),
    Receipt(Box<Receipt>),
}

impl Document {
    /// Parse, validate and read: a typed document only when there is no violation at all.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Self, DocumentError> {
        let doc = xml::parse_bytes(bytes, limits)?;
        let root = doc.root();
        let (doctype, violations) = check(root)?;
        if !violations.is_empty() {
            return Err(DocumentError::Invalid {
                doctype,
                violations,
            });
        }
        Ok(match doctype {
            DocType::Xhe => Self::Xhe(Box::new(Xhe::read(root))),
            DocType::MessageV3 => Self::Message(Box::new(Message::read(root))),
            DocType::Receipt => Self::Receipt(Box::new(Receipt::read(root))),
        })
    }
}

/// Parse `bytes` as exactly `expected`, validated.
pub(crate) fn parse_as<'a>(
    bytes: &'a [u8],
    limits: &Limits,
    expected: DocType,
) -> Result<xml::Doc<'a>, DocumentError> {
    let doc = xml::parse_bytes(bytes, limits)?;
    let (found, violations) = check(doc.root())?;
    if found != expected {
        return Err(DocumentError::WrongType {
            expected: expected.name(),
            found: found.name(),
        });
    }
    if !violations.is_empty() {
        return Err(DocumentError::Invalid {
            doctype: found,
            violations,
        });
    }
    Ok(doc)
}

/// Writers call this on their own output: a builder never hands out a document that does not validate.
pub(crate) fn self_check(xml_text: String, expected: DocType) -> Result<String, DocumentError> {
    parse_as(xml_text.as_bytes(), &Limits::default(), expected)?;
    Ok(xml_text)
}
