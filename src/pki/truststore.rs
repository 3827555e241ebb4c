//! CA certificates the node trusts, per environment and role, and the CAs' revocation lists.
//!
//! Kept apart per environment because SDK forbids trusting across federations and environments (TF-03):
//! a QA node must refuse a certificate from the OPEN-TEST AP CA even though both come from DIGG.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::cert::{self, CertInfo};
use super::fsutil::{self, write_atomic};
use super::{Env, PkiError, Role, bump_generation};

/// One trusted CA certificate.
#[derive(Clone, Debug)]
pub struct TrustedCert {
    pub env: Env,
    pub role: Role,
    pub info: CertInfo,
    pub der: CertificateDer<'static>,
}

/// One stored CRL, already checked to be signed by a CA of its environment.
#[derive(Debug, Serialize)]
pub struct StoredCrl {
    pub env: Env,
    pub issuer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_update: Option<OffsetDateTime>,
    pub revoked: usize,
    /// Parsed once when loaded, so certificate checks (every TLS handshake) do not parse CRLs again.
    #[serde(skip)]
    pub(crate) revocation_list: webpki::CertRevocationList<'static>,
}

/// Everything trusted, loaded into memory: what checks and TLS verifiers work from.
#[derive(Debug, Default)]
pub struct Trust {
    pub certs: Vec<TrustedCert>,
    pub crls: Vec<StoredCrl>,
}

impl Trust {
    pub fn envs(&self) -> BTreeSet<Env> {
        self.certs.iter().map(|c| c.env.clone()).collect()
    }

    pub fn certs_for<'a>(
        &'a self,
        env: &'a Env,
        role: Role,
    ) -> impl Iterator<Item = &'a TrustedCert> + 'a {
        self.certs
            .iter()
            .filter(move |c| &c.env == env && c.role == role)
    }

    /// Trust for one check, not kept in any store: `cas` trusted for `role` in `env`, with `crls`
    /// ((bytes, name) pairs, PEM or DER). For `xhe verify --ca`, where an administrator names the CAs to use.
    pub fn ad_hoc(
        env: &Env,
        role: Role,
        cas: Vec<CertificateDer<'static>>,
        crls: &[(Vec<u8>, String)],
    ) -> Result<Trust, PkiError> {
        let certs = cas
            .into_iter()
            .map(|der| {
                Ok(TrustedCert {
                    env: env.clone(),
                    role,
                    info: CertInfo::parse(&der)?,
                    der,
                })
            })
            .collect::<Result<_, PkiError>>()?;
        let crls = crls
            .iter()
            .map(|(bytes, what)| describe_crl(env, crl_der(bytes, what)?, what))
            .collect::<Result<_, PkiError>>()?;
        Ok(Trust { certs, crls })
    }

    pub fn crls_for<'a>(&'a self, env: &'a Env) -> impl Iterator<Item = &'a StoredCrl> + 'a {
        self.crls.iter().filter(move |c| &c.env == env)
    }
}

/// The trust stores of one data directory.
#[derive(Clone, Debug)]
pub struct TrustStore {
    data_dir: PathBuf,
}

/// Outcome of importing one certificate.
#[derive(Debug)]
pub struct Imported {
    pub info: CertInfo,
    /// False when it was already trusted for this environment and role.
    pub added: bool,
}

impl TrustStore {
    pub fn open(data_dir: &Path) -> TrustStore {
        TrustStore {
            data_dir: data_dir.to_owned(),
        }
    }

    fn env_dir(&self, env: &Env) -> PathBuf {
        self.data_dir.join("trust").join(env.as_str())
    }

    /// Where a trusted CA certificate is kept: named by its fingerprint, so importing twice is harmless.
    fn ca_path(&self, env: &Env, role: Role, info: &CertInfo) -> PathBuf {
        self.env_dir(env)
            .join(role.as_str())
            .join(format!("{}.pem", &info.sha256[..16]))
    }

    /// Trusts CA certificates for `role` in `env`. End-entity certificates are refused: SDK trust is CA-based.
    pub fn import(
        &self,
        env: &Env,
        role: Role,
        certs: &[CertificateDer<'static>],
    ) -> Result<Vec<Imported>, PkiError> {
        let mut infos = Vec::new();
        for der in certs {
            let info = CertInfo::parse(der)?;
            if !info.is_ca {
                return Err(PkiError::Usage(format!(
                    "{} is not a CA certificate (no basicConstraints CA:TRUE); trust is given to CAs, not to single certificates",
                    info.subject
                )));
            }
            infos.push(info);
        }
        let mut out = Vec::new();
        for (der, info) in certs.iter().zip(infos) {
            let path = self.ca_path(env, role, &info);
            let added = !path.exists();
            if added {
                write_atomic(
                    &path,
                    cert::to_pem(std::slice::from_ref(der)).as_bytes(),
                    false,
                )?;
            }
            out.push(Imported { info, added });
        }
        bump_generation(&self.data_dir)?;
        Ok(out)
    }

    /// Stops trusting the certificates whose SHA-256 fingerprint starts with `fingerprint` (at least 8 hex
    /// digits), optionally only in one environment or role. Returns what was removed.
    pub fn remove(
        &self,
        fingerprint: &str,
        env: Option<&Env>,
        role: Option<Role>,
    ) -> Result<Vec<TrustedCert>, PkiError> {
        let fp = fingerprint.to_ascii_lowercase().replace(':', "");
        if fp.len() < 8 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PkiError::Usage(format!(
                "{fingerprint:?}: give at least 8 hex digits of the SHA-256 fingerprint (see `sdk-relay trust list`)"
            )));
        }
        let matching: Vec<TrustedCert> = self
            .load()?
            .certs
            .into_iter()
            .filter(|c| c.info.sha256.starts_with(&fp))
            .filter(|c| env.is_none_or(|e| &c.env == e))
            .filter(|c| role.is_none_or(|r| c.role == r))
            .collect();
        for c in &matching {
            let path = self.ca_path(&c.env, c.role, &c.info);
            fs::remove_file(&path).map_err(|e| PkiError::io(&path, e))?;
        }
        if !matching.is_empty() {
            bump_generation(&self.data_dir)?;
        }
        Ok(matching)
    }

    /// Reads every trusted certificate and CRL.
    pub fn load(&self) -> Result<Trust, PkiError> {
        let mut trust = Trust::default();
        let root = self.data_dir.join("trust");
        for env_name in dir_names(&root)? {
            let Ok(env) = env_name.parse::<Env>() else {
                continue;
            };
            for role in super::Role::ALL {
                let dir = root.join(&env_name).join(role.as_str());
                for name in dir_names(&dir)? {
                    let path = dir.join(&name);
                    if !name.ends_with(".pem") {
                        continue;
                    }
                    for der in
                        cert::read_certificates(&fsutil::read(&path)?, &path.display().to_string())?
                    {
                        let info = CertInfo::parse(&der)?;
                        trust.certs.push(TrustedCert {
                            env: env.clone(),
                            role,
                            info,
                            der,
                        });
                    }
                }
            }
            let crl_dir = root.join(&env_name).join("crl");
            for name in dir_names(&crl_dir)? {
                if name.ends_with(".crl") {
                    let path = crl_dir.join(&name);
                    let der = fsutil::read(&path)?;
                    trust
                        .crls
                        .push(describe_crl(&env, der, &path.display().to_string())?);
                }
            }
        }
        trust.certs.sort_by(|a, b| {
            (&a.env, a.role, &a.info.subject).cmp(&(&b.env, b.role, &b.info.subject))
        });
        Ok(trust)
    }

    /// Stores a CRL in every environment that trusts its issuer, after checking the issuer's signature on it.
    /// A CRL older than the one already stored is refused, so an attacker cannot replay a stale list.
    pub fn import_crl(&self, bytes: &[u8], what: &str) -> Result<Vec<StoredCrl>, PkiError> {
        let der = crl_der(bytes, what)?;
        let trust = self.load()?;
        let crl = parse_crl(&der, what)?;
        let issuer_raw = crl.issuer().as_raw();
        let mut stored = Vec::new();
        let mut envs_done = BTreeSet::new();
        for ca in &trust.certs {
            if ca.info.subject_der != issuer_raw || envs_done.contains(&ca.env) {
                continue;
            }
            let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(&ca.info.spki_der) else {
                continue;
            };
            if crl.verify_signature(&spki).is_err() {
                continue;
            }
            envs_done.insert(ca.env.clone());
            let new = describe(&ca.env, &crl, &der, what)?;
            let path = self
                .env_dir(&ca.env)
                .join("crl")
                .join(format!("{}.crl", &ca.info.sha256[..16]));
            if let Some(old) = trust.crls_for(&ca.env).find(|c| c.issuer == new.issuer)
                && old.this_update > new.this_update
            {
                return Err(PkiError::State(format!(
                    "{what}: this CRL of {} was issued {}, older than the stored one ({}); refused",
                    new.issuer, new.this_update, old.this_update
                )));
            }
            write_atomic(&path, &der, false)?;
            stored.push(new);
        }
        if stored.is_empty() {
            return Err(PkiError::State(format!(
                "{what}: no trusted CA issued this CRL (issuer {}) with a signature that verifies; import the CA first (`sdk-relay trust import`)",
                crl.issuer()
            )));
        }
        bump_generation(&self.data_dir)?;
        Ok(stored)
    }
}

fn dir_names(dir: &Path) -> Result<Vec<String>, PkiError> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(PkiError::io(dir, e)),
    };
    let mut names: Vec<String> = read
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

/// A CRL as DER, from PEM (`X509 CRL`) or DER input.
pub fn crl_der(bytes: &[u8], what: &str) -> Result<Vec<u8>, PkiError> {
    use rustls_pki_types::CertificateRevocationListDer;
    use rustls_pki_types::pem::PemObject;
    if cert::looks_like_pem(bytes) {
        CertificateRevocationListDer::from_pem_slice(bytes)
            .map(|d| d.to_vec())
            .map_err(|e| PkiError::BadCrl {
                what: what.to_owned(),
                detail: format!("{e:?}"),
            })
    } else {
        Ok(bytes.to_vec())
    }
}

/// Parses a CRL (DER) and says what it holds; `what` names the source in errors.
pub fn describe_crl(env: &Env, der: Vec<u8>, what: &str) -> Result<StoredCrl, PkiError> {
    describe(env, &parse_crl(&der, what)?, &der, what)
}

fn parse_crl<'a>(der: &'a [u8], what: &str) -> Result<CertificateRevocationList<'a>, PkiError> {
    CertificateRevocationList::from_der(der)
        .map(|(_, crl)| crl)
        .map_err(|e| PkiError::BadCrl {
            what: what.to_owned(),
            detail: e.to_string(),
        })
}

fn describe(
    env: &Env,
    crl: &CertificateRevocationList<'_>,
    der: &[u8],
    what: &str,
) -> Result<StoredCrl, PkiError> {
    let revocation_list =
        webpki::OwnedCertRevocationList::from_der(der).map_err(|e| PkiError::BadCrl {
            what: what.to_owned(),
            detail: format!("{e}"),
        })?;
    Ok(StoredCrl {
        env: env.clone(),
        issuer: crl.issuer().to_string(),
        this_update: crl.last_update().to_datetime(),
        next_update: crl.next_update().map(|t| t.to_datetime()),
        revoked: crl.iter_revoked_certificates().count(),
        revocation_list: revocation_list.into(),
    })
}
