//! The embedded store: redb (`<data_dir>/node.redb`) for rows, one file per payload under
//! `<data_dir>/payloads/` (written and fsynced before the row that names it commits), and the audit outbox.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{
    Database, MultimapTableDefinition, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use time::OffsetDateTime;

use super::{
    Filter, Inbound, Inserted, Mark, NewMessage, QueueItem, Status, Store, StoreError,
    StoredMessage, check_id, inbound_marks, status_event, stored,
};
use crate::audit::{AuditLog, Event};

const MESSAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("store_messages");
const QUEUE: TableDefinition<&str, &[u8]> = TableDefinition::new("store_queue");
/// (next attempt, ms since the epoch; id) → (): the queue in due order.
const DUE: TableDefinition<(u64, &str), ()> = TableDefinition::new("store_due");
const SEEN_AS4: TableDefinition<&str, &str> = TableDefinition::new("store_seen_as4_ids");
const MAILBOXES: MultimapTableDefinition<(&str, &str), &str> =
    MultimapTableDefinition::new("store_mailboxes");
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("store_audit_outbox");
/// Replay marks (key → `Mark` as JSON), and the same keys by when they were made, to forget old ones.
const MARKS: TableDefinition<&str, &[u8]> = TableDefinition::new("store_marks");
const MARKS_BY_TIME: TableDefinition<(u64, &str), ()> = TableDefinition::new("store_marks_by_time");

pub struct RedbStore {
    db: Arc<Database>,
    payloads: PathBuf,
    audit: Arc<AuditLog>,
    /// One flusher at a time, so an outbox entry is appended once.
    flushing: Mutex<()>,
}

/// The node database in `data_dir`: the store's tables beside the address book's and the API clients'.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("node.redb")
}

/// Where the stored payload (the sealed XHE) of message `id` lives under `data_dir`.
pub fn payload_path(data_dir: &Path, id: &str) -> PathBuf {
    payloads_dir(data_dir).join(id)
}

fn payloads_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("payloads")
}

/// Payloads are decrypted messages: readable by the node's user alone, in a directory only it can list.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // A directory made by an earlier version (0755) is closed too.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(e.to_string())
}

fn millis(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

impl RedbStore {
    /// Opens the store in `data_dir`, and flushes audit records a crash left in the outbox.
    pub fn open(data_dir: &Path, audit: Arc<AuditLog>) -> Result<RedbStore, StoreError> {
        private_dir(data_dir).map_err(storage)?;
        crate::pki::fsutil::ensure_private_file(&database_path(data_dir)).map_err(storage)?;
        let db = Database::create(database_path(data_dir)).map_err(storage)?;
        RedbStore::with_database(Arc::new(db), data_dir, audit)
    }

    /// Opens the store in an already open node database (shared with the address book).
    pub fn with_database(
        db: Arc<Database>,
        data_dir: &Path,
        audit: Arc<AuditLog>,
    ) -> Result<RedbStore, StoreError> {
        let payloads = payloads_dir(data_dir);
        private_dir(&payloads).map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        {
            txn.open_table(MESSAGES).map_err(storage)?;
            txn.open_table(QUEUE).map_err(storage)?;
            txn.open_table(DUE).map_err(storage)?;
            txn.open_table(SEEN_AS4).map_err(storage)?;
            txn.open_multimap_table(MAILBOXES).map_err(storage)?;
            txn.open_table(OUTBOX).map_err(storage)?;
            txn.open_table(MARKS).map_err(storage)?;
            txn.open_table(MARKS_BY_TIME).map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        let store = RedbStore {
            db,
            payloads,
            audit,
            flushing: Mutex::new(()),
        };
        store.flush_outbox(true)?;
        store.remove_orphan_payloads()?;
        Ok(store)
    }

    fn payload_path(&self, id: &str) -> PathBuf {
        self.payloads.join(id)
    }

    /// Writes the payload durably under a temporary name, then its final one.
    fn write_payload(&self, id: &str, payload: &[u8]) -> Result<(), StoreError> {
        use std::io::Write;
        let tmp = self.payloads.join(format!(".{id}.tmp"));
        let mut file = private_file(&tmp).map_err(storage)?;
        file.write_all(payload).map_err(storage)?;
        file.sync_all().map_err(storage)?;
        std::fs::rename(&tmp, self.payload_path(id)).map_err(storage)?;
        std::fs::File::open(&self.payloads)
            .and_then(|d| d.sync_all())
            .map_err(storage)
    }

    /// Payload files no message names (a crash between the file and its row) are removed at start-up.
    fn remove_orphan_payloads(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let messages = txn.open_table(MESSAGES).map_err(storage)?;
        for entry in std::fs::read_dir(&self.payloads).map_err(storage)? {
            let entry = entry.map_err(storage)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || messages.get(name.as_str()).map_err(storage)?.is_none() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Puts an audit record in the outbox of `txn`, so it commits with the change it describes.
    fn outbox(txn: &WriteTransaction, event: Event) -> Result<(), StoreError> {
        let mut outbox = txn.open_table(OUTBOX).map_err(storage)?;
        let next = outbox
            .last()
            .map_err(storage)?
            .map_or(0, |(k, _)| k.value() + 1);
        let event = Event {
            reference: Some(format!(
                "store-outbox-{next}-{}",
                millis(OffsetDateTime::now_utc())
            )),
            ..event
        };
        outbox
            .insert(next, json(&event).as_slice())
            .map_err(storage)?;
        Ok(())
    }

    /// Appends the outbox to the audit log and empties it. After a crash (`recovering`), records the log
    /// already has (by reference) are not appended again.
    fn flush_outbox(&self, recovering: bool) -> Result<(), StoreError> {
        let _one = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let pending: Vec<(u64, Event)> = {
            let txn = self.db.begin_read().map_err(storage)?;
            let outbox = txn.open_table(OUTBOX).map_err(storage)?;
            let mut out = Vec::new();
            for row in outbox.iter().map_err(storage)? {
                let (k, v) = row.map_err(storage)?;
                out.push((
                    k.value(),
                    serde_json::from_slice(v.value()).map_err(storage)?,
                ));
            }
            out
        };
        if pending.is_empty() {
            return Ok(());
        }
        let already: std::collections::HashSet<String> = if recovering {
            self.audit.recent_references(pending.len() * 2 + 16)?
        } else {
            Default::default()
        };
        let events: Vec<Event> = pending
            .iter()
            .filter(|(_, e)| e.reference.as_ref().is_none_or(|r| !already.contains(r)))
            .map(|(_, e)| e.clone())
            .collect();
        if !events.is_empty() {
            self.audit.append_batch(events)?;
        }
        let mut txn = self.db.begin_write().map_err(storage)?;
        // Emptying the outbox need not be durable on its own: the next durable commit carries it, and if a
        // crash loses it, the entries are flushed again at start-up and recognised by their references.
        txn.set_durability(redb::Durability::None)
            .map_err(storage)?;
        {
            let mut outbox = txn.open_table(OUTBOX).map_err(storage)?;
            for (k, _) in &pending {
                outbox.remove(*k).map_err(storage)?;
            }
        }
        txn.commit().map_err(storage)
    }

    fn commit(&self, txn: WriteTransaction) -> Result<(), StoreError> {
        txn.commit().map_err(storage)?;
        self.flush_outbox(false)
    }

    fn exists(txn: &WriteTransaction, id: &str) -> Result<bool, StoreError> {
        Ok(txn
            .open_table(MESSAGES)
            .map_err(storage)?
            .get(id)
            .map_err(storage)?
            .is_some())
    }

    fn read_message(txn: &WriteTransaction, id: &str) -> Result<StoredMessage, StoreError> {
        let messages = txn.open_table(MESSAGES).map_err(storage)?;
        let row = messages
            .get(id)
            .map_err(storage)?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        serde_json::from_slice(row.value()).map_err(storage)
    }

    fn write_message(txn: &WriteTransaction, message: &StoredMessage) -> Result<(), StoreError> {
        let mut messages = txn.open_table(MESSAGES).map_err(storage)?;
        messages
            .insert(message.message.id.as_str(), json(message).as_slice())
            .map_err(storage)?;
        Ok(())
    }

    fn unqueue(txn: &WriteTransaction, id: &str) -> Result<(), StoreError> {
        let mut queue = txn.open_table(QUEUE).map_err(storage)?;
        let old = queue
            .remove(id)
            .map_err(storage)?
            .map(|v| v.value().to_vec());
        if let Some(old) = old {
            let item: QueueItem = serde_json::from_slice(&old).map_err(storage)?;
            txn.open_table(DUE)
                .map_err(storage)?
                .remove((millis(item.next_attempt), id))
                .map_err(storage)?;
        }
        Ok(())
    }

    fn enqueue(txn: &WriteTransaction, item: &QueueItem) -> Result<(), StoreError> {
        Self::unqueue(txn, &item.id)?;
        txn.open_table(QUEUE)
            .map_err(storage)?
            .insert(item.id.as_str(), json(item).as_slice())
            .map_err(storage)?;
        txn.open_table(DUE)
            .map_err(storage)?
            .insert((millis(item.next_attempt), item.id.as_str()), ())
            .map_err(storage)?;
        Ok(())
    }
}

impl RedbStore {
    /// Writes a new outbound message (SCHEDULED), its payload and its queue entry into `txn`.
    fn put_outbound(
        &self,
        txn: &WriteTransaction,
        message: NewMessage,
        payload: &[u8],
        next_attempt: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        check_id(&message.id)?;
        let id = message.id.clone();
        if Self::exists(txn, &id)? {
            return Err(StoreError::Exists(id));
        }
        self.write_payload(&id, payload)?;
        let stored = stored(message, Status::Scheduled, None, payload.len());
        Self::write_message(txn, &stored)?;
        Self::enqueue(
            txn,
            &QueueItem {
                id,
                next_attempt,
                attempts: 0,
                expires,
            },
        )?;
        Self::outbox(txn, status_event(&stored, Status::Scheduled, None))
    }

    /// Records each mark whose key has none yet; returns the earlier ones.
    fn put_marks(
        txn: &WriteTransaction,
        marks: &[(String, Mark)],
    ) -> Result<Vec<Option<Mark>>, StoreError> {
        let mut table = txn.open_table(MARKS).map_err(storage)?;
        let mut by_time = txn.open_table(MARKS_BY_TIME).map_err(storage)?;
        let mut earlier = Vec::with_capacity(marks.len());
        for (key, mark) in marks {
            let found = table
                .get(key.as_str())
                .map_err(storage)?
                .map(|v| serde_json::from_slice::<Mark>(v.value()))
                .transpose()
                .map_err(storage)?;
            if found.is_none() {
                table
                    .insert(key.as_str(), json(mark).as_slice())
                    .map_err(storage)?;
                by_time
                    .insert((millis(mark.at), key.as_str()), ())
                    .map_err(storage)?;
            }
            earlier.push(found);
        }
        Ok(earlier)
    }

    /// The id already stored for this AS4 MessageId or SDK messageId, if any.
    fn seen(txn: &WriteTransaction, as4_id: &str, id: &str) -> Result<Option<String>, StoreError> {
        let seen = txn
            .open_table(SEEN_AS4)
            .map_err(storage)?
            .get(as4_id)
            .map_err(storage)?
            .map(|v| v.value().to_owned());
        if seen.is_some() {
            return Ok(seen);
        }
        Ok(Self::exists(txn, id)?.then(|| id.to_owned()))
    }
}

impl Store for RedbStore {
    fn insert_outbound(
        &self,
        message: NewMessage,
        payload: &[u8],
        next_attempt: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // The payload is written inside the write transaction: no other writer can store the same id meanwhile,
        // and the file is durable before the row that names it commits.
        let txn = self.db.begin_write().map_err(storage)?;
        self.put_outbound(&txn, message, payload, next_attempt, expires)?;
        self.commit(txn)
    }

    fn receive(&self, inbound: Inbound<'_>) -> Result<Inserted, StoreError> {
        let Inbound {
            message,
            payload,
            as4_message_id,
            rejected,
            reply,
        } = inbound;
        check_id(&message.id)?;
        let id = message.id.clone();
        let txn = self.db.begin_write().map_err(storage)?;
        if let Some(existing) = Self::seen(&txn, as4_message_id, &id)? {
            return Ok(Inserted::Duplicate { existing });
        }
        self.write_payload(&id, payload)?;
        let status = if rejected.is_some() {
            Status::Rejected
        } else {
            Status::New
        };
        let mut stored = stored(message, status, Some(as4_message_id), payload.len());
        // A refused message's history says why from its first entry.
        stored.events[0].reason.clone_from(&rejected);
        Self::write_message(&txn, &stored)?;
        txn.open_table(SEEN_AS4)
            .map_err(storage)?
            .insert(as4_message_id, id.as_str())
            .map_err(storage)?;
        let m = &stored.message;
        let reason = match &rejected {
            None => {
                txn.open_multimap_table(MAILBOXES)
                    .map_err(storage)?
                    .insert(
                        (m.org.as_str(), m.function.as_deref().unwrap_or("")),
                        id.as_str(),
                    )
                    .map_err(storage)?;
                "delivered to the mailbox"
            }
            Some(reason) => reason.as_str(),
        };
        Self::outbox(&txn, status_event(&stored, status, Some(reason)))?;
        Self::put_marks(&txn, &inbound_marks(&stored.message, as4_message_id))?;
        if let Some(r) = reply {
            self.put_outbound(&txn, r.message, r.payload, r.next_attempt, r.expires)?;
        }
        self.commit(txn)?;
        Ok(Inserted::New)
    }

    fn due(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<QueueItem>, StoreError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let due = txn.open_table(DUE).map_err(storage)?;
        let queue = txn.open_table(QUEUE).map_err(storage)?;
        let mut out = Vec::new();
        for row in due
            .range((0u64, "")..(millis(now) + 1, ""))
            .map_err(storage)?
        {
            let (key, _) = row.map_err(storage)?;
            let (_, id) = key.value();
            if let Some(item) = queue.get(id).map_err(storage)? {
                out.push(serde_json::from_slice(item.value()).map_err(storage)?);
            }
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn transition(
        &self,
        id: &str,
        status: Status,
        reason: Option<String>,
    ) -> Result<StoredMessage, StoreError> {
        let txn = self.db.begin_write().map_err(storage)?;
        let mut message = Self::read_message(&txn, id)?;
        message.advance(status, reason.clone())?;
        Self::write_message(&txn, &message)?;
        if status != Status::ScheduledForResend && status != Status::Scheduled {
            Self::unqueue(&txn, id)?;
        }
        Self::outbox(&txn, status_event(&message, status, reason.as_deref()))?;
        self.commit(txn)?;
        Ok(message)
    }

    fn reschedule(
        &self,
        id: &str,
        next_attempt: OffsetDateTime,
        reason: String,
    ) -> Result<StoredMessage, StoreError> {
        let txn = self.db.begin_write().map_err(storage)?;
        let mut message = Self::read_message(&txn, id)?;
        let item: QueueItem = {
            let queue = txn.open_table(QUEUE).map_err(storage)?;
            let row = queue
                .get(id)
                .map_err(storage)?
                .ok_or_else(|| StoreError::NotFound(format!("{id} in the queue")))?;
            serde_json::from_slice(row.value()).map_err(storage)?
        };
        message.advance(Status::ScheduledForResend, Some(reason.clone()))?;
        Self::write_message(&txn, &message)?;
        Self::enqueue(
            &txn,
            &QueueItem {
                next_attempt,
                attempts: item.attempts + 1,
                ..item
            },
        )?;
        Self::outbox(
            &txn,
            status_event(&message, Status::ScheduledForResend, Some(&reason)),
        )?;
        self.commit(txn)?;
        Ok(message)
    }

    fn get(&self, id: &str) -> Result<StoredMessage, StoreError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let messages = txn.open_table(MESSAGES).map_err(storage)?;
        let row = messages
            .get(id)
            .map_err(storage)?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        serde_json::from_slice(row.value()).map_err(storage)
    }

    fn payload(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        check_id(id)?;
        self.get(id)?;
        std::fs::read(self.payload_path(id)).map_err(storage)
    }

    fn list(&self, filter: &Filter) -> Result<Vec<StoredMessage>, StoreError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let mut ids: Option<Vec<String>> = None;
        if let (Some(org), Some(function)) = (&filter.org, &filter.function) {
            let mailboxes = txn.open_multimap_table(MAILBOXES).map_err(storage)?;
            let mut found = Vec::new();
            for id in mailboxes
                .get((org.as_str(), function.as_str()))
                .map_err(storage)?
            {
                found.push(id.map_err(storage)?.value().to_owned());
            }
            ids = Some(found);
        }
        let messages = txn.open_table(MESSAGES).map_err(storage)?;
        let keep = |m: &StoredMessage| {
            filter.org.as_ref().is_none_or(|o| *o == m.message.org)
                && filter
                    .function
                    .as_ref()
                    .is_none_or(|f| m.message.function.as_ref() == Some(f))
                && filter.status.is_none_or(|s| s == m.status)
                && filter.direction.is_none_or(|d| d == m.message.direction)
        };
        let mut out = Vec::new();
        match ids {
            Some(ids) => {
                for id in ids {
                    if let Some(row) = messages.get(id.as_str()).map_err(storage)? {
                        let m: StoredMessage =
                            serde_json::from_slice(row.value()).map_err(storage)?;
                        if keep(&m) {
                            out.push(m);
                        }
                    }
                }
            }
            None => {
                for row in messages.iter().map_err(storage)? {
                    let (_, v) = row.map_err(storage)?;
                    let m: StoredMessage = serde_json::from_slice(v.value()).map_err(storage)?;
                    if keep(&m) {
                        out.push(m);
                    }
                }
            }
        }
        Ok(out)
    }

    fn delete(&self, id: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(storage)?;
        let message = Self::read_message(&txn, id)?;
        if !message.status.is_final() {
            return Err(StoreError::NotFinal {
                id: id.to_owned(),
                status: message.status,
            });
        }
        txn.open_table(MESSAGES)
            .map_err(storage)?
            .remove(id)
            .map_err(storage)?;
        Self::unqueue(&txn, id)?;
        let m = &message.message;
        txn.open_multimap_table(MAILBOXES)
            .map_err(storage)?
            .remove((m.org.as_str(), m.function.as_deref().unwrap_or("")), id)
            .map_err(storage)?;
        Self::outbox(
            &txn,
            Event {
                kind: "message.deleted".into(),
                ..status_event(&message, message.status, Some("deleted by the client"))
            },
        )?;
        self.commit(txn)?;
        // The row is gone; a crash before this line leaves an orphan file, removed at the next start.
        let _ = std::fs::remove_file(self.payload_path(id));
        Ok(())
    }

    fn mark(&self, marks: &[(String, Mark)]) -> Result<Vec<Option<Mark>>, StoreError> {
        let mut txn = self.db.begin_write().map_err(storage)?;
        // The message the marks guard commits durably after them, and carries them to disk (redb writes the
        // whole tree on a durable commit); without that message there is nothing a lost mark could let in.
        txn.set_durability(redb::Durability::None)
            .map_err(storage)?;
        let earlier = Self::put_marks(&txn, marks)?;
        txn.commit().map_err(storage)?;
        Ok(earlier)
    }

    fn marks(&self, keys: &[String]) -> Result<Vec<Option<Mark>>, StoreError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(MARKS).map_err(storage)?;
        keys.iter()
            .map(|key| {
                table
                    .get(key.as_str())
                    .map_err(storage)?
                    .map(|v| serde_json::from_slice::<Mark>(v.value()))
                    .transpose()
                    .map_err(storage)
            })
            .collect()
    }

    fn forget_marks(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().map_err(storage)?;
        let mut forgotten = 0;
        {
            let mut table = txn.open_table(MARKS).map_err(storage)?;
            let mut by_time = txn.open_table(MARKS_BY_TIME).map_err(storage)?;
            let old: Vec<(u64, String)> = by_time
                .range((0u64, "")..(millis(before), ""))
                .map_err(storage)?
                .map(|row| row.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
                .collect::<Result<_, _>>()
                .map_err(storage)?;
            for (at, key) in old {
                by_time.remove((at, key.as_str())).map_err(storage)?;
                table.remove(key.as_str()).map_err(storage)?;
                forgotten += 1;
            }
        }
        self.commit(txn)?;
        Ok(forgotten)
    }
}
