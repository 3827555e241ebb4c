//! Namespace URIs and fixed names used across the SDK documents.

/// XHE root element namespace.
pub const XHE: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope";
/// XHE aggregate components (`xha`).
pub const XHA: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents";
/// XHE basic components (`xhb`).
pub const XHB: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents";
/// XHE extension components (`ext`), forbidden by R1-XHE.
pub const XHE_EXT: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/ExtensionComponents";
/// XML Signature.
pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XML Encryption.
pub const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
/// XML Schema instance attributes (`xsi:schemaLocation` and friends).
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The `xml:` prefix namespace.
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";

/// SDK Meddelande v3 (`messagePayload`).
pub const MSG3: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3";

/// UBL ApplicationResponse root (Meddelandekvittens).
pub const UBL_APP: &str = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2";
/// UBL common aggregate components (`cac`).
pub const UBL_CAC: &str =
    "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
/// UBL common basic components (`cbc`).
pub const UBL_CBC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";
/// UBL extension components, forbidden by R1-APP.
pub const UBL_EXT: &str =
    "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2";

/// SOAP 1.2 envelope.
pub const S12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// ebMS 3.0 core.
pub const EB: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/";
/// WS-Security 1.0 secext.
pub const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// WS-Security 1.1 secext (`wsse11`).
pub const WSSE11: &str = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd";
/// WS-Security utility (`wsu:Id`, `wsu:Timestamp`).
pub const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
/// ebBP signals (`ebbp:NonRepudiationInformation` in receipts).
pub const EBBP: &str = "http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0";
