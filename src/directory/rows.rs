//! Where the address book keeps its rows: the node's redb database, or — for nodes sharing PostgreSQL — that
//! database, so an organisation, functional address or API client added on one node is known to all of them.
//! Every table holds JSON values under a key of one or two text parts; a one-part key has "" as its second.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

/// The address book's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// participant id → organisation
    Organisations,
    /// (participant id, functional address id) → functional address
    Functions,
    /// (participant id, document id) → what the SMP publishes
    Publications,
    /// token hash or `cert:<sha256>` → API client
    Clients,
}

impl Table {
    pub const ALL: [Table; 4] = [
        Table::Organisations,
        Table::Functions,
        Table::Publications,
        Table::Clients,
    ];

    /// The table's name (redb's table, PostgreSQL's `kind` column).
    pub fn name(self) -> &'static str {
        match self {
            Table::Organisations => "addressbook_organisations",
            Table::Functions => "addressbook_functions",
            Table::Publications => "smp_publications",
            Table::Clients => "api_clients",
        }
    }
}

/// A row's key: one or two text parts.
pub type Key<'a> = (&'a str, &'a str);

/// One row, as [`Rows::scan`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub table: Table,
    pub key: (String, String),
    pub value: Vec<u8>,
}

/// How [`Rows::insert`] treats a row that is there already.
#[derive(Debug, Clone, Copy)]
pub enum Insert<'a> {
    /// Replace it.
    Replace,
    /// Refuse: the row is new or nothing is written.
    New,
    /// As `New`, and only while the parent row (of that table, with this one-part key) exists: both are
    /// checked in the one transaction, so a concurrent removal of the parent cannot leave an orphan.
    NewUnder(Table, &'a str),
}

/// What [`Rows::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Done,
    Exists,
    NoParent,
}

/// The address book's storage. Every method is one transaction; errors are the database's own words.
pub trait Rows: Send + Sync {
    fn get(&self, table: Table, key: Key<'_>) -> Result<Option<Vec<u8>>, String>;

    /// The rows of `table` in key order; with `first`, only those whose first key part it is.
    fn scan(&self, table: Table, first: Option<&str>) -> Result<Vec<Row>, String>;

    fn insert(
        &self,
        table: Table,
        key: Key<'_>,
        value: &[u8],
        how: Insert<'_>,
    ) -> Result<Inserted, String>;

    /// Removes a row and, with `children`, that table's rows whose first key part is the row's key; `None`
    /// when there is no such row (then nothing is removed), else how many children went with it.
    fn remove(
        &self,
        table: Table,
        key: Key<'_>,
        children: Option<Table>,
    ) -> Result<Option<usize>, String>;

    /// Where the rows are, for messages ("the node database /srv/relay/node.redb").
    fn place(&self) -> String;
}

/// The address book in the node's redb database (`<data_dir>/node.redb`).
pub struct RedbRows {
    db: Arc<Database>,
    path: PathBuf,
}

const ORGANISATIONS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("addressbook_organisations");
const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_clients");
const FUNCTIONS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("addressbook_functions");
const PUBLICATIONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("smp_publications");

/// Runs `$body` with `$def` bound to the table's definition and `$k` to the key in that table's own type
/// (one part or two): redb tables are typed, the trait is not.
macro_rules! typed {
    ($table:expr, $key:expr, |$def:ident, $k:ident| $body:expr) => {
        match $table {
            Table::Organisations | Table::Clients => {
                let $def = if $table == Table::Clients {
                    CLIENTS
                } else {
                    ORGANISATIONS
                };
                let $k = $key.0;
                $body
            }
            Table::Functions | Table::Publications => {
                let $def = if $table == Table::Functions {
                    FUNCTIONS
                } else {
                    PUBLICATIONS
                };
                let $k = $key;
                $body
            }
        }
    };
}

/// The rows of the open redb table `$t` (of `$table`) whose first key part is `$first` (all when `None`),
/// read from `$start` — the smallest key with that first part, in the table's key type — to the first key
/// without it: those rows are adjacent in key order.
macro_rules! rows_of {
    ($t:expr, $table:expr, $first:expr, $start:expr) => {{
        let first: Option<&str> = $first;
        let mut out = Vec::new();
        for row in $t.range($start..).map_err(text)? {
            let (k, v) = row.map_err(text)?;
            let (a, b) = parts(k.value());
            if first.is_some_and(|f| f != a) {
                break;
            }
            out.push(Row {
                table: $table,
                key: (a.to_owned(), b.to_owned()),
                value: v.value().to_vec(),
            });
        }
        out
    }};
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl RedbRows {
    /// The address book in an open node database, its tables created so readers never meet a missing one.
    pub fn new(db: Arc<Database>, path: &Path) -> Result<RedbRows, String> {
        let txn = db.begin_write().map_err(text)?;
        for table in Table::ALL {
            typed!(table, ("", ""), |def, _k| {
                txn.open_table(def).map_err(text)?;
            });
        }
        txn.commit().map_err(text)?;
        Ok(RedbRows {
            db,
            path: path.to_owned(),
        })
    }
}

impl Rows for RedbRows {
    fn get(&self, table: Table, key: Key<'_>) -> Result<Option<Vec<u8>>, String> {
        let txn = self.db.begin_read().map_err(text)?;
        typed!(table, key, |def, k| {
            let t = txn.open_table(def).map_err(text)?;
            let found = t.get(k).map_err(text)?;
            Ok(found.map(|v| v.value().to_vec()))
        })
    }

    fn scan(&self, table: Table, first: Option<&str>) -> Result<Vec<Row>, String> {
        let txn = self.db.begin_read().map_err(text)?;
        typed!(table, (first.unwrap_or(""), ""), |def, start| {
            let t = txn.open_table(def).map_err(text)?;
            Ok(rows_of!(t, table, first, start))
        })
    }

    fn insert(
        &self,
        table: Table,
        key: Key<'_>,
        value: &[u8],
        how: Insert<'_>,
    ) -> Result<Inserted, String> {
        let txn = self.db.begin_write().map_err(text)?;
        if let Insert::NewUnder(parent, parent_key) = how {
            let present = typed!(parent, (parent_key, ""), |def, k| {
                txn.open_table(def)
                    .map_err(text)?
                    .get(k)
                    .map_err(text)?
                    .is_some()
            });
            if !present {
                return Ok(Inserted::NoParent);
            }
        }
        let inserted = typed!(table, key, |def, k| {
            let mut t = txn.open_table(def).map_err(text)?;
            if !matches!(how, Insert::Replace) && t.get(k).map_err(text)?.is_some() {
                Inserted::Exists
            } else {
                t.insert(k, value).map_err(text)?;
                Inserted::Done
            }
        });
        if inserted == Inserted::Done {
            txn.commit().map_err(text)?;
        }
        Ok(inserted)
    }

    fn remove(
        &self,
        table: Table,
        key: Key<'_>,
        children: Option<Table>,
    ) -> Result<Option<usize>, String> {
        let txn = self.db.begin_write().map_err(text)?;
        let removed = typed!(table, key, |def, k| {
            txn.open_table(def)
                .map_err(text)?
                .remove(k)
                .map_err(text)?
                .is_some()
        });
        if !removed {
            return Ok(None);
        }
        let mut gone = 0;
        if let Some(child) = children {
            // Read in the write transaction: a child added since a separate read would be left behind.
            let keys: Vec<(String, String)> = typed!(child, (key.0, ""), |def, start| {
                let t = txn.open_table(def).map_err(text)?;
                rows_of!(t, child, Some(key.0), start)
                    .into_iter()
                    .map(|row| row.key)
                    .collect()
            });
            for (a, b) in &keys {
                typed!(child, (a.as_str(), b.as_str()), |def, k| {
                    txn.open_table(def).map_err(text)?.remove(k).map_err(text)?;
                });
            }
            gone = keys.len();
        }
        txn.commit().map_err(text)?;
        Ok(Some(gone))
    }

    fn place(&self) -> String {
        format!("the node database {}", self.path.display())
    }
}

/// A key of either shape as two parts, so both kinds of table read alike.
trait TwoParts<'a> {
    fn parts(self) -> (&'a str, &'a str);
}

impl<'a> TwoParts<'a> for &'a str {
    fn parts(self) -> (&'a str, &'a str) {
        (self, "")
    }
}

impl<'a> TwoParts<'a> for (&'a str, &'a str) {
    fn parts(self) -> (&'a str, &'a str) {
        self
    }
}

fn parts<'a>(key: impl TwoParts<'a>) -> (&'a str, &'a str) {
    key.parts()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redb_rows_refuse_duplicates_and_orphans_and_remove_children_with_their_parent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.redb");
        let rows = RedbRows::new(Arc::new(Database::create(&path).unwrap()), &path).unwrap();
        let org = Table::Organisations;
        let under = Insert::NewUnder(org, "0203:a.se");
        let f = Table::Functions;
        assert_eq!(
            rows.insert(f, ("0203:a.se", "x"), b"1", under),
            Ok(Inserted::NoParent)
        );
        assert_eq!(
            rows.insert(org, ("0203:a.se", ""), b"{}", Insert::New),
            Ok(Inserted::Done)
        );
        assert_eq!(
            rows.insert(org, ("0203:a.se", ""), b"[]", Insert::New),
            Ok(Inserted::Exists)
        );
        assert_eq!(rows.get(org, ("0203:a.se", "")), Ok(Some(b"{}".to_vec())));
        for id in ["x", "y"] {
            assert_eq!(
                rows.insert(f, ("0203:a.se", id), b"1", under),
                Ok(Inserted::Done)
            );
        }
        rows.insert(org, ("0203:b.se", ""), b"{}", Insert::New)
            .unwrap();
        rows.insert(f, ("0203:b.se", "z"), b"1", Insert::New)
            .unwrap();
        rows.insert(f, ("0203:b.se", "z"), b"2", Insert::Replace)
            .unwrap();
        let of_b = rows.scan(f, Some("0203:b.se")).unwrap();
        assert_eq!(of_b.len(), 1);
        assert_eq!(
            (of_b[0].key.1.as_str(), of_b[0].value.as_slice()),
            ("z", &b"2"[..])
        );
        // A longer id with the same beginning is another organisation's.
        rows.insert(f, ("0203:a.se.x", "w"), b"1", Insert::New)
            .unwrap();
        assert_eq!(rows.scan(f, Some("0203:a.se")).unwrap().len(), 2);
        assert_eq!(rows.scan(org, Some("0203:b.se")).unwrap().len(), 1);
        assert!(rows.scan(org, Some("0203:c.se")).unwrap().is_empty());
        assert_eq!(rows.remove(org, ("0203:a.se", ""), Some(f)), Ok(Some(2)));
        assert_eq!(rows.remove(org, ("0203:a.se", ""), Some(f)), Ok(None));
        let left: Vec<String> = rows
            .scan(f, None)
            .unwrap()
            .into_iter()
            .map(|r| r.key.0)
            .collect();
        assert_eq!(
            left,
            ["0203:a.se.x", "0203:b.se"],
            "the others' addresses stay"
        );
    }
}
