//! Connections to the database: the URL, an optional password file, the node's schema as the search path,
//! TLS as configured (rustls on aws-lc-rs, as everywhere else in the node), and a pool of `pool_size`.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use tokio_postgres::config::SslMode;

use crate::store::StoreError;
use crate::store::config::StoreConfig;

fn problem(detail: String) -> StoreError {
    StoreError::Storage(detail)
}

/// The pool for `config` (no connection is made yet).
pub fn pool(config: &StoreConfig) -> Result<Pool, StoreError> {
    let url = config
        .url
        .as_deref()
        .ok_or_else(|| problem("[store] url is not set".into()))?;
    let mut pg: tokio_postgres::Config = url.parse().map_err(|e| {
        problem(format!(
            "[store] url is not a PostgreSQL connection string: {e}"
        ))
    })?;
    if let Some(file) = &config.password_file {
        let password = std::fs::read_to_string(file)
            .map_err(|e| problem(format!("[store] password_file {}: {e}", file.display())))?;
        pg.password(password.trim_end_matches(['\r', '\n']));
    }
    // The schema name is checked by the configuration (letters, digits, '_'), so it needs no quoting here.
    pg.options(format!("-c search_path={}", config.schema));
    pg.application_name("sdk-relay");
    pg.connect_timeout(Duration::from_secs(10));
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = if config.tls == "disable" {
        pg.ssl_mode(SslMode::Disable);
        Manager::from_config(pg, tokio_postgres::NoTls, manager_config)
    } else {
        pg.ssl_mode(SslMode::Require);
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config(config)?);
        Manager::from_config(pg, tls, manager_config)
    };
    Pool::builder(manager)
        .max_size(config.pool_size.max(1) as usize)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(15)))
        .build()
        .map_err(|e| problem(format!("the connection pool: {e}")))
}

fn client_config(config: &StoreConfig) -> Result<rustls::ClientConfig, StoreError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| problem(format!("TLS: {e}")))?;
    // Every value named, so that a value no check caught (a hand-written store.toml) cannot fall through to
    // an unverified connection.
    let built = match (config.tls.as_str(), &config.ca_file) {
        ("verify-full", Some(file)) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
                .map_err(|e| problem(format!("[store] ca_file {}: {e}", file.display())))?
                .collect::<Result<_, _>>()
                .map_err(|e| problem(format!("[store] ca_file {}: {e}", file.display())))?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| problem(format!("[store] ca_file {}: {e}", file.display())))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        ("require", _) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
        ("verify-full", None) => {
            return Err(problem(
                "[store] tls = \"verify-full\" needs ca_file, the CA that issued the database server's certificate"
                    .into(),
            ));
        }
        (other, _) => {
            return Err(problem(format!(
                "[store] tls = {:?} is not verify-full, require or disable",
                crate::clip::echo(other)
            )));
        }
    };
    Ok(built)
}

/// `tls = "require"`: the connection is encrypted and the handshake signed by the key of whatever
/// certificate the server shows, which is not checked (libpq's `sslmode=require`).
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::client_config;
    use crate::store::config::StoreConfig;

    // rustls::ClientConfig has no Debug, so `expect_err` is not available.
    fn refusal(config: &StoreConfig) -> String {
        match client_config(config) {
            Ok(_) => panic!("tls = {:?} was accepted", config.tls),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn only_the_three_named_tls_modes_make_a_connection_config() {
        let with = |tls: &str| StoreConfig {
            tls: tls.into(),
            ..StoreConfig::default()
        };
        assert!(client_config(&with("require")).is_ok());
        // A misspelt mode used to fall through to an encrypted but unverified connection.
        for wrong in ["verify-ful", "VERIFY-FULL", "prefer", ""] {
            let err = refusal(&with(wrong));
            assert!(
                err.contains("is not verify-full, require or disable"),
                "{err}"
            );
        }
        let err = refusal(&with("verify-full"));
        assert!(err.contains("needs ca_file"), "{err}");
    }
}
