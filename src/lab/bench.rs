//! End to end between two lab nodes (real processes on loopback): 10 KB messages A→B at several
//! concurrency levels — throughput and the latency from submission (SCHEDULED at A) to the
//! Meddelandekvittens (ACCEPTED at A), as the nodes timestamp them — then one ~100 MB message, against the
//! bound set by the RSA private-key operations each message needs, measured in the same run.
//!
//! [`compare_stores`] measures the same 10 KB path with the sender on different stores: a redb pair, and the
//! sender as a cluster of nodes on one PostgreSQL behind a balancer (the receiver stays one redb node).

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Api, Cluster, Draft, Lab, LabError, LabNode, NodeSpec};

/// RSA private-key operations per message, both nodes together: A seals (1) and signs the AS4 message (1);
/// B decrypts the AS4 key (1) and the XHE key (1), signs the Meddelandekvittens (1), its AS4 receipt to A
/// (1) and the AS4 message carrying the Meddelandekvittens (1); A decrypts that message's key (1) and signs
/// its receipt (1); and the TLS handshakes — A→B mutual (2), B→A mutual (2), the API call (1).
pub const RSA_OPS_PER_MESSAGE: f64 = 14.0;

/// What to measure.
pub struct Options {
    /// 10 KB messages per concurrency level.
    pub messages: usize,
    pub concurrency: Vec<usize>,
    /// The size of the large message's XHE, in MB (SDK's profile: APs take 100 MB); 0 skips it.
    pub large_mb: usize,
}

#[derive(Debug, Serialize)]
pub struct Level {
    pub concurrency: usize,
    pub messages: usize,
    pub seconds: f64,
    pub messages_per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Throughput as a share of the RSA bound.
    pub ratio_to_bound: f64,
}

#[derive(Debug, Serialize)]
pub struct Large {
    /// The attachment's size and the sealed XHE's (what travels, gzipped, in the AS4 message).
    pub file_bytes: u64,
    pub xhe_bytes: u64,
    /// The API call: JSON in, validated, sealed and stored.
    pub submit_seconds: f64,
    /// From SCHEDULED to ACCEPTED at A.
    pub delivery_seconds: f64,
    /// Peak resident memory of each node process, started afresh for this message.
    pub peak_mb_a: f64,
    pub peak_mb_b: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// The build and the crypto bound of this run.
    #[serde(flatten)]
    pub bound: Bound,
    pub message_bytes: usize,
    pub levels: Vec<Level>,
    /// Peak memory after the 10 KB runs.
    pub peak_mb_a: f64,
    pub peak_mb_b: f64,
    pub large: Option<Large>,
}

/// Raises the limits for the large message, and the deliveries in flight to a peer for the concurrency.
fn limits(c: &mut String) {
    c.push_str(
        "\n[limits]\napi_message_bytes = 268435456\nas4_message_bytes = 268435456\nsdk_message_bytes = 201326592\n",
    );
    *c = c.replace("per_peer = 4", "per_peer = 16");
}

/// [`limits`], on redb.
fn redb(c: &mut String) {
    limits(c);
    c.push_str("\n[store]\nkind = \"redb\"\n");
}

/// The two nodes, on redb (whatever `SDK_RELAY_TEST_STORE` says: the large message's size is read from the
/// redb store's payload file), with limits raised for the large message.
pub fn setup(lab: &Lab) -> Result<(LabNode, LabNode), LabError> {
    let a = lab.node(
        &NodeSpec {
            name: "kommun-a",
            label: "Kommun A",
            ap_id: "AP0001-SDK-BENCH",
            org: "0203:kommun-a.example.se",
            functions: &["registrator"],
        },
        redb,
    )?;
    let b = lab.node(
        &NodeSpec {
            name: "region-b",
            label: "Region B",
            ap_id: "AP0002-SDK-BENCH",
            org: "0203:region-b.example.se",
            functions: &["socialtjanst"],
        },
        redb,
    )?;
    Ok((a, b))
}

/// Runs the whole benchmark; `progress` hears what is being done.
pub fn run(
    a: &mut LabNode,
    b: &mut LabNode,
    options: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, LabError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(super::failed("starting the runtime"))?;
    a.start()?;
    b.start()?;
    let body = small_body(a, b)?;
    progress("warming up (SMP lookups, first connections)");
    warm_up(&rt, &a.api(), &body)?;

    progress("measuring RSA-2048 signing on this machine");
    let limit = rsa_bound()?;

    let mut levels = Vec::new();
    for &concurrency in &options.concurrency {
        progress(&format!(
            "{} messages of 10 KB, {concurrency} concurrent client(s)",
            options.messages
        ));
        levels.push(rt.block_on(level(
            &a.api(),
            &body,
            options.messages,
            concurrency,
            limit.bound_messages_per_second,
        ))?);
    }
    let (peak_mb_a, peak_mb_b) = (a.peak_memory_mb(), b.peak_memory_mb());
    let large = if options.large_mb == 0 {
        None
    } else {
        progress(&format!(
            "one {} MB message (both nodes restarted to measure their peak memory)",
            options.large_mb
        ));
        a.stop()?;
        b.stop()?;
        a.start()?;
        b.start()?;
        Some(large(&rt, a, b, options.large_mb)?)
    };
    Ok(Report {
        bound: limit,
        message_bytes: body.len(),
        levels,
        peak_mb_a,
        peak_mb_b,
        large,
    })
}

/// The 10 KB createMessage body from `a` to `b`.
fn small_body(a: &LabNode, b: &LabNode) -> Result<Vec<u8>, LabError> {
    let text = "Lorem ipsum dolor sit amet. ".repeat(10 * 1024 / 28);
    serde_json::to_vec(&draft(a, b, "Bench", &text).json())
        .map_err(super::failed("the message body"))
}

/// One message through and back, so that SMP lookups and first connections are not measured.
fn warm_up(rt: &tokio::runtime::Runtime, api: &Api, body: &[u8]) -> Result<(), LabError> {
    let warm = rt.block_on(api.submit(body.to_vec()))?;
    rt.block_on(wait_accepted(api, &[warm], Duration::from_secs(60)))
        .map(drop)
}

/// The build, and the crypto bound measured in the same run as the throughput it is compared with.
#[derive(Debug, Clone, Serialize)]
pub struct Bound {
    pub release_build: bool,
    pub cores: usize,
    pub rsa_2048_sign_ms: f64,
    pub rsa_ops_per_message: f64,
    /// Messages per second if the RSA private-key operations were all the work, on every core.
    pub bound_messages_per_second: f64,
}

/// RSA-2048 signing time on one core, the cores, and the bound they set.
fn rsa_bound() -> Result<Bound, LabError> {
    let sign_ms = rsa_sign_ms()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Bound {
        release_build: !cfg!(debug_assertions),
        cores,
        rsa_2048_sign_ms: sign_ms,
        rsa_ops_per_message: RSA_OPS_PER_MESSAGE,
        bound_messages_per_second: cores as f64 * 1000.0 / (RSA_OPS_PER_MESSAGE * sign_ms),
    })
}

/// A message from `a`'s first functional address to `b`'s.
fn draft<'a>(a: &'a LabNode, b: &'a LabNode, label: &'a str, text: &'a str) -> Draft<'a> {
    Draft {
        from: a,
        from_function: a.functions.first().map_or("", String::as_str),
        to: b,
        to_function: b.functions.first().map_or("", String::as_str),
        label,
        document_name: label,
        text,
    }
}

fn api_failed(detail: String) -> LabError {
    LabError {
        step: "an API call".into(),
        detail,
    }
}

/// Waits until every message of `ids` is ACCEPTED at A; their JSON.
async fn wait_accepted(
    api: &Api,
    ids: &[String],
    timeout: Duration,
) -> Result<Vec<Value>, LabError> {
    let start = Instant::now();
    let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    loop {
        let answer = api
            .call("GET", "/v1/sdk/messages?filter[direction]=outbound", None)
            .await
            .map_err(|e| api_failed(e.to_string()))?;
        let listed: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| api_failed(format!("the message list: {e}")))?;
        let mine: Vec<Value> = listed["data"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|m| m["id"].as_str().is_some_and(|id| wanted.contains(id)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let failed = mine.iter().find(|m| {
            ["REJECTED", "MESSAGE_EXCHANGE_ERROR"].contains(
                &m["attributes"]["messageStatus"]
                    .as_str()
                    .unwrap_or_default(),
            )
        });
        if let Some(m) = failed {
            return Err(api_failed(format!("a message failed: {m}")));
        }
        let done = mine
            .iter()
            .filter(|m| m["attributes"]["messageStatus"] == "ACCEPTED")
            .count();
        if done == ids.len() {
            return Ok(mine);
        }
        if start.elapsed() > timeout {
            return Err(api_failed(format!(
                "{done} of {} messages ACCEPTED after {timeout:?}",
                ids.len()
            )));
        }
        // The times come from the node's own events, so polling slowly loses no precision and leaves the
        // nodes' CPU to the work measured (each poll lists every outbound message).
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `messages` submissions from `concurrency` clients, each one after the other, then the wait for their
/// receipts; times as the node recorded them (first SCHEDULED to last ACCEPTED).
async fn level(
    api: &Api,
    body: &[u8],
    messages: usize,
    concurrency: usize,
    bound: f64,
) -> Result<Level, LabError> {
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..concurrency {
        let share = messages / concurrency + usize::from(i < messages % concurrency);
        let (api, body) = (api.clone(), body.to_vec());
        clients.spawn(async move {
            let mut ids = Vec::with_capacity(share);
            for _ in 0..share {
                ids.push(api.submit(body.clone()).await?);
            }
            Ok::<_, LabError>(ids)
        });
    }
    let mut ids = Vec::with_capacity(messages);
    while let Some(joined) = clients.join_next().await {
        ids.extend(joined.map_err(|e| api_failed(e.to_string()))??);
    }
    let done = wait_accepted(api, &ids, Duration::from_secs(900)).await?;
    let mut latencies: Vec<f64> = done
        .iter()
        .filter_map(|m| {
            let from = event_time(m, "SCHEDULED")?;
            let to = event_time(m, "ACCEPTED")?;
            Some((to - from).as_seconds_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let first = done.iter().filter_map(|m| event_time(m, "SCHEDULED")).min();
    let last = done.iter().filter_map(|m| event_time(m, "ACCEPTED")).max();
    let seconds = match (first, last) {
        (Some(f), Some(l)) => (l - f).as_seconds_f64(),
        _ => f64::NAN,
    };
    let messages_per_second = ids.len() as f64 / seconds;
    Ok(Level {
        concurrency,
        messages: ids.len(),
        seconds,
        messages_per_second,
        p50_ms: percentile(&latencies, 0.5),
        p95_ms: percentile(&latencies, 0.95),
        p99_ms: percentile(&latencies, 0.99),
        ratio_to_bound: messages_per_second / bound,
    })
}

/// One message whose sealed XHE is about `mb` MB: incompressible content, so gzip cannot shrink it.
fn large(
    rt: &tokio::runtime::Runtime,
    a: &LabNode,
    b: &LabNode,
    mb: usize,
) -> Result<Large, LabError> {
    // The file is base64'd into the SDK message, encrypted, and base64'd again into the XHE: ×16/9.
    let mut file = vec![0u8; mb * 1024 * 1024 * 9 / 16];
    aws_lc_rs::rand::fill(&mut file).map_err(super::failed("random content"))?;
    let mut message = draft(a, b, "Stor bilaga", "Se bilagan.").json();
    super::attach(&mut message, "stor.bin", "application/octet-stream", &file);
    let body = serde_json::to_vec(&message).map_err(super::failed("the message body"))?;
    let file_bytes = file.len() as u64;
    drop(file);
    let start = Instant::now();
    let id = rt.block_on(a.api().submit(body))?;
    let submit_seconds = start.elapsed().as_secs_f64();
    let done = rt.block_on(wait_accepted(
        &a.api(),
        std::slice::from_ref(&id),
        Duration::from_secs(900),
    ))?;
    let xhe_bytes = std::fs::metadata(crate::store::payload_path(&a.data, &id))
        .map(|m| m.len())
        .map_err(super::failed("the stored XHE"))?;
    let delivery_seconds = done
        .first()
        .and_then(|m| {
            Some((event_time(m, "ACCEPTED")? - event_time(m, "SCHEDULED")?).as_seconds_f64())
        })
        .unwrap_or(f64::NAN);
    Ok(Large {
        file_bytes,
        xhe_bytes,
        submit_seconds,
        delivery_seconds,
        peak_mb_a: a.peak_memory_mb(),
        peak_mb_b: b.peak_memory_mb(),
    })
}

/// Milliseconds per RSA-2048 PKCS#1 v1.5 signature with SHA-256, on one core.
fn rsa_sign_ms() -> Result<f64, LabError> {
    let key = crate::pki::KeyAlgorithm::Rsa2048
        .generate()
        .map_err(super::failed("an RSA key"))?;
    let signer = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&key.serialize_der())
        .map_err(super::failed("an RSA key"))?;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut out = vec![0u8; signer.public_modulus_len()];
    let n = 400;
    let start = Instant::now();
    for _ in 0..n {
        signer
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &rng,
                b"signed info",
                &mut out,
            )
            .map_err(super::failed("RSA signing"))?;
    }
    Ok(start.elapsed().as_secs_f64() * 1000.0 / f64::from(n))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn event_time(m: &Value, status: &str) -> Option<OffsetDateTime> {
    m["attributes"]["events"]
        .as_array()?
        .iter()
        .find(|e| e["typeCode"] == status)
        .and_then(|e| e["detail"].as_str())
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

/// Where the sender's messages are stored, in a store comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum StoreSetup {
    /// A sender and a receiver on redb: what [`run`] measures.
    Redb,
    /// The sender as this many nodes on one PostgreSQL schema, behind the lab's balancers.
    Postgres(usize),
}

/// The most nodes a `pgN` setup may have: each is a process with its pool of connections.
pub const MAX_CLUSTER_NODES: usize = 8;

impl std::str::FromStr for StoreSetup {
    type Err = String;

    /// `redb`, or `pg1`, `pg2`, … (`pgN`: N sender nodes on PostgreSQL).
    fn from_str(s: &str) -> Result<StoreSetup, String> {
        let s = s.trim();
        if s == "redb" {
            return Ok(StoreSetup::Redb);
        }
        match s.strip_prefix("pg").map(str::parse::<usize>) {
            Some(Ok(n)) if (1..=MAX_CLUSTER_NODES).contains(&n) => Ok(StoreSetup::Postgres(n)),
            _ => Err(format!(
                "unknown store setup {s:?}: use redb, or pgN for N (1 to {MAX_CLUSTER_NODES}) sender nodes on PostgreSQL"
            )),
        }
    }
}

impl std::fmt::Display for StoreSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSetup::Redb => f.write_str("redb"),
            StoreSetup::Postgres(n) => write!(f, "pg{n}"),
        }
    }
}

impl From<StoreSetup> for String {
    fn from(s: StoreSetup) -> String {
        s.to_string()
    }
}

impl StoreSetup {
    /// What the sender is, in words.
    pub fn describe(&self) -> String {
        match self {
            StoreSetup::Redb => "redb, one sender node".into(),
            StoreSetup::Postgres(1) => "PostgreSQL, one sender node (behind the balancer)".into(),
            StoreSetup::Postgres(n) => format!("PostgreSQL, {n} sender nodes behind the balancer"),
        }
    }
}

/// What a store comparison measures.
pub struct StoreOptions {
    pub setups: Vec<StoreSetup>,
    /// 10 KB messages per setup and concurrency level.
    pub messages: usize,
    pub concurrency: Vec<usize>,
    /// The database of the PostgreSQL setups; each setup gets a fresh schema in it.
    pub postgres_url: String,
}

/// One setup at one concurrency level.
#[derive(Debug, Serialize)]
pub struct StoreRow {
    pub store: StoreSetup,
    pub description: String,
    /// Sender nodes (the receiver is one redb node).
    pub sender_nodes: usize,
    #[serde(flatten)]
    pub level: Level,
    /// Throughput as a share of the redb pair's at the same concurrency, when that was measured.
    pub ratio_to_redb: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct StoreReport {
    #[serde(flatten)]
    pub bound: Bound,
    pub message_bytes: usize,
    pub rows: Vec<StoreRow>,
}

/// The sending side of one setup: a node, or a cluster behind balancers.
enum Sender {
    Node(LabNode),
    Cluster(Cluster),
}

impl Sender {
    fn first(&self) -> &LabNode {
        match self {
            Sender::Node(n) => n,
            Sender::Cluster(c) => c.first(),
        }
    }

    fn api(&self) -> Api {
        match self {
            Sender::Node(n) => n.api(),
            Sender::Cluster(c) => c.api(),
        }
    }

    fn start(&mut self) -> Result<(), LabError> {
        match self {
            Sender::Node(n) => n.start(),
            Sender::Cluster(c) => c.start(),
        }
    }

    fn stop(&mut self) -> Result<bool, LabError> {
        match self {
            Sender::Node(n) => n.stop(),
            Sender::Cluster(c) => c.stop(),
        }
    }
}

/// Sets up one setup's sender and receiver, with organisations and AP ids of their own (`index` tells the
/// setups apart), so the SMP keeps every setup's registrations.
fn store_pair(
    lab: &Lab,
    setup: StoreSetup,
    index: usize,
    postgres_url: &str,
) -> Result<(Sender, LabNode), LabError> {
    let tag = setup.to_string();
    let (a_name, a_org, a_ap) = (
        format!("kommun-a-{tag}"),
        format!("0203:kommun-a-{tag}.example.se"),
        format!("AP{:04}-SDK-BENCH", 10 * index + 1),
    );
    let (b_name, b_org, b_ap) = (
        format!("region-b-{tag}"),
        format!("0203:region-b-{tag}.example.se"),
        format!("AP{:04}-SDK-BENCH", 10 * index + 2),
    );
    let a_spec = NodeSpec {
        name: &a_name,
        label: "Kommun A",
        ap_id: &a_ap,
        org: &a_org,
        functions: &["registrator"],
    };
    // The receiver is the same kind of node in every setup: redb, whatever SDK_RELAY_TEST_STORE says.
    let sender = match setup {
        StoreSetup::Redb => Sender::Node(lab.node(&a_spec, redb)?),
        StoreSetup::Postgres(n) => Sender::Cluster(lab.cluster(
            &a_spec,
            n,
            &super::postgres_store(postgres_url),
            limits,
        )?),
    };
    let receiver = lab.node(
        &NodeSpec {
            name: &b_name,
            label: "Region B",
            ap_id: &b_ap,
            org: &b_org,
            functions: &["socialtjanst"],
        },
        redb,
    )?;
    Ok((sender, receiver))
}

/// For each setup in turn, 10 KB messages from the sender to a redb receiver at each concurrency level, then
/// both stopped; against the RSA bound measured once at the start. `progress` hears what is being done.
pub fn compare_stores(
    lab: &Lab,
    options: &StoreOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<StoreReport, LabError> {
    if options.setups.iter().any(|s| *s != StoreSetup::Redb) && !cfg!(feature = "postgres") {
        return Err(LabError {
            step: "the PostgreSQL setups".into(),
            detail: "this build has no PostgreSQL store: build with `--features postgres`".into(),
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(super::failed("starting the runtime"))?;
    progress("measuring RSA-2048 signing on this machine");
    let limit = rsa_bound()?;
    let mut rows: Vec<StoreRow> = Vec::new();
    let mut message_bytes = 0;
    for (index, &setup) in options.setups.iter().enumerate() {
        progress(&format!("{setup}: setting up ({})", setup.describe()));
        let (mut a, mut b) = store_pair(lab, setup, index, &options.postgres_url)?;
        b.start()?;
        a.start()?;
        let body = small_body(a.first(), &b)?;
        message_bytes = body.len();
        progress(&format!(
            "{setup}: warming up (SMP lookups, first connections)"
        ));
        warm_up(&rt, &a.api(), &body)?;
        for &concurrency in &options.concurrency {
            progress(&format!(
                "{setup}: {} messages of 10 KB, {concurrency} concurrent client(s)",
                options.messages
            ));
            let level = rt.block_on(level(
                &a.api(),
                &body,
                options.messages,
                concurrency,
                limit.bound_messages_per_second,
            ))?;
            let redb = rows
                .iter()
                .find(|r| r.store == StoreSetup::Redb && r.level.concurrency == concurrency)
                .map(|r| r.level.messages_per_second);
            rows.push(StoreRow {
                store: setup,
                description: setup.describe(),
                sender_nodes: match setup {
                    StoreSetup::Redb => 1,
                    StoreSetup::Postgres(n) => n,
                },
                ratio_to_redb: redb.map(|r| level.messages_per_second / r),
                level,
            });
        }
        // Stopped before the next setup starts, so that it has the machine to itself.
        a.stop()?;
        b.stop()?;
    }
    Ok(StoreReport {
        bound: limit,
        message_bytes,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_setups_parse_and_print_back() {
        for (text, setup) in [
            ("redb", StoreSetup::Redb),
            ("pg1", StoreSetup::Postgres(1)),
            ("pg2", StoreSetup::Postgres(2)),
        ] {
            assert_eq!(text.parse::<StoreSetup>(), Ok(setup));
            assert_eq!(setup.to_string(), text);
        }
        for bad in ["pg0", "pg9", "pg", "postgres", "redb2", ""] {
            let err = bad.parse::<StoreSetup>().unwrap_err();
            assert!(err.contains("use redb, or pgN"), "{bad}: {err}");
        }
    }
}
