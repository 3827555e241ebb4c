//! Identifiers and code-list values of the SDK federation (`sdk-spec.md` §3.3, §4, §5).

/// XHE `CustomizationID` (R3-XHE).
pub const XHE_CUSTOMIZATION_ID: &str = "urn:fdc:digg.se:edelivery:xhe:1";
/// Participant identifier scheme: XHE party `schemeID`, message `root`, receipt `EndpointID/@schemeID`.
pub const PARTY_SCHEME: &str = "iso6523-actorid-upis";
/// `organizationId/root` of a functional address.
pub const FUNCTIONAL_ADDRESS_ROOT: &str = "urn:riv:infrastructure:messaging:functionalAddress";

/// Federation ids (FEDERATIONID).
pub const FEDERATION_SDK: &str = "urn:fdc:digg.se:edelivery:federation:sdk";
pub const FEDERATION_TEST: &str = "urn:fdc:digg.se:edelivery:federation:test";
pub const FEDERATIONS: [&str; 2] = [FEDERATION_SDK, FEDERATION_TEST];

pub const PROCESS_ID: &str = "bdx:noprocess";
pub const PROCESS_ID_SCHEME: &str = "urn:fdc:digg.se:edelivery:process";
pub const DOCUMENT_ID_SCHEME: &str = "busdox-docid-qns";

/// DOCUMENTID base of SDK Meddelande 3.0; the transport model is appended as `::tm-base` or
/// `::tm-base-ext-sigenc`.
pub const MESSAGE_DOCUMENT_ID: &str =
    "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0";
/// DOCUMENTID base of Meddelandekvittens 1.0.
pub const RECEIPT_DOCUMENT_ID: &str = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1";

/// `DocumentTypeCode` of an XHE carrying SDK Meddelande v3.
pub const MESSAGE_DOCUMENT_TYPE: &str =
    "Q{urn:riv:infrastructure:messaging:MessageWithAttachments:3}messagePayload";
/// `DocumentTypeCode` of an XHE carrying a receipt.
pub const RECEIPT_DOCUMENT_TYPE: &str =
    "Q{urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2}ApplicationResponse";
pub const XML_CONTENT_TYPE: &str = "application/xml";

/// Receipt `CustomizationID` (R3-APP) and `ProfileID` (R4-APP).
pub const RECEIPT_CUSTOMIZATION_ID: &str = "urn:fdc:digg.se:edelivery:messagetype:response:1";
pub const RECEIPT_PROFILE_ID: &str = "bdx:noprocess";

/// The transport model, the last part of a DOCUMENTID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TransportModel {
    /// `tm-base`: plain XHE.
    Base,
    /// `tm-base-ext-sigenc`: payload encrypted for the recipient, envelope signed by the sender.
    BaseExtSigEnc,
}

impl TransportModel {
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Base => "tm-base",
            Self::BaseExtSigEnc => "tm-base-ext-sigenc",
        }
    }
}

/// The kind of business document an SDK XHE carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PayloadKind {
    Message,
    Receipt,
}

impl PayloadKind {
    pub fn document_id(self, tm: TransportModel) -> String {
        let base = match self {
            Self::Message => MESSAGE_DOCUMENT_ID,
            Self::Receipt => RECEIPT_DOCUMENT_ID,
        };
        format!("{base}::{}", tm.suffix())
    }

    pub fn document_type(self) -> &'static str {
        match self {
            Self::Message => MESSAGE_DOCUMENT_TYPE,
            Self::Receipt => RECEIPT_DOCUMENT_TYPE,
        }
    }

    /// Which payload kind a DocumentTypeCode names, if an SDK one.
    pub fn from_document_type(code: &str) -> Option<Self> {
        match code {
            MESSAGE_DOCUMENT_TYPE => Some(Self::Message),
            RECEIPT_DOCUMENT_TYPE => Some(Self::Receipt),
            _ => None,
        }
    }

    /// The transport model of a DOCUMENTID of this kind, or None when it is not one of the code-list values.
    pub fn transport_model(self, document_id: &str) -> Option<TransportModel> {
        [TransportModel::Base, TransportModel::BaseExtSigEnc]
            .into_iter()
            .find(|tm| self.document_id(*tm) == document_id)
    }
}

/// RFC 4122 textual form: 8-4-4-4-12 hex digits (the same test as DIGG's `pattern.UUID`).
pub fn is_uuid(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A fresh random (v4) UUID, lower case.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A participant identifier value such as `0203:kommun-a.se` (ICD `0203`, `0007` or `0088`, a colon, the id).
pub fn is_participant_id(v: &str) -> bool {
    match v.split_once(':') {
        Some(("0203", rest)) => !rest.is_empty() && !rest.chars().any(char::is_whitespace),
        Some(("0007", rest)) => rest.len() == 10 && rest.bytes().all(|b| b.is_ascii_digit()),
        Some(("0088", rest)) => rest.len() == 13 && rest.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        assert!(is_uuid("862693f7-53d4-4d96-b35c-470055710092"));
        assert!(!is_uuid("862693f7-53d4-4d96-b35c-47005571009"));
        assert!(!is_uuid("862693f7x53d4-4d96-b35c-470055710092"));
        assert!(is_uuid(&new_uuid()));
    }

    #[test]
    fn document_ids() {
        let id = PayloadKind::Message.document_id(TransportModel::BaseExtSigEnc);
        assert_eq!(
            id,
            "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc"
        );
        assert_eq!(
            PayloadKind::Message.transport_model(&id),
            Some(TransportModel::BaseExtSigEnc)
        );
        assert_eq!(PayloadKind::Receipt.transport_model(&id), None);
    }

    #[test]
    fn participants() {
        assert!(is_participant_id("0203:digg.se"));
        assert!(is_participant_id("0007:2021006883"));
        assert!(!is_participant_id("0007:20210068"));
        assert!(!is_participant_id("digg.se"));
    }
}
