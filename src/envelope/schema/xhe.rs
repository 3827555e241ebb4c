//! OASIS XHE 1.0 (`XHE-1.0.xsd` and its fragments) as static tables.
//!

use super::Datatype::*;
use super::*;
use crate::xml::names::{XHA, XHB, XHE, XHE_EXT};

const IDENTIFIER_ATTRS: &[AttrDecl] = &[
    attr("schemeID", NormalizedString),
    attr("schemeName", String),
    attr("schemeAgencyID", NormalizedString),
    attr("schemeAgencyName", String),
    attr("schemeVersionID", NormalizedString),
    attr("schemeDataURI", AnyUri),
    attr("schemeURI", AnyUri),
];
const CODE_ATTRS: &[AttrDecl] = &[
    attr("listID", NormalizedString),
    attr("listAgencyID", NormalizedString),
    attr("listAgencyName", String),
    attr("listName", String),
    attr("listVersionID", NormalizedString),
    attr("name", String),
    attr("languageID", Language),
    attr("listURI", AnyUri),
    attr("listSchemeURI", AnyUri),
];
const TEXT_ATTRS: &[AttrDecl] = &[
    attr("languageID", Language),
    attr("languageLocaleID", NormalizedString),
];

static IDENTIFIER: ComplexType = ComplexType {
    attrs: IDENTIFIER_ATTRS,
    content: Content::Simple(NormalizedString),
};
static CODE: ComplexType = ComplexType {
    attrs: CODE_ATTRS,
    content: Content::Simple(NormalizedString),
};
static TEXT: ComplexType = ComplexType {
    attrs: TEXT_ATTRS,
    content: Content::Simple(String),
};
static DATE_TIME: ComplexType = simple(DateTime);
static INDICATOR: ComplexType = simple(Boolean);

declare! { XHB;
    AVAILABILITY_END = "AvailabilityEndDateTime": &DATE_TIME;
    AVAILABILITY_START = "AvailabilityStartDateTime": &DATE_TIME;
    CRITERION_TYPE_CODE = "BusinessScopeCriterionTypeCode": &CODE;
    CRITERION_VALUE = "BusinessScopeCriterionValue": &TEXT;
    CONTENT_TYPE_CODE = "ContentTypeCode": &CODE;
    CREATION_DATE_TIME = "CreationDateTime": &DATE_TIME;
    CUSTOMIZATION_ID = "CustomizationID": &IDENTIFIER;
    DESCRIPTION = "Description": &TEXT;
    DOCUMENT_TYPE_CODE = "DocumentTypeCode": &CODE;
    HANDLING_SERVICE_ID = "HandlingServiceID": &IDENTIFIER;
    ID = "ID": &IDENTIFIER;
    INSTANCE_ENCRYPTION_INDICATOR = "InstanceEncryptionIndicator": &INDICATOR;
    INSTANCE_ENCRYPTION_METHOD = "InstanceEncryptionMethod": &TEXT;
    INSTANCE_HASH_VALUE = "InstanceHashValue": &TEXT;
    LOGIN = "Login": &TEXT;
    PASSWORD = "Password": &TEXT;
    PROFILE_EXECUTION_ID = "ProfileExecutionID": &IDENTIFIER;
    PROFILE_ID = "ProfileID": &IDENTIFIER;
    UUID = "UUID": &IDENTIFIER;
    VALIDATION_TYPE_CODE = "ValidationTypeCode": &CODE;
    VALIDATION_VERSION_ID = "ValidationVersionID": &IDENTIFIER;
    XHE_VERSION_ID = "XHEVersionID": &IDENTIFIER;
}

static EXTERNAL_REFERENCE_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&ID)),
    opt(el(&AVAILABILITY_START)),
    opt(el(&AVAILABILITY_END)),
    opt(el(&LOGIN)),
    opt(el(&PASSWORD)),
])));

static CRITERION_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&CRITERION_TYPE_CODE)),
    one(el(&CRITERION_VALUE)),
])));
static BUSINESS_SCOPE_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    many(el(&BUSINESS_SCOPE_CRITERION)),
    many(el(&EXTERNAL_REFERENCE)),
])));
static PARTY_IDENTIFICATION_TYPE: ComplexType = element_only(one(el(&ID)));
static PARTY_TYPE: ComplexType = element_only(some(el(&PARTY_IDENTIFICATION)));
static HEADER_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&ID)),
    opt(el(&UUID)),
    one(el(&CREATION_DATE_TIME)),
    opt(el(&BUSINESS_SCOPE)),
    opt(el(&FROM_PARTY)),
    some(el(&TO_PARTY)),
])));
static PAYLOAD_CONTENT_TYPE: ComplexType = ComplexType {
    attrs: &[],
    content: Content::Elements {
        mixed: true,
        model: opt(any_other(XHA, Process::Lax)),
    },
};
/// `PayloadContent` is declared locally inside `PayloadType`.
pub static PAYLOAD_CONTENT: ElementDecl = ElementDecl {
    ns: XHA,
    name: "PayloadContent",
    ty: &PAYLOAD_CONTENT_TYPE,
};
static PAYLOAD_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    opt(el(&ID)),
    many(el(&DESCRIPTION)),
    opt(el(&DOCUMENT_TYPE_CODE)),
    opt(el(&CONTENT_TYPE_CODE)),
    opt(el(&CUSTOMIZATION_ID)),
    opt(el(&PROFILE_ID)),
    opt(el(&PROFILE_EXECUTION_ID)),
    opt(el(&HANDLING_SERVICE_ID)),
    opt(el(&VALIDATION_TYPE_CODE)),
    opt(el(&VALIDATION_VERSION_ID)),
    one(el(&INSTANCE_ENCRYPTION_INDICATOR)),
    opt(el(&INSTANCE_ENCRYPTION_METHOD)),
    opt(el(&INSTANCE_HASH_VALUE)),
    opt(el(&INSTANCE_DECRYPTION_INFORMATION_EXTERNAL_REFERENCE)),
    opt(el(&INSTANCE_DECRYPTION_KEY_EXTERNAL_REFERENCE)),
    many(el(&RELEVANT_EXTERNAL_REFERENCE)),
    opt(el(&PAYLOAD_EXTERNAL_REFERENCE)),
    opt(el(&PAYLOAD_CONTENT)),
])));
static PAYLOADS_TYPE: ComplexType = element_only(some(el(&PAYLOAD)));

declare! { XHA;
    BUSINESS_SCOPE = "BusinessScope": &BUSINESS_SCOPE_TYPE;
    BUSINESS_SCOPE_CRITERION = "BusinessScopeCriterion": &CRITERION_TYPE;
    EXTERNAL_REFERENCE = "ExternalReference": &EXTERNAL_REFERENCE_TYPE;
    FROM_PARTY = "FromParty": &PARTY_TYPE;
    HEADER = "Header": &HEADER_TYPE;
    INSTANCE_DECRYPTION_INFORMATION_EXTERNAL_REFERENCE =
        "InstanceDecryptionInformationExternalReference": &EXTERNAL_REFERENCE_TYPE;
    INSTANCE_DECRYPTION_KEY_EXTERNAL_REFERENCE =
        "InstanceDecryptionKeyExternalReference": &EXTERNAL_REFERENCE_TYPE;
    PARTY = "Party": &PARTY_TYPE;
    PARTY_IDENTIFICATION = "PartyIdentification": &PARTY_IDENTIFICATION_TYPE;
    PAYLOAD = "Payload": &PAYLOAD_TYPE;
    PAYLOAD_EXTERNAL_REFERENCE = "PayloadExternalReference": &EXTERNAL_REFERENCE_TYPE;
    PAYLOADS = "Payloads": &PAYLOADS_TYPE;
    RELEVANT_EXTERNAL_REFERENCE = "RelevantExternalReference": &EXTERNAL_REFERENCE_TYPE;
    TO_PARTY = "ToParty": &PARTY_TYPE;
}

declare! { XHE_EXT;
    XHE_EXTENSIONS = "XHEExtensions": &EXTENSIONS_TYPE;
    XHE_EXTENSION = "XHEExtension": &EXTENSION_TYPE;
    EXT_NAME = "Name": &TEXT;
    EXTENSION_AGENCY_ID = "ExtensionAgencyID": &IDENTIFIER;
    EXTENSION_AGENCY_NAME = "ExtensionAgencyName": &TEXT;
    EXTENSION_AGENCY_URI = "ExtensionAgencyURI": &IDENTIFIER;
    EXTENSION_CONTENT = "ExtensionContent": &EXTENSION_CONTENT_TYPE;
    EXTENSION_REASON = "ExtensionReason": &TEXT;
    EXTENSION_REASON_CODE = "ExtensionReasonCode": &CODE;
    EXTENSION_URI = "ExtensionURI": &IDENTIFIER;
    EXTENSION_VERSION_ID = "ExtensionVersionID": &IDENTIFIER;
}
static EXTENSIONS_TYPE: ComplexType = element_only(some(el(&XHE_EXTENSION)));
static EXTENSION_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    opt(el(&ID)),
    opt(el(&EXT_NAME)),
    opt(el(&EXTENSION_AGENCY_ID)),
    opt(el(&EXTENSION_AGENCY_NAME)),
    opt(el(&EXTENSION_VERSION_ID)),
    opt(el(&EXTENSION_AGENCY_URI)),
    opt(el(&EXTENSION_URI)),
    opt(el(&EXTENSION_REASON_CODE)),
    opt(el(&EXTENSION_REASON)),
    one(el(&EXTENSION_CONTENT)),
])));
static EXTENSION_CONTENT_TYPE: ComplexType = element_only(one(any_other(XHE_EXT, Process::Lax)));

static XHE_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    opt(el(&XHE_EXTENSIONS)),
    one(el(&XHE_VERSION_ID)),
    opt(el(&CUSTOMIZATION_ID)),
    opt(el(&PROFILE_ID)),
    opt(el(&PROFILE_EXECUTION_ID)),
    one(el(&HEADER)),
    opt(el(&PAYLOADS)),
    many(el(&super::dsig::SIGNATURE)),
])));
pub static XHE_ROOT: ElementDecl = ElementDecl {
    ns: XHE,
    name: "XHE",
    ty: &XHE_TYPE,
};

/// The XHE schema set: XHE, its components and extension components, and XML Signature (all of which lax
/// payload content can reach).
pub static SCHEMA: Schema = Schema {
    globals: &[
        &XHE_ROOT,
        &XHE_EXTENSIONS,
        &XHE_EXTENSION,
        &EXT_NAME,
        &EXTENSION_AGENCY_ID,
        &EXTENSION_AGENCY_NAME,
        &EXTENSION_AGENCY_URI,
        &EXTENSION_CONTENT,
        &EXTENSION_REASON,
        &EXTENSION_REASON_CODE,
        &EXTENSION_URI,
        &EXTENSION_VERSION_ID,
        &BUSINESS_SCOPE,
        &BUSINESS_SCOPE_CRITERION,
        &EXTERNAL_REFERENCE,
        &FROM_PARTY,
        &HEADER,
        &INSTANCE_DECRYPTION_INFORMATION_EXTERNAL_REFERENCE,
        &INSTANCE_DECRYPTION_KEY_EXTERNAL_REFERENCE,
        &PARTY,
        &PARTY_IDENTIFICATION,
        &PAYLOAD,
        &PAYLOAD_EXTERNAL_REFERENCE,
        &PAYLOADS,
        &RELEVANT_EXTERNAL_REFERENCE,
        &TO_PARTY,
        &AVAILABILITY_END,
        &AVAILABILITY_START,
        &CRITERION_TYPE_CODE,
        &CRITERION_VALUE,
        &CONTENT_TYPE_CODE,
        &CREATION_DATE_TIME,
        &CUSTOMIZATION_ID,
        &DESCRIPTION,
        &DOCUMENT_TYPE_CODE,
        &HANDLING_SERVICE_ID,
        &ID,
        &INSTANCE_ENCRYPTION_INDICATOR,
        &INSTANCE_ENCRYPTION_METHOD,
        &INSTANCE_HASH_VALUE,
        &LOGIN,
        &PASSWORD,
        &PROFILE_EXECUTION_ID,
        &PROFILE_ID,
        &UUID,
        &VALIDATION_TYPE_CODE,
        &VALIDATION_VERSION_ID,
        &XHE_VERSION_ID,
        &super::dsig::SIGNATURE,
        &super::dsig::SIGNATURE_VALUE,
        &super::dsig::SIGNED_INFO,
        &super::dsig::CANONICALIZATION_METHOD,
        &super::dsig::SIGNATURE_METHOD,
        &super::dsig::REFERENCE,
        &super::dsig::TRANSFORMS,
        &super::dsig::TRANSFORM,
        &super::dsig::DIGEST_METHOD,
        &super::dsig::DIGEST_VALUE,
        &super::dsig::KEY_INFO,
        &super::dsig::KEY_NAME,
        &super::dsig::MGMT_DATA,
        &super::dsig::KEY_VALUE,
        &super::dsig::RETRIEVAL_METHOD,
        &super::dsig::X509_DATA,
        &super::dsig::PGP_DATA,
        &super::dsig::SPKI_DATA,
        &super::dsig::OBJECT,
        &super::dsig::MANIFEST,
        &super::dsig::SIGNATURE_PROPERTIES,
        &super::dsig::SIGNATURE_PROPERTY,
        &super::dsig::DSA_KEY_VALUE,
        &super::dsig::RSA_KEY_VALUE,
    ],
};
