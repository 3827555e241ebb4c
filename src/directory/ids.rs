//! Participant and document identifiers as SMP URLs carry them (SDK §6.1, §6.3).

use std::fmt::Write;

pub use crate::envelope::ids::{
    DOCUMENT_ID_SCHEME as DOCUMENT_SCHEME, PARTY_SCHEME as PARTICIPANT_SCHEME,
};

/// A participant identifier `<ICD>:<id>` in the `iso6523-actorid-upis` scheme (SDK: `0203:<domain>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParticipantId(String);

impl ParticipantId {
    /// Accepts `0203:kommun-a.example.se` (ICD four digits, `:`, a non-empty id without spaces). Identifiers
    /// compare case-insensitively in SMP and SML, so the value is kept lower-cased.
    pub fn parse(value: &str) -> Result<ParticipantId, String> {
        let value = value.trim();
        let value = value
            .strip_prefix(&format!("{PARTICIPANT_SCHEME}::"))
            .unwrap_or(value);
        let (icd, id) = value
            .split_once(':')
            .ok_or_else(|| format!("participant id {value:?} must look like 0203:example.se"))?;
        if icd.len() != 4 || !icd.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "participant id {value:?}: {icd:?} is not a four-digit ICD"
            ));
        }
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            return Err(format!(
                "participant id {value:?}: the identifier after the ICD is empty or has spaces"
            ));
        }
        Ok(ParticipantId(value.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `iso6523-actorid-upis::0203:…`, as the SMP path names it before encoding.
    pub fn qualified(&self) -> String {
        format!("{PARTICIPANT_SCHEME}::{}", self.0)
    }
}

impl std::fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Percent-encodes one URL path segment: everything but RFC 3986's unreserved characters, in upper-case hex
/// (`::` → `%3A%3A`, `##` → `%23%23`, as SDK §6.3 shows).
pub fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() * 3);
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes a percent-encoded path segment; `None` when it is not valid percent-encoding of UTF-8.
pub fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The ServiceGroup path: `/iso6523-actorid-upis%3A%3A0203%3A…`.
pub fn service_group_path(participant: &ParticipantId) -> String {
    format!("/{}", percent_encode(&participant.qualified()))
}

/// The SignedServiceMetadata path for a document type (`busdox-docid-qns::<document id>`).
pub fn service_metadata_path(participant: &ParticipantId, document_id: &str) -> String {
    format!(
        "{}/services/{}",
        service_group_path(participant),
        percent_encode(&format!("{DOCUMENT_SCHEME}::{document_id}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_undoes_encoding() {
        let id = "busdox-docid-qns::urn:riv:x:3::messagePayload##3.0::tm-base-ext-sigenc";
        assert_eq!(percent_decode(&percent_encode(id)).as_deref(), Some(id));
        assert_eq!(percent_decode("%zz"), None);
        assert!(
            ParticipantId::parse("0203:Sundbyberg.SE")
                .is_ok_and(|p| p.as_str() == "0203:sundbyberg.se")
        );
        assert!(ParticipantId::parse("203:x.se").is_err());
        assert!(ParticipantId::parse("0203:").is_err());
    }
}
