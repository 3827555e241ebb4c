//! What an SMP and the SML's DNS answer with: a ServiceGroup, a SignedServiceMetadata (the signature check
//! and, behind it, the content reader), and NAPTR answers. Any bytes may be refused; none may panic.
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
    if let Ok(answers) = dns::parse_answer(data, "fuzz.example") {
        for a in answers {
            let _ = dns::apply_regexp(&a.regexp);
        }
    }
});
