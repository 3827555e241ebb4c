//! Relay nodes as real processes on loopback, in a generated test federation with a shared SMP: set up a
//! node's data directory (keys, trust, address book, API client, SMP registrations), start it, kill it, and
//! talk to its API over TLS.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sdk_relay::lab::{Cluster, Lab, LabNode, NodeSpec};
use sdk_relay::pki::federation::Federation;
use sdk_relay::pki::https::{self, Answer, Call};
use sdk_relay::pki::{KeyStore, Purpose};
use serde_json::Value;

#[allow(unused_imports)]
pub use sdk_relay::lab::{MESSAGE_DOC, RECEIPT_DOC};

pub const ENV: &str = "node-test";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sdk-relay"))
}

/// A child process killed when dropped.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lab (federation, shared SMP) in a temporary directory, and the runtime the test's API calls use.
pub struct World {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
}

impl Deref for World {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

/// A lab node with the tests' blocking, panicking helpers.
pub struct Node(pub LabNode);

impl Deref for Node {
    type Target = LabNode;
    fn deref(&self) -> &LabNode {
        &self.0
    }
}

impl DerefMut for Node {
    fn deref_mut(&mut self) -> &mut LabNode {
        &mut self.0
    }
}

pub fn free_port() -> u16 {
    sdk_relay::lab::free_port().expect("a free port")
}

/// Runs `sdk-relay smp serve` on a free loopback port for `data_dir`; returns the process and its URL.
pub fn smp_serve(data_dir: &Path) -> (Proc, String) {
    let (child, url) = sdk_relay::lab::start_smp(binary(), data_dir).expect("the SMP starts");
    (Proc(child), url)
}

/// The federation's TLS CA certificates (root and issuing): what API clients trust.
pub fn tls_ca(fed: &Federation) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    sdk_relay::lab::tls_ca(fed).expect("the TLS CAs")
}

impl World {
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
        let lab = Lab::create(dir.path(), binary(), ENV).expect("the lab");
        World {
            lab,
            dir,
            rt: tokio::runtime::Runtime::new().unwrap(),
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
        let spec = NodeSpec {
            name,
            label: name,
            ap_id,
            org,
            functions,
        };
        Node(self.lab.node(&spec, edit).expect("the node's setup"))
    }

    /// `count` nodes of one organisation sharing a fresh PostgreSQL schema (on `SDK_RELAY_TEST_POSTGRES`, or
    /// the local test database) behind an AS4 and an API balancer; set up, not started. The SMP sends peers
    /// to the AS4 balancer.
    pub fn cluster(
        &self,
        name: &str,
        ap_id: &str,
        org: &str,
        functions: &[&str],
        count: usize,
    ) -> Cluster {
        let spec = NodeSpec {
            name,
            label: name,
            ap_id,
            org,
            functions,
        };
        let store = sdk_relay::lab::postgres_store(&sdk_relay::lab::postgres_url());
        self.lab
            .cluster(&spec, count, &store, |_| {})
            .expect("the cluster's setup")
    }

    /// A PEM file of the federation's TLS CAs (root and issuing): what an API client gives as `--ca`.
    pub fn tls_ca_file(&self) -> PathBuf {
        self.lab.tls_ca_file().expect("the TLS CA file")
    }

    /// Registers `node`'s organisation for `doc` in the shared SMP, at `endpoint`.
    pub fn publish(&self, node: &Node, doc: &str, endpoint: &str) {
        self.lab.publish(node, doc, endpoint).expect("smp publish");
    }
}

impl Node {
    /// Starts the node and waits until it says `ready`.
    pub fn start(&mut self) {
        if let Err(e) = self.0.start() {
            panic!("{e}");
        }
    }

    /// SIGTERM, then wait for the exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        self.0.stop().expect("SIGTERM")
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
        rt.block_on(
            self.0
                .call_as(token, method, path, body.map(<[u8]>::to_vec)),
        )
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
pub fn message_to(from: &LabNode, to: &LabNode, label: &str, text: &str) -> Value {
    sdk_relay::lab::Draft {
        from,
        from_function: &from.functions[0],
        to,
        to_function: &to.functions[0],
        label,
        document_name: "Brev",
        text,
    }
    .json()
}

/// Adds a file to the first document of a createMessage body.
pub fn with_file(mut message: Value, name: &str, content_type: &str, bytes: &[u8]) -> Value {
    sdk_relay::lab::attach(&mut message, name, content_type, bytes);
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
        .block_on(https::send(
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
    super::pki::relay_ok(&node.data, &["audit", "list", "--json"])
}
