//! The XHE enveloped signature, verified on the hardened parser's tree, against xmlsec1 (through the oracle)
//! on DIGG's signed examples.

mod common;

use sdk_relay::xml::{Limits, parse_bytes};
use sdk_relay::xmlsec::{SignatureError, verify_enveloped};

fn oracle_signature_valid(path: &std::path::Path) -> bool {
    common::oracle_verify(path).expect("signature_valid")
}

/// What our verification says about a file: the signer and the signature algorithm, or the refusal.
fn ours(path: &std::path::Path) -> Result<(Vec<u8>, String), SignatureError> {
    let bytes = std::fs::read(path).unwrap();
    let doc = parse_bytes(&bytes, &Limits::default()).expect("parses");
    verify_enveloped(&doc).map(|v| (v.signer.to_vec(), v.signature_algorithm))
}

#[test]
fn digg_signed_example_verifies_like_xmlsec1() {
    let path = common::sdk_docs().join("xhe/examples/XHE-tm-base-ext-sigenc.xml");
    assert!(oracle_signature_valid(&path));
    let (signer, signature_algorithm) = ours(&path).expect("DIGG's signed XHE verifies");
    let signer = sdk_relay::pki::CertInfo::parse(&signer).unwrap();
    assert_eq!(signer.common_name.as_deref(), Some("SendOrg2"));
    assert_eq!(
        signature_algorithm,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    );
}

#[test]
fn digg_example_changed_after_signing_is_invalid_like_xmlsec1() {
    let path = common::sdk_docs().join("message-v3/examples/xhe_unencrypted_payload.xml");
    assert!(!oracle_signature_valid(&path));
    let err = ours(&path).expect_err("changed after signing");
    assert!(matches!(err, SignatureError::Invalid(_)), "{err}");
}

#[test]
fn unsigned_and_non_xhe_documents_are_refused_by_name() {
    let plain = common::sdk_docs().join("xhe/examples/XHE-tm-base.xml");
    assert_eq!(ours(&plain).unwrap_err(), SignatureError::Unsigned);
    let receipt = common::sdk_docs().join("receipt/examples/Kvittens_AP-Accepterat.xml");
    assert!(matches!(
        ours(&receipt).unwrap_err(),
        SignatureError::NotXhe(_)
    ));
}

/// Tampering and wrapping variants of DIGG's validly signed envelope: each is refused for its own reason.
#[test]
fn tampered_and_wrapped_variants_of_digg_signed_example_are_refused() {
    let path = common::sdk_docs().join("xhe/examples/XHE-tm-base-ext-sigenc.xml");
    let original = std::fs::read_to_string(&path).unwrap();
    let sig_start = original.find("<Signature xmlns=").expect("signature");
    let sig_end = original.find("</Signature>").expect("end of signature") + "</Signature>".len();
    let signature = &original[sig_start..sig_end];
    let unsigned = format!("{}{}", &original[..sig_start], &original[sig_end..]);
    let payloads_start = original.find("<xha:Payloads>").unwrap();
    let check = |name: &str, text: &str| {
        let doc = parse_bytes(text.as_bytes(), &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        verify_enveloped(&doc).map(|_| ()).expect_err(name)
    };
    type Expect = fn(&SignatureError) -> bool;
    let variants: Vec<(&str, String, Expect)> = vec![
        ("signature removed", unsigned.clone(), |e| *e == SignatureError::Unsigned),
        (
            "one byte of the header changed",
            original.replacen("862693f7-53d4", "962693f7-53d4", 1),
            |e| matches!(e, SignatureError::Invalid(_)),
        ),
        (
            "a second signature inside the payload",
            original.replacen("</xha:Payloads>", &format!("{signature}</xha:Payloads>"), 1),
            |e| *e == SignatureError::SignatureCount(2),
        ),
        (
            "signature moved before the payloads",
            format!("{}{}{}", &unsigned[..payloads_start], signature, &unsigned[payloads_start..]),
            |e| matches!(e, SignatureError::SignatureMisplaced(_)),
        ),
        (
            "reference to an Id instead of the whole envelope",
            original.replacen("<Reference URI=\"\">", "<Reference URI=\"#payload\">", 1),
            |e| matches!(e, SignatureError::ReferenceScope(uri) if uri == "#payload"),
        ),
        (
            "weaker signature algorithm",
            original.replacen("xmldsig-more#rsa-sha256", "xmldsig#rsa-sha1", 1),
            |e| matches!(e, SignatureError::Algorithm { what: "signature", .. }),
        ),
        (
            "an extra XPath transform",
            original.replacen(
                "enveloped-signature\" /></Transforms>",
                "enveloped-signature\" /><Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\" /></Transforms>",
                1,
            ),
            |e| matches!(e, SignatureError::Structure(_)),
        ),
        (
            "a ds:Object smuggled into the signature",
            original.replacen("</Signature>", "<Object><x>hidden</x></Object></Signature>", 1),
            |e| matches!(e, SignatureError::Structure(m) if m.contains("Object")),
        ),
        (
            "the certificate is not base64",
            original.replacen("<X509Certificate>MIIE", "<X509Certificate>!!!!MIIE", 1),
            |e| matches!(e, SignatureError::Certificate(_)),
        ),
    ];
    assert!(
        verify_enveloped(&parse_bytes(original.as_bytes(), &Limits::default()).unwrap()).is_ok()
    );
    for (name, text, expected) in &variants {
        assert_ne!(text, &original, "{name}: the variant changed nothing");
        let err = check(name, text);
        assert!(
            expected(&err),
            "{name}: refused for the wrong reason: {err}"
        );
    }
}
