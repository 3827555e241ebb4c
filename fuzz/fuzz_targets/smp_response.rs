//! What an SMP answers with: a ServiceGroup, a SignedServiceMetadata (the signature check and, behind it,
//! the content reader), and the NAPTR regexp the SML's answer carries (DNS messages themselves are
//! hickory-resolver's to parse). Any bytes may be refused; none may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdk_relay::directory::{dns, smp};
use sdk_relay::pki::truststore::Trust;
use sdk_relay::pki::{Checker, Env, RevocationPolicy};

fuzz_target!(|data: &[u8]| {
    let _ = smp::read_service_group(data);
    let trust = Trust::default();
    let checker = Checker::new(&trust, RevocationPolicy::default());
    let env: Env = "fuzz".parse().expect("valid environment name");
    let smp_trust = smp::SmpTrust {
        checker: &checker,
        env: &env,
        at: time::OffsetDateTime::UNIX_EPOCH,
    };
    let _ = smp::read_signed_service_metadata(data, &smp_trust);
    let _ = smp::read_unverified_service_metadata(data);
    let _ = dns::apply_regexp(&String::from_utf8_lossy(data));
});
