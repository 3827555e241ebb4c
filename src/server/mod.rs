//! The node's listeners (layer 4): the organisation API on TLS, the AS4 endpoint on mutual TLS and the admin
//! listener (metrics and probes, plain HTTP meant for loopback), HTTP/1.1 through hyper, request size limits,
//! and a graceful stop — on SIGTERM no new connection is taken, requests in progress finish and the outbound
//! worker completes its attempts in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

mod admission;

use crate::as4::spool::Spool;
use crate::node::Node;
use crate::node::api::{ApiRequest, Reply};
use crate::node::deliver::Worker;
use crate::node::problem::Problem;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long in-flight work may take to finish after a stop was asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a client may take to send a request's headers (a slowloris sends one byte at a time).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a request's line and headers may take: an AS4 or API request needs a few kilobytes.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// After a failed accept (out of file descriptors, say), a pause rather than a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {address} ({what}): {detail}")]
    Listen {
        address: String,
        what: &'static str,
        detail: String,
    },
    #[error("TLS: {0}")]
    Tls(String),
}

/// The bound listeners, before they serve.
pub struct Bound {
    api: TcpListener,
    as4: TcpListener,
    admin: Option<TcpListener>,
    pub api_address: SocketAddr,
    pub as4_address: SocketAddr,
    pub admin_address: Option<SocketAddr>,
}

/// Binds both listeners (so the caller can report the addresses before serving).
pub async fn bind(node: &Node) -> Result<Bound, ServerError> {
    let listen = |address: String, what: &'static str| async move {
        TcpListener::bind(&address)
            .await
            .map_err(|e| ServerError::Listen {
                address,
                what,
                detail: e.to_string(),
            })
    };
    let api = listen(node.config.api.listen.clone(), "[api] listen").await?;
    let as4 = listen(node.config.as4.listen.clone(), "[as4] listen").await?;
    let admin = match &node.config.admin {
        Some(admin) => Some(listen(admin.listen.clone(), "[admin] listen").await?),
        None => None,
    };
    let address = |l: &TcpListener, what| {
        l.local_addr().map_err(|e| ServerError::Listen {
            address: String::new(),
            what,
            detail: e.to_string(),
        })
    };
    Ok(Bound {
        api_address: address(&api, "[api] listen")?,
        as4_address: address(&as4, "[as4] listen")?,
        admin_address: admin
            .as_ref()
            .map(|l| address(l, "[admin] listen"))
            .transpose()?,
        api,
        as4,
        admin,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Api,
    As4,
    Admin,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Api => "api",
            Endpoint::As4 => "as4",
            Endpoint::Admin => "admin",
        }
    }
}

/// Serves until `stop` turns true, then drains.
pub async fn serve(
    node: Arc<Node>,
    bound: Bound,
    stop: watch::Receiver<bool>,
) -> Result<(), ServerError> {
    let api_tls = crate::pki::tls::api_server_config(
        node.data_dir(),
        &node.env,
        crate::pki::RevocationPolicy::default(),
    )
    .map_err(|e| ServerError::Tls(e.to_string()))?;
    let worker = tokio::spawn(Worker::new(node.clone()).run(stop.clone()));
    let api = tokio::spawn(accept(
        node.clone(),
        bound.api,
        Endpoint::Api,
        Some(api_tls),
        stop.clone(),
    ));
    let admin = bound.admin.map(|listener| {
        tokio::spawn(accept(
            node.clone(),
            listener,
            Endpoint::Admin,
            None,
            stop.clone(),
        ))
    });
    let as4 = tokio::spawn(accept(node.clone(), bound.as4, Endpoint::As4, None, stop));
    let _ = tokio::join!(api, as4);
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, worker).await;
    Ok(())
}

async fn accept(
    node: Arc<Node>,
    listener: TcpListener,
    endpoint: Endpoint,
    fixed_tls: Option<Arc<ServerConfig>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let admission = admission::Admission::default();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        while connections.try_join_next().is_some() {}
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(listener = endpoint.name(), error = %e, "accept failed; pausing");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Beyond the bounds the connection is closed before any TLS work is spent on it.
        let Ok(ticket) = admission.admit(peer.ip()) else {
            tracing::debug!(peer = %peer, listener = endpoint.name(), "connection refused: over the admission limit");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let node = node.clone();
        let stop = stop.clone();
        if endpoint == Endpoint::Admin {
            connections.spawn(async move {
                let _ticket = ticket;
                serve_connection(node, tcp, endpoint, None, stop).await;
            });
            continue;
        }
        // The AS4 configuration follows the key and trust stores (rotation without restart).
        let config = fixed_tls
            .clone()
            .unwrap_or_else(|| node.tls.server_config());
        connections.spawn(async move {
            let _ticket = ticket;
            let handshake = tokio_rustls::TlsAcceptor::from(config).accept(tcp);
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(tls)) => tls,
                // Peers that fail the handshake are told nothing more; the operator should see why.
                Ok(Err(e)) => {
                    tracing::info!(peer = %peer, listener = endpoint.name(), error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(peer = %peer, listener = endpoint.name(), "TLS handshake timed out");
                    return;
                }
            };
            // A client certificate (already checked by the verifier) names the API client by its hash.
            let certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| crate::pki::cert::sha256_hex(c));
            serve_connection(node, tls, endpoint, certificate, stop).await;
        });
    }
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
}

async fn serve_connection<S>(
    node: Arc<Node>,
    stream: S,
    endpoint: Endpoint,
    certificate: Option<String>,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let node = node.clone();
        let certificate = certificate.clone();
        async move {
            Ok::<_, std::convert::Infallible>(handle(node, endpoint, certificate, request).await)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

fn response(reply: Reply) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(reply.status)
        .header(hyper::header::CONTENT_TYPE, reply.content_type);
    if let Some(location) = reply.location {
        builder = builder.header(hyper::header::LOCATION, location);
    }
    builder
        .body(Full::new(reply.body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Reads the body up to `limit` bytes; `None` when it is larger. A body must arrive within a minute plus a
/// second per MiB of the limit (at least 1 MiB/s for the largest), so a trickle cannot hold a connection.
async fn read_body(body: Incoming, limit: u64) -> Result<Bytes, Option<String>> {
    let patience = Duration::from_secs(60 + limit / (1024 * 1024));
    let collect = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).collect();
    match tokio::time::timeout(patience, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(None),
        Ok(Err(e)) => Err(Some(e.to_string())),
        Err(_) => Err(Some(format!(
            "the body did not arrive within {} s",
            patience.as_secs()
        ))),
    }
}

/// Streams an AS4 body into a spool (memory up to 1 MiB, then an anonymous temporary file), so a message of
/// the largest allowed size costs disk, not memory, while it arrives. The writes run on a blocking thread.
/// `Err(None)`: larger than `limit`; the same patience as [`read_body`].
async fn spool_body(mut body: Incoming, limit: u64) -> Result<Spool, Option<String>> {
    use std::io::Write;
    let patience = Duration::from_secs(60 + limit / (1024 * 1024));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<Spool> {
        let mut spool = Spool::new(crate::as4::spool::DEFAULT_THRESHOLD);
        while let Some(chunk) = rx.blocking_recv() {
            spool.write_all(&chunk)?;
        }
        Ok(spool)
    });
    let receive = async {
        let mut total = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Some(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            total += data.len() as u64;
            if total > limit {
                return Err(None);
            }
            if tx.send(data).await.is_err() {
                return Err(Some("the spool stopped taking the body".to_owned()));
            }
        }
        Ok(())
    };
    let received = match tokio::time::timeout(patience, receive).await {
        Ok(r) => r,
        Err(_) => Err(Some(format!(
            "the body did not arrive within {} s",
            patience.as_secs()
        ))),
    };
    drop(tx);
    let spool = writer
        .await
        .map_err(|e| Some(e.to_string()))?
        .map_err(|e| Some(format!("spooling the body: {e}")));
    received?;
    spool
}

async fn handle(
    node: Arc<Node>,
    endpoint: Endpoint,
    certificate: Option<String>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let header = |name: hyper::header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match endpoint {
        Endpoint::Api => {
            let authorization = header(hyper::header::AUTHORIZATION);
            let bearer = authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .map(str::trim);
            // Who is asking is settled before a byte of the body is read: a stranger's 30 MiB costs nothing.
            let caller =
                match node.api_caller(parts.method.as_str(), &path, bearer, certificate.as_deref())
                {
                    Ok(caller) => caller,
                    Err(reply) => return response(reply),
                };
            let limit = node.config.limits.api_message_bytes;
            let body = match read_body(body, limit).await {
                Ok(b) => b,
                Err(None) => return response(Reply::problem(&Problem::too_large(limit))),
                Err(Some(e)) => return response(Reply::problem(&Problem::field("", e))),
            };
            let reply = node
                .api(
                    caller,
                    ApiRequest {
                        method: parts.method.as_str(),
                        path: &path,
                        query: parts.uri.query().unwrap_or(""),
                        bearer,
                        certificate: certificate.as_deref(),
                        body,
                    },
                )
                .await;
            response(reply)
        }
        Endpoint::Admin => response(node.admin(parts.method.as_str(), &path).await),
        Endpoint::As4 => {
            if parts.method != hyper::Method::POST || path != "/as4" {
                return response(Reply::text(
                    404,
                    "text/plain",
                    "AS4 messages go to POST /as4\n".into(),
                ));
            }
            let limit = node.config.limits.as4_message_bytes;
            let mut spooled = match spool_body(body, limit).await {
                Ok(s) => s,
                Err(None) => {
                    return response(Reply::text(
                        413,
                        "text/plain",
                        format!("AS4 messages to this node are limited to {limit} bytes\n"),
                    ));
                }
                Err(Some(e)) => return response(Reply::text(400, "text/plain", format!("{e}\n"))),
            };
            let content_type = header(hyper::header::CONTENT_TYPE).unwrap_or_default();
            let rt = tokio::runtime::Handle::current();
            let answer = tokio::task::spawn_blocking(move || match spooled.reader() {
                Ok(mut body) => Ok(node.receive_as4(&rt, &content_type, &mut body)),
                Err(e) => Err(format!("reading the spooled body: {e}")),
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|a| a);
            match answer {
                Ok(a) => response(Reply::text(
                    a.status,
                    "application/soap+xml; charset=utf-8",
                    a.body,
                )),
                Err(e) => response(Reply::text(500, "text/plain", format!("{e}\n"))),
            }
        }
    }
}
