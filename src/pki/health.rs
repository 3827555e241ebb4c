//! The state of a node's keys and trust as administrators and monitoring see it: the status of every key
//! entry, and the list of problems `certs check` reports.

use serde::Serialize;
use time::OffsetDateTime;

use super::cert::CertInfo;
use super::check::{Checker, RevocationPolicy, Usage, Verdict};
use super::keystore::{Entry, EntryState, KeyStore};
use super::truststore::{Trust, TrustStore};
use super::{PkiError, Purpose};

/// One key entry with its certificate facts and verdict. No key material.
#[derive(Debug, Serialize)]
pub struct EntryStatus {
    pub id: String,
    pub purpose: Purpose,
    pub state: &'static str,
    pub env: String,
    /// `None` while pending (no certificate yet).
    pub certificate: Option<CertInfo>,
    pub days_left: Option<i64>,
    /// Chain status against the entry's environment; `None` while pending.
    pub status: Option<Verdict>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub activated: Option<OffsetDateTime>,
}

/// The status of one entry at `at`.
pub fn entry_status(
    entry: &Entry,
    trust: &Trust,
    policy: RevocationPolicy,
    at: OffsetDateTime,
) -> EntryStatus {
    let certificate = entry.info();
    let status = entry.leaf().map(|_| {
        Checker::new(trust, policy).check(
            &entry.chain,
            Usage::for_purpose(entry.meta.purpose),
            &entry.meta.env,
            at,
        )
    });
    EntryStatus {
        id: entry.meta.id.clone(),
        purpose: entry.meta.purpose,
        state: entry.meta.state.as_str(),
        env: entry.meta.env.to_string(),
        days_left: certificate.as_ref().map(|c| c.days_left(at)),
        certificate,
        status,
        activated: entry.meta.activated,
    }
}

/// Every entry's status, in store order.
pub fn statuses(
    keys: &KeyStore,
    trust: &Trust,
    policy: RevocationPolicy,
    at: OffsetDateTime,
) -> Result<Vec<EntryStatus>, PkiError> {
    Ok(keys
        .entries()?
        .iter()
        .map(|e| entry_status(e, trust, policy, at))
        .collect())
}

/// One problem `certs check` reports.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// `no-active-key`, `expiring`, `expired`, `revoked`, `untrusted`, `wrong-environment`, … (a verdict
    /// name), `ca-expiring`, `ca-expired`, `crl-out-of-date`.
    pub kind: &'static str,
    /// The entry id, CA subject or purpose concerned.
    pub subject: String,
    pub message: String,
}

/// What to check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub warn_days: i64,
    /// Purposes that must have an active key.
    pub require: Vec<Purpose>,
    pub policy: RevocationPolicy,
    pub at: OffsetDateTime,
}

/// Every problem with the keys and trust of `data_dir`, most urgent kinds first within each entry.
pub fn problems(
    data_dir: &std::path::Path,
    options: &CheckOptions,
) -> Result<Vec<Problem>, PkiError> {
    let keys = KeyStore::open(data_dir);
    let trust = TrustStore::open(data_dir).load()?;
    let mut out = Vec::new();
    for purpose in &options.require {
        if keys.active(*purpose)?.is_empty() {
            out.push(Problem {
                kind: "no-active-key",
                subject: purpose.to_string(),
                message: format!("no active {purpose} key: issue or import one, then `sdk-relay certs activate ID`"),
            });
        }
    }
    for entry in keys.entries()? {
        if matches!(entry.meta.state, EntryState::Retired | EntryState::Pending) {
            continue;
        }
        let status = entry_status(&entry, &trust, options.policy, options.at);
        let (Some(cert), Some(verdict)) = (&status.certificate, &status.status) else {
            continue;
        };
        let name = format!(
            "{} ({}, {})",
            entry.meta.id,
            entry.meta.state.as_str(),
            cert.subject
        );
        let days = cert.days_left(options.at);
        if *verdict != Verdict::Ok {
            out.push(Problem {
                kind: verdict.name(),
                subject: entry.meta.id.clone(),
                message: format!("{name}: {verdict}"),
            });
        } else if days < options.warn_days {
            out.push(Problem {
                kind: "expiring",
                subject: entry.meta.id.clone(),
                message: format!(
                    "{name}: expires in {days} days, on {}; prepare a successor (`sdk-relay certs csr`)",
                    cert.not_after.date()
                ),
            });
        }
    }
    for ca in &trust.certs {
        let days = ca.info.days_left(options.at);
        let (kind, message) = if ca.info.not_after < options.at {
            (
                "ca-expired",
                format!(
                    "trusted CA {} ({}/{}) expired on {}",
                    ca.info.subject,
                    ca.env,
                    ca.role,
                    ca.info.not_after.date()
                ),
            )
        } else if days < options.warn_days {
            (
                "ca-expiring",
                format!(
                    "trusted CA {} ({}/{}) expires in {days} days, on {}",
                    ca.info.subject,
                    ca.env,
                    ca.role,
                    ca.info.not_after.date()
                ),
            )
        } else {
            continue;
        };
        out.push(Problem {
            kind,
            subject: ca.info.subject.clone(),
            message,
        });
    }
    for crl in &trust.crls {
        if let Some(next) = crl.next_update
            && next + options.policy.grace < options.at
        {
            out.push(Problem {
                kind: "crl-out-of-date",
                subject: crl.issuer.clone(),
                message: format!(
                    "CRL of {} ({}) was due on {next}; `sdk-relay crl update` or import a newer one",
                    crl.issuer, crl.env
                ),
            });
        }
    }
    Ok(out)
}
