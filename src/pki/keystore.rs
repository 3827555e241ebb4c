//! The node's own keys: one store per purpose, each entry `pending` (key + CSR, waiting for its certificate),
//! `next` (ready), `active` (in use) or `retired`.
//!
//! Rotation without downtime: several entries of a purpose may be active at once; the node signs with the
//! newest activated and accepts (decrypts with, trusts TLS for) all of them, so peers that still use the old
//! certificate keep working until the administrator retires it.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::KeyPair;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::cert::{self, CertInfo};
use super::fsutil::{self, write_atomic};
use super::keys::{self, KeyAlgorithm, same_public_key, spki_der};
use super::profile::{Subject, certificate_request};
use super::{Env, PkiError, Purpose, bump_generation};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    /// A key and a certificate request, waiting for the CA's certificate (`certs import`).
    Pending,
    /// Has a certificate; not yet used.
    Next,
    /// In use.
    Active,
    /// No longer used; kept for the record and for reading old messages.
    Retired,
}

impl EntryState {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Pending => "pending",
            EntryState::Next => "next",
            EntryState::Active => "active",
            EntryState::Retired => "retired",
        }
    }
}

/// The record of one key entry (`entry.json`). Holds no key material.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EntryMeta {
    pub id: String,
    pub purpose: Purpose,
    pub env: Env,
    pub state: EntryState,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub activated: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub retired: Option<OffsetDateTime>,
}

/// One key entry as read from disk.
#[derive(Clone, Debug)]
pub struct Entry {
    pub meta: EntryMeta,
    /// Leaf first, then any chain the CA sent. Empty while pending.
    pub chain: Vec<CertificateDer<'static>>,
    dir: PathBuf,
}

impl Entry {
    pub fn id(&self) -> &str {
        &self.meta.id
    }

    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.chain.first()
    }

    pub fn info(&self) -> Option<CertInfo> {
        self.leaf().and_then(|c| CertInfo::parse(c).ok())
    }

    /// Reads the private key. Callers use it; nothing prints it.
    pub fn key_pair(&self) -> Result<KeyPair, PkiError> {
        let path = self.dir.join("key.pem");
        keys::read_key_pair(&fsutil::read(&path)?, &path.display().to_string())
    }

    /// The private key as PKCS#8 DER (for rustls and the crypto layers).
    pub fn key_der(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self.key_pair()?.serialize_der())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// All key stores of one data directory.
#[derive(Clone, Debug)]
pub struct KeyStore {
    data_dir: PathBuf,
}

impl KeyStore {
    pub fn open(data_dir: &Path) -> KeyStore {
        KeyStore {
            data_dir: data_dir.to_owned(),
        }
    }

    fn purpose_dir(&self, purpose: Purpose) -> PathBuf {
        self.data_dir.join("keys").join(purpose.as_str())
    }

    /// Every entry of every purpose, ordered by purpose then creation.
    pub fn entries(&self) -> Result<Vec<Entry>, PkiError> {
        let mut all = Vec::new();
        for purpose in Purpose::ALL {
            all.extend(self.entries_for(purpose)?);
        }
        Ok(all)
    }

    /// Every key senders may still encrypt to: the active ones first, then next and retired (pending keys
    /// have no certificate anyone could know).
    pub fn decryption_entries(&self, purpose: Purpose) -> Result<Vec<Entry>, PkiError> {
        let mut all = self.entries_for(purpose)?;
        all.retain(|e| e.meta.state != EntryState::Pending);
        all.sort_by_key(|e| e.meta.state != EntryState::Active);
        Ok(all)
    }

    pub fn entries_for(&self, purpose: Purpose) -> Result<Vec<Entry>, PkiError> {
        let dir = self.purpose_dir(purpose);
        let read = match fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(PkiError::io(&dir, e)),
        };
        let mut entries = Vec::new();
        for item in read {
            let path = item.map_err(|e| PkiError::io(&dir, e))?.path();
            if path.join("entry.json").is_file() {
                entries.push(load_entry(&path)?);
            }
        }
        entries.sort_by_key(|e| (e.meta.created, entry_number(&e.meta.id)));
        Ok(entries)
    }

    pub fn get(&self, id: &str) -> Result<Entry, PkiError> {
        let purpose: Purpose = id
            .rsplit_once('-')
            .map(|(p, _)| p)
            .unwrap_or("")
            .parse()
            .map_err(|_| PkiError::NoSuchEntry(id.to_owned()))?;
        let dir = self.purpose_dir(purpose).join(id);
        if !dir.join("entry.json").is_file() {
            return Err(PkiError::NoSuchEntry(id.to_owned()));
        }
        load_entry(&dir)
    }

    /// Active entries of a purpose, newest activation first: the first one signs, all of them are accepted.
    pub fn active(&self, purpose: Purpose) -> Result<Vec<Entry>, PkiError> {
        let mut active: Vec<Entry> = self
            .entries_for(purpose)?
            .into_iter()
            .filter(|e| e.meta.state == EntryState::Active)
            .collect();
        active.sort_by_key(|e| std::cmp::Reverse((e.meta.activated, entry_number(&e.meta.id))));
        Ok(active)
    }

    /// The entry the node signs with for `purpose`: the most recently activated.
    pub fn signing(&self, purpose: Purpose) -> Result<Entry, PkiError> {
        self.active(purpose)?.into_iter().next().ok_or_else(|| {
            PkiError::State(format!(
                "no active {purpose} key (see `sdk-relay certs list`)"
            ))
        })
    }

    /// Stores a key with its certificate chain. It becomes `active` when the purpose has no active key yet,
    /// otherwise `next`, so adding a key never changes what a running node uses.
    pub fn add(
        &self,
        purpose: Purpose,
        env: &Env,
        key: &KeyPair,
        chain: &[CertificateDer<'static>],
    ) -> Result<Entry, PkiError> {
        let leaf = chain
            .first()
            .ok_or_else(|| PkiError::Usage("a certificate chain needs at least the leaf".into()))?;
        if !same_public_key(&CertInfo::parse(leaf)?.spki_der, &spki_der(key)) {
            return Err(PkiError::Usage(
                "the certificate does not belong to this private key".into(),
            ));
        }
        let state = if self.active(purpose)?.is_empty() {
            EntryState::Active
        } else {
            EntryState::Next
        };
        self.create(purpose, env, key, chain, state, None)
    }

    /// Makes a new key and a certificate request for it; the key waits as a `pending` entry until the CA's
    /// certificate is imported. Returns the entry and the request (PEM) to send to the CA.
    pub fn request(
        &self,
        purpose: Purpose,
        env: &Env,
        subject: &Subject,
        algorithm: KeyAlgorithm,
    ) -> Result<(Entry, String), PkiError> {
        let key = algorithm.generate()?;
        let csr_pem = certificate_request(purpose, subject, &key)?;
        let entry = self.create(purpose, env, &key, &[], EntryState::Pending, Some(&csr_pem))?;
        Ok((entry, csr_pem))
    }

    fn create(
        &self,
        purpose: Purpose,
        env: &Env,
        key: &KeyPair,
        chain: &[CertificateDer<'static>],
        state: EntryState,
        csr_pem: Option<&str>,
    ) -> Result<Entry, PkiError> {
        let base = self.purpose_dir(purpose);
        fsutil::create_private_dir(&self.data_dir.join("keys"))?;
        fsutil::create_private_dir(&base)?;
        let id = self.next_id(purpose)?;
        let dir = base.join(&id);
        fsutil::create_private_dir(&dir)?;
        write_atomic(&dir.join("key.pem"), key.serialize_pem().as_bytes(), true)?;
        if let Some(csr) = csr_pem {
            write_atomic(&dir.join("request.csr"), csr.as_bytes(), false)?;
        }
        if !chain.is_empty() {
            write_atomic(&dir.join("cert.pem"), cert::to_pem(chain).as_bytes(), false)?;
        }
        let now = OffsetDateTime::now_utc();
        let meta = EntryMeta {
            id,
            purpose,
            env: env.clone(),
            state,
            created: now,
            activated: (state == EntryState::Active).then_some(now),
            retired: None,
        };
        // entry.json last: an entry without it is an interrupted write and is never listed.
        write_meta(&dir, &meta)?;
        bump_generation(&self.data_dir)?;
        load_entry(&dir)
    }

    fn next_id(&self, purpose: Purpose) -> Result<String, PkiError> {
        let dir = self.purpose_dir(purpose);
        let mut highest = 0;
        if let Ok(read) = fs::read_dir(&dir) {
            for item in read.flatten() {
                if let Some(name) = item.file_name().to_str() {
                    highest = highest.max(entry_number(name));
                }
            }
        }
        Ok(format!("{}-{}", purpose.as_str(), highest + 1))
    }

    /// Gives a pending entry the certificate the CA signed for it. Returns `None` when no pending key of any
    /// purpose matches the leaf's public key.
    pub fn complete_pending(
        &self,
        chain: &[CertificateDer<'static>],
    ) -> Result<Option<Entry>, PkiError> {
        let Some(leaf) = chain.first() else {
            return Ok(None);
        };
        let leaf_spki = CertInfo::parse(leaf)?.spki_der;
        for entry in self.entries()? {
            if entry.meta.state != EntryState::Pending {
                continue;
            }
            if same_public_key(&spki_der(&entry.key_pair()?), &leaf_spki) {
                let mut meta = entry.meta.clone();
                write_atomic(
                    &entry.dir.join("cert.pem"),
                    cert::to_pem(chain).as_bytes(),
                    false,
                )?;
                meta.state = if self.active(meta.purpose)?.is_empty() {
                    meta.activated = Some(OffsetDateTime::now_utc());
                    EntryState::Active
                } else {
                    EntryState::Next
                };
                write_meta(&entry.dir, &meta)?;
                bump_generation(&self.data_dir)?;
                return load_entry(&entry.dir).map(Some);
            }
        }
        Ok(None)
    }

    /// `next` or `retired` → `active`. The newly activated key becomes the one the node signs with.
    pub fn activate(&self, id: &str) -> Result<Entry, PkiError> {
        let entry = self.get(id)?;
        let mut meta = entry.meta.clone();
        match meta.state {
            EntryState::Pending => {
                return Err(PkiError::State(format!(
                    "{id} is pending: import its certificate first (`sdk-relay certs import`)"
                )));
            }
            EntryState::Active => return Err(PkiError::State(format!("{id} is already active"))),
            EntryState::Next | EntryState::Retired => {}
        }
        if let Some(info) = entry.info()
            && info.not_after < OffsetDateTime::now_utc()
        {
            return Err(PkiError::State(format!(
                "{id}'s certificate expired on {}; it cannot be activated",
                info.not_after.date()
            )));
        }
        meta.state = EntryState::Active;
        meta.activated = Some(OffsetDateTime::now_utc());
        meta.retired = None;
        write_meta(&entry.dir, &meta)?;
        bump_generation(&self.data_dir)?;
        load_entry(&entry.dir)
    }

    /// `active` or `next` → `retired`.
    pub fn retire(&self, id: &str) -> Result<Entry, PkiError> {
        let entry = self.get(id)?;
        let mut meta = entry.meta.clone();
        if meta.state == EntryState::Retired {
            return Err(PkiError::State(format!("{id} is already retired")));
        }
        meta.state = EntryState::Retired;
        meta.retired = Some(OffsetDateTime::now_utc());
        write_meta(&entry.dir, &meta)?;
        bump_generation(&self.data_dir)?;
        load_entry(&entry.dir)
    }
}

fn entry_number(id: &str) -> u64 {
    id.rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

fn write_meta(dir: &Path, meta: &EntryMeta) -> Result<(), PkiError> {
    let json = serde_json::to_vec_pretty(meta).map_err(|e| PkiError::State(e.to_string()))?;
    write_atomic(&dir.join("entry.json"), &json, false)
}

fn load_entry(dir: &Path) -> Result<Entry, PkiError> {
    let meta_path = dir.join("entry.json");
    let meta: EntryMeta = serde_json::from_slice(&fsutil::read(&meta_path)?)
        .map_err(|e| PkiError::State(format!("{}: {e}", meta_path.display())))?;
    let cert_path = dir.join("cert.pem");
    let chain = if cert_path.is_file() {
        cert::read_certificates(&fsutil::read(&cert_path)?, &cert_path.display().to_string())?
    } else {
        Vec::new()
    };
    Ok(Entry {
        meta,
        chain,
        dir: dir.to_owned(),
    })
}
