//! Several nodes on one PostgreSQL store, with real processes: organisation B is served by a 2-node cluster
//! behind TCP balancers (AS4 and API), organisation A by one redb node. 1 000 messages go A→B and 1 000 B→A
//! while one of B's nodes at a time is killed with SIGKILL at random moments and restarted. At the end every
//! message that got a 201 is in its recipient's mailbox exactly once and ACCEPTED at its sender — so queued
//! work that a dead node had claimed was taken over by the other, and the de-duplication held across nodes —
//! and the audit logs verify, B's from either node's data directory.
//!
//! Needs a PostgreSQL: `.ci/postgres` starts one and prints its URL (`SDK_RELAY_TEST_POSTGRES`; the default
//! is that URL).
#![cfg(feature = "postgres")]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::node::{Node, World};
use common::pki::{relay, relay_ok};
use sdk_relay::lab::{Api, Cluster, LabNode};
use serde_json::Value;

/// Messages each way.
const EACH_WAY: usize = 1000;
/// Clients submitting at the same time, each way.
const CLIENTS: usize = 4;
/// SIGKILLs of B's nodes over the run, at least; one at least once the submissions are done, so some land
/// in delivery alone.
const MIN_KILLS: usize = 4;
/// How long the queues may take to drain after the last submission.
const DRAIN: Duration = Duration::from_secs(8 * 60);
/// Submissions of one message before the test gives up on it.
const ATTEMPTS: usize = 200;

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    u64::from_le_bytes(b) % n
}

/// What the submitting clients of one direction saw.
#[derive(Default)]
struct Sent {
    /// Ids of messages that got a 201.
    accepted: Vec<String>,
    /// Submissions that got no answer (the connection died) or a failure, and were tried again.
    retried: usize,
}

/// `EACH_WAY` submissions of `body` to `api` from `CLIENTS` clients; a submission without a 201 is tried
/// again with the same body (the node gives each submission a new messageId, so one stored without its
/// answer reaching us is a message of its own, delivered once like the others).
async fn submit_all(api: Api, body: Vec<u8>, direction: &'static str) -> Sent {
    let next = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(Mutex::new(Sent::default()));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (api, body, next, sent) = (api.clone(), body.clone(), next.clone(), sent.clone());
        clients.spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < EACH_WAY {
                let mut attempt = 0;
                let id = loop {
                    attempt += 1;
                    match api.submit(body.clone()).await {
                        Ok(id) => break id,
                        Err(e) if attempt < ATTEMPTS => {
                            sent.lock().unwrap().retried += 1;
                            if attempt % 20 == 0 {
                                eprintln!("{direction}: attempt {attempt} failed: {e}");
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => panic!("{direction}: no 201 after {ATTEMPTS} attempts: {e}"),
                    }
                };
                sent.lock().unwrap().accepted.push(id);
            }
        });
    }
    while let Some(joined) = clients.join_next().await {
        joined.expect("a submitting client");
    }
    Arc::try_unwrap(sent)
        .ok()
        .expect("every client is done")
        .into_inner()
        .unwrap()
}

/// Each listed message's status by id.
fn statuses(listed: &[Value]) -> HashMap<String, String> {
    listed
        .iter()
        .map(|m| {
            (
                m["id"].as_str().expect("an id").to_owned(),
                m["attributes"]["messageStatus"]
                    .as_str()
                    .expect("a status")
                    .to_owned(),
            )
        })
        .collect()
}

/// How often each id is in a mailbox listing.
fn counts(listed: &[Value]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for m in listed {
        *seen
            .entry(m["id"].as_str().expect("an id").to_owned())
            .or_default() += 1;
    }
    seen
}

/// How many of `ids` are not ACCEPTED yet in `outbound`; panics on one that ended otherwise.
fn open_at_sender(who: &str, ids: &[String], outbound: &HashMap<String, String>) -> usize {
    let mut open = 0;
    for id in ids {
        match outbound.get(id).map(String::as_str) {
            Some("ACCEPTED") => {}
            Some(end @ ("REJECTED" | "MESSAGE_EXCHANGE_ERROR")) => {
                panic!("{id} ended {end} at {who}, not ACCEPTED")
            }
            _ => open += 1,
        }
    }
    open
}

/// A message listed at `who` 0 or 2+ times, if any, among `accepted`; or any id listed twice at all.
fn check_mailbox(who: &str, accepted: &[String], mailbox: &HashMap<String, usize>) {
    for id in accepted {
        let n = mailbox.get(id).copied().unwrap_or(0);
        assert_eq!(
            n, 1,
            "{id} (201 at its sender) is in {who}'s mailbox {n} times"
        );
    }
    // Submissions whose 201 was lost may be there too — once.
    let twice: Vec<_> = mailbox.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "in {who}'s mailbox more than once: {twice:?}"
    );
}

/// A createMessage body from `from`'s first functional address to `to`'s.
fn letter(from: &LabNode, to: &LabNode, label: &str) -> Vec<u8> {
    serde_json::to_vec(&common::node::message_to(
        from,
        to,
        label,
        "Överlever att en nod dör",
    ))
    .unwrap()
}

/// Each kill: seconds since the start of the test, and the node.
type Kills = Vec<(f64, String)>;

/// A thread that kills one of the cluster's nodes at a time with SIGKILL at random moments and restarts it
/// after a random pause, until the submissions are over (`sending` false) and it has killed `MIN_KILLS`
/// times, at least once after the submissions. It owns the cluster meanwhile; dropped early (a failing
/// test), it stops at the next step and the cluster's nodes die with it instead of outliving the test.
struct Killer {
    abort: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Cluster, Kills)>>,
}

impl Killer {
    fn start(mut cluster: Cluster, sending: Arc<AtomicBool>, t0: Instant) -> Killer {
        let abort = Arc::new(AtomicBool::new(false));
        let stop = abort.clone();
        let pause = move |ms: u64| {
            // In slices, so that an abort is heard quickly.
            let until = Instant::now() + Duration::from_millis(ms);
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        let aborted = abort.clone();
        let thread = std::thread::spawn(move || {
            let mut kills = Kills::new();
            let mut after_sending = false;
            while sending.load(Ordering::SeqCst) || kills.len() < MIN_KILLS || !after_sending {
                pause(1500 + random_below(3000));
                if aborted.load(Ordering::SeqCst) {
                    break;
                }
                after_sending |= !sending.load(Ordering::SeqCst);
                let which = random_below(cluster.nodes.len() as u64) as usize;
                let node = &mut cluster.nodes[which];
                node.kill();
                let at = t0.elapsed().as_secs_f64();
                kills.push((at, node.name.clone()));
                eprintln!("{at:7.1} s: SIGKILL {}", node.name);
                pause(random_below(1500));
                node.start()
                    .unwrap_or_else(|e| panic!("restarting {}: {e}", node.name));
                eprintln!(
                    "{:7.1} s: {} ready again",
                    t0.elapsed().as_secs_f64(),
                    node.name
                );
            }
            (cluster, kills)
        });
        Killer {
            abort,
            thread: Some(thread),
        }
    }

    /// Whether it has finished (or panicked: a node that would not restart).
    fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for it to finish; the cluster and the kills.
    fn finish(mut self) -> (Cluster, Kills) {
        self.thread
            .take()
            .expect("finished once")
            .join()
            .expect("the killer")
    }
}

impl Drop for Killer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.abort.store(true, Ordering::SeqCst);
            // Its panic, if any, is already being reported; the cluster is dropped (its nodes killed) here.
            let _ = thread.join();
        }
    }
}

#[test]
fn a_two_node_cluster_on_postgres_loses_nothing_and_delivers_nothing_twice_under_sigkill() {
    let t0 = Instant::now();
    let world = World::new();
    // A on redb whatever SDK_RELAY_TEST_STORE says: the peer is an ordinary single node.
    let mut a: Node = world.node_with(
        "kommun-a",
        "AP0001-SDK-TEST",
        "0203:kommun-a.example.se",
        &["registrator"],
        |c| c.push_str("\n[store]\nkind = \"redb\"\n"),
    );
    let mut b: Cluster = world.cluster(
        "region-b",
        "AP0002-SDK-TEST",
        "0203:region-b.example.se",
        &["socialtjanst"],
        2,
    );
    a.start();
    b.start().unwrap_or_else(|e| {
        panic!(
            "{e}\n(is PostgreSQL up at {}? `.ci/postgres` starts one)",
            sdk_relay::lab::postgres_url()
        )
    });
    // An API client made through the second node's data directory while both run is known to both at once:
    // the address book and its clients are the database's, not each data directory's.
    let made = relay_ok(
        &b.nodes[1].data,
        &[
            "clients",
            "add",
            "--org",
            "0203:region-b.example.se",
            "--name",
            "added while running",
            "--json",
        ],
    );
    let made: Value = serde_json::from_str(&made).unwrap();
    let token = made["token"].as_str().unwrap();
    for node in &b.nodes {
        let answer = world
            .rt
            .block_on(node.call_as(token, "GET", "/v1/sdk/messages", None))
            .unwrap_or_else(|e| panic!("{}: {e}", node.name));
        assert_eq!(answer.status, 200, "{} refused the new client", node.name);
    }
    let (a_api, b_api) = (a.api(), b.api());
    let (to_b, to_a) = (
        letter(&a, b.first(), "Till B"),
        letter(b.first(), &a, "Till A"),
    );
    let b_logs: Vec<(String, std::path::PathBuf)> = b
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.log_path()))
        .collect();
    eprintln!("{:7.1} s: set up and started", t0.elapsed().as_secs_f64());

    let sending = Arc::new(AtomicBool::new(true));
    let killer = Killer::start(b, sending.clone(), t0);
    let (sent_ab, sent_ba) = world.rt.block_on(async {
        tokio::join!(
            submit_all(a_api.clone(), to_b, "A→B"),
            submit_all(b_api.clone(), to_a, "B→A")
        )
    });
    sending.store(false, Ordering::SeqCst);
    eprintln!(
        "{:7.1} s: submitted: A→B {} (retried {}), B→A {} (retried {})",
        t0.elapsed().as_secs_f64(),
        sent_ab.accepted.len(),
        sent_ab.retried,
        sent_ba.accepted.len(),
        sent_ba.retried
    );
    for (way, sent) in [("A→B", &sent_ab), ("B→A", &sent_ba)] {
        assert_eq!(sent.accepted.len(), EACH_WAY, "{way}");
        let unique: HashSet<&String> = sent.accepted.iter().collect();
        assert_eq!(unique.len(), EACH_WAY, "{way}: an id was given out twice");
    }

    // Drain: every message with a 201 ACCEPTED at its sender, while the killer goes on.
    let list = |api: &Api, query: &str| -> Vec<Value> {
        world
            .rt
            .block_on(api.list(query))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let draining = Instant::now();
    let mut killer = Some(killer);
    let mut killed = None;
    loop {
        // A killer that panicked (a node that would not restart) fails the test now, not at the deadline.
        if killer.as_ref().is_some_and(Killer::is_finished) {
            killed = killer.take().map(Killer::finish);
        }
        let open_ab = open_at_sender(
            "A",
            &sent_ab.accepted,
            &statuses(&list(&a_api, "filter[direction]=outbound")),
        );
        // B's API may meet the node being killed: then ask again next round.
        let open_ba = match world.rt.block_on(b_api.list("filter[direction]=outbound")) {
            Ok(listed) => Some(open_at_sender("B", &sent_ba.accepted, &statuses(&listed))),
            Err(e) => {
                eprintln!("listing at B: {e}");
                None
            }
        };
        if open_ab == 0 && open_ba == Some(0) {
            break;
        }
        if draining.elapsed() > DRAIN {
            let tail = |log: String| {
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(15)..].join("\n")
            };
            let logs: String = b_logs
                .iter()
                .map(|(name, path)| {
                    format!(
                        "\n--- {name}\n{}",
                        tail(std::fs::read_to_string(path).unwrap_or_default())
                    )
                })
                .collect();
            panic!(
                "not ACCEPTED at the sender {DRAIN:?} after the submissions: A→B {open_ab}, B→A {open_ba:?}\n\
                 --- kommun-a\n{}{logs}",
                tail(a.log())
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!(
        "{:7.1} s: all ACCEPTED at their senders",
        t0.elapsed().as_secs_f64()
    );
    let (mut b, kills) = match (killed, killer) {
        (Some(done), _) => done,
        (None, Some(killer)) => killer.finish(),
        (None, None) => unreachable!("the killer is finished once"),
    };
    assert!(kills.len() >= MIN_KILLS, "only {} kills", kills.len());

    // Every message with a 201 exactly once in its recipient's mailbox, nothing twice.
    let inbox_b = counts(&list(&b.api(), "filter[direction]=inbound"));
    let inbox_a = counts(&list(&a_api, "filter[direction]=inbound"));
    check_mailbox("B", &sent_ab.accepted, &inbox_b);
    check_mailbox("A", &sent_ba.accepted, &inbox_a);

    eprintln!(
        "cluster test: {} kills at {:?}; A→B {} with a 201 ({} retried submissions), B's mailbox {}; \
         B→A {} with a 201 ({} retried), A's mailbox {}; AS4 balancer {:?}, API balancer {:?}; {:.0} s",
        kills.len(),
        kills
            .iter()
            .map(|(t, n)| format!("{t:.1}s {n}"))
            .collect::<Vec<_>>(),
        sent_ab.accepted.len(),
        sent_ab.retried,
        inbox_b.len(),
        sent_ba.accepted.len(),
        sent_ba.retried,
        inbox_a.len(),
        b.as4.served(),
        b.api.served(),
        t0.elapsed().as_secs_f64()
    );
    // Both of B's nodes were given connections: the cluster was not one node and a spare.
    for (backend, n) in b.as4.served().into_iter().chain(b.api.served()) {
        assert!(n > 0, "the balancer sent nothing to {backend}");
    }

    assert!(a.stop(), "A did not stop cleanly:\n{}", a.log());
    for node in &mut b.nodes {
        assert!(
            node.stop().expect("SIGTERM"),
            "{} did not stop cleanly:\n{}",
            node.name,
            node.log()
        );
    }
    // B's audit chain is in the database: either node's data directory verifies it.
    for (who, data) in b
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), &n.data))
        .chain([(a.name.as_str(), &a.data)])
    {
        let out = relay(data, &["audit", "verify"]);
        assert!(
            out.status.success(),
            "audit verify at {who}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
