//! An index of the log (`<data_dir>/audit/index.redb`): where each record is, and which records belong to a
//! message or conversation, so `show` and filtered `list` read only what they need. It is derived data:
//! brought up to date from the log before each query, and rebuilt from scratch if it is lost.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use redb::{Database, MultimapTableDefinition, ReadableDatabase, ReadableTable, TableDefinition};

use super::log::segments;
use super::{AuditError, Record, io_error};

/// seq → (segment first seq, byte offset, line length)
const POSITIONS: TableDefinition<u64, (u64, u64, u64)> = TableDefinition::new("positions");
const BY_MESSAGE: MultimapTableDefinition<&str, u64> = MultimapTableDefinition::new("by_message");
const BY_CONVERSATION: MultimapTableDefinition<&str, u64> =
    MultimapTableDefinition::new("by_conversation");

pub struct AuditIndex {
    db: Database,
    dir: PathBuf,
}

fn db_error(e: impl std::fmt::Display) -> AuditError {
    AuditError::Corrupt(format!("audit index: {e}"))
}

impl AuditIndex {
    pub fn open(data_dir: &Path) -> Result<AuditIndex, AuditError> {
        let dir = data_dir.join("audit");
        super::log::private_dir(&dir).map_err(io_error(&dir))?;
        let path = dir.join("index.redb");
        crate::pki::fsutil::ensure_private_file(&path).map_err(io_error(&path))?;
        let db = Database::create(path).map_err(db_error)?;
        Ok(AuditIndex { db, dir })
    }

    /// Indexes records appended since the last call; returns how many.
    pub fn catch_up(&self) -> Result<u64, AuditError> {
        let txn = self.db.begin_write().map_err(db_error)?;
        let mut added = 0;
        {
            let mut positions = txn.open_table(POSITIONS).map_err(db_error)?;
            let mut by_message = txn.open_multimap_table(BY_MESSAGE).map_err(db_error)?;
            let mut by_conversation = txn.open_multimap_table(BY_CONVERSATION).map_err(db_error)?;
            let last = positions
                .last()
                .map_err(db_error)?
                .map(|(k, v)| (k.value(), v.value()));
            for (first, path) in segments(&self.dir)? {
                // Start where the index stopped: skip older segments, seek within the last indexed one.
                let start = match last {
                    Some((_, (seg, offset, len))) if seg == first => offset + len + 1,
                    Some((_, (seg, _, _))) if seg > first => continue,
                    _ => 0,
                };
                let mut file = File::open(&path).map_err(io_error(&path))?;
                file.seek(SeekFrom::Start(start)).map_err(io_error(&path))?;
                let mut reader = BufReader::new(file);
                let mut offset = start;
                let mut line = Vec::new();
                loop {
                    line.clear();
                    let n = reader
                        .read_until(b'\n', &mut line)
                        .map_err(io_error(&path))?;
                    if n == 0 || line.last() != Some(&b'\n') {
                        break;
                    }
                    let body = &line[..n - 1];
                    if let Ok(record) = serde_json::from_slice::<Record>(body) {
                        positions
                            .insert(record.seq, (first, offset, body.len() as u64))
                            .map_err(db_error)?;
                        if let Some(m) = &record.event.message_id {
                            by_message
                                .insert(m.as_str(), record.seq)
                                .map_err(db_error)?;
                        }
                        if let Some(c) = &record.event.conversation_id {
                            by_conversation
                                .insert(c.as_str(), record.seq)
                                .map_err(db_error)?;
                        }
                        added += 1;
                    }
                    offset += n as u64;
                }
            }
        }
        txn.commit().map_err(db_error)?;
        Ok(added)
    }

    /// Records from `seq` on, in order (for `tail -f`).
    pub fn records_from(&self, seq: u64) -> Result<Vec<Record>, AuditError> {
        self.catch_up()?;
        let txn = self.db.begin_read().map_err(db_error)?;
        let positions = txn.open_table(POSITIONS).map_err(db_error)?;
        let mut out = Vec::new();
        for row in positions.range(seq..).map_err(db_error)? {
            let (_, position) = row.map_err(db_error)?;
            out.push(self.read_at(position.value())?);
        }
        Ok(out)
    }

    fn read_at(&self, (first, offset, len): (u64, u64, u64)) -> Result<Record, AuditError> {
        let path = self.dir.join(super::log::segment_name(first));
        let mut file = File::open(&path).map_err(io_error(&path))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(io_error(&path))?;
        let mut line = vec![0u8; len as usize];
        file.read_exact(&mut line).map_err(io_error(&path))?;
        serde_json::from_slice(&line)
            .map_err(|e| AuditError::Corrupt(format!("{}: {e}", path.display())))
    }

    /// The records of one message (or conversation), in order, read by position.
    pub fn records_of(
        &self,
        message_id: Option<&str>,
        conversation_id: Option<&str>,
    ) -> Result<Vec<Record>, AuditError> {
        self.catch_up()?;
        let txn = self.db.begin_read().map_err(db_error)?;
        let mut seqs: Vec<u64> = Vec::new();
        if let Some(m) = message_id {
            let table = txn.open_multimap_table(BY_MESSAGE).map_err(db_error)?;
            for s in table.get(m).map_err(db_error)? {
                seqs.push(s.map_err(db_error)?.value());
            }
        }
        if let Some(c) = conversation_id {
            let table = txn.open_multimap_table(BY_CONVERSATION).map_err(db_error)?;
            let mut of_conversation = Vec::new();
            for s in table.get(c).map_err(db_error)? {
                of_conversation.push(s.map_err(db_error)?.value());
            }
            if message_id.is_some() {
                seqs.retain(|s| of_conversation.contains(s));
            } else {
                seqs = of_conversation;
            }
        }
        seqs.sort_unstable();
        let positions = txn.open_table(POSITIONS).map_err(db_error)?;
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            let Some(position) = positions.get(seq).map_err(db_error)? else {
                continue;
            };
            out.push(self.read_at(position.value())?);
        }
        Ok(out)
    }
}
