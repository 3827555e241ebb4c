//! The address book, SMP publications and API clients in the shared database (table `address_book`), so an
//! organisation, functional address or API client added through any node is known to all of them at once.

use super::{PgStore, exec, row_opt, rows};
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

impl PgStore {
    /// Copies `rows` into the shared address book when it is empty — a node's first start on the database
    /// brings the address book its data directory was set up with — and returns how many it copied (0 when
    /// the shared book has rows already: after the first start, the database's book is the one).
    pub fn seed_address_book(&self, seed: &[Row]) -> Result<usize, String> {
        if seed.is_empty() {
            return Ok(0);
        }
        self.run(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(super::db)?;
            // Nodes starting together: one seeds, the others then find rows.
            tx.batch_execute("LOCK TABLE address_book IN SHARE ROW EXCLUSIVE MODE")
                .await
                .map_err(super::db)?;
            let any = row_opt(&tx, "SELECT 1 FROM address_book LIMIT 1", &[])
                .await
                .map_err(super::db)?;
            if any.is_some() {
                return Ok(0);
            }
            for row in seed {
                exec(
                    &tx,
                    "INSERT INTO address_book (kind, k1, k2, value) VALUES ($1, $2, $3, $4)",
                    &[&row.table.name(), &row.key.0, &row.key.1, &row.value],
                )
                .await
                .map_err(super::db)?;
            }
            tx.commit().await.map_err(super::db)?;
            Ok(seed.len())
        })
        .map_err(stored)
    }
}
