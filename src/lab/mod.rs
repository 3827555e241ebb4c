//! A whole SDK federation on one machine: a generated test PKI, an SMP, and relay nodes running as child
//! processes of this binary on loopback. `sdk-relay demo` and `sdk-relay bench` run on it, and so do the
//! integration tests — the same setup an operator would make with the CLI, done by the CLI.

pub mod balancer;
pub mod bench;
mod cluster;
mod draft;
mod node;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;

pub use balancer::Balancer;
pub use cluster::Cluster;
pub use draft::{Draft, attach};
pub use node::{Api, LabNode};

use crate::pki::federation::{CreateOptions, Federation, IssueOptions};
use crate::pki::profile::Subject;
use crate::pki::{KeyAlgorithm, KeyStore, Purpose, Role, TrustStore};

/// The SDK message document type (MessageWithAttachments 3, sealed end to end).
pub const MESSAGE_DOC: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";
/// The Meddelandekvittens document type.
pub const RECEIPT_DOC: &str = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base-ext-sigenc";

/// The environment variable that chooses the store of every lab node: unset or `redb` (the default), or
/// `postgres` — each node then gets a `[store]` section of its own on [`postgres_url`], in a fresh schema, so
/// the node test suites (and `sdk-relay demo`) run unchanged against PostgreSQL.
pub const TEST_STORE_VAR: &str = "SDK_RELAY_TEST_STORE";
/// The environment variable with the PostgreSQL URL for lab nodes; [`DEFAULT_POSTGRES_URL`] without it.
pub const TEST_POSTGRES_VAR: &str = "SDK_RELAY_TEST_POSTGRES";
/// The database `.ci/postgres` creates on the local PostgreSQL.
pub const DEFAULT_POSTGRES_URL: &str =
    "postgresql://sdk_relay_test:sdk_relay_test@127.0.0.1:5432/sdk_relay_test";

/// The PostgreSQL URL for lab nodes: `SDK_RELAY_TEST_POSTGRES`, or the local test database.
pub fn postgres_url() -> String {
    std::env::var(TEST_POSTGRES_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// A `[store]` section on PostgreSQL at `url`, in a new schema of its own (`lab_` and 32 hex digits: a valid
/// unquoted PostgreSQL identifier, 36 of the 63 characters allowed). Nodes given the same section share the
/// store; the node creates the schema. Schemas are left behind for a look after a failed test.
pub fn postgres_store(url: &str) -> String {
    let schema = format!("lab_{}", uuid::Uuid::new_v4().simple());
    // A TOML basic string, escaped by the TOML writer: the URL may hold any character a password can.
    let url = toml::Value::String(url.to_owned());
    format!(
        r#"
[store]
kind = "postgres"
url = {url}
schema = "{schema}"
pool_size = 4
# Loopback only.
tls = "disable"
"#
    )
}

/// The `[store]` section `SDK_RELAY_TEST_STORE` asks for, if any (a fresh schema on every call).
pub fn test_store() -> Result<Option<String>, LabError> {
    let kind = std::env::var(TEST_STORE_VAR).unwrap_or_default();
    match kind.trim() {
        "" | "redb" => Ok(None),
        "postgres" if cfg!(feature = "postgres") => Ok(Some(postgres_store(&postgres_url()))),
        "postgres" => Err(LabError {
            step: format!("{TEST_STORE_VAR}=postgres"),
            detail: "this build has no PostgreSQL store: build with `--features postgres`".into(),
        }),
        other => Err(LabError {
            step: format!("{TEST_STORE_VAR}={other}"),
            detail: "unknown store; use `redb` or `postgres`".into(),
        }),
    }
}

/// Whether a configuration text already has a `[store]` table (set by the caller, which then wins).
fn has_store(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "[store]")
}

/// Why the lab could not be set up or driven: the step, and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {detail}")]
pub struct LabError {
    pub step: String,
    pub detail: String,
}

fn failed<E: std::fmt::Display>(step: impl Into<String>) -> impl FnOnce(E) -> LabError {
    let step = step.into();
    move |e| LabError {
        step,
        detail: e.to_string(),
    }
}

/// One organisation's node, before it is created.
pub struct NodeSpec<'a> {
    /// Directory name and node name (`kommun-a`).
    pub name: &'a str,
    /// The organisation's name in the address book (`Kommun A`).
    pub label: &'a str,
    /// The access point id: the CN of its AP certificate.
    pub ap_id: &'a str,
    /// The organisation's participant id (`0203:…`).
    pub org: &'a str,
    pub functions: &'a [&'a str],
}

/// The federation, the SMP process and where everything lives.
pub struct Lab {
    pub dir: PathBuf,
    pub binary: PathBuf,
    pub fed: Federation,
    pub smp_dir: PathBuf,
    pub smp_url: String,
    smp: Option<Child>,
    tls_roots: Arc<rustls::ClientConfig>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut smp) = self.smp.take() {
            let _ = smp.kill();
            let _ = smp.wait();
        }
    }
}

/// RSA-2048 keys: what SDK's profiles allow and quick to make.
pub fn fast() -> IssueOptions {
    IssueOptions {
        key: KeyAlgorithm::Rsa2048,
        ..IssueOptions::default()
    }
}

/// A subject with only a common name.
pub fn subject(common_name: &str) -> Subject {
    Subject {
        common_name: common_name.to_owned(),
        ..Subject::default()
    }
}

impl Lab {
    /// Creates a test federation for environment `env` in `dir` and starts its SMP with `binary`
    /// (this program: `std::env::current_exe()`).
    pub fn create(dir: &Path, binary: &Path, env: &str) -> Result<Lab, LabError> {
        std::fs::create_dir_all(dir).map_err(failed(format!("creating {}", dir.display())))?;
        let fed = Federation::create(
            &dir.join("federation"),
            &CreateOptions {
                env: env.parse().map_err(failed("the environment name"))?,
                key: KeyAlgorithm::Rsa2048,
                crl_base_url: None,
                ca_days: 3650,
            },
        )
        .map_err(failed("creating the test federation"))?;
        let smp_dir = dir.join("smp");
        issue_into(
            &smp_dir,
            &fed,
            Purpose::Smp,
            &subject("SMP0001-SDK-TEST"),
            &fast(),
        )?;
        let roots = tls_ca(&fed)?;
        let tls_roots = crate::pki::tls::client_config_with_roots(&roots)
            .map_err(failed("the federation's TLS CAs"))?;
        let (smp, smp_url) = start_smp(binary, &smp_dir)?;
        Ok(Lab {
            dir: dir.to_owned(),
            binary: binary.to_owned(),
            fed,
            smp_dir,
            smp_url,
            smp: Some(smp),
            tls_roots,
        })
    }

    /// Sets up a node's data directory and configuration for `spec` (not started): trust in the federation,
    /// AP, TLS and O2O keys, the organisation and its functional addresses, an API client (its token in
    /// [`LabNode::token`]) and its SMP registrations for messages and receipts. `edit` may change the
    /// configuration text. Without a `[store]` section from `edit`, the store is what `SDK_RELAY_TEST_STORE`
    /// says (see [`TEST_STORE_VAR`]).
    pub fn node(
        &self,
        spec: &NodeSpec<'_>,
        edit: impl FnOnce(&mut String),
    ) -> Result<LabNode, LabError> {
        let ports = Ports::free()?;
        self.node_at(spec, ports, &ports.as4_url(), edit)
    }

    /// As [`Lab::node`], listening on `ports`, with `public_url` as its AS4 address (in its configuration and
    /// the SMP): a balancer's, for a node of a cluster.
    fn node_at(
        &self,
        spec: &NodeSpec<'_>,
        ports: Ports,
        public_url: &str,
        edit: impl FnOnce(&mut String),
    ) -> Result<LabNode, LabError> {
        let root = self.dir.join(spec.name);
        let data = root.join("data");
        trust_federation(&data, &self.fed)?;
        issue_into(&data, &self.fed, Purpose::Ap, &subject(spec.ap_id), &fast())?;
        let tls_subject = Subject {
            dns_names: vec!["127.0.0.1".into()],
            ..subject("localhost")
        };
        issue_into(&data, &self.fed, Purpose::Tls, &tls_subject, &fast())?;
        issue_into(
            &data,
            &self.fed,
            Purpose::O2oSign,
            &subject(spec.name),
            &fast(),
        )?;
        issue_into(
            &data,
            &self.fed,
            Purpose::O2oEncrypt,
            &subject(spec.name),
            &fast(),
        )?;
        let mut text = config_text(
            spec,
            self.fed.env().as_str(),
            &self.smp_url,
            ports,
            public_url,
        );
        edit(&mut text);
        if !has_store(&text)
            && let Some(store) = test_store()?
        {
            text.push_str(&store);
        }
        let config = root.join("sdk-relay.toml");
        std::fs::write(&config, text).map_err(failed("writing the configuration"))?;
        self.run(
            &data,
            &["addressbook", "org", "add", spec.org, "--name", spec.label],
        )?;
        for f in spec.functions {
            self.run(
                &data,
                &["addressbook", "function", "add", spec.org, f, "--name", f],
            )?;
        }
        let made = self.run(&data, &["clients", "add", "--org", spec.org, "--json"])?;
        let token = serde_json::from_str::<serde_json::Value>(&made)
            .ok()
            .and_then(|v| v["token"].as_str().map(str::to_owned))
            .ok_or_else(|| LabError {
                step: "adding the API client".into(),
                detail: format!("no token in {made:?}"),
            })?;
        let node = LabNode {
            name: spec.name.to_owned(),
            label: spec.label.to_owned(),
            root,
            data,
            config,
            org: spec.org.to_owned(),
            functions: spec.functions.iter().map(|f| f.to_string()).collect(),
            ap_id: spec.ap_id.to_owned(),
            api_port: ports.api,
            as4_port: ports.as4,
            admin_port: ports.admin,
            token,
            binary: self.binary.clone(),
            client: self.tls_roots.clone(),
            process: None,
        };
        for doc in [MESSAGE_DOC, RECEIPT_DOC] {
            self.publish(&node, doc, public_url)?;
        }
        Ok(node)
    }

    /// Registers `node`'s organisation for `doc` in the SMP, at `endpoint`, with its CertPub certificates.
    pub fn publish(&self, node: &LabNode, doc: &str, endpoint: &str) -> Result<(), LabError> {
        let [ap, sign, enc] = [Purpose::Ap, Purpose::O2oSign, Purpose::O2oEncrypt]
            .map(|purpose| node.certificate_file(purpose));
        let [ap, sign, enc] = [ap?, sign?, enc?].map(|p| p.to_string_lossy().into_owned());
        self.run(
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
        )
        .map(drop)
    }

    /// Runs this binary with `--data-dir data_dir` and `args`; its standard output, or its error.
    pub fn run(&self, data_dir: &Path, args: &[&str]) -> Result<String, LabError> {
        let out = Command::new(&self.binary)
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .output()
            .map_err(failed(format!("running {}", self.binary.display())))?;
        if !out.status.success() {
            return Err(LabError {
                step: format!("sdk-relay {}", args.join(" ")),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A TLS client configuration that trusts the nodes' API certificates (no client certificate).
    pub fn api_client_config(&self) -> Arc<rustls::ClientConfig> {
        self.tls_roots.clone()
    }

    /// Writes the federation's TLS CAs (root and issuing) as PEM: what an API client gives as `--ca`.
    pub fn tls_ca_file(&self) -> Result<PathBuf, LabError> {
        let pem = crate::pki::cert::to_pem(&tls_ca(&self.fed)?);
        let path = self.dir.join("tls-ca.pem");
        std::fs::write(&path, pem).map_err(failed("writing the TLS CA file"))?;
        Ok(path)
    }

    /// Leaves the SMP running when the lab is dropped; its process id.
    pub fn detach(&mut self) -> Option<u32> {
        self.smp.take().map(|c| c.id())
    }
}

/// Runs `sdk-relay smp serve` for `smp_dir` on a free loopback port; the process and its URL.
pub fn start_smp(binary: &Path, smp_dir: &Path) -> Result<(Child, String), LabError> {
    let out = smp_dir.join("smp.out");
    let mut smp = Command::new(binary)
        .arg("--data-dir")
        .arg(smp_dir)
        .args(["smp", "serve", "--listen", "127.0.0.1:0"])
        .stdout(output_file(&out)?)
        .stderr(output_file(&smp_dir.join("smp.log"))?)
        .spawn()
        .map_err(failed(format!("starting {}", binary.display())))?;
    let line = wait_for_line(&out, &mut smp, |l| l.contains("http://")).map_err(|detail| {
        let _ = smp.kill();
        let _ = smp.wait();
        LabError {
            step: "starting the SMP".into(),
            detail,
        }
    })?;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_default()
        .to_owned();
    Ok((smp, url))
}

/// The federation's TLS CA certificates (root and issuing).
pub fn tls_ca(fed: &Federation) -> Result<Vec<CertificateDer<'static>>, LabError> {
    let mut certs = Vec::new();
    for (role, path) in fed.trust_files() {
        if role == Role::Tls {
            certs.extend(read_pem(&path)?);
        }
    }
    Ok(certs)
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, LabError> {
    let bytes = std::fs::read(path).map_err(failed(path.display().to_string()))?;
    crate::pki::read_certificates(&bytes, &path.display().to_string())
        .map_err(failed(path.display().to_string()))
}

/// Trusts every CA of `fed` (under its environment) in `data_dir`, with the current CRLs.
pub fn trust_federation(data_dir: &Path, fed: &Federation) -> Result<(), LabError> {
    let store = TrustStore::open(data_dir);
    for (role, file) in fed.trust_files() {
        let certs = read_pem(&file)?;
        store
            .import(fed.env(), role, &certs)
            .map_err(failed("importing the federation's CAs"))?;
    }
    import_crls(data_dir, fed)
}

/// Imports `fed`'s current CRLs into `data_dir`.
pub fn import_crls(data_dir: &Path, fed: &Federation) -> Result<(), LabError> {
    let store = TrustStore::open(data_dir);
    for crl in fed.crl_files() {
        let bytes = std::fs::read(&crl).map_err(failed(crl.display().to_string()))?;
        store
            .import_crl(&bytes, "crl")
            .map_err(failed("importing the federation's CRLs"))?;
    }
    Ok(())
}

/// Issues a certificate for `purpose` from `fed` and stores it in `data_dir`'s key store; the entry id.
pub fn issue_into(
    data_dir: &Path,
    fed: &Federation,
    purpose: Purpose,
    subject: &Subject,
    options: &IssueOptions,
) -> Result<String, LabError> {
    let step = || format!("issuing the {purpose:?} key for {}", subject.common_name);
    let (key, chain) = fed
        .issue(purpose, subject, options)
        .map_err(failed(step()))?;
    let entry = KeyStore::open(data_dir)
        .add(purpose, fed.env(), &key, &chain)
        .map_err(failed(step()))?;
    Ok(entry.id().to_owned())
}

/// A node's three loopback ports.
#[derive(Debug, Clone, Copy)]
struct Ports {
    api: u16,
    as4: u16,
    admin: u16,
}

impl Ports {
    fn free() -> Result<Ports, LabError> {
        Ok(Ports {
            api: free_port()?,
            as4: free_port()?,
            admin: free_port()?,
        })
    }

    fn as4_url(&self) -> String {
        format!("https://127.0.0.1:{}/as4", self.as4)
    }
}

fn config_text(
    spec: &NodeSpec<'_>,
    env: &str,
    smp_url: &str,
    ports: Ports,
    public_url: &str,
) -> String {
    let name = spec.name;
    let ap_id = spec.ap_id;
    let Ports { api, as4, admin } = ports;
    format!(
        r#"[node]
name = "{name}"
environment = "{env}"
data_dir = "data"

[api]
listen = "127.0.0.1:{api}"

[admin]
listen = "127.0.0.1:{admin}"

[as4]
listen = "127.0.0.1:{as4}"
public_url = "{public_url}"
ap_id = "{ap_id}"

[smp]
url = "{smp_url}"
cache_seconds = 600

[retry]
first_delay_seconds = 1
max_delay_seconds = 2
expiry_seconds = 600
per_peer = 4
"#
    )
}

/// A loopback port nobody listens on now.
/// A loopback port free now, for a process started later. Taken below the kernel's ephemeral range, and
/// never twice by one process: a port the kernel handed out (`bind(0)`) can be taken again meanwhile by any
/// outgoing connection, and a node then fails to start with "Address already in use".
pub fn free_port() -> Result<u16, LabError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    if ephemeral_low <= FIRST + 1000 {
        return std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(failed("finding a free port"));
    }
    let span = ephemeral_low - FIRST;
    // Processes running side by side (test binaries, a bench) start at different places.
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (start + n) % span;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(LabError {
        step: "finding a free port".into(),
        detail: format!("no port between {FIRST} and {ephemeral_low} is free"),
    })
}

fn output_file(path: &Path) -> Result<std::fs::File, LabError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed(parent.display().to_string()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(failed(path.display().to_string()))
}

/// Waits until `file` (a child's standard output, appended to) has a line after `from` bytes that satisfies
/// `wanted`, the child exits, or a minute passes.
fn wait_for_line_after(
    file: &Path,
    from: u64,
    child: &mut Child,
    wanted: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let start = Instant::now();
    loop {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(file) {
            use std::io::Seek;
            let _ = f.seek(std::io::SeekFrom::Start(from));
            let _ = f.read_to_string(&mut text);
        }
        if let Some(line) = text.lines().find(|l| wanted(l)) {
            return Ok(line.to_owned());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited ({status})"));
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err("it did not get ready within a minute".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_for_line(
    file: &Path,
    child: &mut Child,
    wanted: impl Fn(&str) -> bool,
) -> Result<String, String> {
    wait_for_line_after(file, 0, child, wanted)
}

/// The last lines of a log file, for error messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Signals a child process with SIGTERM (`Child::kill` only sends SIGKILL).
fn terminate(child: &Child) -> Result<(), LabError> {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| LabError {
            step: "stopping a process".into(),
            detail: format!("{} is not a process id", child.id()),
        })?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)
        .map_err(failed(format!("stopping process {}", child.id())))
}
