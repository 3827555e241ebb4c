//! The O2O layer: `seal` (encrypt to the recipient, sign as the sender) and `open` (verify, check the signer's
//! chain, decrypt) of an SDK envelope at 10 KB and 10 MB, with production-size RSA-3072 keys; beside them the
//! raw RSA private-key operations each message needs (one signature to seal, one OAEP decryption to open),
//! which bound the throughput, and xmlsec1 doing the same work on the same files (process start included).

mod support;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rustls_pki_types::CertificateDer;
use sdk_relay::envelope::ids::TransportModel;
use sdk_relay::pki::{Checker, Purpose, RevocationPolicy, Role, truststore::Trust};
use sdk_relay::xml::{Limits, parse};
use sdk_relay::xmlsec::{self, RsaPayloadKey, SignerPolicy, SigningKey, TrustCheck};

struct Keys {
    federation: support::BenchFederation,
    sender: (rcgen::KeyPair, CertificateDer<'static>),
    recipient: (rcgen::KeyPair, CertificateDer<'static>),
}

fn keys() -> Keys {
    let federation = support::BenchFederation::new();
    let sender = federation.issue(Purpose::O2oSign, "Kommun A");
    let recipient = federation.issue(Purpose::O2oEncrypt, "Region B");
    Keys {
        federation,
        sender,
        recipient,
    }
}

fn bench(c: &mut Criterion) {
    let k = keys();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&out).expect("bench-data dir");
    let signing = SigningKey::new(&k.sender.0, k.sender.1.clone()).expect("signing key");
    let payload_key =
        RsaPayloadKey::new(&k.recipient.0, k.recipient.1.clone()).expect("payload key");
    let o2o_ca = k
        .federation
        .fed
        .trust_files()
        .into_iter()
        .find(|(role, _)| *role == Role::O2o)
        .map(|(_, f)| f)
        .expect("O2O CA");
    let ca =
        sdk_relay::pki::read_certificates(&std::fs::read(&o2o_ca).expect("CA"), "ca").expect("CA");
    let env = k.federation.fed.env().clone();
    let trust = Trust::ad_hoc(&env, Role::O2o, ca, &[]).expect("trust");
    let checker = Checker::new(
        &trust,
        RevocationPolicy {
            enabled: false,
            ..RevocationPolicy::default()
        },
    );
    let files = XmlsecFiles::write(&out, &k);
    let limits = Limits::default();

    let mut group = c.benchmark_group("o2o");
    for (name, size) in [("10KB", 10 * 1024), ("10MB", 10 * 1024 * 1024)] {
        let clear = support::envelope_of_size(size, TransportModel::BaseExtSigEnc);
        let sealed = xmlsec::seal(
            &parse(&clear, &limits).expect("parses"),
            &signing,
            &k.recipient.1,
        )
        .expect("seal");
        std::fs::write(out.join(format!("o2o-clear-{name}.xml")), &clear).expect("write");
        std::fs::write(out.join(format!("o2o-sealed-{name}.xml")), &sealed).expect("write");
        group.throughput(Throughput::Bytes(clear.len() as u64));
        if size > 1024 * 1024 {
            group.sample_size(10);
        }
        group.bench_function(format!("seal/{name}"), |b| {
            b.iter(|| {
                let doc = parse(black_box(&clear), &limits).expect("parses");
                xmlsec::seal(&doc, &signing, &k.recipient.1)
                    .expect("seal")
                    .len()
            })
        });
        group.bench_function(format!("open/{name}"), |b| {
            b.iter(|| {
                let doc = parse(black_box(&sealed), &limits).expect("parses");
                let policy = SignerPolicy {
                    trust: Some(TrustCheck {
                        checker: &checker,
                        env: &env,
                        at: time::OffsetDateTime::now_utc(),
                    }),
                    pinned: Some(&k.sender.1),
                };
                xmlsec::open(&doc, &policy, &payload_key)
                    .expect("open")
                    .decrypted
                    .payload
                    .len()
            })
        });
        if let Some(xmlsec1) = &files {
            group.bench_function(format!("xmlsec1-seal/{name}"), |b| {
                b.iter(|| xmlsec1.seal(&out.join(format!("o2o-clear-{name}.xml"))))
            });
            group.bench_function(format!("xmlsec1-open/{name}"), |b| {
                b.iter(|| xmlsec1.open(&out.join(format!("o2o-sealed-{name}.xml"))))
            });
        }
    }
    group.finish();
    support::rsa_bound(c, &k.sender.0, &k.recipient.0);
}

/// xmlsec1 doing the same: encrypt then sign, verify then decrypt, as separate xmlsec1 runs (the way
/// xmlsec1-based tooling works), so each time includes two process starts.
struct XmlsecFiles {
    dir: PathBuf,
    sender: String,
    recipient_key: String,
    recipient_cert: PathBuf,
    enc_template: PathBuf,
}

impl XmlsecFiles {
    fn write(out: &Path, k: &Keys) -> Option<XmlsecFiles> {
        if Command::new("xmlsec1").arg("--version").output().is_err() {
            eprintln!("xmlsec1 is not installed: its comparison rows are left out");
            return None;
        }
        let pem = |name: &str, key: &rcgen::KeyPair, cert: &CertificateDer<'_>| {
            let key_path = out.join(format!("{name}.key.pem"));
            let cert_path = out.join(format!("{name}.cert.pem"));
            std::fs::write(&key_path, key.serialize_pem()).expect("write key");
            std::fs::write(
                &cert_path,
                sdk_relay::pki::cert::to_pem(std::slice::from_ref(cert)),
            )
            .expect("write cert");
            (key_path, cert_path)
        };
        let (sk, sc) = pem("o2o-sender", &k.sender.0, &k.sender.1);
        let (rk, rc) = pem("o2o-recipient", &k.recipient.0, &k.recipient.1);
        let enc_template = out.join("o2o-enc-template.xml");
        std::fs::write(&enc_template, ENC_TEMPLATE).expect("write template");
        Some(XmlsecFiles {
            dir: out.to_owned(),
            sender: format!("{},{}", sk.display(), sc.display()),
            recipient_key: format!("{},{}", rk.display(), rc.display()),
            recipient_cert: rc,
            enc_template,
        })
    }

    fn run(args: &[&std::ffi::OsStr]) {
        let status = Command::new("xmlsec1")
            .args(args)
            .output()
            .expect("xmlsec1");
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
    }

    fn seal(&self, clear: &Path) {
        let encrypted = self.dir.join("o2o-xmlsec1-encrypted.xml");
        Self::run(&[
            "--encrypt".as_ref(),
            "--pubkey-cert-pem".as_ref(),
            self.recipient_cert.as_os_str(),
            "--session-key".as_ref(),
            "aes-256".as_ref(),
            "--xml-data".as_ref(),
            clear.as_os_str(),
            "--node-xpath".as_ref(),
            "//*[local-name()='PayloadContent']/*".as_ref(),
            "--output".as_ref(),
            encrypted.as_os_str(),
            self.enc_template.as_os_str(),
        ]);
        let text = std::fs::read_to_string(&encrypted).expect("read");
        let template = self.dir.join("o2o-xmlsec1-sign-template.xml");
        std::fs::write(&template, text.replace("</x:XHE>", SIGN_TEMPLATE)).expect("write");
        let signed = self.dir.join("o2o-xmlsec1-sealed.xml");
        Self::run(&[
            "--sign".as_ref(),
            "--privkey-pem".as_ref(),
            self.sender.as_ref(),
            "--output".as_ref(),
            signed.as_os_str(),
            template.as_os_str(),
        ]);
    }

    fn open(&self, sealed: &Path) {
        Self::run(&[
            "--verify".as_ref(),
            "--insecure".as_ref(),
            "--enabled-key-data".as_ref(),
            "x509".as_ref(),
            sealed.as_os_str(),
        ]);
        let decrypted = self.dir.join("o2o-xmlsec1-opened.xml");
        Self::run(&[
            "--decrypt".as_ref(),
            "--privkey-pem".as_ref(),
            self.recipient_key.as_ref(),
            "--output".as_ref(),
            decrypted.as_os_str(),
            sealed.as_os_str(),
        ]);
    }
}

const ENC_TEMPLATE: &str = "<EncryptedData xmlns=\"http://www.w3.org/2001/04/xmlenc#\" Type=\"http://www.w3.org/2001/04/xmlenc#Element\">\
<EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#aes256-cbc\"/>\
<KeyInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><EncryptedKey xmlns=\"http://www.w3.org/2001/04/xmlenc#\">\
<EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\"/>\
<KeyInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><X509Data/></KeyInfo>\
<CipherData><CipherValue/></CipherData></EncryptedKey></KeyInfo>\
<CipherData><CipherValue/></CipherData></EncryptedData>";

const SIGN_TEMPLATE: &str = "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>\
<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
<ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
<ds:Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/></ds:Transforms>\
<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>\
<ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature></x:XHE>";

criterion_group!(benches, bench);
criterion_main!(benches);
