//! The running relay (layer 4): the message service for the organisations this node hosts and the access
//! point that moves their envelopes. [`Node`] holds what every part shares — the configuration, the one open
//! node database (store, address book, API clients), keys, trust, the SMP client and the metrics — and the
//! parts are its methods: [`submit`] (API → sealed, queued), [`deliver`] (queue → AS4 → peer), [`receive`]
//! (peer → AS4 checks → mailbox + Meddelandekvittens).

mod admin;
pub mod api;
pub mod deliver;
mod guard;
pub mod json;
mod keys;
mod live_trust;
pub mod metrics;
pub mod problem;
pub mod receive;
pub mod submit;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use redb::Database;
use time::OffsetDateTime;

use crate::audit::{ActorKind, AuditLog, AuditSink, CheckpointSigner, Event, Options};
use crate::config::NodeConfig;
use crate::directory::addressbook::AddressBook;
use crate::directory::smp_http::{LookupError, SmpClient};
use crate::directory::{ParticipantId, ServiceMetadata};
use crate::pki::tls::TlsConfigs;
use crate::pki::{Checker, Env, RevocationPolicy};
use crate::store::{RedbStore, Store, database_path};
pub use keys::NodeKeys;
pub use metrics::Metrics;

/// Why the node could not start, each saying what to change.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    Config(String),
    #[error("the node database {path}: {detail}")]
    Database { path: PathBuf, detail: String },
    #[error("keys: {0}")]
    Keys(String),
    #[error("trust: {0}")]
    Trust(String),
    #[error("audit log: {0}")]
    Audit(#[from] crate::audit::AuditError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Everything the running node's parts share.
pub struct Node {
    pub config: NodeConfig,
    pub env: Env,
    pub data_dir: PathBuf,
    pub store: Arc<dyn Store>,
    pub book: AddressBook,
    pub audit: Arc<dyn AuditSink>,
    /// CAs and CRLs, reloaded when the data directory's `pki.generation` moves.
    pub trust: live_trust::LiveTrust,
    pub keys: NodeKeys,
    pub tls: Arc<TlsConfigs>,
    pub metrics: Metrics,
    smp: SmpClient,
    /// The federation id written in XHE envelopes (the SDK one, or the test federation's).
    pub federation: String,
    /// Wakes the outbound worker when something was queued.
    pub wake: tokio::sync::Notify,
    /// Open failures per sender, against members probing for a decryption oracle.
    guard: guard::Guard,
}

impl Node {
    /// Opens everything the configuration names; every failure says what to fix.
    pub fn open(config: NodeConfig) -> Result<Node, NodeError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(NodeError::Config(problems.join("\n")));
        }
        let env: Env = config
            .node
            .environment
            .parse()
            .map_err(|e| NodeError::Config(format!("[node] environment: {e}")))?;
        let data_dir = config.node.data_dir.clone();
        let keys = NodeKeys::load(&data_dir, &config.as4.ap_id)?;
        let trust = live_trust::LiveTrust::load(data_dir.clone())
            .map_err(|e| NodeError::Trust(e.to_string()))?;
        if !trust.current().envs().contains(&env) {
            return Err(NodeError::Trust(format!(
                "no CA is trusted for environment {env} in {}; import DIGG's CA files with \
                 `sdk-relay trust import --env {env} ...`",
                data_dir.display()
            )));
        }
        let tls =
            TlsConfigs::load(&data_dir, env.clone(), RevocationPolicy::default()).map_err(|e| {
                NodeError::Keys(format!(
                    "TLS: {e} (make one with `sdk-relay certs csr --purpose tls` and import the certificate)"
                ))
            })?;
        let signer = CheckpointSigner::new(&keys.ap_pair, keys.ap_signer.certificate().clone())
            .map_err(|e| NodeError::Keys(e.to_string()))?;
        let path = database_path(&data_dir);
        // The data directory holds messages and the database their metadata: the node's user alone.
        let private = crate::pki::fsutil::create_private_dir(&data_dir)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                crate::pki::fsutil::ensure_private_file(&path).map_err(|e| e.to_string())
            });
        if let Err(e) = private {
            return Err(NodeError::Database {
                path: path.clone(),
                detail: format!("making it private to this user: {e}"),
            });
        }
        let db = Database::create(&path).map_err(|e| NodeError::Database {
            path: path.clone(),
            detail: format!(
                "{e} (is another sdk-relay process using this data directory? Stop it first)"
            ),
        })?;
        let db = Arc::new(db);
        let local_book =
            AddressBook::with_database(db.clone(), &path).map_err(|e| NodeError::Database {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        let (store, audit, book) = open_store(&config, &data_dir, db, signer, local_book)?;
        let smp = SmpClient::new(
            trust.current(),
            env.clone(),
            Duration::from_secs(config.smp.cache_seconds),
        )
        .with_ca_file(config.smp.ca_file.clone())
        .with_transport_profiles(config.smp.transport_profiles.clone());
        let federation = if matches!(env.as_str(), "qa" | "prod") {
            crate::envelope::ids::FEDERATION_SDK
        } else {
            crate::envelope::ids::FEDERATION_TEST
        }
        .to_owned();
        Ok(Node {
            env,
            data_dir,
            store,
            book,
            audit,
            trust,
            keys,
            tls,
            metrics: Metrics::default(),
            smp,
            federation,
            wake: tokio::sync::Notify::new(),
            guard: guard::Guard::default(),
            config,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A chain checker over the node's trust.
    pub fn checker(&self) -> Checker<'static> {
        if let Err(e) = self.trust.refresh() {
            tracing::error!(
                error = %e,
                "reloading trust after a change in the data directory failed; the previous trust stays in use"
            );
        }
        Checker::shared(self.trust.current(), RevocationPolicy::default())
    }

    /// How an O2O signature is judged here and now: the signer's chain for the O2O role in this node's
    /// environment, and the certificate it must be.
    pub fn signer_policy<'c>(
        &'c self,
        checker: &'c Checker<'c>,
        pinned: &'c rustls_pki_types::CertificateDer<'c>,
    ) -> crate::xmlsec::SignerPolicy<'c> {
        crate::xmlsec::SignerPolicy {
            trust: Some(crate::xmlsec::TrustCheck {
                checker,
                env: &self.env,
                at: OffsetDateTime::now_utc(),
            }),
            pinned: Some(pinned),
        }
    }

    /// The SMP that serves `participant`: the configured one, or the SML's answer.
    async fn smp_url(&self, participant: &ParticipantId) -> Result<String, LookupError> {
        if let Some(url) = &self.config.smp.url {
            return Ok(url.clone());
        }
        let (Some(zone), Some(dns)) = (&self.config.smp.sml_zone, &self.config.smp.dns) else {
            return Err(LookupError::Unreachable {
                url: "(no SMP configured)".into(),
                detail: "[smp] has neither url nor sml_zone".into(),
            });
        };
        let servers =
            crate::directory::dns::parse_servers(dns).map_err(|e| LookupError::Unreachable {
                url: dns.clone(),
                detail: e,
            })?;
        let sml = crate::directory::sml::SmlConfig {
            zone: zone.clone(),
            servers,
            timeout: Duration::from_secs(5),
        };
        crate::directory::sml::lookup(participant, &sml)
            .await
            .map_err(|e| match e {
                crate::directory::sml::SmlError::NotRegistered { participant, .. } => {
                    LookupError::NotRegistered {
                        participant,
                        document_id: "(any)".into(),
                    }
                }
                other => LookupError::Unreachable {
                    url: format!("SML {zone}"),
                    detail: other.to_string(),
                },
            })
    }

    /// Looks up where and how (participant, document type) receives.
    pub async fn lookup(
        &self,
        participant: &str,
        document_id: &str,
    ) -> Result<ServiceMetadata, LookupError> {
        let id = ParticipantId::parse(participant).map_err(|e| LookupError::NotRegistered {
            participant: format!("{participant} ({e})"),
            document_id: document_id.to_owned(),
        })?;
        let url = self.smp_url(&id).await?;
        self.smp.lookup(&url, &id, document_id).await
    }

    /// Writes an event that is not a status change (refusals, API client actions) to the audit log. A failed
    /// write is reported, never silently dropped.
    pub fn record(&self, event: Event) {
        if let Err(e) = self.audit.append(event) {
            tracing::error!(error = %e, "audit log write failed");
        }
    }

    /// An audit event by this node, about a peer or an API client.
    pub fn event(kind: &str, outcome: &str, actor: (ActorKind, &str), detail: String) -> Event {
        Event {
            kind: kind.to_owned(),
            outcome: outcome.to_owned(),
            actor_kind: Some(actor.0),
            actor: Some(actor.1.to_owned()),
            detail,
            ..Event::default()
        }
    }

    /// When a message queued now expires.
    pub fn expiry(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::seconds(
                i64::try_from(self.config.retry.expiry_seconds).unwrap_or(i64::MAX / 2),
            )
    }
}

type StoreAuditBook = (Arc<dyn Store>, Arc<dyn AuditSink>, AddressBook);

/// The node's store and audit sink: redb and the log files in the data directory, or the shared database.
fn open_store(
    config: &NodeConfig,
    data_dir: &Path,
    db: Arc<Database>,
    signer: CheckpointSigner,
    local_book: AddressBook,
) -> Result<StoreAuditBook, NodeError> {
    crate::store::remember(data_dir, &config.store).map_err(|e| NodeError::Database {
        path: data_dir.join("store.toml"),
        detail: e.to_string(),
    })?;
    if config.store.is_postgres() {
        #[cfg(feature = "postgres")]
        {
            use crate::store::pg::{Instance, PgStore};
            let pg = PgStore::open(
                &config.store,
                Some(Instance::new(&config.node.name)),
                Some(signer),
            )?;
            let pg = Arc::new(pg);
            share_address_book(&pg, &local_book, data_dir)?;
            return Ok((pg.clone(), pg.clone(), AddressBook::with_rows(pg)));
        }
        #[cfg(not(feature = "postgres"))]
        return Err(NodeError::Config(config.store.problems().join("\n")));
    }
    let audit = Arc::new(AuditLog::open(data_dir, Options::default(), Some(signer))?);
    let store = Arc::new(RedbStore::with_database(db, data_dir, audit.clone())?);
    Ok((store, audit, local_book))
}

/// The first node to start on a shared database brings the address book (and API clients) its data directory
/// was set up with; from then on the database's book is the one every node uses, and a later node's own is
/// not (it says so when it has one).
#[cfg(feature = "postgres")]
fn share_address_book(
    pg: &crate::store::pg::PgStore,
    local: &AddressBook,
    data_dir: &Path,
) -> Result<(), NodeError> {
    use crate::store::pg::Seeded;
    let place = database_path(data_dir).display().to_string();
    let failed = |detail: String| {
        NodeError::Config(format!(
            "bringing the address book of {place} to the shared database (schema {}): {detail}",
            pg.schema()
        ))
    };
    let seed = local.all_rows().map_err(|e| failed(e.to_string()))?;
    match pg.seed_address_book(&seed, &place).map_err(failed)? {
        Seeded::Now { copied } => tracing::info!(
            rows = copied,
            place = %place,
            "address book copied to the shared database"
        ),
        Seeded::Before { by } if !seed.is_empty() => tracing::warn!(
            rows = seed.len(),
            place = %place,
            brought_by = %by,
            "address book: the shared database's is used, not the local rows (change it with \
             `sdk-relay addressbook`/`clients` on any node)"
        ),
        Seeded::Before { .. } => {}
    }
    Ok(())
}
