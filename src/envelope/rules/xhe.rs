//! `DIGG-XHE-Business-Rules.scmt`: R1-XHE … R14-XHE.

use super::{empty_elements, in_document_order, normalize_space, normalize_space_of_one, select};
use crate::envelope::Violation;
use crate::xml::El;
use crate::xml::names::{XENC, XHA, XHB, XHE_EXT};

/// Elements of the XHE schema that the SDK profile does not use (R1-XHE), as paths from the root.
const FORBIDDEN: &[&[(&str, &str)]] = &[
    &[(XHE_EXT, "XHEExtensions")],
    &[(XHB, "ProfileID")],
    &[(XHB, "ProfileExecutionID")],
    &[
        (XHA, "Header"),
        (XHA, "BusinessScope"),
        (XHA, "ExternalReference"),
    ],
    &[(XHA, "Payloads"), (XHA, "Payload"), (XHB, "Description")],
    &[
        (XHA, "Payloads"),
        (XHA, "Payload"),
        (XHB, "CustomizationID"),
    ],
    &[(XHA, "Payloads"), (XHA, "Payload"), (XHB, "ProfileID")],
    &[
        (XHA, "Payloads"),
        (XHA, "Payload"),
        (XHB, "ProfileExecutionID"),
    ],
    &[
        (XHA, "Payloads"),
        (XHA, "Payload"),
        (XHB, "ValidationTypeCode"),
    ],
    &[
        (XHA, "Payloads"),
        (XHA, "Payload"),
        (XHB, "InstanceEncryptionMethod"),
    ],
    &[
        (XHA, "Payloads"),
        (XHA, "Payload"),
        (XHB, "InstanceHashValue"),
    ],
    &[
        (XHA, "Payloads"),
        (XHA, "Payload"),
        (XHA, "InstanceDecryptionInformationExternalReference"),
    ],
    &[
        (XHA, "Payloads"),
        (XHA, "Payload"),
        (XHA, "InstanceDecryptionKeyExternalReference"),
    ],
    &[
        (XHA, "Payloads"),
        (XHA, "Payload"),
        (XHA, "RelevantExternalReference"),
    ],
];

const CRITERIA: [(&str, &str); 5] = [
    ("R4-XHE", "DOCUMENTID"),
    ("R5-XHE", "DOCUMENTID_SCHEME"),
    ("R6-XHE", "PROCESSID"),
    ("R7-XHE", "PROCESSID_SCHEME"),
    ("R8-XHE", "FEDERATIONID"),
];

/// Run every DIGG XHE rule on the document element `root` (an `XHE` in the XHE namespace).
pub fn check(root: El<'_, '_>, out: &mut Vec<Violation>) {
    r1_profile_elements(root, out);
    r14_cardinality(root, out);
    // PayloadContent holds the payload, which has its own rules.
    empty_elements(
        root,
        "R2-XHE",
        |e| e.ancestors().any(|a| a.is(XHA, "PayloadContent")),
        out,
    );
    for e in root.children_named(XHB, "CustomizationID") {
        if normalize_space(&e.string_value()) != crate::envelope::ids::XHE_CUSTOMIZATION_ID {
            out.push(Violation::new(
                "R3-XHE",
                e.path(),
                format!(
                    "CustomizationID must be {}",
                    crate::envelope::ids::XHE_CUSTOMIZATION_ID
                ),
            ));
        }
    }
    r4_to_r8_criteria(root, out);
    for e in root.children_named(XHB, "XHEVersionID") {
        if normalize_space(&e.string_value()) != "1.0" {
            out.push(Violation::new(
                "R9-XHE",
                e.path(),
                "XHEVersionID must be 1.0",
            ));
        }
    }
    for id in party_ids(root, "FromParty") {
        if normalize_space(id.attr("schemeID").unwrap_or("")) != crate::envelope::ids::PARTY_SCHEME
        {
            out.push(Violation::new(
                "R10-XHE",
                id.path(),
                "the FromParty ID must have schemeID=\"iso6523-actorid-upis\"",
            ));
        }
    }
    // R11-XHE as the prose intends: DIGG's file tests FromParty a second time (see docs/deliberate-differences.md).
    for id in party_ids(root, "ToParty") {
        if normalize_space(id.attr("schemeID").unwrap_or("")) != crate::envelope::ids::PARTY_SCHEME
        {
            out.push(Violation::new(
                "R11-XHE",
                id.path(),
                "the ToParty ID must have schemeID=\"iso6523-actorid-upis\"",
            ));
        }
    }
    r12_r13_encryption(root, out);
}

fn party_ids<'d, 'a>(root: El<'d, 'a>, party: &str) -> Vec<El<'d, 'a>> {
    select(
        root,
        &[
            (XHA, "Header"),
            (XHA, party),
            (XHA, "PartyIdentification"),
            (XHB, "ID"),
        ],
    )
}

fn r1_profile_elements(root: El<'_, '_>, out: &mut Vec<Violation>) {
    let hits = FORBIDDEN.iter().flat_map(|p| select(root, p)).collect();
    for e in in_document_order(root, hits) {
        out.push(Violation::new(
            "R1-XHE",
            e.path(),
            format!(
                "{} is not used in the SDK profile and must not appear",
                e.local()
            ),
        ));
    }
}

fn r14_cardinality(root: El<'_, '_>, out: &mut Vec<Violation>) {
    let mut need = |ok: bool, what: &str| {
        if !ok {
            out.push(Violation::new("R14-XHE", root.path(), what.to_owned()));
        }
    };
    let payloads = select(root, &[(XHA, "Payloads"), (XHA, "Payload")]);
    let in_payload = |ns: &str, local: &str| payloads.iter().any(|p| p.child(ns, local).is_some());
    need(
        root.child(XHB, "CustomizationID").is_some(),
        "CustomizationID is required",
    );
    need(
        !select(
            root,
            &[
                (XHA, "Header"),
                (XHA, "BusinessScope"),
                (XHA, "BusinessScopeCriterion"),
            ],
        )
        .is_empty(),
        "at least one BusinessScopeCriterion is required",
    );
    need(
        !select(root, &[(XHA, "Header"), (XHA, "FromParty")]).is_empty(),
        "FromParty is required",
    );
    need(
        select(
            root,
            &[
                (XHA, "Header"),
                (XHA, "FromParty"),
                (XHA, "PartyIdentification"),
            ],
        )
        .len()
            == 1,
        "FromParty must have exactly one PartyIdentification",
    );
    need(
        select(
            root,
            &[
                (XHA, "Header"),
                (XHA, "ToParty"),
                (XHA, "PartyIdentification"),
            ],
        )
        .len()
            == 1,
        "ToParty must have exactly one PartyIdentification (and there must be exactly one ToParty)",
    );
    need(payloads.len() == 1, "exactly one Payload is required");
    need(
        in_payload(XHB, "DocumentTypeCode"),
        "the Payload must have a DocumentTypeCode",
    );
    need(
        in_payload(XHB, "ContentTypeCode"),
        "the Payload must have a ContentTypeCode",
    );
    need(
        in_payload(XHA, "PayloadContent"),
        "the Payload must have a PayloadContent",
    );
}

/// R4–R8: one criterion of each type code. `normalize-space(TypeCode)` over a criterion with several type
/// codes is an XPath error, which fails the assert when the scan reaches that criterion before a match.
fn r4_to_r8_criteria(root: El<'_, '_>, out: &mut Vec<Violation>) {
    let criteria = select(
        root,
        &[
            (XHA, "Header"),
            (XHA, "BusinessScope"),
            (XHA, "BusinessScopeCriterion"),
        ],
    );
    for (rule, code) in CRITERIA {
        let mut found = false;
        for c in &criteria {
            let codes: Vec<_> = c
                .children_named(XHB, "BusinessScopeCriterionTypeCode")
                .collect();
            match normalize_space_of_one(&codes) {
                Some(v) if v == code => {
                    found = true;
                    break;
                }
                Some(_) => {}
                None => break,
            }
        }
        if !found {
            out.push(Violation::new(
                rule,
                root.path(),
                format!("a BusinessScopeCriterion with type code {code} is required"),
            ));
        }
    }
}

/// XPath 2.0 general comparison of an `xs:untypedAtomic` indicator with a boolean: the text is cast, so
/// surrounding whitespace is ignored and 1/0 count as true/false.
fn indicator_is(payload: El<'_, '_>, wanted: bool) -> bool {
    payload
        .children_named(XHB, "InstanceEncryptionIndicator")
        .any(|i| match normalize_space(&i.string_value()).as_str() {
            "true" | "1" => wanted,
            "false" | "0" => !wanted,
            _ => false,
        })
}

fn r12_r13_encryption(root: El<'_, '_>, out: &mut Vec<Violation>) {
    for payload in select(root, &[(XHA, "Payloads"), (XHA, "Payload")]) {
        let encrypted =
            !select(payload, &[(XHA, "PayloadContent"), (XENC, "EncryptedData")]).is_empty();
        if indicator_is(payload, true) && !encrypted {
            out.push(Violation::new(
                "R12-XHE",
                payload.path(),
                "InstanceEncryptionIndicator is true, so PayloadContent must hold an xenc:EncryptedData",
            ));
        }
        if indicator_is(payload, false) && encrypted {
            out.push(Violation::new(
                "R13-XHE",
                payload.path(),
                "InstanceEncryptionIndicator is false, so PayloadContent must not hold an xenc:EncryptedData",
            ));
        }
    }
}
