//! rustls configurations for mutual TLS between access points, built from the key and trust stores.
//!
//! Peers are checked with the same [`Checker`] as every other certificate (chain to the environment's TLS
//! CAs, hard-fail CRLs, key usage), so a TLS peer and an AS4 signature get the same verdicts. Only TLS 1.2 and
//! 1.3 with ECDHE and AES-GCM or ChaCha20-Poly1305 are offered. When keys, trust or CRLs change (any process
//! bumps `pki.generation`), the next `server_config()`/`client_config()` call rebuilds, so a listener that
//! takes a fresh config per connection picks up a rotated key without a restart.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    ServerConfig, SignatureScheme,
};
use time::OffsetDateTime;

use super::check::{Checker, RevocationPolicy, Usage, Verdict};
use super::truststore::{Trust, TrustStore};
use super::{Env, KeyStore, PkiError, Purpose};

/// The crypto provider: aws-lc-rs with the ECDHE + AEAD suites only.
pub fn provider() -> CryptoProvider {
    use aws_lc_rs::cipher_suite::*;
    CryptoProvider {
        cipher_suites: vec![
            TLS13_AES_256_GCM_SHA384,
            TLS13_AES_128_GCM_SHA256,
            TLS13_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        ..aws_lc_rs::default_provider()
    }
}

/// A verdict carried inside a rustls error, so logs say exactly why a peer was refused.
#[derive(Debug)]
pub struct PeerRefused(pub Verdict);

impl fmt::Display for PeerRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer certificate refused: {}", self.0)
    }
}

impl std::error::Error for PeerRefused {}

fn to_rustls_error(verdict: Verdict) -> rustls::Error {
    let e = match verdict {
        Verdict::Expired => CertificateError::Expired,
        Verdict::NotYetValid => CertificateError::NotValidYet,
        Verdict::Revoked => CertificateError::Revoked,
        Verdict::UntrustedIssuer => CertificateError::UnknownIssuer,
        Verdict::RevocationUnknown => CertificateError::UnknownRevocationStatus,
        other => CertificateError::Other(OtherError(Arc::new(PeerRefused(other)))),
    };
    rustls::Error::InvalidCertificate(e)
}

fn at(now: UnixTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(now.as_secs() as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Checks TLS peers (client or server side) with the node's [`Checker`].
#[derive(Debug)]
pub struct PeerVerifier {
    trust: Arc<Trust>,
    env: Env,
    policy: RevocationPolicy,
    provider: Arc<CryptoProvider>,
    hints: Vec<DistinguishedName>,
    /// Whether a client must present a certificate (AS4) or may authenticate otherwise (the API's tokens).
    client_auth_mandatory: bool,
}

impl PeerVerifier {
    pub fn new(trust: Arc<Trust>, env: Env, policy: RevocationPolicy) -> PeerVerifier {
        let hints = trust
            .certs_for(&env, super::Role::Tls)
            .map(|c| DistinguishedName::from(c.info.subject_der.clone()))
            .collect();
        PeerVerifier {
            trust,
            env,
            policy,
            provider: Arc::new(provider()),
            hints,
            client_auth_mandatory: true,
        }
    }

    /// As [`PeerVerifier::new`], asking for a client certificate without requiring one.
    fn optional(trust: Arc<Trust>, env: Env, policy: RevocationPolicy) -> PeerVerifier {
        PeerVerifier {
            client_auth_mandatory: false,
            ..PeerVerifier::new(trust, env, policy)
        }
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        usage: Usage,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let mut chain = vec![end_entity.clone()];
        chain.extend(intermediates.iter().cloned());
        match Checker::new(&self.trust, self.policy).check(&chain, usage, &self.env, at(now)) {
            Verdict::Ok => Ok(()),
            other => Err(to_rustls_error(other)),
        }
    }

    fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn client_auth_mandatory(&self) -> bool {
        self.client_auth_mandatory
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, intermediates, Usage::TlsClient, now)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates, Usage::TlsServer, now)?;
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        cert.verify_is_valid_for_subject_name(server_name)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::NotValidForName))?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

struct Built {
    generation: u64,
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    /// SHA-256 of the certificate the server presents and the client authenticates with.
    certificate_sha256: String,
}

/// The node's TLS configurations, rebuilt when the stores change.
pub struct TlsConfigs {
    data_dir: PathBuf,
    env: Env,
    policy: RevocationPolicy,
    built: ArcSwap<Built>,
    rebuild: Mutex<()>,
}

impl TlsConfigs {
    /// Builds the configurations; fails when there is no active TLS key or it cannot be loaded.
    pub fn load(
        data_dir: &Path,
        env: Env,
        policy: RevocationPolicy,
    ) -> Result<Arc<TlsConfigs>, PkiError> {
        let built = build(data_dir, &env, policy)?;
        Ok(Arc::new(TlsConfigs {
            data_dir: data_dir.to_owned(),
            env,
            policy,
            built: ArcSwap::from_pointee(built),
            rebuild: Mutex::new(()),
        }))
    }

    /// Rebuilds when the stores changed since the last build. On a failed rebuild the previous, working
    /// configuration stays in use and the error is returned for the caller to log.
    pub fn refresh(&self) -> Result<bool, PkiError> {
        let current = super::generation(&self.data_dir);
        if self.built.load().generation == current {
            return Ok(false);
        }
        let _guard = self.rebuild.lock().unwrap_or_else(|p| p.into_inner());
        if self.built.load().generation == current {
            return Ok(false);
        }
        let built = build(&self.data_dir, &self.env, self.policy)?;
        self.built.store(Arc::new(built));
        Ok(true)
    }

    /// The server configuration for the next accepted connection.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let _ = self.refresh();
        self.built.load().server.clone()
    }

    /// The client configuration for the next outgoing connection.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let _ = self.refresh();
        self.built.load().client.clone()
    }

    /// Fingerprint of the certificate currently presented.
    pub fn certificate_sha256(&self) -> String {
        self.built.load().certificate_sha256.clone()
    }
}

fn build(data_dir: &Path, env: &Env, policy: RevocationPolicy) -> Result<Built, PkiError> {
    // Read the generation first: a change that lands while we build triggers another rebuild later.
    let generation = super::generation(data_dir);
    let entry = KeyStore::open(data_dir).signing(Purpose::Tls)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key_der()?));
    let chain: Vec<CertificateDer<'static>> = entry.chain.clone();
    let certificate_sha256 = super::cert::sha256_hex(&chain[0]);
    let trust = Arc::new(TrustStore::open(data_dir).load()?);
    let verifier = Arc::new(PeerVerifier::new(trust, env.clone(), policy));
    let provider = Arc::new(provider());
    let tls_error = |e: rustls::Error| {
        PkiError::State(format!("TLS configuration with key {}: {e}", entry.id()))
    };
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(VERSIONS)
        .map_err(tls_error)?
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(tls_error)?;
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(tls_error)?;
    Ok(Built {
        generation,
        server: Arc::new(server),
        client: Arc::new(client),
        certificate_sha256,
    })
}

/// The protocol versions every configuration here accepts.
const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The server configuration of the organisation API: the node's TLS certificate; a client certificate of
/// the environment's TLS CA is asked for but optional (checked as the AS4 endpoint checks its peers,
/// revocation included; clients without one authenticate with a bearer token).
pub fn api_server_config(
    data_dir: &Path,
    env: &Env,
    policy: RevocationPolicy,
) -> Result<Arc<ServerConfig>, PkiError> {
    let entry = KeyStore::open(data_dir).signing(Purpose::Tls)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key_der()?));
    let trust = Arc::new(TrustStore::open(data_dir).load()?);
    let verifier = Arc::new(PeerVerifier::optional(trust, env.clone(), policy));
    let config = ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(VERSIONS)
        .and_then(|b| {
            b.with_client_cert_verifier(verifier)
                .with_single_cert(entry.chain.clone(), key)
        })
        .map_err(|e| {
            PkiError::State(format!(
                "API TLS configuration with key {}: {e}",
                entry.id()
            ))
        })?;
    Ok(Arc::new(config))
}

/// A client configuration that trusts exactly the CA certificates given (for the CLI talking to a node's
/// API), checking the server's name as usual.
pub fn client_config_with_roots(
    roots: &[CertificateDer<'static>],
) -> Result<Arc<ClientConfig>, PkiError> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store
            .add(root.clone())
            .map_err(|e| PkiError::State(format!("CA certificate: {e}")))?;
    }
    client_trusting(store)
}

/// Where the system keeps its CA certificates (Debian's bundle), unless `SSL_CERT_FILE` says otherwise.
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A client configuration for the public web servers the node reads signed documents from: SMPs (which the
/// SML names as `https://smp…`) and CRL distribution points. Their certificates come from the public web
/// PKI, not the federation's CAs, so they are checked against `ca_file`, else the system's CA certificates.
/// The documents carry their own signatures; TLS keeps a lookup private and its answer unaltered.
pub fn web_client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, PkiError> {
    let path = ca_file.map(Path::to_path_buf).unwrap_or_else(|| {
        std::env::var_os("SSL_CERT_FILE").map_or_else(|| SYSTEM_CA_FILE.into(), Into::into)
    });
    let what = format!("CA certificates for https ({})", path.display());
    let bytes = std::fs::read(&path).map_err(|e| PkiError::State(format!("{what}: {e}")))?;
    let mut store = rustls::RootCertStore::empty();
    // A system bundle may hold a certificate rustls cannot use; the others still count.
    let (added, _unusable) =
        store.add_parsable_certificates(super::cert::read_certificates(&bytes, &what)?);
    if added == 0 {
        return Err(PkiError::State(format!("{what}: no usable CA certificate")));
    }
    client_trusting(store)
}

/// A client configuration (no client certificate) that trusts the CAs in `store`.
fn client_trusting(store: rustls::RootCertStore) -> Result<Arc<ClientConfig>, PkiError> {
    let config = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(VERSIONS)
        .map_err(|e| PkiError::State(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
