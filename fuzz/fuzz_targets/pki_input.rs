//! Certificates, CRLs and PKCS#12 files as they arrive from peers, CAs' distribution points and
//! administrators: any bytes may be refused, none may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdk_relay::pki::{CertInfo, pkcs12, read_certificates, truststore};

fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = read_certificates(data, "fuzz") {
        for c in &certs {
            let _ = CertInfo::parse(c);
        }
    }
    if let Ok(der) = truststore::crl_der(data, "fuzz") {
        let env = "fuzz".parse().expect("valid environment name");
        let _ = truststore::describe_crl(&env, der, "fuzz");
    }
    let _ = pkcs12::read_certificates(data, "p@ssword", "fuzz");
});
