//! `sdk-relay certs`: the node's own keys and certificates, and local test federations.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use time::OffsetDateTime;

use super::exit;
use crate::pki::federation::{CreateOptions, Federation, IssueOptions};
use crate::pki::health::{self, CheckOptions, EntryStatus};
use crate::pki::profile::Subject;
use crate::pki::{
    Env, KeyAlgorithm, KeyStore, Purpose, RevocationPolicy, TrustStore, pkcs12, read_certificates,
};

/// Manage the node's keys and certificates (AP, TLS, O2O signing, O2O encryption, SMP).
///
/// Each purpose has its own store under DATA_DIR/keys/, entries move pending → next → active → retired.
/// While two keys of a purpose are active, the node signs with the newest and accepts both.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sdk-relay certs federation create --env test --dir fed
  sdk-relay --data-dir node certs issue ap --federation fed --cn AP0001-SDK-TEST
  sdk-relay --data-dir node certs csr --purpose ap --env qa --subject 'CN=AP,O=Kommun A,C=SE' --out ap.csr
  sdk-relay --data-dir node certs import signed.pem
  sdk-relay --data-dir node certs list
  sdk-relay --data-dir node certs check --warn-days 60")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Federation(FederationArgs),
    Issue(IssueArgs),
    Csr(CsrArgs),
    Import(ImportArgs),
    List(ListArgs),
    Check(CheckArgs),
    Activate(IdArgs),
    Retire(IdArgs),
}

/// A local test federation shaped like SDK's PKI (for tests, the demo and trying things out; never for
/// the real federations).
#[derive(clap::Args)]
struct FederationArgs {
    #[command(subcommand)]
    command: FederationCommand,
}

#[derive(clap::Subcommand)]
enum FederationCommand {
    /// Create the CAs (AP root + AP CA, SMP CA, TLS root + function CA, O2O CA) and their CRLs in DIR.
    #[command(
        after_help = "Example:\n  sdk-relay certs federation create --env test --dir fed --key rsa2048"
    )]
    Create {
        /// Environment name the federation stands for (lower case, e.g. test, qa-local).
        #[arg(long)]
        env: Env,
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Key type of the CAs: rsa3072 (default), rsa2048 (fast tests), rsa4096.
        #[arg(long, default_value = "rsa3072")]
        key: KeyAlgorithm,
        /// Base URL the CRLs will be served from; certificates then carry `<URL>/<ca>.crl` distribution points.
        #[arg(long, value_name = "URL")]
        crl_url: Option<String>,
        /// Validity of the CAs in days.
        #[arg(long, default_value_t = 3650)]
        ca_days: i64,
    },
    /// Revoke a certificate the federation issued (a PEM/DER file or a key-store entry id) and publish the
    /// issuing CA's new CRL.
    #[command(
        after_help = "Example:\n  sdk-relay certs federation revoke --dir fed --data-dir node ap-1\n  sdk-relay crl import fed/ap-ca/crl.pem"
    )]
    Revoke {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// A certificate file, or the id of an entry in the node's key store.
        certificate: String,
    },
}

/// Issue a key and certificate from a test federation, into the node's key store (or --out).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sdk-relay --data-dir node certs issue ap --federation fed --cn AP0001-SDK-TEST
  sdk-relay --data-dir node certs issue tls --federation fed --cn localhost --dns 127.0.0.1
  sdk-relay --data-dir node certs issue o2o --federation fed --subject 'CN=Kommun A,O=Kommun A,serialNumber=2120001234'
  sdk-relay certs issue smp --federation fed --cn SMP0001-SDK-TEST --out smp-key/

The entry becomes active when its purpose has no active key yet, otherwise next.")]
struct IssueArgs {
    /// What the certificate is for: ap, tls, o2o (one signing and one encryption key), o2o-sign, o2o-encrypt, smp.
    kind: String,
    #[arg(long, value_name = "DIR")]
    federation: PathBuf,
    /// Common name (AP0001-SDK-QA for ap, the DNS name for tls, SMP0001-SDK-QA for smp).
    #[arg(long, conflicts_with = "subject")]
    cn: Option<String>,
    /// Full subject: CN=...,O=...,OU=...,C=...,serialNumber=...
    #[arg(long)]
    subject: Option<String>,
    /// More DNS names or IP addresses (tls).
    #[arg(long, value_name = "NAME")]
    dns: Vec<String>,
    #[arg(long, default_value = "rsa3072")]
    key: KeyAlgorithm,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    days: i64,
    /// Start of validity (RFC 3339); default one hour ago. For testing expired and not-yet-valid certificates.
    #[arg(long, value_name = "TIME")]
    not_before: Option<String>,
    /// Write key.pem and cert.pem into this directory instead of the key store.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Make a key and a PKCS#10 request for a real CA (DIGG's PKIAP for ap, SITHS for tls, ...).
#[derive(clap::Args)]
#[command(after_help = "Example:
  sdk-relay --data-dir node certs csr --purpose ap --env qa --subject 'CN=AP,O=Kommun A,C=SE' --out ap.csr

The key stays in the store as a pending entry; `certs import` pairs the CA's certificate with it.
SDK asks for RSA 3072 keys (the default).")]
struct CsrArgs {
    #[arg(long)]
    purpose: Purpose,
    /// The environment the certificate will be used in (open-test, qa, prod, ...).
    #[arg(long)]
    env: Env,
    /// CN=...,O=...,OU=...,C=...,serialNumber=...
    #[arg(long)]
    subject: String,
    #[arg(long, default_value = "rsa3072")]
    key: KeyAlgorithm,
    /// Where to write the request (PEM); default standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Import a certificate signed for a pending key (PEM or DER, chain allowed), or a PKCS#12 file.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sdk-relay --data-dir node certs import signed-chain.pem
  sdk-relay --data-dir node certs import --purpose tls --env qa --password-file pw.txt tls.p12")]
struct ImportArgs {
    file: PathBuf,
    /// Password of a PKCS#12 file (first line of the file).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Purpose of the key in a PKCS#12 file.
    #[arg(long)]
    purpose: Option<Purpose>,
    /// Environment of the key in a PKCS#12 file.
    #[arg(long)]
    env: Option<Env>,
}

/// Show every key entry: purpose, state, subject, issuer, serial, fingerprint, validity and chain status.
#[derive(clap::Args)]
#[command(
    after_help = "Statuses: ok, untrusted, revoked, expired, not-yet-valid, wrong-environment,
wrong-key-usage, revocation-unknown (no current CRL: `sdk-relay crl update`). Never shows key material."
)]
struct ListArgs {
    #[arg(long)]
    json: bool,
    /// How long a CRL still counts after its nextUpdate, in hours (revocation is hard-fail after that).
    #[arg(long, default_value_t = 24, value_name = "HOURS")]
    crl_grace_hours: i64,
    /// Evaluate at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

/// Check keys and trust; one line per problem and a non-zero exit when there is any (for cron and monitoring).
#[derive(clap::Args)]
#[command(
    after_help = "Example (cron):\n  sdk-relay --data-dir /var/lib/sdk-relay certs check --warn-days 60 || mail -s 'SDK certificates' ops@example.se

Reports: no active key for a required purpose, certificates expiring within --warn-days, expired, revoked,
untrusted, wrong environment, wrong key usage, revocation unknown; trusted CAs expiring or expired; CRLs past
their next update.
Exit codes: 0 healthy, 1 problems found, 2 usage or I/O error."
)]
struct CheckArgs {
    #[arg(long, default_value_t = 60)]
    warn_days: i64,
    /// Purposes that must have an active key.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ap,tls,o2o-sign,o2o-encrypt"
    )]
    require: Vec<Purpose>,
    #[arg(long)]
    json: bool,
    /// Evaluate at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// How long a CRL still counts after its nextUpdate, in hours (revocation is hard-fail after that).
    #[arg(long, default_value_t = 24, value_name = "HOURS")]
    crl_grace_hours: i64,
}

#[derive(clap::Args)]
struct IdArgs {
    /// Entry id as `certs list` shows it (e.g. tls-2).
    id: String,
}

pub fn run(args: Args, data_dir: &Path) -> ExitCode {
    let result = match args.command {
        Command::Federation(f) => federation(f, data_dir),
        Command::Issue(a) => issue(a, data_dir),
        Command::Csr(a) => csr(a, data_dir),
        Command::Import(a) => import(a, data_dir),
        Command::List(a) => list(a, data_dir),
        Command::Check(a) => check(a, data_dir),
        Command::Activate(a) => KeyStore::open(data_dir).activate(&a.id).map_err(Into::into).map(|e| {
            println!("{} is active; the node now signs with it and still accepts the other active {} keys", e.id(), e.meta.purpose);
            exit::OK
        }),
        Command::Retire(a) => KeyStore::open(data_dir).retire(&a.id).map_err(Into::into).map(|e| {
            println!("{} is retired", e.id());
            exit::OK
        }),
    };
    super::finish(result)
}

pub(super) fn parse_time(text: Option<&str>) -> Result<OffsetDateTime> {
    match text {
        None => Ok(OffsetDateTime::now_utc()),
        Some(t) => OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("{t:?} is not an RFC 3339 time such as 2027-01-31T12:00:00Z")),
    }
}

fn grace_policy(hours: i64) -> Result<RevocationPolicy> {
    if !(0..=24 * 30).contains(&hours) {
        bail!("--crl-grace-hours must be between 0 and 720");
    }
    Ok(RevocationPolicy {
        grace: time::Duration::hours(hours),
        ..RevocationPolicy::default()
    })
}

fn federation(args: FederationArgs, data_dir: &Path) -> Result<u8> {
    match args.command {
        FederationCommand::Create {
            env,
            dir,
            key,
            crl_url,
            ca_days,
        } => {
            let fed = Federation::create(
                &dir,
                &CreateOptions {
                    env,
                    key,
                    crl_base_url: crl_url,
                    ca_days,
                },
            )?;
            println!("test federation {} created in {}", fed.env(), dir.display());
            for (role, path) in fed.trust_files() {
                println!("  {role:<4} CA  {}", path.display());
            }
            println!(
                "next: sdk-relay --data-dir NODE trust import --env {} --federation {}",
                fed.env(),
                dir.display()
            );
            Ok(exit::OK)
        }
        FederationCommand::Revoke { dir, certificate } => {
            let fed = Federation::open(&dir)?;
            let der = if Path::new(&certificate).is_file() {
                let bytes = std::fs::read(&certificate).with_context(|| certificate.clone())?;
                read_certificates(&bytes, &certificate)?.remove(0)
            } else {
                let entry = KeyStore::open(data_dir).get(&certificate)?;
                entry
                    .leaf()
                    .cloned()
                    .with_context(|| format!("{certificate} has no certificate yet"))?
            };
            let ca = fed.revoke(&der)?;
            println!(
                "revoked; new CRL: {}",
                dir.join(ca).join("crl.pem").display()
            );
            Ok(exit::OK)
        }
    }
}

fn issue(args: IssueArgs, data_dir: &Path) -> Result<u8> {
    let purposes: Vec<Purpose> = match args.kind.as_str() {
        "o2o" => vec![Purpose::O2oSign, Purpose::O2oEncrypt],
        other => vec![other.parse()?],
    };
    let mut subject = match (&args.cn, &args.subject) {
        (Some(cn), None) => Subject {
            common_name: cn.clone(),
            ..Subject::default()
        },
        (None, Some(s)) => Subject::parse(s)?,
        _ => bail!("give --cn or --subject"),
    };
    subject.dns_names = args.dns.clone();
    let fed = Federation::open(&args.federation)?;
    let options = IssueOptions {
        key: args.key,
        days: args.days,
        not_before: match &args.not_before {
            Some(t) => parse_time(Some(t))?,
            None => IssueOptions::default().not_before,
        },
    };
    for purpose in purposes {
        let (key, chain) = fed.issue(purpose, &subject, &options)?;
        let info = crate::pki::CertInfo::parse(&chain[0])?;
        match &args.out {
            Some(dir) => {
                let stem = if args.kind == "o2o" {
                    format!("{purpose}-")
                } else {
                    String::new()
                };
                crate::pki::keys::write_key_and_chain(
                    &dir.join(format!("{stem}key.pem")),
                    &dir.join(format!("{stem}cert.pem")),
                    &key,
                    &chain,
                )?;
                println!("{purpose}: {} → {}", info.subject, dir.display());
            }
            None => {
                let entry = KeyStore::open(data_dir).add(purpose, fed.env(), &key, &chain)?;
                println!(
                    "{}  {}  {}  {}",
                    entry.id(),
                    entry.meta.state.as_str(),
                    info.subject,
                    info.sha256
                );
            }
        }
    }
    Ok(exit::OK)
}

fn csr(args: CsrArgs, data_dir: &Path) -> Result<u8> {
    let subject = Subject::parse(&args.subject)?;
    let (entry, pem) =
        KeyStore::open(data_dir).request(args.purpose, &args.env, &subject, args.key)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &pem).with_context(|| path.display().to_string())?;
            eprintln!(
                "{}: pending; request written to {}",
                entry.id(),
                path.display()
            );
        }
        None => {
            std::io::stdout().write_all(pem.as_bytes())?;
            eprintln!(
                "{}: pending; send the request above to the CA, then `sdk-relay certs import`",
                entry.id()
            );
        }
    }
    Ok(exit::OK)
}

fn import(args: ImportArgs, data_dir: &Path) -> Result<u8> {
    let bytes = std::fs::read(&args.file).with_context(|| args.file.display().to_string())?;
    let what = args.file.display().to_string();
    let keys = KeyStore::open(data_dir);
    if let Some(password_file) = &args.password_file {
        let password = super::read_password(password_file)?;
        let (Some(purpose), Some(env)) = (args.purpose, &args.env) else {
            bail!("a PKCS#12 import needs --purpose and --env");
        };
        let (key, chain) = pkcs12::read_key_and_chain(&bytes, &password, &what)?;
        let entry = keys.add(purpose, env, &key, &chain)?;
        println!(
            "{}  {}  imported from PKCS#12",
            entry.id(),
            entry.meta.state.as_str()
        );
        return Ok(exit::OK);
    }
    let chain = read_certificates(&bytes, &what)?;
    match keys.complete_pending(&chain)? {
        Some(entry) => {
            println!(
                "{}  {}  certificate paired with its pending key",
                entry.id(),
                entry.meta.state.as_str()
            );
            Ok(exit::OK)
        }
        None => bail!(
            "{what}: no pending key matches this certificate (SHA-256 {}); was the request made with `sdk-relay certs csr` on this node?",
            crate::pki::cert::sha256_hex(&chain[0])
        ),
    }
}

fn list(args: ListArgs, data_dir: &Path) -> Result<u8> {
    let at = parse_time(args.at.as_deref())?;
    let trust = TrustStore::open(data_dir).load()?;
    let statuses = health::statuses(
        &KeyStore::open(data_dir),
        &trust,
        RevocationPolicy::default(),
        at,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
        return Ok(exit::OK);
    }
    if statuses.is_empty() {
        println!(
            "no keys in {} (see `sdk-relay certs issue` or `certs csr`)",
            data_dir.display()
        );
    }
    for s in &statuses {
        print_status(s);
    }
    Ok(exit::OK)
}

fn print_status(s: &EntryStatus) {
    let status = s.status.as_ref().map_or("pending", |v| v.name());
    println!(
        "{}  {}  {}  env={}  status={}",
        s.id, s.purpose, s.state, s.env, status
    );
    if let Some(c) = &s.certificate {
        println!("    subject  {}", c.subject);
        println!("    issuer   {}", c.issuer);
        println!("    serial   {}", c.serial);
        println!("    sha256   {}", c.sha256);
        println!(
            "    valid    {} .. {} ({} days left)",
            c.not_before.date(),
            c.not_after.date(),
            s.days_left.unwrap_or_default()
        );
        if let Some(v) = &s.status
            && !v.is_ok()
        {
            println!("    problem  {v}");
        }
    }
}

fn check(args: CheckArgs, data_dir: &Path) -> Result<u8> {
    let options = CheckOptions {
        warn_days: args.warn_days,
        require: args.require,
        policy: grace_policy(args.crl_grace_hours)?,
        at: parse_time(args.at.as_deref())?,
    };
    let problems = health::problems(data_dir, &options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&problems)?);
    } else {
        for p in &problems {
            println!("{}: {}", p.kind, p.message);
        }
        if problems.is_empty() {
            println!("ok: keys and trust in {} are healthy", data_dir.display());
        }
    }
    Ok(if problems.is_empty() {
        exit::OK
    } else {
        exit::FOUND_PROBLEMS
    })
}
