//! `sdk-relay smp`: publish endpoints and CertPub certificates, serve them as an SMP, and look participants up.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use rustls_pki_types::CertificateDer;

use super::{exit, read_cert};
use crate::directory::ParticipantId;
use crate::directory::addressbook::{AddressBook, Publication};
use crate::directory::sml::{self, SmlConfig};
use crate::directory::smp_http::{LookupError, SmpClient, SmpService, serve};
use crate::pki::keys::read_key_pair;
use crate::pki::{Env, KeyStore, Purpose, TrustStore};
use crate::xmlsec::SigningKey;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  sdk-relay --data-dir smp smp publish 0203:region-b.example.se --document-type 'urn:riv:…::tm-base-ext-sigenc' \\
      --endpoint-url https://ap2.example.se/as4 --ap-cert ap2.pem --signing-cert sign.pem --encryption-cert enc.pem
  sdk-relay --data-dir smp smp serve --listen 127.0.0.1:8081 --base-url http://127.0.0.1:8081
  sdk-relay --data-dir node smp lookup 0203:region-b.example.se 'urn:riv:…::tm-base-ext-sigenc' --env qa \\
      --smp-url http://127.0.0.1:8081

Exit codes: 0 done, 1 not registered / not acceptable, 2 usage or I/O error (3 when the SMP is unreachable).")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// The SMP: what is published for whom, serving it, and looking participants up.
#[derive(clap::Subcommand)]
enum Command {
    /// Publish (or replace) the endpoint and certificates for a participant and document type.
    Publish {
        participant: String,
        #[arg(long = "document-type", value_name = "DOCUMENT_ID")]
        document_id: String,
        #[arg(long, default_value = "bdx:noprocess")]
        process: String,
        #[arg(long)]
        endpoint_url: String,
        /// The receiving access point's certificate (PEM or DER).
        #[arg(long, value_name = "PEM")]
        ap_cert: PathBuf,
        /// CertPub: the organisation's XHE signing certificate.
        #[arg(long, value_name = "PEM")]
        signing_cert: Option<PathBuf>,
        /// CertPub: the organisation's XHE encryption certificate.
        #[arg(long, value_name = "PEM")]
        encryption_cert: Option<PathBuf>,
    },
    Unpublish {
        participant: String,
        document_id: String,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Serve SMP 1.0 GETs, signed with the SMP key (from --key/--cert or the node's smp store).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
        /// The public URL clients use, for ServiceGroup references (default: http://<listen address>).
        #[arg(long)]
        base_url: Option<String>,
        #[arg(long, value_name = "PEM", requires = "cert")]
        key: Option<PathBuf>,
        #[arg(long, value_name = "PEM", requires = "key")]
        cert: Option<PathBuf>,
    },
    /// Look a participant up (verifying the SMP's signature for the SMP role of --env).
    Lookup {
        participant: String,
        document_id: String,
        #[arg(long)]
        env: Env,
        /// The SMP to ask; or find it through the SML with --sml-zone and --dns.
        #[arg(long, conflicts_with = "sml_zone")]
        smp_url: Option<String>,
        #[arg(long, requires = "dns")]
        sml_zone: Option<String>,
        /// The DNS servers for the SML lookup (IP:port, several separated by commas, asked in order).
        #[arg(long)]
        dns: Option<String>,
        /// CA certificates (PEM) for an https SMP, instead of the system's.
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args, data_dir: &Path) -> ExitCode {
    super::finish(match args.command {
        Command::Publish {
            participant,
            document_id,
            process,
            endpoint_url,
            ap_cert,
            signing_cert,
            encryption_cert,
        } => (|| {
            let b64 = |path: &Path| -> Result<String> {
                Ok(base64::engine::general_purpose::STANDARD.encode(read_cert(path)?))
            };
            let p = AddressBook::open(data_dir)?.publish(Publication {
                participant,
                document_id,
                process_id: process,
                endpoint_url,
                ap_certificate: b64(&ap_cert)?,
                signing_certificate: signing_cert.as_deref().map(b64).transpose()?,
                encryption_certificate: encryption_cert.as_deref().map(b64).transpose()?,
            })?;
            println!("published {} for {}", p.document_id, p.participant);
            Ok(exit::OK)
        })(),
        Command::Unpublish {
            participant,
            document_id,
        } => (|| {
            AddressBook::open(data_dir)?.unpublish(&participant, &document_id)?;
            println!("unpublished {document_id} for {participant}");
            Ok(exit::OK)
        })(),
        Command::List { json } => (|| {
            let all = AddressBook::open(data_dir)?.publications(None)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for p in &all {
                    println!("{}  {}  → {}", p.participant, p.document_id, p.endpoint_url);
                }
            }
            Ok(exit::OK)
        })(),
        Command::Serve {
            listen,
            base_url,
            key,
            cert,
        } => serve_cmd(&listen, base_url, key, cert, data_dir),
        Command::Lookup {
            participant,
            document_id,
            env,
            smp_url,
            sml_zone,
            dns,
            ca_file,
            json,
        } => lookup_cmd(
            &participant,
            &document_id,
            env,
            smp_url,
            sml_zone,
            dns,
            ca_file,
            json,
            data_dir,
        ),
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn serve_cmd(
    listen: &str,
    base_url: Option<String>,
    key: Option<PathBuf>,
    cert: Option<PathBuf>,
    data_dir: &Path,
) -> Result<u8> {
    let key = match (key, cert) {
        (Some(k), Some(c)) => {
            let bytes = std::fs::read(&k).with_context(|| k.display().to_string())?;
            SigningKey::new(
                &read_key_pair(&bytes, &k.display().to_string())?,
                read_cert(&c)?,
            )?
        }
        _ => {
            let entry = KeyStore::open(data_dir).signing(Purpose::Smp)?;
            let leaf = entry
                .leaf()
                .cloned()
                .with_context(|| format!("{} has no certificate", entry.id()))?;
            SigningKey::new(&entry.key_pair()?, leaf)?
        }
    };
    // Fail now, not at the first request, when the database cannot be opened.
    AddressBook::open(data_dir)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        let base_url = base_url.unwrap_or_else(|| format!("http://{addr}"));
        // The first line says where it listens (a port of 0 picks a free one), for scripts and tests.
        println!("SMP listening on http://{addr} (ServiceGroup references use {base_url})");
        let service = Arc::new(SmpService {
            data_dir: data_dir.to_owned(),
            base_url,
            key,
            opening: std::sync::Mutex::new(()),
        });
        tokio::select! {
            r = serve(listener, service) => r.context("serving")?,
            _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
        }
        Ok::<_, anyhow::Error>(exit::OK)
    })
}

#[allow(clippy::too_many_arguments)]
fn lookup_cmd(
    participant: &str,
    document_id: &str,
    env: Env,
    smp_url: Option<String>,
    sml_zone: Option<String>,
    dns: Option<String>,
    ca_file: Option<PathBuf>,
    json: bool,
    data_dir: &Path,
) -> Result<u8> {
    let participant = ParticipantId::parse(participant).map_err(anyhow::Error::msg)?;
    let smp_url = match (smp_url, sml_zone, dns) {
        (Some(url), _, _) => url,
        (None, Some(zone), Some(dns)) => {
            let config = SmlConfig {
                zone,
                servers: crate::directory::dns::parse_servers(&dns)
                    .map_err(|e| anyhow::anyhow!("--dns {dns:?}: {e}"))?,
                timeout: Duration::from_secs(5),
            };
            match runtime()?.block_on(sml::lookup(&participant, &config)) {
                Ok(url) => url,
                Err(e @ sml::SmlError::NotRegistered { .. }) => {
                    println!("{e}");
                    return Ok(exit::FOUND_PROBLEMS);
                }
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(3);
                }
            }
        }
        _ => bail!("give --smp-url, or --sml-zone with --dns"),
    };
    let trust = Arc::new(TrustStore::open(data_dir).load()?);
    let client = SmpClient::new(trust, env, Duration::from_secs(3600)).with_ca_file(ca_file);
    let result = runtime()?.block_on(client.lookup(&smp_url, &participant, document_id));
    match result {
        Ok(meta) => {
            let subject = |c: &CertificateDer<'_>| {
                crate::pki::CertInfo::parse(c).map_or_else(|e| e.to_string(), |i| i.subject)
            };
            let report = serde_json::json!({
                "participant": meta.participant.as_str(),
                "document_id": meta.document_id,
                "smp": smp_url,
                "endpoint_url": meta.endpoint_url,
                "ap_certificate": subject(&meta.ap_certificate),
                "signing_certificate": meta.signing_certificate.as_ref().map(subject),
                "encryption_certificate": meta.encryption_certificate.as_ref().map(subject),
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} → {} (AP {})",
                    meta.participant, meta.endpoint_url, report["ap_certificate"]
                );
            }
            Ok(exit::OK)
        }
        Err(e @ LookupError::Unreachable { .. }) => {
            eprintln!("{e}");
            Ok(3)
        }
        Err(e) => {
            println!("{e}");
            Ok(exit::FOUND_PROBLEMS)
        }
    }
}
