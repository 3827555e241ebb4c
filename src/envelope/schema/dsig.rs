//! XML Signature core schema (`xmldsig-core-schema.xsd`, as bundled with XHE) as static tables.

use super::Datatype::*;
use super::*;
use crate::xml::names::DS;

const ID_ATTR: &[AttrDecl] = &[attr("Id", Id)];
const ALGORITHM: &[AttrDecl] = &[required_attr("Algorithm", AnyUri)];

const fn elements(attrs: &'static [AttrDecl], mixed: bool, model: Particle) -> ComplexType {
    ComplexType {
        attrs,
        content: Content::Elements { mixed, model },
    }
}

static BASE64: ComplexType = simple(Base64Binary);
static STRING: ComplexType = simple(String);
static INTEGER: ComplexType = simple(Integer);

static SIGNATURE_TYPE: ComplexType = elements(
    ID_ATTR,
    false,
    one(Term::Sequence(&[
        one(el(&SIGNED_INFO)),
        one(el(&SIGNATURE_VALUE)),
        opt(el(&KEY_INFO)),
        many(el(&OBJECT)),
    ])),
);
static SIGNATURE_VALUE_TYPE: ComplexType = ComplexType {
    attrs: ID_ATTR,
    content: Content::Simple(Base64Binary),
};
static SIGNED_INFO_TYPE: ComplexType = elements(
    ID_ATTR,
    false,
    one(Term::Sequence(&[
        one(el(&CANONICALIZATION_METHOD)),
        one(el(&SIGNATURE_METHOD)),
        some(el(&REFERENCE)),
    ])),
);
static CANONICALIZATION_METHOD_TYPE: ComplexType = elements(
    ALGORITHM,
    true,
    many(Term::Any(Wildcard {
        ns: WildNs::Any,
        process: Process::Strict,
    })),
);
static HMAC_OUTPUT_LENGTH: ElementDecl = ElementDecl {
    ns: DS,
    name: "HMACOutputLength",
    ty: &INTEGER,
};
static SIGNATURE_METHOD_TYPE: ComplexType = elements(
    ALGORITHM,
    true,
    one(Term::Sequence(&[
        opt(el(&HMAC_OUTPUT_LENGTH)),
        many(any_other(DS, Process::Strict)),
    ])),
);
static REFERENCE_TYPE: ComplexType = elements(
    &[attr("Id", Id), attr("URI", AnyUri), attr("Type", AnyUri)],
    false,
    one(Term::Sequence(&[
        opt(el(&TRANSFORMS)),
        one(el(&DIGEST_METHOD)),
        one(el(&DIGEST_VALUE)),
    ])),
);
static TRANSFORMS_TYPE: ComplexType = elements(&[], false, some(el(&TRANSFORM)));
static XPATH: ElementDecl = ElementDecl {
    ns: DS,
    name: "XPath",
    ty: &STRING,
};
static TRANSFORM_TYPE: ComplexType = elements(
    ALGORITHM,
    true,
    many(Term::Choice(&[
        one(any_other(DS, Process::Lax)),
        one(el(&XPATH)),
    ])),
);
static DIGEST_METHOD_TYPE: ComplexType =
    elements(ALGORITHM, true, many(any_other(DS, Process::Lax)));
static KEY_INFO_TYPE: ComplexType = elements(
    ID_ATTR,
    true,
    some(Term::Choice(&[
        one(el(&KEY_NAME)),
        one(el(&KEY_VALUE)),
        one(el(&RETRIEVAL_METHOD)),
        one(el(&X509_DATA)),
        one(el(&PGP_DATA)),
        one(el(&SPKI_DATA)),
        one(el(&MGMT_DATA)),
        one(any_other(DS, Process::Lax)),
    ])),
);
static KEY_VALUE_TYPE: ComplexType = elements(
    &[],
    true,
    one(Term::Choice(&[
        one(el(&DSA_KEY_VALUE)),
        one(el(&RSA_KEY_VALUE)),
        one(any_other(DS, Process::Lax)),
    ])),
);
static RETRIEVAL_METHOD_TYPE: ComplexType = elements(
    &[attr("URI", AnyUri), attr("Type", AnyUri)],
    false,
    opt(el(&TRANSFORMS)),
);

static X509_ISSUER_NAME: ElementDecl = ElementDecl {
    ns: DS,
    name: "X509IssuerName",
    ty: &STRING,
};
static X509_SERIAL_NUMBER: ElementDecl = ElementDecl {
    ns: DS,
    name: "X509SerialNumber",
    ty: &INTEGER,
};
static X509_ISSUER_SERIAL_TYPE: ComplexType = elements(
    &[],
    false,
    one(Term::Sequence(&[
        one(el(&X509_ISSUER_NAME)),
        one(el(&X509_SERIAL_NUMBER)),
    ])),
);
static X509_ISSUER_SERIAL: ElementDecl = ElementDecl {
    ns: DS,
    name: "X509IssuerSerial",
    ty: &X509_ISSUER_SERIAL_TYPE,
};
static X509_SKI: ElementDecl = ElementDecl {
    ns: DS,
    name: "X509SKI",
    ty: &BASE64,
};
static X509_SUBJECT_NAME: ElementDecl = ElementDecl {
    ns: DS,
    name: "X509SubjectName",
    ty: &STRING,
};
pub static X509_CERTIFICATE: ElementDecl = ElementDecl {
    ns: DS,
    name: "X509Certificate",
    ty: &BASE64,
};
static X509_CRL: ElementDecl = ElementDecl {
    ns: DS,
    name: "X509CRL",
    ty: &BASE64,
};
static X509_DATA_TYPE: ComplexType = elements(
    &[],
    false,
    some(Term::Choice(&[
        one(el(&X509_ISSUER_SERIAL)),
        one(el(&X509_SKI)),
        one(el(&X509_SUBJECT_NAME)),
        one(el(&X509_CERTIFICATE)),
        one(el(&X509_CRL)),
        one(any_other(DS, Process::Lax)),
    ])),
);

static PGP_KEY_ID: ElementDecl = ElementDecl {
    ns: DS,
    name: "PGPKeyID",
    ty: &BASE64,
};
static PGP_KEY_PACKET: ElementDecl = ElementDecl {
    ns: DS,
    name: "PGPKeyPacket",
    ty: &BASE64,
};
static PGP_DATA_TYPE: ComplexType = elements(
    &[],
    false,
    one(Term::Choice(&[
        one(Term::Sequence(&[
            one(el(&PGP_KEY_ID)),
            opt(el(&PGP_KEY_PACKET)),
            many(any_other(DS, Process::Lax)),
        ])),
        one(Term::Sequence(&[
            one(el(&PGP_KEY_PACKET)),
            many(any_other(DS, Process::Lax)),
        ])),
    ])),
);
static SPKI_SEXP: ElementDecl = ElementDecl {
    ns: DS,
    name: "SPKISexp",
    ty: &BASE64,
};
static SPKI_DATA_TYPE: ComplexType = elements(
    &[],
    false,
    some(Term::Sequence(&[
        one(el(&SPKI_SEXP)),
        opt(any_other(DS, Process::Lax)),
    ])),
);
static OBJECT_TYPE: ComplexType = elements(
    &[
        attr("Id", Id),
        attr("MimeType", String),
        attr("Encoding", AnyUri),
    ],
    true,
    many(Term::Any(Wildcard {
        ns: WildNs::Any,
        process: Process::Lax,
    })),
);
static MANIFEST_TYPE: ComplexType = elements(ID_ATTR, false, some(el(&REFERENCE)));
static SIGNATURE_PROPERTIES_TYPE: ComplexType =
    elements(ID_ATTR, false, some(el(&SIGNATURE_PROPERTY)));
static SIGNATURE_PROPERTY_TYPE: ComplexType = elements(
    &[required_attr("Target", AnyUri), attr("Id", Id)],
    true,
    some(any_other(DS, Process::Lax)),
);

macro_rules! crypto_binary {
    ($($id:ident = $name:literal;)*) => {
        $(static $id: ElementDecl = ElementDecl { ns: DS, name: $name, ty: &BASE64 };)*
    };
}
crypto_binary! {
    P = "P"; Q = "Q"; G = "G"; Y = "Y"; J = "J"; SEED = "Seed"; PGEN_COUNTER = "PgenCounter";
    MODULUS = "Modulus"; EXPONENT = "Exponent";
}
static DSA_KEY_VALUE_TYPE: ComplexType = elements(
    &[],
    false,
    one(Term::Sequence(&[
        opt(Term::Sequence(&[one(el(&P)), one(el(&Q))])),
        opt(el(&G)),
        one(el(&Y)),
        opt(el(&J)),
        opt(Term::Sequence(&[one(el(&SEED)), one(el(&PGEN_COUNTER))])),
    ])),
);
static RSA_KEY_VALUE_TYPE: ComplexType = elements(
    &[],
    false,
    one(Term::Sequence(&[one(el(&MODULUS)), one(el(&EXPONENT))])),
);

declare! { DS;
    SIGNATURE = "Signature": &SIGNATURE_TYPE;
    SIGNATURE_VALUE = "SignatureValue": &SIGNATURE_VALUE_TYPE;
    SIGNED_INFO = "SignedInfo": &SIGNED_INFO_TYPE;
    CANONICALIZATION_METHOD = "CanonicalizationMethod": &CANONICALIZATION_METHOD_TYPE;
    SIGNATURE_METHOD = "SignatureMethod": &SIGNATURE_METHOD_TYPE;
    REFERENCE = "Reference": &REFERENCE_TYPE;
    TRANSFORMS = "Transforms": &TRANSFORMS_TYPE;
    TRANSFORM = "Transform": &TRANSFORM_TYPE;
    DIGEST_METHOD = "DigestMethod": &DIGEST_METHOD_TYPE;
    DIGEST_VALUE = "DigestValue": &BASE64;
    KEY_INFO = "KeyInfo": &KEY_INFO_TYPE;
    KEY_NAME = "KeyName": &STRING;
    MGMT_DATA = "MgmtData": &STRING;
    KEY_VALUE = "KeyValue": &KEY_VALUE_TYPE;
    RETRIEVAL_METHOD = "RetrievalMethod": &RETRIEVAL_METHOD_TYPE;
    X509_DATA = "X509Data": &X509_DATA_TYPE;
    PGP_DATA = "PGPData": &PGP_DATA_TYPE;
    SPKI_DATA = "SPKIData": &SPKI_DATA_TYPE;
    OBJECT = "Object": &OBJECT_TYPE;
    MANIFEST = "Manifest": &MANIFEST_TYPE;
    SIGNATURE_PROPERTIES = "SignatureProperties": &SIGNATURE_PROPERTIES_TYPE;
    SIGNATURE_PROPERTY = "SignatureProperty": &SIGNATURE_PROPERTY_TYPE;
    DSA_KEY_VALUE = "DSAKeyValue": &DSA_KEY_VALUE_TYPE;
    RSA_KEY_VALUE = "RSAKeyValue": &RSA_KEY_VALUE_TYPE;
}
