//! The access point, outbound (flow steps 3–6): the worker takes due queue entries, finds the receiver's AP in
//! the SMP, checks its certificate (nothing is sent to a revoked or foreign one), packs and sends over mutual
//! TLS, and verifies the signed receipt. A peer that does not answer is retried with exponential back-off and
//! jitter until the message expires; a peer that refuses (an ebMS Error) or cannot be trusted ends the message
//! with MESSAGE_EXCHANGE_ERROR and the reason. The AS4 MessageId is derived from the XHE id, so a resend after
//! a crash is recognised by the receiver as the same message.
//!
//! Peers are kept apart (issue 18): a message takes a sending slot only once it holds a slot of its peer (its
//! endpoint URL), and one whose peer has none free stays due in the queue, uncounted and unchanged, while the
//! worker looks past it. So a peer that accepts connections and never answers holds at most its own
//! `[retry] per_peer` slots, however many messages wait for it, and the messages to everyone else go out on
//! time. Finding the endpoint is bounded too: one SMP lookup at a time per receiver, within 20 s, and a failed
//! one answers the receiver's other messages for a while.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::{Metrics, Node};
use crate::as4::ebms::UserMessage;
use crate::as4::error_signal;
use crate::as4::pack::{pack, verify_receipt_at};
use crate::directory::ServiceMetadata;
use crate::directory::smp_http::LookupError;
use crate::envelope::Xhe;
use crate::pki::https::{self, Call, ClientError};
use crate::pki::{CertInfo, Usage};
use crate::store::{Kind, QueueItem, Status, StoreError};
use crate::xml::Limits;

/// At most this many messages being sent at once, over all peers.
const MAX_IN_FLIGHT: usize = 64;
/// At most this many attempts being prepared (envelope read, SMP lookup, certificate check) at once.
const MAX_PREPARING: usize = 16;
/// An SMP lookup (SML, then SMP) that takes longer is given up; the client's own limits are 5 s and 10 s, and
/// this one holds whatever else could hang.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(20);
/// A receiver whose lookup failed is not looked up again this soon: its other messages are retried later with
/// the same reason, instead of each waiting out the same silent SMP.
const FAILED_LOOKUP_MEMO: Duration = Duration::from_secs(30);
/// A message whose receiver is being looked up by another attempt waits this long for that answer (a cached
/// one takes microseconds) before it steps aside and leaves its slot to others.
const LOOKUP_TURN_WAIT: Duration = Duration::from_millis(250);
/// Waiting messages are forgotten after this and read from the queue again. A shared store's claim lapses
/// after 15 minutes; well before then this node lets go, so it never sends a message another node took over.
const HOLD_AT_MOST: Duration = Duration::from_secs(10 * 60);
/// Waiting messages remembered at most. More are still attempted in their turn, but a round cannot look past
/// those it does not remember: beyond this many, isolation degrades to the queue's order.
const MAX_WAITING: usize = 10_000;
/// A store that does not claim returns the messages in flight and waiting again with every read, before the
/// new ones. Beyond this many, the queue is read at most every [`READ_EVERY`], so that a deep queue behind busy
/// peers costs a bounded share of the node; rounds in between start only what is remembered.
const CHEAP_LOOK_PAST: usize = 256;
const READ_EVERY: Duration = Duration::from_millis(250);
/// The peer and receiver tables drop their idle entries once they grow beyond this.
const TIDY_ABOVE: usize = 1024;

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

/// What a due message waits for. Waiting is not an attempt: it neither counts nor changes the status.
enum Wait {
    /// A slot to be prepared in.
    Start,
    /// The answer of a lookup of its receiver that another attempt has under way.
    Lookup(Receiver),
    /// A free slot of its peer (the endpoint URL), then one of all.
    Peer(String),
}

/// What one SMP lookup is about: (participant, document type).
type Receiver = (String, String);

/// A due message this node holds back.
struct Waiting {
    item: QueueItem,
    on: Wait,
    /// When this node took it from the queue.
    since: Instant,
}

/// One receiver's lookups: one at a time, and the last failure, which answers for a while.
struct Lookups {
    turn: Arc<Semaphore>,
    /// When the lookup under way began.
    began: Option<Instant>,
    failed: Option<(Instant, String)>,
}

/// An envelope ready to go, and where.
struct Ready {
    xhe: Xhe,
    payload: Vec<u8>,
    meta: ServiceMetadata,
    /// The receiving AP's id (its certificate's CN).
    peer: String,
}

/// What a send holds while it runs: its peer's slot, taken first, and one of all.
struct Slots {
    _peer: OwnedSemaphorePermit,
    _sending: OwnedSemaphorePermit,
}

/// Where preparing stopped short of a send.
enum Stop {
    Wait(Wait),
    Done(Outcome),
}

/// The outbound worker's shared state. Locks are taken one at a time, except in a dispatch round, which takes
/// them in the order of the fields; no lock is held across an await.
pub struct Worker {
    node: Arc<Node>,
    /// Messages a task has: not started again while it runs.
    in_flight: Mutex<HashSet<String>>,
    /// Due messages seen and not started, by id.
    waiting: Mutex<HashMap<String, Waiting>>,
    /// Per endpoint URL: `[retry] per_peer` slots.
    peers: Mutex<HashMap<String, Arc<Semaphore>>>,
    lookups: Mutex<HashMap<Receiver, Lookups>>,
    /// Sends under way over all peers; taken only with the peer's slot in hand.
    sending: Arc<Semaphore>,
    preparing: Arc<Semaphore>,
}

impl Worker {
    pub fn new(node: Arc<Node>) -> Arc<Worker> {
        Arc::new(Worker {
            node,
            in_flight: Mutex::new(HashSet::new()),
            waiting: Mutex::new(HashMap::new()),
            peers: Mutex::new(HashMap::new()),
            lookups: Mutex::new(HashMap::new()),
            sending: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            preparing: Arc::new(Semaphore::new(MAX_PREPARING)),
        })
    }

    /// Runs until `stop` turns true, then lets the attempts in flight finish.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tasks = JoinSet::new();
        let mut read_at = None;
        loop {
            if *stop.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            self.dispatch(&mut tasks, &mut read_at).await;
            tokio::select! {
                _ = self.node.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// One round: takes new due entries and starts, oldest first, every message whose wait is over, while
    /// there are slots to prepare them in.
    async fn dispatch(self: &Arc<Self>, tasks: &mut JoinSet<()>, read_at: &mut Option<Instant>) {
        if self.preparing.available_permits() == 0 {
            return;
        }
        self.tidy();
        let fresh = self.read_queue(read_at).await;
        let now = OffsetDateTime::now_utc();
        let per_peer = self.per_peer();
        let mut chosen = Vec::new();
        {
            let mut in_flight = self.lock_in_flight();
            let mut waiting = self.lock_waiting();
            waiting.retain(|_, w| w.since.elapsed() < HOLD_AT_MOST);
            let mut unremembered = Vec::new();
            for item in fresh {
                if in_flight.contains(&item.id) {
                    continue;
                }
                if let Some(w) = waiting.get_mut(&item.id) {
                    w.item = item;
                } else if waiting.len() < MAX_WAITING {
                    let waits = Waiting {
                        item,
                        on: Wait::Start,
                        since: Instant::now(),
                    };
                    waiting.insert(waits.item.id.clone(), waits);
                } else {
                    unremembered.push(item);
                }
            }
            let peers = self.lock_peers();
            let lookups = self.lock_lookups();
            let turn_free = |r: &Receiver| {
                lookups
                    .get(r)
                    .is_none_or(|l| l.turn.available_permits() > 0)
            };
            let peer_free = |endpoint: &String| {
                peers
                    .get(endpoint)
                    .map_or(per_peer, |s| s.available_permits())
            };
            let mut startable: Vec<(OffsetDateTime, String)> = waiting
                .values()
                .filter(|w| match &w.on {
                    // An expired message is only failed: it needs no peer.
                    _ if now > w.item.expires => true,
                    Wait::Start => true,
                    Wait::Lookup(r) => turn_free(r),
                    Wait::Peer(endpoint) => peer_free(endpoint) > 0,
                })
                .map(|w| (w.item.next_attempt, w.item.id.clone()))
                .collect();
            startable.sort();
            // No more messages per peer than it has free slots, nor per receiver than one lookup: the others
            // would only be prepared to wait again.
            let mut sending = self.sending.available_permits();
            let mut slots_left: HashMap<String, usize> = HashMap::new();
            let mut turns_given: HashSet<Receiver> = HashSet::new();
            let mut fits = |w: &Waiting| match &w.on {
                _ if now > w.item.expires => true,
                Wait::Start => true,
                Wait::Lookup(r) => turns_given.insert(r.clone()),
                Wait::Peer(endpoint) => {
                    let left = slots_left
                        .entry(endpoint.clone())
                        .or_insert_with(|| peer_free(endpoint));
                    let fits = sending > 0 && *left > 0;
                    if fits {
                        *left -= 1;
                        sending -= 1;
                    }
                    fits
                }
            };
            let remembered = startable.into_iter().filter_map(|(_, id)| {
                let w = waiting.get(&id)?;
                if !fits(w) {
                    return None;
                }
                waiting.remove(&id).map(|w| (w.item, w.since))
            });
            let rest = unremembered.into_iter().map(|i| (i, Instant::now()));
            let mut next = remembered.chain(rest);
            // The slot first: a message is taken out of waiting only when it will start. The rest keep waiting.
            while let Ok(permit) = self.preparing.clone().try_acquire_owned()
                && let Some((item, since)) = next.next()
            {
                in_flight.insert(item.id.clone());
                chosen.push((item, since, permit));
            }
        }
        for (item, since, permit) in chosen {
            tasks.spawn(self.clone().attempt(item, since, permit));
        }
    }

    /// New due entries, as many as could be sent now. A store that does not claim returns those in flight or
    /// waiting as well, oldest first: they are asked for on top, so the round sees past them to the rest.
    async fn read_queue(&self, read_at: &mut Option<Instant>) -> Vec<QueueItem> {
        let take = self
            .preparing
            .available_permits()
            .min(self.sending.available_permits());
        let known = self.lock_in_flight().len() + self.lock_waiting().len();
        let lately = read_at.is_some_and(|at| at.elapsed() < READ_EVERY);
        if take == 0 || (known > CHEAP_LOOK_PAST && lately) {
            return Vec::new();
        }
        *read_at = Some(Instant::now());
        let node = self.node.clone();
        let due = tokio::task::spawn_blocking(move || {
            node.store.claim(OffsetDateTime::now_utc(), take, known)
        })
        .await;
        match due {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading the queue");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the queue");
                Vec::new()
            }
        }
    }

    fn lock_in_flight(&self) -> MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_waiting(&self) -> MutexGuard<'_, HashMap<String, Waiting>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_peers(&self) -> MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_lookups(&self) -> MutexGuard<'_, HashMap<Receiver, Lookups>> {
        self.lookups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the entries nothing uses: peers with no send under way (a slot held keeps its semaphore
    /// shared), receivers with no lookup under way and no recent failure.
    fn tidy(&self) {
        let mut peers = self.lock_peers();
        if peers.len() > TIDY_ABOVE {
            peers.retain(|_, s| Arc::strong_count(s) > 1);
        }
        drop(peers);
        let mut lookups = self.lock_lookups();
        if lookups.len() > TIDY_ABOVE {
            lookups.retain(|_, l| {
                Arc::strong_count(&l.turn) > 1
                    || l.failed
                        .as_ref()
                        .is_some_and(|(at, _)| at.elapsed() < FAILED_LOOKUP_MEMO)
            });
        }
    }

    fn per_peer(&self) -> usize {
        self.node.config.retry.per_peer.max(1) as usize
    }

    fn peer_slots(&self, endpoint: &str) -> Arc<Semaphore> {
        let per_peer = self.per_peer();
        self.lock_peers()
            .entry(endpoint.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(per_peer)))
            .clone()
    }

    fn slots(&self, endpoint: &str) -> Option<Slots> {
        take_slots(&self.peer_slots(endpoint), &self.sending)
    }

    /// Attempts `item`, or puts it back to waiting when a slot it needs is taken.
    async fn attempt(
        self: Arc<Self>,
        item: QueueItem,
        since: Instant,
        preparing: OwnedSemaphorePermit,
    ) {
        let id = item.id.clone();
        if let Some(on) = self.try_once(&item, preparing).await {
            let mut waiting = self.lock_waiting();
            if waiting.len() < MAX_WAITING {
                waiting.insert(id.clone(), Waiting { item, on, since });
            }
        }
        self.lock_in_flight().remove(&id);
        // A slot or a lookup turn came free: what waits for it need not wait for the next tick.
        if !self.lock_waiting().is_empty() {
            self.node.wake.notify_one();
        }
    }

    /// A stored message, read on a blocking thread (the store does file I/O).
    async fn stored(&self, id: &str) -> Result<crate::store::StoredMessage, StoreError> {
        let (node, id) = (self.node.clone(), id.to_owned());
        tokio::task::spawn_blocking(move || node.store.get(&id))
            .await
            .unwrap_or_else(|e| Err(StoreError::Storage(e.to_string())))
    }

    /// One attempt, recorded; or what it waits for, with nothing recorded.
    async fn try_once(&self, item: &QueueItem, preparing: OwnedSemaphorePermit) -> Option<Wait> {
        let started = Instant::now();
        let stored = match self.stored(&item.id).await {
            Ok(m) => m,
            Err(StoreError::NotFound(_)) => return None,
            Err(e) => {
                tracing::error!(message_id = %item.id, error = %e, "reading a queued message");
                return None;
            }
        };
        // Sent, answered or dropped by an operator while it waited: nothing is left to do.
        if !matches!(
            stored.status,
            Status::Scheduled | Status::ScheduledForResend
        ) {
            return None;
        }
        let outcome = if OffsetDateTime::now_utc() > item.expires {
            let last = stored
                .events
                .last()
                .and_then(|e| e.reason.clone())
                .unwrap_or_else(|| "no attempt succeeded".into());
            Outcome::Failed(format!(
                "not delivered before its expiry after {} attempt(s); last: {last}",
                item.attempts
            ))
        } else {
            match self.prepare(item).await {
                Err(Stop::Wait(on)) => return Some(on),
                Err(Stop::Done(outcome)) => outcome,
                Ok(ready) => {
                    drop(preparing);
                    let endpoint = ready.meta.endpoint_url.clone();
                    let Some(slots) = self.slots(&endpoint) else {
                        return Some(Wait::Peer(endpoint));
                    };
                    self.send(ready, slots).await
                }
            }
        };
        // The store's transaction and the audit append fsync: off the runtime threads.
        let (node, item, kind) = (self.node.clone(), item.clone(), stored.message.kind);
        let _ =
            tokio::task::spawn_blocking(move || record(&node, &item, kind, outcome, started)).await;
        None
    }

    /// The envelope, its receiver's AP and a verdict on that AP's certificate: everything short of the send.
    async fn prepare(&self, item: &QueueItem) -> Result<Ready, Stop> {
        let node = &self.node;
        let failed = |why: String| Stop::Done(Outcome::Failed(why));
        // Reading up to 100 MB and parsing it: work for a blocking thread, not the runtime's.
        let (reader, id) = (node.clone(), item.id.clone());
        let (payload, xhe) = tokio::task::spawn_blocking(move || {
            let payload = reader
                .store
                .payload(&id)
                .map_err(|e| format!("the stored envelope: {e}"))?;
            let xhe = Xhe::parse(&payload, &Limits::default())
                .map_err(|e| format!("the stored envelope is not valid: {e}"))?;
            Ok::<_, String>((payload, xhe))
        })
        .await
        .map_err(|e| Stop::Done(Outcome::Retry(format!("reading the stored envelope: {e}"))))?
        .map_err(failed)?;
        let meta = self
            .lookup((xhe.to.clone(), xhe.scope.document_id.clone()))
            .await?;
        // TF-02: nothing goes to an AP whose certificate is not valid here and now.
        let verdict = node.checker().check(
            std::slice::from_ref(&meta.ap_certificate),
            Usage::Ap,
            &node.env,
            OffsetDateTime::now_utc(),
        );
        if !verdict.is_ok() {
            node.metrics.error("peer-certificate");
            return Err(failed(format!(
                "the receiving access point's certificate is not acceptable: {verdict}; nothing was sent"
            )));
        }
        let peer = CertInfo::parse(&meta.ap_certificate)
            .ok()
            .and_then(|i| i.common_name)
            .unwrap_or_default();
        Ok(Ready {
            xhe,
            payload,
            meta,
            peer,
        })
    }

    /// The receiver's SMP entry: one lookup at a time per receiver, each within [`LOOKUP_TIMEOUT`].
    async fn lookup(&self, receiver: Receiver) -> Result<ServiceMetadata, Stop> {
        let (turn, patience) = {
            let mut lookups = self.lock_lookups();
            let entry = lookups.entry(receiver.clone()).or_insert_with(|| Lookups {
                turn: Arc::new(Semaphore::new(1)),
                began: None,
                failed: None,
            });
            // A lookup under way for longer than a cached one takes is not waited for at all.
            let patience = entry.began.map_or(LOOKUP_TURN_WAIT, |at| {
                LOOKUP_TURN_WAIT.saturating_sub(at.elapsed())
            });
            (entry.turn.clone(), patience)
        };
        if let Some(why) = self.failed_lately(&receiver) {
            return Err(Stop::Done(Outcome::Retry(why)));
        }
        let Ok(Ok(_turn)) = tokio::time::timeout(patience, turn.acquire_owned()).await else {
            return Err(Stop::Wait(Wait::Lookup(receiver)));
        };
        // The lookup this one waited for may have failed.
        if let Some(why) = self.failed_lately(&receiver) {
            return Err(Stop::Done(Outcome::Retry(why)));
        }
        let _began = Began::mark(self, &receiver);
        let (participant, document_id) = &receiver;
        let answer =
            match tokio::time::timeout(LOOKUP_TIMEOUT, self.node.lookup(participant, document_id))
                .await
            {
                Ok(answer) => answer,
                Err(_) => Err(LookupError::Unreachable {
                    url: format!("the SMP of {participant}"),
                    detail: format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs()),
                }),
            };
        let failure = match answer {
            Ok(meta) => return Ok(meta),
            Err(e @ LookupError::NotRegistered { .. }) => {
                return Err(Stop::Done(Outcome::Failed(e.to_string())));
            }
            Err(e) => e.to_string(),
        };
        if let Some(entry) = self.lock_lookups().get_mut(&receiver) {
            entry.failed = Some((Instant::now(), failure.clone()));
        }
        Err(Stop::Done(Outcome::Retry(failure)))
    }

    fn set_began(&self, receiver: &Receiver, at: Option<Instant>) {
        if let Some(entry) = self.lock_lookups().get_mut(receiver) {
            entry.began = at;
        }
    }

    fn failed_lately(&self, receiver: &Receiver) -> Option<String> {
        self.lock_lookups()
            .get(receiver)
            .and_then(|l| l.failed.as_ref())
            .filter(|(at, _)| at.elapsed() < FAILED_LOOKUP_MEMO)
            .map(|(_, why)| why.clone())
    }

    /// Packs `ready` for its peer and sends it in `slots`, held until the answer is in or the time is up.
    async fn send(&self, ready: Ready, slots: Slots) -> Outcome {
        let _slots = slots;
        let node = &self.node;
        let Ready {
            xhe,
            payload,
            meta,
            peer,
        } = ready;
        let ap_id = node.config.as4.ap_id.clone();
        let mut message = UserMessage::for_xhe(&xhe, &ap_id, &peer);
        message.message_id = format!("{}@{}", xhe.id, ap_id.to_lowercase());
        // B1.3.3 1.5.2: eb:ConversationId carries the SDK conversationId, which only the store still knows
        // once the payload is sealed (a Meddelandekvittens was stored with its message's conversation).
        message.conversation_id = match self.stored(&xhe.id).await {
            Ok(stored) => stored.message.conversation_id,
            Err(e) => return Outcome::Retry(format!("the stored message: {e}")),
        };
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
        // Issue 19 point 5: an Error signal on this mutual-TLS connection comes from the AP we checked, signed
        // or not (Domibus signs none of its Faults); it is final unless the peer only says it is busy.
        match error_signal::read(&answer.body, &packed.message_id, &meta.ap_certificate) {
            None => {}
            Some(Err(other)) => return Outcome::Retry(format!("{peer}: {other}")),
            Some(Ok(signal)) => {
                for (code, _) in &signal.errors {
                    node.metrics.error(code);
                }
                let what = format!("{} ({})", signal.codes(), signal.provenance());
                return if answer.status == 503 {
                    Outcome::Retry(format!("{peer} is busy: {what}"))
                } else {
                    Outcome::Failed(format!("refused by {peer}: {what}"))
                };
            }
        }
        if answer.status != 200 {
            return Outcome::Retry(format!("{peer} answered HTTP {}", answer.status));
        }
        let skew = Duration::from_secs(node.config.as4.clock_skew_seconds);
        let now = OffsetDateTime::now_utc();
        match verify_receipt_at(&answer.body, &packed, &meta.ap_certificate, now, skew) {
            Ok(()) => Outcome::Delivered { peer },
            Err(e) => {
                node.metrics.error(e.code.as_str());
                Outcome::Retry(format!("the receipt from {peer}: {e}"))
            }
        }
    }
}

/// Records what one attempt came to: the status it leads to, counted and (through the store) audited.
fn record(node: &Node, item: &QueueItem, kind: Kind, outcome: Outcome, started: Instant) {
    let id = &item.id;
    let result = match outcome {
        Outcome::Delivered { peer } => {
            tracing::info!(message_id = %id, peer = %peer, "delivered: AS4 receipt verified");
            Metrics::count(&node.metrics.sent);
            node.metrics.send_latency(started.elapsed().as_secs_f64());
            let next = match kind {
                Kind::Receipt => Status::Submitted,
                Kind::Message => Status::WaitingForReceipt,
            };
            node.store
                .transition(id, next, Some(format!("AS4 receipt from {peer} verified")))
        }
        Outcome::Retry(reason) => {
            tracing::warn!(message_id = %id, attempts = item.attempts + 1, "attempt failed, will retry: {reason}");
            node.metrics.error("retry");
            let next = OffsetDateTime::now_utc() + backoff(&node.config.retry, item.attempts);
            if next > item.expires {
                node.store.transition(
                    id,
                    Status::MessageExchangeError,
                    Some(format!(
                        "not delivered before its expiry after {} attempt(s); last: {reason}",
                        item.attempts + 1
                    )),
                )
            } else {
                node.store.reschedule(id, next, reason)
            }
        }
        Outcome::Failed(reason) => {
            tracing::warn!(message_id = %id, "failed for good (MESSAGE_EXCHANGE_ERROR): {reason}");
            node.store
                .transition(id, Status::MessageExchangeError, Some(reason))
        }
    };
    match result {
        Ok(_) => {}
        // The Meddelandekvittens overtook the transport receipt, or an operator dropped the message
        // meanwhile: its status already says more than this attempt.
        Err(StoreError::Transition { .. }) | Err(StoreError::NotFound(_)) => {}
        Err(e) => tracing::error!(message_id = %id, error = %e, "recording the attempt"),
    }
}

/// Marks a receiver's lookup as under way until dropped, however the lookup ends.
struct Began<'a> {
    worker: &'a Worker,
    receiver: &'a Receiver,
}

impl<'a> Began<'a> {
    fn mark(worker: &'a Worker, receiver: &'a Receiver) -> Began<'a> {
        worker.set_began(receiver, Some(Instant::now()));
        Began { worker, receiver }
    }
}

impl Drop for Began<'_> {
    fn drop(&mut self) {
        self.worker.set_began(self.receiver, None);
    }
}

/// A slot of the peer, then one of all; `None`, holding neither, when either is taken. Never waits: a busy
/// peer's message goes back to waiting and the slots go to others.
fn take_slots(peer: &Arc<Semaphore>, all: &Arc<Semaphore>) -> Option<Slots> {
    let peer = peer.clone().try_acquire_owned().ok()?;
    let sending = all.clone().try_acquire_owned().ok()?;
    Some(Slots {
        _peer: peer,
        _sending: sending,
    })
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
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::{backoff, take_slots};
    use crate::config::Retry;

    #[test]
    fn a_busy_peer_takes_none_of_the_slots_of_all() {
        let all = Arc::new(Semaphore::new(3));
        let busy = Arc::new(Semaphore::new(0));
        assert!(take_slots(&busy, &all).is_none());
        assert_eq!(all.available_permits(), 3);

        let free = Arc::new(Semaphore::new(2));
        let held = take_slots(&free, &all).expect("slots of a free peer");
        assert_eq!((free.available_permits(), all.available_permits()), (1, 2));
        drop(held);
        assert_eq!((free.available_permits(), all.available_permits()), (2, 3));
    }

    #[test]
    fn no_slot_of_all_gives_back_the_peers() {
        let none_left = Arc::new(Semaphore::new(0));
        let peer = Arc::new(Semaphore::new(1));
        assert!(take_slots(&peer, &none_left).is_none());
        assert_eq!(peer.available_permits(), 1);
    }

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
