//! Two organisations of a test federation with O2O keys, written both as stores and as PEM files for xmlsec1.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use sdk_relay::pki::Purpose;
use sdk_relay::pki::cert::to_pem;
use sdk_relay::pki::federation::Federation;
use sdk_relay::xml::{El, Limits, parse};
use sdk_relay::xmlsec::{RsaPayloadKey, SigningKey};

use super::pki;

/// One organisation's O2O key: the key pair, its certificate, and both as PEM files.
pub struct Party {
    pub key: rcgen::KeyPair,
    pub cert: CertificateDer<'static>,
    pub key_pem: PathBuf,
    pub cert_pem: PathBuf,
}

impl Party {
    pub fn signing_key(&self) -> SigningKey {
        SigningKey::new(&self.key, self.cert.clone()).expect("signing key")
    }

    pub fn payload_key(&self) -> RsaPayloadKey {
        RsaPayloadKey::new(&self.key, self.cert.clone()).expect("payload key")
    }
}

pub struct Setup {
    pub fed: Federation,
    /// Kommun A's signing key.
    pub sender: Party,
    /// Region B's encryption key.
    pub recipient: Party,
    /// The federation's O2O CA, as PEM.
    pub o2o_ca: PathBuf,
}

pub fn party(dir: &Path, fed: &Federation, purpose: Purpose, cn: &str, name: &str) -> Party {
    let (key, chain) = fed
        .issue(purpose, &pki::subject(cn), &pki::fast())
        .expect("issue");
    let key_pem = dir.join(format!("{name}.key.pem"));
    let cert_pem = dir.join(format!("{name}.cert.pem"));
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();
    std::fs::write(&cert_pem, to_pem(&chain[..1])).unwrap();
    Party {
        key,
        cert: chain[0].clone(),
        key_pem,
        cert_pem,
    }
}

pub fn setup(dir: &Path, env: &str) -> Setup {
    let fed = pki::federation(&dir.join("federation"), env);
    let sender = party(dir, &fed, Purpose::O2oSign, "Kommun A", "sender");
    let recipient = party(dir, &fed, Purpose::O2oEncrypt, "Region B", "recipient");
    let o2o_ca = fed
        .trust_files()
        .into_iter()
        .find(|(role, _)| *role == sdk_relay::pki::Role::O2o)
        .map(|(_, f)| f)
        .expect("O2O CA file");
    Setup {
        fed,
        sender,
        recipient,
        o2o_ca,
    }
}

/// Our example SDK message envelope, as a "Utökad Bas" (sign + encrypt) document, unsigned and in clear.
pub fn clear_envelope() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/documents/xhe-message.xml");
    std::fs::read_to_string(path)
        .unwrap()
        .replace("##3.0::tm-base<", "##3.0::tm-base-ext-sigenc<")
}

/// A namespace-aware rendering of an element (names as {uri}local, attributes sorted, text kept), so two
/// serializations of the same payload compare equal wherever their namespace declarations sit.
pub fn canonical(el: El<'_, '_>) -> String {
    let mut attrs: Vec<String> = el
        .attributes()
        .iter()
        .map(|a| {
            format!(
                "{{{}}}{}={:?}",
                a.name.namespace_uri.as_deref().unwrap_or(""),
                a.name.local_name,
                a.value
            )
        })
        .collect();
    attrs.sort();
    let mut out = format!("<{{{}}}{} {}>", el.ns(), el.local(), attrs.join(" "));
    for c in el.content() {
        match c {
            sdk_relay::xml::Child::Text(t) => out.push_str(t),
            sdk_relay::xml::Child::Element(e) => out.push_str(&canonical(e)),
        }
    }
    out.push_str("</>");
    out
}

/// The canonical rendering of the one element inside `xha:PayloadContent` of `xhe`.
pub fn payload_of(xhe: &str) -> String {
    let doc = parse(xhe, &Limits::default()).expect("parses");
    let root = doc.root();
    let content = root
        .descendants_or_self()
        .into_iter()
        .find(|e| e.local() == "PayloadContent")
        .expect("PayloadContent");
    let element = content.children().next().expect("a payload element");
    canonical(element)
}
