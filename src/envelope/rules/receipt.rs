//! `DIGG-AppRes-Business-Rules.scmt`: R1-APP … R9-APP.

use super::{
    Name, empty_elements, in_document_order, normalize_space, normalize_space_of_one, select,
};
use crate::envelope::Violation;
use crate::xml::El;
use crate::xml::names::{UBL_CAC as CAC, UBL_CBC as CBC, UBL_EXT};

const SCHEME_ATTRS: &[&str] = &[
    "schemeAgencyID",
    "schemeAgencyName",
    "schemeDataURI",
    "schemeID",
    "schemeName",
    "schemeURI",
    "schemeVersionID",
];
const SCHEME_ATTRS_BUT_ID: &[&str] = &[
    "schemeAgencyID",
    "schemeAgencyName",
    "schemeDataURI",
    "schemeName",
    "schemeURI",
    "schemeVersionID",
];
const LIST_ATTRS: &[&str] = &[
    "languageID",
    "listAgencyID",
    "listAgencyName",
    "listID",
    "listName",
    "listSchemeURI",
    "listURI",
    "listVersionID",
    "name",
];
const PARTY_CHILDREN: &[(&str, &str)] = &[
    (CAC, "AgentParty"),
    (CAC, "Contact"),
    (CAC, "FinancialAccount"),
    (CAC, "Language"),
    (CAC, "PartyIdentification"),
    (CAC, "PartyLegalEntity"),
    (CAC, "PartyName"),
    (CAC, "PartyTaxScheme"),
    (CAC, "Person"),
    (CAC, "PhysicalLocation"),
    (CAC, "PostalAddress"),
    (CAC, "PowerOfAttorney"),
    (CAC, "ServiceProviderParty"),
    (CBC, "IndustryClassificationCode"),
    (CBC, "LogoReferenceID"),
    (CBC, "MarkAttentionIndicator"),
    (CBC, "MarkCareIndicator"),
    (CBC, "WebsiteURI"),
];

/// What R1-APP forbids under one parent: whole elements, and elements carrying one of the listed attributes.
struct Forbidden {
    parent: &'static [(&'static str, &'static str)],
    elements: &'static [(&'static str, &'static str)],
    with_attrs: &'static [((&'static str, &'static str), &'static [&'static str])],
}

const DOC_RESPONSE: (&str, &str) = (CAC, "DocumentResponse");

const FORBIDDEN: &[Forbidden] = &[
    Forbidden {
        parent: &[DOC_RESPONSE, (CAC, "DocumentReference")],
        elements: &[
            (CAC, "Attachment"),
            (CAC, "IssuerParty"),
            (CAC, "ResultOfVerification"),
            (CAC, "ValidityPeriod"),
            (CBC, "CopyIndicator"),
            (CBC, "DocumentDescription"),
            (CBC, "DocumentStatusCode"),
            (CBC, "DocumentType"),
            (CBC, "DocumentTypeCode"),
            (CBC, "IssueDate"),
            (CBC, "IssueTime"),
            (CBC, "LanguageID"),
            (CBC, "LocaleCode"),
            (CBC, "UUID"),
            (CBC, "VersionID"),
            (CBC, "XPath"),
        ],
        with_attrs: &[((CBC, "ID"), SCHEME_ATTRS)],
    },
    Forbidden {
        parent: &[DOC_RESPONSE],
        elements: &[(CAC, "IssuerParty"), (CAC, "RecipientParty")],
        with_attrs: &[],
    },
    Forbidden {
        parent: &[DOC_RESPONSE, (CAC, "LineResponse"), (CAC, "LineReference")],
        elements: &[
            (CAC, "DocumentReference"),
            (CBC, "LineStatusCode"),
            (CBC, "UUID"),
        ],
        with_attrs: &[((CBC, "LineID"), SCHEME_ATTRS)],
    },
    Forbidden {
        parent: &[
            DOC_RESPONSE,
            (CAC, "LineResponse"),
            (CAC, "Response"),
            (CAC, "Status"),
        ],
        elements: &[
            (CAC, "Condition"),
            (CBC, "ConditionCode"),
            (CBC, "Description"),
            (CBC, "IndicationIndicator"),
            (CBC, "Percent"),
            (CBC, "ReferenceDate"),
            (CBC, "ReferenceTime"),
            (CBC, "ReliabilityPercent"),
            (CBC, "SequenceID"),
            (CBC, "Text"),
        ],
        with_attrs: &[
            ((CBC, "StatusReasonCode"), LIST_ATTRS),
            ((CBC, "StatusReason"), &["languageID", "languageLocaleID"]),
        ],
    },
    Forbidden {
        parent: &[DOC_RESPONSE, (CAC, "LineResponse"), (CAC, "Response")],
        elements: &[
            (CBC, "Description"),
            (CBC, "EffectiveDate"),
            (CBC, "EffectiveTime"),
            (CBC, "ReferenceID"),
        ],
        with_attrs: &[((CBC, "ResponseCode"), LIST_ATTRS)],
    },
    Forbidden {
        parent: &[DOC_RESPONSE, (CAC, "Response")],
        elements: &[
            (CAC, "Status"),
            (CBC, "Description"),
            (CBC, "EffectiveDate"),
            (CBC, "EffectiveTime"),
            (CBC, "ReferenceID"),
        ],
        with_attrs: &[((CBC, "ResponseCode"), LIST_ATTRS)],
    },
    Forbidden {
        parent: &[(CAC, "ReceiverParty")],
        elements: PARTY_CHILDREN,
        with_attrs: &[((CBC, "EndpointID"), SCHEME_ATTRS_BUT_ID)],
    },
    Forbidden {
        parent: &[(CAC, "SenderParty")],
        elements: PARTY_CHILDREN,
        with_attrs: &[((CBC, "EndpointID"), SCHEME_ATTRS_BUT_ID)],
    },
    Forbidden {
        parent: &[],
        elements: &[
            (CAC, "Signature"),
            (CBC, "Note"),
            (CBC, "ProfileExecutionID"),
            (CBC, "ResponseDate"),
            (CBC, "ResponseTime"),
            (CBC, "UBLVersionID"),
            (CBC, "UUID"),
            (CBC, "VersionID"),
            (UBL_EXT, "UBLExtensions"),
        ],
        with_attrs: &[
            ((CBC, "CustomizationID"), SCHEME_ATTRS),
            ((CBC, "ID"), SCHEME_ATTRS),
            ((CBC, "ProfileID"), SCHEME_ATTRS),
        ],
    },
];

pub fn check(root: El<'_, '_>, out: &mut Vec<Violation>) {
    r1_profile(root, out);
    r9_cardinality(root, out);
    empty_elements(root, "R2-APP", |_| false, out);
    r3_to_r6_values(root, out);
    r7_r8_lines(root, out);
}

fn r1_profile(root: El<'_, '_>, out: &mut Vec<Violation>) {
    let mut hits = Vec::new();
    for f in FORBIDDEN {
        for parent in select(root, f.parent) {
            for e in parent.children() {
                let whole = f.elements.iter().any(|(ns, l)| e.is(ns, l));
                let by_attr = f.with_attrs.iter().any(|((ns, l), attrs)| {
                    e.is(ns, l) && attrs.iter().any(|a| e.attr(a).is_some())
                });
                if whole || by_attr {
                    hits.push(e);
                }
            }
        }
    }
    for e in in_document_order(root, hits) {
        out.push(Violation::new(
            "R1-APP",
            e.path(),
            format!(
                "{} (or one of its attributes) is not used in the Meddelandekvittens profile",
                e.local()
            ),
        ));
    }
}

/// R9-APP: under each element at the context path, exactly one of the child.
const EXACTLY_ONE: &[(&[Name], Name)] = &[
    (&[], DOC_RESPONSE),
    (&[DOC_RESPONSE], (CAC, "DocumentReference")),
    (&[DOC_RESPONSE, (CAC, "LineResponse")], (CAC, "Response")),
    (
        &[DOC_RESPONSE, (CAC, "LineResponse"), (CAC, "Response")],
        (CBC, "ResponseCode"),
    ),
    (
        &[DOC_RESPONSE, (CAC, "LineResponse"), (CAC, "Response")],
        (CAC, "Status"),
    ),
    (
        &[
            DOC_RESPONSE,
            (CAC, "LineResponse"),
            (CAC, "Response"),
            (CAC, "Status"),
        ],
        (CBC, "StatusReason"),
    ),
    (&[DOC_RESPONSE, (CAC, "Response")], (CBC, "ResponseCode")),
    (&[(CAC, "ReceiverParty")], (CBC, "EndpointID")),
    (&[(CAC, "SenderParty")], (CBC, "EndpointID")),
];

fn r9_cardinality(root: El<'_, '_>, out: &mut Vec<Violation>) {
    for child in ["CustomizationID", "ProfileID", "IssueTime"] {
        if root.child(CBC, child).is_none() {
            out.push(Violation::new(
                "R9-APP",
                root.path(),
                format!("{child} is required"),
            ));
        }
    }
    for (context, (ns, child)) in EXACTLY_ONE {
        for at in select(root, context) {
            if at.children_named(ns, child).count() != 1 {
                out.push(Violation::new(
                    "R9-APP",
                    at.path(),
                    format!("{} must have exactly one {child}", at.local()),
                ));
            }
        }
    }
    for party in ["ReceiverParty", "SenderParty"] {
        for p in root.children_named(CAC, party) {
            if !p
                .children_named(CBC, "EndpointID")
                .any(|e| e.attr("schemeID").is_some())
            {
                out.push(Violation::new(
                    "R9-APP",
                    p.path(),
                    "EndpointID must have a schemeID attribute",
                ));
            }
        }
    }
}

fn r3_to_r6_values(root: El<'_, '_>, out: &mut Vec<Violation>) {
    let one =
        |ns: &str, l: &str| normalize_space_of_one(&root.children_named(ns, l).collect::<Vec<_>>());
    if one(CBC, "CustomizationID").as_deref()
        != Some(crate::envelope::ids::RECEIPT_CUSTOMIZATION_ID)
    {
        out.push(Violation::new(
            "R3-APP",
            root.path(),
            format!(
                "CustomizationID must be {}",
                crate::envelope::ids::RECEIPT_CUSTOMIZATION_ID
            ),
        ));
    }
    if one(CBC, "ProfileID").as_deref() != Some(crate::envelope::ids::RECEIPT_PROFILE_ID) {
        out.push(Violation::new(
            "R4-APP",
            root.path(),
            format!(
                "ProfileID must be {}",
                crate::envelope::ids::RECEIPT_PROFILE_ID
            ),
        ));
    }
    for c in select(
        root,
        &[DOC_RESPONSE, (CAC, "Response"), (CBC, "ResponseCode")],
    ) {
        let v = normalize_space(&c.string_value());
        if v != "ACCEPTED" && v != "REJECTED" {
            out.push(Violation::new(
                "R5-APP",
                c.path(),
                format!("response code '{v}' is not ACCEPTED or REJECTED"),
            ));
        }
    }
    for c in select(
        root,
        &[
            DOC_RESPONSE,
            (CAC, "LineResponse"),
            (CAC, "Response"),
            (CBC, "ResponseCode"),
        ],
    ) {
        let v = normalize_space(&c.string_value());
        if !matches!(v.as_str(), "SV" | "BV" | "SIG") {
            out.push(Violation::new(
                "R6-APP",
                c.path(),
                format!("reason code '{v}' is not SV, BV or SIG"),
            ));
        }
    }
}

fn r7_r8_lines(root: El<'_, '_>, out: &mut Vec<Violation>) {
    let any_lines = root
        .descendants_or_self()
        .iter()
        .any(|e| e.is(CAC, "LineResponse"));
    for r in select(root, &[DOC_RESPONSE, (CAC, "Response")]) {
        // General comparison: any ResponseCode child equal to the string, compared exactly.
        let has = |code: &str| {
            r.children_named(CBC, "ResponseCode")
                .any(|c| c.string_value() == code)
        };
        if has("ACCEPTED") && any_lines {
            out.push(Violation::new(
                "R7-APP",
                r.path(),
                "an ACCEPTED receipt must not carry any LineResponse",
            ));
        }
        if has("REJECTED") && !any_lines {
            out.push(Violation::new(
                "R8-APP",
                r.path(),
                "a REJECTED receipt must carry at least one LineResponse with the reason",
            ));
        }
    }
}
