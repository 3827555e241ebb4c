//! A peer that stops answering holds only its own share of outbound delivery (issue 18, item 6). Two ways to
//! stop answering, each with 200 messages queued to it before one to another, real peer: an access point that
//! accepts connections and never says a word (a tarpit), and an SMP that never answers the lookups for one
//! receiver. Either way the message to the other peer still goes out at once, the stuck messages stay
//! pending, and the silent party never holds more than its share of connections.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::node::{MESSAGE_DOC, Node, World, created_id, message_to};

/// Messages queued to the silent party before the one to the real peer.
const STUCK_MESSAGES: usize = 200;
/// The lab's `[retry] per_peer`: the most a silent access point may hold at once.
const PER_PEER: usize = 4;
/// A delivery between two loopback nodes takes well under a second; this is the generous bound.
const ON_TIME: Duration = Duration::from_secs(20);

/// Connections a silent party holds now, and the most it held at once.
#[derive(Clone, Default)]
struct Holding {
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Holding {
    /// Counts `stream` as held until its client gives up and closes it; reads whatever it sends, answers
    /// nothing.
    fn hold(&self, mut stream: TcpStream) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let count = self.now.clone();
        std::thread::spawn(move || {
            let mut sink = [0u8; 4096];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            count.fetch_sub(1, Ordering::SeqCst);
        });
    }

    fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    /// Waits until `at_least` connections are held.
    fn wait_for(&self, at_least: usize, node: &Node) {
        let start = Instant::now();
        while self.now() < at_least {
            assert!(
                start.elapsed() < ON_TIME,
                "{} connection(s) held, not {at_least}\n{}",
                self.now(),
                node.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A loopback listener that accepts every connection and answers nothing: `https://…/as4` to the sender.
fn tarpit() -> (String, Holding) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    let holding = Holding::default();
    let held = holding.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            held.hold(stream);
        }
    });
    (format!("https://127.0.0.1:{port}/as4"), holding)
}

/// An SMP in front of `upstream` (`http://host:port`) that passes every request on, except — once `silent` is
/// set — those whose request line names `receiver`: it keeps those open and never answers.
fn smp_proxy(upstream: &str, receiver: &'static str) -> (String, Arc<AtomicBool>, Holding) {
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    let silent = Arc::new(AtomicBool::new(false));
    let holding = Holding::default();
    let (quiet, held) = (silent.clone(), holding.clone());
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            let (quiet, held, upstream) = (quiet.clone(), held.clone(), upstream.clone());
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && matches!(client.read(&mut byte), Ok(1)) {
                    head.push(byte[0]);
                }
                let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
                if quiet.load(Ordering::SeqCst) && String::from_utf8_lossy(line).contains(receiver)
                {
                    return held.hold(client);
                }
                let Ok(mut server) = TcpStream::connect(&upstream) else {
                    return;
                };
                let (Ok(mut from_server), Ok(mut to_client)) =
                    (server.try_clone(), client.try_clone())
                else {
                    return;
                };
                if server.write_all(&head).is_err() {
                    return;
                }
                std::thread::spawn(move || std::io::copy(&mut client, &mut server));
                let _ = std::io::copy(&mut from_server, &mut to_client);
            });
        }
    });
    (format!("http://127.0.0.1:{port}"), silent, holding)
}

/// Queues `STUCK_MESSAGES` copies of `body` at `node` from four clients at once; their ids.
fn queue_many(world: &World, node: &Node, body: &serde_json::Value) -> Vec<String> {
    let body = serde_json::to_vec(body).unwrap();
    let ids: Vec<String> = std::thread::scope(|s| {
        let senders: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..STUCK_MESSAGES / 4)
                        .map(|_| {
                            created_id(&node.call(
                                &world.rt,
                                "POST",
                                "/v1/sdk/messages",
                                Some(&body),
                            ))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        senders
            .into_iter()
            .flat_map(|h| h.join().expect("a sender"))
            .collect()
    });
    assert_eq!(ids.len(), STUCK_MESSAGES);
    ids
}

/// Sends one message from `a` to `b` now; returns how long it took to be ACCEPTED (at most [`ON_TIME`]).
fn deliver_one(world: &World, a: &Node, b: &Node) -> Duration {
    let rt = &world.rt;
    let posted = Instant::now();
    let id = created_id(&a.post(rt, &message_to(a, b, "Till region B", "Hej B")));
    a.wait_status(rt, &id, "ACCEPTED", ON_TIME);
    let took = posted.elapsed();
    let inbox = b.list(
        rt,
        "filter[recipientAttention.subOrganization.extension]=socialtjanst",
    );
    assert_eq!(inbox.len(), 1, "{inbox:#?}");
    took
}

/// None of `ids` was delivered or given up on: they are all still queued.
fn all_pending(world: &World, a: &Node, ids: &[String]) {
    for id in ids {
        let status = a.status(&world.rt, id);
        assert!(
            status == "SCHEDULED" || status == "SCHEDULED_FOR_RESEND",
            "{id} is {status}"
        );
    }
}

#[test]
fn a_tarpit_peer_does_not_delay_delivery_to_another_peer() {
    let world = World::new();
    let (mut a, mut b) = world.pair();
    // An organisation whose AP never answers: registered in the SMP, its endpoint the tarpit.
    let silent = world.node(
        "tarpit",
        "AP0003-SDK-TEST",
        "0203:tarpit.example.se",
        &["inkorg"],
    );
    let (url, tarpit) = tarpit();
    world.publish(&silent, MESSAGE_DOC, &url);
    a.start();
    b.start();

    let stuck = queue_many(
        &world,
        &a,
        &message_to(&a, &silent, "Till tjärgropen", "Hej"),
    );
    // The tarpit holds its slots before the other message is queued.
    tarpit.wait_for(PER_PEER, &a);

    let took = deliver_one(&world, &a, &b);
    eprintln!(
        "behind {STUCK_MESSAGES} messages for a tarpit, the message to B was ACCEPTED in {took:?}"
    );
    assert!(took < ON_TIME, "{took:?}");
    all_pending(&world, &a, &stuck);
    assert!(
        tarpit.most() <= PER_PEER,
        "the tarpit held {} connections at once; its share is {PER_PEER}",
        tarpit.most()
    );
}

#[test]
fn a_silent_smp_does_not_delay_delivery_to_another_peer() {
    let world = World::new();
    let (proxy, silence, smp) = smp_proxy(&world.smp_url, "smp-tarpit");
    // A asks its SMP through the proxy and keeps answers for only a second, so the lookups reach it.
    let mut a = world.node_with(
        "kommun-a",
        "AP0001-SDK-TEST",
        "0203:kommun-a.example.se",
        &["registrator"],
        |c| {
            *c = c
                .replace(
                    &format!("url = \"{}\"", world.smp_url),
                    &format!("url = \"{proxy}\""),
                )
                .replace("cache_seconds = 600", "cache_seconds = 1");
        },
    );
    let mut b = world.node(
        "region-b",
        "AP0002-SDK-TEST",
        "0203:region-b.example.se",
        &["socialtjanst", "vard"],
    );
    // Registered, never started: until its SMP falls silent, attempts to it are refused at once.
    let receiver = world.node(
        "smp-tarpit",
        "AP0003-SDK-TEST",
        "0203:smp-tarpit.example.se",
        &["inkorg"],
    );
    a.start();
    b.start();

    let stuck = queue_many(
        &world,
        &a,
        &message_to(&a, &receiver, "Till tystnaden", "Hej"),
    );
    silence.store(true, Ordering::SeqCst);
    // A lookup for the receiver hangs, and every stuck message comes due again (the lab's retry delays are at
    // most 2 s) before the other message is queued.
    smp.wait_for(1, &a);
    std::thread::sleep(Duration::from_secs(3));

    let took = deliver_one(&world, &a, &b);
    eprintln!(
        "behind {STUCK_MESSAGES} messages whose SMP is silent, the message to B was ACCEPTED in {took:?}"
    );
    assert!(took < ON_TIME, "{took:?}");
    all_pending(&world, &a, &stuck);
    assert_eq!(
        smp.most(),
        1,
        "lookups of one receiver wait for each other, not in parallel"
    );
}
