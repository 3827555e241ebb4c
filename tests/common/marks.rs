//! The replay marks' contract, asked of either store (`#[path]`-included by tests/store.rs and
//! tests/store_pg.rs): a stored inbound message leaves marks of its XHE id and AS4 MessageId that outlive
//! its deletion, a mark is never overwritten, and old marks are forgotten by age.

use sdk_relay::store::{Direction, Inserted, Kind, Mark, NewMessage, Store, id_mark_keys};
use time::{Duration, OffsetDateTime};

pub fn marks_outlive_the_message_and_are_forgotten_by_age(store: &dyn Store, tag: &str) {
    let id = format!("marked-{tag}");
    let as4 = format!("as4-{tag}@peer");
    let message = NewMessage {
        id: id.clone(),
        direction: Direction::Inbound,
        conversation_id: format!("conv-{id}"),
        org: "0203:kommun-a.example.se".into(),
        function: Some("socialtjanst".into()),
        peer_org: "0203:region-b.example.se".into(),
        label: "Kallelse".into(),
        kind: Kind::Message,
    };
    assert_eq!(
        store.insert_inbound(message, b"payload", &as4).unwrap(),
        Inserted::New
    );
    let keys = id_mark_keys(&id, &as4).to_vec();
    let seen = |store: &dyn Store| store.marks(&keys).unwrap();
    for mark in seen(store) {
        let mark = mark.expect("both ids are marked");
        assert_eq!(mark.message_id, id);
        assert_eq!(mark.sender, "0203:region-b.example.se");
        assert_eq!(mark.as4_message_id, as4);
    }
    store.delete(&id).unwrap();
    assert!(
        seen(store).iter().all(Option::is_some),
        "deleting the message keeps its marks"
    );

    // A key is marked once; the second asker is told who was first.
    let key = format!("wrapped:{tag}");
    let first = Mark {
        message_id: "one".into(),
        sender: "0203:x.example.se".into(),
        as4_message_id: "a1".into(),
        at: OffsetDateTime::now_utc() - Duration::days(30),
    };
    let second = Mark {
        message_id: "two".into(),
        at: OffsetDateTime::now_utc(),
        ..first.clone()
    };
    assert_eq!(
        store.mark(&[(key.clone(), first.clone())]).unwrap(),
        vec![None]
    );
    let earlier = store.mark(&[(key.clone(), second)]).unwrap();
    assert_eq!(
        earlier[0].as_ref().map(|m| m.message_id.as_str()),
        Some("one")
    );

    // Forgetting by age: the 30-day-old mark goes, the fresh id marks stay.
    let forgotten = store
        .forget_marks(OffsetDateTime::now_utc() - Duration::days(8))
        .unwrap();
    assert!(forgotten >= 1, "{forgotten}");
    assert_eq!(store.marks(std::slice::from_ref(&key)).unwrap(), vec![None]);
    assert!(seen(store).iter().all(Option::is_some));
}
