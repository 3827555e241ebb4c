//! Bad input to the organisation API: each gets a precise 4xx problem+json naming what is wrong, is written
//! to the audit log, and leaves nothing stored.

mod common;

use common::node::{World, audit_text, message_to};
use common::pki::relay_ok;
use serde_json::{Value, json};

fn problem(a: &sdk_relay::pki::https::Answer) -> Value {
    assert_eq!(
        a.content_type,
        "application/problem+json",
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    serde_json::from_slice(&a.body).unwrap()
}

fn pointers(p: &Value) -> Vec<String> {
    p["eventIssues"]
        .as_array()
        .map(|issues| {
            issues
                .iter()
                .map(|i| i["in"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn bad_requests_get_precise_problems_and_store_nothing() {
    let world = World::new();
    let mut a = world.node_with(
        "kommun-a",
        "AP0001-SDK-TEST",
        "0203:kommun-a.example.se",
        &["registrator", "hr"],
        |c| {
            c.push_str("\n[limits]\napi_message_bytes = 65536\nas4_message_bytes = 167772160\n");
        },
    );
    let b = world.node(
        "region-b",
        "AP0002-SDK-TEST",
        "0203:region-b.example.se",
        &["socialtjanst"],
    );
    // A second client, only for A's "hr" address.
    let made: Value = serde_json::from_str(&relay_ok(
        &a.data,
        &[
            "clients",
            "add",
            "--org",
            &a.org,
            "--function",
            "hr",
            "--json",
        ],
    ))
    .unwrap();
    let hr_token = made["token"].as_str().unwrap().to_owned();
    a.start();
    let rt = &world.rt;
    let good = message_to(&a, &b, "Hej", "text");

    // Wrong JSON types: 400, each field named.
    let mut wrong = good.clone();
    wrong["data"]["attributes"]["label"] = json!(42);
    wrong["data"]["attributes"]["confidentiality"] = json!("yes");
    let answer = a.post(rt, &wrong);
    assert_eq!(answer.status, 400);
    let p = problem(&answer);
    let mut found = pointers(&p);
    found.sort();
    assert_eq!(
        found,
        ["/data/attributes/confidentiality", "/data/attributes/label"],
        "{p:#}"
    );

    // Not JSON at all.
    let answer = a.call(rt, "POST", "/v1/sdk/messages", Some(b"{\"data\": "));
    assert_eq!(answer.status, 400);
    assert_eq!(pointers(&problem(&answer)), [""]);

    // An unknown recipient: 400 naming the recipient.
    let mut unknown = good.clone();
    unknown["data"]["attributes"]["recipient"] = json!("0203:nobody.example.se");
    let answer = a.post(rt, &unknown);
    assert_eq!(answer.status, 400);
    let p = problem(&answer);
    assert_eq!(pointers(&p), ["/data/attributes/recipient"], "{p:#}");
    assert!(
        p["detail"].as_str().unwrap().contains("not registered"),
        "{p:#}"
    );

    // A functional address the client does not own: 403.
    let answer = a.call_as(
        rt,
        &hr_token,
        "POST",
        "/v1/sdk/messages",
        Some(&serde_json::to_vec(&good).unwrap()),
    );
    assert_eq!(answer.status, 403);
    assert!(
        problem(&answer)["detail"]
            .as_str()
            .unwrap()
            .contains("registrator")
    );

    // The same client leaving senderAttention out, which sent as the whole organisation before: 400, named.
    let mut unnamed = good.clone();
    unnamed["data"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("senderAttention");
    let answer = a.call_as(
        rt,
        &hr_token,
        "POST",
        "/v1/sdk/messages",
        Some(&serde_json::to_vec(&unnamed).unwrap()),
    );
    assert_eq!(answer.status, 400);
    let p = problem(&answer);
    assert_eq!(
        pointers(&p),
        ["/data/attributes/senderAttention/subOrganization/extension"],
        "{p:#}"
    );
    assert!(p["detail"].as_str().unwrap().contains("hr"), "{p:#}");

    // Another organisation as the sender: 403.
    let mut other = good.clone();
    other["data"]["attributes"]["sender"] = json!(b.org);
    assert_eq!(a.post(rt, &other).status, 403);

    // Too large: 413.
    let mut large = good.clone();
    large["data"]["attributes"]["digitalDocument"][0]["contentTextBody"] =
        json!(["x".repeat(70_000)]);
    let answer = a.post(rt, &large);
    assert_eq!(answer.status, 413);
    assert_eq!(problem(&answer)["status"], 413);

    // No token, and a wrong one: 401.
    assert_eq!(
        a.call_as(rt, "", "GET", "/v1/sdk/messages", None).status,
        401
    );
    assert_eq!(
        a.call_as(rt, "sdkr_not-a-token", "GET", "/v1/sdk/messages", None)
            .status,
        401
    );
    // Someone else's message does not exist for this client.
    assert_eq!(
        a.call(
            rt,
            "GET",
            "/v1/sdk/messages/00000000-0000-4000-8000-000000000000",
            None
        )
        .status,
        404
    );
    // An unknown filter is named.
    let answer = a.call(rt, "GET", "/v1/sdk/messages?filter[colour]=red", None);
    assert_eq!(answer.status, 400);
    assert_eq!(pointers(&problem(&answer)), ["filter[colour]"]);

    // Nothing was stored: no message, no queue entry, no payload file.
    assert!(a.list(rt, "").is_empty());
    let queue: Value = serde_json::from_slice(&a.call(rt, "GET", "/v1/queue", None).body).unwrap();
    assert_eq!(queue["data"], json!([]));
    assert_eq!(common::stored::payloads(&a.data), 0);
    assert!(a.stop());
    let log = audit_text(&a);
    assert!(log.matches("api.refused").count() >= 7, "{log}");
}

#[test]
fn a_client_with_a_tls_certificate_needs_no_token_and_a_stranger_certificate_is_refused() {
    use sdk_relay::pki::Purpose;
    use sdk_relay::pki::https::{self, Call};
    let world = World::new();
    let (mut a, _b) = world.pair();
    let tls_subject = sdk_relay::pki::profile::Subject {
        dns_names: vec![],
        ..common::pki::subject("arendesystem.kommun-a.example.se")
    };
    let (key, chain) = world
        .fed
        .issue(Purpose::Tls, &tls_subject, &common::pki::fast())
        .unwrap();
    let pem = a.root.join("client.pem");
    std::fs::write(&pem, sdk_relay::pki::cert::to_pem(&chain[..1])).unwrap();
    relay_ok(
        &a.data,
        &[
            "clients",
            "add",
            "--org",
            &a.org,
            "--cert",
            pem.to_str().unwrap(),
        ],
    );
    a.start();
    let roots = common::node::tls_ca(&world.fed);
    let with_identity = |chain: Vec<rustls_pki_types::CertificateDer<'static>>,
                         key: &rcgen::KeyPair| {
        let mut store = rustls::RootCertStore::empty();
        for r in &roots {
            store.add(r.clone()).unwrap();
        }
        let der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        std::sync::Arc::new(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                sdk_relay::pki::tls::provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store)
            .with_client_auth_cert(chain, der)
            .unwrap(),
        )
    };
    let list = |config| {
        world.rt.block_on(https::send(
            config,
            Call {
                method: "GET",
                url: &format!("{}/v1/sdk/messages", a.api_url()),
                headers: vec![],
                body: Default::default(),
            },
            std::time::Duration::from_secs(30),
            1 << 20,
        ))
    };
    // The registered certificate is a client: no token needed.
    let answer = list(with_identity(chain.clone(), &key)).unwrap();
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    // A valid certificate of the federation that is not registered: 401.
    let (other_key, other_chain) = world
        .fed
        .issue(Purpose::Tls, &tls_subject, &common::pki::fast())
        .unwrap();
    assert_eq!(
        list(with_identity(other_chain, &other_key)).unwrap().status,
        401
    );
    // A certificate from another federation does not even get through the handshake.
    let stranger = common::pki::federation(&world.dir.path().join("stranger"), "node-test");
    let (s_key, s_chain) = stranger
        .issue(Purpose::Tls, &tls_subject, &common::pki::fast())
        .unwrap();
    let refused = list(with_identity(s_chain, &s_key));
    assert!(
        refused.is_err(),
        "a stranger's certificate was let in: {:?}",
        refused.map(|a| a.status)
    );
    assert!(a.stop());
}
