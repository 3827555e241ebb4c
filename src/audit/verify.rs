//! Verifying the whole log: every line parses, sequence numbers run without gaps or reordering, every record
//! names the hash of the one before, every checkpoint's signature verifies and matches the record it names,
//! and no checkpoint names a record beyond the end (a cut log). The first problem is named precisely.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;

use super::checkpoint::Checkpoint;
use super::log::{CHECKPOINTS, segments};
use super::{AuditError, GENESIS, Record, io_error, line_hash};

/// What is wrong, at the first record where it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum Problem {
    /// The record's bytes are not what the chain (or a checkpoint) says they were.
    Changed {
        seq: u64,
        detail: String,
    },
    /// The record is missing.
    Removed {
        seq: u64,
    },
    /// Records are out of order (e.g. two swapped).
    Reordered {
        seq: u64,
    },
    /// A checkpoint names a record after the end of the log: the log was cut.
    Truncated {
        checkpoint_seq: u64,
        last_seq: Option<u64>,
    },
    BadCheckpointSignature {
        seq: u64,
        detail: String,
    },
    /// A line that is not a record at all.
    Malformed {
        file: String,
        line: u64,
        detail: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Changed { seq, detail } => write!(f, "record {seq} was changed ({detail})"),
            Problem::Removed { seq } => write!(f, "record {seq} was removed"),
            Problem::Reordered { seq } => write!(f, "records were reordered at record {seq}"),
            Problem::Truncated {
                checkpoint_seq,
                last_seq,
            } => write!(
                f,
                "the log was truncated: a signed checkpoint names record {checkpoint_seq}, the log ends at {}",
                last_seq.map_or("nothing".to_owned(), |s| s.to_string())
            ),
            Problem::BadCheckpointSignature { seq, detail } => {
                write!(
                    f,
                    "the checkpoint at record {seq} has a bad signature ({detail})"
                )
            }
            Problem::Malformed { file, line, detail } => {
                write!(f, "{file} line {line} is not a record ({detail})")
            }
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub checkpoints: u64,
    /// The last checkpoint, whose signature verified and whose hash matched.
    pub anchored_to: Option<u64>,
    /// Records after the last checkpoint: chained, but not yet anchored by a signature.
    pub unanchored: u64,
    /// A last line without a newline (a crash mid-append; it was never acknowledged and is ignored).
    pub incomplete_tail: bool,
    pub signers: Vec<String>,
    pub problem: Option<Problem>,
}

/// Verifies the log in `<data_dir>/audit/`.
pub fn verify(data_dir: &Path) -> Result<Report, AuditError> {
    let dir = data_dir.join("audit");
    let checkpoints = checkpoint_lines(&dir.join(CHECKPOINTS))?;
    verify_lines(&checkpoints, FileLines::new(&dir)?)
}

/// Where the verifier reads records from: a log's segment files, or a database's rows.
pub trait LineSource {
    /// The next record's line (without its newline) and where it is (a file and line number); `None` at the
    /// end. A torn last line sets `report.incomplete_tail` and ends the log; a torn line elsewhere is a
    /// [`Problem::Malformed`].
    fn next_line(&mut self, report: &mut Report) -> Result<Option<Line>, AuditError>;
}

/// One line of a [`LineSource`]: (where, line number, the bytes), or why it is not a line.
pub type Line = Result<(String, u64, Vec<u8>), Problem>;

/// Verifies the records `source` gives against the signed checkpoint lines `checkpoints`.
pub fn verify_lines(
    checkpoints: &[Vec<u8>],
    source: impl LineSource,
) -> Result<Report, AuditError> {
    let mut report = Report::default();
    let checkpoints = match read_checkpoints(checkpoints, &mut report) {
        Ok(c) => c,
        Err(problem) => {
            report.problem = Some(problem);
            return Ok(report);
        }
    };
    let mut lines = RecordLines {
        source,
        peeked: None,
    };
    let mut expected: Option<u64> = None;
    let mut last_hash = GENESIS.to_owned();
    while let Some(item) = lines.next_record(&mut report)? {
        let (record, hash) = match item {
            Ok(r) => r,
            Err(problem) => {
                report.problem = Some(problem);
                return Ok(report);
            }
        };
        let want = *expected.get_or_insert(record.seq);
        if record.seq > want {
            let swapped = lines.peek_seq(&mut report)? == Some(want);
            report.problem = Some(if swapped {
                Problem::Reordered { seq: want }
            } else {
                Problem::Removed { seq: want }
            });
            return Ok(report);
        }
        if record.seq < want {
            report.problem = Some(Problem::Reordered { seq: record.seq });
            return Ok(report);
        }
        let chained = if report.records == 0 && record.seq != 0 {
            // A pruned log starts at an anchor: a signed checkpoint of the record before its first one.
            match checkpoints.get(&(record.seq - 1)) {
                Some(anchor) => *anchor == record.prev,
                None => {
                    report.problem = Some(Problem::Removed {
                        seq: record.seq - 1,
                    });
                    return Ok(report);
                }
            }
        } else {
            record.prev == last_hash
        };
        if !chained {
            report.problem = Some(Problem::Changed {
                seq: record.seq.saturating_sub(1),
                detail: format!("record {} names a different hash for it", record.seq),
            });
            return Ok(report);
        }
        if let Some(signed) = checkpoints.get(&record.seq) {
            if *signed != hash {
                report.problem = Some(Problem::Changed {
                    seq: record.seq,
                    detail: "its hash differs from the signed checkpoint".into(),
                });
                return Ok(report);
            }
            report.anchored_to = Some(record.seq);
        }
        report.first_seq.get_or_insert(record.seq);
        report.last_seq = Some(record.seq);
        report.records += 1;
        last_hash = hash;
        expected = Some(want + 1);
    }
    if let Some((&seq, _)) = checkpoints.iter().next_back()
        && report.last_seq.is_none_or(|last| seq > last)
    {
        report.problem = Some(Problem::Truncated {
            checkpoint_seq: seq,
            last_seq: report.last_seq,
        });
        return Ok(report);
    }
    report.unanchored = match (report.last_seq, report.anchored_to) {
        (Some(last), Some(anchor)) => last - anchor,
        (Some(_), None) => report.records,
        _ => 0,
    };
    Ok(report)
}

/// The complete lines of the checkpoint file (a torn last line, never acknowledged, is left out).
fn checkpoint_lines(path: &Path) -> Result<Vec<Vec<u8>>, AuditError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut reader = BufReader::new(file);
    let mut out = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(io_error(path))?
            == 0
            || line.last() != Some(&b'\n')
        {
            return Ok(out);
        }
        line.pop();
        out.push(line);
    }
}

/// Checkpoints by sequence number, each signature verified.
fn read_checkpoints(
    lines: &[Vec<u8>],
    report: &mut Report,
) -> Result<BTreeMap<u64, String>, Problem> {
    let mut out = BTreeMap::new();
    for (n, line) in lines.iter().enumerate() {
        let checkpoint: Checkpoint =
            serde_json::from_slice(line).map_err(|e| Problem::Malformed {
                file: CHECKPOINTS.into(),
                line: n as u64 + 1,
                detail: e.to_string(),
            })?;
        let signer = checkpoint
            .verify()
            .map_err(|detail| Problem::BadCheckpointSignature {
                seq: checkpoint.seq,
                detail,
            })?;
        if !report.signers.contains(&signer) {
            report.signers.push(signer);
        }
        report.checkpoints += 1;
        out.insert(checkpoint.seq, checkpoint.hash);
    }
    Ok(out)
}

/// Records from a line source, parsed, with one record of lookahead.
struct RecordLines<S> {
    source: S,
    peeked: Option<Option<Item>>,
}

type Item = Result<(Record, String), Problem>;

impl<S: LineSource> RecordLines<S> {
    fn next_record(&mut self, report: &mut Report) -> Result<Option<Item>, AuditError> {
        if let Some(p) = self.peeked.take() {
            return Ok(p);
        }
        self.read(report)
    }

    fn peek_seq(&mut self, report: &mut Report) -> Result<Option<u64>, AuditError> {
        let next = self.read(report)?;
        let seq = match &next {
            Some(Ok((r, _))) => Some(r.seq),
            _ => None,
        };
        self.peeked = Some(next);
        Ok(seq)
    }

    fn read(&mut self, report: &mut Report) -> Result<Option<Item>, AuditError> {
        Ok(self.source.next_line(report)?.map(|line| {
            let (name, n, bytes) = line?;
            match serde_json::from_slice::<Record>(&bytes) {
                Ok(record) => Ok((record, line_hash(&bytes))),
                Err(e) => Err(Problem::Malformed {
                    file: name,
                    line: n,
                    detail: format!("{e} — changed?"),
                }),
            }
        }))
    }
}

/// The lines of every segment file, in order.
struct FileLines {
    files: std::vec::IntoIter<(u64, std::path::PathBuf)>,
    current: Option<(String, BufReader<std::fs::File>, u64)>,
}

impl FileLines {
    fn new(dir: &Path) -> Result<FileLines, AuditError> {
        Ok(FileLines {
            files: segments(dir)?.into_iter(),
            current: None,
        })
    }
}

impl LineSource for FileLines {
    fn next_line(&mut self, report: &mut Report) -> Result<Option<Line>, AuditError> {
        let mut line = Vec::new();
        loop {
            if self.current.is_none() {
                let Some((_, path)) = self.files.next() else {
                    return Ok(None);
                };
                let file = std::fs::File::open(&path).map_err(io_error(&path))?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.current = Some((name, BufReader::new(file), 0));
            }
            let Some((name, reader, n)) = self.current.as_mut() else {
                continue;
            };
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| AuditError::Corrupt(e.to_string()))?;
            if read == 0 {
                self.current = None;
                continue;
            }
            *n += 1;
            if line.last() != Some(&b'\n') {
                // Only the very end of the log may be torn; anywhere else it is damage.
                if self.files.len() == 0 {
                    report.incomplete_tail = true;
                    return Ok(None);
                }
                return Ok(Some(Err(Problem::Malformed {
                    file: name.clone(),
                    line: *n,
                    detail: "a line without its newline inside the log".into(),
                })));
            }
            line.pop();
            return Ok(Some(Ok((name.clone(), *n, std::mem::take(&mut line)))));
        }
    }
}
