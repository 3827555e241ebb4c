//! SDK rules from the specification prose that DIGG's rule files do not encode (`sdk-spec.md` §3.2–3.4, §4,
//! §5), with rule ids `SDK-…`. Each is listed with its source in `docs/deliberate-differences.md`.

use super::{normalize_space, select};
use crate::envelope::ids::{self, PayloadKind};
use crate::envelope::schema::datatypes_has_time_zone;
use crate::envelope::{DocType, Violation};
use crate::xml::El;
use crate::xml::names::{MSG3, UBL_APP, UBL_CAC as CAC, UBL_CBC as CBC, XENC, XHA, XHB};

const CODES: [&str; 5] = [
    "DOCUMENTID",
    "DOCUMENTID_SCHEME",
    "PROCESSID",
    "PROCESSID_SCHEME",
    "FEDERATIONID",
];

/// The XHE's single payload element, when it is XML and not encrypted.
pub fn plain_payload<'d, 'a>(root: El<'d, 'a>) -> Option<El<'d, 'a>> {
    let contents = select(
        root,
        &[(XHA, "Payloads"), (XHA, "Payload"), (XHA, "PayloadContent")],
    );
    let [content] = contents.as_slice() else {
        return None;
    };
    let mut kids = content.children();
    let first = kids.next()?;
    if kids.next().is_some() || first.ns() == XENC {
        return None;
    }
    Some(first)
}

/// Elements of the XHE schema that the SDK profile does not list and R1-XHE's list leaves out.
const NOT_IN_PROFILE: &[&[(&str, &str)]] = &[
    &[(XHA, "Header"), (XHB, "UUID")],
    &[(XHA, "Payloads"), (XHA, "Payload"), (XHB, "ID")],
    &[
        (XHA, "Payloads"),
        (XHA, "Payload"),
        (XHB, "ValidationVersionID"),
    ],
    &[
        (XHA, "Payloads"),
        (XHA, "Payload"),
        (XHA, "PayloadExternalReference"),
    ],
];

/// Envelope rules of the SDK profile, then the cross-layer rules for an SDK message or receipt payload.
pub fn check_xhe(root: El<'_, '_>, out: &mut Vec<Violation>) {
    for e in NOT_IN_PROFILE.iter().flat_map(|p| select(root, p)) {
        out.push(Violation::new(
            "SDK-XHE-PROFILE",
            e.path(),
            format!(
                "{} is not part of the SDK envelope profile and must not appear",
                e.local()
            ),
        ));
    }
    let header = root.child(XHA, "Header");
    if let Some(header) = header {
        header_rules(header, out);
    }
    let criteria: Vec<(String, String, El<'_, '_>)> = select(
        root,
        &[
            (XHA, "Header"),
            (XHA, "BusinessScope"),
            (XHA, "BusinessScopeCriterion"),
        ],
    )
    .into_iter()
    .map(|c| {
        let text = |l: &str| {
            c.child(XHB, l)
                .map(|e| normalize_space(&e.string_value()))
                .unwrap_or_default()
        };
        (
            text("BusinessScopeCriterionTypeCode"),
            text("BusinessScopeCriterionValue"),
            c,
        )
    })
    .collect();
    criteria_rules(root, &criteria, out);

    let payloads = select(root, &[(XHA, "Payloads"), (XHA, "Payload")]);
    let [payload] = payloads.as_slice() else {
        return;
    };
    let code = |l: &str| {
        payload
            .child(XHB, l)
            .map(|e| normalize_space(&e.string_value()))
    };
    let document_type = code("DocumentTypeCode");
    let plain = plain_payload(root);
    if let (Some(dt), Some(p)) = (&document_type, plain) {
        let eqname = format!("Q{{{}}}{}", p.ns(), p.local());
        if *dt != eqname {
            out.push(Violation::new(
                "SDK-XHE-DOCTYPE",
                payload
                    .child(XHB, "DocumentTypeCode")
                    .map(|e| e.path())
                    .unwrap_or_default(),
                format!("DocumentTypeCode is '{dt}' but the payload's root element is {eqname}"),
            ));
        }
    }
    let kind = document_type
        .as_deref()
        .and_then(PayloadKind::from_document_type)
        .or_else(|| plain.and_then(kind_of));
    let Some(kind) = kind else { return };

    code_list_rules(*payload, kind, &criteria, out);
    match plain {
        Some(p) if p.is(MSG3, "messagePayload") => message_cross_rules(root, *payload, p, out),
        Some(p) if p.is(UBL_APP, "ApplicationResponse") => {
            receipt_cross_rules(root, *payload, p, out)
        }
        _ => {}
    }
}

fn kind_of(e: El<'_, '_>) -> Option<PayloadKind> {
    match DocType::of(e)? {
        DocType::MessageV3 => Some(PayloadKind::Message),
        DocType::Receipt => Some(PayloadKind::Receipt),
        DocType::Xhe => None,
    }
}

fn header_rules(header: El<'_, '_>, out: &mut Vec<Violation>) {
    for id in header.children_named(XHB, "ID") {
        let v = normalize_space(&id.string_value());
        if !v.is_empty() && !ids::is_uuid(&v) {
            out.push(Violation::new(
                "SDK-XHE-ID-UUID",
                id.path(),
                format!("the envelope ID '{v}' is not a UUID"),
            ));
        }
    }
    for t in header.children_named(XHB, "CreationDateTime") {
        let v = t.string_value();
        let valid = crate::envelope::schema::Datatype::DateTime
            .check(&v)
            .is_ok();
        if valid && !datatypes_has_time_zone(&v) {
            out.push(Violation::new(
                "SDK-XHE-TIMEZONE",
                t.path(),
                format!(
                    "CreationDateTime '{}' has no time zone (add Z or ±hh:mm)",
                    v.trim()
                ),
            ));
        }
    }
}

fn criteria_rules(
    root: El<'_, '_>,
    criteria: &[(String, String, El<'_, '_>)],
    out: &mut Vec<Violation>,
) {
    let counts: Vec<usize> = CODES
        .iter()
        .map(|c| criteria.iter().filter(|(code, _, _)| code == c).count())
        .collect();
    let unknown: Vec<&str> = criteria
        .iter()
        .map(|(code, _, _)| code.as_str())
        .filter(|c| !CODES.contains(c))
        .collect();
    if criteria.len() != 5 || counts.iter().any(|n| *n != 1) || !unknown.is_empty() {
        let mut problems: Vec<String> = CODES
            .iter()
            .zip(&counts)
            .filter(|(_, n)| **n != 1)
            .map(|(c, n)| format!("{c} appears {n} times"))
            .collect();
        problems.extend(
            unknown
                .iter()
                .map(|u| format!("'{u}' is not a criterion type code")),
        );
        let where_ = select(root, &[(XHA, "Header"), (XHA, "BusinessScope")])
            .first()
            .map(|e| e.path())
            .unwrap_or_else(|| format!("{}/Header", root.path()));
        out.push(Violation::new(
            "SDK-XHE-CRITERIA",
            where_,
            format!(
                "there must be exactly five BusinessScopeCriterion, one per type code ({} found: {})",
                criteria.len(),
                problems.join("; ")
            ),
        ));
    }
    for (code, value, c) in criteria {
        if code == "FEDERATIONID" && !ids::FEDERATIONS.contains(&value.as_str()) {
            out.push(Violation::new(
                "SDK-XHE-FEDERATIONID",
                c.path(),
                format!(
                    "FEDERATIONID '{value}' is not one of {}",
                    ids::FEDERATIONS.join(", ")
                ),
            ));
        }
    }
}

fn code_list_rules(
    payload: El<'_, '_>,
    kind: PayloadKind,
    criteria: &[(String, String, El<'_, '_>)],
    out: &mut Vec<Violation>,
) {
    for (code, value, c) in criteria {
        let (rule, ok, expected) = match code.as_str() {
            "PROCESSID" => (
                "SDK-XHE-PROCESSID",
                value == ids::PROCESS_ID,
                ids::PROCESS_ID.to_owned(),
            ),
            "PROCESSID_SCHEME" => (
                "SDK-XHE-PROCESSID-SCHEME",
                value == ids::PROCESS_ID_SCHEME,
                ids::PROCESS_ID_SCHEME.to_owned(),
            ),
            "DOCUMENTID_SCHEME" => (
                "SDK-XHE-DOCUMENTID-SCHEME",
                value == ids::DOCUMENT_ID_SCHEME,
                ids::DOCUMENT_ID_SCHEME.to_owned(),
            ),
            "DOCUMENTID" => (
                "SDK-XHE-DOCUMENTID",
                kind.transport_model(value).is_some(),
                format!(
                    "{} or {}",
                    kind.document_id(ids::TransportModel::Base),
                    kind.document_id(ids::TransportModel::BaseExtSigEnc)
                ),
            ),
            _ => continue,
        };
        if !ok {
            out.push(Violation::new(
                rule,
                c.path(),
                format!("{code} '{value}' is wrong for this payload; expected {expected}"),
            ));
        }
    }
    if let Some(ct) = payload.child(XHB, "ContentTypeCode") {
        let v = normalize_space(&ct.string_value());
        if v != ids::XML_CONTENT_TYPE {
            out.push(Violation::new(
                "SDK-XHE-CONTENTTYPE",
                ct.path(),
                format!(
                    "ContentTypeCode '{v}' must be {} for this payload",
                    ids::XML_CONTENT_TYPE
                ),
            ));
        }
    }
}

/// Text of the single element at `steps` below `from`, trimmed.
fn value_at(from: El<'_, '_>, steps: &[(&str, &str)]) -> Option<String> {
    match select(from, steps).as_slice() {
        [one] => Some(normalize_space(&one.string_value())),
        _ => None,
    }
}

fn party(root: El<'_, '_>, which: &str) -> Option<String> {
    value_at(
        root,
        &[
            (XHA, "Header"),
            (XHA, which),
            (XHA, "PartyIdentification"),
            (XHB, "ID"),
        ],
    )
}

fn must_equal(
    out: &mut Vec<Violation>,
    rule: &str,
    location: impl FnOnce() -> String,
    what: &str,
    envelope: Option<String>,
    inner: Option<String>,
) {
    if let (Some(a), Some(b)) = (&envelope, &inner)
        && a != b
    {
        out.push(Violation::new(
            rule,
            location(),
            format!("{what}: the envelope says '{a}' but the payload says '{b}'"),
        ));
    }
}

fn message_cross_rules(
    root: El<'_, '_>,
    payload: El<'_, '_>,
    msg: El<'_, '_>,
    out: &mut Vec<Violation>,
) {
    let header = [(MSG3, "message"), (MSG3, "messageHeader")];
    let at = |tail: &[(&'static str, &'static str)]| {
        let steps: Vec<(&str, &str)> = header.iter().chain(tail).copied().collect();
        value_at(msg, &steps)
    };
    let header_id = root
        .child(XHA, "Header")
        .and_then(|h| value_at(h, &[(XHB, "ID")]));
    let loc = |steps: &'static [(&'static str, &'static str)]| {
        move || {
            select(root, steps)
                .first()
                .map(|e| e.path())
                .unwrap_or_else(|| root.path())
        }
    };
    must_equal(
        out,
        "SDK-XHE-MSG-ID",
        loc(&[(XHA, "Header"), (XHB, "ID")]),
        "the XHE ID must equal the messageId",
        header_id,
        at(&[(MSG3, "messageId")]),
    );
    must_equal(
        out,
        "SDK-XHE-MSG-SENDER",
        loc(&[(XHA, "Header"), (XHA, "FromParty")]),
        "FromParty must equal sender/senderID/extension",
        party(root, "FromParty"),
        at(&[(MSG3, "sender"), (MSG3, "senderID"), (MSG3, "extension")]),
    );
    must_equal(
        out,
        "SDK-XHE-MSG-RECIPIENT",
        loc(&[(XHA, "Header"), (XHA, "ToParty")]),
        "ToParty must equal recipient/recipientID/extension",
        party(root, "ToParty"),
        at(&[
            (MSG3, "recipient"),
            (MSG3, "recipientID"),
            (MSG3, "extension"),
        ]),
    );
    let function = at(&[
        (MSG3, "recipient"),
        (MSG3, "attention"),
        (MSG3, "subOrganization"),
        (MSG3, "organizationId"),
        (MSG3, "extension"),
    ]);
    match payload.child(XHB, "HandlingServiceID") {
        None => out.push(Violation::new(
            "SDK-XHE-MSG-FUNCTION",
            payload.path(),
            "HandlingServiceID is required: it carries the recipient's functional address",
        )),
        Some(h) => must_equal(
            out,
            "SDK-XHE-MSG-FUNCTION",
            || h.path(),
            "HandlingServiceID must equal the recipient's functional address (subOrganization/organizationId/extension)",
            Some(normalize_space(&h.string_value())),
            function,
        ),
    }
}

fn receipt_cross_rules(
    root: El<'_, '_>,
    payload: El<'_, '_>,
    app: El<'_, '_>,
    out: &mut Vec<Violation>,
) {
    must_equal(
        out,
        "SDK-XHE-RCPT-SENDER",
        || format!("{}/Header/FromParty", root.path()),
        "FromParty must equal the receipt's SenderParty/EndpointID",
        party(root, "FromParty"),
        value_at(app, &[(CAC, "SenderParty"), (CBC, "EndpointID")]),
    );
    must_equal(
        out,
        "SDK-XHE-RCPT-RECEIVER",
        || format!("{}/Header/ToParty", root.path()),
        "ToParty must equal the receipt's ReceiverParty/EndpointID",
        party(root, "ToParty"),
        value_at(app, &[(CAC, "ReceiverParty"), (CBC, "EndpointID")]),
    );
    if payload.child(XHB, "HandlingServiceID").is_none() {
        out.push(Violation::new(
            "SDK-XHE-RCPT-FUNCTION",
            payload.path(),
            "HandlingServiceID is required on a receipt: the functional address of the acknowledged message",
        ));
    }
}
