//! The node's durable state (issue 8): messages and their payloads, the outbound queue, inbound mailboxes,
//! de-duplication, and status changes — each change committed together with its audit record (an outbox in
//! the same transaction, flushed to the audit log right after, and again at start-up after a crash).
//! Behind the [`Store`] trait so a PostgreSQL backend can follow; [`redb_store::RedbStore`] is the embedded one.

pub mod config;
mod location;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod redb_store;
mod status;

pub use location::{recall, remember};
pub use redb_store::RedbStore;
pub use redb_store::{database_path, payload_path};
pub use status::{Direction, Status};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::{ActorKind, Event};

/// A message to store: who, which, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    /// The SDK messageId (a UUID), which is also the XHE id.
    pub id: String,
    pub direction: Direction,
    pub conversation_id: String,
    /// The hosted organisation (sender for outbound, receiver for inbound).
    pub org: String,
    /// Its functional address.
    pub function: Option<String>,
    /// The other organisation.
    pub peer_org: String,
    pub label: String,
    /// An SDK message, or a Meddelandekvittens this node sends back.
    #[serde(default)]
    pub kind: Kind,
}

/// What a stored message carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    #[default]
    Message,
    /// A Meddelandekvittens for a received message, queued to go back to its sender.
    Receipt,
}

/// An inbound message and what was decided about it, stored in one transaction.
pub struct Inbound<'a> {
    pub message: NewMessage,
    pub payload: &'a [u8],
    pub as4_message_id: &'a str,
    /// `None`: delivered to its mailbox (NEW). `Some(reason)`: refused by a REJECTED Meddelandekvittens; kept
    /// (so a resend is recognised) but out of every mailbox.
    pub rejected: Option<String>,
    /// The Meddelandekvittens to send back, queued in the same transaction so it cannot be lost.
    pub reply: Option<Reply<'a>>,
}

/// An outbound message queued together with an inbound one.
pub struct Reply<'a> {
    pub message: NewMessage,
    pub payload: &'a [u8],
    pub next_attempt: OffsetDateTime,
    pub expires: OffsetDateTime,
}

/// One status change, as the message's history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub status: Status,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub reason: Option<String>,
}

/// A stored message (the payload is read separately).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    #[serde(flatten)]
    pub message: NewMessage,
    pub status: Status,
    pub as4_message_id: Option<String>,
    pub payload_bytes: u64,
    pub events: Vec<StatusEvent>,
}

impl StoredMessage {
    /// Moves to `status` when the life cycle allows it, recording when and why.
    pub(crate) fn advance(
        &mut self,
        status: Status,
        reason: Option<String>,
    ) -> Result<(), StoreError> {
        if !self.status.can_become(status) {
            return Err(StoreError::Transition {
                id: self.message.id.clone(),
                from: self.status,
                to: status,
            });
        }
        self.status = status;
        self.events.push(StatusEvent {
            status,
            at: OffsetDateTime::now_utc(),
            reason,
        });
        Ok(())
    }
}

/// An outbound message waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueItem {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt: OffsetDateTime,
    pub attempts: u32,
    /// After this, the message gets MESSAGE_EXCHANGE_ERROR.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
}

/// The result of storing an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// Already received (same AS4 MessageId or SDK messageId): not stored again; answer with a receipt anyway.
    Duplicate {
        existing: String,
    },
}

/// What the node remembers of an inbound envelope against replays (its XHE id, its AS4 MessageId, its content
/// key): kept apart from the message, so deleting the message does not forget it, and forgotten only after
/// [`crate::config::Limits::replay_memory`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The XHE id of the envelope that made the mark.
    pub message_id: String,
    /// Its sender organisation.
    pub sender: String,
    /// The AS4 MessageId it came in.
    pub as4_message_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Filters for listing messages (the MT-MK API's, plus direction and organisation).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub org: Option<String>,
    pub function: Option<String>,
    pub status: Option<Status>,
    pub direction: Option<Direction>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("message {0} not found")]
    NotFound(String),
    #[error("message {id}: {from} cannot become {to}")]
    Transition {
        id: String,
        from: Status,
        to: Status,
    },
    #[error("message {0} already exists")]
    Exists(String),
    #[error("message {id} is {status}, not in a final status: it cannot be deleted yet")]
    NotFinal { id: String, status: Status },
    #[error("storage: {0}")]
    Storage(String),
    #[error("audit log: {0}")]
    Audit(#[from] crate::audit::AuditError),
}

/// What the node needs from its storage. Every method is one durable transaction; each status change carries
/// its audit record in the same transaction.
pub trait Store: Send + Sync {
    /// Stores an outbound message (status SCHEDULED) with its payload and a queue entry due at `next_attempt`.
    fn insert_outbound(
        &self,
        message: NewMessage,
        payload: &[u8],
        next_attempt: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Stores an inbound message (status NEW) in its mailbox, unless its AS4 MessageId or SDK messageId was
    /// seen before.
    fn insert_inbound(
        &self,
        message: NewMessage,
        payload: &[u8],
        as4_message_id: &str,
    ) -> Result<Inserted, StoreError> {
        self.receive(Inbound {
            message,
            payload,
            as4_message_id,
            rejected: None,
            reply: None,
        })
    }

    /// Stores an inbound message — in its mailbox, or refused — with the receipt that answers it, unless its
    /// AS4 MessageId or SDK messageId was seen before (then nothing is stored). A stored one leaves the marks
    /// [`inbound_marks`] names, which outlive the message.
    fn receive(&self, inbound: Inbound<'_>) -> Result<Inserted, StoreError>;

    /// Queue entries due at `now`, oldest first.
    fn due(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<QueueItem>, StoreError>;

    /// Up to `limit` due entries for this node to send now, besides the `in_flight` it is sending. Nodes
    /// sharing a database claim entries, so no two send the same message at once (a claim lapses when its
    /// node dies). A node alone claims nothing: its due entries include those in flight, which it skips.
    fn claim(
        &self,
        now: OffsetDateTime,
        limit: usize,
        in_flight: usize,
    ) -> Result<Vec<QueueItem>, StoreError> {
        self.due(now, limit.saturating_add(in_flight))
    }

    /// Moves a message to `status` (validated), removing it from the queue unless it is to be resent.
    fn transition(
        &self,
        id: &str,
        status: Status,
        reason: Option<String>,
    ) -> Result<StoredMessage, StoreError>;

    /// SCHEDULED_FOR_RESEND, due again at `next_attempt` (one more attempt counted).
    fn reschedule(
        &self,
        id: &str,
        next_attempt: OffsetDateTime,
        reason: String,
    ) -> Result<StoredMessage, StoreError>;

    fn get(&self, id: &str) -> Result<StoredMessage, StoreError>;

    fn payload(&self, id: &str) -> Result<Vec<u8>, StoreError>;

    fn list(&self, filter: &Filter) -> Result<Vec<StoredMessage>, StoreError>;

    /// Deletes a message in a final status, with its payload. Its marks stay.
    fn delete(&self, id: &str) -> Result<(), StoreError>;

    /// Records each `(key, mark)` whose key has none yet, all in one transaction; returns, per key, the mark
    /// recorded before (`None`: this is the first). Marks need not be durable on their own: what they guard
    /// is stored durably later (and that commit carries them), and a crash before that stored nothing.
    fn mark(&self, marks: &[(String, Mark)]) -> Result<Vec<Option<Mark>>, StoreError>;

    /// The marks recorded under `keys` (`None` where there is none).
    fn marks(&self, keys: &[String]) -> Result<Vec<Option<Mark>>, StoreError>;

    /// Forgets the marks made before `before`; returns how many.
    fn forget_marks(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// The mark keys of a received envelope's XHE id and AS4 MessageId.
pub fn id_mark_keys(id: &str, as4_message_id: &str) -> [String; 2] {
    [format!("xhe:{id}"), format!("as4:{as4_message_id}")]
}

/// The marks a stored inbound message leaves: its XHE id and its AS4 MessageId, with its sender.
pub fn inbound_marks(message: &NewMessage, as4_message_id: &str) -> Vec<(String, Mark)> {
    let mark = Mark {
        message_id: message.id.clone(),
        sender: message.peer_org.clone(),
        as4_message_id: as4_message_id.to_owned(),
        at: OffsetDateTime::now_utc(),
    };
    id_mark_keys(&message.id, as4_message_id)
        .into_iter()
        .map(|k| (k, mark.clone()))
        .collect()
}

/// Message ids name payload files: only characters that cannot escape the directory.
pub(crate) fn check_id(id: &str) -> Result<(), StoreError> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Storage(format!(
            "message id {id:?} has characters a message id cannot have"
        )))
    }
}

/// A new row: its first status, and the history that starts there.
pub(crate) fn stored(
    message: NewMessage,
    status: Status,
    as4_message_id: Option<&str>,
    bytes: usize,
) -> StoredMessage {
    StoredMessage {
        message,
        status,
        as4_message_id: as4_message_id.map(str::to_owned),
        payload_bytes: bytes as u64,
        events: vec![StatusEvent {
            status,
            at: OffsetDateTime::now_utc(),
            reason: None,
        }],
    }
}

/// The audit record of a status change.
pub(crate) fn status_event(message: &StoredMessage, status: Status, reason: Option<&str>) -> Event {
    let m = &message.message;
    let (sender, receiver) = match m.direction {
        Direction::Outbound => (m.org.clone(), m.peer_org.clone()),
        Direction::Inbound => (m.peer_org.clone(), m.org.clone()),
    };
    Event {
        kind: format!("message.{}", status.as_str().to_lowercase()),
        outcome: if matches!(
            status,
            Status::MessageExchangeError | Status::Error | Status::Rejected
        ) {
            "failed".into()
        } else {
            "ok".into()
        },
        actor_kind: Some(ActorKind::Node),
        message_id: Some(m.id.clone()),
        conversation_id: Some(m.conversation_id.clone()),
        org: Some(m.org.clone()),
        sender: Some(sender),
        receiver: Some(receiver),
        error: reason
            .filter(|_| status == Status::MessageExchangeError || status == Status::Error)
            .map(str::to_owned),
        detail: reason.unwrap_or_default().to_owned(),
        ..Event::default()
    }
}
