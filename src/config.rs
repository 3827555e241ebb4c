//! The node's configuration file, `sdk-relay.toml`: written commented by `sdk-relay init`, checked by
//! `sdk-relay config check` and at start, with every problem named by its key and how to fix it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub node: Node,
    pub api: Listener,
    /// `/metrics`, `/healthz` and `/readyz` over plain HTTP without a token; none when absent.
    #[serde(default)]
    pub admin: Option<Listener>,
    pub as4: As4,
    pub smp: Smp,
    #[serde(default)]
    pub retry: Retry,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub store: StoreConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// A name for logs and metrics.
    pub name: String,
    /// The federation environment: `open-test`, `qa`, `prod`, or a test federation's name.
    pub environment: String,
    /// Keys, trust, the database, payloads and the audit log.
    pub data_dir: PathBuf,
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    pub log_format: String,
    /// The transport model this node sends in: `tm-base-ext-sigenc` (the default) or `tm-base`.
    #[serde(default)]
    pub transport_model: Option<String>,
    /// Whether envelopes in Transportmodell Bas (`tm-base`: no O2O signature or encryption) are taken in.
    /// Unset: yes outside `qa` and `prod`, where SDK does not use Bas.
    #[serde(default)]
    pub accept_tm_base: Option<bool>,
}

impl Node {
    /// The transport model this node sends messages in.
    pub fn sending_model(&self) -> crate::envelope::ids::TransportModel {
        use crate::envelope::ids::TransportModel;
        match self.transport_model.as_deref() {
            Some("tm-base") => TransportModel::Base,
            _ => TransportModel::BaseExtSigEnc,
        }
    }

    /// Whether a received envelope in `tm-base` is taken in.
    pub fn accepts_tm_base(&self) -> bool {
        self.accept_tm_base
            .unwrap_or(!matches!(self.environment.as_str(), "qa" | "prod"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub listen: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct As4 {
    pub listen: String,
    /// The URL peers send to, as published in the SMP.
    pub public_url: String,
    /// This access point's id, the CN of its AP certificate (`AP0001-SDK-QA`).
    pub ap_id: String,
    /// How far a peer's signed `wsu:Timestamp` Created may lie in our future before its message or receipt is
    /// refused (EBMS:0103); WSS4J's default future time-to-live is the same 60 s.
    #[serde(default = "default_clock_skew_seconds")]
    pub clock_skew_seconds: u64,
}

fn default_clock_skew_seconds() -> u64 {
    60
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smp {
    /// A fixed SMP for every participant (test federations); or find it through the SML.
    pub url: Option<String>,
    pub sml_zone: Option<String>,
    /// The DNS server for SML lookups (host:port).
    pub dns: Option<String>,
    #[serde(default = "default_cache_seconds")]
    pub cache_seconds: u64,
    /// CA certificates (PEM) for https SMPs; by default the system's (`SSL_CERT_FILE`, or Debian's bundle).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Endpoint transport profile ids taken from an SMP answer, in order of preference.
    #[serde(default = "default_transport_profiles")]
    pub transport_profiles: Vec<String>,
}

fn default_transport_profiles() -> Vec<String> {
    crate::directory::smp::DEFAULT_TRANSPORT_PROFILES
        .iter()
        .map(|p| (*p).to_owned())
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub first_delay_seconds: u64,
    pub max_delay_seconds: u64,
    /// After this, a message that could not be delivered gets MESSAGE_EXCHANGE_ERROR.
    pub expiry_seconds: u64,
    /// Messages sent to one peer at a time.
    pub per_peer: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            first_delay_seconds: 30,
            max_delay_seconds: 900,
            expiry_seconds: 24 * 60 * 60,
            per_peer: 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// SDK messages from the API (SDK: 30 MB).
    pub api_message_bytes: u64,
    /// AS4 messages (SDK: at least 100 MB).
    pub as4_message_bytes: u64,
    /// A received SDK message, decrypted (B1.3.3: 30 MB; larger ones get REJECTED, BV too-long).
    #[serde(default = "default_sdk_message_bytes")]
    pub sdk_message_bytes: u64,
    /// A received XHE whose CreationDateTime is older than this is refused as a replay. De-duplication records
    /// are kept this long plus a day, so anything older than what they remember is refused by its age.
    #[serde(default = "default_envelope_max_age_seconds")]
    pub envelope_max_age_seconds: u64,
    /// How far a peer's clock may run ahead: a CreationDateTime further in the future is refused.
    #[serde(default = "default_envelope_clock_skew_seconds")]
    pub envelope_clock_skew_seconds: u64,
    /// An envelope refused for its signature is kept whole (under `refused/`) only up to this size; larger
    /// ones leave only their digest and headers in the audit log. 0 keeps none.
    #[serde(default = "default_refused_envelope_bytes")]
    pub refused_envelope_bytes: u64,
    /// Envelopes from one organisation that fail to open (or reuse a content key) within the window before
    /// that organisation is refused altogether until the window passes.
    #[serde(default = "default_open_failures_per_sender")]
    pub open_failures_per_sender: u32,
    #[serde(default = "default_open_failure_window_seconds")]
    pub open_failure_window_seconds: u64,
}

fn default_sdk_message_bytes() -> u64 {
    30 * 1024 * 1024
}

fn default_envelope_max_age_seconds() -> u64 {
    7 * 24 * 60 * 60
}

fn default_envelope_clock_skew_seconds() -> u64 {
    15 * 60
}

fn default_refused_envelope_bytes() -> u64 {
    64 * 1024
}

fn default_open_failures_per_sender() -> u32 {
    5
}

fn default_open_failure_window_seconds() -> u64 {
    24 * 60 * 60
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            api_message_bytes: 30 * 1024 * 1024,
            as4_message_bytes: 160 * 1024 * 1024,
            sdk_message_bytes: default_sdk_message_bytes(),
            envelope_max_age_seconds: default_envelope_max_age_seconds(),
            envelope_clock_skew_seconds: default_envelope_clock_skew_seconds(),
            refused_envelope_bytes: default_refused_envelope_bytes(),
            open_failures_per_sender: default_open_failures_per_sender(),
            open_failure_window_seconds: default_open_failure_window_seconds(),
        }
    }
}

impl Limits {
    /// How long de-duplication records outlive the messages they guard: the age window plus a day, so an
    /// envelope is refused by its age before its record can be forgotten.
    pub fn replay_memory(&self) -> time::Duration {
        seconds(self.envelope_max_age_seconds) + time::Duration::days(1)
    }

    pub fn envelope_max_age(&self) -> time::Duration {
        seconds(self.envelope_max_age_seconds)
    }

    pub fn envelope_clock_skew(&self) -> time::Duration {
        seconds(self.envelope_clock_skew_seconds)
    }

    pub fn open_failure_window(&self) -> time::Duration {
        seconds(self.open_failure_window_seconds)
    }
}

fn seconds(s: u64) -> time::Duration {
    time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 4))
}

pub use crate::store::config::StoreConfig;

fn default_log_format() -> String {
    "text".into()
}

fn default_cache_seconds() -> u64 {
    3600
}

/// Everything wrong with a configuration, each naming its key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Syntax { path: PathBuf, detail: String },
    #[error("{path}:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

impl NodeConfig {
    /// Reads and checks `path`; relative data directories are taken relative to the file.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut config: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        if config.node.data_dir.is_relative()
            && let Some(dir) = path.parent()
        {
            config.node.data_dir = dir.join(&config.node.data_dir);
        }
        if let Some(dir) = path.parent() {
            config.store.resolve(dir);
            if let Some(ca) = config.smp.ca_file.as_mut()
                && ca.is_relative()
            {
                *ca = dir.join(&*ca);
            }
        }
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            })
        }
    }

    /// What is wrong, key by key, with what to write instead.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let address = |key: &str, value: &str, out: &mut Vec<String>| {
            if value.parse::<SocketAddr>().is_err() {
                out.push(format!(
                    "{key} = {value:?} is not an address and port; write e.g. \"0.0.0.0:8443\""
                ));
            }
        };
        if self.node.name.trim().is_empty() {
            out.push(
                "[node] name is empty; give the node a name for logs, e.g. \"kommun-a-1\"".into(),
            );
        }
        if self.node.environment.parse::<crate::pki::Env>().is_err() {
            out.push(format!(
                "[node] environment = {:?} must be lower-case letters, digits or '-', e.g. \"qa\"",
                self.node.environment
            ));
        }
        if !matches!(self.node.log_format.as_str(), "text" | "json") {
            out.push(format!(
                "[node] log_format = {:?} must be \"text\" or \"json\"",
                self.node.log_format
            ));
        }
        if let Some(model) = &self.node.transport_model
            && !matches!(model.as_str(), "tm-base" | "tm-base-ext-sigenc")
        {
            out.push(format!(
                "[node] transport_model = {model:?} must be \"tm-base-ext-sigenc\" or \"tm-base\""
            ));
        }
        // A node that sends in Bas must take the Bas receipts its messages are answered with.
        if self.node.transport_model.as_deref() == Some("tm-base") && !self.node.accepts_tm_base() {
            out.push(
                "[node] transport_model = \"tm-base\" needs accept_tm_base = true: the answers come in tm-base"
                    .into(),
            );
        }
        address("[api] listen", &self.api.listen, &mut out);
        if let Some(admin) = &self.admin {
            address("[admin] listen", &admin.listen, &mut out);
        }
        address("[as4] listen", &self.as4.listen, &mut out);
        if !self.as4.public_url.starts_with("https://")
            && !self.as4.public_url.starts_with("http://")
        {
            out.push(format!(
                "[as4] public_url = {:?} must be the URL peers send to, e.g. \"https://ap.kommun-a.se/as4\"",
                self.as4.public_url
            ));
        }
        if crate::pki::profile::check_common_name(crate::pki::Purpose::Ap, &self.as4.ap_id).is_err()
        {
            out.push(format!(
                "[as4] ap_id = {:?} must be the CN of the AP certificate, like \"AP0001-SDK-QA\"",
                self.as4.ap_id
            ));
        }
        // Beyond an hour the check no longer tells a wrong clock from a message made to be replayed later.
        if self.as4.clock_skew_seconds > 3600 {
            out.push(format!(
                "[as4] clock_skew_seconds = {} must be at most 3600 (keep the clocks in sync with NTP)",
                self.as4.clock_skew_seconds
            ));
        }
        if let Some(ca) = &self.smp.ca_file
            && !ca.is_file()
        {
            out.push(format!(
                "[smp] ca_file = {:?}: no such file (CA certificates in PEM for https SMPs)",
                ca.display().to_string()
            ));
        }
        // An empty list would make every lookup fail with "no endpoint", far from the cause.
        if self.smp.transport_profiles.is_empty()
            || self
                .smp
                .transport_profiles
                .iter()
                .any(|p| p.trim().is_empty())
        {
            out.push(
                "[smp] transport_profiles must name at least one transport profile id, none of them empty"
                    .into(),
            );
        }
        match (&self.smp.url, &self.smp.sml_zone, &self.smp.dns) {
            (Some(url), None, _) if url.starts_with("http") => {}
            (Some(_), Some(_), _) => out.push(
                "[smp] give either url (a fixed SMP) or sml_zone (SML lookups), not both".into(),
            ),
            (Some(url), None, _) => out.push(format!("[smp] url = {url:?} must be an http(s) URL")),
            (None, Some(_), Some(dns)) => {
                if let Err(e) = crate::directory::dns::parse_servers(dns) {
                    out.push(format!("[smp] dns = {dns:?}: {e}"));
                }
            }
            (None, Some(_), None) => {
                out.push("[smp] sml_zone needs dns = \"host:port\" of the DNS server to ask".into())
            }
            (None, None, _) => out.push(
                "[smp] needs url (a fixed SMP, for test federations) or sml_zone and dns".into(),
            ),
        }
        if self.retry.first_delay_seconds == 0
            || self.retry.max_delay_seconds < self.retry.first_delay_seconds
        {
            out.push(
                "[retry] first_delay_seconds must be at least 1 and at most max_delay_seconds"
                    .into(),
            );
        }
        if self.retry.per_peer == 0 {
            out.push("[retry] per_peer must be at least 1".into());
        }
        out.extend(self.store.problems());
        if self.limits.envelope_max_age_seconds < self.retry.expiry_seconds {
            out.push(format!(
                "[limits] envelope_max_age_seconds must be at least [retry] expiry_seconds ({}): peers retry \
                 that long, and a retried envelope must not be refused for its age",
                self.retry.expiry_seconds
            ));
        }
        if self.limits.envelope_clock_skew_seconds >= 24 * 60 * 60 {
            out.push("[limits] envelope_clock_skew_seconds must be less than a day (86400): de-duplication records outlive the age window by one day".into());
        }
        if self.limits.open_failures_per_sender == 0 {
            out.push("[limits] open_failures_per_sender must be at least 1".into());
        }
        if self.limits.as4_message_bytes < 100 * 1024 * 1024 {
            out.push("[limits] as4_message_bytes must be at least 104857600: SDK access points take 100 MB messages".into());
        }
        out
    }
}

/// The commented file `init` writes.
pub fn template(name: &str, environment: &str, data_dir: &str) -> String {
    format!(
        r#"# sdk-relay node configuration. `sdk-relay config check --config sdk-relay.toml` checks it;
# `sdk-relay serve` checks it again at start and says exactly what to change.

[node]
# A name for logs and metrics.
name = "{name}"
# The federation environment whose trust, keys and SMP this node uses: open-test, qa, prod, or a test
# federation's name (see `sdk-relay certs federation create`).
environment = "{environment}"
# Keys, trust, the database, payloads and the audit log. Relative to this file.
data_dir = "{data_dir}"
# "text" or "json" (one JSON object per line, for log collectors).
log_format = "text"
# The transport model messages are sent in: "tm-base-ext-sigenc" (signed and encrypted, what SDK uses) or
# "tm-base" (neither; OPEN-TEST's Bas test cases). Meddelandekvittenser always follow the received message.
# transport_model = "tm-base-ext-sigenc"
# Whether envelopes in tm-base are taken in; by default yes, except in qa and prod.
# accept_tm_base = false

[api]
# The organisation API (HTTPS; clients use a certificate or a token from `sdk-relay clients add`).
listen = "127.0.0.1:8443"

[admin]
# Prometheus /metrics and the /healthz and /readyz probes: plain HTTP with no token, so keep it on loopback
# (or where only the scraper reaches it). Leave the section out for no admin listener.
listen = "127.0.0.1:8445"

[as4]
# The access point (HTTPS with mutual TLS, SDK's AS4 profile).
listen = "0.0.0.0:8444"
# The URL peers send to: what the SMP publishes as this node's endpoint.
public_url = "https://ap.example.se:8444/as4"
# This access point's id: the CN of its AP certificate.
ap_id = "AP0001-SDK-QA"
# How far a peer's clock may run ahead of ours: a message or receipt whose signed Timestamp was created
# further in the future is refused (EBMS:0103), as is one whose Timestamp has expired.
clock_skew_seconds = 60

[smp]
# Either a fixed SMP (test federations)...
url = "http://127.0.0.1:8081"
# ...or SML lookups: the environment's SML zone and a DNS server.
# sml_zone = "acc.edelivery.tech.ec.europa.eu"
# dns = "192.0.2.53:53, 192.0.2.54:53"   (IP:port, several asked in order; TCP when an answer is truncated)
# How long an SMP answer is reused.
cache_seconds = 3600
# https SMPs are checked against the system's CA certificates, or these (PEM; relative to this file).
# ca_file = "web-ca.pem"
# The endpoint transport profiles taken from an SMP answer; the first in this list that the SMP publishes wins.
# transport_profiles = ["digg-transport-as4-v1_0", "digg-transport-as4-v1_2"]

[retry]
# Sending to a peer that does not answer: exponential back-off with jitter from first to max delay, until
# expiry; then the message gets MESSAGE_EXCHANGE_ERROR and the sender sees why.
first_delay_seconds = 30
max_delay_seconds = 900
expiry_seconds = 86400
# Messages sent to one peer at a time.
per_peer = 4

[limits]
# SDK messages from the API (SDK's limit is 30 MB).
api_message_bytes = 31457280
# AS4 messages (SDK access points must take 100 MB).
as4_message_bytes = 167772160
# A received SDK message once decrypted (SDK's limit is 30 MB: larger ones are answered REJECTED, BV too-long).
sdk_message_bytes = 31457280
# Received envelopes older than this (their CreationDateTime) are refused as replays; at least expiry_seconds.
envelope_max_age_seconds = 604800
# How far ahead of this node's clock a peer's CreationDateTime may be.
envelope_clock_skew_seconds = 900
# An envelope refused for its signature is kept whole (in refused/) only up to this size; 0 keeps none.
refused_envelope_bytes = 65536
# An organisation whose envelopes fail to open (or reuse a content key) this often within the window is
# refused until the window passes (audited as security.sender-blocked).
open_failures_per_sender = 5
open_failure_window_seconds = 86400

[store]
# Where messages, the queue and the audit chain live: "redb" (files in data_dir: one node, the default) or
# "postgres" (several nodes share one database and its work; sdk-relay built with `--features postgres`).
kind = "redb"
# For kind = "postgres" (`sdk-relay db migrate --config …` creates the tables; serve does it too):
# url = "postgresql://sdk_relay@db.kommun-a.se:5432/sdk_relay"
# password_file = "db-password"
# schema = "sdk_relay"
# pool_size = 16
# tls = "verify-full"
# ca_file = "db-ca.pem"
"#
    )
}
