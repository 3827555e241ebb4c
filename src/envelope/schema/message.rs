//! SDK Meddelande v3 (`infrastructure_messaging_MessageWithAttachments_3.0.xsd`) as static tables.

use super::Datatype::*;
use super::*;
use crate::xml::names::MSG3 as NS;

/// Every complex type of this schema ends with `xs:any namespace="##other" processContents="lax"`.
const fn ext() -> Particle {
    many(any_other(NS, Process::Lax))
}

static STRING: ComplexType = simple(String);
static LABEL256: ComplexType = simple(StringMax(256));
static DATE_TIME: ComplexType = simple(DateTime);
static BOOLEAN: ComplexType = simple(Boolean);

declare! { NS;
    ROOT = "root": &STRING;
    EXTENSION = "extension": &STRING;
}
static II_TYPE: ComplexType =
    element_only(one(Term::Sequence(&[one(el(&ROOT)), one(el(&EXTENSION))])));

declare! { NS;
    MESSAGE_PAYLOAD = "messagePayload": &MESSAGE_PAYLOAD_TYPE;
    MESSAGE = "message": &MESSAGE_TYPE;
    MESSAGE_HEADER = "messageHeader": &MESSAGE_HEADER_TYPE;
    MESSAGE_BODY = "messageBody": &MESSAGE_BODY_TYPE;
    CREATION_DATE_TIME = "creationDateTime": &DATE_TIME;
    MESSAGE_ID = "messageId": &STRING;
    CONVERSATION_ID = "conversationId": &STRING;
    REF_TO_MESSAGE_ID = "refToMessageId": &STRING;
    HEADER_LABEL = "label": &STRING;
    CONFIDENTIALITY = "confidentiality": &BOOLEAN;
    GENERATING_SYSTEM = "generatingSystem": &II_TYPE;
    RECIPIENT = "recipient": &RECIPIENT_TYPE;
    SENDER = "sender": &SENDER_TYPE;
    RECIPIENT_ID = "recipientID": &II_TYPE;
    SENDER_ID = "senderID": &II_TYPE;
    LABEL = "label": &LABEL256;
    ATTENTION = "attention": &ATTENTION_TYPE;
    OPTIONAL_ATTENTION = "attention": &ATTENTION_TYPE;
    PERSON = "person": &PERSON_TYPE;
    PERSON_ID = "personId": &II_TYPE;
    SUB_ORGANIZATION = "subOrganization": &SUB_ORGANIZATION_TYPE;
    ORGANIZATION_ID = "organizationId": &II_TYPE;
    REFERENCE = "reference": &REFERENCE_TYPE;
    REFERENCE_ID = "referenceId": &II_TYPE;
    DOCUMENTS = "documents": &DOCUMENT_TYPE;
    DOCUMENT_ID = "documentID": &STRING;
    DOCUMENT_NAME = "documentName": &STRING;
    INDEX = "index": &STRING;
    CONTENT_FILES = "ContentFiles": &CONTENT_FILES_TYPE;
    FILE_NAME = "fileName": &STRING;
    CONTENT_TYPE = "contentType": &STRING;
    CONTENT = "content": &STRING;
    CONTENT_TEXT = "ContentText": &CONTENT_TEXT_TYPE;
    CHARACTER_SEQUENCE = "characterSequence": &STRING;
}

static MESSAGE_PAYLOAD_TYPE: ComplexType = element_only(one(el(&MESSAGE)));
static MESSAGE_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&MESSAGE_HEADER)),
    one(el(&MESSAGE_BODY)),
    ext(),
])));
static MESSAGE_HEADER_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&CREATION_DATE_TIME)),
    one(el(&MESSAGE_ID)),
    one(el(&CONVERSATION_ID)),
    opt(el(&REF_TO_MESSAGE_ID)),
    opt(el(&HEADER_LABEL)),
    one(el(&CONFIDENTIALITY)),
    opt(el(&GENERATING_SYSTEM)),
    one(el(&RECIPIENT)),
    one(el(&SENDER)),
    ext(),
])));
static MESSAGE_BODY_TYPE: ComplexType =
    element_only(one(Term::Sequence(&[some(el(&DOCUMENTS)), ext()])));
static DOCUMENT_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&DOCUMENT_ID)),
    opt(el(&DOCUMENT_NAME)),
    opt(el(&INDEX)),
    many(el(&CONTENT_FILES)),
    many(el(&CONTENT_TEXT)),
    ext(),
])));
static CONTENT_FILES_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&FILE_NAME)),
    one(el(&CONTENT_TYPE)),
    one(el(&CONTENT)),
    ext(),
])));
static CONTENT_TEXT_TYPE: ComplexType =
    element_only(one(Term::Sequence(&[one(el(&CHARACTER_SEQUENCE)), ext()])));
static SENDER_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&SENDER_ID)),
    opt(el(&LABEL)),
    opt(el(&OPTIONAL_ATTENTION)),
    ext(),
])));
static RECIPIENT_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&RECIPIENT_ID)),
    opt(el(&LABEL)),
    one(el(&ATTENTION)),
    ext(),
])));
static ATTENTION_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    many(el(&PERSON)),
    one(el(&SUB_ORGANIZATION)),
    many(el(&REFERENCE)),
    ext(),
])));
static PERSON_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    opt(el(&PERSON_ID)),
    opt(el(&LABEL)),
    ext(),
])));
static SUB_ORGANIZATION_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&ORGANIZATION_ID)),
    opt(el(&LABEL)),
    ext(),
])));
static REFERENCE_TYPE: ComplexType = element_only(one(Term::Sequence(&[
    one(el(&REFERENCE_ID)),
    opt(el(&LABEL)),
    ext(),
])));

/// Only `messagePayload` is a global element of this schema.
pub static SCHEMA: Schema = Schema {
    globals: &[&MESSAGE_PAYLOAD],
};
