//! The organisation API (the MK side): authenticated by bearer token, each client limited to its own
//! organisation and functional addresses. Handlers take a parsed request and return a [`Reply`]; the
//! `server` module owns the sockets, TLS and size limits.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;
use time::OffsetDateTime;

use super::Node;
use super::json::{message_def, read_create};
use super::problem::{CONTENT_TYPE as PROBLEM, Problem};
use crate::audit::ActorKind;
use crate::clip::{clip_owned, echo};
use crate::directory::clients::Client;
use crate::envelope::Message;
use crate::store::{Direction, Filter, Kind, Status, StoreError, StoredMessage};
use crate::xml::Limits;

/// An HTTP answer from a handler.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub location: Option<String>,
    pub body: Bytes,
}

impl Reply {
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            location: None,
            body: Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        }
    }

    pub fn problem(p: &Problem) -> Reply {
        Reply {
            status: p.status,
            content_type: PROBLEM,
            location: None,
            body: Bytes::from(p.to_json()),
        }
    }

    pub fn text(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            content_type,
            location: None,
            body: Bytes::from(body),
        }
    }
}

/// One API request, as the server read it.
pub struct ApiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub bearer: Option<&'a str>,
    /// SHA-256 of the verified TLS client certificate, when the client presented one.
    pub certificate: Option<&'a str>,
    pub body: Bytes,
}

const VERSION: &str = "sdk api 1.0.0";

/// At most one audit record per this interval about unauthenticated requests.
const UNAUTHENTICATED_RECORD_EVERY: time::Duration = time::Duration::minutes(1);

/// Bytes of the detail of an audit record about a refused request. Such records are written before (or
/// without) authentication, so what the request carries must not decide their size.
const AUDIT_DETAIL: usize = 2048;

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::NotFound(id) => Problem::not_found(format!("no message {id}")),
        StoreError::NotFinal { id, status } => Problem::new(
            409,
            "not-final",
            "Conflict",
            format!("message {id} is {status}: only messages in a final status can be deleted"),
        ),
        StoreError::Transition { id, from, to } => Problem::new(
            409,
            "conflict",
            "Conflict",
            format!("message {id} is {from} and cannot become {to}"),
        ),
        other => Problem::internal(other.to_string()),
    }
}

impl Node {
    /// Who may make this request, decided from its line and headers before its body is read. `Ok(None)`:
    /// `/healthz`, which needs no token; `Err`: the answer, already counted. (`/metrics` and `/readyz` are
    /// on the admin listener, `node::admin`.)
    pub fn api_caller(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        certificate: Option<&str>,
    ) -> Result<Option<Client>, Reply> {
        if (method, path) == ("GET", "/healthz") {
            return Ok(None);
        }
        self.client(bearer, certificate).map(Some).map_err(|p| {
            let now = time::OffsetDateTime::now_utc();
            if let Some(count) = self.guard.unauthenticated(now, UNAUTHENTICATED_RECORD_EVERY) {
                self.record(crate::audit::Event {
                    error: Some(format!("http-{}", p.status)),
                    ..Node::event(
                        "api.unauthorized",
                        "refused",
                        (ActorKind::ApiClient, "unknown"),
                        format!(
                            "{count} request(s) without a valid bearer token or client certificate since \
                             the last such record (at most one per {} s; the latest: {} {})",
                            UNAUTHENTICATED_RECORD_EVERY.whole_seconds(),
                            echo(method),
                            echo(path)
                        ),
                    )
                });
            }
            self.problem_reply(&p)
        })
    }

    /// Routes an organisation API request from `caller` (see [`Node::api_caller`]).
    pub async fn api(self: &Arc<Self>, caller: Option<Client>, request: ApiRequest<'_>) -> Reply {
        if (request.method, request.path) == ("GET", "/healthz") {
            return Reply::json(200, &json!({"status": "ok", "node": self.config.node.name}));
        }
        let client = match caller {
            Some(c) => c,
            None => return self.problem_reply(&Problem::unauthorized()),
        };
        let result = self.route(&client, &request).await;
        match result {
            Ok(reply) => reply,
            Err(p) => {
                self.record(crate::audit::Event {
                    error: Some(format!("http-{}", p.status)),
                    ..Node::event(
                        "api.refused",
                        "refused",
                        (ActorKind::ApiClient, &client.id),
                        clip_owned(
                            format!(
                                "{} {}: {}",
                                echo(request.method),
                                echo(request.path),
                                p.detail
                            ),
                            AUDIT_DETAIL,
                        ),
                    )
                });
                self.problem_reply(&p)
            }
        }
    }

    fn problem_reply(&self, p: &Problem) -> Reply {
        self.metrics.error(&format!("http-{}", p.status));
        Reply::problem(p)
    }

    /// The client a bearer token names, or else the one registered for the TLS client certificate.
    fn client(&self, bearer: Option<&str>, certificate: Option<&str>) -> Result<Client, Problem> {
        let found = match (bearer, certificate) {
            (Some(token), _) => self.book.authenticate(token),
            (None, Some(sha256)) => self.book.authenticate_certificate(sha256),
            (None, None) => return Err(Problem::unauthorized()),
        };
        match found {
            Ok(Some(client)) => Ok(client),
            Ok(None) => Err(Problem::unauthorized()),
            Err(e) => Err(Problem::internal(e.to_string())),
        }
    }

    async fn route(
        self: &Arc<Self>,
        client: &Client,
        r: &ApiRequest<'_>,
    ) -> Result<Reply, Problem> {
        let segments: Vec<&str> = r.path.trim_matches('/').split('/').collect();
        match (r.method, segments.as_slice()) {
            ("POST", ["v1", "sdk", "messages"]) => {
                let message = read_create(&r.body).map_err(|e| Problem::invalid_request(&e))?;
                let stored = self.submit(client, message).await?;
                self.wake.notify_one();
                Ok(self.created(&stored))
            }
            ("POST", ["v1", "xhe"]) => {
                let stored = self.submit_xhe(client, r.body.to_vec()).await?;
                self.wake.notify_one();
                Ok(self.created(&stored))
            }
            ("GET", ["v1", "sdk", "messages"]) => {
                let query = r.query.to_owned();
                self.blocking(client, move |node, client| node.list(client, &query))
                    .await
            }
            ("GET", ["v1", "sdk", "messages", id]) => {
                let id = (*id).to_owned();
                self.blocking(client, move |node, client| node.show(client, &id))
                    .await
            }
            ("DELETE", ["v1", "sdk", "messages", id]) => {
                let id = (*id).to_owned();
                self.blocking(client, move |node, client| {
                    node.visible(client, &id)?;
                    node.store.delete(&id).map_err(store_problem)?;
                    Ok(Reply::text(204, "text/plain", String::new()))
                })
                .await
            }
            ("GET", ["v1", "queue"]) => {
                self.blocking(client, |node, client| node.queue_list(client))
                    .await
            }
            ("POST", ["v1", "queue", id, action @ ("retry" | "drop")]) => {
                let (id, action) = ((*id).to_owned(), (*action).to_owned());
                self.blocking(client, move |node, client| {
                    node.queue_action(client, &id, &action)
                })
                .await
            }
            (_, ["v1", ..]) => Err(Problem::not_found(format!(
                "no such operation: {} {}",
                echo(r.method),
                echo(r.path)
            ))),
            _ => Err(Problem::not_found(format!(
                "no such path: {}",
                echo(r.path)
            ))),
        }
    }

    /// Runs a handler that reads or writes the store (file I/O, fsync) on a blocking thread.
    async fn blocking<F>(self: &Arc<Self>, client: &Client, handler: F) -> Result<Reply, Problem>
    where
        F: FnOnce(&Node, &Client) -> Result<Reply, Problem> + Send + 'static,
    {
        let (node, client) = (self.clone(), client.clone());
        tokio::task::spawn_blocking(move || handler(&node, &client))
            .await
            .unwrap_or_else(|e| Err(Problem::internal(format!("the request's work failed: {e}"))))
    }

    fn created(&self, stored: &StoredMessage) -> Reply {
        let location = format!("/v1/sdk/messages/{}", stored.message.id);
        let mut reply = Reply::json(
            201,
            &json!({"meta": {"version": VERSION}, "links": {"self": location}, "data": message_def(stored, None)}),
        );
        reply.location = Some(location);
        reply
    }

    /// The message, when this client may see it (its organisation, and its functional addresses).
    fn visible(&self, client: &Client, id: &str) -> Result<StoredMessage, Problem> {
        let stored = self.store.get(id).map_err(store_problem)?;
        let m = &stored.message;
        // Someone else's message is "not found": its existence is not the client's business.
        if !client.may_act_for(&m.org, m.function.as_deref()) {
            return Err(Problem::not_found(format!("no message {id}")));
        }
        Ok(stored)
    }

    fn show(&self, client: &Client, id: &str) -> Result<Reply, Problem> {
        let stored = self.visible(client, id)?;
        let content = (stored.message.direction == Direction::Inbound)
            .then(|| self.store.payload(id).ok())
            .flatten()
            .and_then(|bytes| Message::parse(&bytes, &Limits::default()).ok());
        let location = format!("/v1/sdk/messages/{id}");
        Ok(Reply::json(
            200,
            &json!({"meta": {"version": VERSION}, "links": {"self": location}, "data": message_def(&stored, content.as_ref())}),
        ))
    }

    fn list(&self, client: &Client, query: &str) -> Result<Reply, Problem> {
        let mut filter = Filter {
            org: Some(client.org.clone()),
            ..Filter::default()
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(key);
            let value = percent_decode(value);
            match key.as_str() {
                "filter[messageStatus]" => {
                    filter.status = Some(Status::parse(&value).ok_or_else(|| {
                        Problem::field(&key, format!("{value:?} is not a message status"))
                    })?);
                }
                "filter[recipientAttention.subOrganization.extension]"
                | "filter[senderAttention.subOrganization.extension]" => {
                    filter.function = Some(value);
                }
                "filter[direction]" => {
                    filter.direction = Some(match value.as_str() {
                        "inbound" => Direction::Inbound,
                        "outbound" => Direction::Outbound,
                        _ => return Err(Problem::field(&key, "must be inbound or outbound")),
                    });
                }
                _ => {
                    return Err(Problem::field(
                        &key,
                        "unknown filter; use filter[messageStatus], filter[direction], \
                         filter[recipientAttention.subOrganization.extension] or \
                         filter[senderAttention.subOrganization.extension]",
                    ));
                }
            }
        }
        let messages = self.store.list(&filter).map_err(store_problem)?;
        // The Meddelandekvittens the node sends for a received message is the MT's, not one the client sent:
        // it stays out of the list (its outcome shows in the sender's status; GET by id still finds it).
        let data: Vec<_> = messages
            .iter()
            .filter(|m| m.message.kind == Kind::Message)
            .filter(|m| client.may_act_for(&m.message.org, m.message.function.as_deref()))
            .map(|m| message_def(m, None))
            .collect();
        Ok(Reply::json(
            200,
            &json!({"meta": {"version": VERSION}, "links": {"self": "/v1/sdk/messages"}, "data": data}),
        ))
    }

    fn queue_list(&self, client: &Client) -> Result<Reply, Problem> {
        let items = self.queued().map_err(store_problem)?;
        let mut out = Vec::new();
        for item in items {
            if let Ok(stored) = self.visible(client, &item.id) {
                out.push(json!({
                    "id": item.id,
                    "status": stored.status,
                    "recipient": stored.message.peer_org,
                    "attempts": item.attempts,
                    "nextAttempt": item.next_attempt.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    "expires": item.expires.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    "lastReason": stored.events.last().and_then(|e| e.reason.clone()),
                }));
            }
        }
        Ok(Reply::json(200, &json!({"data": out})))
    }

    fn queue_action(&self, client: &Client, id: &str, action: &str) -> Result<Reply, Problem> {
        self.visible(client, id)?;
        let stored = if action == "retry" {
            self.store
                .reschedule(
                    id,
                    OffsetDateTime::now_utc(),
                    format!("retry asked by API client {}", client.id),
                )
                .map_err(store_problem)?
        } else {
            self.store
                .transition(
                    id,
                    Status::MessageExchangeError,
                    Some(format!(
                        "dropped from the queue by API client {}",
                        client.id
                    )),
                )
                .map_err(store_problem)?
        };
        self.wake.notify_one();
        Ok(Reply::json(
            200,
            &json!({"data": message_def(&stored, None)}),
        ))
    }

    /// Every queue entry, due or not.
    pub(super) fn queued(&self) -> Result<Vec<crate::store::QueueItem>, StoreError> {
        let far = OffsetDateTime::now_utc() + time::Duration::days(36_500);
        self.store.due(far, usize::MAX)
    }
}

/// `%XX` and `+` decoding for query strings.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_decoded_and_broken_escapes_kept() {
        assert_eq!(
            super::percent_decode("filter%5BmessageStatus%5D"),
            "filter[messageStatus]"
        );
        assert_eq!(super::percent_decode("a+b%2"), "a b%2");
        assert_eq!(super::percent_decode("%zz%e5"), "%zz\u{fffd}");
    }
}
