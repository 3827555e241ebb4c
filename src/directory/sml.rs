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
