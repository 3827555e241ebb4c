//! Keys, certificates and trust: the stores an SDK node keeps, the checks every later layer calls, the test
//! federation tests and the demo issue from, and the rustls configurations built from all of it.
//!
//! Data layout under the node's data directory:
//! - `keys/<purpose>/<id>/` — `key.pem` (PKCS#8, mode 0600), `cert.pem` (leaf then chain), `entry.json`;
//! - `trust/<environment>/<role>/<fingerprint>.pem` — CA certificates per role;
//! - `trust/<environment>/crl/<issuer fingerprint>.crl` — the newest CRL of each CA (DER);
//! - `pki.generation` — bumped on every change, so a running node reloads keys and trust without a restart.

pub mod cert;
pub mod check;
pub mod crl_fetch;
pub mod federation;
pub mod health;
pub mod https;
pub mod keys;
pub mod keystore;
pub mod pkcs12;
pub mod profile;
pub mod tls;
pub mod truststore;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use cert::{CertInfo, read_certificates};
pub use check::{Checker, RevocationPolicy, Usage, Verdict};
pub use keys::KeyAlgorithm;
pub use keystore::{Entry, EntryState, KeyStore};
pub use truststore::TrustStore;

/// What a node key is for. Each purpose has its own store and rotates on its own.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// AS4 signing and encryption; CN is the access point id (`AP0001-SDK-QA`).
    Ap,
    /// Mutual TLS between access points (SITHS e-id Function CA in the real federations).
    Tls,
    /// The organisation's XHE signature.
    O2oSign,
    /// The organisation's XHE payload encryption (peers encrypt to it).
    O2oEncrypt,
    /// Signing the SMP's ServiceMetadata.
    Smp,
}

impl Purpose {
    pub const ALL: [Purpose; 5] = [
        Purpose::Ap,
        Purpose::Tls,
        Purpose::O2oSign,
        Purpose::O2oEncrypt,
        Purpose::Smp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Ap => "ap",
            Purpose::Tls => "tls",
            Purpose::O2oSign => "o2o-sign",
            Purpose::O2oEncrypt => "o2o-encrypt",
            Purpose::Smp => "smp",
        }
    }

    /// The trust-store role whose CAs issue certificates for this purpose.
    pub fn role(self) -> Role {
        match self {
            Purpose::Ap => Role::Ap,
            Purpose::Tls => Role::Tls,
            Purpose::O2oSign | Purpose::O2oEncrypt => Role::O2o,
            Purpose::Smp => Role::Smp,
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self, PkiError> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                PkiError::Usage(format!(
                    "unknown purpose {s:?}; one of ap, tls, o2o-sign, o2o-encrypt, smp"
                ))
            })
    }
}

/// Which kind of peer a trusted CA vouches for. SDK keeps these apart: an AP CA never vouches for a TLS peer.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Ap,
    Smp,
    Tls,
    O2o,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Ap, Role::Smp, Role::Tls, Role::O2o];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ap => "ap",
            Role::Smp => "smp",
            Role::Tls => "tls",
            Role::O2o => "o2o",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self, PkiError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| PkiError::Usage(format!("unknown role {s:?}; one of ap, smp, tls, o2o")))
    }
}

/// An environment (federation) name such as `open-test`, `qa`, `prod` or a local test federation's name.
/// Lower-case letters, digits and `-`, so it is safe as a directory name.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Env(String);

impl Env {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Env {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self, PkiError> {
        let ok = !s.is_empty()
            && s.len() <= 40
            && !s.starts_with('-')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Env(s.to_owned()))
        } else {
            Err(PkiError::Usage(format!(
                "environment name {s:?} must be 1-40 lower-case letters, digits or '-' (e.g. open-test, qa, prod)"
            )))
        }
    }
}

impl TryFrom<String> for Env {
    type Error = PkiError;
    fn try_from(s: String) -> Result<Self, PkiError> {
        s.parse()
    }
}

impl From<Env> for String {
    fn from(e: Env) -> String {
        e.0
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything that can go wrong in the PKI layer. Messages name the file, entry or certificate concerned and
/// never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{what}: not a certificate in PEM or DER: {detail}")]
    BadCertificate { what: String, detail: String },
    #[error("{what}: not a usable private key: {detail}")]
    BadKey { what: String, detail: String },
    #[error("{what}: not a CRL: {detail}")]
    BadCrl { what: String, detail: String },
    #[error("no such key entry {0:?} (see `sdk-relay certs list`)")]
    NoSuchEntry(String),
    #[error("{0}")]
    State(String),
    #[error("generating or signing failed: {0}")]
    Crypto(String),
    #[error("PKCS#12 {what}: {detail}")]
    Pkcs12 { what: String, detail: String },
}

impl PkiError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        PkiError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Marks a change to keys, trust or CRLs, so running nodes reload (see [`tls::TlsConfigs`]).
pub fn bump_generation(data_dir: &Path) -> Result<u64, PkiError> {
    let path = data_dir.join("pki.generation");
    let next = generation(data_dir) + 1;
    fsutil::write_atomic(&path, next.to_string().as_bytes(), false)?;
    Ok(next)
}

/// The current change counter of a data directory (0 before the first change).
pub fn generation(data_dir: &Path) -> u64 {
    std::fs::read_to_string(data_dir.join("pki.generation"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) mod fsutil {
    use std::fs;
    use std::io::Write;
    use std::path::Path;

    use super::PkiError;

    /// Writes via a temporary file and rename, fsynced, so a crash leaves the old or the new file, never half.
    /// `private` files are created with mode 0600 before any byte is written.
    pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), PkiError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| PkiError::io(dir, e))?;
        let tmp = dir.join(format!(
            ".{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
        ));
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(if private { 0o600 } else { 0o644 });
        }
        let mut f = opts.open(&tmp).map_err(|e| PkiError::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| PkiError::io(&tmp, e))?;
        f.sync_all().map_err(|e| PkiError::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| PkiError::io(path, e))?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Creates a directory only its owner can enter (for key directories).
    pub fn create_private_dir(dir: &Path) -> Result<(), PkiError> {
        fs::create_dir_all(dir).map_err(|e| PkiError::io(dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| PkiError::io(dir, e))?;
        }
        Ok(())
    }

    /// Makes `path` a file only its owner can read and write, creating it empty if it does not exist: for a
    /// database that its library would otherwise create with the umask's mode (0644).
    pub fn ensure_private_file(path: &Path) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)?;
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }

    pub fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
        fs::read(path).map_err(|e| PkiError::io(path, e))
    }
}
