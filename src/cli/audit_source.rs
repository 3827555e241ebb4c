//! Where the audit CLI reads and writes: the data directory's log files, or — when its node keeps its state
//! in PostgreSQL (`<data_dir>/store.toml`) — the chain in the database that all the nodes share.

use std::path::Path;

use anyhow::Result;

use crate::audit::{
    AuditIndex, AuditLog, AuditSink, CheckpointSigner, Options, Record, Report, read_records,
};
use crate::pki::{KeyStore, Purpose};

pub enum Source<'a> {
    Files(&'a Path),
    #[cfg(feature = "postgres")]
    Database(crate::store::pg::PgStore),
}

/// The node's AP key signs checkpoints, when there is one.
pub fn signer(data_dir: &Path) -> Option<CheckpointSigner> {
    let entry = KeyStore::open(data_dir).signing(Purpose::Ap).ok()?;
    CheckpointSigner::new(&entry.key_pair().ok()?, entry.leaf()?.clone()).ok()
}

impl<'a> Source<'a> {
    pub fn open(data_dir: &'a Path) -> Result<Source<'a>> {
        let Some(store) = crate::store::recall(data_dir).map_err(anyhow::Error::msg)? else {
            return Ok(Source::Files(data_dir));
        };
        #[cfg(feature = "postgres")]
        {
            let pg = crate::store::pg::PgStore::connect(&store, signer(data_dir))?;
            Ok(Source::Database(pg))
        }
        #[cfg(not(feature = "postgres"))]
        {
            anyhow::bail!(
                "the node of {} keeps its audit log in PostgreSQL (schema {}), and this sdk-relay was built \
                 without PostgreSQL support; use one built with `--features postgres`",
                data_dir.display(),
                store.schema
            )
        }
    }

    /// What the records are, for messages.
    #[cfg(feature = "postgres")]
    pub fn describe(&self) -> String {
        match self {
            Source::Files(dir) => format!("{}", dir.join("audit").display()),
            #[cfg(feature = "postgres")]
            Source::Database(pg) => format!("the database (schema {})", pg.schema()),
        }
    }

    pub fn verify(&self) -> Result<Report> {
        Ok(match self {
            Source::Files(dir) => crate::audit::verify(dir)?,
            #[cfg(feature = "postgres")]
            Source::Database(pg) => pg.verify_audit()?,
        })
    }

    /// Every record, oldest first.
    pub fn records(&self, mut each: impl FnMut(Record) -> Result<()>) -> Result<()> {
        match self {
            Source::Files(dir) => read_records(dir, &mut each),
            #[cfg(feature = "postgres")]
            Source::Database(_) => {
                let mut next = 0;
                loop {
                    let page = self.records_from(next)?;
                    let Some(last) = page.last() else {
                        return Ok(());
                    };
                    next = last.seq + 1;
                    for r in page {
                        each(r)?;
                    }
                }
            }
        }
    }

    /// Records from `seq` on (a page of them, for the database).
    pub fn records_from(&self, seq: u64) -> Result<Vec<Record>> {
        match self {
            Source::Files(dir) => Ok(AuditIndex::open(dir)?.records_from(seq)?),
            #[cfg(feature = "postgres")]
            Source::Database(pg) => pg
                .audit_records(seq, 10_000)?
                .into_iter()
                .map(|(_, line)| Ok(serde_json::from_str(&line)?))
                .collect(),
        }
    }

    /// The records of one message or conversation, oldest first.
    pub fn records_of(
        &self,
        message_id: Option<&str>,
        conversation_id: Option<&str>,
    ) -> Result<Vec<Record>> {
        match self {
            Source::Files(dir) => {
                Ok(AuditIndex::open(dir)?.records_of(message_id, conversation_id)?)
            }
            #[cfg(feature = "postgres")]
            Source::Database(pg) => {
                let mut out: Vec<Record> = Vec::new();
                match message_id {
                    Some(id) => {
                        for line in pg.audit_records_of(id)? {
                            out.push(serde_json::from_str(&line)?);
                        }
                    }
                    None => self.records(|r| {
                        out.push(r);
                        Ok(())
                    })?,
                }
                out.retain(|r| {
                    conversation_id.is_none_or(|c| r.event.conversation_id.as_deref() == Some(c))
                });
                Ok(out)
            }
        }
    }

    /// Where new records go.
    pub fn sink(self) -> Result<Box<dyn AuditSink + 'a>> {
        Ok(match self {
            Source::Files(dir) => Box::new(AuditLog::open(dir, Options::default(), signer(dir))?),
            #[cfg(feature = "postgres")]
            Source::Database(pg) => Box::new(pg),
        })
    }
}
