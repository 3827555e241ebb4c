//! AS4 receiving on arbitrary input: the MIME reader, the SOAP/ebMS/WS-Security reading and the signature
//! checks, and the reading of Error signals, must refuse garbage with an ebMS error, never panic. The first line of the input is the
//! Content-Type, the rest the body.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sdk_relay::as4::pack::{self, ReceivePolicy};
use sdk_relay::pki::truststore::Trust;
use sdk_relay::pki::{Checker, Env, RevocationPolicy};

struct Fixture {
    trust: Trust,
    env: Env,
    key: sdk_relay::xmlsec::RsaPayloadKey,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = sdk_relay::pki::KeyAlgorithm::Rsa2048.generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["fuzz.example".into()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        Fixture {
            trust: Trust::default(),
            env: "fuzz".parse().expect("env"),
            key: sdk_relay::xmlsec::RsaPayloadKey::new(&key, cert.der().clone()).expect("key"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let Ok(content_type) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let body = data.get(split + 1..).unwrap_or_default();
    let checker = Checker::new(&f.trust, RevocationPolicy::default());
    let policy = ReceivePolicy::new(&checker, &f.env);
    let _ = pack::unpack(content_type, body, &policy, &f.key);
    // Signals (Receipt, Error) arrive as a plain SOAP body in the HTTP answer.
    let _ = sdk_relay::as4::ebms::read_errors(body);
});
