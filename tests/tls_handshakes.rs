//! Real TLS handshakes over loopback with the rustls configurations built from the stores: who is let in,
//! who is refused and why, and key rotation under a listener that is never restarted.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use common::pki::*;
use rustls::pki_types::ServerName;
use sdk_relay::pki::federation::Federation;
use sdk_relay::pki::tls::TlsConfigs;
use sdk_relay::pki::{KeyStore, Purpose, RevocationPolicy, cert::sha256_hex};

/// A listener that serves "hello" to every client it accepts and reports each handshake's outcome. It takes
/// a fresh server configuration for every connection, as the node's listener does.
struct Server {
    port: u16,
    outcomes: mpsc::Receiver<Result<(), String>>,
}

fn serve(configs: Arc<TlsConfigs>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let (tx, outcomes) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let conn =
                rustls::ServerConnection::new(configs.server_config()).expect("server connection");
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let outcome = (|| {
                while tls.conn.is_handshaking() {
                    tls.conn
                        .complete_io(&mut tls.sock)
                        .map_err(|e| e.to_string())?;
                }
                tls.write_all(b"hello").map_err(|e| e.to_string())?;
                tls.flush().map_err(|e| e.to_string())?;
                tls.conn.send_close_notify();
                let _ = tls.conn.complete_io(&mut tls.sock);
                Ok(())
            })();
            let _ = tx.send(outcome);
        }
    });
    Server { port, outcomes }
}

/// Connects with the client configuration of `client_node`; returns the server certificate's fingerprint
/// when the server's greeting arrived.
fn connect(server: &Server, client: &TlsConfigs) -> Result<String, String> {
    let conn = rustls::ClientConnection::new(
        client.client_config(),
        ServerName::try_from("localhost").unwrap(),
    )
    .map_err(|e| e.to_string())?;
    let sock = TcpStream::connect(("127.0.0.1", server.port)).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut greeting = Vec::new();
    tls.read_to_end(&mut greeting).map_err(|e| e.to_string())?;
    if greeting != b"hello" {
        return Err(format!("no greeting: {greeting:?}"));
    }
    let peer = tls
        .conn
        .peer_certificates()
        .ok_or("no server certificate")?;
    Ok(sha256_hex(&peer[0]))
}

fn server_outcome(server: &Server) -> Result<(), String> {
    server
        .outcomes
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("server reported the handshake")
}

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    alpha: Federation,
    beta: Federation,
    server_dir: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    let alpha = federation(&root.join("alpha"), "alpha");
    let beta = federation(&root.join("beta"), "beta");
    let server_dir = root.join("server");
    trust_federation(&server_dir, &alpha);
    trust_federation(&server_dir, &beta);
    issue_into(&server_dir, &alpha, Purpose::Tls, "localhost", &fast());
    Setup {
        _tmp: tmp,
        root,
        alpha,
        beta,
        server_dir,
    }
}

/// A client node in `name` with a TLS key from `fed` (issued with `options`) that trusts `alpha`.
fn client(
    s: &Setup,
    name: &str,
    fed: &Federation,
    options: &sdk_relay::pki::federation::IssueOptions,
) -> Arc<TlsConfigs> {
    let dir = s.root.join(name);
    trust_federation(&dir, &s.alpha);
    issue_into(&dir, fed, Purpose::Tls, "client.example", options);
    TlsConfigs::load(&dir, env("alpha"), RevocationPolicy::default()).expect("client configs")
}

fn server_configs(dir: &Path) -> Arc<TlsConfigs> {
    TlsConfigs::load(dir, env("alpha"), RevocationPolicy::default()).expect("server configs")
}

#[test]
fn trusted_client_in_revoked_expired_and_other_environment_clients_out() {
    let s = setup();
    let server = serve(server_configs(&s.server_dir));

    let good = client(&s, "good", &s.alpha, &fast());
    connect(&server, &good).expect("a trusted client is accepted");
    server_outcome(&server).expect("server side accepted");

    let expired_client = client(&s, "expired", &s.alpha, &expired());
    assert!(connect(&server, &expired_client).is_err());
    let refusal = server_outcome(&server).unwrap_err();
    assert!(refusal.contains("Expired"), "{refusal}");

    // TF-03: a client certificate from another environment's TLS CA, even though that CA is trusted for beta.
    let other = client(&s, "other-env", &s.beta, &fast());
    assert!(connect(&server, &other).is_err());
    let refusal = server_outcome(&server).unwrap_err();
    assert!(
        refusal.contains("WrongEnvironment { env: \"beta\" }"),
        "{refusal}"
    );

    // TF-02 over TLS: revoke the good client's certificate; once the server has the new CRL it refuses it,
    // without restarting the listener.
    let good_cert = KeyStore::open(&s.root.join("good"))
        .signing(Purpose::Tls)
        .unwrap();
    s.alpha.revoke(good_cert.leaf().unwrap()).unwrap();
    import_crls(&s.server_dir, &s.alpha);
    assert!(connect(&server, &good).is_err());
    let refusal = server_outcome(&server).unwrap_err();
    assert!(refusal.contains("Revoked"), "{refusal}");
}

#[test]
fn client_refuses_a_server_it_does_not_trust() {
    let s = setup();
    // A server whose TLS key comes from beta: the alpha client must refuse it.
    let beta_server_dir = s.root.join("beta-server");
    trust_federation(&beta_server_dir, &s.alpha);
    issue_into(
        &beta_server_dir,
        &s.beta,
        Purpose::Tls,
        "localhost",
        &fast(),
    );
    let server = serve(server_configs(&beta_server_dir));
    let good = client(&s, "good", &s.alpha, &fast());
    let err = connect(&server, &good).unwrap_err();
    // The client knows only alpha's CAs, so beta's function CA is simply unknown to it.
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[test]
fn activate_and_retire_switch_the_server_key_without_restarting() {
    let s = setup();
    let keys = KeyStore::open(&s.server_dir);
    let first = keys.signing(Purpose::Tls).unwrap();
    let server = serve(server_configs(&s.server_dir));
    let good = client(&s, "good", &s.alpha, &fast());

    assert_eq!(
        connect(&server, &good).unwrap(),
        sha256_hex(first.leaf().unwrap())
    );
    server_outcome(&server).unwrap();

    let second = issue_into(&s.server_dir, &s.alpha, Purpose::Tls, "localhost", &fast());
    assert_eq!(
        connect(&server, &good).unwrap(),
        sha256_hex(first.leaf().unwrap()),
        "a new key waits as `next` until activated"
    );
    server_outcome(&server).unwrap();

    // Activation by another process (the CLI), as an administrator would do it.
    let out = relay(&s.server_dir, &["certs", "activate", &second]);
    assert!(out.status.success(), "{}", stderr(&out));
    let second_leaf = keys.get(&second).unwrap().leaf().unwrap().clone();
    assert_eq!(connect(&server, &good).unwrap(), sha256_hex(&second_leaf));
    server_outcome(&server).unwrap();

    let out = relay(&s.server_dir, &["certs", "retire", first.id()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(connect(&server, &good).unwrap(), sha256_hex(&second_leaf));
    server_outcome(&server).unwrap();
}

/// OpenSSL's client as an independent TLS implementation: what the server offers and demands.
#[test]
fn openssl_client_sees_mutual_tls_with_modern_suites_only() {
    let s = setup();
    let server = serve(server_configs(&s.server_dir));
    let dir = s.root.join("openssl-client");
    std::fs::create_dir_all(&dir).unwrap();
    let (key, chain) = s
        .alpha
        .issue(Purpose::Tls, &subject("client.example"), &fast())
        .unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), sdk_relay::pki::cert::to_pem(&chain)).unwrap();
    let mut cas = std::fs::read(s.alpha.dir().join("tls-root/cert.pem")).unwrap();
    cas.extend(std::fs::read(s.alpha.dir().join("tls-ca/cert.pem")).unwrap());
    std::fs::write(dir.join("ca.pem"), cas).unwrap();

    let s_client = |extra: &[&str], with_cert: bool| {
        let mut cmd = std::process::Command::new("openssl");
        cmd.current_dir(&dir)
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", server.port),
            ])
            .args([
                "-servername",
                "localhost",
                "-CAfile",
                "ca.pem",
                "-verify_return_error",
                "-ign_eof",
            ])
            .args(extra)
            .stdin(std::process::Stdio::null());
        if with_cert {
            cmd.args(["-cert", "cert.pem", "-key", "key.pem"]);
        }
        let out = cmd
            .output()
            .expect("openssl is installed (.ci/run installs it)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (text, server_outcome(&server))
    };

    let (text, outcome) = s_client(&[], true);
    assert!(outcome.is_ok(), "{outcome:?}\n{text}");
    assert!(text.contains("hello"), "{text}");
    assert!(text.contains("TLSv1.3"), "{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");

    let (text, outcome) = s_client(&["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"], true);
    assert!(outcome.is_ok(), "{outcome:?}\n{text}");
    assert!(
        text.contains("hello") && text.contains("ECDHE-RSA-AES256-GCM-SHA384"),
        "{text}"
    );

    // Static RSA key exchange and CBC suites are not offered.
    for cipher in ["AES256-SHA", "AES128-GCM-SHA256", "ECDHE-RSA-AES256-SHA384"] {
        let (text, outcome) = s_client(&["-tls1_2", "-cipher", cipher], true);
        assert!(outcome.is_err(), "{cipher} was accepted:\n{text}");
        assert!(!text.contains("hello"), "{cipher}");
    }

    // Mutual TLS: no client certificate, no connection.
    let (text, outcome) = s_client(&[], false);
    let refusal = outcome.unwrap_err();
    assert!(
        refusal.contains("NoCertificatesPresented") || refusal.contains("certificate"),
        "{refusal}"
    );
    assert!(!text.contains("hello"), "{text}");
}
