//! Meddelandekvittens (UBL ApplicationResponse profile): typed value, reader and writer.

use serde::Serialize;

use super::{DocType, DocumentError, ids, parse_as, self_check};
use crate::xml::names::{UBL_APP, UBL_CAC as CAC, UBL_CBC as CBC};
use crate::xml::{El, Limits, Writer};

/// Kvittenskod: the verdict on the acknowledged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResponseCode {
    Accepted,
    Rejected,
}

impl ResponseCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "ACCEPTED",
            Self::Rejected => "REJECTED",
        }
    }
}

/// Orsakskod: why a line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReasonCode {
    /// Schema validation error.
    Sv,
    /// Business rule broken.
    Bv,
    /// Signature not correct.
    Sig,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sv => "SV",
            Self::Bv => "BV",
            Self::Sig => "SIG",
        }
    }

    fn from_str(s: &str) -> Self {
        match s.trim() {
            "SV" => Self::Sv,
            "SIG" => Self::Sig,
            _ => Self::Bv,
        }
    }
}

/// One reason for a rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineResponse {
    /// XPath of the error in the acknowledged message, or `NA`.
    pub line_id: String,
    pub code: ReasonCode,
    /// Detail code (e.g. `invariant`, `structure`, `security`).
    pub status_reason_code: Option<String>,
    /// Human-readable reason; must not repeat the message's content.
    pub status_reason: String,
}

/// A valid Meddelandekvittens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub id: String,
    /// `YYYY-MM-DD`.
    pub issue_date: String,
    /// `hh:mm:ss` with a time zone, e.g. `12:00:00Z`.
    pub issue_time: String,
    /// The acknowledging participant (the receiver of the original message).
    pub sender: String,
    /// The original sender.
    pub receiver: String,
    pub response: ResponseCode,
    /// `DocumentReference/ID`: the XHE ID of the acknowledged message.
    pub document_reference: String,
    pub lines: Vec<LineResponse>,
}

impl Receipt {
    /// An ACCEPTED receipt for `document_reference`, issued now.
    pub fn accepted(sender: &str, receiver: &str, document_reference: &str) -> Self {
        let (issue_date, issue_time) = now_date_time();
        Self {
            id: ids::new_uuid(),
            issue_date,
            issue_time,
            sender: sender.to_owned(),
            receiver: receiver.to_owned(),
            response: ResponseCode::Accepted,
            document_reference: document_reference.to_owned(),
            lines: Vec::new(),
        }
    }

    /// A REJECTED receipt with its reasons.
    pub fn rejected(
        sender: &str,
        receiver: &str,
        document_reference: &str,
        lines: Vec<LineResponse>,
    ) -> Self {
        Self {
            response: ResponseCode::Rejected,
            lines,
            ..Self::accepted(sender, receiver, document_reference)
        }
    }

    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Self, DocumentError> {
        let doc = parse_as(bytes, limits, DocType::Receipt)?;
        Ok(Self::read(doc.root()))
    }

    /// Reads a root that [`super::check`] found without violations (anything else reads as defaults).
    pub fn read(root: El<'_, '_>) -> Self {
        let text = |e: Option<El<'_, '_>>| {
            e.map(|e| e.string_value().trim().to_owned())
                .unwrap_or_default()
        };
        let endpoint = |party: &str| {
            text(
                root.child(CAC, party)
                    .and_then(|p| p.child(CBC, "EndpointID")),
            )
        };
        let dr = root.child(CAC, "DocumentResponse");
        let code = text(
            dr.and_then(|d| d.child(CAC, "Response"))
                .and_then(|r| r.child(CBC, "ResponseCode")),
        );
        Self {
            id: text(root.child(CBC, "ID")),
            issue_date: text(root.child(CBC, "IssueDate")),
            issue_time: text(root.child(CBC, "IssueTime")),
            sender: endpoint("SenderParty"),
            receiver: endpoint("ReceiverParty"),
            response: if code == "REJECTED" {
                ResponseCode::Rejected
            } else {
                ResponseCode::Accepted
            },
            document_reference: text(
                dr.and_then(|d| d.child(CAC, "DocumentReference"))
                    .and_then(|r| r.child(CBC, "ID")),
            ),
            lines: dr
                .map(|d| {
                    d.children_named(CAC, "LineResponse")
                        .map(|l| {
                            let resp = l.child(CAC, "Response");
                            let status = resp.and_then(|r| r.child(CAC, "Status"));
                            LineResponse {
                                line_id: text(
                                    l.child(CAC, "LineReference")
                                        .and_then(|r| r.child(CBC, "LineID")),
                                ),
                                code: ReasonCode::from_str(&text(
                                    resp.and_then(|r| r.child(CBC, "ResponseCode")),
                                )),
                                status_reason_code: status
                                    .and_then(|s| s.child(CBC, "StatusReasonCode"))
                                    .map(|e| e.string_value().trim().to_owned()),
                                status_reason: text(
                                    status.and_then(|s| s.child(CBC, "StatusReason")),
                                ),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Write as a standalone document, checked before it is returned.
    pub fn to_xml(&self) -> Result<String, DocumentError> {
        let mut w = Writer::new();
        w.declaration();
        self.write(&mut w);
        self_check(w.finish(), DocType::Receipt)
    }

    /// Write the `ApplicationResponse` element (default namespace, `cac`/`cbc` prefixes declared on it).
    pub fn write(&self, w: &mut Writer) {
        w.start(
            "ApplicationResponse",
            &[("xmlns", UBL_APP), ("xmlns:cac", CAC), ("xmlns:cbc", CBC)],
        );
        w.leaf("cbc:CustomizationID", &[], ids::RECEIPT_CUSTOMIZATION_ID);
        w.leaf("cbc:ProfileID", &[], ids::RECEIPT_PROFILE_ID);
        w.leaf("cbc:ID", &[], &self.id);
        w.leaf("cbc:IssueDate", &[], &self.issue_date);
        w.leaf("cbc:IssueTime", &[], &self.issue_time);
        for (party, id) in [
            ("cac:SenderParty", &self.sender),
            ("cac:ReceiverParty", &self.receiver),
        ] {
            w.start(party, &[]);
            w.leaf("cbc:EndpointID", &[("schemeID", ids::PARTY_SCHEME)], id);
            w.end();
        }
        w.start("cac:DocumentResponse", &[]);
        w.start("cac:Response", &[]);
        w.leaf("cbc:ResponseCode", &[], self.response.as_str());
        w.end();
        w.start("cac:DocumentReference", &[]);
        w.leaf("cbc:ID", &[], &self.document_reference);
        w.end();
        for l in &self.lines {
            w.start("cac:LineResponse", &[]);
            w.start("cac:LineReference", &[]);
            w.leaf("cbc:LineID", &[], &l.line_id);
            w.end();
            w.start("cac:Response", &[]);
            w.leaf("cbc:ResponseCode", &[], l.code.as_str());
            w.start("cac:Status", &[]);
            if let Some(c) = &l.status_reason_code {
                w.leaf("cbc:StatusReasonCode", &[], c);
            }
            w.leaf("cbc:StatusReason", &[], &l.status_reason);
            w.end();
            w.end();
            w.end();
        }
        w.end();
        w.end();
    }
}

fn now_date_time() -> (String, String) {
    let now = time::OffsetDateTime::now_utc();
    let date = now
        .format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap_or_else(|_| "1970-01-01".to_owned());
    let time = now
        .format(time::macros::format_description!(
            "[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_else(|_| "00:00:00Z".to_owned());
    (date, time)
}
