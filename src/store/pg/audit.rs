//! The audit chain in the database: the same records, lines and hashes as the log files (so one verifier
//! serves both), appended by every node under the lock of the `audit_head` row, in the transaction of the
//! change they describe. Checkpoints are signed by the node that writes them, with its AP key.

use deadpool_postgres::GenericClient;
use deadpool_postgres::{Pool, Transaction};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{db, exec, row_one, row_opt, rows};
use crate::audit::{
    AuditError, Checkpoint, CheckpointSigner, Event, Line, LineSource, Record, Report, line_hash,
};
use crate::store::StoreError;

/// A checkpoint after this many records, or when the last one is older than five minutes.
const CHECKPOINT_EVERY: i64 = 1000;
const CHECKPOINT_SECONDS: f64 = 300.0;

/// Appends `events` in `tx`; returns their sequence numbers. Takes the chain's head lock, held to commit.
pub async fn append(tx: &Transaction<'_>, events: Vec<Event>) -> Result<Vec<u64>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let head = row_one(
        tx,
        "SELECT next_seq, last_hash FROM audit_head FOR UPDATE",
        &[],
    )
    .await
    .map_err(db)?;
    let (mut seq, mut prev): (i64, String) = (head.get(0), head.get(1));
    let time = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    let insert = tx
        .prepare_cached("INSERT INTO audit_records (seq, line, message_id) VALUES ($1, $2, $3)")
        .await
        .map_err(db)?;
    let mut seqs = Vec::with_capacity(events.len());
    for event in events {
        let message_id = event.message_id.clone();
        let record = Record {
            seq: u64::try_from(seq).map_err(db)?,
            time: time.clone(),
            prev,
            event,
        };
        let line = serde_json::to_string(&record).map_err(db)?;
        prev = line_hash(line.as_bytes());
        tx.execute(&insert, &[&seq, &line, &message_id])
            .await
            .map_err(db)?;
        seqs.push(record.seq);
        seq += 1;
    }
    exec(
        tx,
        "UPDATE audit_head SET next_seq = $1, last_hash = $2",
        &[&seq, &prev],
    )
    .await
    .map_err(db)?;
    Ok(seqs)
}

/// Signs the chain's current end, unless the last checkpoint is there already.
pub async fn checkpoint(
    pool: &Pool,
    signer: &CheckpointSigner,
) -> Result<Option<Checkpoint>, StoreError> {
    let mut client = pool.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let head = row_one(
        &tx,
        "SELECT next_seq, last_hash FROM audit_head FOR UPDATE",
        &[],
    )
    .await
    .map_err(db)?;
    let (next, hash): (i64, String) = (head.get(0), head.get(1));
    let Some(last) = next.checked_sub(1).filter(|l| *l >= 0) else {
        return Ok(None);
    };
    let exists = row_opt(
        &tx,
        "SELECT 1 FROM audit_checkpoints WHERE seq = $1",
        &[&last],
    )
    .await
    .map_err(db)?;
    if exists.is_some() {
        return Ok(None);
    }
    let time = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    let checkpoint =
        crate::audit::sign_checkpoint(signer, u64::try_from(last).map_err(db)?, &hash, &time)
            .map_err(db)?;
    exec(
        &tx,
        "INSERT INTO audit_checkpoints (seq, line) VALUES ($1, $2)",
        &[&last, &serde_json::to_string(&checkpoint).map_err(db)?],
    )
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(Some(checkpoint))
}

/// A checkpoint when enough records or time went by since the last one (called by each node's heartbeat;
/// the head lock makes concurrent nodes write one between them).
pub async fn checkpoint_if_due(pool: &Pool, signer: &CheckpointSigner) -> Result<(), StoreError> {
    let client = pool.get().await.map_err(db)?;
    let row = row_one(
        &client,
        "SELECT h.next_seq - 1 - coalesce(c.seq, -1),
                    coalesce(extract(epoch FROM now() - c.written)::float8, 1e9)
             FROM audit_head h
             LEFT JOIN (SELECT seq, (line::json ->> 'time')::timestamptz AS written
                        FROM audit_checkpoints ORDER BY seq DESC LIMIT 1) c ON true",
        &[],
    )
    .await
    .map_err(db)?;
    let (unanchored, age): (i64, f64) = (row.get(0), row.get(1));
    drop(client);
    if unanchored >= CHECKPOINT_EVERY || (unanchored > 0 && age >= CHECKPOINT_SECONDS) {
        checkpoint(pool, signer).await?;
    }
    Ok(())
}

/// Records from `from` on (at most `limit`), as (seq, line).
pub async fn records(
    client: &impl GenericClient,
    from: u64,
    limit: i64,
) -> Result<Vec<(u64, String)>, StoreError> {
    let from = i64::try_from(from).unwrap_or(i64::MAX);
    let rows = rows(
        client,
        "SELECT seq, line FROM audit_records WHERE seq >= $1 ORDER BY seq LIMIT $2",
        &[&from, &limit],
    )
    .await
    .map_err(db)?;
    Ok(rows
        .iter()
        .map(|r| (u64::try_from(r.get::<_, i64>(0)).unwrap_or(0), r.get(1)))
        .collect())
}

pub async fn records_of(
    client: &impl GenericClient,
    message_id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = rows(
        client,
        "SELECT line FROM audit_records WHERE message_id = $1 ORDER BY seq",
        &[&message_id],
    )
    .await
    .map_err(db)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub async fn checkpoints(client: &impl GenericClient) -> Result<Vec<Vec<u8>>, StoreError> {
    let rows = rows(
        client,
        "SELECT line FROM audit_checkpoints ORDER BY seq",
        &[],
    )
    .await
    .map_err(db)?;
    Ok(rows
        .iter()
        .map(|r| r.get::<_, String>(0).into_bytes())
        .collect())
}

/// The chain's rows in order, fetched in pages, as the verifier's line source.
pub struct ChainLines<'a> {
    store: &'a super::PgStore,
    next: u64,
    page: std::vec::IntoIter<(u64, String)>,
    done: bool,
}

impl<'a> ChainLines<'a> {
    pub fn new(store: &'a super::PgStore) -> ChainLines<'a> {
        ChainLines {
            store,
            next: 0,
            page: Vec::new().into_iter(),
            done: false,
        }
    }
}

const PAGE: i64 = 10_000;

impl LineSource for ChainLines<'_> {
    fn next_line(&mut self, _report: &mut Report) -> Result<Option<Line>, AuditError> {
        loop {
            if let Some((seq, line)) = self.page.next() {
                self.next = seq + 1;
                return Ok(Some(Ok(("audit_records".into(), seq, line.into_bytes()))));
            }
            if self.done {
                return Ok(None);
            }
            let page = self
                .store
                .audit_records(self.next, PAGE)
                .map_err(|e| AuditError::Corrupt(e.to_string()))?;
            self.done = (page.len() as i64) < PAGE;
            self.page = page.into_iter();
        }
    }
}

impl super::PgStore {
    /// Verifies the whole chain, as `audit verify` does the log files.
    pub fn verify_audit(&self) -> Result<Report, AuditError> {
        let checkpoints = self
            .audit_checkpoints()
            .map_err(|e| AuditError::Corrupt(e.to_string()))?;
        crate::audit::verify_lines(&checkpoints, ChainLines::new(self))
    }
}
