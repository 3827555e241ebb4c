//! CertPub and SMP details of issue 19 (points 7 and 12): a CertPub certificate read as base64 DER or as PEM,
//! `smp serve`'s SignedServiceMetadata with one Extension per certificate (and the older one-Extension shape
//! still read), the accepted endpoint transport profiles configurable, and the AS4 ConversationId of what a
//! node sends equal to the SDK conversationId, for messages and for Meddelandekvittenser.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use common::node::{World, created_id, message_to};
use common::o2o::{Party, party};
use rustls_pki_types::CertificateDer;
use sdk_relay::config::NodeConfig;
use sdk_relay::directory::ParticipantId;
use sdk_relay::directory::ids::PARTICIPANT_SCHEME;
use sdk_relay::directory::smp::{
    self, CERTPUB_ENCRYPTION, CERTPUB_EXTENSION, CERTPUB_SIGNING, SMB_NS, SMC_NS, SMP_NS,
    ServiceMetadata, SmpError, SmpTrust,
};
use sdk_relay::lab::{MESSAGE_DOC, RECEIPT_DOC};
use sdk_relay::pki::{Checker, Purpose, RevocationPolicy, TrustStore};
use sdk_relay::xml::Limits;

const DOC_ID: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";

struct Fed {
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    smp: Party,
    ap: Party,
    sign: Party,
    enc: Party,
}

fn fed() -> Fed {
    let dir = tempfile::tempdir().unwrap();
    let fed = common::pki::federation(&dir.path().join("fed"), "certpub-test");
    let data_dir = dir.path().join("node");
    common::pki::trust_federation(&data_dir, &fed);
    let d = dir.path();
    Fed {
        smp: party(d, &fed, Purpose::Smp, "SMP0001-SDK-TEST", "smp"),
        ap: party(d, &fed, Purpose::Ap, "AP0002-SDK-TEST", "ap"),
        sign: party(d, &fed, Purpose::O2oSign, "Region B", "sign"),
        enc: party(d, &fed, Purpose::O2oEncrypt, "Region B", "enc"),
        data_dir,
        _dir: dir,
    }
}

fn b64(cert: &CertificateDer<'_>) -> String {
    base64::engine::general_purpose::STANDARD.encode(cert)
}

fn pem(cert: &CertificateDer<'static>) -> String {
    sdk_relay::pki::cert::to_pem(std::slice::from_ref(cert))
}

fn certificate(type_code: &str, body: &str) -> String {
    format!(
        "<smc:Certificate xmlns:smc=\"{SMC_NS}\" xmlns:smb=\"{SMB_NS}\"><smb:TypeCode>{type_code}</smb:TypeCode>\
         <smb:ContentBinaryObject mimeCode=\"application/base64\">{body}</smb:ContentBinaryObject></smc:Certificate>"
    )
}

fn extension(certificates: &[String]) -> String {
    format!(
        "<Extension><ExtensionID>{CERTPUB_EXTENSION}</ExtensionID>{}</Extension>",
        certificates.concat()
    )
}

/// A ServiceMetadata document (unsigned) with one endpoint per profile, each with the AP certificate.
fn metadata_xml(f: &Fed, profiles: &[&str], extensions: &str) -> String {
    let endpoints: String = profiles
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "<Endpoint transportProfile=\"{p}\"><EndpointURI>https://ap{i}.example.se/as4</EndpointURI>\
                 <Certificate>{}</Certificate></Endpoint>",
                b64(&f.ap.cert)
            )
        })
        .collect();
    format!(
        "<SignedServiceMetadata xmlns=\"{SMP_NS}\"><ServiceMetadata><ServiceInformation>\
         <ParticipantIdentifier scheme=\"{PARTICIPANT_SCHEME}\">0203:region-b.example.se</ParticipantIdentifier>\
         <DocumentIdentifier scheme=\"busdox-docid-qns\">{DOC_ID}</DocumentIdentifier>\
         <ProcessList><Process><ProcessIdentifier scheme=\"cenbii-procid-ubl\">bdx:noprocess</ProcessIdentifier>\
         <ServiceEndpointList>{endpoints}</ServiceEndpointList></Process></ProcessList>{extensions}\
         </ServiceInformation></ServiceMetadata></SignedServiceMetadata>"
    )
}

fn sign(f: &Fed, xml: &str) -> String {
    let doc = sdk_relay::xml::parse(xml, &Limits::default()).unwrap();
    sdk_relay::xmlsec::sign_document(&doc, &f.smp.signing_key()).unwrap()
}

fn read_for(f: &Fed, signed: &str, profiles: &[&str]) -> Result<ServiceMetadata, SmpError> {
    let trust = TrustStore::open(&f.data_dir).load().unwrap();
    let checker = Checker::new(&trust, RevocationPolicy::default());
    let env = common::pki::env("certpub-test");
    smp::read_signed_service_metadata_for(
        signed.as_bytes(),
        &SmpTrust {
            checker: &checker,
            env: &env,
            at: time::OffsetDateTime::now_utc(),
        },
        profiles,
    )
}

const DEFAULT: [&str; 2] = ["digg-transport-as4-v1_0", "digg-transport-as4-v1_2"];

/// CertPub REST binding §2.2 calls the ContentBinaryObject "the certificate in PEM format (base64 encoded)":
/// both readings are taken, with any line breaks and indentation.
#[test]
fn a_certpub_certificate_is_read_as_base64_der_or_as_pem() {
    let f = fed();
    let wrapped: String = b64(&f.sign.cert)
        .as_bytes()
        .chunks(64)
        .map(|l| format!("\n    {}", String::from_utf8_lossy(l)))
        .collect();
    let forms = [
        ("base64 DER", b64(&f.enc.cert), b64(&f.sign.cert)),
        (
            "wrapped base64 DER",
            b64(&f.enc.cert),
            format!("{wrapped}\n  "),
        ),
        ("PEM", pem(&f.enc.cert), pem(&f.sign.cert)),
        (
            "indented PEM",
            format!("\n   {}   ", pem(&f.enc.cert).replace('\n', "\n      ")),
            format!("\r\n{}\r\n", pem(&f.sign.cert).replace('\n', "\r\n")),
        ),
    ];
    for (what, enc, signing) in forms {
        let xml = metadata_xml(
            &f,
            &DEFAULT[..1],
            &extension(&[
                certificate(CERTPUB_SIGNING, &signing),
                certificate(CERTPUB_ENCRYPTION, &enc),
            ]),
        );
        let meta =
            read_for(&f, &sign(&f, &xml), &DEFAULT).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            meta.signing_certificate.as_ref(),
            Some(&f.sign.cert),
            "{what}"
        );
        assert_eq!(
            meta.encryption_certificate.as_ref(),
            Some(&f.enc.cert),
            "{what}"
        );
    }
}

#[test]
fn a_certpub_certificate_that_is_neither_is_refused_clearly() {
    let f = fed();
    let der = b64(&f.sign.cert);
    let pem_text = pem(&f.sign.cert);
    let garbage = [
        (
            "not base64",
            "this is no certificate!".to_owned(),
            "neither base64 DER nor PEM",
        ),
        (
            "base64 of no certificate",
            base64::engine::general_purpose::STANDARD.encode(b"hello world"),
            "signing certificate",
        ),
        (
            "PEM without its END line",
            pem_text.replace("-----END CERTIFICATE-----", ""),
            "END CERTIFICATE",
        ),
        (
            "a PEM private key",
            format!("-----BEGIN PRIVATE KEY-----\n{der}\n-----END PRIVATE KEY-----"),
            "neither base64 DER nor a PEM CERTIFICATE",
        ),
        (
            "PEM with garbage inside",
            pem_text.replace(&der[10..20], "!!!!!!!!!!"),
            "neither base64 DER nor PEM",
        ),
    ];
    for (what, body, expected) in garbage {
        let xml = metadata_xml(
            &f,
            &DEFAULT[..1],
            &extension(&[certificate(CERTPUB_SIGNING, &body)]),
        );
        let e = read_for(&f, &sign(&f, &xml), &DEFAULT)
            .expect_err(what)
            .to_string();
        assert!(e.contains("the CertPub signing certificate"), "{what}: {e}");
        assert!(e.contains(expected), "{what}: {e}");
    }
}

/// CertPub REST binding §2.2: Extension 1..n, each with exactly one smc:Certificate.
#[test]
fn smp_serve_writes_one_certpub_extension_per_certificate() {
    let f = fed();
    let meta = ServiceMetadata {
        participant: ParticipantId::parse("0203:region-b.example.se").unwrap(),
        document_id: DOC_ID.to_owned(),
        process_id: "bdx:noprocess".to_owned(),
        endpoint_url: "https://ap2.region-b.example.se/as4".to_owned(),
        ap_certificate: f.ap.cert.clone(),
        signing_certificate: Some(f.sign.cert.clone()),
        encryption_certificate: Some(f.enc.cert.clone()),
    };
    let signed = smp::write_signed_service_metadata(&meta, &f.smp.signing_key()).unwrap();
    let doc = sdk_relay::xml::parse(&signed, &Limits::default()).unwrap();
    let info = doc
        .root()
        .child(SMP_NS, "ServiceMetadata")
        .and_then(|m| m.child(SMP_NS, "ServiceInformation"))
        .unwrap();
    let extensions: Vec<_> = info.children_named(SMP_NS, "Extension").collect();
    assert_eq!(extensions.len(), 2, "{signed}");
    let mut types = Vec::new();
    for e in extensions {
        assert_eq!(
            e.child(SMP_NS, "ExtensionID").unwrap().text(),
            CERTPUB_EXTENSION
        );
        let certs: Vec<_> = e.children_named(SMC_NS, "Certificate").collect();
        assert_eq!(certs.len(), 1, "{signed}");
        types.push(certs[0].child(SMB_NS, "TypeCode").unwrap().text());
    }
    assert_eq!(types, [CERTPUB_SIGNING, CERTPUB_ENCRYPTION]);
    // And it reads back.
    let back = read_for(&f, &signed, &DEFAULT).unwrap();
    assert_eq!(back, meta);

    // The older shape (both certificates in one Extension) is still read.
    let old = metadata_xml(
        &f,
        &DEFAULT[..1],
        &extension(&[
            certificate(CERTPUB_SIGNING, &b64(&f.sign.cert)),
            certificate(CERTPUB_ENCRYPTION, &b64(&f.enc.cert)),
        ]),
    );
    let back = read_for(&f, &sign(&f, &old), &DEFAULT).unwrap();
    assert_eq!(back.signing_certificate, Some(f.sign.cert.clone()));
    assert_eq!(back.encryption_certificate, Some(f.enc.cert.clone()));
}

#[test]
fn the_endpoint_is_the_first_accepted_transport_profile_in_configuration_order() {
    let f = fed();
    let none = String::new();
    // Only v1_2 published: taken by the default list.
    let v12 = sign(&f, &metadata_xml(&f, &["digg-transport-as4-v1_2"], &none));
    let meta = read_for(&f, &v12, &DEFAULT).unwrap();
    assert_eq!(meta.endpoint_url, "https://ap0.example.se/as4");
    // ... and by the library's default reader too.
    let meta = smp::read_unverified_service_metadata(v12.as_bytes()).unwrap();
    assert_eq!(meta.endpoint_url, "https://ap0.example.se/as4");

    // Unknown profile only: refused, naming what was offered and what is accepted.
    let unknown = sign(&f, &metadata_xml(&f, &["peppol-transport-as4-v2_0"], &none));
    let e = read_for(&f, &unknown, &DEFAULT).unwrap_err().to_string();
    assert!(
        e.contains("no endpoint with an accepted transport profile"),
        "{e}"
    );
    assert!(e.contains("offered: peppol-transport-as4-v2_0"), "{e}");
    assert!(
        e.contains("digg-transport-as4-v1_0, digg-transport-as4-v1_2"),
        "{e}"
    );

    // Several published: configuration order decides, not document order.
    let both = sign(
        &f,
        &metadata_xml(
            &f,
            &["digg-transport-as4-v1_0", "digg-transport-as4-v1_2"],
            &none,
        ),
    );
    let v10_first = read_for(&f, &both, &DEFAULT).unwrap();
    assert_eq!(v10_first.endpoint_url, "https://ap0.example.se/as4");
    let v12_first = read_for(
        &f,
        &both,
        &["digg-transport-as4-v1_2", "digg-transport-as4-v1_0"],
    )
    .unwrap();
    assert_eq!(v12_first.endpoint_url, "https://ap1.example.se/as4");
    // A configuration that takes only v1_0 refuses a v1_2-only answer.
    let e = read_for(&f, &v12, &["digg-transport-as4-v1_0"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("accepted: digg-transport-as4-v1_0"), "{e}");
}

fn config_with(smp_extra: &str) -> Result<NodeConfig, String> {
    let dir = tempfile::tempdir().unwrap();
    let text = sdk_relay::config::template("test", "test", "data")
        .replace("[smp]\n", &format!("[smp]\n{smp_extra}\n"));
    let path = dir.path().join("node.toml");
    std::fs::write(&path, text).unwrap();
    NodeConfig::load(&path).map_err(|e| format!("{e:?}"))
}

#[test]
fn smp_transport_profiles_are_configurable_with_digg_defaults() {
    let default = config_with("").unwrap();
    assert_eq!(default.smp.transport_profiles, DEFAULT);
    let one = config_with("transport_profiles = [\"digg-transport-as4-v1_2\"]").unwrap();
    assert_eq!(one.smp.transport_profiles, ["digg-transport-as4-v1_2"]);
    for bad in ["[]", "[\"digg-transport-as4-v1_0\", \" \"]"] {
        let e = config_with(&format!("transport_profiles = {bad}")).unwrap_err();
        assert!(
            e.contains("[smp] transport_profiles must name"),
            "{bad}: {e}"
        );
    }
}

/// A TLS server with `node`'s own TLS certificate that keeps the head of every request it gets (up to the end
/// of eb:ConversationId) and answers 503, so the sender keeps the message and retries.
fn capture(rt: &tokio::runtime::Runtime, data: &Path) -> (u16, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let acceptor = common::pki::tls_acceptor(data);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, kept) = (acceptor.clone(), kept.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 16384];
                while head.len() < 4 << 20 {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    if String::from_utf8_lossy(&head).contains("ConversationId>") {
                        break;
                    }
                }
                kept.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
                let _ = tls
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, seen)
}

fn conversation_ids(seen: &Mutex<Vec<String>>) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .filter_map(|r| {
            let (_, rest) = r.split_once("ConversationId>")?;
            let (value, _) = rest.split_once("</")?;
            Some(value.trim().to_owned())
        })
        .collect()
}

fn wait_for(seen: &Mutex<Vec<String>>, value: &str) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let ids = conversation_ids(seen);
        if ids.iter().any(|c| c == value) || Instant::now() > until {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// B1.3.3 1.5.2: eb:CollaborationInfo/ConversationId is the SDK conversationId — for a message, and for the
/// Meddelandekvittens answering one (its message's conversation). Region B is published at a capture server
/// holding B's TLS certificate, so what Kommun A sends B (a message, and a receipt for B's message) is seen.
#[test]
fn the_as4_conversation_id_is_the_sdk_conversation_id_for_messages_and_receipts() {
    let world = World::new();
    let rt = &world.rt;
    let (mut a, mut b) = world.pair();
    let (port, seen) = capture(rt, &b.data);
    let endpoint = format!("https://127.0.0.1:{port}/as4");
    for doc in [MESSAGE_DOC, RECEIPT_DOC] {
        world.publish(&b, doc, &endpoint);
    }
    a.start();
    b.start();

    // A to B, in a conversation begun earlier (not the message's own id).
    let conversation = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    let mut body = message_to(&a, &b, "Svar", "Hej");
    body["data"]["attributes"]["conversationId"] = conversation.into();
    let id = created_id(&a.post(rt, &body));
    assert_ne!(id, conversation);
    let ids = wait_for(&seen, conversation);
    assert!(ids.iter().any(|c| c == conversation), "{ids:?}");
    assert!(!ids.contains(&id), "{ids:?}");

    // B to A (A is published at its real endpoint): A's Meddelandekvittens goes to B's capture server and
    // carries the conversation of B's message, not the receipt's own id.
    let conversation_b = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
    let mut body = message_to(&b, &a, "Fråga", "Hej A");
    body["data"]["attributes"]["conversationId"] = conversation_b.into();
    let _id_b = created_id(&b.post(rt, &body));
    let ids = wait_for(&seen, conversation_b);
    assert!(ids.iter().any(|c| c == conversation_b), "{ids:?}");
    // Nothing but the two conversations went out.
    assert!(
        ids.iter().all(|c| c == conversation || c == conversation_b),
        "{ids:?}"
    );
}
