//! Each SDK prose rule of docs/deliberate-differences.md, exercised on its own: a small change to a valid
//! envelope that DIGG's files accept (the oracle says valid) and we reject with exactly that rule id.

mod common;

use sdk_relay::envelope;
use sdk_relay::xml::Limits;

fn sample(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/documents")
        .join(name);
    std::fs::read_to_string(p).expect("sample document")
}

fn edit(doc: &str, from: &str, to: &str) -> String {
    assert!(doc.contains(from), "sample lacks {from:?}");
    doc.replacen(from, to, 1)
}

#[test]
fn each_sdk_rule_rejects_what_digg_files_accept() {
    let msg = sample("xhe-message.xml");
    let rcpt = sample("xhe-receipt.xml");
    let id = "6f1c2b9e-0b7a-4f3e-9d52-1a2b3c4d5e6f";
    let cases: Vec<(&str, String)> = vec![
        (
            "SDK-XHE-ID-UUID",
            edit(
                &rcpt,
                "<ID>3c2b1a09-8f7e-4d6c-b5a4-9382716f5e4d</ID>",
                "<ID>RCPT-1</ID>",
            ),
        ),
        (
            "SDK-XHE-TIMEZONE",
            edit(
                &msg,
                "<CreationDateTime>2026-11-22T09:30:00.000Z",
                "<CreationDateTime>2026-11-22T09:30:00.000",
            ),
        ),
        (
            "SDK-XHE-FEDERATIONID",
            edit(&msg, "federation:test", "federation:prod"),
        ),
        (
            "SDK-XHE-PROCESSID",
            edit(
                &msg,
                "<BusinessScopeCriterionValue>bdx:noprocess",
                "<BusinessScopeCriterionValue>urn:example:process",
            ),
        ),
        (
            "SDK-XHE-PROCESSID-SCHEME",
            edit(
                &msg,
                "<BusinessScopeCriterionValue>urn:fdc:digg.se:edelivery:process",
                "<BusinessScopeCriterionValue>urn:example:scheme",
            ),
        ),
        (
            "SDK-XHE-DOCUMENTID-SCHEME",
            edit(
                &msg,
                "<BusinessScopeCriterionValue>busdox-docid-qns",
                "<BusinessScopeCriterionValue>other-qns",
            ),
        ),
        (
            "SDK-XHE-DOCUMENTID",
            edit(&msg, "##3.0::tm-base<", "##3.0::tm-other<"),
        ),
        (
            "SDK-XHE-CONTENTTYPE",
            edit(
                &msg,
                "<ContentTypeCode>application/xml",
                "<ContentTypeCode>text/xml",
            ),
        ),
        (
            "SDK-XHE-DOCTYPE",
            edit(
                &rcpt,
                "<DocumentTypeCode>Q{urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2}ApplicationResponse",
                "<DocumentTypeCode>Q{urn:example}Other",
            ),
        ),
        (
            "SDK-XHE-CRITERIA",
            edit(
                &msg,
                "<xha:BusinessScope>",
                "<xha:BusinessScope>\n      <xha:BusinessScopeCriterion>\n        <BusinessScopeCriterionTypeCode>FEDERATIONID</BusinessScopeCriterionTypeCode>\n        <BusinessScopeCriterionValue>urn:fdc:digg.se:edelivery:federation:test</BusinessScopeCriterionValue>\n      </xha:BusinessScopeCriterion>",
            ),
        ),
        (
            "SDK-XHE-PROFILE",
            edit(
                &msg,
                "<CreationDateTime>",
                "<UUID>6f1c2b9e-0b7a-4f3e-9d52-1a2b3c4d5e6f</UUID><CreationDateTime>",
            ),
        ),
        (
            "SDK-XHE-MSG-ID",
            edit(
                &msg,
                &format!("<ns6:messageId>{id}"),
                "<ns6:messageId>11111111-0b7a-4f3e-9d52-1a2b3c4d5e6f",
            ),
        ),
        (
            "SDK-XHE-MSG-SENDER",
            edit(
                &msg,
                "<ID schemeID=\"iso6523-actorid-upis\">0203:kommun-a.example.se",
                "<ID schemeID=\"iso6523-actorid-upis\">0203:kommun-c.example.se",
            ),
        ),
        (
            "SDK-XHE-MSG-RECIPIENT",
            edit(
                &msg,
                "<ID schemeID=\"iso6523-actorid-upis\">0203:region-b.example.se",
                "<ID schemeID=\"iso6523-actorid-upis\">0203:region-c.example.se",
            ),
        ),
        (
            "SDK-XHE-MSG-FUNCTION",
            edit(
                &msg,
                "<HandlingServiceID>vardcentral-norr",
                "<HandlingServiceID>vardcentral-syd",
            ),
        ),
        (
            "SDK-XHE-RCPT-SENDER",
            edit(
                &rcpt,
                "<ID schemeID=\"iso6523-actorid-upis\">0203:region-b.example.se",
                "<ID schemeID=\"iso6523-actorid-upis\">0203:region-c.example.se",
            ),
        ),
        (
            "SDK-XHE-RCPT-RECEIVER",
            edit(
                &rcpt,
                "<ID schemeID=\"iso6523-actorid-upis\">0203:kommun-a.example.se",
                "<ID schemeID=\"iso6523-actorid-upis\">0203:kommun-c.example.se",
            ),
        ),
        (
            "SDK-XHE-RCPT-FUNCTION",
            edit(
                &rcpt,
                "<HandlingServiceID>vardcentral-norr</HandlingServiceID>",
                "",
            ),
        ),
        (
            "R11-XHE",
            edit(
                &msg,
                "<ID schemeID=\"iso6523-actorid-upis\">0203:region-b.example.se",
                "<ID schemeID=\"iso6523-other\">0203:region-b.example.se",
            ),
        ),
    ];
    let tmp = tempfile::tempdir().expect("temp dir");
    let files: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, (_, xml))| {
            let p = tmp.path().join(format!("case-{i:02}.xml"));
            std::fs::write(&p, xml).expect("write");
            p
        })
        .collect();
    let verdicts = common::oracle_validate(&files);
    for ((rule, xml), oracle) in cases.iter().zip(&verdicts) {
        assert!(
            oracle.valid,
            "{rule}: DIGG's files should accept this case: {}",
            oracle.raw
        );
        let (_, violations) =
            envelope::check_bytes(xml.as_bytes(), &Limits::default()).expect("typed document");
        let rules: Vec<&str> = violations.iter().map(|v| v.rule.as_str()).collect();
        assert_eq!(rules, vec![*rule], "{rule}: {violations:#?}");
    }
}
