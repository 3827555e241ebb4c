//! A local test federation shaped like SDK's PKI, for tests, the demo and trying things out: an AP root with an
//! AP intermediate that issues access-point certificates, an SMP CA, a SITHS-like TLS root with a function
//! CA, and an O2O CA — each with its own CRL. Every name says "test federation", so nothing here can be
//! mistaken for a real DIGG or SITHS identity.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::cert::{self, CertInfo};
use super::fsutil::{self, write_atomic};
use super::keys::{self, KeyAlgorithm};
use super::profile::{self, Subject};
use super::{Env, PkiError, Purpose, Role};

/// The CAs of a test federation: directory name, the CA that issues it (`None` = root), the trust role.
const CAS: [(&str, Option<&str>, Role, &str); 6] = [
    ("ap-root", None, Role::Ap, "Test AP Root CA"),
    ("ap-ca", Some("ap-root"), Role::Ap, "Test Accesspunkt CA"),
    ("smp-ca", None, Role::Smp, "Test SMP Root CA"),
    ("tls-root", None, Role::Tls, "Test TLS Root CA"),
    (
        "tls-ca",
        Some("tls-root"),
        Role::Tls,
        "Test TLS Function CA",
    ),
    ("o2o-ca", None, Role::O2o, "Test O2O Function CA"),
];

/// The CA that issues end-entity certificates for each purpose.
fn issuing_ca(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Ap => "ap-ca",
        Purpose::Smp => "smp-ca",
        Purpose::Tls => "tls-ca",
        Purpose::O2oSign | Purpose::O2oEncrypt => "o2o-ca",
    }
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    env: Env,
    /// Base of the CRL distribution point URLs (`<base>/<ca>.crl`), if the federation publishes its CRLs.
    crl_base_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
}

#[derive(Clone, Serialize, Deserialize)]
struct RevokedEntry {
    serial_hex: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

/// A test federation on disk.
pub struct Federation {
    dir: PathBuf,
    manifest: Manifest,
}

/// Options for creating a federation.
#[derive(Clone, Debug)]
pub struct CreateOptions {
    pub env: Env,
    pub key: KeyAlgorithm,
    pub crl_base_url: Option<String>,
    /// How long the CAs are valid.
    pub ca_days: i64,
}

/// Options for issuing one end-entity certificate.
#[derive(Clone, Debug)]
pub struct IssueOptions {
    pub key: KeyAlgorithm,
    pub not_before: OffsetDateTime,
    pub days: i64,
}

impl Default for IssueOptions {
    fn default() -> Self {
        IssueOptions {
            key: KeyAlgorithm::default(),
            not_before: OffsetDateTime::now_utc() - Duration::hours(1),
            days: 365,
        }
    }
}

impl Federation {
    /// Creates every CA and its (empty) CRL in `dir`, which must not already hold a federation.
    pub fn create(dir: &Path, options: &CreateOptions) -> Result<Federation, PkiError> {
        if dir.join("federation.json").exists() {
            return Err(PkiError::State(format!(
                "{} already holds a federation",
                dir.display()
            )));
        }
        let now = OffsetDateTime::now_utc();
        let manifest = Manifest {
            env: options.env.clone(),
            crl_base_url: options
                .crl_base_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            created: now,
        };
        let federation = Federation {
            dir: dir.to_owned(),
            manifest,
        };
        for (name, parent, _, label) in CAS {
            let key = options.key.generate()?;
            let mut params = CertificateParams::default();
            params.distinguished_name = federation.ca_name(label);
            params.not_before = now - Duration::hours(1);
            params.not_after = now + Duration::days(options.ca_days);
            params.serial_number = Some(random_serial()?);
            params.is_ca = IsCa::Ca(if parent.is_some() {
                BasicConstraints::Constrained(0)
            } else {
                BasicConstraints::Unconstrained
            });
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            params.key_identifier_method = KeyIdMethod::Sha256;
            params.use_authority_key_identifier_extension = parent.is_some();
            let cert = match parent {
                None => params.self_signed(&key),
                Some(p) => {
                    if let Some(url) = federation.crl_url(p) {
                        params.crl_distribution_points =
                            vec![rcgen::CrlDistributionPoint { uris: vec![url] }];
                    }
                    let (issuer_key, issuer_pem) = federation.ca_material(p)?;
                    let issuer =
                        Issuer::from_ca_cert_pem(&issuer_pem, issuer_key).map_err(crypto)?;
                    params.signed_by(&key, &issuer)
                }
            }
            .map_err(crypto)?;
            let ca_dir = dir.join(name);
            fsutil::create_private_dir(&ca_dir)?;
            write_atomic(
                &ca_dir.join("key.pem"),
                key.serialize_pem().as_bytes(),
                true,
            )?;
            write_atomic(&ca_dir.join("cert.pem"), cert.pem().as_bytes(), false)?;
            federation.write_revoked(name, &[])?;
            federation.publish_crl(name)?;
        }
        let json = serde_json::to_vec_pretty(&federation.manifest)
            .map_err(|e| PkiError::State(e.to_string()))?;
        write_atomic(&dir.join("federation.json"), &json, false)?;
        Ok(federation)
    }

    pub fn open(dir: &Path) -> Result<Federation, PkiError> {
        let path = dir.join("federation.json");
        let manifest: Manifest = serde_json::from_slice(&fsutil::read(&path)?)
            .map_err(|e| PkiError::State(format!("{}: {e}", path.display())))?;
        Ok(Federation {
            dir: dir.to_owned(),
            manifest,
        })
    }

    pub fn env(&self) -> &Env {
        &self.manifest.env
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn ca_name(&self, label: &str) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "SE");
        dn.push(
            DnType::OrganizationName,
            format!("sdk-relay test federation {}", self.manifest.env),
        );
        dn.push(
            DnType::CommonName,
            format!("{label} {}", self.manifest.env.as_str().to_uppercase()),
        );
        dn
    }

    fn crl_url(&self, ca: &str) -> Option<String> {
        self.manifest
            .crl_base_url
            .as_ref()
            .map(|b| format!("{b}/{ca}.crl"))
    }

    fn ca_material(&self, ca: &str) -> Result<(KeyPair, String), PkiError> {
        let dir = self.dir.join(ca);
        let key_path = dir.join("key.pem");
        let key = keys::read_key_pair(&fsutil::read(&key_path)?, &key_path.display().to_string())?;
        let pem = String::from_utf8(fsutil::read(&dir.join("cert.pem"))?).map_err(|_| {
            PkiError::State(format!(
                "{}: CA certificate is not UTF-8 PEM",
                dir.display()
            ))
        })?;
        Ok((key, pem))
    }

    /// A CA's certificate.
    pub fn ca_certificate(&self, ca: &str) -> Result<CertificateDer<'static>, PkiError> {
        let path = self.dir.join(ca).join("cert.pem");
        let mut certs =
            cert::read_certificates(&fsutil::read(&path)?, &path.display().to_string())?;
        Ok(certs.remove(0))
    }

    /// Each CA certificate file with the trust role it belongs to.
    pub fn trust_files(&self) -> Vec<(Role, PathBuf)> {
        CAS.iter()
            .map(|(name, _, role, _)| (*role, self.dir.join(name).join("cert.pem")))
            .collect()
    }

    /// Each CA's current CRL file (PEM).
    pub fn crl_files(&self) -> Vec<PathBuf> {
        CAS.iter()
            .map(|(name, ..)| self.dir.join(name).join("crl.pem"))
            .collect()
    }

    /// Issues a key and certificate for `purpose`. Returns the key and the chain (leaf, then the issuing CA
    /// when it is an intermediate).
    pub fn issue(
        &self,
        purpose: Purpose,
        subject: &Subject,
        options: &IssueOptions,
    ) -> Result<(KeyPair, Vec<CertificateDer<'static>>), PkiError> {
        let ca = issuing_ca(purpose);
        let key = options.key.generate()?;
        let mut params = profile::end_entity_params(
            purpose,
            subject,
            options.not_before,
            options.days,
            self.crl_url(ca).as_deref(),
        )?;
        params.serial_number = Some(random_serial()?);
        let (ca_key, ca_pem) = self.ca_material(ca)?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(crypto)?;
        let leaf = params.signed_by(&key, &issuer).map_err(crypto)?;
        let mut chain = vec![leaf.der().clone()];
        if CAS
            .iter()
            .any(|(name, parent, ..)| *name == ca && parent.is_some())
        {
            chain.push(self.ca_certificate(ca)?);
        }
        Ok((key, chain))
    }

    /// Revokes a certificate this federation issued and publishes its CA's new CRL. Returns the CA's name.
    pub fn revoke(&self, certificate: &CertificateDer<'_>) -> Result<&'static str, PkiError> {
        let info = CertInfo::parse(certificate)?;
        for (name, ..) in CAS {
            let ca = CertInfo::parse(&self.ca_certificate(name)?)?;
            if ca.issued(&info) {
                let mut revoked = self.read_revoked(name)?;
                let serial_hex = info.serial.replace(':', "");
                if !revoked.iter().any(|r| r.serial_hex == serial_hex) {
                    revoked.push(RevokedEntry {
                        serial_hex,
                        at: OffsetDateTime::now_utc(),
                    });
                }
                self.write_revoked(name, &revoked)?;
                self.publish_crl(name)?;
                return Ok(name);
            }
        }
        Err(PkiError::Usage(format!(
            "{} was not issued by a CA of this federation (issuer {})",
            info.subject, info.issuer
        )))
    }

    fn read_revoked(&self, ca: &str) -> Result<Vec<RevokedEntry>, PkiError> {
        let path = self.dir.join(ca).join("revoked.json");
        serde_json::from_slice(&fsutil::read(&path)?)
            .map_err(|e| PkiError::State(format!("{}: {e}", path.display())))
    }

    fn write_revoked(&self, ca: &str, revoked: &[RevokedEntry]) -> Result<(), PkiError> {
        let json =
            serde_json::to_vec_pretty(revoked).map_err(|e| PkiError::State(e.to_string()))?;
        write_atomic(&self.dir.join(ca).join("revoked.json"), &json, false)
    }

    /// Signs and writes a fresh CRL for `ca` (valid 7 days), numbered one above the last.
    pub fn publish_crl(&self, ca: &str) -> Result<PathBuf, PkiError> {
        let revoked = self.read_revoked(ca)?;
        let number_path = self.dir.join(ca).join("crl.number");
        let number: u64 = std::fs::read_to_string(&number_path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
            + 1;
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + Duration::days(7),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|r| {
                    Ok(RevokedCertParams {
                        serial_number: SerialNumber::from(hex_bytes(&r.serial_hex)?),
                        revocation_time: r.at,
                        reason_code: Some(RevocationReason::Unspecified),
                        invalidity_date: None,
                    })
                })
                .collect::<Result<_, PkiError>>()?,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let (key, pem) = self.ca_material(ca)?;
        let issuer = Issuer::from_ca_cert_pem(&pem, key).map_err(crypto)?;
        let crl = params.signed_by(&issuer).map_err(crypto)?;
        let path = self.dir.join(ca).join("crl.pem");
        write_atomic(&path, crl.pem().map_err(crypto)?.as_bytes(), false)?;
        write_atomic(
            &self.dir.join(ca).join(format!("{ca}.crl")),
            crl.der(),
            false,
        )?;
        write_atomic(&number_path, number.to_string().as_bytes(), false)?;
        Ok(path)
    }
}

fn crypto(e: rcgen::Error) -> PkiError {
    PkiError::Crypto(e.to_string())
}

/// 16 random bytes, positive and without a leading zero byte (RFC 5280 §4.1.2.2).
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| PkiError::Crypto("no randomness".into()))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from(bytes.to_vec()))
}

fn hex_bytes(hex: &str) -> Result<Vec<u8>, PkiError> {
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(|| PkiError::State(format!("bad serial {hex:?} in revoked.json")))
        })
        .collect()
}
