//! End to end between two lab nodes (real processes on loopback): 10 KB messages A→B at several
//! concurrency levels — throughput and the latency from submission (SCHEDULED at A) to the
//! Meddelandekvittens (ACCEPTED at A), as the nodes timestamp them — then one ~100 MB message, against the
//! bound set by the RSA private-key operations each message needs, measured in the same run.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Api, Draft, Lab, LabError, LabNode, NodeSpec};

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
    pub release_build: bool,
    pub cores: usize,
    pub rsa_2048_sign_ms: f64,
    pub rsa_ops_per_message: f64,
    /// Messages per second if the RSA private-key operations were all the work, on every core.
    pub bound_messages_per_second: f64,
    pub message_bytes: usize,
    pub levels: Vec<Level>,
    /// Peak memory after the 10 KB runs.
    pub peak_mb_a: f64,
    pub peak_mb_b: f64,
    pub large: Option<Large>,
}

/// The two nodes, with limits raised for the large message.
pub fn setup(lab: &Lab) -> Result<(LabNode, LabNode), LabError> {
    let limits = |c: &mut String| {
        c.push_str(
            "\n[limits]\napi_message_bytes = 268435456\nas4_message_bytes = 268435456\nsdk_message_bytes = 201326592\n",
        );
        *c = c.replace("per_peer = 4", "per_peer = 16");
    };
    let a = lab.node(
        &NodeSpec {
            name: "kommun-a",
            label: "Kommun A",
            ap_id: "AP0001-SDK-BENCH",
            org: "0203:kommun-a.example.se",
            functions: &["registrator"],
        },
        limits,
    )?;
    let b = lab.node(
        &NodeSpec {
            name: "region-b",
            label: "Region B",
            ap_id: "AP0002-SDK-BENCH",
            org: "0203:region-b.example.se",
            functions: &["socialtjanst"],
        },
        limits,
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
    let text = "Lorem ipsum dolor sit amet. ".repeat(10 * 1024 / 28);
    let body = serde_json::to_vec(&draft(a, b, "Bench", &text).json())
        .map_err(super::failed("the message body"))?;
    progress("warming up (SMP lookups, first connections)");
    let warm = rt.block_on(a.api().submit(body.clone()))?;
    rt.block_on(wait_accepted(&a.api(), &[warm], Duration::from_secs(60)))?;

    progress("measuring RSA-2048 signing on this machine");
    let sign_ms = rsa_sign_ms()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bound = cores as f64 * 1000.0 / (RSA_OPS_PER_MESSAGE * sign_ms);

    let mut levels = Vec::new();
    for &concurrency in &options.concurrency {
        progress(&format!(
            "{} messages of 10 KB, {concurrency} concurrent client(s)",
            options.messages
        ));
        levels.push(rt.block_on(level(&a.api(), &body, options.messages, concurrency, bound))?);
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
        release_build: !cfg!(debug_assertions),
        cores,
        rsa_2048_sign_ms: sign_ms,
        rsa_ops_per_message: RSA_OPS_PER_MESSAGE,
        bound_messages_per_second: bound,
        message_bytes: body.len(),
        levels,
        peak_mb_a,
        peak_mb_b,
        large,
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
        tokio::time::sleep(Duration::from_millis(20)).await;
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
