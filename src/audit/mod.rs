//! The tamper-evident audit log (SDK §2.9 event log): append-only JSON-lines segments under
//! `<data_dir>/audit/`, each record naming the SHA-256 of the previous record's exact bytes, written durably
//! (fsync) before `append` returns; signed checkpoints (every N records, and when asked) anchor the chain, so
//! a changed, removed, reordered or cut record is found by `verify`. Appends from threads and processes are
//! serialized by a lock file.

mod checkpoint;
mod index;
mod log;
mod verify;

#[cfg(feature = "postgres")]
pub(crate) use checkpoint::sign as sign_checkpoint;
pub use checkpoint::{Checkpoint, CheckpointSigner};
pub use index::AuditIndex;
pub use log::{AuditLog, Options, read_records};
pub use verify::{Line, LineSource, Problem, Report, verify, verify_lines};

use serde::{Deserialize, Serialize};

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActorKind {
    ApiClient,
    PeerAp,
    Administrator,
    Node,
}

/// One event, with SDK's minimum event-log fields (§2.9) where they apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened: `message.sent`, `message.received`, `receipt.received`, `certs.activate`, …
    pub kind: String,
    /// `ok`, `failed`, `rejected`, …
    pub outcome: String,
    pub actor_kind: Option<ActorKind>,
    pub actor: Option<String>,
    pub message_id: Option<String>,
    pub conversation_id: Option<String>,
    /// The hosted organisation concerned.
    pub org: Option<String>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    /// The peer access point's id (its certificate CN).
    pub peer_ap: Option<String>,
    /// SHA-256 of the peer AP certificate.
    pub peer_certificate: Option<String>,
    /// The signature value on the peer's receipt.
    pub receipt_signature: Option<String>,
    /// The error cause, for failures.
    pub error: Option<String>,
    pub detail: String,
    /// The message id that refused input claimed (its AS4 MessageId or XHE id). Kept apart from `message_id` so
    /// a stranger's refused input never shows in the history of a stored message with that id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_message_id: Option<String>,
    /// An id of the change that produced the record (the store's outbox entry), so a record written twice
    /// after a crash can be recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Where a running node's audit records go: its own log files (one node), or the chain in the database that
/// several nodes share.
pub trait AuditSink: Send + Sync {
    /// Appends one event durably; returns its sequence number.
    fn append(&self, event: Event) -> Result<u64, AuditError>;
    /// Signs a checkpoint for the current end of the chain (at a clean stop), unless one anchors it already.
    fn checkpoint(&self) -> Result<Option<Checkpoint>, AuditError>;
}

impl AuditSink for AuditLog {
    fn append(&self, event: Event) -> Result<u64, AuditError> {
        AuditLog::append(self, event)
    }

    fn checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        AuditLog::checkpoint(self)
    }
}

/// A record as stored: the event, its place in the chain, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub time: String,
    /// SHA-256 (hex) of the previous record's line; 64 zeros for the first record ever.
    pub prev: String,
    #[serde(flatten)]
    pub event: Event,
}

/// SHA-256 (hex) of one stored line (without its newline): what the next record names as `prev`.
pub fn line_hash(line: &[u8]) -> String {
    crate::pki::cert::sha256_hex(line)
}

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Why the log cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Corrupt(String),
    #[error("checkpoint signing: {0}")]
    Signing(String),
}

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_owned(),
        source,
    }
}
