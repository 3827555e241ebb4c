//! The SMP over HTTP: a server answering SMP 1.0 GETs from what the node's database publishes, and a client
//! that looks a participant up, verifies the answer and caches it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::CertificateDer;

use super::addressbook::{AddressBook, Publication};
use super::ids::{
    DOCUMENT_SCHEME, ParticipantId, percent_decode, service_group_path, service_metadata_path,
};
use super::smp::{self, ServiceMetadata, SmpError, SmpTrust};
use crate::pki::truststore::Trust;
use crate::pki::{Checker, Env, RevocationPolicy};
use crate::xmlsec::SigningKey;

/// What the server needs: the node's database, the public base URL for ServiceGroup hrefs, and the SMP
/// signing key. The database is opened per request and closed again: redb locks the file while it is open,
/// and `smp publish` from another process must get in between.
pub struct SmpService {
    pub data_dir: PathBuf,
    pub base_url: String,
    pub key: SigningKey,
    /// A process may hold the file open only once: concurrent requests take turns.
    pub opening: std::sync::Mutex<()>,
}

impl SmpService {
    /// The status and body for a GET of `path` (percent-encoded, as received).
    pub fn answer(&self, path: &str) -> (StatusCode, String) {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let decoded: Option<Vec<String>> = segments.iter().map(|s| percent_decode(s)).collect();
        let Some(decoded) = decoded else {
            return (StatusCode::BAD_REQUEST, "bad percent-encoding\n".into());
        };
        let participant =
            match decoded.first().map(|s| ParticipantId::parse(s)) {
                Some(Ok(p)) => p,
                _ => return (
                    StatusCode::NOT_FOUND,
                    "not an SMP path: /iso6523-actorid-upis::<participant>[/services/<document>]\n"
                        .into(),
                ),
            };
        let published = {
            let _turn = self.opening.lock().unwrap_or_else(|p| p.into_inner());
            match AddressBook::open(&self.data_dir).and_then(|b| b.publications(Some(&participant)))
            {
                Ok(p) => p,
                Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
            }
        };
        match decoded.as_slice() {
            [_] if !published.is_empty() => {
                let ids: Vec<&str> = published.iter().map(|p| p.document_id.as_str()).collect();
                (
                    StatusCode::OK,
                    smp::write_service_group(&self.base_url, &participant, &ids),
                )
            }
            [_, services, document] if services == "services" => {
                let document_id = document
                    .strip_prefix(&format!("{DOCUMENT_SCHEME}::"))
                    .unwrap_or(document);
                match published.iter().find(|p| p.document_id == document_id) {
                    Some(p) => match metadata(p)
                        .and_then(|m| smp::write_signed_service_metadata(&m, &self.key))
                    {
                        Ok(xml) => (StatusCode::OK, xml),
                        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
                    },
                    None => (
                        StatusCode::NOT_FOUND,
                        format!("{participant} does not publish {document_id}\n"),
                    ),
                }
            }
            _ => (
                StatusCode::NOT_FOUND,
                format!("{participant} is not registered here\n"),
            ),
        }
    }
}

fn metadata(p: &Publication) -> Result<ServiceMetadata, SmpError> {
    let cert = |b64: &str| -> Result<CertificateDer<'static>, SmpError> {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(CertificateDer::from)
            .map_err(|e| SmpError::Content(format!("stored certificate: {e}")))
    };
    Ok(ServiceMetadata {
        participant: ParticipantId::parse(&p.participant).map_err(SmpError::Content)?,
        document_id: p.document_id.clone(),
        process_id: p.process_id.clone(),
        endpoint_url: p.endpoint_url.clone(),
        ap_certificate: cert(&p.ap_certificate)?,
        signing_certificate: p.signing_certificate.as_deref().map(cert).transpose()?,
        encryption_certificate: p.encryption_certificate.as_deref().map(cert).transpose()?,
    })
}

/// Serves SMP GETs on `listener` until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<SmpService>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let service = service.clone();
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |req: Request<Incoming>| {
                let service = service.clone();
                async move {
                    let (status, body) = if req.method() == hyper::Method::GET {
                        service.answer(req.uri().path())
                    } else {
                        (StatusCode::METHOD_NOT_ALLOWED, "only GET\n".to_owned())
                    };
                    let content_type = if status == StatusCode::OK {
                        "text/xml; charset=UTF-8"
                    } else {
                        "text/plain; charset=UTF-8"
                    };
                    Ok::<_, Infallible>(
                        Response::builder()
                            .status(status)
                            .header("Content-Type", content_type)
                            .body(Full::new(Bytes::from(body)))
                            .unwrap_or_default(),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), handler)
                .await;
        });
    }
}

/// Why a lookup failed: the sender is told about the first, the second is retried.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("{participant} does not receive {document_id} (not registered in the SMP)")]
    NotRegistered {
        participant: String,
        document_id: String,
    },
    #[error("the SMP at {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the SMP answer for {participant} is not acceptable: {error}")]
    Invalid {
        participant: String,
        error: SmpError,
    },
}

/// Looks participants up in an SMP, verifying every answer and caching it for `ttl`.
pub struct SmpClient {
    trust: Arc<Trust>,
    env: Env,
    policy: RevocationPolicy,
    ttl: Duration,
    timeout: Duration,
    cache: Mutex<HashMap<(String, String), (Instant, ServiceMetadata)>>,
    /// CA certificates for https SMPs (else the system's), and the configuration made from them on the
    /// first https lookup.
    ca_file: Option<std::path::PathBuf>,
    web_tls: std::sync::OnceLock<Arc<rustls::ClientConfig>>,
    /// Endpoint transport profile ids taken, in order of preference (`[smp] transport_profiles`).
    transport_profiles: Vec<String>,
}

/// Largest SMP answer read.
const MAX_ANSWER: usize = 1024 * 1024;

impl SmpClient {
    pub fn new(trust: Arc<Trust>, env: Env, ttl: Duration) -> SmpClient {
        SmpClient {
            trust,
            env,
            policy: RevocationPolicy::default(),
            ttl,
            timeout: Duration::from_secs(10),
            cache: Mutex::new(HashMap::new()),
            ca_file: None,
            web_tls: std::sync::OnceLock::new(),
            transport_profiles: smp::DEFAULT_TRANSPORT_PROFILES
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
        }
    }

    /// Checks https SMPs' certificates against the CA certificates in `ca_file` instead of the system's.
    pub fn with_ca_file(mut self, ca_file: Option<std::path::PathBuf>) -> SmpClient {
        self.ca_file = ca_file;
        self
    }

    /// Takes the first endpoint whose transport profile is in `profiles`, in the order given; an empty list
    /// keeps the default ([`smp::DEFAULT_TRANSPORT_PROFILES`]).
    pub fn with_transport_profiles(mut self, profiles: Vec<String>) -> SmpClient {
        if !profiles.is_empty() {
            self.transport_profiles = profiles;
        }
        self
    }

    fn web_tls(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        if let Some(config) = self.web_tls.get() {
            return Ok(config.clone());
        }
        // Only success is kept: a CA file that was missing or unreadable is tried again next time, so fixing
        // it needs no restart.
        let config = crate::pki::tls::web_client_config(self.ca_file.as_deref())
            .map_err(|e| format!("{e} (set [smp] ca_file)"))?;
        Ok(self.web_tls.get_or_init(|| config).clone())
    }

    /// The SignedServiceMetadata of (participant, document) from the SMP at `smp_url`, verified.
    pub async fn lookup(
        &self,
        smp_url: &str,
        participant: &ParticipantId,
        document_id: &str,
    ) -> Result<ServiceMetadata, LookupError> {
        let key = (participant.to_string(), document_id.to_owned());
        if let Ok(cache) = self.cache.lock()
            && let Some((at, meta)) = cache.get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(meta.clone());
        }
        let url = format!(
            "{}{}",
            smp_url.trim_end_matches('/'),
            service_metadata_path(participant, document_id)
        );
        let (status, body) = self.get(&url).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(LookupError::NotRegistered {
                participant: participant.to_string(),
                document_id: document_id.to_owned(),
            });
        }
        if !status.is_success() {
            return Err(LookupError::Unreachable {
                url,
                detail: format!("HTTP {status}"),
            });
        }
        let checker = Checker::new(&self.trust, self.policy);
        let trust = SmpTrust {
            checker: &checker,
            env: &self.env,
            at: time::OffsetDateTime::now_utc(),
        };
        let invalid = |error: SmpError| LookupError::Invalid {
            participant: participant.to_string(),
            error,
        };
        let meta = smp::read_signed_service_metadata_for(&body, &trust, &self.transport_profiles)
            .map_err(invalid)?;
        if &meta.participant != participant || meta.document_id != document_id {
            return Err(invalid(SmpError::Content(format!(
                "the answer is for {} / {}, not what was asked",
                meta.participant, meta.document_id
            ))));
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (Instant::now(), meta.clone()));
        }
        Ok(meta)
    }

    /// The ServiceGroup's document references for `participant`.
    pub async fn service_group(
        &self,
        smp_url: &str,
        participant: &ParticipantId,
    ) -> Result<Vec<String>, LookupError> {
        let url = format!(
            "{}{}",
            smp_url.trim_end_matches('/'),
            service_group_path(participant)
        );
        let (status, body) = self.get(&url).await?;
        match status {
            StatusCode::OK => {
                smp::read_service_group(&body).map_err(|error| LookupError::Invalid {
                    participant: participant.to_string(),
                    error,
                })
            }
            StatusCode::NOT_FOUND => Err(LookupError::NotRegistered {
                participant: participant.to_string(),
                document_id: "(any)".into(),
            }),
            other => Err(LookupError::Unreachable {
                url,
                detail: format!("HTTP {other}"),
            }),
        }
    }

    async fn get(&self, url: &str) -> Result<(StatusCode, Vec<u8>), LookupError> {
        let unreachable = |detail: String| LookupError::Unreachable {
            url: url.to_owned(),
            detail,
        };
        let call = crate::pki::https::Call {
            method: "GET",
            url,
            headers: Vec::new(),
            body: Bytes::new(),
        };
        let answer = crate::pki::https::send_web(|| self.web_tls(), call, self.timeout, MAX_ANSWER)
            .await
            .map_err(|e| match e {
                crate::pki::https::ClientError::Unreachable { detail, .. } => unreachable(detail),
                crate::pki::https::ClientError::BadUrl(_) => {
                    unreachable("an SMP URL is http:// or https://".into())
                }
            })?;
        let status = StatusCode::from_u16(answer.status)
            .map_err(|_| unreachable(format!("HTTP status {}", answer.status)))?;
        Ok((status, answer.body.to_vec()))
    }
}
