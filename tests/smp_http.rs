//! The SMP over HTTP with real processes: `sdk-relay smp serve` publishes, our client (library and CLI) looks
//! participants up through it — directly and through the SML on a loopback DNS server — tells "not
//! registered" from "unreachable", and answers from its cache while the SMP is down.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::pki::{relay, stderr, stdout};
use sdk_relay::directory::ParticipantId;
use sdk_relay::directory::sml::bdxl_name;
use sdk_relay::directory::smp_http::{LookupError, SmpClient};
use sdk_relay::pki::{Purpose, TrustStore};

const DOC_ID: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";

struct Smp {
    _process: common::node::Proc,
    url: String,
}

fn start_smp(data_dir: &Path) -> Smp {
    let (process, url) = common::node::smp_serve(data_dir);
    Smp {
        _process: process,
        url,
    }
}

fn pem(dir: &Path, name: &str, cert: &rustls_pki_types::CertificateDer<'_>) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        sdk_relay::pki::cert::to_pem(std::slice::from_ref(cert)),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// A federation, an SMP data directory with its key, a node that trusts the federation, and `publish`, which
/// publishes a participant's AP and encryption certificates in the SMP.
struct Setup {
    fed: sdk_relay::pki::federation::Federation,
    smp_dir: std::path::PathBuf,
    node: std::path::PathBuf,
    ap: common::o2o::Party,
    enc: common::o2o::Party,
}

fn setup(d: &Path) -> Setup {
    let fed = common::pki::federation(&d.join("fed"), "smp-test");
    let smp_dir = d.join("smp");
    common::pki::issue_into(
        &smp_dir,
        &fed,
        Purpose::Smp,
        "SMP0001-SDK-TEST",
        &common::pki::fast(),
    );
    let node = d.join("node");
    common::pki::trust_federation(&node, &fed);
    let ap = common::o2o::party(d, &fed, Purpose::Ap, "AP0002-SDK-TEST", "ap");
    let enc = common::o2o::party(d, &fed, Purpose::O2oEncrypt, "Region B", "enc");
    Setup {
        fed,
        smp_dir,
        node,
        ap,
        enc,
    }
}

impl Setup {
    fn publish(&self, d: &Path, participant: &str) {
        let (smp_dir, ap, enc) = (&self.smp_dir, &self.ap, &self.enc);
        let out = relay(
            smp_dir,
            &[
                "smp",
                "publish",
                participant,
                "--document-type",
                DOC_ID,
                "--endpoint-url",
                "http://ap2.example.se/as4",
                "--ap-cert",
                &pem(d, "ap.pem", &ap.cert),
                "--encryption-cert",
                &pem(d, "enc.pem", &enc.cert),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

#[test]
fn lookups_through_a_running_smp_directly_and_through_the_sml() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let setup = setup(d);
    let (smp_dir, node, ap, enc) = (&setup.smp_dir, &setup.node, &setup.ap, &setup.enc);
    let publish = |participant: &str| setup.publish(d, participant);
    publish("0203:region-b.example.se");
    let smp = start_smp(smp_dir);

    // The library client: verified metadata, then "not registered" for a stranger.
    let trust = Arc::new(TrustStore::open(node).load().unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = SmpClient::new(
        trust.clone(),
        common::pki::env("smp-test"),
        Duration::from_secs(600),
    );
    let b = ParticipantId::parse("0203:region-b.example.se").unwrap();
    let meta = rt
        .block_on(client.lookup(&smp.url, &b, DOC_ID))
        .expect("lookup");
    assert_eq!(meta.endpoint_url, "http://ap2.example.se/as4");
    assert_eq!(meta.ap_certificate, ap.cert);
    assert_eq!(meta.encryption_certificate.as_ref(), Some(&enc.cert));
    let stranger = ParticipantId::parse("0203:nobody.example.se").unwrap();
    assert!(matches!(
        rt.block_on(client.lookup(&smp.url, &stranger, DOC_ID)),
        Err(LookupError::NotRegistered { .. })
    ));
    let refs = rt.block_on(client.service_group(&smp.url, &b)).unwrap();
    assert_eq!(refs.len(), 1);

    // Published while the SMP runs: visible at once (the CLI writes the same database).
    publish("0203:region-c.example.se");
    let c = ParticipantId::parse("0203:region-c.example.se").unwrap();
    assert!(rt.block_on(client.lookup(&smp.url, &c, DOC_ID)).is_ok());

    // The CLI, through the SML: NAPTR on a loopback DNS server → this SMP → verified answer.
    let zone = "sml.test.example";
    let dns = common::dns::dns_server(vec![(
        bdxl_name(&b, zone),
        vec![(10, "Meta:SMP", format!("!^.*$!{}!", smp.url))],
    )]);
    let out = relay(
        node,
        &[
            "smp",
            "lookup",
            "0203:region-b.example.se",
            DOC_ID,
            "--env",
            "smp-test",
            "--sml-zone",
            zone,
            "--dns",
            &dns.to_string(),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["endpoint_url"], "http://ap2.example.se/as4");
    assert_eq!(report["encryption_certificate"], "CN=Region B");

    // The SMP dies: the cached answer still serves; a fresh client says "unreachable" (retry), not
    // "not registered".
    let url = smp.url.clone();
    drop(smp);
    assert!(
        rt.block_on(client.lookup(&url, &b, DOC_ID)).is_ok(),
        "answered from the cache"
    );
    let fresh = SmpClient::new(
        trust,
        common::pki::env("smp-test"),
        Duration::from_secs(600),
    );
    assert!(matches!(
        rt.block_on(fresh.lookup(&url, &b, DOC_ID)),
        Err(LookupError::Unreachable { .. })
    ));
    let out = relay(
        node,
        &[
            "smp",
            "lookup",
            "0203:region-b.example.se",
            DOC_ID,
            "--env",
            "smp-test",
            "--smp-url",
            &url,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

/// A TLS front for the plain-HTTP SMP at `backend` (host:port), with the TLS certificate of `server_dir`.
fn tls_front(rt: &tokio::runtime::Runtime, server_dir: &Path, backend: String) -> u16 {
    let acceptor = common::pki::tls_acceptor(server_dir);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// An https SMP, as the SML names DIGG's: the client checks the server's certificate against the CA file
/// it is given (library and CLI), and refuses a server whose certificate another CA issued.
#[test]
fn lookups_over_https_check_the_smp_servers_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let setup = setup(d);
    setup.publish(d, "0203:region-b.example.se");
    let smp = start_smp(&setup.smp_dir);
    let server = d.join("smp-tls");
    common::pki::issue_into(
        &server,
        &setup.fed,
        Purpose::Tls,
        "localhost",
        &common::pki::fast(),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let port = tls_front(
        &rt,
        &server,
        smp.url.trim_start_matches("http://").to_owned(),
    );
    let url = format!("https://localhost:{port}");
    let tls_ca = pem(
        d,
        "tls-ca.pem",
        &setup.fed.ca_certificate("tls-ca").unwrap(),
    );
    let other_ca = pem(d, "ap-ca.pem", &setup.fed.ca_certificate("ap-ca").unwrap());

    let trust = Arc::new(TrustStore::open(&setup.node).load().unwrap());
    let client = |ca: &str| {
        SmpClient::new(
            trust.clone(),
            common::pki::env("smp-test"),
            Duration::from_secs(600),
        )
        .with_ca_file(Some(ca.into()))
    };
    let b = ParticipantId::parse("0203:region-b.example.se").unwrap();
    let meta = rt
        .block_on(client(&tls_ca).lookup(&url, &b, DOC_ID))
        .expect("lookup over https");
    assert_eq!(meta.ap_certificate, setup.ap.cert);
    match rt.block_on(client(&other_ca).lookup(&url, &b, DOC_ID)) {
        Err(LookupError::Unreachable { detail, .. }) => {
            assert!(detail.contains("TLS"), "{detail}");
        }
        other => panic!("a server certificate of another CA was accepted: {other:?}"),
    }

    let lookup = |ca: &str| {
        relay(
            &setup.node,
            &[
                "smp",
                "lookup",
                "0203:region-b.example.se",
                DOC_ID,
                "--env",
                "smp-test",
                "--smp-url",
                &url,
                "--ca-file",
                ca,
                "--json",
            ],
        )
    };
    let out = lookup(&tls_ca);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["endpoint_url"], "http://ap2.example.se/as4");
    let out = lookup(&other_ca);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}
