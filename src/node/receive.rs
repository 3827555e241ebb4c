//! The access point and message service, inbound (flow steps 5, 7, 8). An AS4 message passes the `as4`
//! checks (signature, sender, decryption, digests, limits); its XHE is validated and cross-checked with the
//! AS4 headers and this node's registrations (TF-09, TF-10: refused with an ebMS error, logged, nothing
//! delivered). Then the message service opens it — the signature against the sender's CertPub certificate
//! before any decryption — validates the SDK message, and stores it in its mailbox (or refused) together with
//! the signed Meddelandekvittens that answers it, in one transaction. Only after that commit does the peer get
//! its AS4 receipt. An incoming Meddelandekvittens moves the message it acknowledges to ACCEPTED or REJECTED.

use std::sync::Arc;

use time::OffsetDateTime;
use tokio::runtime::Handle;

use super::{Metrics, Node};
use crate::as4::ebms::UserMessage;
use crate::as4::error::FaultCode;
use crate::as4::error_signal;
use crate::as4::pack::{ReceivePolicy, Received, receipt, unpack_read};
use crate::as4::{EbmsError, ErrorCode};
use crate::audit::{ActorKind, Event};
use crate::directory::ParticipantId;
use crate::directory::addressbook::AddressBookError;
use crate::directory::smp_http::LookupError;
use crate::envelope::ids::{PayloadKind, TransportModel};
use crate::envelope::receipt::{LineResponse, ReasonCode, ResponseCode};
use crate::envelope::{DocType, DocumentError, Message, Receipt, Violation, Xhe};
use crate::store::{
    Direction, Inbound, Inserted, Kind, Mark, NewMessage, Reply, Status, StoreError, id_mark_keys,
};
use crate::xml::{Doc, Limits};
use crate::xmlsec::{PayloadKey, Sealed, Trusted, verify_signer};

use super::guard::Threshold;
use crate::clip::echo as cap;

/// The one reason given for every payload that could not be opened — a content key that does not unwrap, a
/// ciphertext that does not decrypt, a plaintext that is not UTF-8 or not XML — so that a member probing
/// with modified ciphertexts learns nothing from which.
pub const NOT_OPENED: &str = "the message could not be opened";

/// What the AS4 endpoint answers.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Why a message is not taken in.
enum NotTaken {
    /// An ebMS error: the peer must not send this again.
    Refused(EbmsError),
    /// We cannot decide now (the SMP does not answer): 503, the peer retries.
    Busy(EbmsError),
}

impl From<EbmsError> for NotTaken {
    fn from(e: EbmsError) -> Self {
        NotTaken::Refused(e)
    }
}

/// The business verdict on a received SDK message.
enum Verdict {
    Accepted,
    Rejected(Vec<LineResponse>),
}

/// A receipt line per rule the message breaks: XSD rules are structure (SV), the rest business rules (BV).
fn violation_lines(violations: &[crate::envelope::Violation]) -> Vec<LineResponse> {
    violations
        .iter()
        .map(|v| {
            let (code, detail) = if v.rule.starts_with("XSD") {
                (ReasonCode::Sv, "structure")
            } else {
                (ReasonCode::Bv, "invariant")
            };
            line(
                code,
                detail,
                &v.location,
                format!("{}: {}", v.rule, v.message),
            )
        })
        .collect()
}

fn line(code: ReasonCode, detail: &str, line_id: &str, reason: String) -> LineResponse {
    LineResponse {
        line_id: if line_id.is_empty() {
            "NA".into()
        } else {
            line_id.to_owned()
        },
        code,
        status_reason_code: Some(detail.to_owned()),
        status_reason: reason,
    }
}

impl Node {
    /// Handles one `POST /as4` body. Blocking: run it off the async threads (`rt` serves the SMP lookups).
    pub fn receive_as4(
        self: &Arc<Self>,
        rt: &Handle,
        content_type: &str,
        body: &mut dyn std::io::Read,
    ) -> Answer {
        self.forget_old_marks();
        let checker = self.checker();
        let policy = ReceivePolicy::new(&checker, &self.env).with_clock_skew(
            std::time::Duration::from_secs(self.config.as4.clock_skew_seconds),
        );
        let received = match unpack_read(content_type, body, &policy, &self.keys.ap_decrypt) {
            Ok(r) => r,
            Err(refused) => {
                return self.refuse(
                    refused.message_id.as_deref(),
                    None,
                    NotTaken::Refused(refused.error),
                );
            }
        };
        let peer = received.message.from.id.clone();
        match self.take_in(rt, &received) {
            Ok(()) => match receipt(&received, &self.keys.ap_signer) {
                Ok(signed) => {
                    Metrics::count(&self.metrics.received);
                    tracing::info!(
                        message_id = %received.message.message_id,
                        peer = %peer,
                        "AS4 message taken in, receipt signed"
                    );
                    Answer {
                        status: 200,
                        body: signed,
                    }
                }
                Err(e) => self.refuse(
                    Some(&received.message.message_id),
                    Some(&peer),
                    NotTaken::Busy(e),
                ),
            },
            Err(not) => self.refuse(Some(&received.message.message_id), Some(&peer), not),
        }
    }

    /// An Error signal for the peer, counted and written to the audit log. The record names the AS4
    /// MessageId the input claimed as `claimed_message_id`, never as `message_id`: anyone can claim any id,
    /// and a refusal must not appear in the history of a stored message that has it.
    ///
    /// The signal is a signed SOAP Fault (the shape Domibus reads), answered with HTTP 500 as SOAP 1.2's HTTP
    /// binding and CXF do; 503 when the peer should try again.
    fn refuse(&self, message_id: Option<&str>, peer: Option<&str>, not: NotTaken) -> Answer {
        let (status, fault, error) = match not {
            NotTaken::Refused(e) => (500, FaultCode::Sender, e),
            NotTaken::Busy(e) => (503, FaultCode::Receiver, e),
        };
        self.metrics.error(error.code.as_str());
        tracing::warn!(
            claimed_message_id = message_id.unwrap_or("-"),
            peer = peer.unwrap_or("unknown"),
            code = error.code.as_str(),
            retry = status == 503,
            "AS4 message not taken: {error}"
        );
        self.record(Event {
            claimed_message_id: message_id.map(str::to_owned),
            peer_ap: peer.map(str::to_owned),
            error: Some(error.code.as_str().to_owned()),
            ..Node::event(
                "as4.refused",
                if status == 503 { "deferred" } else { "refused" },
                (ActorKind::PeerAp, peer.unwrap_or("unknown")),
                error.to_string(),
            )
        });
        let errors = [error];
        let body = error_signal::write_signed(message_id, &errors, fault, &self.keys.ap_signer)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "signing an Error signal; sent unsigned");
                error_signal::write_unsigned(message_id, &errors, fault)
            });
        Answer { status, body }
    }

    fn take_in(&self, rt: &Handle, received: &Received) -> Result<(), NotTaken> {
        let um = &received.message;
        let inconsistent = |detail: String| EbmsError::new(ErrorCode::ValueInconsistent, detail);
        if !um.to.id.eq_ignore_ascii_case(&self.config.as4.ap_id) {
            return Err(inconsistent(format!(
                "eb:To is {}, this access point is {}",
                um.to.id, self.config.as4.ap_id
            ))
            .into());
        }
        let [(_, xhe_bytes)] = received.payloads.as_slice() else {
            return Err(inconsistent(format!(
                "an SDK message carries one XHE, this one has {} payloads",
                received.payloads.len()
            ))
            .into());
        };
        // TF-09: the envelope must be well-formed and valid before anything else is read from it.
        let doc = crate::xml::parse_bytes(xhe_bytes, &Limits::default()).map_err(|e| {
            EbmsError::new(ErrorCode::Other, format!("the XHE is not well-formed: {e}"))
        })?;
        let (doctype, violations, payload_violations) =
            crate::envelope::check_layers(doc.root())
                .map_err(|e| EbmsError::new(ErrorCode::Other, format!("the XHE: {e}")))?;
        if doctype != DocType::Xhe {
            return Err(EbmsError::new(
                ErrorCode::Other,
                format!("the payload is a {}, not an XHE", doctype.name()),
            )
            .into());
        }
        // B1.3.3 §5.3: a message that breaks a rule between its payload and its envelope is answered with a
        // REJECTED Meddelandekvittens, so its sender reaches a final status; envelope faults stay ebMS errors.
        // A receipt is routed by its DocumentReference: one without HandlingServiceID (0..1 in the XHE
        // profile, which asks receivers to cope) is taken, though B1.3.3 asks senders to set it.
        let (content, envelope): (Vec<Violation>, Vec<Violation>) = violations
            .into_iter()
            .filter(|v| v.rule != "SDK-XHE-RCPT-FUNCTION")
            .partition(|v| content_rule(&v.rule).is_some());
        if !envelope.is_empty() {
            return Err(EbmsError::new(
                ErrorCode::Other,
                format!("the XHE is not valid: {}", list(&envelope)),
            )
            .into());
        }
        let xhe = Xhe::read(doc.root());
        let (kind, model) = self.cross_check(um, &xhe)?;
        self.hosted(&xhe)?;
        self.fresh(&xhe)?;
        if model == TransportModel::Base {
            self.in_base(&xhe)?;
        }
        match kind {
            // A plain message that breaks its own rules is judged with the others: a REJECTED receipt.
            PayloadKind::Message => self.take_message(rt, received, &doc, &xhe, &content, model),
            PayloadKind::Receipt if !content.is_empty() || !payload_violations.is_empty() => {
                let all: Vec<Violation> = content.into_iter().chain(payload_violations).collect();
                Err(EbmsError::new(
                    ErrorCode::Other,
                    format!("the XHE is not valid: {}", list(&all)),
                )
                .into())
            }
            PayloadKind::Receipt => self.take_receipt(rt, &doc, &xhe, model),
        }
    }

    /// Transportmodell Bas: taken only where the node is configured to (not in qa and prod by default), and
    /// only as the model has it — neither signed nor encrypted, so nothing here claims a security it lacks.
    fn in_base(&self, xhe: &Xhe) -> Result<(), NotTaken> {
        if !self.config.node.accepts_tm_base() {
            return Err(EbmsError::not_serviced(&xhe.to).into());
        }
        if xhe.signatures > 0 || xhe.payload.encrypted() {
            return Err(EbmsError::new(
                ErrorCode::ValueInconsistent,
                "an envelope in tm-base is neither signed nor encrypted (its document type names the model)",
            )
            .into());
        }
        Ok(())
    }

    /// TF-10: the XHE must say what the AS4 headers say, and be for an organisation and document type this
    /// node receives.
    fn cross_check(
        &self,
        um: &UserMessage,
        xhe: &Xhe,
    ) -> Result<(PayloadKind, TransportModel), EbmsError> {
        let inconsistent = |what: &str, xhe_value: &str, as4_value: &str| {
            EbmsError::new(
                ErrorCode::ValueInconsistent,
                format!("the XHE {what} {xhe_value:?} is not the AS4 header's {as4_value:?}"),
            )
        };
        if xhe.from != um.original_sender {
            return Err(inconsistent("sender", &xhe.from, &um.original_sender));
        }
        if xhe.to != um.final_recipient {
            return Err(inconsistent("receiver", &xhe.to, &um.final_recipient));
        }
        let action = format!(
            "{}::{}",
            xhe.scope.document_id_scheme, xhe.scope.document_id
        );
        if action != um.action {
            return Err(inconsistent("document type", &action, &um.action));
        }
        if xhe.scope.process_id != um.service {
            return Err(inconsistent("process", &xhe.scope.process_id, &um.service));
        }
        PayloadKind::from_document_type(&xhe.payload.document_type_code)
            .and_then(|k| Some((k, k.transport_model(&xhe.scope.document_id)?)))
            .ok_or_else(|| EbmsError::not_serviced(&xhe.to))
    }

    /// The receiver is an organisation this node hosts, for this document type. An address book that cannot
    /// be read now (a database on the network) is no answer: 503, and the peer retries.
    fn hosted(&self, xhe: &Xhe) -> Result<(), NotTaken> {
        let busy = |e: AddressBookError| {
            NotTaken::Busy(EbmsError::new(
                ErrorCode::Other,
                format!("the address book: {e}"),
            ))
        };
        match self.book.organisation(&xhe.to) {
            Ok(_) => {}
            Err(e @ AddressBookError::Database { .. }) => return Err(busy(e)),
            Err(_) => return Err(EbmsError::not_serviced(&xhe.to).into()),
        }
        // When this node publishes its organisations itself, only what it published is received.
        let to = ParticipantId::parse(&xhe.to).map_err(|_| EbmsError::not_serviced(&xhe.to))?;
        let published = self.book.publications(Some(&to)).map_err(busy)?;
        if !published.is_empty()
            && !published
                .iter()
                .any(|p| p.document_id == xhe.scope.document_id)
        {
            return Err(EbmsError::not_serviced(&xhe.to).into());
        }
        Ok(())
    }

    /// The sender's CertPub signing certificate. CertPub REST binding §3: a receiver looks it up under the
    /// sender's registration for the Meddelandekvittens (in the envelope's transport model), whatever the
    /// envelope carries — an organisation that only sends is registered for receipts alone.
    fn sender_certificate(
        &self,
        rt: &Handle,
        xhe: &Xhe,
    ) -> Result<Option<rustls_pki_types::CertificateDer<'static>>, NotTaken> {
        let model = [PayloadKind::Message, PayloadKind::Receipt]
            .into_iter()
            .find_map(|k| k.transport_model(&xhe.scope.document_id))
            .unwrap_or(TransportModel::BaseExtSigEnc);
        let receipts = PayloadKind::Receipt.document_id(model);
        match rt.block_on(self.lookup(&xhe.from, &receipts)) {
            Ok(meta) => Ok(meta.signing_certificate),
            // Spec §4.2 row 13: a sender unknown to the SMP gets no receipt.
            Err(e @ LookupError::NotRegistered { .. }) => Err(NotTaken::Refused(EbmsError::new(
                ErrorCode::FailedAuthentication,
                format!("the sender: {e}"),
            ))),
            Err(e) => Err(NotTaken::Busy(EbmsError::new(
                ErrorCode::Other,
                format!("cannot check the sender now: {e}"),
            ))),
        }
    }

    fn take_message(
        &self,
        rt: &Handle,
        received: &Received,
        doc: &Doc<'_>,
        xhe: &Xhe,
        content: &[Violation],
        model: TransportModel,
    ) -> Result<(), NotTaken> {
        let um = &received.message;
        let checker = self.checker();
        let pinned;
        let trusted = match model {
            TransportModel::BaseExtSigEnc => {
                pinned = self.sender_certificate(rt, xhe)?.ok_or_else(|| {
                    self.unsigned(
                        doc,
                        xhe,
                        "the sender publishes no signing certificate".into(),
                    )
                })?;
                let policy = self.signer_policy(&checker, &pinned);
                Some(verify_signer(doc, &policy).map_err(|e| {
                    self.unsigned(doc, xhe, format!("Sender signature not validated: {e}"))
                })?)
            }
            // Bas: the sender is the one its access point vouches for, as the model has it.
            TransportModel::Base => None,
        };
        // From here on the sender is who the envelope says.
        self.not_blocked(xhe)?;
        if let Some(existing) = self.received_before(um, xhe)? {
            self.duplicate(um, existing);
            return Ok(());
        }
        let (verdict, payload, message) = match &trusted {
            Some(trusted) => self.judge(doc, trusted, xhe, um, content)?,
            None => self.judge_clear(doc, xhe),
        };
        // XHE profile §2.2: HandlingServiceID is 0..1 and a receiver copes without it; the message names
        // the functional address itself.
        let function = xhe
            .payload
            .handling_service_id
            .clone()
            .or_else(|| message.as_ref().and_then(recipient_function));
        let record = NewMessage {
            id: xhe.id.clone(),
            direction: Direction::Inbound,
            conversation_id: message
                .as_ref()
                .map_or_else(|| xhe.id.clone(), |m| m.header.conversation_id.clone()),
            org: xhe.to.clone(),
            function: function.clone(),
            peer_org: xhe.from.clone(),
            label: message
                .as_ref()
                .and_then(|m| m.header.label.clone())
                .unwrap_or_default(),
            kind: Kind::Message,
        };
        let (receipt, rejected) = match verdict {
            Verdict::Accepted => (Receipt::accepted(&xhe.to, &xhe.from, &xhe.id), None),
            Verdict::Rejected(lines) => {
                let reason = format!(
                    "refused with a REJECTED Meddelandekvittens: {}",
                    describe(&lines)
                );
                (
                    Receipt::rejected(&xhe.to, &xhe.from, &xhe.id, lines),
                    Some(reason),
                )
            }
        };
        // The Meddelandekvittens follows the message's transport model.
        let signed = self.receipt_envelope(receipt, function.as_deref().unwrap_or("NA"), model)?;
        let reply = NewMessage {
            id: signed.0.clone(),
            direction: Direction::Outbound,
            conversation_id: record.conversation_id.clone(),
            org: xhe.to.clone(),
            function,
            peer_org: xhe.from.clone(),
            label: format!("Meddelandekvittens for {}", xhe.id),
            kind: Kind::Receipt,
        };
        let inserted = self
            .store
            .receive(Inbound {
                message: record,
                payload: &payload,
                as4_message_id: &um.message_id,
                rejected,
                reply: Some(Reply {
                    message: reply,
                    payload: signed.1.as_bytes(),
                    next_attempt: OffsetDateTime::now_utc(),
                    expires: self.expiry(),
                }),
            })
            .map_err(|e| {
                NotTaken::Busy(EbmsError::new(ErrorCode::Other, format!("storing: {e}")))
            })?;
        match inserted {
            Inserted::New => self.wake.notify_one(),
            Inserted::Duplicate { existing } => self.duplicate(um, existing),
        }
        Ok(())
    }

    /// The same AS4 message again (its receipt was lost): acknowledged, not delivered twice.
    fn duplicate(&self, um: &UserMessage, existing: String) {
        Metrics::count(&self.metrics.duplicates);
        self.record(Event {
            message_id: Some(existing),
            peer_ap: Some(um.from.id.clone()),
            ..Node::event(
                "as4.duplicate",
                "ok",
                (ActorKind::PeerAp, &um.from.id),
                format!(
                    "AS4 message {} received again: acknowledged, not delivered twice",
                    cap(&um.message_id)
                ),
            )
        });
    }

    /// An envelope whose signature is not its sender's: refused with EBMS:0101 and no Meddelandekvittens
    /// (its sender is only claimed, and a receipt would let anyone make this node write to any participant).
    /// What is kept of it is bounded: its digest and headers in the audit record, and the envelope itself
    /// under `refused/` only when it is small.
    fn unsigned(&self, doc: &Doc<'_>, xhe: &Xhe, why: String) -> NotTaken {
        let source = doc.source().as_bytes();
        let hex = hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, source).as_ref());
        let kept = self.keep_refused(&hex, source);
        NotTaken::Refused(EbmsError::new(
            ErrorCode::FailedAuthentication,
            format!(
                "the XHE {} from {} to {}: {}; envelope sha256 {hex}, {} bytes, {kept}",
                cap(&xhe.id),
                cap(&xhe.from),
                cap(&xhe.to),
                cap(&why),
                source.len()
            ),
        ))
    }

    /// Keeps a refused envelope under `refused/<sha256>.xhe` when `[limits] refused_envelope_bytes` allows.
    fn keep_refused(&self, hex: &str, source: &[u8]) -> String {
        let limit = self.config.limits.refused_envelope_bytes;
        if source.len() as u64 > limit {
            return format!("not kept (larger than the {limit} bytes kept)");
        }
        use crate::pki::fsutil::{create_private_dir, write_atomic};
        let dir = self.data_dir.join("refused");
        let kept = create_private_dir(&dir)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                let count = std::fs::read_dir(&dir).map_or(0, Iterator::count);
                if count >= REFUSED_KEPT {
                    return Err(format!("refused/ already holds {REFUSED_KEPT} envelopes"));
                }
                write_atomic(&dir.join(format!("{hex}.xhe")), source, true)
                    .map_err(|e| e.to_string())
            });
        match kept {
            Ok(()) => format!("kept as refused/{hex}.xhe"),
            Err(e) => format!("not kept ({e})"),
        }
    }

    /// Refuses a sender that reached the open-failure threshold, until its window passes.
    fn not_blocked(&self, xhe: &Xhe) -> Result<(), NotTaken> {
        match self
            .guard
            .blocked_until(&xhe.from, OffsetDateTime::now_utc(), self.threshold())
        {
            None => Ok(()),
            Some(until) => Err(EbmsError::new(
                ErrorCode::FailedAuthentication,
                format!(
                    "SENDER_BLOCKED: {} is refused until {until}: too many of its envelopes could not be \
                     opened or reused a content key",
                    cap(&xhe.from)
                ),
            )
            .into()),
        }
    }

    fn threshold(&self) -> Threshold {
        Threshold {
            limit: self.config.limits.open_failures_per_sender,
            window: self.config.limits.open_failure_window(),
        }
    }

    /// Counts a failure against the sender; the one that reaches the threshold is audited.
    fn failed(&self, xhe: &Xhe, what: &str) {
        if self
            .guard
            .fail(&xhe.from, OffsetDateTime::now_utc(), self.threshold())
        {
            Metrics::count(&self.metrics.senders_blocked);
            self.record(Event {
                org: Some(xhe.to.clone()),
                sender: Some(xhe.from.clone()),
                claimed_message_id: Some(xhe.id.clone()),
                ..Node::event(
                    "security.sender-blocked",
                    "refused",
                    (ActorKind::Node, &self.config.node.name),
                    format!(
                        "{} reached {} envelopes that could not be opened or reused a content key within \
                         {} s (the last: {what}); refused until the window passes",
                        cap(&xhe.from),
                        self.config.limits.open_failures_per_sender,
                        self.config.limits.open_failure_window_seconds
                    ),
                )
            });
        }
    }

    /// Whether this envelope was received before. The same AS4 message from the same sender again is a
    /// duplicate (`Some`: the stored id), answered with a receipt and not delivered or decrypted again; its
    /// XHE id or AS4 MessageId in any other envelope is a replay — also after the message was deleted, since
    /// the marks outlive it.
    fn received_before(&self, um: &UserMessage, xhe: &Xhe) -> Result<Option<String>, NotTaken> {
        let keys = id_mark_keys(&xhe.id, &um.message_id);
        let marks = self.store.marks(&keys).map_err(busy)?;
        let mut duplicate = None;
        for mark in marks.into_iter().flatten() {
            if same_envelope(&mark, um, xhe) {
                duplicate = Some(mark.message_id);
            } else {
                return Err(self.replay(format!(
                    "the XHE {} or AS4 MessageId {} was already received in another message",
                    cap(&xhe.id),
                    cap(&um.message_id)
                )));
            }
        }
        Ok(duplicate)
    }

    fn replay(&self, detail: String) -> NotTaken {
        Metrics::count(&self.metrics.replays);
        NotTaken::Refused(EbmsError::new(
            ErrorCode::Other,
            format!("REPLAY: {detail}"),
        ))
    }

    /// Refuses an envelope older than the age window (or dated too far ahead): de-duplication records are
    /// kept only a day longer than the window.
    fn fresh(&self, xhe: &Xhe) -> Result<(), NotTaken> {
        let limits = &self.config.limits;
        let Some(created) = parse_date_time(&xhe.creation_date_time) else {
            return Err(EbmsError::new(
                ErrorCode::InvalidHeader,
                format!(
                    "the XHE CreationDateTime {:?} is not a date and time",
                    cap(&xhe.creation_date_time)
                ),
            )
            .into());
        };
        let now = OffsetDateTime::now_utc();
        if now - created > limits.envelope_max_age() {
            return Err(self.replay(format!(
                "the XHE was created {}, more than {} s ago (envelope_max_age_seconds)",
                cap(&xhe.creation_date_time),
                limits.envelope_max_age_seconds
            )));
        }
        if created - now > limits.envelope_clock_skew() {
            return Err(self.replay(format!(
                "the XHE was created {}, more than {} s ahead of this node's clock",
                cap(&xhe.creation_date_time),
                limits.envelope_clock_skew_seconds
            )));
        }
        Ok(())
    }

    /// Forgets replay marks older than the window plus a day, once an hour.
    fn forget_old_marks(&self) {
        let now = OffsetDateTime::now_utc();
        if !self.guard.forget_due(now, time::Duration::hours(1)) {
            return;
        }
        if let Err(e) = self
            .store
            .forget_marks(now - self.config.limits.replay_memory())
        {
            tracing::error!(error = %e, "forgetting old replay marks");
        }
    }

    /// Takes the mark of a content key (wrapped or unwrapped) for this envelope. A key another envelope
    /// used is refused: a sender makes a fresh key per message, and only a replay or a member re-signing
    /// someone else's ciphertext brings one twice.
    fn first_use(&self, key: String, um: &UserMessage, xhe: &Xhe) -> Result<(), NotTaken> {
        let mark = Mark {
            message_id: xhe.id.clone(),
            sender: xhe.from.clone(),
            as4_message_id: um.message_id.clone(),
            at: OffsetDateTime::now_utc(),
        };
        let earlier = self.store.mark(&[(key, mark)]).map_err(busy)?;
        match earlier.into_iter().flatten().next() {
            Some(m) if !same_envelope(&m, um, xhe) => {
                self.failed(xhe, "a content key used by another message");
                Err(self.replay(format!(
                    "the XHE {} carries a content key another message used",
                    cap(&xhe.id)
                )))
            }
            _ => Ok(()),
        }
    }

    /// Opens the envelope and judges the message inside (spec §4.2). Returns the verdict, what to keep (the
    /// decrypted SDK message, or the envelope itself when it could not be opened) and the message as read,
    /// when it reads.
    fn judge(
        &self,
        doc: &Doc<'_>,
        trusted: &Trusted<'_, '_>,
        xhe: &Xhe,
        um: &UserMessage,
        content: &[Violation],
    ) -> Result<(Verdict, Vec<u8>, Option<Message>), NotTaken> {
        if !xhe.payload.encrypted() {
            // Only a payload in clear lets the envelope rules see the message, so only here do they apply.
            let mut lines = vec![line(
                ReasonCode::Sig,
                "security",
                "NA",
                "the message is not encrypted as its transport model requires".into(),
            )];
            lines.extend(content.iter().filter_map(content_line));
            return Ok((
                Verdict::Rejected(lines),
                doc.source().as_bytes().to_vec(),
                None,
            ));
        }
        // What is public about the encryption: refusing it tells the sender nothing about the plaintext.
        let sealed = Sealed::of_verified(&trusted.verified).map_err(|e| {
            EbmsError::new(ErrorCode::FailedDecryption, format!("the XHE payload: {e}"))
        })?;
        let keys: Vec<&dyn PayloadKey> = self
            .keys
            .o2o_decrypt
            .iter()
            .map(|k| k as &dyn PayloadKey)
            .filter(|k| sealed.check_recipient(*k).is_ok())
            .collect();
        if keys.is_empty() {
            // Spec §5: a payload encrypted for someone else is not answered with a Meddelandekvittens.
            return Err(EbmsError::new(
                ErrorCode::FailedDecryption,
                "the XHE payload is encrypted for a certificate this node has no key for",
            )
            .into());
        }
        // Before any private-key operation: a wrapped key seen in another envelope is refused.
        let wrapped = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, sealed.wrapped_key());
        self.first_use(format!("wrapped:{}", hex(wrapped.as_ref())), um, xhe)?;
        let unwrapped = keys
            .iter()
            .find_map(|k| sealed.unwrap_with(*k).ok().map(|ck| (ck, *k)));
        let content_key = match unwrapped {
            Some((content_key, key)) => {
                let hash = key.keyed_hash(content_key.as_bytes());
                self.first_use(format!("cek:{}", hex(&hash)), um, xhe)?;
                content_key
            }
            // Decrypting with a random key makes a key that does not unwrap fail where, and as, a damaged
            // ciphertext does.
            None => sealed.random_key(),
        };
        let Ok(decrypted) = sealed.open(&content_key) else {
            return Ok(self.not_opened(doc, xhe));
        };
        Ok(self
            .judge_payload(decrypted.payload, xhe)
            .unwrap_or_else(|| self.not_opened(doc, xhe)))
    }

    /// Judges a message received in Transportmodell Bas: its SDK message is in the envelope, in clear.
    fn judge_clear(&self, doc: &Doc<'_>, xhe: &Xhe) -> (Verdict, Vec<u8>, Option<Message>) {
        let payload = crate::envelope::rules::sdk::plain_payload(doc.root())
            .map(|inner| inner.to_standalone_xml().into_bytes());
        let Some(payload) = payload else {
            return (
                Verdict::Rejected(vec![line(
                    ReasonCode::Sv,
                    "structure",
                    "NA",
                    "the envelope carries no SDK message".into(),
                )]),
                doc.source().as_bytes().to_vec(),
                None,
            );
        };
        self.judge_payload(payload, xhe).unwrap_or_else(|| {
            (
                Verdict::Rejected(vec![line(
                    ReasonCode::Sv,
                    "structure",
                    "NA",
                    "the SDK message is not an SDK message".into(),
                )]),
                doc.source().as_bytes().to_vec(),
                None,
            )
        })
    }

    /// The verdict on an SDK message in clear (decrypted, or carried so): its size, its rules and its
    /// envelope's. `None` when it is not a message at all.
    fn judge_payload(
        &self,
        payload: Vec<u8>,
        xhe: &Xhe,
    ) -> Option<(Verdict, Vec<u8>, Option<Message>)> {
        let limit = self.config.limits.sdk_message_bytes;
        if payload.len() as u64 > limit {
            let reason = format!(
                "the message is {} bytes, more than the {limit} bytes this node takes",
                payload.len()
            );
            let message = Message::parse(&payload, &Limits::default()).ok();
            return Some((
                Verdict::Rejected(vec![line(ReasonCode::Bv, "too-long", "NA", reason)]),
                payload,
                message,
            ));
        }
        let (verdict, message) = match Message::parse(&payload, &Limits::default()) {
            Ok(message) => (self.business_rules(&message, xhe), Some(message)),
            Err(DocumentError::Invalid { violations, .. }) => {
                (Verdict::Rejected(violation_lines(&violations)), None)
            }
            Err(_) => return None,
        };
        Some((verdict, payload, message))
    }

    /// The one answer to every payload that could not be opened: REJECTED with the fixed SIG reason, the
    /// envelope kept as it came (nothing of the plaintext), a failure counted against the sender.
    fn not_opened(&self, doc: &Doc<'_>, xhe: &Xhe) -> (Verdict, Vec<u8>, Option<Message>) {
        Metrics::count(&self.metrics.open_failures);
        self.failed(xhe, NOT_OPENED);
        (
            Verdict::Rejected(vec![line(
                ReasonCode::Sig,
                "security",
                "NA",
                NOT_OPENED.into(),
            )]),
            doc.source().as_bytes().to_vec(),
            None,
        )
    }

    /// The rules between the message and its envelope, and this node's functional addresses.
    fn business_rules(&self, message: &Message, xhe: &Xhe) -> Verdict {
        let h = &message.header;
        let mut lines = Vec::new();
        let mut check = |ok: bool, detail: &str, at: &str, reason: String| {
            if !ok {
                lines.push(line(ReasonCode::Bv, detail, at, reason));
            }
        };
        check(
            h.message_id == xhe.id,
            "security",
            "/messagePayload/message/messageHeader/messageId",
            "messageId is not identical to the XHE ID".into(),
        );
        check(
            h.recipient.id.extension == xhe.to,
            "security",
            "/messagePayload/message/messageHeader/recipient/recipientID",
            "recipientId is not identical to value in XHE envelope".into(),
        );
        check(
            h.sender.id.extension == xhe.from,
            "invariant",
            "/messagePayload/message/messageHeader/sender/senderID",
            "Wrong or unknown sender-id".into(),
        );
        let function = recipient_function(message).unwrap_or_default();
        let at = "/messagePayload/message/messageHeader/recipient/attention/subOrganization";
        // B1.3.3 §3.2: a HandlingServiceID that is not the message's functional address is "Wrong or unknown
        // xha:HandlingServiceID", BV not-found; one that is missing is no fault (XHE profile §2.2).
        check(
            xhe.payload
                .handling_service_id
                .as_ref()
                .is_none_or(|h| *h == function),
            "not-found",
            at,
            "Wrong or unknown xha:HandlingServiceID".into(),
        );
        let known = self
            .book
            .functions(Some(&xhe.to))
            .map(|fs| fs.iter().any(|f| f.id == function))
            .unwrap_or(false);
        check(
            known,
            "not-found",
            at,
            format!(
                "the functional address {function:?} does not exist at {}",
                xhe.to
            ),
        );
        if let Some(reference) = &h.ref_to_message_id
            && let Ok(earlier) = self.store.get(reference)
        {
            check(
                earlier.status != Status::Rejected,
                "not-supported",
                "/messagePayload/message/messageHeader/refToMessageId",
                "refToMessageId refers to a rejected message".into(),
            );
        }
        if lines.is_empty() {
            Verdict::Accepted
        } else {
            Verdict::Rejected(lines)
        }
    }

    /// The Meddelandekvittens as an XHE in `model`: signed, not encrypted, in Utökad Bas; neither in Bas.
    /// (its id, the envelope).
    fn receipt_envelope(
        &self,
        receipt: Receipt,
        function: &str,
        model: TransportModel,
    ) -> Result<(String, String), NotTaken> {
        let busy = |what: &str, e: String| {
            NotTaken::Busy(EbmsError::new(ErrorCode::Other, format!("{what}: {e}")))
        };
        let xhe = Xhe::for_receipt(receipt, function, &self.federation, model);
        let id = xhe.id.clone();
        let xml = xhe
            .to_xml()
            .map_err(|e| busy("building the receipt", e.to_string()))?;
        if model == TransportModel::Base {
            return Ok((id, xml));
        }
        let doc = crate::xml::parse(&xml, &Limits::default())
            .map_err(|e| busy("the receipt", e.to_string()))?;
        let signed = crate::xmlsec::sign_enveloped(&doc, &self.keys.o2o_sign)
            .map_err(|e| busy("signing the receipt", e.to_string()))?;
        Ok((id, signed))
    }

    /// A Meddelandekvittens for one of our messages: its signature must be the acknowledging organisation's.
    fn take_receipt(
        &self,
        rt: &Handle,
        doc: &Doc<'_>,
        xhe: &Xhe,
        model: TransportModel,
    ) -> Result<(), NotTaken> {
        if model == TransportModel::BaseExtSigEnc {
            let Some(pinned) = self.sender_certificate(rt, xhe)? else {
                return Err(EbmsError::new(
                    ErrorCode::FailedAuthentication,
                    format!(
                        "{} publishes no signing certificate to check its receipt with",
                        xhe.from
                    ),
                )
                .into());
            };
            let checker = self.checker();
            let policy = self.signer_policy(&checker, &pinned);
            verify_signer(doc, &policy).map_err(|e| {
                EbmsError::new(
                    ErrorCode::FailedAuthentication,
                    format!("the Meddelandekvittens signature: {e}"),
                )
            })?;
        }
        let crate::envelope::xhe::PayloadContent::Receipt(receipt) = &xhe.payload.content else {
            return Err(EbmsError::new(
                ErrorCode::Other,
                "a Meddelandekvittens must be carried in clear (signed, not encrypted)",
            )
            .into());
        };
        let (status, reason) = match receipt.response {
            ResponseCode::Accepted => (
                Status::Accepted,
                format!("Meddelandekvittens {} ACCEPTED", receipt.id),
            ),
            ResponseCode::Rejected => (
                Status::Rejected,
                format!(
                    "Meddelandekvittens {} REJECTED: {}",
                    receipt.id,
                    describe(&receipt.lines)
                ),
            ),
        };
        let acknowledged = match self.store.get(&receipt.document_reference) {
            Ok(m)
                if m.message.direction == Direction::Outbound
                    && m.message.org == xhe.to
                    && m.message.peer_org == xhe.from =>
            {
                m
            }
            _ => {
                return Err(EbmsError::new(
                    ErrorCode::ValueInconsistent,
                    format!(
                        "the Meddelandekvittens is for {}, which {} never sent to {}",
                        receipt.document_reference, xhe.to, xhe.from
                    ),
                )
                .into());
            }
        };
        // An unsigned receipt settles only a message that was itself sent unsigned: otherwise any access
        // point could decide the fate of our signed and encrypted messages.
        if model == TransportModel::Base && self.sent_in(&acknowledged.message.id) != Some(model) {
            return Err(EbmsError::new(
                ErrorCode::FailedAuthentication,
                format!(
                    "a Meddelandekvittens in tm-base (unsigned) cannot settle {}, which was sent signed and \
                     encrypted",
                    cap(&receipt.document_reference)
                ),
            )
            .into());
        }
        // The receiving node answers as soon as it has stored the message, so its Meddelandekvittens can
        // overtake our record of its transport receipt. The receipt proves the transport one was given.
        if matches!(
            acknowledged.status,
            Status::Scheduled | Status::ScheduledForResend | Status::Submitted
        ) {
            let _ = self.store.transition(
                &receipt.document_reference,
                Status::WaitingForReceipt,
                Some(format!("delivered: {} sent a Meddelandekvittens", xhe.from)),
            );
        }
        match self
            .store
            .transition(&receipt.document_reference, status, Some(reason))
        {
            // A second copy of the same receipt: the message already has its outcome.
            Ok(_) | Err(StoreError::Transition { .. }) => Ok(()),
            Err(e) => Err(NotTaken::Busy(EbmsError::new(
                ErrorCode::Other,
                format!("storing: {e}"),
            ))),
        }
    }
}

impl Node {
    /// The transport model an outbound message was sent in, read from its stored envelope.
    fn sent_in(&self, id: &str) -> Option<TransportModel> {
        let payload = self.store.payload(id).ok()?;
        let xhe = Xhe::parse(&payload, &Limits::default()).ok()?;
        PayloadKind::Message.transport_model(&xhe.scope.document_id)
    }
}

/// A receipt's reasons on one line: `BV invariant: creationDateTime: …; SIG security: …`.
fn describe(lines: &[LineResponse]) -> String {
    lines
        .iter()
        .map(|l| {
            format!(
                "{} {}: {}",
                l.code.as_str(),
                l.status_reason_code.as_deref().unwrap_or(""),
                l.status_reason
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The functional address a message is for (its recipient's attention subOrganization).
fn recipient_function(message: &Message) -> Option<String> {
    message
        .header
        .recipient
        .attention
        .as_ref()
        .map(|a| a.sub_organization.id.extension.clone())
}

/// The B1.3.3 §5.3 reason (class, detail code) of a rule between a message and its envelope; `None` for a
/// rule of the envelope itself.
fn content_rule(rule: &str) -> Option<(ReasonCode, &'static str)> {
    match rule {
        "SDK-XHE-MSG-ID" | "SDK-XHE-MSG-RECIPIENT" | "SDK-XHE-MSG-FUNCTION" => {
            Some((ReasonCode::Bv, "security"))
        }
        "SDK-XHE-MSG-SENDER" => Some((ReasonCode::Bv, "invariant")),
        _ => None,
    }
}

fn content_line(v: &Violation) -> Option<LineResponse> {
    let (code, detail) = content_rule(&v.rule)?;
    Some(line(
        code,
        detail,
        &v.location,
        format!("{}: {}", v.rule, v.message),
    ))
}

/// Envelopes kept under `refused/` at most: small ones from many senders must not fill the disk either.
const REFUSED_KEPT: usize = 1000;

/// The same envelope as the one that made `mark`: the same XHE id, sender and AS4 MessageId.
fn same_envelope(mark: &Mark, um: &UserMessage, xhe: &Xhe) -> bool {
    mark.message_id == xhe.id && mark.sender == xhe.from && mark.as4_message_id == um.message_id
}

fn busy(e: StoreError) -> NotTaken {
    NotTaken::Busy(EbmsError::new(ErrorCode::Other, format!("storing: {e}")))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// An xs:dateTime: with its offset, or in UTC when it has none.
fn parse_date_time(value: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let value = value.trim();
    OffsetDateTime::parse(value, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{value}Z"), &Rfc3339))
        .ok()
}

fn list(violations: &[Violation]) -> String {
    violations
        .iter()
        .take(10)
        .map(|v| format!("{} at {} ({})", v.rule, v.location, v.message))
        .collect::<Vec<_>>()
        .join("; ")
}
