//! Test federations and node data directories for the PKI tests (RSA-2048 keys, to keep tests quick).

use std::path::Path;
use std::process::{Command, Output};

use sdk_relay::pki::federation::{CreateOptions, Federation, IssueOptions};
use sdk_relay::pki::profile::Subject;
use sdk_relay::pki::{Env, KeyAlgorithm, Purpose};
use time::{Duration, OffsetDateTime};

pub fn env(name: &str) -> Env {
    name.parse().expect("valid environment name")
}

/// A fresh test federation for `env_name` in `dir`.
pub fn federation(dir: &Path, env_name: &str) -> Federation {
    Federation::create(
        dir,
        &CreateOptions {
            env: env(env_name),
            key: KeyAlgorithm::Rsa2048,
            crl_base_url: None,
            ca_days: 3650,
        },
    )
    .expect("create federation")
}

/// Trusts every CA of `fed` (under its environment) in `data_dir`, with the current CRLs.
pub fn trust_federation(data_dir: &Path, fed: &Federation) {
    sdk_relay::lab::trust_federation(data_dir, fed).expect("trust the federation");
}

pub fn import_crls(data_dir: &Path, fed: &Federation) {
    sdk_relay::lab::import_crls(data_dir, fed).expect("CRL import");
}

pub fn fast() -> IssueOptions {
    sdk_relay::lab::fast()
}

pub fn subject(cn: &str) -> Subject {
    sdk_relay::lab::subject(cn)
}

/// Issues a certificate for `purpose` and stores it in `data_dir`'s key store. Returns the entry id.
pub fn issue_into(
    data_dir: &Path,
    fed: &Federation,
    purpose: Purpose,
    cn: &str,
    options: &IssueOptions,
) -> String {
    sdk_relay::lab::issue_into(data_dir, fed, purpose, &subject(cn), options).expect("issue")
}

/// Validity that ended ten days ago.
pub fn expired() -> IssueOptions {
    IssueOptions {
        not_before: OffsetDateTime::now_utc() - Duration::days(40),
        days: 30,
        ..fast()
    }
}

/// Validity that starts in ten days.
pub fn not_yet_valid() -> IssueOptions {
    IssueOptions {
        not_before: OffsetDateTime::now_utc() + Duration::days(10),
        ..fast()
    }
}

/// Runs the built binary with `--data-dir`.
pub fn relay(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sdk-relay"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run sdk-relay")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs the binary and insists it succeeded; returns its standard output.
pub fn relay_ok(data_dir: &Path, args: &[&str]) -> String {
    let out = relay(data_dir, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// A TLS acceptor with the TLS certificate and key in the key store at `data` (a node's data directory or a
/// setup directory), asking no client certificate: for test servers that stand in for a node or an SMP.
pub fn tls_acceptor(data: &Path) -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let entry = sdk_relay::pki::KeyStore::open(data)
        .signing(Purpose::Tls)
        .expect("the TLS key");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key_der().expect("its DER")));
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        sdk_relay::pki::tls::provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(entry.chain.clone(), key)
    .expect("a server config");
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}
