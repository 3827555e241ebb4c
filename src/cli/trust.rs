//! `sdk-relay trust` and `sdk-relay crl`: which CAs the node trusts, per environment and role, and their CRLs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::exit;
use crate::pki::federation::Federation;
use crate::pki::{Env, Role, TrustStore, crl_fetch, pkcs12, read_certificates};

/// Trust CA certificates per environment and role (ap, smp, tls, o2o).
///
/// SDK trust is CA-based and never crosses environments: a QA node trusts the QA AP CA, not OPEN-TEST's.
#[derive(clap::Args)]
#[command(after_help = "Examples (DIGG's files from sdk-docs/certs/qa/CAs):
  sdk-relay trust import --env qa --role ap  'Certifikatskedja Accesspunkt/'*.cer
  sdk-relay trust import --env qa --role smp 'Certifikatskedja SMP/'*.cer
  sdk-relay trust import --env qa --role tls 'Certifikatskedja mTLS/'*.cer
  sdk-relay trust import --env qa --role o2o 'Certifikatskedjor O2O/'*
  sdk-relay trust import --env test --federation fed      (every CA and CRL of a test federation)
  sdk-relay trust list
  sdk-relay trust remove 3f2a9c01 --env qa")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Trust CA certificates (PEM, DER, or a PKCS#12 trust store with --password-file).
    Import {
        #[arg(long)]
        env: Env,
        #[arg(long, required_unless_present = "federation")]
        role: Option<Role>,
        /// Import every CA of a test federation with its role, and its CRLs.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["role", "files"])]
        federation: Option<PathBuf>,
        /// Password for PKCS#12 trust stores (first line of the file).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[arg(value_name = "FILE", required_unless_present = "federation")]
        files: Vec<PathBuf>,
    },
    /// List trusted CAs: environment, role, subject, validity, fingerprint.
    List {
        #[arg(long)]
        env: Option<Env>,
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting a CA, by (a prefix of at least 8 hex digits of) its SHA-256 fingerprint.
    Remove {
        fingerprint: String,
        #[arg(long)]
        env: Option<Env>,
        #[arg(long)]
        role: Option<Role>,
    },
}

/// Certificate revocation lists of the trusted CAs. Revocation is hard-fail: without a current CRL for
/// each CA on a path, certificates are refused (with a grace period after nextUpdate).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sdk-relay crl import fed/ap-ca/crl.pem
  sdk-relay crl update                 (fetch from the distribution points named in trusted and own certificates)
  sdk-relay crl list")]
pub struct CrlArgs {
    #[command(subcommand)]
    command: CrlCommand,
}

#[derive(clap::Subcommand)]
enum CrlCommand {
    /// Store CRLs (PEM or DER) after checking each is signed by a trusted CA and newer than the stored one.
    Import {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Fetch every CRL named in the distribution points of trusted CAs and the node's certificates.
    Update {
        /// Per-request timeout in seconds.
        #[arg(long, default_value_t = 20)]
        timeout: u64,
        /// CA certificates (PEM) for https distribution points, instead of the system's.
        #[arg(long, value_name = "PEM")]
        ca_file: Option<std::path::PathBuf>,
    },
    /// List stored CRLs with their issuer, dates and number of revoked certificates.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args, data_dir: &Path) -> ExitCode {
    let store = TrustStore::open(data_dir);
    let result = match args.command {
        Command::Import {
            env,
            role,
            federation,
            password_file,
            files,
        } => import(
            &store,
            &env,
            role,
            federation.as_deref(),
            password_file.as_deref(),
            &files,
        ),
        Command::List { env, json } => list(&store, env.as_ref(), json),
        Command::Remove {
            fingerprint,
            env,
            role,
        } => store
            .remove(&fingerprint, env.as_ref(), role)
            .map_err(Into::into)
            .and_then(|removed| {
                if removed.is_empty() {
                    bail!("no trusted CA has a fingerprint starting with {fingerprint:?}");
                }
                for c in removed {
                    println!("removed {} ({}/{})", c.info.subject, c.env, c.role);
                }
                Ok(exit::OK)
            }),
    };
    super::finish(result)
}

fn import(
    store: &TrustStore,
    env: &Env,
    role: Option<Role>,
    federation: Option<&Path>,
    password_file: Option<&Path>,
    files: &[PathBuf],
) -> Result<u8> {
    let mut jobs: Vec<(Role, PathBuf)> = Vec::new();
    let mut crls = Vec::new();
    if let Some(dir) = federation {
        let fed = Federation::open(dir)?;
        if fed.env() != env {
            bail!(
                "{} is a federation for environment {}, not {env}",
                dir.display(),
                fed.env()
            );
        }
        jobs = fed.trust_files();
        crls = fed.crl_files();
    } else if let Some(role) = role {
        jobs = files.iter().map(|f| (role, f.clone())).collect();
    }
    let password = password_file.map(super::read_password).transpose()?;
    for (role, file) in jobs {
        let bytes = std::fs::read(&file).with_context(|| file.display().to_string())?;
        let what = file.display().to_string();
        let is_p12 = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("p12") || e.eq_ignore_ascii_case("pfx"));
        let certs = if is_p12 {
            let password = password
                .as_deref()
                .context("a PKCS#12 trust store needs --password-file")?;
            pkcs12::read_certificates(&bytes, password, &what)?
        } else {
            read_certificates(&bytes, &what)?
        };
        for imported in store.import(env, role, &certs)? {
            let i = &imported.info;
            println!(
                "{} {env}/{role}  {}  valid {} .. {}  sha256 {}",
                if imported.added {
                    "trusted"
                } else {
                    "already trusted"
                },
                i.subject,
                i.not_before.date(),
                i.not_after.date(),
                &i.sha256[..16]
            );
        }
    }
    for crl in crls {
        let bytes = std::fs::read(&crl).with_context(|| crl.display().to_string())?;
        for stored in store.import_crl(&bytes, &crl.display().to_string())? {
            println!("CRL {}  {}", stored.env, stored.issuer);
        }
    }
    Ok(exit::OK)
}

#[derive(Serialize)]
struct ListedCa<'a> {
    env: &'a str,
    role: Role,
    #[serde(flatten)]
    info: &'a crate::pki::CertInfo,
}

fn list(store: &TrustStore, env: Option<&Env>, json: bool) -> Result<u8> {
    let trust = store.load()?;
    let certs: Vec<_> = trust
        .certs
        .iter()
        .filter(|c| env.is_none_or(|e| &c.env == e))
        .collect();
    if json {
        let listed: Vec<ListedCa<'_>> = certs
            .iter()
            .map(|c| ListedCa {
                env: c.env.as_str(),
                role: c.role,
                info: &c.info,
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(exit::OK);
    }
    if certs.is_empty() {
        println!("nothing trusted yet (see `sdk-relay trust import --help`)");
    }
    for c in certs {
        println!(
            "{}/{}  {}\n    issuer {}\n    valid  {} .. {}  {}  sha256 {}",
            c.env,
            c.role,
            c.info.subject,
            c.info.issuer,
            c.info.not_before.date(),
            c.info.not_after.date(),
            if c.info.self_signed {
                "root"
            } else {
                "intermediate"
            },
            c.info.sha256
        );
    }
    Ok(exit::OK)
}

pub fn run_crl(args: CrlArgs, data_dir: &Path) -> ExitCode {
    let store = TrustStore::open(data_dir);
    let result = match args.command {
        CrlCommand::Import { files } => (|| {
            for file in &files {
                let bytes = std::fs::read(file).with_context(|| file.display().to_string())?;
                for stored in store.import_crl(&bytes, &file.display().to_string())? {
                    println!(
                        "stored {}  {}  next update {}  {} revoked",
                        stored.env,
                        stored.issuer,
                        stored.next_update.map_or("-".into(), |t| t.to_string()),
                        stored.revoked
                    );
                }
            }
            Ok(exit::OK)
        })(),
        CrlCommand::Update { timeout, ca_file } => update(
            &store,
            data_dir,
            Duration::from_secs(timeout),
            ca_file.as_deref(),
        ),
        CrlCommand::List { json } => (|| {
            let trust = store.load()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&trust.crls)?);
            } else {
                if trust.crls.is_empty() {
                    println!("no CRLs stored (see `sdk-relay crl import` / `crl update`)");
                }
                for c in &trust.crls {
                    println!(
                        "{}  {}  this update {}  next update {}  {} revoked",
                        c.env,
                        c.issuer,
                        c.this_update,
                        c.next_update.map_or("-".into(), |t| t.to_string()),
                        c.revoked
                    );
                }
            }
            Ok(exit::OK)
        })(),
    };
    super::finish(result)
}

fn update(
    store: &TrustStore,
    data_dir: &Path,
    timeout: Duration,
    ca_file: Option<&Path>,
) -> Result<u8> {
    let urls = crl_fetch::distribution_points(data_dir)?;
    if urls.is_empty() {
        println!(
            "no CRL distribution points in trusted or own certificates; import CRLs with `sdk-relay crl import`"
        );
        return Ok(exit::OK);
    }
    let mut failures = 0;
    for url in &urls {
        let outcome = fetch(url, timeout, ca_file)
            .and_then(|bytes| store.import_crl(&bytes, url).map_err(anyhow::Error::from));
        match outcome {
            Ok(stored) => {
                for s in stored {
                    println!("updated {}  {}  from {url}", s.env, s.issuer);
                }
            }
            Err(e) => {
                failures += 1;
                eprintln!("failed: {e:#}");
            }
        }
    }
    Ok(if failures == 0 {
        exit::OK
    } else {
        exit::FOUND_PROBLEMS
    })
}

/// A CRL from its distribution point, http or https (DIGG publishes its CRLs at https URLs; https ones are
/// checked against `ca_file` or the system's CA certificates), through the node's one HTTP client.
fn fetch(url: &str, timeout: Duration, ca_file: Option<&Path>) -> Result<Vec<u8>> {
    let call = crate::pki::https::Call {
        method: "GET",
        url,
        headers: vec![("accept", "application/pkix-crl".to_owned())],
        body: bytes::Bytes::new(),
    };
    let limit = usize::try_from(crl_fetch::MAX_CRL_BYTES).unwrap_or(usize::MAX);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tls = || crate::pki::tls::web_client_config(ca_file).map_err(|e| e.to_string());
    let answer = runtime.block_on(crate::pki::https::send_web(tls, call, timeout, limit))?;
    anyhow::ensure!(
        answer.status == 200,
        "{url}: the server answered HTTP {}",
        answer.status
    );
    Ok(answer.body.to_vec())
}
