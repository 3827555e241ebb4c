//! One HTTPS request over rustls and hyper: what the access point uses to send (mutual TLS), what the CLI
//! uses to reach a node's API. A fresh connection per request keeps failure handling simple; the peer's
//! answer is read up to a limit.

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
/// `limit` bytes of answer.
pub async fn send(
    config: Arc<ClientConfig>,
    call: Call<'_>,
    timeout: Duration,
    limit: usize,
) -> Result<Answer, ClientError> {
    let unreachable = |detail: String| ClientError::Unreachable {
        url: call.url.to_owned(),
        detail,
    };
    let uri: hyper::Uri = call
        .url
        .parse()
        .map_err(|_| ClientError::BadUrl(call.url.to_owned()))?;
    if uri.scheme_str() != Some("https") {
        return Err(ClientError::BadUrl(call.url.to_owned()));
    }
    let host = uri
        .host()
        .ok_or_else(|| ClientError::BadUrl(call.url.to_owned()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let name =
        ServerName::try_from(host.clone()).map_err(|_| ClientError::BadUrl(call.url.to_owned()))?;
    let exchange = async {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| unreachable(format!("connect: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| unreachable(format!("TLS: {e}")))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| unreachable(format!("HTTP: {e}")))?;
        tokio::spawn(connection);
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = Request::builder()
            .method(call.method)
            .uri(path)
            .header(hyper::header::HOST, format!("{host}:{port}"));
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(call.body.clone()))
            .map_err(|e| unreachable(format!("request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(format!("HTTP: {e}")))?;
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
            .map_err(|e| unreachable(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok(Answer {
            status,
            content_type,
            location,
            body,
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| unreachable(format!("no answer within {timeout:?}")))?
}
