//! Which certificate a WS-Security signature's `ds:KeyInfo` names.
//!
//! Our own signatures, and the eDelivery AS4 profile's messages, point at a BinarySecurityToken in the same
//! Security header. CXF (under Domibus) signs receipts and signals with a `wsse:KeyIdentifier` (subject key
//! identifier or SHA-1 thumbprint) or a `ds:X509IssuerSerial` instead, which carries no key. Those are
//! resolved only against the certificate the caller already expects — never against anything the message
//! brings — so a reference can narrow a check but never widen it.

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::error::{EbmsError, ErrorCode};
use crate::xml::El;
use crate::xml::names::{DS, WSSE, WSU};

pub const SKI: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier";
pub const THUMBPRINT_SHA1: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#ThumbprintSHA1";

/// Where the key that checks a signature comes from.
#[derive(Clone, Copy, Debug)]
pub enum KeySource<'c> {
    /// A BinarySecurityToken in the Security header: what a received message must carry.
    Token,
    /// The certificate the node expects (a receipt's receiving AP, from the SMP). The KeyInfo may name it by
    /// token, subject key identifier, thumbprint or issuer and serial, and must name this one.
    Expected(&'c CertificateDer<'c>),
}

/// The signer's certificate per `source`: for [`KeySource::Expected`], the expected certificate once the
/// KeyInfo has been shown to name it.
pub(crate) fn signer(
    security: El<'_, '_>,
    signature: El<'_, '_>,
    source: KeySource<'_>,
) -> Result<CertificateDer<'static>, EbmsError> {
    let key_info = signature
        .child(DS, "KeyInfo")
        .ok_or_else(|| policy("the signature has no KeyInfo"))?;
    let named = named(key_info)?;
    let expected = match (source, &named) {
        (KeySource::Token, Named::Token(id)) => return token(security, id),
        (KeySource::Token, other) => {
            return Err(policy(format!(
                "a message must carry its signer's certificate as a BinarySecurityToken (eDelivery AS4); \
                 its KeyInfo names one by {}",
                other.kind()
            )));
        }
        (KeySource::Expected(expected), _) => expected,
    };
    let matches = match &named {
        Named::Token(id) => token(security, id)?.as_ref() == expected.as_ref(),
        Named::SubjectKeyIdentifier(ski) => subject_key_identifier(expected)? == *ski,
        Named::Thumbprint(sha1) => {
            aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                expected.as_ref(),
            )
            .as_ref()
                == sha1.as_slice()
        }
        Named::IssuerSerial { issuer, serial } => issuer_serial_matches(expected, issuer, serial)?,
    };
    if !matches {
        return Err(auth(format!(
            "the signature's KeyInfo ({}) names another certificate than the expected one",
            named.kind()
        )));
    }
    Ok(CertificateDer::from(expected.as_ref().to_vec()))
}

enum Named {
    Token(String),
    SubjectKeyIdentifier(Vec<u8>),
    Thumbprint(Vec<u8>),
    IssuerSerial { issuer: String, serial: String },
}

impl Named {
    fn kind(&self) -> &'static str {
        match self {
            Named::Token(_) => "BinarySecurityToken reference",
            Named::SubjectKeyIdentifier(_) => "X509SubjectKeyIdentifier",
            Named::Thumbprint(_) => "ThumbprintSHA1",
            Named::IssuerSerial { .. } => "X509IssuerSerial",
        }
    }
}

/// Reads the one reference in KeyInfo: `wsse:SecurityTokenReference` holding a `wsse:Reference`, a
/// `wsse:KeyIdentifier` or `ds:X509Data` (as WSS4J writes IssuerSerial), or `ds:X509Data` directly (as
/// Santuario does).
fn named(key_info: El<'_, '_>) -> Result<Named, EbmsError> {
    let [child] = key_info.children().collect::<Vec<_>>()[..] else {
        return Err(policy(
            "the signature's KeyInfo must hold exactly one element",
        ));
    };
    let inner = if child.is(WSSE, "SecurityTokenReference") {
        let [inner] = child.children().collect::<Vec<_>>()[..] else {
            return Err(policy(
                "the SecurityTokenReference must hold exactly one element",
            ));
        };
        inner
    } else {
        child
    };
    if inner.is(WSSE, "Reference") {
        let id = inner
            .attr("URI")
            .and_then(|u| u.strip_prefix('#'))
            .ok_or_else(|| {
                policy("the SecurityTokenReference does not point at a token in this header")
            })?;
        return Ok(Named::Token(id.to_owned()));
    }
    if inner.is(WSSE, "KeyIdentifier") {
        let encoding = inner
            .attr("EncodingType")
            .unwrap_or(super::wssec::BASE64_BINARY);
        if encoding != super::wssec::BASE64_BINARY {
            return Err(policy(format!(
                "KeyIdentifier encoding {} is not Base64Binary",
                cut(encoding)
            )));
        }
        let value = inner
            .base64()
            .map_err(|e| policy(format!("KeyIdentifier: {e}")))?;
        return match inner.attr("ValueType") {
            Some(SKI) => Ok(Named::SubjectKeyIdentifier(value)),
            Some(THUMBPRINT_SHA1) => Ok(Named::Thumbprint(value)),
            other => Err(policy(format!(
                "KeyIdentifier ValueType {} is not X509SubjectKeyIdentifier or ThumbprintSHA1",
                cut(other.unwrap_or("(none)"))
            ))),
        };
    }
    if inner.is(DS, "X509Data") {
        let issuer_serial = inner
            .child(DS, "X509IssuerSerial")
            .filter(|_| inner.children().count() == 1)
            .ok_or_else(|| policy("ds:X509Data must hold exactly one X509IssuerSerial"))?;
        let text = |local: &str| {
            issuer_serial
                .child(DS, local)
                .map(|e| e.text().trim().to_owned())
                .ok_or_else(|| policy(format!("X509IssuerSerial has no {local}")))
        };
        return Ok(Named::IssuerSerial {
            issuer: text("X509IssuerName")?,
            serial: text("X509SerialNumber")?,
        });
    }
    Err(policy(format!(
        "the signature's KeyInfo names its key by {{{}}}{}, which is not supported",
        cut(inner.ns()),
        cut(inner.local())
    )))
}

/// The BinarySecurityToken with wsu:Id `id` among the Security header's children.
fn token(security: El<'_, '_>, id: &str) -> Result<CertificateDer<'static>, EbmsError> {
    let tokens: Vec<El<'_, '_>> = security
        .children_named(WSSE, "BinarySecurityToken")
        .filter(|t| {
            t.attributes().iter().any(|a| {
                a.name.namespace_uri.as_deref() == Some(WSU)
                    && a.name.local_name == "Id"
                    && a.value.as_ref() == id
            })
        })
        .collect();
    let [bst] = tokens.as_slice() else {
        return Err(policy(format!(
            "no single BinarySecurityToken with Id {} in the Security header",
            cut(id)
        )));
    };
    if bst.attr("ValueType") != Some(super::wssec::X509V3) {
        return Err(policy(
            "the BinarySecurityToken is not an X509v3 certificate",
        ));
    }
    let der = bst
        .base64()
        .map_err(|e| policy(format!("BinarySecurityToken: {e}")))?;
    Ok(CertificateDer::from(der))
}

fn parse<'c>(cert: &'c CertificateDer<'_>) -> Result<X509Certificate<'c>, EbmsError> {
    X509Certificate::from_der(cert.as_ref())
        .map(|(_, c)| c)
        .map_err(|e| EbmsError::new(ErrorCode::Other, format!("the expected certificate: {e}")))
}

/// The certificate's subject key identifier; without the extension, the SHA-1 of its public key bits
/// (RFC 5280 §4.2.1.2 method 1), as WSS4J computes it then.
fn subject_key_identifier(cert: &CertificateDer<'_>) -> Result<Vec<u8>, EbmsError> {
    let c = parse(cert)?;
    for ext in c.extensions() {
        if let ParsedExtension::SubjectKeyIdentifier(ski) = ext.parsed_extension() {
            return Ok(ski.0.to_vec());
        }
    }
    let bits = &c.public_key().subject_public_key.data;
    Ok(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, bits)
            .as_ref()
            .to_vec(),
    )
}

fn issuer_serial_matches(
    cert: &CertificateDer<'_>,
    issuer: &str,
    serial: &str,
) -> Result<bool, EbmsError> {
    let c = parse(cert)?;
    if c.tbs_certificate.serial.to_string() != serial {
        return Ok(false);
    }
    let named = dn::attributes(issuer).ok_or_else(|| {
        policy(format!(
            "X509IssuerName {} is not a distinguished name",
            cut(issuer)
        ))
    })?;
    let mut ours: Vec<(String, String)> = Vec::new();
    for attribute in c.issuer().iter_attributes() {
        let Ok(value) = attribute.as_str() else {
            return Ok(false);
        };
        ours.push((attribute.attr_type().to_id_string(), dn::normalise(value)));
    }
    ours.sort();
    Ok(named == ours)
}

/// RFC 4514 distinguished names as Java's `X500Principal.getName()` writes them, reduced to a sorted list of
/// (OID, value) pairs: order, spacing and case do not decide whether two names are the same issuer here,
/// because the key that checks the signature is the expected certificate's whatever the name says.
mod dn {
    const SHORT_NAMES: [(&str, &str); 16] = [
        ("CN", "2.5.4.3"),
        ("C", "2.5.4.6"),
        ("L", "2.5.4.7"),
        ("ST", "2.5.4.8"),
        ("STREET", "2.5.4.9"),
        ("O", "2.5.4.10"),
        ("OU", "2.5.4.11"),
        ("T", "2.5.4.12"),
        ("TITLE", "2.5.4.12"),
        ("SERIALNUMBER", "2.5.4.5"),
        ("SURNAME", "2.5.4.4"),
        ("GIVENNAME", "2.5.4.42"),
        ("ORGANIZATIONIDENTIFIER", "2.5.4.97"),
        ("DC", "0.9.2342.19200300.100.1.25"),
        ("E", "1.2.840.113549.1.9.1"),
        ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
    ];
    /// More attributes than any issuer has; bounds the work on a hostile name.
    const MAX_ATTRIBUTES: usize = 32;

    pub(super) fn normalise(value: &str) -> String {
        value
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }

    pub(super) fn attributes(name: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        for part in split_unescaped(name)? {
            let (kind, value) = part.split_once('=')?;
            let kind = kind.trim();
            let upper = kind.to_ascii_uppercase();
            let oid = SHORT_NAMES
                .iter()
                .find(|(short, _)| *short == upper)
                .map(|(_, oid)| (*oid).to_owned())
                .or_else(|| {
                    let numeric = upper.strip_prefix("OID.").unwrap_or(&upper);
                    numeric
                        .split('.')
                        .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| numeric.to_owned())
                })?;
            out.push((oid, normalise(&unescape(value.trim())?)));
            if out.len() > MAX_ATTRIBUTES {
                return None;
            }
        }
        out.sort();
        Some(out)
    }

    /// Splits at `,`, `;` and `+` that are not escaped or quoted.
    fn split_unescaped(name: &str) -> Option<Vec<&str>> {
        let mut parts = Vec::new();
        let (mut start, mut escaped, mut quoted) = (0, false, false);
        for (i, c) in name.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = !quoted,
                ',' | ';' | '+' if !quoted => {
                    parts.push(&name[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        if escaped || quoted {
            return None;
        }
        parts.push(&name[start..]);
        Some(parts)
    }

    /// Removes quotes and backslash escapes (`\,` and `\2C` alike).
    fn unescape(value: &str) -> Option<String> {
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let mut bytes = Vec::with_capacity(value.len());
        let mut rest = value.as_bytes();
        while let Some((&b, tail)) = rest.split_first() {
            if b != b'\\' {
                bytes.push(b);
                rest = tail;
                continue;
            }
            match tail {
                [h, l, more @ ..] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    let hex = [*h, *l];
                    bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                    rest = more;
                }
                [c, more @ ..] => {
                    bytes.push(*c);
                    rest = more;
                }
                [] => return None,
            }
        }
        String::from_utf8(bytes).ok()
    }

    #[cfg(test)]
    mod tests {
        use super::attributes;

        #[test]
        fn java_and_openssl_spellings_of_one_name_agree() {
            let java =
                attributes("CN=DIGG Test CA,O=Myndigheten för digital förvaltning,C=SE").unwrap();
            let spaced =
                attributes("C = SE, O=Myndigheten  för digital förvaltning, cn=digg test ca")
                    .unwrap();
            assert_eq!(java, spaced);
            assert_eq!(
                attributes("OID.2.5.4.97=NTRSE-2021006883,CN=x").unwrap(),
                attributes("organizationIdentifier=NTRSE-2021006883,CN=X").unwrap()
            );
            assert_eq!(
                attributes("CN=a\\,b").unwrap(),
                vec![("2.5.4.3".into(), "a,b".into())]
            );
            assert_eq!(
                attributes("CN=a\\2Cb").unwrap(),
                vec![("2.5.4.3".into(), "a,b".into())]
            );
            assert_ne!(
                attributes("CN=a,O=b").unwrap(),
                attributes("CN=a,O=c").unwrap()
            );
        }

        #[test]
        fn broken_names_are_refused() {
            for bad in ["CN", "CN=a\\", "CN=\"a", "FOO=x", "1..2=x"] {
                assert!(attributes(bad).is_none(), "{bad}");
            }
            let many = vec!["CN=x"; 40].join(",");
            assert!(attributes(&many).is_none());
        }
    }
}

fn cut(s: &str) -> String {
    crate::clip::echo(s).into_owned()
}

fn policy(detail: impl Into<String>) -> EbmsError {
    EbmsError::new(ErrorCode::PolicyNoncompliance, detail)
}

fn auth(detail: impl Into<String>) -> EbmsError {
    EbmsError::new(ErrorCode::FailedAuthentication, detail)
}
