//! The node's store: message life cycles with their audit records, the queue in due order, de-duplication
//! of inbound messages, mailboxes, and refusals that leave nothing behind.

use std::sync::Arc;

use sdk_relay::audit::{AuditLog, Options, verify};
use sdk_relay::store::{
    Direction, Filter, Inserted, Kind, NewMessage, RedbStore, Status, Store, StoreError,
};
use time::{Duration, OffsetDateTime};

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

fn open(dir: &std::path::Path) -> RedbStore {
    let audit = Arc::new(AuditLog::open(dir, Options::default(), None).unwrap());
    RedbStore::open(dir, audit).unwrap()
}

#[test]
fn an_outbound_message_goes_through_its_statuses_with_an_audit_record_for_each() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
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
    // Only what is due, in due order.
    assert_eq!(
        store
            .due(now, 10)
            .unwrap()
            .iter()
            .map(|q| q.id.as_str())
            .collect::<Vec<_>>(),
        vec!["m1"]
    );
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
            .all(|q| q.id != "m1"),
        "left the queue"
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

    // Every change has its audit record, in order, and the log verifies.
    let report = verify(dir.path()).unwrap();
    assert_eq!(report.problem, None);
    let audit = sdk_relay::audit::AuditIndex::open(dir.path()).unwrap();
    let kinds: Vec<String> = audit
        .records_of(Some("m1"), None)
        .unwrap()
        .into_iter()
        .map(|r| r.event.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            "message.scheduled",
            "message.scheduled_for_resend",
            "message.submitted",
            "message.waiting_for_receipt",
            "message.accepted"
        ]
    );
    store.delete("m1").unwrap();
    assert!(matches!(store.get("m1"), Err(StoreError::NotFound(_))));
    assert!(!dir.path().join("payloads/m1").exists());
}

#[test]
fn inbound_messages_are_stored_once_and_land_in_their_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(
        store
            .insert_inbound(message("in1", Direction::Inbound), b"payload", "as4-1@peer")
            .unwrap(),
        Inserted::New
    );
    // The same AS4 message again (a lost receipt), or the same SDK message in a new AS4 message.
    assert_eq!(
        store
            .insert_inbound(
                message("in1-again", Direction::Inbound),
                b"payload",
                "as4-1@peer"
            )
            .unwrap(),
        Inserted::Duplicate {
            existing: "in1".into()
        }
    );
    assert_eq!(
        store
            .insert_inbound(message("in1", Direction::Inbound), b"payload", "as4-2@peer")
            .unwrap(),
        Inserted::Duplicate {
            existing: "in1".into()
        }
    );
    let mailbox = store
        .list(&Filter {
            org: Some("0203:kommun-a.example.se".into()),
            function: Some("socialtjanst".into()),
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(mailbox.len(), 1);
    assert_eq!(mailbox[0].status, Status::New);
    assert!(
        !dir.path().join("payloads/in1-again").exists(),
        "a duplicate leaves nothing behind"
    );
    // Reopened (a restart), everything is still there.
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.payload("in1").unwrap(), b"payload");
    assert_eq!(verify(dir.path()).unwrap().problem, None);
}

#[test]
fn ids_that_could_escape_the_payload_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let now = OffsetDateTime::now_utc();
    for id in ["../evil", "a/b", "", ".hidden"] {
        assert!(matches!(
            store.insert_outbound(message(id, Direction::Outbound), b"x", now, now),
            Err(StoreError::Storage(_))
        ));
    }
    assert!(store.list(&Filter::default()).unwrap().is_empty());
}

#[path = "common/marks.rs"]
mod marks;

#[test]
fn replay_marks_outlive_the_message_and_are_forgotten_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    marks::marks_outlive_the_message_and_are_forgotten_by_age(&store, "redb");
    // Reopened, the marks are still there (a durable commit carried them).
    drop(store);
    let store = open(dir.path());
    let keys = sdk_relay::store::id_mark_keys("marked-redb", "as4-redb@peer");
    assert!(store.marks(&keys).unwrap().iter().all(Option::is_some));
}

#[test]
fn payloads_are_readable_by_the_node_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A payload directory made by an earlier version, open to everyone.
    std::fs::create_dir_all(dir.path().join("payloads")).unwrap();
    std::fs::set_permissions(
        dir.path().join("payloads"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let store = open(dir.path());
    store
        .insert_inbound(
            message("in-private", Direction::Inbound),
            b"secret",
            "as4-p@peer",
        )
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("payloads")), 0o700);
    assert_eq!(mode(&dir.path().join("payloads/in-private")), 0o600);
}

#[test]
fn the_data_directory_the_database_and_the_audit_log_are_the_nodes_alone() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    // An audit directory and a database made by an earlier version, open to everyone.
    std::fs::create_dir_all(data.join("audit")).unwrap();
    for dir in [&data, &data.join("audit")] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(data.join("node.redb"), b"").unwrap();
    std::fs::set_permissions(
        data.join("node.redb"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let store = open(&data);
    store
        .insert_outbound(
            message("m-private", Direction::Outbound),
            b"secret",
            OffsetDateTime::now_utc(),
            OffsetDateTime::now_utc() + time::Duration::hours(1),
        )
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("audit")), 0o700);
    assert_eq!(mode(&data.join("node.redb")), 0o600);
    let segments: Vec<_> = std::fs::read_dir(data.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl" || x == "log"))
        .collect();
    assert!(!segments.is_empty(), "an audit segment was written");
    for segment in segments {
        assert_eq!(mode(&segment), 0o600, "{}", segment.display());
    }
}
