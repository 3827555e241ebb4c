//! API clients: the organisation systems allowed to use the node's API, each for one organisation and some of
//! its functional addresses. A client's bearer token is shown once when it is made and stored only as a
//! SHA-256 hash, beside the address book (so nodes sharing a database share their clients).

use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::addressbook::{AddressBook, AddressBookError};
use super::ids::ParticipantId;
use super::rows::{Insert, Table};

/// One API client and what it may act for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// A short id to name the client in logs and `clients remove` (not the secret).
    pub id: String,
    pub name: String,
    pub org: String,
    /// Functional addresses it may use; empty means all of the organisation's.
    pub functions: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

impl Client {
    /// Whether this client may act for `org` and, when given, its functional address `function`.
    pub fn may_act_for(&self, org: &str, function: Option<&str>) -> bool {
        let Ok(org) = ParticipantId::parse(org) else {
            return false;
        };
        org.as_str() == self.org
            && function
                .is_none_or(|f| self.functions.is_empty() || self.functions.iter().any(|g| g == f))
    }
}

/// Certificate clients are keyed apart from token hashes, so neither can stand for the other.
fn certificate_key(sha256: &str) -> String {
    format!("cert:{}", sha256.to_ascii_lowercase())
}

fn hash(token: &str) -> String {
    crate::pki::cert::sha256_hex(token.as_bytes())
}

impl AddressBook {
    /// Makes a client for a hosted organisation; returns it and its token (shown once, never stored).
    pub fn add_client(
        &self,
        name: &str,
        org: &str,
        functions: &[String],
    ) -> Result<(Client, String), AddressBookError> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| self.db_error("no randomness"))?;
        let token = format!(
            "sdkr_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let token_hash = hash(&token);
        let client = self.checked_client(name, org, functions, token_hash[..12].to_owned())?;
        self.insert_client(&token_hash, &client)?;
        Ok((client, token))
    }

    /// Makes a client that authenticates with a TLS client certificate (of the environment's TLS CA) instead
    /// of a token; it is known by the certificate's SHA-256.
    pub fn add_certificate_client(
        &self,
        name: &str,
        org: &str,
        functions: &[String],
        certificate: &rustls_pki_types::CertificateDer<'_>,
    ) -> Result<Client, AddressBookError> {
        let sha256 = crate::pki::cert::sha256_hex(certificate);
        let client =
            self.checked_client(name, org, functions, format!("cert-{}", &sha256[..12]))?;
        self.insert_client(&certificate_key(&sha256), &client)?;
        Ok(client)
    }

    /// A new client for a hosted organisation and some of its functional addresses.
    fn checked_client(
        &self,
        name: &str,
        org: &str,
        functions: &[String],
        id: String,
    ) -> Result<Client, AddressBookError> {
        let org = self.organisation(org)?;
        let known: Vec<String> = self
            .functions(Some(&org.id))?
            .into_iter()
            .map(|f| f.id)
            .collect();
        if let Some(unknown) = functions.iter().find(|f| !known.contains(f)) {
            return Err(AddressBookError::NotFound(format!(
                "functional address {unknown} of {}",
                org.id
            )));
        }
        Ok(Client {
            id,
            name: name.to_owned(),
            org: org.id,
            functions: functions.to_vec(),
            created: OffsetDateTime::now_utc(),
        })
    }

    fn insert_client(&self, key: &str, client: &Client) -> Result<(), AddressBookError> {
        self.insert(Table::Clients, (key, ""), client, Insert::Replace)
            .map(drop)
    }

    /// The client registered for a TLS client certificate (by its SHA-256, hex).
    pub fn authenticate_certificate(
        &self,
        sha256: &str,
    ) -> Result<Option<Client>, AddressBookError> {
        self.lookup(&certificate_key(sha256))
    }

    /// The client a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Result<Option<Client>, AddressBookError> {
        self.lookup(&hash(token))
    }

    fn lookup(&self, key: &str) -> Result<Option<Client>, AddressBookError> {
        let found = self
            .rows()
            .get(Table::Clients, (key, ""))
            .map_err(|e| self.db_error(e))?;
        found
            .map(|row| serde_json::from_slice(&row).map_err(|e| self.db_error(e)))
            .transpose()
    }

    pub fn clients(&self) -> Result<Vec<Client>, AddressBookError> {
        self.values(Table::Clients, None)
    }

    /// Removes a client by its id; its token stops working at once.
    pub fn remove_client(&self, id: &str) -> Result<Client, AddressBookError> {
        let not_found = || AddressBookError::NotFound(format!("API client {id}"));
        let rows = self
            .rows()
            .scan(Table::Clients, None)
            .map_err(|e| self.db_error(e))?;
        for row in rows {
            let client: Client =
                serde_json::from_slice(&row.value).map_err(|e| self.db_error(e))?;
            if client.id != id {
                continue;
            }
            // Removed by someone else in between: then it is gone, as asked, but not by us.
            let removed = self
                .rows()
                .remove(Table::Clients, (&row.key.0, ""), None)
                .map_err(|e| self.db_error(e))?;
            return removed.map(|_| client).ok_or_else(not_found);
        }
        Err(not_found())
    }
}
