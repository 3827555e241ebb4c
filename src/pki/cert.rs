//! Reading certificates (PEM or DER, one or many) and the facts about one that administrators and checks need.

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::PkiError;

/// Every certificate in `bytes`: all `CERTIFICATE` blocks of a PEM file, or one DER certificate.
/// `what` names the source in errors.
pub fn read_certificates(
    bytes: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let bad = |detail: String| PkiError::BadCertificate {
        what: what.to_owned(),
        detail,
    };
    let certs: Vec<CertificateDer<'static>> = if looks_like_pem(bytes) {
        CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("{e:?}")))?
    } else {
        vec![CertificateDer::from(bytes.to_vec())]
    };
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE block found".into()));
    }
    for c in &certs {
        X509Certificate::from_der(c).map_err(|e| bad(e.to_string()))?;
    }
    Ok(certs)
}

pub(crate) fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// PEM text of certificates, leaf first.
pub fn to_pem(certs: &[CertificateDer<'_>]) -> String {
    certs.iter().map(|c| pem_block("CERTIFICATE", c)).collect()
}

pub(crate) fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Hex SHA-256 of bytes (a certificate's DER, a token, a log line), lower-case, no separators.
pub fn sha256_hex(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What an administrator or a check needs to know about a certificate. Never holds key material.
#[derive(Clone, Debug, Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// The subject's common name, if any.
    pub common_name: Option<String>,
    /// Serial number, colon-separated hex as OpenSSL prints it.
    pub serial: String,
    /// SHA-256 over the DER certificate, lower-case hex.
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub is_ca: bool,
    pub self_signed: bool,
    pub key_usage: Vec<&'static str>,
    pub extended_key_usage: Vec<String>,
    pub dns_names: Vec<String>,
    pub crl_distribution_points: Vec<String>,
    /// RSA modulus size or EC curve size, in bits.
    pub key_bits: usize,
    #[serde(skip)]
    pub(crate) spki_der: Vec<u8>,
    #[serde(skip)]
    pub(crate) subject_der: Vec<u8>,
    #[serde(skip)]
    pub(crate) issuer_der: Vec<u8>,
}

impl CertInfo {
    pub fn parse(der: &[u8]) -> Result<CertInfo, PkiError> {
        let (_, x) = X509Certificate::from_der(der).map_err(|e| PkiError::BadCertificate {
            what: "certificate".into(),
            detail: e.to_string(),
        })?;
        let validity = x.validity();
        let mut info = CertInfo {
            subject: x.subject().to_string(),
            issuer: x.issuer().to_string(),
            common_name: x
                .subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_owned),
            serial: x.raw_serial_as_string(),
            sha256: sha256_hex(der),
            not_before: validity.not_before.to_datetime(),
            not_after: validity.not_after.to_datetime(),
            is_ca: x.is_ca(),
            self_signed: x.subject().as_raw() == x.issuer().as_raw()
                && x.verify_signature(None).is_ok(),
            key_usage: Vec::new(),
            extended_key_usage: Vec::new(),
            dns_names: Vec::new(),
            crl_distribution_points: Vec::new(),
            key_bits: x.public_key().parsed().map(|k| k.key_size()).unwrap_or(0),
            spki_der: x.public_key().raw.to_vec(),
            subject_der: x.subject().as_raw().to_vec(),
            issuer_der: x.issuer().as_raw().to_vec(),
        };
        for ext in x.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::KeyUsage(ku) => info.key_usage = key_usage_names(ku),
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let mut names = Vec::new();
                    let flags = [
                        (eku.server_auth, "serverAuth"),
                        (eku.client_auth, "clientAuth"),
                        (eku.code_signing, "codeSigning"),
                        (eku.email_protection, "emailProtection"),
                        (eku.time_stamping, "timeStamping"),
                        (eku.ocsp_signing, "OCSPSigning"),
                        (eku.any, "anyExtendedKeyUsage"),
                    ];
                    names.extend(flags.iter().filter(|f| f.0).map(|f| f.1.to_owned()));
                    names.extend(eku.other.iter().map(|o| o.to_id_string()));
                    info.extended_key_usage = names;
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => info.dns_names.push((*d).to_owned()),
                            GeneralName::IPAddress(ip) => {
                                if let Some(ip) = ip_to_string(ip) {
                                    info.dns_names.push(ip);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::CRLDistributionPoints(points) => {
                    for point in points.iter() {
                        if let Some(DistributionPointName::FullName(names)) =
                            &point.distribution_point
                        {
                            for name in names {
                                if let GeneralName::URI(uri) = name {
                                    info.crl_distribution_points.push((*uri).to_owned());
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(info)
    }

    /// Whole days from `at` until the certificate expires (negative once expired).
    pub fn days_left(&self, at: OffsetDateTime) -> i64 {
        (self.not_after - at).whole_days()
    }

    pub fn has_key_usage(&self, name: &str) -> bool {
        self.key_usage.contains(&name)
    }

    /// True when the certificate has no EKU extension or lists `eku` (RFC 5280 §4.2.1.12).
    pub fn allows_eku(&self, eku: &str) -> bool {
        self.extended_key_usage.is_empty()
            || self
                .extended_key_usage
                .iter()
                .any(|e| e == eku || e == "anyExtendedKeyUsage")
    }

    pub fn issued(&self, child: &CertInfo) -> bool {
        self.subject_der == child.issuer_der
    }
}

fn key_usage_names(ku: &x509_parser::extensions::KeyUsage) -> Vec<&'static str> {
    let flags = [
        (ku.digital_signature(), "digitalSignature"),
        (ku.non_repudiation(), "nonRepudiation"),
        (ku.key_encipherment(), "keyEncipherment"),
        (ku.data_encipherment(), "dataEncipherment"),
        (ku.key_agreement(), "keyAgreement"),
        (ku.key_cert_sign(), "keyCertSign"),
        (ku.crl_sign(), "cRLSign"),
    ];
    flags.iter().filter(|f| f.0).map(|f| f.1).collect()
}

fn ip_to_string(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        16 => {
            let arr: [u8; 16] = bytes.try_into().ok()?;
            Some(std::net::Ipv6Addr::from(arr).to_string())
        }
        _ => None,
    }
}
