//! The address book, SMP publications and API clients in the shared database (table `address_book`), so an
//! organisation, functional address or API client added through any node is known to all of them at once.

use super::{PgStore, exec, row_opt, rows};
use crate::audit::{ActorKind, Event};
use crate::directory::rows::{Insert, Inserted, Key, Row, Rows, Table};
use crate::store::StoreError;

fn stored(e: StoreError) -> String {
    match e {
        StoreError::Storage(detail) => detail,
        other => other.to_string(),
    }
}

impl Rows for PgStore {
    fn get(&self, table: Table, key: Key<'_>) -> Result<Option<Vec<u8>>, String> {
        self.run(async {
            let c = self.client().await?;
            let row = row_opt(
                &c,
                "SELECT value FROM address_book WHERE kind = $1 AND k1 = $2 AND k2 = $3",
                &[&table.name(), &key.0, &key.1],
            )
            .await
            .map_err(super::db)?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        })
        .map_err(stored)
    }

    fn scan(&self, table: Table, first: Option<&str>) -> Result<Vec<Row>, String> {
        self.run(async {
            let c = self.client().await?;
            let found = rows(
                &c,
                "SELECT k1, k2, value FROM address_book
                 WHERE kind = $1 AND ($2::text IS NULL OR k1 = $2) ORDER BY k1, k2",
                &[&table.name(), &first],
            )
            .await
            .map_err(super::db)?;
            Ok(found
                .iter()
                .map(|r| Row {
                    table,
                    key: (r.get(0), r.get(1)),
                    value: r.get(2),
                })
                .collect())
        })
        .map_err(stored)
    }

    fn insert(
        &self,
        table: Table,
        key: Key<'_>,
        value: &[u8],
        how: Insert<'_>,
    ) -> Result<Inserted, String> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(super::db)?;
            if let Insert::NewUnder(parent, parent_key) = how {
                // FOR SHARE: a concurrent removal of the parent waits for this commit, or this for its.
                let present = row_opt(
                    &tx,
                    "SELECT 1 FROM address_book WHERE kind = $1 AND k1 = $2 AND k2 = '' FOR SHARE",
                    &[&parent.name(), &parent_key],
                )
                .await
                .map_err(super::db)?;
                if present.is_none() {
                    return Ok(Inserted::NoParent);
                }
            }
            let sql = match how {
                Insert::Replace => {
                    "INSERT INTO address_book (kind, k1, k2, value) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (kind, k1, k2) DO UPDATE SET value = EXCLUDED.value"
                }
                Insert::New | Insert::NewUnder(..) => {
                    "INSERT INTO address_book (kind, k1, k2, value) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (kind, k1, k2) DO NOTHING"
                }
            };
            let n = exec(&tx, sql, &[&table.name(), &key.0, &key.1, &value])
                .await
                .map_err(super::db)?;
            tx.commit().await.map_err(super::db)?;
            Ok(if n == 0 {
                Inserted::Exists
            } else {
                Inserted::Done
            })
        })
        .map_err(stored)
    }

    fn remove(
        &self,
        table: Table,
        key: Key<'_>,
        children: Option<Table>,
    ) -> Result<Option<usize>, String> {
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(super::db)?;
            let n = exec(
                &tx,
                "DELETE FROM address_book WHERE kind = $1 AND k1 = $2 AND k2 = $3",
                &[&table.name(), &key.0, &key.1],
            )
            .await
            .map_err(super::db)?;
            if n == 0 {
                return Ok(None);
            }
            let mut gone = 0;
            if let Some(child) = children {
                gone = exec(
                    &tx,
                    "DELETE FROM address_book WHERE kind = $1 AND k1 = $2",
                    &[&child.name(), &key.0],
                )
                .await
                .map_err(super::db)?;
            }
            tx.commit().await.map_err(super::db)?;
            Ok(Some(usize::try_from(gone).unwrap_or(usize::MAX)))
        })
        .map_err(stored)
    }

    fn place(&self) -> String {
        format!("the shared database (schema {})", self.schema())
    }
}

/// What [`PgStore::seed_address_book`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeded {
    /// This node brought its book: this many rows were new to the shared one.
    Now { copied: usize },
    /// An earlier node did (its instance): this node's local book is not used.
    Before { by: String },
}

impl PgStore {
    /// Brings `seed` — a data directory's address book — into the shared one, once per database: the first
    /// node to start merges its book in (rows already there are kept) and records that, with an
    /// `addressbook.shared` audit record in the same transaction; every later start finds the record and
    /// copies nothing, even when the shared book has since been emptied.
    pub fn seed_address_book(&self, seed: &[Row], place: &str) -> Result<Seeded, String> {
        let instance = self
            .instance
            .as_ref()
            .map_or_else(|| "a command-line client".to_owned(), |i| i.id.clone());
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(super::db)?;
            // Nodes starting together: one seeds, the others then find its record.
            tx.batch_execute("LOCK TABLE address_book_seeded IN SHARE ROW EXCLUSIVE MODE")
                .await
                .map_err(super::db)?;
            let before = row_opt(&tx, "SELECT by_instance FROM address_book_seeded", &[])
                .await
                .map_err(super::db)?;
            if let Some(row) = before {
                return Ok(Seeded::Before { by: row.get(0) });
            }
            let mut copied = 0;
            for row in seed {
                copied += exec(
                    &tx,
                    "INSERT INTO address_book (kind, k1, k2, value) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (kind, k1, k2) DO NOTHING",
                    &[&row.table.name(), &row.key.0, &row.key.1, &row.value],
                )
                .await
                .map_err(super::db)?;
            }
            let n = i32::try_from(copied).unwrap_or(i32::MAX);
            exec(
                &tx,
                "INSERT INTO address_book_seeded (by_instance, copied) VALUES ($1, $2)",
                &[&instance, &n],
            )
            .await
            .map_err(super::db)?;
            let event = self.stamp(Event {
                kind: "addressbook.shared".into(),
                outcome: "ok".into(),
                actor_kind: Some(ActorKind::Node),
                detail: format!(
                    "{copied} of {} address book rows (organisations, functional addresses, SMP publications, API \
                     clients) copied from {place} into the shared database, whose book every node uses from now on",
                    seed.len()
                ),
                ..Event::default()
            });
            super::audit::append(&tx, vec![event]).await?;
            tx.commit().await.map_err(super::db)?;
            Ok(Seeded::Now {
                copied: usize::try_from(copied).unwrap_or(usize::MAX),
            })
        })
        .map_err(stored)
    }
}
