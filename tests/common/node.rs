//! Relay nodes as real processes on loopback, in a generated test federation with a shared SMP: set up a
//! node's data directory (keys, trust, address book, API client, SMP registrations), start it, kill it, and
//! talk to its API over TLS.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sdk_relay::pki::federation::Federation;
use sdk_relay::pki::profile::Subject;
use sdk_relay::pki::{KeyStore, Purpose, Role};
use sdk_relay::server::client::{self, Answer, Call};
use serde_json::{Value, json};

use super::pki::{fast, federation, relay_ok, subject, trust_federation};

pub const ENV: &str = "node-test";
pub const MESSAGE_DOC: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";
pub const RECEIPT_DOC: &str = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base-ext-sigenc";

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The federation, the shared SMP and the runtime the test's API calls use.
pub struct World {
    pub dir: tempfile::TempDir,
    pub fed: Federation,
    pub smp_dir: PathBuf,
    pub smp_url: String,
    _smp: Proc,
    pub rt: tokio::runtime::Runtime,
    tls_roots: Arc<rustls::ClientConfig>,
}

/// One node's directory and, while it runs, its process.
pub struct Node {
    pub name: String,
    pub root: PathBuf,
    pub data: PathBuf,
    pub config: PathBuf,
    pub org: String,
    pub functions: Vec<String>,
    pub ap_id: String,
    pub api_port: u16,
    pub as4_port: u16,
    pub token: String,
    pub process: Option<Proc>,
    client: Arc<rustls::ClientConfig>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn pem_file(path: &Path, cert: &rustls_pki_types::CertificateDer<'_>) -> String {
    std::fs::write(
        path,
        sdk_relay::pki::cert::to_pem(std::slice::from_ref(cert)),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn leaf(data: &Path, purpose: Purpose) -> rustls_pki_types::CertificateDer<'static> {
    KeyStore::open(data)
        .signing(purpose)
        .unwrap()
        .leaf()
        .cloned()
        .unwrap()
}

/// Runs `sdk-relay smp serve` on a free loopback port for `data_dir`; returns the process and its URL.
pub fn smp_serve(data_dir: &Path) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdk-relay"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["smp", "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no SMP URL in {line:?}"))
        .to_owned();
    (Proc(child), url)
}

/// The federation's TLS CA certificates (root and issuing): what API clients trust.
pub fn tls_ca(fed: &Federation) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    fed.trust_files()
        .into_iter()
        .filter(|(role, _)| *role == Role::Tls)
        .flat_map(|(_, path)| {
            sdk_relay::pki::read_certificates(&std::fs::read(&path).unwrap(), "tls ca").unwrap()
        })
        .collect()
}

impl World {
    /// A TLS client configuration that trusts the nodes' API certificates (no client certificate).
    pub fn api_client_config(&self) -> Arc<rustls::ClientConfig> {
        self.tls_roots.clone()
    }

    /// Kommun A (one functional address) and Region B (two), set up but not started.
    pub fn pair(&self) -> (Node, Node) {
        let a = self.node(
            "kommun-a",
            "AP0001-SDK-TEST",
            "0203:kommun-a.example.se",
            &["registrator"],
        );
        let b = self.node(
            "region-b",
            "AP0002-SDK-TEST",
            "0203:region-b.example.se",
            &["socialtjanst", "vard"],
        );
        (a, b)
    }

    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let fed = federation(&dir.path().join("fed"), ENV);
        let smp_dir = dir.path().join("smp");
        super::pki::issue_into(&smp_dir, &fed, Purpose::Smp, "SMP0001-SDK-TEST", &fast());
        let (smp, smp_url) = smp_serve(&smp_dir);
        let tls_roots = sdk_relay::pki::tls::client_config_with_roots(&tls_ca(&fed)).unwrap();
        World {
            dir,
            fed,
            smp_dir,
            smp_url,
            _smp: smp,
            rt: tokio::runtime::Runtime::new().unwrap(),
            tls_roots,
        }
    }

    /// A node hosting `org` with `functions`, registered in the SMP for SDK messages and receipts.
    pub fn node(&self, name: &str, ap_id: &str, org: &str, functions: &[&str]) -> Node {
        self.node_with(name, ap_id, org, functions, |_| {})
    }

    /// As [`World::node`], with a chance to change the configuration text.
    pub fn node_with(
        &self,
        name: &str,
        ap_id: &str,
        org: &str,
        functions: &[&str],
        edit: impl FnOnce(&mut String),
    ) -> Node {
        let root = self.dir.path().join(name);
        let data = root.join("data");
        trust_federation(&data, &self.fed);
        super::pki::issue_into(&data, &self.fed, Purpose::Ap, ap_id, &fast());
        let tls_subject = Subject {
            dns_names: vec!["127.0.0.1".into()],
            ..subject("localhost")
        };
        let (key, chain) = self.fed.issue(Purpose::Tls, &tls_subject, &fast()).unwrap();
        KeyStore::open(&data)
            .add(Purpose::Tls, self.fed.env(), &key, &chain)
            .unwrap();
        super::pki::issue_into(&data, &self.fed, Purpose::O2oSign, name, &fast());
        super::pki::issue_into(&data, &self.fed, Purpose::O2oEncrypt, name, &fast());
        let (api_port, as4_port) = (free_port(), free_port());
        let mut text = format!(
            r#"[node]
name = "{name}"
environment = "{ENV}"
data_dir = "data"

[api]
listen = "127.0.0.1:{api_port}"

[as4]
listen = "127.0.0.1:{as4_port}"
public_url = "https://127.0.0.1:{as4_port}/as4"
ap_id = "{ap_id}"

[smp]
url = "{smp}"
cache_seconds = 600

[retry]
first_delay_seconds = 1
max_delay_seconds = 2
expiry_seconds = 600
per_peer = 4
"#,
            smp = self.smp_url
        );
        edit(&mut text);
        let config = root.join("sdk-relay.toml");
        std::fs::write(&config, text).unwrap();
        relay_ok(&data, &["addressbook", "org", "add", org, "--name", name]);
        for f in functions {
            relay_ok(
                &data,
                &["addressbook", "function", "add", org, f, "--name", f],
            );
        }
        let out = relay_ok(&data, &["clients", "add", "--org", org, "--json"]);
        let made: Value = serde_json::from_str(&out).unwrap();
        let token = made["token"].as_str().unwrap().to_owned();
        let node = Node {
            name: name.to_owned(),
            root,
            data,
            config,
            org: org.to_owned(),
            functions: functions.iter().map(|f| f.to_string()).collect(),
            ap_id: ap_id.to_owned(),
            api_port,
            as4_port,
            token,
            process: None,
            client: self.tls_roots.clone(),
        };
        for doc in [MESSAGE_DOC, RECEIPT_DOC] {
            self.publish(&node, doc, &node.as4_url());
        }
        node
    }

    /// A PEM file of the federation's TLS CAs (root and issuing): what an API client gives as `--ca`.
    pub fn tls_ca_file(&self) -> PathBuf {
        let pem = sdk_relay::pki::cert::to_pem(&tls_ca(&self.fed));
        let path = self.dir.path().join("tls-ca.pem");
        std::fs::write(&path, pem).unwrap();
        path
    }

    /// Registers `node`'s organisation for `doc` in the shared SMP, at `endpoint`.
    pub fn publish(&self, node: &Node, doc: &str, endpoint: &str) {
        let d = &node.root;
        let ap = pem_file(&d.join("ap.pem"), &leaf(&node.data, Purpose::Ap));
        let sign = pem_file(&d.join("sign.pem"), &leaf(&node.data, Purpose::O2oSign));
        let enc = pem_file(&d.join("enc.pem"), &leaf(&node.data, Purpose::O2oEncrypt));
        relay_ok(
            &self.smp_dir,
            &[
                "smp",
                "publish",
                &node.org,
                "--document-type",
                doc,
                "--endpoint-url",
                endpoint,
                "--ap-cert",
                &ap,
                "--signing-cert",
                &sign,
                "--encryption-cert",
                &enc,
            ],
        );
    }
}

impl Node {
    pub fn as4_url(&self) -> String {
        format!("https://127.0.0.1:{}/as4", self.as4_port)
    }

    pub fn api_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.api_port)
    }

    /// Starts the node and waits until it says `ready`.
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("node.log"))
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sdk-relay"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line == "ready" => break,
                Some(Ok(_)) => {}
                _ => panic!("{} did not start: {}", self.name, self.log()),
            }
        }
        self.process = Some(Proc(child));
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.0.kill();
            let _ = p.0.wait();
        }
    }

    /// SIGTERM, then wait for the exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut p) = self.process.take() else {
            return true;
        };
        let pid = p.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = p.0.wait().unwrap();
        std::mem::forget(p);
        status.success()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("node.log")).unwrap_or_default()
    }

    /// One API call with this node's token (or `token`).
    pub fn call(
        &self,
        rt: &tokio::runtime::Runtime,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Answer {
        self.call_as(rt, &self.token, method, path, body)
    }

    pub fn call_as(
        &self,
        rt: &tokio::runtime::Runtime,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Answer {
        let url = format!("{}{path}", self.api_url());
        let mut headers = vec![("authorization", format!("Bearer {token}"))];
        if body.is_some() {
            headers.push(("content-type", "application/json".into()));
        }
        rt.block_on(client::send(
            self.client.clone(),
            Call {
                method,
                url: &url,
                headers,
                body: Bytes::from(body.unwrap_or_default().to_vec()),
            },
            Duration::from_secs(120),
            256 * 1024 * 1024,
        ))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log()))
    }

    /// Sends a message through the API; returns the answer.
    pub fn post(&self, rt: &tokio::runtime::Runtime, message: &Value) -> Answer {
        self.call(
            rt,
            "POST",
            "/v1/sdk/messages",
            Some(&serde_json::to_vec(message).unwrap()),
        )
    }

    /// A message's JSON (`data`), by id.
    pub fn message(&self, rt: &tokio::runtime::Runtime, id: &str) -> Value {
        let a = self.call(rt, "GET", &format!("/v1/sdk/messages/{id}"), None);
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        serde_json::from_slice::<Value>(&a.body).unwrap()["data"].clone()
    }

    pub fn status(&self, rt: &tokio::runtime::Runtime, id: &str) -> String {
        self.message(rt, id)["attributes"]["messageStatus"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Every message visible to this node's client (`data` array), optionally filtered (`filter[...]=...`).
    pub fn list(&self, rt: &tokio::runtime::Runtime, query: &str) -> Vec<Value> {
        let path = if query.is_empty() {
            "/v1/sdk/messages".to_owned()
        } else {
            format!("/v1/sdk/messages?{query}")
        };
        let a = self.call(rt, "GET", &path, None);
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        serde_json::from_slice::<Value>(&a.body).unwrap()["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until message `id` has `status` (panics after `timeout` with the history).
    pub fn wait_status(
        &self,
        rt: &tokio::runtime::Runtime,
        id: &str,
        status: &str,
        timeout: Duration,
    ) -> Value {
        let start = Instant::now();
        loop {
            let m = self.message(rt, id);
            if m["attributes"]["messageStatus"] == status {
                return m;
            }
            if start.elapsed() > timeout {
                panic!(
                    "{id} at {}: not {status} after {timeout:?}: {m:#}\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A createMessage body from `from` (a node) to `to` (a node), to its first functional address.
pub fn message_to(from: &Node, to: &Node, label: &str, text: &str) -> Value {
    json!({"data": {"type": "messages", "attributes": {
        "confidentiality": true,
        "label": label,
        "sender": from.org,
        "recipient": to.org,
        "senderAttention": {"subOrganization": {"extension": from.functions[0]}},
        "recipientAttention": {"subOrganization": {"extension": to.functions[0]}},
        "digitalDocument": [{"documentId": "doc-1", "documentName": "Brev", "contentTextBody": [text]}]
    }}})
}

/// Adds a file to the first document of a createMessage body.
pub fn with_file(mut message: Value, name: &str, content_type: &str, bytes: &[u8]) -> Value {
    use base64::Engine;
    let file = json!({"fileName": name, "contentType": content_type,
        "content": base64::engine::general_purpose::STANDARD.encode(bytes)});
    message["data"]["attributes"]["digitalDocument"][0]["contentFiles"] = json!([file]);
    message
}

/// The id in a 201 answer's Location.
pub fn created_id(a: &Answer) -> String {
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    a.location
        .as_deref()
        .and_then(|l| l.rsplit('/').next())
        .expect("Location")
        .to_owned()
}

/// `node`'s key of `purpose`, with its certificate.
pub fn key_of(
    node: &Node,
    purpose: Purpose,
) -> (rcgen::KeyPair, rustls_pki_types::CertificateDer<'static>) {
    let entry = KeyStore::open(&node.data).signing(purpose).unwrap();
    (entry.key_pair().unwrap(), entry.leaf().cloned().unwrap())
}

/// An SDK message from `from` to `to` as the API would build it, sealed by hand: `edit` may change the
/// envelope's XML (with the message in clear) before it is encrypted to `to` and signed with `signer`.
pub fn sealed_xhe_signed_by(
    from: &Node,
    to: &Node,
    signer: &sdk_relay::xmlsec::SigningKey,
    edit: impl FnOnce(String) -> String,
) -> (String, Vec<u8>) {
    use sdk_relay::envelope::Xhe;
    use sdk_relay::envelope::ids::TransportModel;
    let body = serde_json::to_vec(&message_to(from, to, "Handbyggt", "Hej")).unwrap();
    let message = sdk_relay::node::json::read_create(&body).unwrap();
    let id = message.header.message_id.clone();
    let xml = Xhe::for_message(
        message,
        "urn:fdc:digg.se:edelivery:federation:test",
        TransportModel::BaseExtSigEnc,
    )
    .to_xml()
    .unwrap();
    let xml = edit(xml);
    let limits = sdk_relay::xml::Limits::default();
    let doc = sdk_relay::xml::parse(&xml, &limits).unwrap();
    let (_, enc) = key_of(to, Purpose::O2oEncrypt);
    let encrypted = sdk_relay::xmlsec::encrypt_payload(&doc, &enc).unwrap();
    let doc = sdk_relay::xml::parse(&encrypted, &limits).unwrap();
    (
        id,
        sdk_relay::xmlsec::sign_enveloped(&doc, signer)
            .unwrap()
            .into_bytes(),
    )
}

/// As [`sealed_xhe_signed_by`] with `from`'s own signing key.
pub fn sealed_xhe(
    from: &Node,
    to: &Node,
    edit: impl FnOnce(String) -> String,
) -> (String, Vec<u8>) {
    let (pair, cert) = key_of(from, Purpose::O2oSign);
    let signer = sdk_relay::xmlsec::SigningKey::new(&pair, cert).unwrap();
    sealed_xhe_signed_by(from, to, &signer, edit)
}

/// Acts as `from`'s access point: packs `xhe` for `to` (UserMessage changed by `edit`), sends it over mutual
/// TLS with `from`'s TLS key, and returns the answer and what was packed.
pub fn post_as4(
    world: &World,
    from: &Node,
    to: &Node,
    xhe: &[u8],
    edit: impl FnOnce(&mut sdk_relay::as4::ebms::UserMessage),
) -> (Answer, sdk_relay::as4::pack::Packed) {
    use sdk_relay::as4::ebms::UserMessage;
    let mut message = UserMessage::sdk(
        &from.ap_id,
        &to.ap_id,
        MESSAGE_DOC,
        &from.org,
        &to.org,
        "c0ffee00-0000-4000-8000-000000000000",
    );
    message.action = format!("busdox-docid-qns::{MESSAGE_DOC}");
    edit(&mut message);
    let (pair, cert) = key_of(from, Purpose::Ap);
    let signer = sdk_relay::as4::wssec::ApSigner::new(&pair, cert).unwrap();
    let (_, recipient) = key_of(to, Purpose::Ap);
    let packed = sdk_relay::as4::pack::pack(&message, &[xhe], &signer, &recipient).unwrap();
    (send_packed(world, from, to, &packed), packed)
}

/// Sends an already packed message to `to`'s AS4 endpoint with `from`'s TLS key.
pub fn send_packed(
    world: &World,
    from: &Node,
    to: &Node,
    packed: &sdk_relay::as4::pack::Packed,
) -> Answer {
    let tls = sdk_relay::pki::tls::TlsConfigs::load(
        &from.data,
        ENV.parse().unwrap(),
        sdk_relay::pki::RevocationPolicy::default(),
    )
    .unwrap();
    world
        .rt
        .block_on(client::send(
            tls.client_config(),
            Call {
                method: "POST",
                url: &to.as4_url(),
                headers: vec![("content-type", packed.content_type.clone())],
                body: Bytes::from(packed.body.clone()),
            },
            Duration::from_secs(120),
            16 * 1024 * 1024,
        ))
        .unwrap()
}

/// The ebMS error codes in an AS4 answer (empty when it is not an Error signal).
pub fn ebms_errors(a: &Answer) -> Vec<String> {
    sdk_relay::as4::ebms::read_errors(&a.body)
        .unwrap_or_default()
        .into_iter()
        .map(|(code, detail)| format!("{code} {detail}"))
        .collect()
}

/// The audit log of a stopped node, as JSON lines.
pub fn audit_text(node: &Node) -> String {
    let out = super::pki::relay(&node.data, &["audit", "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Peak resident memory of a running node (VmHWM), in MB.
pub fn peak_memory_mb(node: &Node) -> f64 {
    let pid = node.process.as_ref().map(|p| p.0.id()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
