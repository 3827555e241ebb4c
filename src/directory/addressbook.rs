//! The local address book: the organisations this node hosts (participant `0203:<domain>`, name, optional
//! organisation number) and their functional addresses (funktionsadresser) with the document types each
//! accepts. Kept in the node's database (redb, `<data_dir>/node.redb`), each change one transaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use unicode_normalization::UnicodeNormalization;

use super::ids::ParticipantId;

const ORGS: TableDefinition<&str, &[u8]> = TableDefinition::new("addressbook_organisations");
const FUNCTIONS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("addressbook_functions");
const PUBLISHED: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("smp_publications");

/// What an SMP publishes for one (participant, document type): the endpoint and certificates, as DER in
/// base64 (the SMP signs them into a SignedServiceMetadata when asked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    pub participant: String,
    pub document_id: String,
    pub process_id: String,
    pub endpoint_url: String,
    pub ap_certificate: String,
    pub signing_certificate: Option<String>,
    pub encryption_certificate: Option<String>,
}

/// An organisation the node hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Participant id, `0203:<domain>`.
    pub id: String,
    pub name: String,
    /// Swedish organisation number (`NNNNNN-NNNN`), when given.
    pub org_number: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub added: OffsetDateTime,
}

/// A functional address of a hosted organisation: where its messages are delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionalAddress {
    /// The organisation's participant id.
    pub org: String,
    /// The functional address id (XHE `HandlingServiceID`).
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    /// Document ids it accepts (empty: the SDK message and receipt types).
    pub document_types: Vec<String>,
}

/// What went wrong with the address book; messages name the organisation or address.
#[derive(Debug, thiserror::Error)]
pub enum AddressBookError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is not in the address book")]
    NotFound(String),
    #[error("{0} is already in the address book")]
    Exists(String),
    #[error("the node database {path}: {detail}")]
    Database { path: PathBuf, detail: String },
}

/// Matches found by [`AddressBook::search`].
#[derive(Debug, Default, Serialize)]
pub struct Found {
    pub organisations: Vec<Organisation>,
    pub functional_addresses: Vec<FunctionalAddress>,
}

/// The address book in a node's data directory.
pub struct AddressBook {
    db: Arc<Database>,
    path: PathBuf,
}

impl AddressBook {
    /// Opens (creating when needed) the node database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<AddressBook, AddressBookError> {
        let path = data_dir.join("node.redb");
        let failed = |detail: String| AddressBookError::Database {
            path: path.clone(),
            detail,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| failed(e.to_string()))?;
        let db = Database::create(&path).map_err(|e| failed(e.to_string()))?;
        AddressBook::with_database(Arc::new(db), &path)
    }

    /// The address book in an already open node database (the running node holds one for everything).
    pub fn with_database(db: Arc<Database>, path: &Path) -> Result<AddressBook, AddressBookError> {
        let book = AddressBook {
            db,
            path: path.to_owned(),
        };
        // Create the tables once, so readers never meet a missing table.
        book.write(|txn| {
            txn.open_table(ORGS)?;
            txn.open_table(FUNCTIONS)?;
            txn.open_table(PUBLISHED)?;
            Ok(())
        })?;
        Ok(book)
    }

    /// The node database, for the other tables kept beside the address book (API clients).
    pub(crate) fn database(&self) -> &Database {
        &self.db
    }

    pub(crate) fn db_error(&self, e: impl std::fmt::Display) -> AddressBookError {
        AddressBookError::Database {
            path: self.path.clone(),
            detail: e.to_string(),
        }
    }

    fn write<T>(
        &self,
        work: impl FnOnce(&redb::WriteTransaction) -> Result<T, WriteError>,
    ) -> Result<T, AddressBookError> {
        let txn = self.db.begin_write().map_err(|e| self.db_error(e))?;
        let value = work(&txn).map_err(|e| match e {
            WriteError::Book(b) => b,
            WriteError::Db(d) => self.db_error(d),
        })?;
        txn.commit().map_err(|e| self.db_error(e))?;
        Ok(value)
    }

    pub fn add_organisation(
        &self,
        id: &str,
        name: &str,
        org_number: Option<&str>,
    ) -> Result<Organisation, AddressBookError> {
        let id = ParticipantId::parse(id).map_err(AddressBookError::Invalid)?;
        if name.trim().is_empty() {
            return Err(AddressBookError::Invalid(
                "an organisation needs a name".into(),
            ));
        }
        let org_number = org_number.map(check_org_number).transpose()?;
        let org = Organisation {
            id: id.to_string(),
            name: name.trim().to_owned(),
            org_number,
            added: OffsetDateTime::now_utc(),
        };
        self.write(|txn| {
            let mut table = txn.open_table(ORGS)?;
            if table.get(org.id.as_str())?.is_some() {
                return Err(WriteError::Book(AddressBookError::Exists(org.id.clone())));
            }
            table.insert(org.id.as_str(), to_json(&org).as_slice())?;
            Ok(())
        })?;
        Ok(org)
    }

    pub fn organisations(&self) -> Result<Vec<Organisation>, AddressBookError> {
        let txn = self.db.begin_read().map_err(|e| self.db_error(e))?;
        let table = txn.open_table(ORGS).map_err(|e| self.db_error(e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.db_error(e))? {
            let (_, v) = row.map_err(|e| self.db_error(e))?;
            out.push(from_json(v.value()).map_err(|e| self.db_error(e))?);
        }
        Ok(out)
    }

    pub fn organisation(&self, id: &str) -> Result<Organisation, AddressBookError> {
        let id = ParticipantId::parse(id).map_err(AddressBookError::Invalid)?;
        let txn = self.db.begin_read().map_err(|e| self.db_error(e))?;
        let table = txn.open_table(ORGS).map_err(|e| self.db_error(e))?;
        let found = table.get(id.as_str()).map_err(|e| self.db_error(e))?;
        match found {
            Some(v) => from_json(v.value()).map_err(|e| self.db_error(e)),
            None => Err(AddressBookError::NotFound(id.to_string())),
        }
    }

    /// Removes an organisation and its functional addresses in one transaction; returns how many addresses
    /// went with it.
    pub fn remove_organisation(&self, id: &str) -> Result<usize, AddressBookError> {
        let id = ParticipantId::parse(id).map_err(AddressBookError::Invalid)?;
        self.write(|txn| {
            let mut orgs = txn.open_table(ORGS)?;
            if orgs.remove(id.as_str())?.is_none() {
                return Err(WriteError::Book(AddressBookError::NotFound(id.to_string())));
            }
            let mut functions = txn.open_table(FUNCTIONS)?;
            let mut keys: Vec<String> = Vec::new();
            for row in functions.range((id.as_str(), "")..)? {
                let (key, _) = row?;
                let (org, function) = key.value();
                if org != id.as_str() {
                    break;
                }
                keys.push(function.to_owned());
            }
            for f in &keys {
                functions.remove((id.as_str(), f.as_str()))?;
            }
            Ok(keys.len())
        })
    }

    pub fn add_function(
        &self,
        function: FunctionalAddress,
    ) -> Result<FunctionalAddress, AddressBookError> {
        let org = ParticipantId::parse(&function.org).map_err(AddressBookError::Invalid)?;
        let id = function.id.trim().to_owned();
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            return Err(AddressBookError::Invalid(format!(
                "functional address id {:?} must be non-empty and without spaces",
                function.id
            )));
        }
        if function.name.trim().is_empty() {
            return Err(AddressBookError::Invalid(
                "a functional address needs a name".into(),
            ));
        }
        let function = FunctionalAddress {
            org: org.to_string(),
            id,
            ..function
        };
        self.write(|txn| {
            if txn.open_table(ORGS)?.get(function.org.as_str())?.is_none() {
                return Err(WriteError::Book(AddressBookError::NotFound(format!(
                    "organisation {} (add it first: `addressbook org add`)",
                    function.org
                ))));
            }
            let mut table = txn.open_table(FUNCTIONS)?;
            let key = (function.org.as_str(), function.id.as_str());
            if table.get(key)?.is_some() {
                return Err(WriteError::Book(AddressBookError::Exists(format!(
                    "functional address {} of {}",
                    function.id, function.org
                ))));
            }
            table.insert(key, to_json(&function).as_slice())?;
            Ok(())
        })?;
        Ok(function)
    }

    /// Functional addresses, of one organisation or of all.
    pub fn functions(&self, org: Option<&str>) -> Result<Vec<FunctionalAddress>, AddressBookError> {
        let org = org
            .map(|o| ParticipantId::parse(o).map_err(AddressBookError::Invalid))
            .transpose()?;
        let txn = self.db.begin_read().map_err(|e| self.db_error(e))?;
        let table = txn.open_table(FUNCTIONS).map_err(|e| self.db_error(e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.db_error(e))? {
            let (_, v) = row.map_err(|e| self.db_error(e))?;
            let f: FunctionalAddress = from_json(v.value()).map_err(|e| self.db_error(e))?;
            if org.as_ref().is_none_or(|o| o.as_str() == f.org) {
                out.push(f);
            }
        }
        Ok(out)
    }

    pub fn remove_function(&self, org: &str, id: &str) -> Result<(), AddressBookError> {
        let org = ParticipantId::parse(org).map_err(AddressBookError::Invalid)?;
        self.write(|txn| {
            let mut table = txn.open_table(FUNCTIONS)?;
            if table.remove((org.as_str(), id))?.is_none() {
                return Err(WriteError::Book(AddressBookError::NotFound(format!(
                    "functional address {id} of {org}"
                ))));
            }
            Ok(())
        })
    }

    /// Organisations and functional addresses whose name, id or organisation number contains `text`,
    /// ignoring case and accents ("Göteborg" finds "goteborg" and the other way round).
    pub fn search(&self, text: &str) -> Result<Found, AddressBookError> {
        let needle = fold(text);
        let hit = |fields: &[&str]| fields.iter().any(|f| fold(f).contains(&needle));
        Ok(Found {
            organisations: self
                .organisations()?
                .into_iter()
                .filter(|o| hit(&[&o.name, &o.id, o.org_number.as_deref().unwrap_or("")]))
                .collect(),
            functional_addresses: self
                .functions(None)?
                .into_iter()
                .filter(|f| hit(&[&f.name, &f.id, f.description.as_deref().unwrap_or("")]))
                .collect(),
        })
    }
}

impl AddressBook {
    /// Publishes (or replaces) what the SMP answers for (participant, document type).
    pub fn publish(&self, publication: Publication) -> Result<Publication, AddressBookError> {
        let participant =
            ParticipantId::parse(&publication.participant).map_err(AddressBookError::Invalid)?;
        let publication = Publication {
            participant: participant.to_string(),
            ..publication
        };
        self.write(|txn| {
            let mut table = txn.open_table(PUBLISHED)?;
            table.insert(
                (
                    publication.participant.as_str(),
                    publication.document_id.as_str(),
                ),
                to_json(&publication).as_slice(),
            )?;
            Ok(())
        })?;
        Ok(publication)
    }

    /// Everything published, or one participant's.
    pub fn publications(
        &self,
        participant: Option<&ParticipantId>,
    ) -> Result<Vec<Publication>, AddressBookError> {
        let txn = self.db.begin_read().map_err(|e| self.db_error(e))?;
        let table = txn.open_table(PUBLISHED).map_err(|e| self.db_error(e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.db_error(e))? {
            let (_, v) = row.map_err(|e| self.db_error(e))?;
            let p: Publication = from_json(v.value()).map_err(|e| self.db_error(e))?;
            if participant.is_none_or(|id| id.as_str() == p.participant) {
                out.push(p);
            }
        }
        Ok(out)
    }

    pub fn unpublish(&self, participant: &str, document_id: &str) -> Result<(), AddressBookError> {
        let participant = ParticipantId::parse(participant).map_err(AddressBookError::Invalid)?;
        self.write(|txn| {
            let mut table = txn.open_table(PUBLISHED)?;
            if table.remove((participant.as_str(), document_id))?.is_none() {
                return Err(WriteError::Book(AddressBookError::NotFound(format!(
                    "{document_id} for {participant}"
                ))));
            }
            Ok(())
        })
    }
}

/// Lower case without diacritics: NFD, combining marks dropped, and the letters that do not decompose
/// (ø, æ, ß, đ, ł) spelled out.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfd() {
        if ('\u{0300}'..='\u{036F}').contains(&c) {
            continue;
        }
        match c {
            'ø' | 'Ø' => out.push('o'),
            'æ' | 'Æ' => out.push_str("ae"),
            'ß' => out.push_str("ss"),
            'đ' | 'Đ' => out.push('d'),
            'ł' | 'Ł' => out.push('l'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

fn check_org_number(n: &str) -> Result<String, AddressBookError> {
    let digits: String = n.chars().filter(|c| *c != '-').collect();
    if digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(format!("{}-{}", &digits[..6], &digits[6..]))
    } else {
        Err(AddressBookError::Invalid(format!(
            "organisation number {n:?} must be ten digits (NNNNNN-NNNN)"
        )))
    }
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn from_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// A failure inside a write transaction: ours, or the database's.
enum WriteError {
    Book(AddressBookError),
    Db(String),
}

macro_rules! db_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for WriteError {
            fn from(e: $t) -> Self {
                WriteError::Db(e.to_string())
            }
        }
    )*};
}
db_error_from!(redb::TableError, redb::StorageError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_and_swedish_and_other_accents() {
        assert_eq!(fold("Göteborgs Stad"), "goteborgs stad");
        assert_eq!(fold("SOCIALTJÄNST Åre"), "socialtjanst are");
        assert_eq!(fold("Ærø Straße"), "aero strasse");
    }

    #[test]
    fn organisations_and_addresses_round_trip_and_search_without_accents() {
        let dir = tempfile::tempdir().unwrap();
        let book = AddressBook::open(dir.path()).unwrap();
        book.add_organisation("0203:goteborg.se", "Göteborgs Stad", Some("2120001359"))
            .unwrap();
        assert!(matches!(
            book.add_organisation("0203:Goteborg.se", "Again", None),
            Err(AddressBookError::Exists(_))
        ));
        book.add_function(FunctionalAddress {
            org: "0203:goteborg.se".into(),
            id: "socialtjanst-nord".into(),
            name: "Socialtjänsten Nordost".into(),
            description: None,
            active: true,
            document_types: vec![],
        })
        .unwrap();
        assert_eq!(book.search("goteborg").unwrap().organisations.len(), 1);
        assert_eq!(book.search("GÖTEBORG").unwrap().organisations.len(), 1);
        assert_eq!(
            book.search("socialtjänst")
                .unwrap()
                .functional_addresses
                .len(),
            1
        );
        assert_eq!(book.search("212000-1359").unwrap().organisations.len(), 1);
        assert_eq!(book.remove_organisation("0203:goteborg.se").unwrap(), 1);
        assert!(book.functions(None).unwrap().is_empty());
    }
}
