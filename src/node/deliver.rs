//! The access point, outbound (flow steps 3–6): the worker takes due queue entries, finds the receiver's AP in
//! the SMP, checks its certificate (nothing is sent to a revoked or foreign one), packs and sends over mutual
//! TLS, and verifies the signed receipt. A peer that does not answer is retried with exponential back-off and
//! jitter until the message expires; a peer that refuses (an ebMS Error) or cannot be trusted ends the message
//! with MESSAGE_EXCHANGE_ERROR and the reason. The AS4 MessageId is derived from the XHE id, so a resend after
//! a crash is recognised by the receiver as the same message.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Metrics, Node};
use crate::as4::ebms::{UserMessage, read_errors};
use crate::as4::pack::{pack, verify_receipt};
use crate::directory::smp_http::LookupError;
use crate::envelope::Xhe;
use crate::pki::https::{self, Call, ClientError};
use crate::pki::{CertInfo, Usage};
use crate::store::{Kind, QueueItem, Status, StoreError};
use crate::xml::Limits;

/// What one attempt came to.
enum Outcome {
    Delivered {
        peer: String,
    },
    /// Worth trying again later.
    Retry(String),
    /// Never going to work: the sender is told why.
    Failed(String),
}

/// The outbound worker's shared state.
pub struct Worker {
    node: Arc<Node>,
    in_flight: Mutex<HashSet<String>>,
    peers: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// At most this many messages in flight at once, over all peers.
const MAX_IN_FLIGHT: usize = 64;

impl Worker {
    pub fn new(node: Arc<Node>) -> Arc<Worker> {
        Arc::new(Worker {
            node,
            in_flight: Mutex::new(HashSet::new()),
            peers: Mutex::new(HashMap::new()),
        })
    }

    /// Runs until `stop` turns true, then lets the attempts in flight finish.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tasks = JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            self.dispatch(&mut tasks).await;
            tokio::select! {
                _ = self.node.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn dispatch(self: &Arc<Self>, tasks: &mut JoinSet<()>) {
        let busy = self.lock_in_flight().len();
        if busy >= MAX_IN_FLIGHT {
            return;
        }
        let node = self.node.clone();
        let due = tokio::task::spawn_blocking(move || {
            node.store
                .claim(OffsetDateTime::now_utc(), MAX_IN_FLIGHT - busy, busy)
        })
        .await;
        let due = match due {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => return self.node.log_error(&format!("reading the queue: {e}")),
            Err(e) => return self.node.log_error(&format!("reading the queue: {e}")),
        };
        for item in due {
            let mut in_flight = self.lock_in_flight();
            if in_flight.len() >= MAX_IN_FLIGHT {
                break;
            }
            if !in_flight.insert(item.id.clone()) {
                continue;
            }
            drop(in_flight);
            let worker = self.clone();
            tasks.spawn(async move {
                let id = item.id.clone();
                worker.attempt(item).await;
                worker.lock_in_flight().remove(&id);
            });
        }
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn peer_slots(&self, endpoint: &str) -> Arc<Semaphore> {
        let per_peer = self.node.config.retry.per_peer.max(1) as usize;
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(endpoint.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(per_peer)))
            .clone()
    }

    async fn attempt(&self, item: QueueItem) {
        let node = &self.node;
        let started = Instant::now();
        let outcome = if OffsetDateTime::now_utc() > item.expires {
            let last = node
                .store
                .get(&item.id)
                .ok()
                .and_then(|m| m.events.last().and_then(|e| e.reason.clone()))
                .unwrap_or_else(|| "no attempt succeeded".into());
            Outcome::Failed(format!(
                "not delivered before its expiry after {} attempt(s); last: {last}",
                item.attempts
            ))
        } else {
            self.send(&item).await
        };
        let id = item.id.clone();
        let kind = node.store.get(&id).map(|m| m.message.kind);
        let result = match outcome {
            Outcome::Delivered { peer } => {
                Metrics::count(&node.metrics.sent);
                node.metrics
                    .send_latency(started.elapsed().as_secs_f64() * 1000.0);
                let next = match kind {
                    Ok(Kind::Receipt) => Status::Submitted,
                    _ => Status::WaitingForReceipt,
                };
                node.store
                    .transition(&id, next, Some(format!("AS4 receipt from {peer} verified")))
            }
            Outcome::Retry(reason) => {
                node.metrics.error("retry");
                let next = OffsetDateTime::now_utc() + backoff(&node.config.retry, item.attempts);
                if next > item.expires {
                    node.store.transition(
                        &id,
                        Status::MessageExchangeError,
                        Some(format!(
                            "not delivered before its expiry after {} attempt(s); last: {reason}",
                            item.attempts + 1
                        )),
                    )
                } else {
                    node.store.reschedule(&id, next, reason)
                }
            }
            Outcome::Failed(reason) => {
                node.store
                    .transition(&id, Status::MessageExchangeError, Some(reason))
            }
        };
        match result {
            Ok(_) => {}
            // The Meddelandekvittens overtook the transport receipt, or an operator dropped the message
            // meanwhile: its status already says more than this attempt.
            Err(StoreError::Transition { .. }) | Err(StoreError::NotFound(_)) => {}
            Err(e) => node.log_error(&format!("recording the attempt for {id}: {e}")),
        }
    }

    async fn send(&self, item: &QueueItem) -> Outcome {
        let node = &self.node;
        let payload = match node.store.payload(&item.id) {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(format!("the stored envelope: {e}")),
        };
        let xhe = match Xhe::parse(&payload, &Limits::default()) {
            Ok(x) => x,
            Err(e) => return Outcome::Failed(format!("the stored envelope is not valid: {e}")),
        };
        let meta = match node.lookup(&xhe.to, &xhe.scope.document_id).await {
            Ok(m) => m,
            Err(e @ LookupError::NotRegistered { .. }) => return Outcome::Failed(e.to_string()),
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        // TF-02: nothing goes to an AP whose certificate is not valid here and now.
        let verdict = node.checker().check(
            std::slice::from_ref(&meta.ap_certificate),
            Usage::Ap,
            &node.env,
            OffsetDateTime::now_utc(),
        );
        if !verdict.is_ok() {
            node.metrics.error("peer-certificate");
            return Outcome::Failed(format!(
                "the receiving access point's certificate is not acceptable: {verdict}; nothing was sent"
            ));
        }
        let peer = CertInfo::parse(&meta.ap_certificate)
            .ok()
            .and_then(|i| i.common_name)
            .unwrap_or_default();
        let slots = self.peer_slots(&meta.endpoint_url);
        let Ok(_slot) = slots.acquire().await else {
            return Outcome::Retry("shutting down".into());
        };
        let ap_id = node.config.as4.ap_id.clone();
        let mut message = UserMessage::for_xhe(&xhe, &ap_id, &peer);
        message.message_id = format!("{}@{}", xhe.id, ap_id.to_lowercase());
        let node2 = node.clone();
        let recipient = meta.ap_certificate.clone();
        let packed = tokio::task::spawn_blocking(move || {
            pack(&message, &[&payload], &node2.keys.ap_signer, &recipient)
        })
        .await;
        let mut packed = match packed {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Outcome::Failed(format!("packing: {e}")),
            Err(e) => return Outcome::Retry(format!("packing: {e}")),
        };
        // Large messages get time in proportion (at least 1 MB/s), small ones a minute.
        let timeout = Duration::from_secs(60 + (packed.body.len() / (1024 * 1024)) as u64);
        let answer = https::send(
            node.tls.client_config(),
            Call {
                method: "POST",
                url: &meta.endpoint_url,
                headers: vec![("content-type", packed.content_type.clone())],
                // The receipt check needs only the id and the references: the body moves, uncopied.
                body: Bytes::from(std::mem::take(&mut packed.body)),
            },
            timeout,
            4 * 1024 * 1024,
        )
        .await;
        let answer = match answer {
            Ok(a) => a,
            Err(ClientError::BadUrl(u)) => {
                return Outcome::Failed(format!("the SMP gives an unusable endpoint URL {u}"));
            }
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        if let Some(errors) = read_errors(&answer.body) {
            let codes: Vec<String> = errors.iter().map(|(c, d)| format!("{c} {d}")).collect();
            for (code, _) in &errors {
                node.metrics.error(code);
            }
            // A peer that is only busy says so with 503; an ebMS Error is its verdict on this message.
            return if answer.status == 503 {
                Outcome::Retry(codes.join("; "))
            } else {
                Outcome::Failed(format!("refused by {peer}: {}", codes.join("; ")))
            };
        }
        if answer.status != 200 {
            return Outcome::Retry(format!("{peer} answered HTTP {}", answer.status));
        }
        match verify_receipt(&answer.body, &packed, &meta.ap_certificate) {
            Ok(()) => Outcome::Delivered { peer },
            Err(e) => {
                node.metrics.error(e.code.as_str());
                Outcome::Retry(format!("the receipt from {peer}: {e}"))
            }
        }
    }
}

/// first × 2^attempts, capped, then scaled by a random factor in [0.5, 1.0] so peers coming back are not
/// hit by every sender at the same instant.
fn backoff(retry: &crate::config::Retry, attempts: u32) -> time::Duration {
    let base = retry
        .first_delay_seconds
        .saturating_mul(1u64 << attempts.min(20))
        .min(retry.max_delay_seconds) as f64;
    let mut byte = [0u8; 1];
    let _ = aws_lc_rs::rand::fill(&mut byte);
    let factor = 0.5 + f64::from(byte[0]) / 510.0;
    time::Duration::milliseconds((base * factor * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use crate::config::Retry;

    #[test]
    fn backoff_doubles_within_jitter_and_stops_at_the_cap() {
        let retry = Retry {
            first_delay_seconds: 2,
            max_delay_seconds: 60,
            expiry_seconds: 600,
            per_peer: 1,
        };
        for attempts in 0..10u32 {
            let expected = (2u64 << attempts).min(60) as f64;
            let got = backoff(&retry, attempts).as_seconds_f64();
            assert!(
                got >= expected * 0.5 - 0.001 && got <= expected + 0.001,
                "attempt {attempts}: {got} not within [{}, {expected}]",
                expected * 0.5
            );
        }
    }
}
