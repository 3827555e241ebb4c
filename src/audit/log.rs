//! Appending to the log: one line per record in the current segment, fsynced before `append` returns, under
//! a lock file so threads and processes keep one chain; a torn last line (a crash mid-write, never
//! acknowledged) is cut off before the next append.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::checkpoint::{Checkpoint, CheckpointSigner};
use super::{AuditError, Event, GENESIS, Record, io_error, line_hash};

/// How the log is laid out and anchored.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Records per segment file.
    pub segment_records: u64,
    /// A checkpoint after this many records (when a signer is configured)…
    pub checkpoint_every: u64,
    /// …or when the last checkpoint is older than this, whichever comes first.
    pub checkpoint_interval: time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_records: 100_000,
            checkpoint_every: 1_000,
            checkpoint_interval: time::Duration::minutes(5),
        }
    }
}

/// The audit log of one data directory.
pub struct AuditLog {
    dir: PathBuf,
    options: Options,
    signer: Option<CheckpointSigner>,
    /// Serializes this process's appenders; the lock file serializes processes.
    writer: Mutex<()>,
}

/// Where the chain ends: the next sequence number and the hash it must name.
struct Tail {
    segment: Option<(u64, PathBuf)>,
    segment_records: u64,
    next_seq: u64,
    last_hash: String,
}

pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("segment-{first_seq:012}.log")
}

/// Segment files in order of their first sequence number.
pub(crate) fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_error(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix("segment-")
            .and_then(|n| n.strip_suffix(".log"))
            && let Ok(first) = n.parse::<u64>()
        {
            out.push((first, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) const CHECKPOINTS: &str = "checkpoints.log";

/// Calls `each` with every record of the log in `<data_dir>/audit/`, oldest first. Lines that are not
/// records (a torn last line) are skipped: `verify` is what judges the log.
pub fn read_records<E: From<AuditError>>(
    data_dir: &Path,
    mut each: impl FnMut(Record) -> Result<(), E>,
) -> Result<(), E> {
    use std::io::BufRead;
    for (_, path) in segments(&data_dir.join("audit"))? {
        let file = File::open(&path).map_err(io_error(&path))?;
        for line in std::io::BufReader::new(file).split(b'\n') {
            let line = line.map_err(io_error(&path))?;
            if let Ok(record) = serde_json::from_slice::<Record>(&line) {
                each(record)?;
            }
        }
    }
    Ok(())
}

impl AuditLog {
    /// Opens the log in `<data_dir>/audit/`, creating it when needed. With a signer, checkpoints are written
    /// every `options.checkpoint_every` records.
    pub fn open(
        data_dir: &Path,
        options: Options,
        signer: Option<CheckpointSigner>,
    ) -> Result<AuditLog, AuditError> {
        let dir = data_dir.join("audit");
        private_dir(&dir).map_err(io_error(&dir))?;
        Ok(AuditLog {
            dir,
            options,
            signer,
            writer: Mutex::new(()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one event durably; returns its sequence number.
    pub fn append(&self, event: Event) -> Result<u64, AuditError> {
        Ok(self.append_batch(vec![event])?[0])
    }

    /// Appends several events with one fsync (they are durable together, or not at all).
    pub fn append_batch(&self, events: Vec<Event>) -> Result<Vec<u64>, AuditError> {
        let _in_process = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let lock = self.lock()?;
        let mut tail = self.tail()?;
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let mut seqs = Vec::with_capacity(events.len());
        let mut pending: Vec<u8> = Vec::new();
        let mut open: Option<(File, PathBuf)> = None;
        for event in events {
            if tail.segment.is_none() || tail.segment_records >= self.options.segment_records {
                if let Some((file, path)) = open.take() {
                    flush(file, &path, &mut pending)?;
                }
                let path = self.dir.join(segment_name(tail.next_seq));
                tail.segment = Some((tail.next_seq, path));
                tail.segment_records = 0;
            }
            if open.is_none()
                && let Some((_, path)) = &tail.segment
            {
                let new_segment = !path.exists();
                let file = append_private(path)?;
                if new_segment {
                    // The new file's directory entry must survive a crash as surely as its records.
                    sync_dir(&self.dir)?;
                }
                open = Some((file, path.clone()));
            }
            let record = Record {
                seq: tail.next_seq,
                time: now.clone(),
                prev: tail.last_hash.clone(),
                event,
            };
            let line =
                serde_json::to_vec(&record).map_err(|e| AuditError::Corrupt(e.to_string()))?;
            tail.last_hash = line_hash(&line);
            pending.extend_from_slice(&line);
            pending.push(b'\n');
            seqs.push(tail.next_seq);
            tail.next_seq += 1;
            tail.segment_records += 1;
        }
        if let Some((file, path)) = open.take() {
            flush(file, &path, &mut pending)?;
        }
        if let Some(signer) = &self.signer {
            let last = tail.next_seq - 1;
            let previous = self.last_checkpoint()?;
            let anchored = previous.as_ref().map_or(0, |c| c.seq + 1);
            let stale = previous
                .as_ref()
                .and_then(|c| OffsetDateTime::parse(&c.time, &Rfc3339).ok())
                .is_some_and(|at| {
                    OffsetDateTime::now_utc() - at >= self.options.checkpoint_interval
                });
            if last + 1 - anchored >= self.options.checkpoint_every || stale {
                self.write_checkpoint(signer, last, &tail.last_hash)?;
            }
        }
        drop(lock);
        Ok(seqs)
    }

    /// Writes a checkpoint for the current end of the log now (e.g. at a clean shutdown), unless the last
    /// checkpoint already anchors it.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let _in_process = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _lock = self.lock()?;
        let tail = self.tail()?;
        let Some(last) = tail.next_seq.checked_sub(1) else {
            return Ok(None);
        };
        if self.last_checkpoint()?.is_some_and(|c| c.seq == last) {
            return Ok(None);
        }
        self.write_checkpoint(signer, last, &tail.last_hash)
            .map(Some)
    }

    fn write_checkpoint(
        &self,
        signer: &CheckpointSigner,
        seq: u64,
        hash: &str,
    ) -> Result<Checkpoint, AuditError> {
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let checkpoint = super::checkpoint::sign(signer, seq, hash, &now)?;
        let path = self.dir.join(CHECKPOINTS);
        let mut line =
            serde_json::to_vec(&checkpoint).map_err(|e| AuditError::Corrupt(e.to_string()))?;
        line.push(b'\n');
        let new_file = !path.exists();
        let mut file = append_private(&path)?;
        if new_file {
            sync_dir(&self.dir)?;
        }
        cut_torn_tail(&mut file, &path)?;
        file.write_all(&line).map_err(io_error(&path))?;
        file.sync_data().map_err(io_error(&path))?;
        Ok(checkpoint)
    }

    /// Removes whole segments whose records are all older than `before`, never the current one. The record
    /// before the first one kept is anchored by a signed checkpoint first, so the rest still verifies.
    /// Returns the number of records removed.
    pub fn prune(&self, before: OffsetDateTime) -> Result<u64, AuditError> {
        let Some(signer) = &self.signer else {
            return Err(AuditError::Signing(
                "pruning needs the node's key, to sign the anchor the remaining log verifies from"
                    .into(),
            ));
        };
        let _in_process = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _lock = self.lock()?;
        let all = segments(&self.dir)?;
        let mut doomed = Vec::new();
        let mut anchor: Option<(u64, String)> = None;
        for (_, path) in all.iter().take(all.len().saturating_sub(1)) {
            let Some(line) = last_line(path)? else {
                continue;
            };
            let record: Record = serde_json::from_slice(&line)
                .map_err(|e| AuditError::Corrupt(format!("{}: {e}", path.display())))?;
            let time = OffsetDateTime::parse(&record.time, &Rfc3339).map_err(|e| {
                AuditError::Corrupt(format!("{}: record {}: {e}", path.display(), record.seq))
            })?;
            if time >= before {
                break;
            }
            anchor = Some((record.seq, line_hash(&line)));
            doomed.push(path.clone());
        }
        let Some((seq, hash)) = anchor else {
            return Ok(0);
        };
        self.write_checkpoint(signer, seq, &hash)?;
        let first = all.first().map_or(0, |(f, _)| *f);
        for path in &doomed {
            std::fs::remove_file(path).map_err(io_error(path))?;
        }
        // Positions in removed segments are gone: the index rebuilds itself on its next use.
        let index = self.dir.join("index.redb");
        if index.exists() {
            std::fs::remove_file(&index).map_err(io_error(&index))?;
        }
        Ok(seq + 1 - first)
    }

    /// The `reference`s of the last `n` records (to recognise records already written before a crash).
    pub fn recent_references(
        &self,
        n: usize,
    ) -> Result<std::collections::HashSet<String>, AuditError> {
        let mut out = std::collections::HashSet::new();
        let mut seen = 0;
        for (_, path) in segments(&self.dir)?.iter().rev() {
            let text = std::fs::read(path).map_err(io_error(path))?;
            for line in text.split(|b| *b == b'\n').rev() {
                if line.is_empty() {
                    continue;
                }
                if let Ok(record) = serde_json::from_slice::<Record>(line)
                    && let Some(reference) = record.event.reference
                {
                    out.insert(reference);
                }
                seen += 1;
                if seen >= n {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    pub fn last_checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        let path = self.dir.join(CHECKPOINTS);
        match last_line(&path)? {
            Some(line) => serde_json::from_slice(&line)
                .map(Some)
                .map_err(|e| AuditError::Corrupt(format!("{}: {e}", path.display()))),
            None => Ok(None),
        }
    }

    fn lock(&self) -> Result<File, AuditError> {
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        file.lock().map_err(io_error(&path))?;
        Ok(file)
    }

    /// The end of the chain, read from the files (another process may have appended): the last complete line
    /// of the last non-empty segment. A torn last line is cut off.
    fn tail(&self) -> Result<Tail, AuditError> {
        let segments = segments(&self.dir)?;
        for (i, (first, path)) in segments.iter().enumerate().rev() {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(io_error(path))?;
            cut_torn_tail(&mut file, path)?;
            if let Some(line) = last_line(path)? {
                let record: Record = serde_json::from_slice(&line).map_err(|e| {
                    AuditError::Corrupt(format!("{}: last record: {e}", path.display()))
                })?;
                let current = i == segments.len() - 1;
                return Ok(Tail {
                    segment: current.then(|| (*first, path.clone())),
                    segment_records: record.seq + 1 - first,
                    next_seq: record.seq + 1,
                    last_hash: line_hash(&line),
                });
            }
        }
        Ok(Tail {
            segment: segments.last().cloned(),
            segment_records: 0,
            next_seq: segments.first().map_or(0, |(first, _)| *first),
            last_hash: GENESIS.to_owned(),
        })
    }
}

fn flush(mut file: File, path: &Path, pending: &mut Vec<u8>) -> Result<(), AuditError> {
    file.write_all(pending).map_err(io_error(path))?;
    file.sync_data().map_err(io_error(path))?;
    pending.clear();
    Ok(())
}

/// Cuts a last line that has no newline: it was never fsynced as a whole, so never acknowledged.
fn cut_torn_tail(file: &mut File, path: &Path) -> Result<(), AuditError> {
    let len = file.metadata().map_err(io_error(path))?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    let mut reader = File::open(path).map_err(io_error(path))?;
    reader
        .seek(SeekFrom::Start(len - 1))
        .map_err(io_error(path))?;
    reader.read_exact(&mut last).map_err(io_error(path))?;
    if last[0] == b'\n' {
        return Ok(());
    }
    let keep = last_newline_before(path, len)?.map_or(0, |p| p + 1);
    file.set_len(keep).map_err(io_error(path))?;
    file.sync_data().map_err(io_error(path))
}

/// Position of the last `\n` before `end`, reading backwards in blocks.
fn last_newline_before(path: &Path, end: u64) -> Result<Option<u64>, AuditError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let mut pos = end;
    let mut buf = vec![0u8; 64 * 1024];
    while pos > 0 {
        let start = pos.saturating_sub(buf.len() as u64);
        let n = (pos - start) as usize;
        file.seek(SeekFrom::Start(start)).map_err(io_error(path))?;
        file.read_exact(&mut buf[..n]).map_err(io_error(path))?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            return Ok(Some(start + i as u64));
        }
        pos = start;
    }
    Ok(None)
}

/// The last complete line of a file (without its newline), if any.
pub(crate) fn last_line(path: &Path) -> Result<Option<Vec<u8>>, AuditError> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    let Some(end) = last_newline_before(path, len)? else {
        return Ok(None);
    };
    let start = last_newline_before(path, end)?.map_or(0, |p| p + 1);
    let mut file = File::open(path).map_err(io_error(path))?;
    file.seek(SeekFrom::Start(start)).map_err(io_error(path))?;
    let mut line = vec![0u8; (end - start) as usize];
    file.read_exact(&mut line).map_err(io_error(path))?;
    Ok(Some(line))
}

/// The audit directory: who sent what to whom, for the node's user (and the auditors it lets in) alone.
/// A directory made 0755 by an earlier version is closed too.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Opens `path` for appending, created 0600 when it is new.
fn append_private(path: &Path) -> Result<File, AuditError> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))
}

fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}
