//! Comments and processing instructions in a signed XHE (issue 19 point 11). DIGG's own receipt examples carry
//! comments, so a node must take them; C14N drops them, so they are unsigned, and they must not change any
//! value the node reads. xmlsec1 (through the oracle) is the independent judge of each signature here.

mod common;

use common::o2o::{self, Setup};
use sdk_relay::envelope::ids::{FEDERATION_TEST, TransportModel};
use sdk_relay::envelope::receipt::Receipt;
use sdk_relay::envelope::xhe::Xhe;
use sdk_relay::pki::{Checker, RevocationPolicy, TrustStore};
use sdk_relay::xml::{Limits, parse};
use sdk_relay::xmlsec::{self, Opened, SignerPolicy, TrustCheck};

struct World {
    dir: tempfile::TempDir,
    s: Setup,
    trust: sdk_relay::pki::truststore::Trust,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let s = o2o::setup(dir.path(), "o2o-test");
    let data_dir = dir.path().join("node");
    common::pki::trust_federation(&data_dir, &s.fed);
    let trust = TrustStore::open(&data_dir).load().unwrap();
    World { dir, s, trust }
}

/// Opens `text` as a receiving node does: the sender's chain in o2o-test, pinned to its certificate.
fn open(w: &World, text: &str) -> Result<Opened, xmlsec::OpenError> {
    let doc = parse(text, &Limits::default()).expect("parses");
    let checker = Checker::new(&w.trust, RevocationPolicy::default());
    let env = common::pki::env("o2o-test");
    let policy = SignerPolicy {
        trust: Some(TrustCheck {
            checker: &checker,
            env: &env,
            at: time::OffsetDateTime::now_utc(),
        }),
        pinned: Some(&w.s.sender.cert),
    };
    xmlsec::open(&doc, &policy, &w.s.recipient.payload_key())
}

/// xmlsec1's verdict on `text`'s signature.
fn xmlsec1_verifies(w: &World, name: &str, text: &str) -> bool {
    let path = w.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    if std::env::var_os("KEEP_XHE").is_some() {
        std::fs::write(std::env::temp_dir().join(name), text).unwrap();
    }
    common::oracle_verify(&path).expect("the oracle gives a verdict")
}

#[test]
fn a_comment_splitting_the_receivers_identifier_yields_the_whole_identifier() {
    let w = world();
    // A processing instruction is signed: C14N without comments drops comments only, and keeps PIs (C14N 1.0
    // §2.3; the "C14N drops them" holds for comments). So the sender puts one in before sealing.
    let clear = o2o::clear_envelope().replacen("<xha:Header>", "<xha:Header><?route to=here?>", 1);
    let doc = parse(&clear, &Limits::default()).unwrap();
    let sealed = xmlsec::seal(&doc, &w.s.sender.signing_key(), &w.s.recipient.cert).unwrap();
    let whole = "0203:region-b.example.se";
    assert!(sealed.contains(whole), "the fixture names the receiver");
    assert!(sealed.contains("<?route to=here?>"));
    // A comment added after signing, as a relaying party could: unsigned, and harmless only if read through.
    let commented = sealed.replacen(whole, "0203:region-b<!-- a note -->.example.se", 1);
    assert_ne!(commented, sealed);
    assert!(
        xmlsec1_verifies(&w, "commented.xml", &commented),
        "xmlsec1 takes the signature with the comment and the signed processing instruction"
    );
    // A processing instruction added after signing changes the canonical form: refused by both.
    let injected = sealed.replacen("<?route to=here?>", "<?route to=elsewhere?>", 1);
    assert!(!xmlsec1_verifies(&w, "injected-pi.xml", &injected));
    assert!(open(&w, &injected).is_err());
    let opened = open(&w, &commented).expect("a comment or PI does not break the signature");
    // What the node reads from the tree it verified: the whole identifier, not the text before the comment.
    let doc = parse(&commented, &Limits::default()).unwrap();
    let to = doc
        .root()
        .descendants_or_self()
        .into_iter()
        .find(|e| e.local() == "ToParty")
        .and_then(|p| p.children().find(|c| c.local() == "PartyIdentification"))
        .and_then(|p| p.children().find(|c| c.local() == "ID"))
        .expect("ToParty/PartyIdentification/ID")
        .text();
    assert_eq!(to, whole);
    // And the envelope decrypted from it, parsed as the node parses it, names the same receiver.
    let xhe = Xhe::parse(opened.decrypted.xhe.as_bytes(), &Limits::default()).expect("valid");
    assert_eq!(xhe.to, whole);
    // Changing the value beside the comment is still caught, by us and by xmlsec1.
    let changed = commented.replacen(".example.se", ".example.org", 1);
    assert!(open(&w, &changed).is_err());
    assert!(!xmlsec1_verifies(&w, "changed.xml", &changed));
}

#[test]
fn a_receipt_made_from_each_digg_example_and_sealed_is_accepted_with_its_comments() {
    let w = world();
    let examples = common::sdk_docs().join("receipt/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        let raw = std::fs::read_to_string(&path).unwrap();
        assert!(raw.contains("<!--"), "{} carries comments", path.display());
        let receipt = Receipt::parse(raw.as_bytes(), &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The envelope the node would write for this receipt, with DIGG's text (comments and all) as payload.
        let xhe = Xhe::for_receipt(
            receipt.clone(),
            "function-1",
            FEDERATION_TEST,
            TransportModel::BaseExtSigEnc,
        )
        .to_xml()
        .unwrap();
        let start = xhe.find("<xha:PayloadContent>").unwrap() + "<xha:PayloadContent>".len();
        let end = xhe.find("</xha:PayloadContent>").unwrap();
        let body = raw
            .trim_start()
            .strip_prefix("<?xml")
            .map_or(raw.as_str(), |rest| &rest[rest.find("?>").unwrap() + 2..]);
        let with_digg_text = format!(
            "{}{body}{}",
            &xhe[..start].replacen(
                "<xha:Header>",
                "<xha:Header><!-- made from DIGG's example -->",
                1
            ),
            &xhe[end..]
        );
        let doc = parse(&with_digg_text, &Limits::default()).unwrap();
        let sealed = xmlsec::seal(&doc, &w.s.sender.signing_key(), &w.s.recipient.cert)
            .unwrap_or_else(|e| panic!("{}: sealing: {e}", path.display()));
        assert!(sealed.contains("<!-- made from DIGG's example -->"));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(xmlsec1_verifies(&w, &name, &sealed), "{name}: xmlsec1");
        let opened = open(&w, &sealed).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Our sealer encrypts the receipt element as it re-serializes it (comments inside it are not
        // carried); what DIGG put before the element stays, signed-over, in the envelope.
        assert!(
            sealed.matches("<!--").count() > 1,
            "{name}: DIGG's comments kept"
        );
        let read = Receipt::parse(&opened.decrypted.payload, &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: the decrypted receipt: {e}"));
        assert_eq!(
            read, receipt,
            "{name}: the same values read through the comments"
        );
        seen += 1;
    }
    assert_eq!(seen, 5, "DIGG's five receipt examples");
}

#[test]
fn a_receipts_values_are_read_through_comments() {
    let raw = std::fs::read_to_string(
        common::sdk_docs().join("receipt/examples/Kvittens_AP-Accepterat.xml"),
    )
    .unwrap();
    let plain = Receipt::parse(raw.as_bytes(), &Limits::default()).unwrap();
    // DIGG's example has a comment right after the response code; split the code and the reference too.
    let split = raw
        .replacen(">ACCEPTED<", ">ACC<!-- x -->EPTED<", 1)
        .replacen("ID-FROM-XHE-12354689", "ID-FROM-<!-- y -->XHE-12354689", 1)
        .replacen("0203:myndighetA.org", "0203:<?pi?>myndighetA.org", 1);
    assert_ne!(split, raw);
    let read = Receipt::parse(split.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(read, plain);
    assert_eq!(read.document_reference, "ID-FROM-XHE-12354689");
    assert_eq!(read.sender, "0203:myndighetA.org");
}
