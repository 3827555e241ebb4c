//! The database schema, created and migrated by the binary itself: numbered, forward-only migrations applied
//! in order under a lock (nodes starting together apply each once), recorded in `schema_migrations`. A
//! database migrated by a newer binary is refused rather than guessed at.

use deadpool_postgres::Object;

use super::db;
use crate::store::StoreError;

/// (version, what it adds, SQL). Append only: a released migration is never edited.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "messages, payload chunks, queue with claims, de-duplication, audit chain, nodes",
        r#"
CREATE TABLE messages (
    id text PRIMARY KEY,
    direction text NOT NULL,
    org text NOT NULL,
    function text,
    status text NOT NULL,
    -- Inbound messages delivered to their mailbox (not refused ones), as the MT-MK API lists them.
    in_mailbox boolean NOT NULL DEFAULT false,
    -- The StoredMessage as JSON: the row the trait returns.
    doc text NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_by_org ON messages (org, function, status);
CREATE INDEX messages_by_status ON messages (status);

-- Payloads in 1 MiB chunks: a 100 MB envelope is never one value in memory or on the wire.
CREATE TABLE payload_chunks (
    id text NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    n integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (id, n)
);

-- AS4 MessageIds received, kept after the message is deleted so a resend is still recognised.
CREATE TABLE seen_as4 (
    as4_message_id text PRIMARY KEY,
    message_id text NOT NULL
);

CREATE TABLE queue (
    id text PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    next_attempt timestamptz NOT NULL,
    attempts integer NOT NULL,
    expires timestamptz NOT NULL,
    -- The node instance sending it now, and until when at most.
    claimed_by text,
    claim_until timestamptz
);
CREATE INDEX queue_due ON queue (next_attempt);

-- One hash chain for every node: appended under the lock of this single row.
CREATE TABLE audit_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    next_seq bigint NOT NULL,
    last_hash text NOT NULL
);
INSERT INTO audit_head (next_seq, last_hash)
    VALUES (0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE audit_records (
    seq bigint PRIMARY KEY,
    -- The record's exact JSON line: what the next record's `prev` hashes.
    line text NOT NULL,
    message_id text
);
CREATE INDEX audit_records_by_message ON audit_records (message_id) WHERE message_id IS NOT NULL;
CREATE TABLE audit_checkpoints (
    seq bigint PRIMARY KEY,
    line text NOT NULL
);

CREATE TABLE nodes (
    instance text PRIMARY KEY,
    name text NOT NULL,
    host text NOT NULL,
    version text NOT NULL,
    started timestamptz NOT NULL,
    last_seen timestamptz NOT NULL
);
"#,
    ),
    (
        2,
        "address book, SMP publications and API clients shared by every node",
        r#"
-- The address book's tables in one: `kind` names the table, k1/k2 the key (k2 '' for one-part keys), `value`
-- the row as JSON.
-- Keys sort by bytes (COLLATE "C"), as redb's do: listings come out in the same order on either store.
CREATE TABLE address_book (
    kind text NOT NULL,
    k1 text COLLATE "C" NOT NULL,
    k2 text COLLATE "C" NOT NULL DEFAULT '',
    value bytea NOT NULL,
    PRIMARY KEY (kind, k1, k2)
);
-- Set when the first node brought its data directory's book: after that no node's local book is copied,
-- even into an emptied shared book (which would bring removed API clients back).
CREATE TABLE address_book_seeded (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    by_instance text NOT NULL,
    copied integer NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
"#,
    ),
    (
        3,
        "replay marks kept through a message's deletion",
        r#"
-- What the nodes remember of inbound envelopes against replays (XHE ids, AS4 MessageIds, content keys as keyed
-- hashes), apart from the messages so a deleted message is still recognised; forgotten by age.
CREATE TABLE marks (
    key text PRIMARY KEY,
    message_id text NOT NULL,
    sender text NOT NULL,
    as4_message_id text NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX marks_by_time ON marks (at);
"#,
    ),
];

/// The newest schema version this binary knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Migrated {
    pub schema: String,
    pub from: i32,
    pub to: i32,
}

/// Brings `schema` to the latest version (creating it when needed).
pub async fn migrate(client: &mut Object, schema: &str) -> Result<Migrated, StoreError> {
    client
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
        .await
        .map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('sdk-relay migrate ' || $1))",
        &[&schema],
    )
    .await
    .map_err(db)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(db)?;
    let from = current(&tx).await?;
    if from > latest() {
        return Err(StoreError::Storage(format!(
            "the database schema {schema:?} is at version {from}, newer than this sdk-relay knows ({}); \
             run the newer sdk-relay, or restore the database",
            latest()
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > from) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Storage(format!("migration {version} ({name}): {e}")))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(Migrated {
        schema: schema.to_owned(),
        from,
        to: latest(),
    })
}

/// The version the schema is at (0: never migrated).
pub async fn current(client: &impl deadpool_postgres::GenericClient) -> Result<i32, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(db)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(db)?;
    Ok(row.get(0))
}
