//! The one HTTP client: a request over rustls (or, for signed web resources, plain TCP) and hyper. What the
//! access point sends with (mutual TLS), what the CLI reaches a node's API with, and how SMP answers and
//! CRLs are fetched. A fresh connection per request keeps failure handling simple; the answer is read up to
//! a limit, the whole exchange within a timeout.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

/// Why a request got no HTTP answer: the peer is unreachable, or broke off (worth retrying).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("{0} is not an https:// URL")]
    BadUrl(String),
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub location: Option<String>,
    pub body: Bytes,
}

/// A request to send.
pub struct Call<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

/// Sends `call` over TLS with `config`; waits at most `timeout` for the whole exchange and reads at most
/// `limit` bytes of answer. Only `https://` URLs: access points and the API are never reached in clear.
pub async fn send(
    config: Arc<ClientConfig>,
    call: Call<'_>,
    timeout: Duration,
    limit: usize,
) -> Result<Answer, ClientError> {
    let target = Target::parse(call.url)?;
    if !target.tls {
        return Err(ClientError::BadUrl(call.url.to_owned()));
    }
    exchange(Some(config), &target, call, timeout, limit).await
}

/// [`send`] for web resources that may be `http://` too: SMPs in test federations and CRL distribution points
/// (CRLs and SMP answers are signed, so the channel need not be). `tls` is asked for only for `https://`.
pub async fn send_web(
    tls: impl FnOnce() -> Result<Arc<ClientConfig>, String>,
    call: Call<'_>,
    timeout: Duration,
    limit: usize,
) -> Result<Answer, ClientError> {
    let target = Target::parse(call.url)?;
    let config = if target.tls {
        Some(tls().map_err(|detail| ClientError::Unreachable {
            url: call.url.to_owned(),
            detail,
        })?)
    } else {
        None
    };
    exchange(config, &target, call, timeout, limit).await
}

/// Where a URL points.
struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, ClientError> {
        let bad = || ClientError::BadUrl(url.to_owned());
        let uri: hyper::Uri = url.parse().map_err(|_| bad())?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad()),
        };
        let host = uri
            .host()
            .ok_or_else(bad)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Target {
            tls,
            port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            host,
        })
    }
}

/// One request and its answer on a fresh connection, TLS when `config` is given.
async fn exchange(
    config: Option<Arc<ClientConfig>>,
    target: &Target,
    call: Call<'_>,
    timeout: Duration,
    limit: usize,
) -> Result<Answer, ClientError> {
    let unreachable = |detail: String| ClientError::Unreachable {
        url: call.url.to_owned(),
        detail,
    };
    let exchange = async {
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| unreachable(format!("connect: {e}")))?;
        let _ = tcp.set_nodelay(true);
        match config {
            Some(config) => {
                let name = ServerName::try_from(target.host.clone())
                    .map_err(|_| ClientError::BadUrl(call.url.to_owned()))?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| unreachable(format!("TLS: {e}")))?;
                request(tls, target, &call, limit).await
            }
            None => request(tcp, target, &call, limit).await,
        }
        .map_err(unreachable)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| unreachable(format!("no answer within {timeout:?}")))?
}

async fn request<S>(
    stream: S,
    target: &Target,
    call: &Call<'_>,
    limit: usize,
) -> Result<Answer, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(call.method)
        .uri(target.path.as_str())
        .header(
            hyper::header::HOST,
            format!("{}:{}", target.host, target.port),
        )
        .header(
            hyper::header::USER_AGENT,
            concat!("sdk-relay/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in &call.headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Full::new(call.body.clone()))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = response.status().as_u16();
    let header = |name: hyper::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(hyper::header::CONTENT_TYPE).unwrap_or_default();
    let location = header(hyper::header::LOCATION);
    let body = http_body_util::Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    Ok(Answer {
        status,
        content_type,
        location,
        body,
    })
}
