//! SML lookup names (eDelivery BDXL 1.6, SDK §6.2): where DNS says a participant's SMP is.

use super::ids::{PARTICIPANT_SCHEME, ParticipantId};

/// `<base32(sha256(lower-cased id)) without '='>.iso6523-actorid-upis.<zone>`, in lower case (DNS names are
/// case-insensitive; lower case is how BDXL clients print them).
pub fn bdxl_name(participant: &ParticipantId, zone: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        participant.as_str().to_lowercase().as_bytes(),
    );
    format!(
        "{}.{PARTICIPANT_SCHEME}.{}",
        base32(digest.as_ref()).to_lowercase(),
        zone.trim_end_matches('.')
    )
}

/// RFC 4648 base32, without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base32_matches_rfc_4648_test_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(super::base32(input.as_bytes()), expected);
        }
    }
}

/// How the SML is asked.
#[derive(Debug, Clone)]
pub struct SmlConfig {
    /// The SML zone of the environment (e.g. `acc.edelivery.tech.ec.europa.eu`).
    pub zone: String,
    /// The DNS servers to ask, in order.
    pub servers: Vec<std::net::SocketAddr>,
    pub timeout: std::time::Duration,
}

/// Why no SMP was found for a participant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmlError {
    /// The participant is not registered in the SML: the sender must be told.
    #[error("{participant} is not registered in the SML ({detail})")]
    NotRegistered { participant: String, detail: String },
    /// The SML could not be asked: retry later.
    #[error("the SML could not be asked: {0}")]
    Unreachable(String),
}

/// The SMP base URL of `participant`: the `Meta:SMP` NAPTR record with the lowest order and preference.
///
/// "Not registered" fails a message for good, and a negative answer over UDP is easy to forge (the SML's
/// zone is not DNSSEC-validated here): a name is taken as unregistered only when it is answered negatively
/// twice, by separate queries.
pub async fn lookup(participant: &ParticipantId, config: &SmlConfig) -> Result<String, SmlError> {
    let name = bdxl_name(participant, &config.zone);
    let ask = || super::dns::naptr(&config.servers, &name, config.timeout);
    let records = match ask().await {
        Err(super::dns::DnsError::NoRecords(_)) => ask().await,
        other => other,
    };
    let records = match records {
        Ok(r) => r,
        Err(super::dns::DnsError::NoRecords(_)) => {
            return Err(SmlError::NotRegistered {
                participant: participant.to_string(),
                detail: format!("{name} does not exist or has no NAPTR records, asked twice"),
            });
        }
        Err(e) => return Err(SmlError::Unreachable(e.to_string())),
    };
    let mut smp: Vec<&super::dns::Naptr> = records
        .iter()
        .filter(|r| r.service.eq_ignore_ascii_case("Meta:SMP") && r.flags.eq_ignore_ascii_case("U"))
        .collect();
    smp.sort_by_key(|r| (r.order, r.preference));
    smp.first()
        .and_then(|r| super::dns::apply_regexp(&r.regexp))
        .ok_or_else(|| SmlError::NotRegistered {
            participant: participant.to_string(),
            detail: format!("{name} has no Meta:SMP NAPTR record"),
        })
}
