//! Addressing (SDK §6): identifiers in SMP URLs, SML names against an independent computation, and SMP
//! documents our client verifies — and refuses when tampered with or signed by the wrong SMP — checked by
//! xmlsec1 and parsed by Python's lxml.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::o2o::{Party, party};
use sdk_relay::directory::sml::bdxl_name;
use sdk_relay::directory::smp::{self, ServiceMetadata, SmpError, SmpTrust};
use sdk_relay::directory::{ParticipantId, percent_encode, service_metadata_path};
use sdk_relay::pki::federation::Federation;
use sdk_relay::pki::{Checker, Purpose, RevocationPolicy, TrustStore, Verdict};
use sdk_relay::xmlsec::SigningKey;

const DOC_ID: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";

#[test]
fn identifiers_are_percent_encoded_as_sdk_shows() {
    // SDK §6.4's example URL, segment by segment (its document id is the old v2 one, lower-cased).
    assert_eq!(
        percent_encode("iso6523-actorid-upis::0203:receivingexample.se"),
        "iso6523-actorid-upis%3A%3A0203%3Areceivingexample.se"
    );
    assert_eq!(
        percent_encode(
            "busdox-docid-qns::urn:riv:infrastructure:messaging:messagewithattachments:2::message::2.0::tm-base-ext-sigenc"
        ),
        "busdox-docid-qns%3A%3Aurn%3Ariv%3Ainfrastructure%3Amessaging%3Amessagewithattachments%3A2%3A%3Amessage%3A%3A2.0%3A%3Atm-base-ext-sigenc"
    );
    // §6.3: `::` → `%3A%3A`, `##` → `%23%23`.
    let participant = ParticipantId::parse("0203:receivingexample.se").unwrap();
    assert_eq!(
        service_metadata_path(&participant, DOC_ID),
        "/iso6523-actorid-upis%3A%3A0203%3Areceivingexample.se/services/busdox-docid-qns%3A%3Aurn%3Ariv%3Ainfrastructure%3Amessaging%3AMessageWithAttachments%3A3%3A%3AmessagePayload%23%233.0%3A%3Atm-base-ext-sigenc"
    );
}

#[test]
fn bdxl_names_match_pythons_hashlib_and_base32() {
    for id in [
        "0203:digg-qa01.example.se",
        "0203:Sundbyberg.se",
        "0007:2021006883",
    ] {
        let participant = ParticipantId::parse(id).unwrap();
        let ours = bdxl_name(&participant, "acc.edelivery.tech.ec.europa.eu");
        let script = "import base64,hashlib,sys; v=sys.argv[1].lower(); \
            print(base64.b32encode(hashlib.sha256(v.encode()).digest()).decode().rstrip('='))";
        let out = Command::new("python3")
            .args(["-c", script, id])
            .output()
            .expect("python3");
        let theirs = String::from_utf8(out.stdout).unwrap().trim().to_lowercase();
        assert_eq!(
            ours,
            format!("{theirs}.iso6523-actorid-upis.acc.edelivery.tech.ec.europa.eu"),
            "{id}"
        );
    }
}

struct World {
    dir: tempfile::TempDir,
    fed: Federation,
    smp: Party,
    other_env_smp: Party,
    ap: Party,
    org_sign: Party,
    org_encrypt: Party,
    data_dir: PathBuf,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let fed = common::pki::federation(&dir.path().join("fed"), "dir-test");
    let other = common::pki::federation(&dir.path().join("other"), "other-env");
    let data_dir = dir.path().join("node");
    common::pki::trust_federation(&data_dir, &fed);
    common::pki::trust_federation(&data_dir, &other);
    World {
        smp: party(dir.path(), &fed, Purpose::Smp, "SMP0001-SDK-TEST", "smp"),
        other_env_smp: party(
            dir.path(),
            &other,
            Purpose::Smp,
            "SMP0001-SDK-TEST",
            "smp-other",
        ),
        ap: party(dir.path(), &fed, Purpose::Ap, "AP0002-SDK-TEST", "ap"),
        org_sign: party(dir.path(), &fed, Purpose::O2oSign, "Region B", "org-sign"),
        org_encrypt: party(
            dir.path(),
            &fed,
            Purpose::O2oEncrypt,
            "Region B",
            "org-encrypt",
        ),
        fed,
        data_dir,
        dir,
    }
}

fn metadata(w: &World) -> ServiceMetadata {
    ServiceMetadata {
        participant: ParticipantId::parse("0203:region-b.example.se").unwrap(),
        document_id: DOC_ID.to_owned(),
        process_id: "bdx:noprocess".to_owned(),
        endpoint_url: "https://ap2.region-b.example.se/as4".to_owned(),
        ap_certificate: w.ap.cert.clone(),
        signing_certificate: Some(w.org_sign.cert.clone()),
        encryption_certificate: Some(w.org_encrypt.cert.clone()),
    }
}

fn signed_by(w: &World, smp: &Party) -> String {
    smp::write_signed_service_metadata(
        &metadata(w),
        &SigningKey::new(&smp.key, smp.cert.clone()).unwrap(),
    )
    .unwrap()
}

fn read(w: &World, bytes: &[u8]) -> Result<ServiceMetadata, SmpError> {
    let trust = TrustStore::open(&w.data_dir).load().unwrap();
    let checker = Checker::new(&trust, RevocationPolicy::default());
    let env = common::pki::env("dir-test");
    smp::read_signed_service_metadata(
        bytes,
        &SmpTrust {
            checker: &checker,
            env: &env,
            at: time::OffsetDateTime::now_utc(),
        },
    )
}

#[test]
fn our_client_verifies_what_our_smp_publishes_and_refuses_tampering_and_wrong_smps() {
    let w = world();
    let published = signed_by(&w, &w.smp);
    assert_eq!(
        read(&w, published.as_bytes()).expect("verifies"),
        metadata(&w)
    );

    // One byte of the endpoint URL, or of a certificate, changed after signing.
    let url = published.replacen("ap2.region-b", "ap3.region-b", 1);
    assert!(matches!(
        read(&w, url.as_bytes()),
        Err(SmpError::Signature(_))
    ));
    let b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        &w.org_encrypt.cert,
    );
    let at = published.find(&b64).unwrap() + 100;
    let mut cert = published.clone().into_bytes();
    cert[at] = if cert[at] == b'A' { b'B' } else { b'A' };
    assert!(matches!(read(&w, &cert), Err(SmpError::Signature(_))));

    // An SMP of another environment.
    match read(&w, signed_by(&w, &w.other_env_smp).as_bytes()) {
        Err(SmpError::Untrusted {
            verdict: Verdict::WrongEnvironment { .. },
            ..
        }) => {}
        other => panic!("expected WrongEnvironment, got {other:?}"),
    }
    // A revoked SMP certificate, once the CRL is known.
    w.fed.revoke(&w.smp.cert).unwrap();
    common::pki::import_crls(&w.data_dir, &w.fed);
    match read(&w, published.as_bytes()) {
        Err(SmpError::Untrusted {
            verdict: Verdict::Revoked,
            subject,
        }) => assert!(subject.contains("SMP0001")),
        other => panic!("expected Revoked, got {other:?}"),
    }
}

#[test]
fn unknown_extensions_are_ignored() {
    let w = world();
    let smp_key = SigningKey::new(&w.smp.key, w.smp.cert.clone()).unwrap();
    let unsigned_with_extra = smp::write_signed_service_metadata(&metadata(&w), &smp_key)
        .unwrap()
        .replacen(
            "<Extension>",
            "<Extension><ExtensionID>urn:example:other</ExtensionID><x:Other xmlns:x=\"urn:example\">1</x:Other></Extension><Extension>",
            1,
        );
    // Re-sign the changed document (strip the old signature first).
    let start = unsigned_with_extra.find("<ds:Signature").unwrap();
    let end = unsigned_with_extra.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let stripped = format!(
        "{}{}",
        &unsigned_with_extra[..start],
        &unsigned_with_extra[end..]
    );
    let doc = sdk_relay::xml::parse(&stripped, &sdk_relay::xml::Limits::default()).unwrap();
    let resigned = sdk_relay::xmlsec::sign_document(&doc, &smp_key).unwrap();
    assert_eq!(read(&w, resigned.as_bytes()).unwrap(), metadata(&w));
}

#[test]
fn what_we_publish_parses_with_lxml_and_verifies_with_xmlsec1() {
    let w = world();
    let ssm = w.dir.path().join("ssm.xml");
    std::fs::write(&ssm, signed_by(&w, &w.smp)).unwrap();
    let participant = ParticipantId::parse("0203:region-b.example.se").unwrap();
    let group = w.dir.path().join("group.xml");
    std::fs::write(
        &group,
        smp::write_service_group("https://smp.example.se/", &participant, &[DOC_ID]),
    )
    .unwrap();

    assert_eq!(
        common::oracle_verify(&ssm),
        Some(true),
        "xmlsec1 verifies the SMP signature"
    );
    let python = dirs_home().join(".cache/sdk-oracle/bin/python");
    assert!(
        python.exists(),
        "the oracle's Python (with lxml) is set up by .ci/run: {}",
        python.display()
    );
    let script = r#"
import sys
from lxml import etree
ns = {"s": "http://docs.oasis-open.org/bdxr/ns/SMP/2016/05"}
g = etree.parse(sys.argv[1])
print(g.xpath("string(/s:ServiceGroup/s:ParticipantIdentifier)", namespaces=ns))
print(g.xpath("string(//s:ServiceMetadataReference/@href)", namespaces=ns))
m = etree.parse(sys.argv[2])
print(m.xpath("string(//s:Endpoint/@transportProfile)", namespaces=ns))
print(m.xpath("string(//s:EndpointURI)", namespaces=ns))
print(len(m.xpath("//*[local-name()='Certificate' and namespace-uri()='http://docs.oasis-open.org/bdxr/ns/SMP/2/AggregateComponents']")))
"#;
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(&group)
        .arg(&ssm)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines[0], "0203:region-b.example.se");
    assert_eq!(
        lines[1],
        format!(
            "https://smp.example.se{}",
            service_metadata_path(&participant, DOC_ID)
        )
    );
    assert_eq!(lines[2], "digg-transport-as4-v1_0");
    assert_eq!(lines[3], "https://ap2.region-b.example.se/as4");
    assert_eq!(lines[4], "2");
    assert_eq!(
        smp::read_service_group(&std::fs::read(&group).unwrap()).unwrap(),
        vec![lines[1].clone()]
    );
}

fn dirs_home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME"))
}

fn sml_zone() -> (
    &'static str,
    ParticipantId,
    Vec<(String, Vec<common::dns::Record>)>,
) {
    let zone = "sml.test.example";
    let registered = ParticipantId::parse("0203:region-b.example.se").unwrap();
    let records = vec![(
        bdxl_name(&registered, zone),
        vec![
            (
                20,
                "Meta:SMP",
                "!^.*$!https://backup-smp.example.se!".to_owned(),
            ),
            (10, "Meta:SMP", "!^.*$!https://smp.example.se!".to_owned()),
            (
                5,
                "Meta:Other",
                "!^.*$!https://not-an-smp.example.se!".to_owned(),
            ),
        ],
    )];
    (zone, registered, records)
}

fn sml_lookup(
    participant: &ParticipantId,
    config: &sdk_relay::directory::sml::SmlConfig,
) -> Result<String, sdk_relay::directory::sml::SmlError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(sdk_relay::directory::sml::lookup(participant, config))
}

/// A loopback port with nothing behind it on UDP or TCP.
fn closed_port() -> std::net::SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn the_sml_naptr_answer_from_a_loopback_dns_server_gives_the_smp_url() {
    use sdk_relay::directory::sml::{SmlConfig, SmlError};
    let (zone, registered, records) = sml_zone();
    let server = common::dns::dns_server(records);
    let config = SmlConfig {
        zone: zone.to_owned(),
        servers: vec![server],
        timeout: std::time::Duration::from_secs(2),
    };
    assert_eq!(
        sml_lookup(&registered, &config).unwrap(),
        "https://smp.example.se"
    );
    let unknown = ParticipantId::parse("0203:nobody.example.se").unwrap();
    assert!(matches!(
        sml_lookup(&unknown, &config),
        Err(SmlError::NotRegistered { .. })
    ));
    // Nothing listens there: the SML is unreachable (retry), not "not registered".
    let config = SmlConfig {
        servers: vec![closed_port()],
        timeout: std::time::Duration::from_millis(300),
        ..config
    };
    assert!(matches!(
        sml_lookup(&registered, &config),
        Err(SmlError::Unreachable(_))
    ));
}

/// Issue 20 item 3: an answer too large for UDP (TC set) is asked again over TCP; a second server is asked
/// when the first does not answer; one NXDOMAIN (as a forger would send) does not make a participant
/// unregistered — only a repeated one does.
#[test]
fn sml_lookups_use_tcp_for_truncated_answers_a_second_server_and_distrust_one_nxdomain() {
    use common::dns::{Quirks, dns_server_with};
    use sdk_relay::directory::sml::{SmlConfig, SmlError};
    let (zone, registered, records) = sml_zone();
    let config = |servers| SmlConfig {
        zone: zone.to_owned(),
        servers,
        timeout: std::time::Duration::from_millis(500),
    };

    let (truncating, _) = dns_server_with(
        records.clone(),
        Quirks {
            truncate_udp: true,
            ..Quirks::default()
        },
    );
    assert_eq!(
        sml_lookup(&registered, &config(vec![truncating])).unwrap(),
        "https://smp.example.se",
        "the truncated UDP answer was not retried over TCP"
    );

    let (second, asked) = dns_server_with(records.clone(), Quirks::default());
    assert_eq!(
        sml_lookup(&registered, &config(vec![closed_port(), second])).unwrap(),
        "https://smp.example.se"
    );
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    let (forged_once, asked) = dns_server_with(
        records,
        Quirks {
            deny_first: true,
            ..Quirks::default()
        },
    );
    assert_eq!(
        sml_lookup(&registered, &config(vec![forged_once])).unwrap(),
        "https://smp.example.se",
        "one NXDOMAIN was taken as final"
    );
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 2);
    // Denied every time: not registered, after asking twice.
    let (empty, asked) = dns_server_with(Vec::new(), Quirks::default());
    assert!(matches!(
        sml_lookup(&registered, &config(vec![empty])),
        Err(SmlError::NotRegistered { .. })
    ));
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 2);
}
