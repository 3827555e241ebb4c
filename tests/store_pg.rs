//! The PostgreSQL store (cargo feature `postgres`) against a real server (`.ci/postgres` starts one; the URL
//! is `SDK_RELAY_TEST_POSTGRES`, by default the local test database): the redb store's life cycle again,
//! migrations, claims shared by two nodes that lapse when one dies, de-duplication across nodes racing on the
//! same messages, large payloads in chunks, and the one audit chain — which `psql` edits must break.
#![cfg(feature = "postgres")]

use std::process::Command;
use std::sync::Arc;

use sdk_relay::audit::{AuditSink, Event, Problem};
use sdk_relay::config::StoreConfig;
use sdk_relay::store::pg::{Instance, PgStore, Seeded, schema};
use sdk_relay::store::{Direction, Filter, Inserted, Kind, NewMessage, Status, Store, StoreError};
use time::{Duration, OffsetDateTime};

fn url() -> String {
    std::env::var("SDK_RELAY_TEST_POSTGRES").unwrap_or_else(|_| {
        "postgresql://sdk_relay_test:sdk_relay_test@127.0.0.1:5432/sdk_relay_test".into()
    })
}

/// A fresh schema of the test database.
fn config() -> StoreConfig {
    StoreConfig {
        kind: "postgres".into(),
        url: Some(url()),
        schema: format!("test_{}", uuid::Uuid::new_v4().simple()),
        pool_size: 4,
        tls: "disable".into(),
        ..StoreConfig::default()
    }
}

fn open(config: &StoreConfig, node: &str) -> PgStore {
    PgStore::open(config, Some(Instance::new(node)), None).unwrap_or_else(|e| {
        panic!(
            "cannot use the test database at {} ({e}); start it with .ci/postgres or set SDK_RELAY_TEST_POSTGRES",
            url()
        )
    })
}

/// Runs SQL in `config`'s schema with psql, as an operator (or an attacker) would.
fn psql(config: &StoreConfig, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(url())
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("SET search_path = {}; {sql}", config.schema))
        .output()
        .expect("psql (Debian's postgresql-client) is needed");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn message(id: &str, direction: Direction) -> NewMessage {
    NewMessage {
        id: id.into(),
        direction,
        conversation_id: format!("conv-{id}"),
        org: "0203:kommun-a.example.se".into(),
        function: Some("socialtjanst".into()),
        peer_org: "0203:region-b.example.se".into(),
        label: "Kallelse till möte".into(),
        kind: Kind::Message,
    }
}

fn kinds_of(store: &PgStore, id: &str) -> Vec<String> {
    store
        .audit_records_of(id)
        .unwrap()
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["kind"].to_string())
        .map(|k| k.trim_matches('"').to_owned())
        .collect()
}

#[test]
fn an_outbound_message_goes_through_its_statuses_with_an_audit_record_for_each() {
    let config = config();
    let store = open(&config, "node-1");
    let now = OffsetDateTime::now_utc();
    store
        .insert_outbound(
            message("m1", Direction::Outbound),
            b"<xhe/>",
            now,
            now + Duration::hours(1),
        )
        .unwrap();
    store
        .insert_outbound(
            message("m2", Direction::Outbound),
            b"<later/>",
            now + Duration::minutes(5),
            now + Duration::hours(1),
        )
        .unwrap();
    assert!(matches!(
        store.insert_outbound(message("m1", Direction::Outbound), b"again", now, now),
        Err(StoreError::Exists(_))
    ));
    let due: Vec<String> = store
        .due(now, 10)
        .unwrap()
        .into_iter()
        .map(|q| q.id)
        .collect();
    assert_eq!(due, vec!["m1"]);
    assert_eq!(store.due(now + Duration::minutes(10), 10).unwrap().len(), 2);

    let m = store
        .reschedule("m1", now + Duration::minutes(1), "AP unreachable".into())
        .unwrap();
    assert_eq!(m.status, Status::ScheduledForResend);
    let queued = store.due(now + Duration::minutes(2), 10).unwrap();
    assert_eq!(queued.iter().find(|q| q.id == "m1").unwrap().attempts, 1);
    store.transition("m1", Status::Submitted, None).unwrap();
    store
        .transition(
            "m1",
            Status::WaitingForReceipt,
            Some("AS4 receipt verified".into()),
        )
        .unwrap();
    assert!(
        store
            .due(now + Duration::hours(2), 10)
            .unwrap()
            .iter()
            .all(|q| q.id != "m1")
    );
    assert!(matches!(
        store.transition("m1", Status::Scheduled, None),
        Err(StoreError::Transition {
            from: Status::WaitingForReceipt,
            ..
        })
    ));
    assert!(matches!(
        store.delete("m1"),
        Err(StoreError::NotFinal { .. })
    ));
    let done = store
        .transition(
            "m1",
            Status::Accepted,
            Some("Meddelandekvittens ACCEPTED".into()),
        )
        .unwrap();
    assert_eq!(
        done.events.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![
            Status::Scheduled,
            Status::ScheduledForResend,
            Status::Submitted,
            Status::WaitingForReceipt,
            Status::Accepted
        ]
    );
    assert_eq!(store.payload("m1").unwrap(), b"<xhe/>");
    assert_eq!(
        kinds_of(&store, "m1"),
        vec![
            "message.scheduled",
            "message.scheduled_for_resend",
            "message.submitted",
            "message.waiting_for_receipt",
            "message.accepted"
        ]
    );
    // The node that made each change is named in its record.
    assert!(store.audit_records_of("m1").unwrap()[0].contains("\"actor\":\"node-1\""));
    store.delete("m1").unwrap();
    assert!(matches!(store.get("m1"), Err(StoreError::NotFound(_))));
    assert_eq!(
        psql(
            &config,
            "SELECT count(*) FROM payload_chunks WHERE id = 'm1'"
        ),
        "0"
    );
    assert_eq!(store.verify_audit().unwrap().problem, None);
    for bad in ["../evil", "a/b", "", ".hidden"] {
        assert!(matches!(
            store.insert_outbound(message(bad, Direction::Outbound), b"x", now, now),
            Err(StoreError::Storage(_))
        ));
    }
}

#[test]
fn inbound_messages_are_stored_once_and_land_in_their_mailbox() {
    let config = config();
    let store = open(&config, "node-1");
    let inbound = |id: &str, as4: &str| {
        store
            .insert_inbound(message(id, Direction::Inbound), b"payload", as4)
            .unwrap()
    };
    assert_eq!(inbound("in1", "as4-1@peer"), Inserted::New);
    assert_eq!(
        inbound("in1-again", "as4-1@peer"),
        Inserted::Duplicate {
            existing: "in1".into()
        }
    );
    assert_eq!(
        inbound("in1", "as4-2@peer"),
        Inserted::Duplicate {
            existing: "in1".into()
        }
    );
    // The refused duplicate left nothing, not even its AS4 id.
    assert_eq!(psql(&config, "SELECT count(*) FROM seen_as4"), "1");
    // An outbound message of the same organisation and address is not in the mailbox.
    let now = OffsetDateTime::now_utc();
    store
        .insert_outbound(
            message("out1", Direction::Outbound),
            b"x",
            now,
            now + Duration::hours(1),
        )
        .unwrap();
    let mailbox = store
        .list(&Filter {
            org: Some("0203:kommun-a.example.se".into()),
            function: Some("socialtjanst".into()),
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(
        mailbox
            .iter()
            .map(|m| (m.message.id.as_str(), m.status))
            .collect::<Vec<_>>(),
        vec![("in1", Status::New)]
    );
    assert_eq!(store.list(&Filter::default()).unwrap().len(), 2);
    drop(store);
    let store = open(&config, "node-1");
    assert_eq!(store.payload("in1").unwrap(), b"payload");
}

#[test]
fn migrations_are_versioned_idempotent_and_a_newer_database_is_refused() {
    let config = config();
    // A reader (the audit CLI) does not migrate: it says what to run, and creates nothing.
    let behind = PgStore::connect(&config, None).err().expect("refused");
    assert!(
        behind.to_string().contains("run `sdk-relay db migrate`"),
        "{behind}"
    );
    assert_eq!(
        psql(
            &config,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        ),
        "0"
    );
    let store = open(&config, "node-1");
    let status = store.status().unwrap();
    assert_eq!(
        (status.version, status.latest_known),
        (schema::latest(), schema::latest())
    );
    drop(store);
    // Opening again applies nothing twice.
    drop(open(&config, "node-1"));
    assert_eq!(
        psql(&config, "SELECT count(*) FROM schema_migrations"),
        schema::MIGRATIONS.len().to_string()
    );
    // A database a newer sdk-relay migrated is not touched.
    psql(
        &config,
        &format!(
            "INSERT INTO schema_migrations (version, name) VALUES ({}, 'from the future')",
            schema::latest() + 1
        ),
    );
    let refused = PgStore::open(&config, None, None).err().expect("refused");
    assert!(
        refused
            .to_string()
            .contains("newer than this sdk-relay knows"),
        "{refused}"
    );
}

#[test]
fn two_nodes_never_claim_the_same_message_and_a_dead_nodes_claims_lapse() {
    let config = config();
    let a = Arc::new(open(&config, "node-a"));
    let b = Arc::new(open(&config, "node-b"));
    let now = OffsetDateTime::now_utc();
    for i in 0..60 {
        a.insert_outbound(
            message(&format!("q{i:02}"), Direction::Outbound),
            b"x",
            now,
            now + Duration::hours(1),
        )
        .unwrap();
    }
    // What `db status` shows: both nodes alive, the queue, the oldest waiting message.
    let status = b.status().unwrap();
    let names: Vec<&str> = status.nodes.iter().map(|n| n.0.as_str()).collect();
    assert_eq!(names, vec!["node-a", "node-b"]);
    assert_eq!((status.queue_due, status.queue_claimed), (60, 0));
    assert!(
        status
            .oldest_waiting
            .is_some_and(|(id, _, _)| id.starts_with('q'))
    );
    // Both claim at once, a few at a time, until nothing is left.
    let claim_all = |store: Arc<PgStore>| {
        std::thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                let batch = store.claim(OffsetDateTime::now_utc(), 5, 0).unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|q| q.id));
            }
        })
    };
    let (ta, tb) = (claim_all(a.clone()), claim_all(b.clone()));
    let (got_a, got_b) = (ta.join().unwrap(), tb.join().unwrap());
    let mut all: Vec<String> = got_a.iter().chain(&got_b).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 60, "every message claimed exactly once");
    assert_eq!(got_a.len() + got_b.len(), 60, "and none twice");
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both nodes got work"
    );
    assert_eq!(b.status().unwrap().queue_claimed, 60);
    // A rescheduled message is free again; a live node's claims are not.
    b.reschedule(&got_a[0], now, "peer busy".into()).unwrap();
    let retaken: Vec<String> = b
        .claim(OffsetDateTime::now_utc(), 100, 0)
        .unwrap()
        .into_iter()
        .map(|q| q.id)
        .collect();
    assert_eq!(retaken, vec![got_a[0].clone()]);
    // Node a dies: once its heartbeat is older than the liveness window, b takes its work.
    drop(a);
    std::thread::sleep(std::time::Duration::from_secs(12));
    let mut taken: Vec<String> = b
        .claim(OffsetDateTime::now_utc(), 100, 0)
        .unwrap()
        .into_iter()
        .map(|q| q.id)
        .collect();
    taken.sort();
    let mut expected: Vec<String> = got_a[1..].to_vec();
    expected.sort();
    assert_eq!(taken, expected);
}

#[test]
fn nodes_racing_to_store_the_same_messages_store_each_once_and_the_chain_verifies() {
    let config = config();
    let stores: Vec<Arc<PgStore>> = (0..2)
        .map(|n| Arc::new(open(&config, &format!("node-{n}"))))
        .collect();
    // Four threads per node, every thread offering the same 40 messages (a peer resending to both nodes).
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = stores[t % 2].clone();
            std::thread::spawn(move || {
                let mut new = 0;
                for i in 0..40 {
                    let id = format!("r{i:02}");
                    let got = store
                        .insert_inbound(
                            message(&id, Direction::Inbound),
                            id.as_bytes(),
                            &format!("{id}@peer"),
                        )
                        .unwrap();
                    if got == Inserted::New {
                        new += 1;
                    }
                }
                new
            })
        })
        .collect();
    let new: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(new, 40);
    assert_eq!(psql(&config, "SELECT count(*) FROM messages"), "40");
    assert_eq!(
        psql(
            &config,
            "SELECT count(*) FROM audit_records WHERE line LIKE '%\"kind\":\"message.new\"%'"
        ),
        "40"
    );
    let report = stores[0].verify_audit().unwrap();
    assert_eq!(report.problem, None);
    // The 40 messages and each node's start.
    assert_eq!(report.records, 42);
}

#[test]
fn a_large_payload_is_stored_in_chunks_and_read_back_whole() {
    let config = config();
    let store = open(&config, "node-1");
    let payload: Vec<u8> = (0..5 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    let now = OffsetDateTime::now_utc();
    store
        .insert_outbound(
            message("big", Direction::Outbound),
            &payload,
            now,
            now + Duration::hours(1),
        )
        .unwrap();
    assert_eq!(
        psql(
            &config,
            "SELECT count(*) FROM payload_chunks WHERE id = 'big'"
        ),
        "6"
    );
    assert_eq!(store.payload("big").unwrap(), payload);
    assert_eq!(
        store.get("big").unwrap().payload_bytes,
        payload.len() as u64
    );
}

#[test]
fn the_audit_chain_finds_a_changed_or_removed_record() {
    let config = config();
    let store = open(&config, "node-1");
    for i in 0..5 {
        store
            .append(Event {
                kind: "operator.note".into(),
                outcome: "ok".into(),
                detail: format!("note {i}"),
                ..Event::default()
            })
            .unwrap();
    }
    assert_eq!(store.verify_audit().unwrap().problem, None);
    // Record 0 is the node's start; note 2 is record 3.
    psql(
        &config,
        "UPDATE audit_records SET line = replace(line, 'note 2', 'note X') WHERE seq = 3",
    );
    assert!(matches!(
        store.verify_audit().unwrap().problem,
        Some(Problem::Changed { seq: 3, .. })
    ));
    psql(
        &config,
        "UPDATE audit_records SET line = replace(line, 'note X', 'note 2') WHERE seq = 3",
    );
    assert_eq!(store.verify_audit().unwrap().problem, None);
    psql(&config, "DELETE FROM audit_records WHERE seq = 4");
    assert!(matches!(
        store.verify_audit().unwrap().problem,
        Some(Problem::Removed { seq: 4 })
    ));
}

#[test]
fn the_database_connection_is_encrypted_unless_disabled_and_an_unknown_ca_is_refused() {
    // Debian's PostgreSQL serves TLS with its snakeoil certificate.
    let plain = config();
    assert_eq!(open(&plain, "node-1").status().unwrap().tls, None);
    let encrypted = StoreConfig {
        tls: "require".into(),
        ..config()
    };
    let tls = open(&encrypted, "node-1").status().unwrap().tls;
    assert!(
        tls.as_deref().is_some_and(|v| v.starts_with("TLSv1.")),
        "{tls:?}"
    );
    // verify-full against a CA that did not issue the server's certificate: no connection at all.
    let dir = tempfile::tempdir().unwrap();
    let stranger = rcgen::CertificateParams::new(vec!["stranger.example".to_owned()])
        .unwrap()
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, stranger.pem()).unwrap();
    let verified = StoreConfig {
        tls: "verify-full".into(),
        ca_file: Some(ca_file),
        ..config()
    };
    let refused = PgStore::open(&verified, None, None).err().expect("refused");
    let said = refused.to_string();
    assert!(
        said.contains("certificate") || said.contains("Certificate"),
        "{said}"
    );
}

/// The address book on the shared database: a node's first start copies its data directory's book there
/// once (a second node's copy is not taken), both nodes then see one book, concurrent adds of one
/// organisation make one, and a functional address added while its organisation is removed is never left
/// without it.
#[test]
fn the_address_book_is_seeded_once_and_stays_one_book_under_concurrent_changes() {
    use sdk_relay::directory::addressbook::{AddressBook, AddressBookError, FunctionalAddress};

    let local_dir = tempfile::tempdir().unwrap();
    let local = AddressBook::open(local_dir.path()).unwrap();
    local
        .add_organisation("0203:kommun-a.se", "Kommun A", None)
        .unwrap();
    let function = |org: &str, id: &str| FunctionalAddress {
        org: org.into(),
        id: id.into(),
        name: id.into(),
        description: None,
        active: true,
        document_types: vec![],
    };
    local
        .add_function(function("0203:kommun-a.se", "socialtjanst"))
        .unwrap();
    let (_, token) = local.add_client("system", "0203:kommun-a.se", &[]).unwrap();
    let seed = local.all_rows().unwrap();
    assert_eq!(seed.len(), 3);

    let config = config();
    let (one, two) = (
        Arc::new(open(&config, "b-1")),
        Arc::new(open(&config, "b-2")),
    );
    let books = [
        Arc::new(AddressBook::with_rows(one.clone())),
        Arc::new(AddressBook::with_rows(two.clone())),
    ];
    // Added through the CLI before the first node got as far as bringing its book: kept, and merged with it.
    books[0]
        .add_organisation("0203:tidig.se", "Tidig", None)
        .unwrap();
    assert_eq!(
        one.seed_address_book(&seed, "a/node.redb").unwrap(),
        Seeded::Now { copied: 3 }
    );
    assert_eq!(books[1].all_rows().unwrap().len(), 4);
    // The second node brings a book of its own: one node brought its book already, so it is not taken.
    let other_dir = tempfile::tempdir().unwrap();
    let other = AddressBook::open(other_dir.path()).unwrap();
    other
        .add_organisation("0203:annan.se", "Annan", None)
        .unwrap();
    let other_rows = other.all_rows().unwrap();
    match two.seed_address_book(&other_rows, "b/node.redb").unwrap() {
        Seeded::Before { by } => assert!(by.starts_with("b-1/"), "{by}"),
        now => panic!("seeded twice: {now:?}"),
    }
    assert!(books[1].organisation("0203:annan.se").is_err());
    assert_eq!(
        psql(
            &config,
            "SELECT count(*) FROM audit_records WHERE line LIKE '%\"addressbook.shared\"%'"
        ),
        "1"
    );
    let client = books[1].authenticate(&token).unwrap();
    assert_eq!(client.map(|c| c.org), Some("0203:kommun-a.se".to_owned()));
    assert_eq!(
        books[1].functions(Some("0203:kommun-a.se")).unwrap().len(),
        1
    );

    // Eight threads on two nodes add the same organisation: one succeeds.
    let added: Vec<bool> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let book = books[i % 2].clone();
                s.spawn(move || {
                    match book.add_organisation("0203:race.se", &format!("Racer {i}"), None) {
                        Ok(_) => true,
                        Err(AddressBookError::Exists(_)) => false,
                        Err(e) => panic!("racer {i}: {e}"),
                    }
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(added.iter().filter(|a| **a).count(), 1, "{added:?}");

    // Functional addresses are added through one node, until it is refused, while the other removes their
    // organisation once a few are in.
    let added = std::sync::atomic::AtomicUsize::new(0);
    let (removed, refused) = std::thread::scope(|s| {
        let (adder, added) = (books[0].clone(), &added);
        let adding = s.spawn(move || {
            for n in 0..10_000 {
                match adder.add_function(function("0203:race.se", &format!("f{n}"))) {
                    Ok(_) => added.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                    Err(AddressBookError::NotFound(_)) => return true,
                    Err(e) => panic!("f{n}: {e}"),
                };
            }
            false
        });
        while added.load(std::sync::atomic::Ordering::SeqCst) < 5 && !adding.is_finished() {
            std::thread::yield_now();
        }
        let removed = books[1].remove_organisation("0203:race.se").unwrap();
        (removed, adding.join().unwrap())
    });
    assert!(
        refused,
        "adding under a removed organisation must be refused"
    );
    assert_eq!(
        removed,
        added.into_inner(),
        "the removal takes every functional address added before it"
    );
    assert!(books[0].organisation("0203:race.se").is_err());
    let orphans = books[0].functions(Some("0203:race.se")).unwrap();
    assert!(
        orphans.is_empty(),
        "{} functional addresses without their organisation",
        orphans.len()
    );
    assert_eq!(
        psql(
            &config,
            "SELECT count(*) FROM address_book WHERE k1 = '0203:race.se'"
        ),
        "0"
    );

    // Emptied, the shared book stays empty at the next start: a removed client does not come back.
    for org in ["0203:kommun-a.se", "0203:tidig.se"] {
        books[0].remove_organisation(org).unwrap();
    }
    for client in books[0].clients().unwrap() {
        books[0].remove_client(&client.id).unwrap();
    }
    assert!(books[0].all_rows().unwrap().is_empty());
    assert!(matches!(
        one.seed_address_book(&seed, "a/node.redb").unwrap(),
        Seeded::Before { .. }
    ));
    assert_eq!(books[1].authenticate(&token).unwrap(), None);
}

#[path = "common/marks.rs"]
mod marks;

#[test]
fn replay_marks_outlive_the_message_and_are_forgotten_by_age() {
    let config = config();
    let store = open(&config, "a");
    marks::marks_outlive_the_message_and_are_forgotten_by_age(&store, "pg");
    // Another node of the same database sees them.
    let other = open(&config, "b");
    let keys = sdk_relay::store::id_mark_keys("marked-pg", "as4-pg@peer");
    assert!(other.marks(&keys).unwrap().iter().all(Option::is_some));
}
