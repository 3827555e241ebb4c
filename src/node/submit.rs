//! The message service, outbound (flow steps 1–2): an API client's message is authorised, built into an XHE,
//! validated, sealed to the recipient's CertPub encryption certificate and signed as the sender, then stored
//! with its queue entry — all before the client hears 201. Nothing is stored when any step fails.

use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use super::Node;
use super::problem::Problem;
use crate::audit::ActorKind;
use crate::directory::addressbook::AddressBookError;
use crate::directory::clients::Client;
use crate::directory::smp_http::LookupError;
use crate::envelope::ids::{PayloadKind, TransportModel};
use crate::envelope::{DocumentError, Message, Xhe};
use crate::pki::Usage;
use crate::store::{Direction, Kind, NewMessage, StoreError, StoredMessage};
use crate::xml::{Doc, Limits};
use crate::xmlsec::{OpenError, verify_signer};

/// The DOCUMENTID of an SDK message sent encrypted and signed (what `/v1/xhe` relays).
pub fn message_document_id() -> String {
    PayloadKind::Message.document_id(TransportModel::BaseExtSigEnc)
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::Exists(id) => Problem::field(
            "/data/attributes/messageId",
            format!("a message with id {id} already exists"),
        ),
        other => Problem::internal(other.to_string()),
    }
}

impl Node {
    /// Sends `message` for `client`: 201 material when it is stored durably, a problem otherwise.
    pub async fn submit(
        self: &Arc<Self>,
        client: &Client,
        message: Message,
    ) -> Result<StoredMessage, Problem> {
        let h = &message.header;
        let sender = h.sender.id.extension.clone();
        let function = h
            .sender
            .attention
            .as_ref()
            .map(|a| a.sub_organization.id.extension.clone());
        // A client granted some functional addresses sends from one of them: leaving senderAttention out
        // would otherwise send as the whole organisation.
        if function.is_none() && !client.functions.is_empty() {
            return Err(Problem::field(
                "/data/attributes/senderAttention/subOrganization/extension",
                format!(
                    "client {} may send only from its functional address(es) {}: name one as senderAttention",
                    client.id,
                    client.functions.join(", ")
                ),
            ));
        }
        self.authorise(client, &sender, function.as_deref())?;
        let recipient = h.recipient.id.extension.clone();
        let field = "/data/attributes/recipient";
        let model = self.config.node.sending_model();
        let encryption = match model {
            TransportModel::BaseExtSigEnc => {
                Some(self.recipient_certificate(&recipient, field).await?)
            }
            // Bas: nothing to encrypt to, but the recipient must take messages in Bas.
            TransportModel::Base => {
                self.registration(&recipient, &PayloadKind::Message.document_id(model), field)
                    .await?;
                None
            }
        };
        let node = self.clone();
        let client_id = client.id.clone();
        // A refusal is counted in the metrics where the API answers it, like every other.
        tokio::task::spawn_blocking(move || {
            node.seal_and_store(message, function, encryption.as_ref(), &client_id)
        })
        .await
        .map_err(|e| Problem::internal(e.to_string()))?
    }

    /// A client may send only as its own organisation and functional addresses, and only for an
    /// organisation this node hosts.
    pub fn authorise(
        &self,
        client: &Client,
        org: &str,
        function: Option<&str>,
    ) -> Result<(), Problem> {
        if !client.may_act_for(org, None) {
            return Err(Problem::forbidden(format!(
                "client {} acts for {}, not for sender {org}",
                client.id, client.org
            )));
        }
        if let Some(f) = function
            && !client.may_act_for(org, Some(f))
        {
            return Err(Problem::forbidden(format!(
                "client {} may not use the functional address {f:?} \
                 (/data/attributes/senderAttention/subOrganization/extension)",
                client.id
            )));
        }
        self.book.organisation(org).map_err(|e| match e {
            AddressBookError::Database { .. } => Problem::unavailable(e.to_string()),
            _ => Problem::forbidden(format!("{org} is not an organisation this node hosts")),
        })?;
        if let Some(f) = function {
            let known = self
                .book
                .functions(Some(org))
                .map_err(|e| Problem::internal(e.to_string()))?;
            if !known.iter().any(|k| k.id == f) {
                return Err(Problem::field(
                    "/data/attributes/senderAttention/subOrganization/extension",
                    format!("{f:?} is not a functional address of {org}"),
                ));
            }
        }
        Ok(())
    }

    /// The recipient's SMP registration for `document_id`. A recipient that is not registered is the client's
    /// error (400, naming `field`); an SMP that does not answer is ours (503).
    async fn registration(
        &self,
        recipient: &str,
        document_id: &str,
        field: &str,
    ) -> Result<crate::directory::ServiceMetadata, Problem> {
        self.lookup(recipient, document_id)
            .await
            .map_err(|e| match e {
                LookupError::NotRegistered { .. } => Problem::field(
                    field,
                    format!(
                        "{recipient} does not receive SDK messages ({document_id}): it is not registered \
                         in the SMP"
                    ),
                ),
                LookupError::Unreachable { .. } => {
                    Problem::unavailable(format!("{e}; nothing was stored, try again later"))
                }
                LookupError::Invalid { .. } => Problem::unavailable(e.to_string()),
            })
    }

    /// The recipient's CertPub encryption certificate from the SMP, its chain checked. A recipient that is not
    /// registered is the client's error (400, naming `field`); an SMP that does not answer is ours (503).
    pub async fn recipient_certificate(
        &self,
        recipient: &str,
        field: &str,
    ) -> Result<CertificateDer<'static>, Problem> {
        let meta = self
            .registration(recipient, &message_document_id(), field)
            .await?;
        let certificate = meta.encryption_certificate.ok_or_else(|| {
            Problem::field(
                field,
                format!("{recipient} publishes no CertPub encryption certificate"),
            )
        })?;
        let verdict = self.checker().check(
            std::slice::from_ref(&certificate),
            Usage::O2oEncrypt,
            &self.env,
            OffsetDateTime::now_utc(),
        );
        if !verdict.is_ok() {
            return Err(Problem::field(
                field,
                format!("{recipient}'s encryption certificate is not acceptable: {verdict}"),
            ));
        }
        Ok(certificate)
    }

    fn seal_and_store(
        &self,
        message: Message,
        function: Option<String>,
        encryption: Option<&CertificateDer<'_>>,
        client_id: &str,
    ) -> Result<StoredMessage, Problem> {
        let h = &message.header;
        let record = NewMessage {
            id: h.message_id.clone(),
            direction: Direction::Outbound,
            conversation_id: h.conversation_id.clone(),
            org: h.sender.id.extension.clone(),
            function,
            peer_org: h.recipient.id.extension.clone(),
            label: h.label.clone().unwrap_or_default(),
            kind: Kind::Message,
        };
        let model = match encryption {
            Some(_) => TransportModel::BaseExtSigEnc,
            None => TransportModel::Base,
        };
        let xml = Xhe::for_message(message, &self.federation, model)
            .to_xml()
            .map_err(document_problem)?;
        let Some(encryption) = encryption else {
            return self.queue(record, xml.as_bytes(), client_id);
        };
        let doc = crate::xml::parse(&xml, &Limits::default())
            .map_err(|e| Problem::internal(format!("our own envelope: {e}")))?;
        let sealed = crate::xmlsec::seal(&doc, &self.keys.o2o_sign, encryption)
            .map_err(|e| Problem::internal(format!("sealing: {e}")))?;
        self.queue(record, sealed.as_bytes(), client_id)
    }

    /// Stores a sealed envelope with its queue entry, due now.
    fn queue(
        &self,
        record: NewMessage,
        sealed: &[u8],
        client_id: &str,
    ) -> Result<StoredMessage, Problem> {
        let id = record.id.clone();
        self.store
            .insert_outbound(record, sealed, OffsetDateTime::now_utc(), self.expiry())
            .map_err(store_problem)?;
        self.record(Node::event(
            "api.message.submitted",
            "ok",
            (ActorKind::ApiClient, client_id),
            format!("message {id} accepted from the API and queued"),
        ));
        self.store.get(&id).map_err(store_problem)
    }

    /// `POST /v1/xhe`: an organisation with its own message service hands over a sealed envelope. It is
    /// relayed only when the client may send as the envelope's FromParty with any of its functional
    /// addresses, and the envelope is signed with this node's active O2O signing certificate — checked before
    /// anything is stored.
    pub async fn submit_xhe(
        self: &Arc<Self>,
        client: &Client,
        bytes: Vec<u8>,
    ) -> Result<StoredMessage, Problem> {
        let xhe = {
            let doc = crate::xml::parse_bytes(&bytes, &Limits::default())
                .map_err(|e| Problem::field("", format!("not XML: {e}")))?;
            let (_, violations) = crate::envelope::check(doc.root()).map_err(document_problem)?;
            if !violations.is_empty() {
                return Err(violations_problem(&violations));
            }
            // Read from the same tree the signature is verified on below, so FromParty is the signed one.
            let xhe = Xhe::read(doc.root());
            if !xhe.payload.encrypted() {
                return Err(Problem::field(
                    "/XHE/Payloads",
                    "the envelope must be sealed: payload encrypted to the recipient and signed",
                ));
            }
            // Who may send is decided before any cryptography is spent on the envelope.
            self.authorise(client, &xhe.from, None)?;
            sealed_sender_scope(client, &xhe.from)?;
            if xhe.scope.document_id != message_document_id() {
                return Err(Problem::field(
                    "/XHE/Header/BusinessScope",
                    format!(
                        "document type {} is not the SDK message type this node relays ({})",
                        xhe.scope.document_id,
                        message_document_id()
                    ),
                ));
            }
            self.verify_own_signature(&doc, &xhe.from)?;
            xhe
        };
        self.recipient_certificate(&xhe.to, "/XHE/Header/ToParty")
            .await?;
        let record = NewMessage {
            id: xhe.id.clone(),
            direction: Direction::Outbound,
            conversation_id: xhe.id.clone(),
            org: xhe.from.clone(),
            function: None,
            peer_org: xhe.to.clone(),
            label: String::new(),
            kind: Kind::Message,
        };
        let node = self.clone();
        let client_id = client.id.clone();
        tokio::task::spawn_blocking(move || node.queue(record, &bytes, &client_id))
            .await
            .map_err(|e| Problem::internal(e.to_string()))?
    }

    /// The envelope must be signed with this node's active O2O signing certificate, the one it signs all its
    /// organisations' envelopes with and publishes in CertPub: an envelope signed with another key would go
    /// out from our access point in `org`'s name and only be refused by the recipient, if at all. The chain is
    /// checked too, as for a peer's envelope, so a revoked or expired certificate is not relayed either.
    fn verify_own_signature(&self, doc: &Doc<'_>, org: &str) -> Result<(), Problem> {
        let own = self.keys.o2o_sign.certificate();
        let checker = self.checker();
        let policy = self.signer_policy(&checker, own);
        let expected = || {
            format!(
                "{org}'s active O2O signing certificate (SHA-256 {})",
                crate::pki::cert::sha256_hex(own)
            )
        };
        match verify_signer(doc, &policy) {
            Ok(_) => Ok(()),
            Err(OpenError::Signature(e)) => {
                Err(Problem::field("/XHE/Signature", format!("signature: {e}")))
            }
            Err(OpenError::NotPinned { found, .. }) => Err(Problem::forbidden(format!(
                "the envelope is signed by {found}, not with {}; this node relays only envelopes \
                 signed with it (/XHE/Signature)",
                expected()
            ))),
            Err(OpenError::Untrusted { subject, verdict }) => {
                // The chain is checked before the pin, so this may be our own certificate failing: that is
                // the node's state (a stale CRL, an expired certificate), not the client's mistake.
                let ours = checker.check(
                    std::slice::from_ref(own),
                    Usage::O2oSign,
                    &self.env,
                    OffsetDateTime::now_utc(),
                );
                if !ours.is_ok() {
                    return Err(Problem::unavailable(format!(
                        "{} is not acceptable now: {ours}; nothing was stored",
                        expected()
                    )));
                }
                Err(Problem::forbidden(format!(
                    "the envelope is signed by {subject}, not an acceptable O2O signer ({verdict}); \
                     it must be signed with {} (/XHE/Signature)",
                    expected()
                )))
            }
            // verify_signer does not decrypt; kept apart so a change there cannot pass unnoticed.
            Err(e @ OpenError::Decrypt(_)) => Err(Problem::internal(e.to_string())),
        }
    }
}

/// A sealed envelope names the sender's functional address only inside its payload (the message's
/// senderAttention), which is encrypted to the recipient: this node cannot read it. HandlingServiceID is in
/// clear but names the *recipient's* functional address, in another organisation, so it says nothing about
/// the client's grant. A client limited to some functional addresses could therefore send as any other of
/// its organisation's; such clients are refused here, and only a client for the whole organisation (what an
/// organisation's own message service is) may hand over sealed envelopes.
fn sealed_sender_scope(client: &Client, org: &str) -> Result<(), Problem> {
    if client.functions.is_empty() {
        return Ok(());
    }
    Err(Problem::forbidden(format!(
        "client {} may send only from the functional address(es) {}, and a sealed envelope's sender \
         functional address is inside its encrypted payload, where this node cannot check it; POST /v1/xhe \
         takes envelopes only from a client for all of {org}'s functional addresses (clients add without \
         --function), others send through POST /v1/sdk/messages",
        client.id,
        client.functions.join(", ")
    )))
}

fn violations_problem(violations: &[crate::envelope::Violation]) -> Problem {
    let errors: Vec<_> = violations
        .iter()
        .map(|v| super::json::FieldError {
            pointer: v.location.clone(),
            detail: format!("{}: {}", v.rule, v.message),
        })
        .collect();
    Problem::invalid_fields(&errors)
}

/// A message the builder refused: every violation, with its rule id.
fn document_problem(e: DocumentError) -> Problem {
    match e {
        DocumentError::Invalid { violations, .. } => violations_problem(&violations),
        other => Problem::field("", other.to_string()),
    }
}
