//! Certificate profiles: what each purpose's certificate must carry, used both when issuing (test
//! federation) and when checking a certificate someone presents.

use rcgen::{
    CertificateParams, CrlDistributionPoint, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    IsCa, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use super::cert::CertInfo;
use super::{PkiError, Purpose};

/// Key usage bits a purpose's certificate needs (RFC 5280 names). Checked on every certificate presented.
pub fn required_key_usage(purpose: Purpose) -> &'static [&'static str] {
    match purpose {
        // One AP certificate both signs (WS-Security) and receives encrypted keys (SDK §7.1).
        Purpose::Ap => &["digitalSignature", "keyEncipherment"],
        Purpose::Tls => &["digitalSignature"],
        Purpose::O2oSign => &["digitalSignature"],
        Purpose::O2oEncrypt => &["keyEncipherment"],
        Purpose::Smp => &["digitalSignature"],
    }
}

/// Describes why `info` cannot serve `purpose`, or `None` when its key usage fits. A missing KeyUsage
/// extension allows everything (RFC 5280); a CA certificate never serves as an end entity.
pub fn key_usage_problem(info: &CertInfo, purpose: Purpose, eku: Option<&str>) -> Option<String> {
    if info.is_ca {
        return Some("is a CA certificate, not an end-entity certificate".into());
    }
    if !info.key_usage.is_empty() {
        let missing: Vec<&str> = required_key_usage(purpose)
            .iter()
            .copied()
            .filter(|ku| !info.has_key_usage(ku))
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "key usage lacks {} needed for {purpose} (has {})",
                missing.join(", "),
                info.key_usage.join(", ")
            ));
        }
    }
    if let Some(eku) = eku
        && !info.allows_eku(eku)
    {
        return Some(format!(
            "extended key usage lacks {eku} needed for {purpose} (has {})",
            info.extended_key_usage.join(", ")
        ));
    }
    None
}

/// Checks the CN rules SDK sets per purpose before anything is issued or requested.
pub fn check_common_name(purpose: Purpose, cn: &str) -> Result<(), PkiError> {
    let ok = match purpose {
        // DIGG names access points AP<4 digits>-<federation>-<environment>, e.g. AP0001-SDK-QA.
        Purpose::Ap => is_numbered_id(cn, "AP"),
        Purpose::Smp => is_numbered_id(cn, "SMP"),
        // The TLS server certificate's CN is the access point's public DNS name.
        Purpose::Tls => is_dns_name(cn),
        Purpose::O2oSign | Purpose::O2oEncrypt => !cn.trim().is_empty(),
    };
    if ok {
        Ok(())
    } else {
        Err(PkiError::Usage(match purpose {
            Purpose::Ap => format!(
                "AP common name {cn:?} must look like AP0001-SDK-QA (AP, four digits, '-', the federation)"
            ),
            Purpose::Smp => format!("SMP common name {cn:?} must look like SMP0001-SDK-QA"),
            Purpose::Tls => format!("TLS common name {cn:?} must be the access point's DNS name"),
            _ => format!("common name {cn:?} must not be empty"),
        }))
    }
}

fn is_numbered_id(cn: &str, prefix: &str) -> bool {
    let Some(rest) = cn.strip_prefix(prefix) else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let tail = &rest[digits..];
    digits == 4
        && tail.len() > 1
        && tail.starts_with('-')
        && tail[1..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

pub(crate) fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// What an end-entity certificate says about its holder.
#[derive(Clone, Debug, Default)]
pub struct Subject {
    pub common_name: String,
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
    pub country: Option<String>,
    /// Subject serialNumber, e.g. the organisation number SITHS puts there.
    pub serial_number: Option<String>,
    /// Extra DNS names (TLS); the CN is always included.
    pub dns_names: Vec<String>,
}

impl Subject {
    /// Parses `CN=...,O=...,OU=...,C=...,serialNumber=...` (commas inside values escaped as `\,`).
    pub fn parse(text: &str) -> Result<Subject, PkiError> {
        let mut subject = Subject::default();
        for part in split_unescaped(text) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                PkiError::Usage(format!("subject part {part:?} is not KEY=VALUE"))
            })?;
            let value = value.trim().to_owned();
            match key.trim().to_ascii_lowercase().as_str() {
                "cn" => subject.common_name = value,
                "o" => subject.organization = Some(value),
                "ou" => subject.organizational_unit = Some(value),
                "c" => subject.country = Some(value),
                "serialnumber" => subject.serial_number = Some(value),
                other => {
                    return Err(PkiError::Usage(format!(
                        "subject attribute {other:?} not supported; use CN, O, OU, C, serialNumber"
                    )));
                }
            }
        }
        if subject.common_name.is_empty() {
            return Err(PkiError::Usage("subject needs a CN".into()));
        }
        if let Some(c) = &subject.country
            && (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(PkiError::Usage(format!(
                "country {c:?} must be two upper-case letters, e.g. SE"
            )));
        }
        Ok(subject)
    }

    pub fn distinguished_name(&self) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        if let Some(c) = &self.country {
            dn.push(DnType::CountryName, c.as_str());
        }
        if let Some(o) = &self.organization {
            dn.push(DnType::OrganizationName, o.as_str());
        }
        if let Some(ou) = &self.organizational_unit {
            dn.push(DnType::OrganizationalUnitName, ou.as_str());
        }
        if let Some(sn) = &self.serial_number {
            // id-at-serialNumber (2.5.4.5)
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 5]), sn.as_str());
        }
        dn.push(DnType::CommonName, self.common_name.as_str());
        dn
    }
}

fn split_unescaped(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ',' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        parts.push(current);
    }
    parts
}

/// A PKCS#10 request (PEM) for `subject`, signed with `key`. DIGG replaces an AP request's CN with the AP
/// id, so any CN is fine there; other purposes must follow their CN rule already in the request.
pub fn certificate_request(
    purpose: Purpose,
    subject: &Subject,
    key: &rcgen::KeyPair,
) -> Result<String, PkiError> {
    if purpose != Purpose::Ap {
        check_common_name(purpose, &subject.common_name)?;
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = subject.distinguished_name();
    let request = params
        .serialize_request(key)
        .map_err(|e| PkiError::Crypto(format!("making the request: {e}")))?;
    request
        .pem()
        .map_err(|e| PkiError::Crypto(format!("encoding the request: {e}")))
}

/// Certificate parameters for an end entity of `purpose`, valid `days` from `not_before`.
pub fn end_entity_params(
    purpose: Purpose,
    subject: &Subject,
    not_before: OffsetDateTime,
    days: i64,
    crl_url: Option<&str>,
) -> Result<CertificateParams, PkiError> {
    check_common_name(purpose, &subject.common_name)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = subject.distinguished_name();
    params.not_before = not_before;
    params.not_after = not_before + Duration::days(days);
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = match purpose {
        Purpose::Ap | Purpose::Smp => vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ],
        Purpose::Tls => vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ],
        Purpose::O2oSign => vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ],
        Purpose::O2oEncrypt => vec![
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::DataEncipherment,
        ],
    };
    if purpose == Purpose::Tls {
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let mut names = vec![subject.common_name.clone()];
        names.extend(subject.dns_names.iter().cloned());
        names.dedup();
        for name in names {
            let san = match name.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    name.clone()
                        .try_into()
                        .map_err(|_| PkiError::Usage(format!("{name:?} is not a DNS name")))?,
                ),
            };
            params.subject_alt_names.push(san);
        }
    }
    if let Some(url) = crl_url {
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![url.to_owned()],
        }];
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_rules_per_purpose() {
        assert!(check_common_name(Purpose::Ap, "AP0001-SDK-QA").is_ok());
        assert!(check_common_name(Purpose::Ap, "AP001-SDK-QA").is_err());
        assert!(check_common_name(Purpose::Ap, "AP0001").is_err());
        assert!(check_common_name(Purpose::Ap, "AP0001-sdk-qa").is_err());
        assert!(check_common_name(Purpose::Smp, "SMP0001-SDK-QA").is_ok());
        assert!(check_common_name(Purpose::Smp, "AP0001-SDK-QA").is_err());
        assert!(check_common_name(Purpose::Tls, "ap.kommun-a.example").is_ok());
        assert!(check_common_name(Purpose::Tls, "not a host").is_err());
        assert!(check_common_name(Purpose::Tls, "-bad.example").is_err());
        assert!(check_common_name(Purpose::O2oSign, "Kommun A").is_ok());
        assert!(check_common_name(Purpose::O2oSign, " ").is_err());
    }

    #[test]
    fn subjects_parse_with_escaped_commas_and_refuse_the_unknown() {
        let s =
            Subject::parse(r"CN=Kommun A\, socialtjänsten,O=Kommun A,C=SE,serialNumber=2120001234")
                .unwrap();
        assert_eq!(s.common_name, "Kommun A, socialtjänsten");
        assert_eq!(s.organization.as_deref(), Some("Kommun A"));
        assert_eq!(s.serial_number.as_deref(), Some("2120001234"));
        assert!(
            Subject::parse("O=x")
                .unwrap_err()
                .to_string()
                .contains("needs a CN")
        );
        assert!(
            Subject::parse("CN=x,C=Sweden")
                .unwrap_err()
                .to_string()
                .contains("two upper-case")
        );
        assert!(
            Subject::parse("CN=x,L=Umeå")
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
        assert!(
            Subject::parse("CN")
                .unwrap_err()
                .to_string()
                .contains("KEY=VALUE")
        );
    }
}
