//! The local address book: the organisations this node hosts (participant `0203:<domain>`, name, optional
//! organisation number) and their functional addresses (funktionsadresser) with the document types each
//! accepts. Kept in the node's database (redb, `<data_dir>/node.redb`) or, for nodes sharing PostgreSQL, in
//! that database ([`Rows`]); each change one transaction.

use std::path::Path;
use std::sync::Arc;

use redb::Database;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use unicode_normalization::UnicodeNormalization;

use super::ids::ParticipantId;
use super::rows::{Insert, Inserted, RedbRows, Rows, Table};

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
    #[error("{place}: {detail}")]
    Database { place: String, detail: String },
}

/// Matches found by [`AddressBook::search`].
#[derive(Debug, Default, Serialize)]
pub struct Found {
    pub organisations: Vec<Organisation>,
    pub functional_addresses: Vec<FunctionalAddress>,
}

/// The address book of a node's data directory.
pub struct AddressBook {
    rows: Arc<dyn Rows>,
}

impl AddressBook {
    /// Opens the address book of `data_dir`: in the database its node shares with others when it runs on
    /// PostgreSQL (`<data_dir>/store.toml`), else in its node database (created when needed).
    pub fn open(data_dir: &Path) -> Result<AddressBook, AddressBookError> {
        let failed = |place: String, detail: String| AddressBookError::Database { place, detail };
        let store = crate::store::recall(data_dir)
            .map_err(|e| failed("which store the node uses".into(), e))?;
        if let Some(store) = store {
            return AddressBook::shared(data_dir, &store);
        }
        let path = data_dir.join("node.redb");
        let place = || format!("the node database {}", path.display());
        crate::pki::fsutil::create_private_dir(data_dir)
            .map_err(|e| failed(place(), e.to_string()))?;
        crate::pki::fsutil::ensure_private_file(&path)
            .map_err(|e| failed(place(), e.to_string()))?;
        let db = Database::create(&path).map_err(|e| {
            let hint = match e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    " (the node is running: stop it first; only nodes on PostgreSQL share their address book while they run)"
                }
                _ => "",
            };
            failed(place(), format!("{e}{hint}"))
        })?;
        AddressBook::with_database(Arc::new(db), &path)
    }

    #[cfg(feature = "postgres")]
    fn shared(
        _data_dir: &Path,
        store: &crate::config::StoreConfig,
    ) -> Result<AddressBook, AddressBookError> {
        let pg = crate::store::pg::PgStore::connect(store, None).map_err(|e| {
            AddressBookError::Database {
                place: format!("the shared database (schema {})", store.schema),
                detail: e.to_string(),
            }
        })?;
        Ok(AddressBook::with_rows(Arc::new(pg)))
    }

    #[cfg(not(feature = "postgres"))]
    fn shared(
        data_dir: &Path,
        store: &crate::config::StoreConfig,
    ) -> Result<AddressBook, AddressBookError> {
        Err(AddressBookError::Database {
            place: format!("the shared database (schema {})", store.schema),
            detail: format!(
                "the node of {} keeps its address book in PostgreSQL, and this sdk-relay was built without \
                 PostgreSQL support; use one built with `--features postgres`",
                data_dir.display()
            ),
        })
    }

    /// The address book in an already open node database (the running node holds one for everything).
    pub fn with_database(db: Arc<Database>, path: &Path) -> Result<AddressBook, AddressBookError> {
        let rows = RedbRows::new(db, path).map_err(|detail| AddressBookError::Database {
            place: format!("the node database {}", path.display()),
            detail,
        })?;
        Ok(AddressBook::with_rows(Arc::new(rows)))
    }

    /// The address book kept in `rows`.
    pub fn with_rows(rows: Arc<dyn Rows>) -> AddressBook {
        AddressBook { rows }
    }

    pub(crate) fn rows(&self) -> &dyn Rows {
        self.rows.as_ref()
    }

    /// Every row of every table, as stored (to copy the book to a shared database).
    pub fn all_rows(&self) -> Result<Vec<super::rows::Row>, AddressBookError> {
        let mut out = Vec::new();
        for table in Table::ALL {
            out.extend(self.rows.scan(table, None).map_err(|e| self.db_error(e))?);
        }
        Ok(out)
    }

    pub(crate) fn db_error(&self, e: impl std::fmt::Display) -> AddressBookError {
        AddressBookError::Database {
            place: self.rows.place(),
            detail: e.to_string(),
        }
    }

    /// The values of `table` (with `first`: those under that first key part), as what they are.
    pub(crate) fn values<T: for<'de> Deserialize<'de>>(
        &self,
        table: Table,
        first: Option<&str>,
    ) -> Result<Vec<T>, AddressBookError> {
        let rows = self.rows.scan(table, first).map_err(|e| self.db_error(e))?;
        rows.iter()
            .map(|row| from_json(&row.value).map_err(|e| self.db_error(e)))
            .collect()
    }

    pub(crate) fn insert(
        &self,
        table: Table,
        key: (&str, &str),
        value: &impl Serialize,
        how: Insert<'_>,
    ) -> Result<Inserted, AddressBookError> {
        self.rows
            .insert(table, key, &to_json(value), how)
            .map_err(|e| self.db_error(e))
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
        match self.insert(Table::Organisations, (&org.id, ""), &org, Insert::New)? {
            Inserted::Done => Ok(org),
            _ => Err(AddressBookError::Exists(org.id)),
        }
    }

    pub fn organisations(&self) -> Result<Vec<Organisation>, AddressBookError> {
        self.values(Table::Organisations, None)
    }

    pub fn organisation(&self, id: &str) -> Result<Organisation, AddressBookError> {
        let id = ParticipantId::parse(id).map_err(AddressBookError::Invalid)?;
        let found = self
            .rows
            .get(Table::Organisations, (id.as_str(), ""))
            .map_err(|e| self.db_error(e))?;
        match found {
            Some(v) => from_json(&v).map_err(|e| self.db_error(e)),
            None => Err(AddressBookError::NotFound(id.to_string())),
        }
    }

    /// Removes an organisation and its functional addresses in one transaction; returns how many addresses
    /// went with it.
    pub fn remove_organisation(&self, id: &str) -> Result<usize, AddressBookError> {
        let id = ParticipantId::parse(id).map_err(AddressBookError::Invalid)?;
        self.rows
            .remove(
                Table::Organisations,
                (id.as_str(), ""),
                Some(Table::Functions),
            )
            .map_err(|e| self.db_error(e))?
            .ok_or_else(|| AddressBookError::NotFound(id.to_string()))
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
        let key = (function.org.as_str(), function.id.as_str());
        let how = Insert::NewUnder(Table::Organisations, &function.org);
        match self.insert(Table::Functions, key, &function, how)? {
            Inserted::Done => Ok(function),
            Inserted::NoParent => Err(AddressBookError::NotFound(format!(
                "organisation {} (add it first: `addressbook org add`)",
                function.org
            ))),
            Inserted::Exists => Err(AddressBookError::Exists(format!(
                "functional address {} of {}",
                function.id, function.org
            ))),
        }
    }

    /// Functional addresses, of one organisation or of all.
    pub fn functions(&self, org: Option<&str>) -> Result<Vec<FunctionalAddress>, AddressBookError> {
        let org = org
            .map(|o| ParticipantId::parse(o).map_err(AddressBookError::Invalid))
            .transpose()?;
        self.values(Table::Functions, org.as_ref().map(ParticipantId::as_str))
    }

    pub fn remove_function(&self, org: &str, id: &str) -> Result<(), AddressBookError> {
        let org = ParticipantId::parse(org).map_err(AddressBookError::Invalid)?;
        let removed = self
            .rows
            .remove(Table::Functions, (org.as_str(), id), None)
            .map_err(|e| self.db_error(e))?;
        removed
            .map(drop)
            .ok_or_else(|| AddressBookError::NotFound(format!("functional address {id} of {org}")))
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
        let key = (
            publication.participant.as_str(),
            publication.document_id.as_str(),
        );
        self.insert(Table::Publications, key, &publication, Insert::Replace)?;
        Ok(publication)
    }

    /// Everything published, or one participant's.
    pub fn publications(
        &self,
        participant: Option<&ParticipantId>,
    ) -> Result<Vec<Publication>, AddressBookError> {
        self.values(Table::Publications, participant.map(ParticipantId::as_str))
    }

    pub fn unpublish(&self, participant: &str, document_id: &str) -> Result<(), AddressBookError> {
        let participant = ParticipantId::parse(participant).map_err(AddressBookError::Invalid)?;
        let removed = self
            .rows
            .remove(
                Table::Publications,
                (participant.as_str(), document_id),
                None,
            )
            .map_err(|e| self.db_error(e))?;
        removed
            .map(drop)
            .ok_or_else(|| AddressBookError::NotFound(format!("{document_id} for {participant}")))
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
