//! `POST /v1/xhe` relays a sealed envelope only when it is signed with the node's own active O2O signing
//! certificate and the client may send as its organisation with every functional address (the sender's
//! functional address is inside the encrypted payload, out of the node's sight). A refusal stores nothing.

mod common;

use std::time::Duration;

use common::node::{Node, World, audit_text, created_id, key_of, sealed_xhe, sealed_xhe_signed_by};
use sdk_relay::pki::Purpose;
use sdk_relay::pki::https::Answer;
use sdk_relay::xmlsec::SigningKey;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn post_xhe(world: &World, node: &Node, token: &str, xhe: &[u8]) -> Answer {
    node.call_as(&world.rt, token, "POST", "/v1/xhe", Some(xhe))
}

/// The RFC 7807 problem in a refusal with `status`.
fn problem(a: &Answer, status: u16) -> Value {
    let body = String::from_utf8_lossy(&a.body);
    assert_eq!(a.status, status, "{body}");
    assert!(
        a.content_type.starts_with("application/problem+json"),
        "{}: {body}",
        a.content_type
    );
    let p: Value = serde_json::from_slice(&a.body).expect("a JSON problem");
    assert_eq!(p["status"], status, "{p:#}");
    p
}

fn detail(p: &Value) -> String {
    p["detail"].as_str().unwrap_or_default().to_owned()
}

/// The node stored nothing: no message in the list, nothing in the queue, and `id` is unknown.
fn nothing_stored(world: &World, node: &Node, id: &str) {
    assert!(
        node.list(&world.rt, "").is_empty(),
        "{:?}",
        node.list(&world.rt, "")
    );
    let queue = node.call(&world.rt, "GET", "/v1/queue", None);
    assert_eq!(queue.status, 200);
    let queue: Value = serde_json::from_slice(&queue.body).unwrap();
    assert_eq!(queue["data"].as_array().map(Vec::len), Some(0), "{queue:#}");
    let one = node.call(&world.rt, "GET", &format!("/v1/sdk/messages/{id}"), None);
    assert_eq!(one.status, 404, "{}", String::from_utf8_lossy(&one.body));
}

/// A client of `node`'s organisation limited to `function`; returns its token.
fn client_for_function(world: &World, node: &Node, function: &str) -> String {
    let made = world
        .lab
        .run(
            &node.data,
            &[
                "clients",
                "add",
                "--org",
                &node.org,
                "--function",
                function,
                "--name",
                function,
                "--json",
            ],
        )
        .expect("clients add");
    serde_json::from_str::<Value>(&made).unwrap()["token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

#[test]
fn an_envelope_signed_with_any_other_key_is_refused_and_nothing_is_stored() {
    let world = World::new();
    let (mut a, b) = world.pair();
    a.start();
    let own = format!("not with {}'s active O2O signing certificate", a.org);

    // Another organisation's O2O signing key: trusted in the federation, but not A's.
    let (pair, cert) = key_of(&b, Purpose::O2oSign);
    let others = SigningKey::new(&pair, cert).unwrap();
    let (id, xhe) = sealed_xhe_signed_by(&a, &b, &others, |x| x);
    let p = problem(&post_xhe(&world, &a, &a.token, &xhe), 403);
    assert!(
        detail(&p).contains(&own) && detail(&p).contains("region-b"),
        "{p:#}"
    );
    nothing_stored(&world, &a, &id);

    // A federation certificate made out to A's own name, but not the one A's node holds.
    let (key, chain) = world
        .fed
        .issue(
            Purpose::O2oSign,
            &common::pki::subject("kommun-a"),
            &common::pki::fast(),
        )
        .unwrap();
    let lookalike = SigningKey::new(&key, chain[0].clone()).unwrap();
    let (id, xhe) = sealed_xhe_signed_by(&a, &b, &lookalike, |x| x);
    let p = problem(&post_xhe(&world, &a, &a.token, &xhe), 403);
    assert!(detail(&p).contains(&own), "{p:#}");
    nothing_stored(&world, &a, &id);

    // A signer from a federation the node does not trust: refused on the chain, before the pin.
    let elsewhere = tempfile::tempdir().unwrap();
    let foreign = common::pki::federation(elsewhere.path(), "elsewhere");
    let (key, chain) = foreign
        .issue(
            Purpose::O2oSign,
            &common::pki::subject("kommun-a"),
            &common::pki::fast(),
        )
        .unwrap();
    let stranger = SigningKey::new(&key, chain[0].clone()).unwrap();
    let (id, xhe) = sealed_xhe_signed_by(&a, &b, &stranger, |x| x);
    let p = problem(&post_xhe(&world, &a, &a.token, &xhe), 403);
    assert!(
        detail(&p).contains("not an acceptable O2O signer")
            && detail(&p).contains("must be signed with"),
        "{p:#}"
    );
    nothing_stored(&world, &a, &id);

    // A's own key on an envelope from another organisation: the client acts only for A.
    let (pair, cert) = key_of(&a, Purpose::O2oSign);
    let a_key = SigningKey::new(&pair, cert).unwrap();
    let (id, xhe) = sealed_xhe_signed_by(&b, &a, &a_key, |x| x);
    let p = problem(&post_xhe(&world, &a, &a.token, &xhe), 403);
    assert!(detail(&p).contains("not for sender 0203:region-b"), "{p:#}");
    nothing_stored(&world, &a, &id);

    assert!(a.stop());
    let log = audit_text(&a);
    assert!(
        log.matches("api.refused").count() >= 4 && !log.contains("api.message.submitted"),
        "{log}"
    );
}

#[test]
fn only_a_client_for_every_functional_address_may_hand_over_a_sealed_envelope() {
    let world = World::new();
    let mut a = world.node(
        "kommun-a",
        "AP0001-SDK-TEST",
        "0203:kommun-a.example.se",
        &["registrator", "ekonomi"],
    );
    let mut b = world.node(
        "region-b",
        "AP0002-SDK-TEST",
        "0203:region-b.example.se",
        &["socialtjanst"],
    );
    let ekonomi = client_for_function(&world, &a, "ekonomi");
    let registrator = client_for_function(&world, &a, "registrator");
    a.start();
    b.start();
    // Correctly signed with A's key, sent from A's first functional address, registrator.
    let (id, xhe) = sealed_xhe(&a, &b, |x| x);
    assert!(
        String::from_utf8_lossy(&xhe).contains("HandlingServiceID>socialtjanst<"),
        "HandlingServiceID is B's functional address, not A's"
    );

    // Granted another functional address than the one the envelope is sent from.
    let p = problem(&post_xhe(&world, &a, &ekonomi, &xhe), 403);
    assert!(
        detail(&p).contains("may send only from the functional address(es) ekonomi"),
        "{p:#}"
    );
    nothing_stored(&world, &a, &id);

    // Granted the very one: still refused, because the node cannot see which one the encrypted payload names.
    let p = problem(&post_xhe(&world, &a, &registrator, &xhe), 403);
    assert!(detail(&p).contains("inside its encrypted payload"), "{p:#}");
    nothing_stored(&world, &a, &id);

    // The organisation's client (granted every functional address) is relayed, and B takes it.
    let created = post_xhe(&world, &a, &a.token, &xhe);
    assert_eq!(created_id(&created), id);
    let listed = a.list(&world.rt, "");
    assert!(
        listed.len() == 1 && listed[0]["id"] == id.as_str(),
        "{listed:?}"
    );
    a.wait_status(&world.rt, &id, "ACCEPTED", WAIT);
    assert_eq!(b.status(&world.rt, &id), "NEW");
    // The same envelope again is a duplicate, not a second message.
    let again = problem(&post_xhe(&world, &a, &a.token, &xhe), 400);
    assert!(detail(&again).contains("already exists"), "{again:#}");
    assert!(a.stop() && b.stop());
}
