//! Crash safety with real processes: while 1 000 messages flow from A to B, both nodes are killed with
//! SIGKILL at random moments and restarted. At the end every message that got a 201 is in B's mailbox
//! exactly once and has a final status at A, and both audit logs verify.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::node::{World, message_to};
use common::pki::relay;
use sdk_relay::pki::https::{self, Call};

const MESSAGES: usize = 1000;
const SENDERS: usize = 4;

/// One POST that may meet a dead node: `Some(id)` only for a 201.
fn try_post(
    world: &World,
    api: &str,
    token: &str,
    body: &[u8],
    client_config: &Arc<rustls::ClientConfig>,
) -> Option<String> {
    let url = format!("{api}/v1/sdk/messages");
    let answer = world.rt.block_on(https::send(
        client_config.clone(),
        Call {
            method: "POST",
            url: &url,
            headers: vec![
                ("authorization", format!("Bearer {token}")),
                ("content-type", "application/json".into()),
            ],
            body: Bytes::from(body.to_vec()),
        },
        Duration::from_secs(30),
        1024 * 1024,
    ));
    let answer = answer.ok()?;
    (answer.status == 201).then(|| {
        answer
            .location
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    })
}

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    u64::from_le_bytes(b) % n
}

#[test]
fn sigkill_under_load_loses_nothing_and_delivers_nothing_twice() {
    let world = Arc::new(World::new());
    let a = Arc::new(Mutex::new(world.node(
        "kommun-a",
        "AP0001-SDK-TEST",
        "0203:kommun-a.example.se",
        &["registrator"],
    )));
    let b = Arc::new(Mutex::new(world.node(
        "region-b",
        "AP0002-SDK-TEST",
        "0203:region-b.example.se",
        &["socialtjanst"],
    )));
    a.lock().unwrap().start();
    b.lock().unwrap().start();
    let client_config = world.api_client_config();
    let (api_url, token, body) = {
        let (a, b) = (a.lock().unwrap(), b.lock().unwrap());
        (
            a.api_url(),
            a.token.clone(),
            serde_json::to_vec(&message_to(&a, &b, "Crash", "Överlever allt")).unwrap(),
        )
    };
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let sending = Arc::new(AtomicBool::new(true));

    // The killer: SIGKILL A, B or both at random moments, restart after a random pause.
    let killer = {
        let (a, b, sending) = (a.clone(), b.clone(), sending.clone());
        std::thread::spawn(move || {
            let mut kills = (0, 0);
            while sending.load(Ordering::SeqCst) || kills.0 < 5 || kills.1 < 5 {
                std::thread::sleep(Duration::from_millis(700 + random_below(1500)));
                let which = random_below(3);
                if which != 1 {
                    a.lock().unwrap().kill();
                    kills.0 += 1;
                }
                if which != 0 {
                    b.lock().unwrap().kill();
                    kills.1 += 1;
                }
                std::thread::sleep(Duration::from_millis(random_below(400)));
                if which != 1 {
                    a.lock().unwrap().start();
                }
                if which != 0 {
                    b.lock().unwrap().start();
                }
            }
            kills
        })
    };
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (world, accepted, body, config) = (
                world.clone(),
                accepted.clone(),
                body.clone(),
                client_config.clone(),
            );
            let (api_url, token) = (api_url.clone(), token.clone());
            std::thread::spawn(move || {
                loop {
                    if accepted.lock().unwrap().len() >= MESSAGES {
                        break;
                    }
                    match try_post(&world, &api_url, &token, &body, &config) {
                        Some(id) => accepted.lock().unwrap().push(id),
                        None => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    sending.store(false, Ordering::SeqCst);
    let kills = killer.join().unwrap();
    let accepted: Vec<String> = accepted.lock().unwrap().clone();
    let unique: HashSet<&String> = accepted.iter().collect();
    assert_eq!(unique.len(), accepted.len(), "an id was given out twice");

    // Let the queues drain, then count.
    let (a, b) = (a.lock().unwrap(), b.lock().unwrap());
    let start = Instant::now();
    let finals = ["ACCEPTED", "REJECTED", "MESSAGE_EXCHANGE_ERROR"];
    let statuses = loop {
        let listed = a.list(&world.rt, "filter[direction]=outbound");
        let statuses: HashMap<String, String> = listed
            .iter()
            .map(|m| {
                (
                    m["id"].as_str().unwrap().to_owned(),
                    m["attributes"]["messageStatus"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect();
        let open = accepted
            .iter()
            .filter(|id| {
                !statuses
                    .get(*id)
                    .is_some_and(|s| finals.contains(&s.as_str()))
            })
            .count();
        if open == 0 {
            break statuses;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{open} messages still not final at A"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let inbox = b.list(&world.rt, "filter[direction]=inbound");
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in &inbox {
        *seen
            .entry(m["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for id in &accepted {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "{id} is in B's mailbox {:?} times",
            seen.get(id)
        );
        assert_eq!(statuses[id], "ACCEPTED", "{id}");
    }
    println!(
        "crash test: {} messages with a 201, kills A {} B {}, B's mailbox {} messages, all ACCEPTED at A",
        accepted.len(),
        kills.0,
        kills.1,
        inbox.len()
    );
    let (mut a, mut b) = (a, b);
    assert!(a.stop(), "{}", a.log());
    assert!(b.stop(), "{}", b.log());
    for node in [&*a, &*b] {
        let out = relay(&node.data, &["audit", "verify"]);
        assert!(
            out.status.success(),
            "{}: {}{}",
            node.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
