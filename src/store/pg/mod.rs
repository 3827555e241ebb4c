//! The shared store (cargo feature `postgres`): several nodes on one PostgreSQL database. Every change is one
//! transaction that also appends its audit record to the one hash chain all nodes share (under the lock of
//! the chain's head row, taken last so it is held only through the commit). Queued work is claimed with
//! `FOR UPDATE SKIP LOCKED`; a claim lapses when its node stops sending heartbeats, so a dead node's work is
//! taken over. De-duplication is the primary keys: two nodes receiving the same message cannot both store it.
//!
//! The node's code is synchronous towards its store; this store runs its queries on a small runtime of its
//! own and blocks the caller (via `block_in_place` on the node's runtime threads), as the redb store blocks on
//! its fsync.

mod audit;
mod book;
mod connect;
pub mod schema;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Object, Pool};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{
    Direction, Filter, Inbound, Inserted, Mark, NewMessage, QueueItem, Status, Store, StoreError,
    StoredMessage, check_id, inbound_marks, status_event, stored,
};
use crate::audit::{AuditError, AuditSink, Checkpoint, CheckpointSigner, Event};
use crate::store::config::StoreConfig;
pub use audit::ChainLines;
pub use book::Seeded;
pub use connect::pool as connect_pool;
pub use schema::Migrated;

/// Payloads are stored in chunks of this size.
const CHUNK: usize = 1024 * 1024;
/// A node that has not been seen for this long is taken for dead: its claims lapse.
const ALIVE_SECONDS: f64 = 10.0;
/// How often a running node says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// A claim lapses after this even when its node is alive (an attempt takes at most ~1 min + 1 s per MB).
const LEASE_SECONDS: f64 = 15.0 * 60.0;

/// An error with every cause under it ("…: error performing TLS handshake: invalid peer certificate: …"),
/// since the pool's own message stops at the first.
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

pub(crate) fn db(e: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(e.to_string())
}

/// `sql` run with a statement prepared once per connection (deadpool caches it): one round trip instead of
/// a prepare and an execute each time.
pub(crate) async fn exec(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.execute(&statement, params).await
}

/// As [`exec`], for the rows a query returns.
pub(crate) async fn rows(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query(&statement, params).await
}

/// As [`exec`], for a query of at most one row.
pub(crate) async fn row_opt(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_opt(&statement, params).await
}

/// As [`exec`], for a query of exactly one row.
pub(crate) async fn row_one(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_one(&statement, params).await
}

/// The node instance that claims work: its configured name, and an id of this start.
#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    pub id: String,
}

impl Instance {
    pub fn new(name: &str) -> Instance {
        Instance {
            name: name.to_owned(),
            id: format!("{name}/{}", uuid::Uuid::new_v4()),
        }
    }
}

pub struct PgStore {
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    schema: String,
    instance: Option<Instance>,
    signer: Option<Arc<CheckpointSigner>>,
}

impl PgStore {
    /// Connects, migrates the schema to this binary's version, and — for a running node (`instance`) —
    /// registers it and starts its heartbeat (and periodic audit checkpoints, when it has a `signer`).
    pub fn open(
        config: &StoreConfig,
        instance: Option<Instance>,
        signer: Option<CheckpointSigner>,
    ) -> Result<PgStore, StoreError> {
        PgStore::start(config, instance, signer, true)
    }

    /// Connects to a schema at this binary's version without changing it (for commands that only read or
    /// append, such as `audit verify`): a schema behind is reported, not migrated.
    pub fn connect(
        config: &StoreConfig,
        signer: Option<CheckpointSigner>,
    ) -> Result<PgStore, StoreError> {
        PgStore::start(config, None, signer, false)
    }

    fn start(
        config: &StoreConfig,
        instance: Option<Instance>,
        signer: Option<CheckpointSigner>,
        migrate: bool,
    ) -> Result<PgStore, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sdk-relay-pg")
            .enable_all()
            .build()
            .map_err(db)?;
        let pool = connect::pool(config)?;
        let store = PgStore {
            rt: Some(rt),
            pool,
            schema: config.schema.clone(),
            instance,
            signer: signer.map(Arc::new),
        };
        store.run(async {
            let mut client = store.client().await?;
            if migrate {
                return schema::migrate(&mut client, &store.schema).await.map(drop);
            }
            let version = schema::current(&client).await?;
            if version == schema::latest() {
                return Ok(());
            }
            Err(StoreError::Storage(format!(
                "the database schema {:?} is at version {version}, this sdk-relay expects {}: \
                 run `sdk-relay db migrate` with the sdk-relay the nodes run",
                store.schema,
                schema::latest()
            )))
        })?;
        if let Some(instance) = &store.instance {
            store.run(heartbeat(&store.pool, instance))?;
            // The chain says which instances wrote it: each names itself when it joins.
            store
                .append(Event {
                    kind: "node.started".into(),
                    outcome: "ok".into(),
                    actor_kind: Some(crate::audit::ActorKind::Node),
                    detail: format!(
                        "instance {} on {}, sdk-relay {}",
                        instance.id,
                        hostname(),
                        env!("CARGO_PKG_VERSION")
                    ),
                    ..Event::default()
                })
                .map_err(|e| StoreError::Storage(e.to_string()))?;
            // A connection of its own: a pool busy with work must not delay the beat past ALIVE_SECONDS
            // and so hand this node's claims to the others.
            let pool = connect::pool(&StoreConfig {
                pool_size: 1,
                ..config.clone()
            })?;
            let (instance, signer) = (instance.clone(), store.signer.clone());
            if let Some(rt) = &store.rt {
                rt.spawn(async move {
                    loop {
                        tokio::time::sleep(HEARTBEAT).await;
                        // A failed beat is retried at the next one; other nodes wait ALIVE_SECONDS before
                        // taking this node's work.
                        let _ = heartbeat(&pool, &instance).await;
                        if let Some(signer) = &signer {
                            let _ = audit::checkpoint_if_due(&pool, signer).await;
                        }
                    }
                });
            }
        }
        Ok(store)
    }

    /// Runs `work` on the store's runtime and waits for it.
    fn run<T: Send>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send,
    ) -> Result<T, StoreError> {
        let rt = self
            .rt
            .as_ref()
            .ok_or_else(|| StoreError::Storage("the store is closed".into()))?;
        match tokio::runtime::Handle::try_current() {
            Ok(handle)
                if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread =>
            {
                // block_in_place is not available here; a scoped thread waits instead.
                std::thread::scope(|s| {
                    s.spawn(|| rt.block_on(work)).join().unwrap_or_else(|_| {
                        Err(StoreError::Storage("a store query panicked".into()))
                    })
                })
            }
            Ok(_) => tokio::task::block_in_place(|| rt.block_on(work)),
            Err(_) => rt.block_on(work),
        }
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Storage(format!("connecting to the database: {}", causes(&e))))
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The audit actor of this node's own status changes.
    fn stamp(&self, mut event: Event) -> Event {
        if event.actor.is_none()
            && let Some(instance) = &self.instance
        {
            event.actor = Some(instance.name.clone());
        }
        event
    }

    /// The state of the shared database, for `sdk-relay db status`.
    pub fn status(&self) -> Result<DbStatus, StoreError> {
        self.run(async {
            let client = self.client().await?;
            status(&client, &self.schema).await
        })
    }

    /// The audit chain's records from `from` on, at most `limit`, oldest first.
    pub fn audit_records(&self, from: u64, limit: i64) -> Result<Vec<(u64, String)>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            audit::records(&client, from, limit).await
        })
    }

    /// The audit records naming `message_id`, oldest first.
    pub fn audit_records_of(&self, message_id: &str) -> Result<Vec<String>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            audit::records_of(&client, message_id).await
        })
    }

    /// The signed checkpoint lines, oldest first.
    pub fn audit_checkpoints(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            audit::checkpoints(&client).await
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's thread panics; shut it down without waiting.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

async fn heartbeat(pool: &Pool, instance: &Instance) -> Result<(), StoreError> {
    let client = pool.get().await.map_err(db)?;
    let host = hostname();
    exec(
        &client,
        "INSERT INTO nodes (instance, name, host, version, started, last_seen)
             VALUES ($1, $2, $3, $4, now(), now())
             ON CONFLICT (instance) DO UPDATE SET last_seen = now()",
        &[
            &instance.id,
            &instance.name,
            &host,
            &env!("CARGO_PKG_VERSION"),
        ],
    )
    .await
    .map_err(db)?;
    // Instances gone for a day are history, not nodes.
    exec(
        &client,
        "DELETE FROM nodes WHERE last_seen < now() - interval '1 day'",
        &[],
    )
    .await
    .map_err(db)?;
    Ok(())
}

/// What `sdk-relay db status` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DbStatus {
    pub schema: String,
    pub version: i32,
    pub latest_known: i32,
    /// Messages per status.
    pub statuses: Vec<(String, i64)>,
    /// Queue entries: due now, waiting for a later attempt, claimed by a node.
    pub queue_due: i64,
    pub queue_waiting: i64,
    pub queue_claimed: i64,
    /// The queue entry that has waited longest: its id, when it was stored, its next attempt.
    pub oldest_waiting: Option<(String, String, String)>,
    /// Node instances seen in the last minute: name, host, version, seconds since last seen.
    pub nodes: Vec<(String, String, String, f64)>,
    pub audit_records: i64,
    /// Rows of the shared address book per table (`addressbook_organisations`, `api_clients`, …).
    pub address_book: Vec<(String, i64)>,
    /// The TLS version of this connection to the database, or `None` when it is not encrypted.
    pub tls: Option<String>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn status(client: &Object, schema: &str) -> Result<DbStatus, StoreError> {
    let version = schema::current(client).await?;
    let mut out = DbStatus {
        schema: schema.to_owned(),
        version,
        latest_known: schema::latest(),
        statuses: Vec::new(),
        queue_due: 0,
        queue_waiting: 0,
        queue_claimed: 0,
        oldest_waiting: None,
        nodes: Vec::new(),
        audit_records: 0,
        address_book: Vec::new(),
        tls: row_opt(
            client,
            "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
            &[],
        )
        .await
        .map_err(db)?
        .map(|r| r.get(0)),
    };
    if version == 0 {
        return Ok(out);
    }
    for row in rows(
        client,
        "SELECT status, count(*) FROM messages GROUP BY status ORDER BY status",
        &[],
    )
    .await
    .map_err(db)?
    {
        out.statuses.push((row.get(0), row.get(1)));
    }
    let row = row_one(
        client,
        "SELECT count(*) FILTER (WHERE next_attempt <= now()),
                    count(*) FILTER (WHERE next_attempt > now()),
                    count(*) FILTER (WHERE claimed_by IS NOT NULL AND claim_until > now())
             FROM queue",
        &[],
    )
    .await
    .map_err(db)?;
    (out.queue_due, out.queue_waiting, out.queue_claimed) = (row.get(0), row.get(1), row.get(2));
    if let Some(row) = row_opt(
        client,
        "SELECT q.id, m.created, q.next_attempt FROM queue q JOIN messages m USING (id)
             ORDER BY m.created LIMIT 1",
        &[],
    )
    .await
    .map_err(db)?
    {
        out.oldest_waiting = Some((row.get(0), rfc3339(row.get(1)), rfc3339(row.get(2))));
    }
    for row in rows(
        client,
        "SELECT name, host, version, extract(epoch FROM now() - last_seen)::float8 FROM nodes
             WHERE last_seen > now() - interval '1 minute' ORDER BY name, started",
        &[],
    )
    .await
    .map_err(db)?
    {
        out.nodes
            .push((row.get(0), row.get(1), row.get(2), row.get(3)));
    }
    out.audit_records = row_one(client, "SELECT count(*) FROM audit_records", &[])
        .await
        .map_err(db)?
        .get(0);
    for row in rows(
        client,
        "SELECT kind, count(*) FROM address_book GROUP BY kind ORDER BY kind",
        &[],
    )
    .await
    .map_err(db)?
    {
        out.address_book.push((row.get(0), row.get(1)));
    }
    Ok(out)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(db)
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(db)
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Outbound => "outbound",
        Direction::Inbound => "inbound",
    }
}

/// Reads a message row for update (its lock held until the transaction ends).
async fn lock_message(
    tx: &deadpool_postgres::Transaction<'_>,
    id: &str,
) -> Result<StoredMessage, StoreError> {
    let row = row_opt(
        tx,
        "SELECT doc FROM messages WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await
    .map_err(db)?
    .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
    from_json(row.get(0))
}

async fn write_message(
    tx: &deadpool_postgres::Transaction<'_>,
    message: &StoredMessage,
) -> Result<(), StoreError> {
    exec(
        tx,
        "UPDATE messages SET status = $2, doc = $3, updated = now() WHERE id = $1",
        &[
            &message.message.id,
            &message.status.as_str(),
            &to_json(message)?,
        ],
    )
    .await
    .map_err(db)?;
    Ok(())
}

/// Inserts a new row; `false` when the id exists already.
async fn insert_message(
    tx: &deadpool_postgres::Transaction<'_>,
    message: &StoredMessage,
    in_mailbox: bool,
) -> Result<bool, StoreError> {
    let m = &message.message;
    let inserted = exec(
        tx,
        "INSERT INTO messages (id, direction, org, function, status, in_mailbox, doc)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        &[
            &m.id,
            &direction_name(m.direction),
            &m.org,
            &m.function,
            &message.status.as_str(),
            &in_mailbox,
            &to_json(message)?,
        ],
    )
    .await
    .map_err(db)?;
    Ok(inserted == 1)
}

async fn write_payload(
    tx: &deadpool_postgres::Transaction<'_>,
    id: &str,
    payload: &[u8],
) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached("INSERT INTO payload_chunks (id, n, data) VALUES ($1, $2, $3)")
        .await
        .map_err(db)?;
    for (n, chunk) in payload.chunks(CHUNK).enumerate() {
        let n = i32::try_from(n).map_err(db)?;
        tx.execute(&statement, &[&id, &n, &chunk])
            .await
            .map_err(db)?;
    }
    Ok(())
}

async fn put_outbound(
    tx: &deadpool_postgres::Transaction<'_>,
    message: NewMessage,
    payload: &[u8],
    next_attempt: OffsetDateTime,
    expires: OffsetDateTime,
    events: &mut Vec<Event>,
) -> Result<(), StoreError> {
    check_id(&message.id)?;
    let id = message.id.clone();
    let row = stored(message, Status::Scheduled, None, payload.len());
    if !insert_message(tx, &row, false).await? {
        return Err(StoreError::Exists(id));
    }
    write_payload(tx, &id, payload).await?;
    exec(
        tx,
        "INSERT INTO queue (id, next_attempt, attempts, expires) VALUES ($1, $2, 0, $3)",
        &[&id, &next_attempt, &expires],
    )
    .await
    .map_err(db)?;
    events.push(status_event(&row, Status::Scheduled, None));
    Ok(())
}

impl PgStore {
    /// Appends `events` to the chain in `tx` and commits: the chain's head is locked last, so nodes queue
    /// for it only through each other's commits.
    async fn commit(
        &self,
        tx: deadpool_postgres::Transaction<'_>,
        events: Vec<Event>,
    ) -> Result<(), StoreError> {
        let events: Vec<Event> = events.into_iter().map(|e| self.stamp(e)).collect();
        audit::append(&tx, events).await?;
        tx.commit().await.map_err(db)
    }

    async fn receive_async(&self, inbound: Inbound<'_>) -> Result<Inserted, StoreError> {
        let Inbound {
            message,
            payload,
            as4_message_id,
            rejected,
            reply,
        } = inbound;
        check_id(&message.id)?;
        let id = message.id.clone();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        // Waits for a node storing the same message right now; then sees its row.
        let seen = exec(
            &tx,
            "INSERT INTO seen_as4 (as4_message_id, message_id) VALUES ($1, $2)
                 ON CONFLICT (as4_message_id) DO NOTHING",
            &[&as4_message_id, &id],
        )
        .await
        .map_err(db)?;
        if seen == 0 {
            let existing = row_opt(
                &tx,
                "SELECT message_id FROM seen_as4 WHERE as4_message_id = $1",
                &[&as4_message_id],
            )
            .await
            .map_err(db)?
            .map_or(id, |r| r.get(0));
            return Ok(Inserted::Duplicate { existing });
        }
        let status = if rejected.is_some() {
            Status::Rejected
        } else {
            Status::New
        };
        let mut row = stored(message, status, Some(as4_message_id), payload.len());
        // A refused message's history says why from its first entry.
        row.events[0].reason.clone_from(&rejected);
        if !insert_message(&tx, &row, rejected.is_none()).await? {
            return Ok(Inserted::Duplicate { existing: id });
        }
        write_payload(&tx, &id, payload).await?;
        put_marks(&tx, &inbound_marks(&row.message, as4_message_id)).await?;
        let reason = rejected.as_deref().unwrap_or("delivered to the mailbox");
        let mut events = vec![status_event(&row, status, Some(reason))];
        if let Some(r) = reply {
            put_outbound(
                &tx,
                r.message,
                r.payload,
                r.next_attempt,
                r.expires,
                &mut events,
            )
            .await?;
        }
        self.commit(tx, events).await?;
        Ok(Inserted::New)
    }

    async fn transition_async(
        &self,
        id: &str,
        status: Status,
        reason: Option<String>,
    ) -> Result<StoredMessage, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let mut message = lock_message(&tx, id).await?;
        message.advance(status, reason.clone())?;
        write_message(&tx, &message).await?;
        if status != Status::ScheduledForResend && status != Status::Scheduled {
            exec(&tx, "DELETE FROM queue WHERE id = $1", &[&id])
                .await
                .map_err(db)?;
        }
        let event = status_event(&message, status, reason.as_deref());
        self.commit(tx, vec![event]).await?;
        Ok(message)
    }

    async fn reschedule_async(
        &self,
        id: &str,
        next_attempt: OffsetDateTime,
        reason: String,
    ) -> Result<StoredMessage, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let mut message = lock_message(&tx, id).await?;
        let updated = exec(
            &tx,
            "UPDATE queue SET next_attempt = $2, attempts = attempts + 1,
                                  claimed_by = NULL, claim_until = NULL
                 WHERE id = $1",
            &[&id, &next_attempt],
        )
        .await
        .map_err(db)?;
        if updated == 0 {
            return Err(StoreError::NotFound(format!("{id} in the queue")));
        }
        message.advance(Status::ScheduledForResend, Some(reason.clone()))?;
        write_message(&tx, &message).await?;
        let event = status_event(&message, Status::ScheduledForResend, Some(&reason));
        self.commit(tx, vec![event]).await?;
        Ok(message)
    }

    async fn payload_async(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        use futures_util::TryStreamExt;
        let client = self.client().await?;
        let row = row_opt(&client, "SELECT doc FROM messages WHERE id = $1", &[&id])
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        let message: StoredMessage = from_json(row.get(0))?;
        let mut out = Vec::with_capacity(usize::try_from(message.payload_bytes).unwrap_or(0));
        // Row by row: only one chunk at a time besides the result.
        let rows = client
            .query_raw(
                "SELECT data FROM payload_chunks WHERE id = $1 ORDER BY n",
                [id],
            )
            .await
            .map_err(db)?;
        let mut rows = std::pin::pin!(rows);
        while let Some(row) = rows.try_next().await.map_err(db)? {
            out.extend_from_slice(row.get::<_, &[u8]>(0));
        }
        Ok(out)
    }

    async fn delete_async(&self, id: &str) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let message = lock_message(&tx, id).await?;
        if !message.status.is_final() {
            return Err(StoreError::NotFinal {
                id: id.to_owned(),
                status: message.status,
            });
        }
        // The payload chunks and any queue entry go with the row (ON DELETE CASCADE).
        exec(&tx, "DELETE FROM messages WHERE id = $1", &[&id])
            .await
            .map_err(db)?;
        let event = Event {
            kind: "message.deleted".into(),
            ..status_event(&message, message.status, Some("deleted by the client"))
        };
        self.commit(tx, vec![event]).await
    }
}

/// Records each mark whose key has none yet; returns the earlier ones.
async fn put_marks(
    tx: &impl GenericClient,
    marks: &[(String, Mark)],
) -> Result<Vec<Option<Mark>>, StoreError> {
    let mut earlier = Vec::with_capacity(marks.len());
    for (key, m) in marks {
        // Waits for a node marking the same key right now; then sees its mark.
        let inserted = exec(
            tx,
            "INSERT INTO marks (key, message_id, sender, as4_message_id, at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
            &[&key, &m.message_id, &m.sender, &m.as4_message_id, &m.at],
        )
        .await
        .map_err(db)?;
        earlier.push(if inserted == 1 {
            None
        } else {
            find_mark(tx, key).await?
        });
    }
    Ok(earlier)
}

async fn find_mark(c: &impl GenericClient, key: &str) -> Result<Option<Mark>, StoreError> {
    let row = row_opt(
        c,
        "SELECT message_id, sender, as4_message_id, at FROM marks WHERE key = $1",
        &[&key],
    )
    .await
    .map_err(db)?;
    Ok(row.map(|row| Mark {
        message_id: row.get(0),
        sender: row.get(1),
        as4_message_id: row.get(2),
        at: row.get(3),
    }))
}

fn queue_item(row: &tokio_postgres::Row) -> Result<QueueItem, StoreError> {
    Ok(QueueItem {
        id: row.get(0),
        next_attempt: row.get(1),
        attempts: u32::try_from(row.get::<_, i32>(2)).unwrap_or(0),
        expires: row.get(3),
    })
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store for PgStore {
    fn insert_outbound(
        &self,
        message: NewMessage,
        payload: &[u8],
        next_attempt: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db)?;
            let mut events = Vec::new();
            put_outbound(&tx, message, payload, next_attempt, expires, &mut events).await?;
            self.commit(tx, events).await
        })
    }

    fn receive(&self, inbound: Inbound<'_>) -> Result<Inserted, StoreError> {
        self.run(self.receive_async(inbound))
    }

    fn due(&self, now: OffsetDateTime, limit_to: usize) -> Result<Vec<QueueItem>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let rows = rows(
                &client,
                "SELECT id, next_attempt, attempts, expires FROM queue
                     WHERE next_attempt <= $1 ORDER BY next_attempt, id LIMIT $2",
                &[&now, &limit(limit_to)],
            )
            .await
            .map_err(db)?;
            rows.iter().map(queue_item).collect()
        })
    }

    fn claim(
        &self,
        now: OffsetDateTime,
        limit_to: usize,
        in_flight: usize,
    ) -> Result<Vec<QueueItem>, StoreError> {
        let Some(instance) = &self.instance else {
            return self.due(now, limit_to.saturating_add(in_flight));
        };
        self.run(async {
            let client = self.client().await?;
            // Unclaimed entries, and those whose claim lapsed or whose node stopped beating.
            let rows = rows(
                &client,
                "UPDATE queue SET claimed_by = $1, claim_until = now() + make_interval(secs => $4)
                     WHERE id IN (
                         SELECT q.id FROM queue q
                         WHERE q.next_attempt <= $2
                           AND (q.claimed_by IS NULL OR q.claim_until < now()
                                OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.instance = q.claimed_by
                                               AND n.last_seen > now() - make_interval(secs => $5)))
                         ORDER BY q.next_attempt
                         LIMIT $3
                         FOR UPDATE SKIP LOCKED)
                     RETURNING id, next_attempt, attempts, expires",
                &[
                    &instance.id,
                    &now,
                    &limit(limit_to),
                    &LEASE_SECONDS,
                    &ALIVE_SECONDS,
                ],
            )
            .await
            .map_err(db)?;
            let mut items: Vec<QueueItem> =
                rows.iter().map(queue_item).collect::<Result<_, _>>()?;
            items.sort_by_key(|i| i.next_attempt);
            Ok(items)
        })
    }

    fn transition(
        &self,
        id: &str,
        status: Status,
        reason: Option<String>,
    ) -> Result<StoredMessage, StoreError> {
        self.run(self.transition_async(id, status, reason))
    }

    fn reschedule(
        &self,
        id: &str,
        next_attempt: OffsetDateTime,
        reason: String,
    ) -> Result<StoredMessage, StoreError> {
        self.run(self.reschedule_async(id, next_attempt, reason))
    }

    fn get(&self, id: &str) -> Result<StoredMessage, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let row = row_opt(&client, "SELECT doc FROM messages WHERE id = $1", &[&id])
                .await
                .map_err(db)?
                .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
            from_json(row.get(0))
        })
    }

    fn payload(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        check_id(id)?;
        self.run(self.payload_async(id))
    }

    fn list(&self, filter: &Filter) -> Result<Vec<StoredMessage>, StoreError> {
        // With both organisation and functional address, the mailbox: inbound messages delivered to it.
        let mailbox = filter.org.is_some() && filter.function.is_some();
        let status = filter.status.map(|s| s.as_str());
        let direction = filter.direction.map(direction_name);
        self.run(async {
            let client = self.client().await?;
            let rows = rows(&client,
                    "SELECT doc FROM messages
                     WHERE ($1::text IS NULL OR org = $1) AND ($2::text IS NULL OR function = $2)
                       AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR direction = $4)
                       AND (NOT $5 OR in_mailbox)
                     ORDER BY id",
                    &[&filter.org, &filter.function, &status, &direction, &mailbox],
                )
                .await
                .map_err(db)?;
            rows.iter().map(|r| from_json(r.get(0))).collect()
        })
    }

    fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.run(self.delete_async(id))
    }

    fn mark(&self, marks: &[(String, Mark)]) -> Result<Vec<Option<Mark>>, StoreError> {
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db)?;
            let earlier = put_marks(&tx, marks).await?;
            tx.commit().await.map_err(db)?;
            Ok(earlier)
        })
    }

    fn marks(&self, keys: &[String]) -> Result<Vec<Option<Mark>>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                out.push(find_mark(&client, key).await?);
            }
            Ok(out)
        })
    }

    fn forget_marks(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.run(async {
            let client = self.client().await?;
            exec(&client, "DELETE FROM marks WHERE at < $1", &[&before])
                .await
                .map_err(db)
        })
    }
}

impl AuditSink for PgStore {
    fn append(&self, event: Event) -> Result<u64, AuditError> {
        let event = self.stamp(event);
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db)?;
            let seqs = audit::append(&tx, vec![event]).await?;
            tx.commit().await.map_err(db)?;
            Ok(seqs.first().copied().unwrap_or(0))
        })
        .map_err(|e| AuditError::Corrupt(e.to_string()))
    }

    fn checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        self.run(audit::checkpoint(&self.pool, signer))
            .map_err(|e| AuditError::Corrupt(e.to_string()))
    }
}

/// Shared by the node and the CLI: the store as a shared handle.
pub type Shared = Arc<PgStore>;
