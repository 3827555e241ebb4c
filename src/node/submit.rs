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
use crate::xml::Limits;

/// The DOCUMENTID every SDK message is sent as (encrypted and signed).
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
        self.authorise(client, &sender, function.as_deref())?;
        let recipient = h.recipient.id.extension.clone();
        let encryption = self
            .recipient_certificate(&recipient, "/data/attributes/recipient")
            .await?;
        let node = self.clone();
        let client_id = client.id.clone();
        // A refusal is counted in the metrics where the API answers it, like every other.
        tokio::task::spawn_blocking(move || {
            node.seal_and_store(message, function, &encryption, &client_id)
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

    /// The recipient's CertPub encryption certificate from the SMP, its chain checked. A recipient that is not
    /// registered is the client's error (400, naming `field`); an SMP that does not answer is ours (503).
    pub async fn recipient_certificate(
        &self,
        recipient: &str,
        field: &str,
    ) -> Result<CertificateDer<'static>, Problem> {
        let meta = self
            .lookup(recipient, &message_document_id())
            .await
            .map_err(|e| match e {
                LookupError::NotRegistered { .. } => Problem::field(
                    field,
                    format!(
                        "{recipient} does not receive SDK messages: it is not registered in the SMP"
                    ),
                ),
                LookupError::Unreachable { .. } => {
                    Problem::unavailable(format!("{e}; nothing was stored, try again later"))
                }
                LookupError::Invalid { .. } => Problem::unavailable(e.to_string()),
            })?;
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
        encryption: &CertificateDer<'_>,
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
        let xml = Xhe::for_message(message, &self.federation, TransportModel::BaseExtSigEnc)
            .to_xml()
            .map_err(document_problem)?;
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

    /// `POST /v1/xhe`: an organisation with its own message service hands over a sealed envelope.
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
            // The signature must hold before we relay it: a broken envelope would only be refused later.
            crate::xmlsec::verify_enveloped(&doc)
                .map_err(|e| Problem::field("/XHE/Signature", format!("signature: {e}")))?;
            Xhe::read(doc.root())
        };
        if !xhe.payload.encrypted() || xhe.signatures == 0 {
            return Err(Problem::field(
                "/XHE/Payloads",
                "the envelope must be sealed: payload encrypted to the recipient and signed",
            ));
        }
        self.authorise(client, &xhe.from, None)?;
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
