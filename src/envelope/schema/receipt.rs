//! Meddelandekvittens: DIGG's reduced UBL 2.1 ApplicationResponse schema (`Response-2.1.xsd`) as static tables.

use super::Datatype::*;
use super::*;
use crate::xml::names::{UBL_APP, UBL_CAC as CAC, UBL_CBC as CBC};

static IDENTIFIER: ComplexType = ComplexType {
    attrs: &[attr("schemeID", NormalizedString)],
    content: Content::Simple(NormalizedString),
};
static CODE: ComplexType = simple(NormalizedString);
static TEXT: ComplexType = simple(String);
static DATE: ComplexType = simple(Date);
static TIME: ComplexType = simple(Time);

declare! { CBC;
    CUSTOMIZATION_ID = "CustomizationID": &IDENTIFIER;
    ENDPOINT_ID = "EndpointID": &IDENTIFIER;
    ID = "ID": &IDENTIFIER;
    ISSUE_DATE = "IssueDate": &DATE;
    ISSUE_TIME = "IssueTime": &TIME;
    LINE_ID = "LineID": &IDENTIFIER;
    PROFILE_ID = "ProfileID": &IDENTIFIER;
    RESPONSE_CODE = "ResponseCode": &CODE;
    STATUS_REASON = "StatusReason": &TEXT;
    STATUS_REASON_CODE = "StatusReasonCode": &CODE;
}

declare! { CAC;
    DOCUMENT_REFERENCE = "DocumentReference": &DOCUMENT_REFERENCE_TYPE;
    DOCUMENT_RESPONSE = "DocumentResponse": &DOCUMENT_RESPONSE_TYPE;
    LINE_REFERENCE = "LineReference": &LINE_REFERENCE_TYPE;
    LINE_RESPONSE = "LineResponse": &LINE_RESPONSE_TYPE;
    RECEIVER_PARTY = "ReceiverParty": &PARTY_TYPE;
    RESPONSE = "Response": &RESPONSE_TYPE;
    SENDER_PARTY = "SenderParty": &PARTY_TYPE;
    STATUS = "Status": &STATUS_TYPE;
}

static DOCUMENT_REFERENCE_TYPE: ComplexType = element_only(one(el(&ID)));
static DOCUMENT_RESPONSE_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&RESPONSE)),
    one(el(&DOCUMENT_REFERENCE)),
    many(el(&LINE_RESPONSE)),
])));
static LINE_REFERENCE_TYPE: ComplexType = element_only(one(el(&LINE_ID)));
static LINE_RESPONSE_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&LINE_REFERENCE)),
    one(el(&RESPONSE)),
])));
static PARTY_TYPE: ComplexType = element_only(one(el(&ENDPOINT_ID)));
static RESPONSE_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&RESPONSE_CODE)),
    opt(el(&STATUS)),
])));
static STATUS_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    opt(el(&STATUS_REASON_CODE)),
    one(el(&STATUS_REASON)),
])));

static APPLICATION_RESPONSE_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&CUSTOMIZATION_ID)),
    one(el(&PROFILE_ID)),
    one(el(&ID)),
    one(el(&ISSUE_DATE)),
    one(el(&ISSUE_TIME)),
    one(el(&SENDER_PARTY)),
    one(el(&RECEIVER_PARTY)),
    one(el(&DOCUMENT_RESPONSE)),
])));
pub static APPLICATION_RESPONSE: ElementDecl = ElementDecl {
    ns: UBL_APP,
    name: "ApplicationResponse",
    ty: &APPLICATION_RESPONSE_TYPE,
};

pub static SCHEMA: Schema = Schema {
    globals: &[
        &APPLICATION_RESPONSE,
        &CUSTOMIZATION_ID,
        &ENDPOINT_ID,
        &ID,
        &ISSUE_DATE,
        &ISSUE_TIME,
        &LINE_ID,
        &PROFILE_ID,
        &RESPONSE_CODE,
        &STATUS_REASON,
        &STATUS_REASON_CODE,
        &DOCUMENT_REFERENCE,
        &DOCUMENT_RESPONSE,
        &LINE_REFERENCE,
        &LINE_RESPONSE,
        &RECEIVER_PARTY,
        &RESPONSE,
        &SENDER_PARTY,
        &STATUS,
    ],
};
