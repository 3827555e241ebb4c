//! The `[store]` section: where messages, the queue and the audit chain live. Kept here, by the store it
//! describes, so that the store depends on nothing above it; `config` re-exports it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where messages, the queue and the audit chain live: the embedded redb file (one node), or a PostgreSQL
/// database several nodes share (cargo feature `postgres`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `redb` or `postgres`.
    #[serde(default = "default_store_kind")]
    pub kind: String,
    /// `postgresql://user@host:port/database`, or libpq's `host=… user=… dbname=…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A file holding the password, so the URL need not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// The PostgreSQL schema for the node's tables; nodes that share it share their work.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// Connections per node.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// `verify-full` (the default: encrypted, the server's certificate checked against `ca_file` and its
    /// name), `require` (encrypted, unchecked), or `disable` (loopback only).
    #[serde(default = "default_db_tls")]
    pub tls: String,
    /// The CA that issued the database server's certificate (PEM), for `verify-full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: default_store_kind(),
            url: None,
            password_file: None,
            schema: default_schema(),
            pool_size: default_pool_size(),
            tls: default_db_tls(),
            ca_file: None,
        }
    }
}

fn default_store_kind() -> String {
    "redb".into()
}

fn default_schema() -> String {
    "sdk_relay".into()
}

fn default_pool_size() -> u32 {
    16
}

fn default_db_tls() -> String {
    "verify-full".into()
}

impl StoreConfig {
    pub fn is_postgres(&self) -> bool {
        self.kind == "postgres"
    }

    /// Relative file names are taken relative to `dir` (the configuration file's directory).
    pub(crate) fn resolve(&mut self, dir: &Path) {
        for path in [&mut self.password_file, &mut self.ca_file]
            .into_iter()
            .flatten()
        {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
    }

    /// What is wrong with the `[store]` section, key by key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.kind.as_str() {
            "redb" => return out,
            "postgres" if cfg!(feature = "postgres") => {}
            "postgres" => {
                out.push(
                    "[store] kind = \"postgres\", but this sdk-relay was built without PostgreSQL support; \
                     build it with `cargo build --release --features postgres`"
                        .into(),
                );
                return out;
            }
            other => {
                out.push(format!(
                    "[store] kind = {other:?} must be \"redb\" (one node) or \"postgres\" (several nodes)"
                ));
                return out;
            }
        }
        if self.url.as_deref().is_none_or(|u| u.trim().is_empty()) {
            out.push(
                "[store] url is needed for kind = \"postgres\", e.g. \"postgresql://sdk_relay@db.kommun.se:5432/sdk_relay\""
                    .into(),
            );
        }
        let schema_ok = !self.schema.is_empty()
            && self.schema.len() <= 63
            && self
                .schema
                .starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && self
                .schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !schema_ok {
            out.push(format!(
                "[store] schema = {:?} must be 1-63 lower-case letters, digits or '_', starting with a letter",
                self.schema
            ));
        }
        if self.pool_size == 0 {
            out.push("[store] pool_size must be at least 1".into());
        }
        match self.tls.as_str() {
            "verify-full" if self.ca_file.is_none() => out.push(
                "[store] tls = \"verify-full\" needs ca_file, the PEM file of the CA that issued the database server's certificate (or tls = \"require\" / \"disable\")".into(),
            ),
            "verify-full" | "require" | "disable" => {}
            other => out.push(format!(
                "[store] tls = {other:?} must be \"verify-full\", \"require\" or \"disable\""
            )),
        }
        out
    }
}
