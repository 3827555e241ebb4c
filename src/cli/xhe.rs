//! `sdk-relay xhe`: sign, verify, encrypt, decrypt, seal and open XHE envelopes (the O2O layer).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rustls_pki_types::CertificateDer;
use serde_json::json;
use time::OffsetDateTime;

use super::certs::parse_time;
use super::{exit, read_cert};
use crate::pki::keys::read_key_pair;
use crate::pki::truststore::Trust;
use crate::pki::{
    CertInfo, Checker, Env, KeyStore, Purpose, RevocationPolicy, Role, TrustStore,
    read_certificates,
};
use crate::xml::{Doc, Limits, parse_bytes};
use crate::xmlsec::{
    self, DecryptError, OpenError, PayloadKey, RsaPayloadKey, SignerPolicy, SigningKey, TrustCheck,
};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  sdk-relay xhe seal message.xhe.xml --to region-b-encrypt.pem -o sealed.xml
  sdk-relay xhe verify sealed.xml --ca o2o-ca.pem --json
  sdk-relay --data-dir node xhe open sealed.xml --env qa -o opened.xml

Keys come from the node's key store in --data-dir (the active o2o-sign key for signing, the o2o-encrypt
keys for decryption) unless --key and --cert name PEM files.
Exit codes: 0 done / valid, 1 the envelope is invalid or does not open (the reason is printed),
2 usage or I/O error.")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Sign, verify, encrypt and decrypt XHE envelopes (SDK "Utökad Bas": encrypt, then sign).
#[derive(clap::Subcommand)]
enum Command {
    /// Sign an XHE: enveloped ds:Signature over the whole envelope (RSA-SHA256, C14N 1.0).
    Sign {
        file: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Verify an XHE's signature and, with --ca or --env, its signer's chain, validity and revocation.
    Verify {
        file: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        #[arg(long)]
        json: bool,
    },
    /// Encrypt the payload to a recipient's certificate (AES-256-CBC, RSA-OAEP); the result is unsigned.
    Encrypt {
        file: PathBuf,
        /// The recipient organisation's encryption certificate (PEM or DER).
        #[arg(long, value_name = "CERT")]
        to: PathBuf,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Decrypt the payload of an envelope that is encrypted but not signed (signed ones: use `open`).
    Decrypt {
        file: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        out: OutArgs,
        /// Write only the decrypted payload, not the envelope.
        #[arg(long)]
        payload: bool,
    },
    /// Encrypt the payload to the recipient, then sign the envelope as the sender.
    Seal {
        file: PathBuf,
        /// The recipient organisation's encryption certificate (PEM or DER).
        #[arg(long, value_name = "CERT")]
        to: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Verify the signature and the signer, then (only then) decrypt the payload.
    Open {
        file: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        trust: TrustArgs,
        #[command(flatten)]
        out: OutArgs,
        /// Write only the decrypted payload, not the envelope.
        #[arg(long)]
        payload: bool,
        /// Print what was checked as JSON on stderr.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct KeyArgs {
    /// Private key file (PEM, or PKCS#8 DER); needs --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
    /// The certificate of --key (PEM or DER).
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,
    /// A key store entry (as `certs list` shows it) instead of the active key.
    #[arg(long, value_name = "ID", conflicts_with_all = ["key", "cert"])]
    entry: Option<String>,
}

#[derive(clap::Args)]
struct OutArgs {
    /// Write the result here instead of to standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(clap::Args)]
struct TrustArgs {
    /// Check the signer's chain against this CA certificate (PEM); repeat for several.
    #[arg(long = "ca", value_name = "PEM")]
    cas: Vec<PathBuf>,
    /// A CRL for the --ca chain (PEM or DER); with CRLs, revocation is checked and unknown status refused.
    #[arg(long = "crl", value_name = "FILE", requires = "cas")]
    crls: Vec<PathBuf>,
    /// Check the signer against the node's trust store for this environment (O2O role, with its CRLs).
    #[arg(long, value_name = "ENV", conflicts_with = "cas")]
    env: Option<Env>,
    /// Judge validity at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// The certificate the sender must have signed with (e.g. its CertPub signing certificate).
    #[arg(long, value_name = "CERT")]
    pin: Option<PathBuf>,
}

pub fn run(args: Args, data_dir: &Path) -> ExitCode {
    let result = match args.command {
        Command::Sign { file, key, out } => sign(&file, &key, &out, data_dir),
        Command::Verify { file, trust, json } => verify(&file, &trust, json, data_dir),
        Command::Encrypt { file, to, out } => encrypt(&file, &to, &out),
        Command::Decrypt {
            file,
            key,
            out,
            payload,
        } => decrypt(&file, &key, &out, payload, data_dir),
        Command::Seal { file, to, key, out } => seal(&file, &to, &key, &out, data_dir),
        Command::Open {
            file,
            key,
            trust,
            out,
            payload,
            json,
        } => open(&file, &key, &trust, &out, payload, json, data_dir),
    };
    super::finish(result)
}

fn read_doc(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| path.display().to_string())
}

fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<Doc<'a>> {
    parse_bytes(bytes, &Limits::default()).with_context(|| path.display().to_string())
}

fn write_out(out: &OutArgs, bytes: &[u8]) -> Result<()> {
    match &out.output {
        Some(path) => std::fs::write(path, bytes).with_context(|| path.display().to_string()),
        None => std::io::stdout()
            .write_all(bytes)
            .context("writing to standard output"),
    }
}

/// Key pair and certificate from --key/--cert, a named entry, or the store's entries of `purpose`.
fn key_material(
    args: &KeyArgs,
    purpose: Purpose,
    data_dir: &Path,
) -> Result<Vec<(rcgen::KeyPair, CertificateDer<'static>)>> {
    if let (Some(key), Some(cert)) = (&args.key, &args.cert) {
        let bytes = std::fs::read(key).with_context(|| key.display().to_string())?;
        let pair = read_key_pair(&bytes, &key.display().to_string())?;
        return Ok(vec![(pair, read_cert(cert)?)]);
    }
    let store = KeyStore::open(data_dir);
    let entries = match &args.entry {
        Some(id) => vec![store.get(id)?],
        None if purpose == Purpose::O2oSign => vec![store.signing(purpose)?],
        None => store.decryption_entries(purpose)?,
    };
    if entries.is_empty() {
        bail!(
            "no {} key in {} (give --key and --cert, or `sdk-relay certs issue`/`certs csr`)",
            purpose.as_str(),
            data_dir.display()
        );
    }
    entries
        .into_iter()
        .map(|e| {
            let leaf = e
                .leaf()
                .cloned()
                .with_context(|| format!("{} has no certificate yet", e.id()))?;
            Ok((e.key_pair()?, leaf))
        })
        .collect()
}

fn signing_key(args: &KeyArgs, data_dir: &Path) -> Result<SigningKey> {
    let (pair, cert) = key_material(args, Purpose::O2oSign, data_dir)?
        .into_iter()
        .next()
        .context("no signing key")?;
    Ok(SigningKey::new(&pair, cert)?)
}

fn payload_keys(args: &KeyArgs, data_dir: &Path) -> Result<Vec<RsaPayloadKey>> {
    key_material(args, Purpose::O2oEncrypt, data_dir)?
        .into_iter()
        .map(|(pair, cert)| Ok(RsaPayloadKey::new(&pair, cert)?))
        .collect()
}

fn sign(file: &Path, key: &KeyArgs, out: &OutArgs, data_dir: &Path) -> Result<u8> {
    let key = signing_key(key, data_dir)?;
    let bytes = read_doc(file)?;
    let signed = xmlsec::sign_enveloped(&parse(file, &bytes)?, &key)
        .with_context(|| file.display().to_string())?;
    write_out(out, signed.as_bytes())?;
    eprintln!("signed as {}", subject(key.certificate()));
    Ok(exit::OK)
}

fn encrypt(file: &Path, to: &Path, out: &OutArgs) -> Result<u8> {
    let recipient = read_cert(to)?;
    let bytes = read_doc(file)?;
    let encrypted = xmlsec::encrypt_payload(&parse(file, &bytes)?, &recipient)
        .with_context(|| file.display().to_string())?;
    write_out(out, encrypted.as_bytes())?;
    eprintln!("payload encrypted to {}", subject(&recipient));
    Ok(exit::OK)
}

fn seal(file: &Path, to: &Path, key: &KeyArgs, out: &OutArgs, data_dir: &Path) -> Result<u8> {
    let key = signing_key(key, data_dir)?;
    let recipient = read_cert(to)?;
    let bytes = read_doc(file)?;
    let sealed = xmlsec::seal(&parse(file, &bytes)?, &key, &recipient)
        .with_context(|| file.display().to_string())?;
    write_out(out, sealed.as_bytes())?;
    eprintln!(
        "sealed: payload encrypted to {}, envelope signed as {}",
        subject(&recipient),
        subject(key.certificate())
    );
    Ok(exit::OK)
}

fn decrypt(
    file: &Path,
    key: &KeyArgs,
    out: &OutArgs,
    payload: bool,
    data_dir: &Path,
) -> Result<u8> {
    let keys = payload_keys(key, data_dir)?;
    let bytes = read_doc(file)?;
    let doc = parse(file, &bytes)?;
    let result = first_key_that_opens(&keys, |k| xmlsec::decrypt_unsigned(&doc, k));
    match result {
        Ok(d) => {
            write_out(
                out,
                if payload {
                    &d.payload
                } else {
                    d.xhe.as_bytes()
                },
            )?;
            Ok(exit::OK)
        }
        Err(e @ DecryptError::Signed) => bail!("{}: {e}", file.display()),
        Err(e) => {
            eprintln!("{}: does not decrypt: {e}", file.display());
            Ok(exit::FOUND_PROBLEMS)
        }
    }
}

/// Tries each key in turn; a payload encrypted to another certificate moves on to the next key.
fn first_key_that_opens<T>(
    keys: &[RsaPayloadKey],
    mut attempt: impl FnMut(&dyn PayloadKey) -> Result<T, DecryptError>,
) -> Result<T, DecryptError> {
    let mut last = DecryptError::Key("no decryption key".into());
    for key in keys {
        match attempt(key) {
            Err(e @ DecryptError::NotForThisKey(_)) => last = e,
            other => return other,
        }
    }
    Err(last)
}

/// What the signer check will use: trust loaded from --ca files or the node's store, and how revocation is
/// judged there.
struct SignerCheck {
    trust: Trust,
    env: Env,
    policy: RevocationPolicy,
    at: OffsetDateTime,
    pin: Option<CertificateDer<'static>>,
    /// False when only --pin was given: the exact certificate is then the whole trust decision.
    chain: bool,
    /// Said in the output, so nobody mistakes a signature check for a trust decision.
    scope: String,
}

fn signer_check(args: &TrustArgs, data_dir: &Path) -> Result<Option<SignerCheck>> {
    let at = parse_time(args.at.as_deref())?;
    let pin = args.pin.as_deref().map(read_cert).transpose()?;
    let (trust, env, policy, scope) = if !args.cas.is_empty() {
        let env: Env = "command-line".parse()?;
        let mut cas = Vec::new();
        for path in &args.cas {
            let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
            cas.extend(read_certificates(&bytes, &path.display().to_string())?);
        }
        let mut crls = Vec::new();
        for path in &args.crls {
            let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
            crls.push((bytes, path.display().to_string()));
        }
        let policy = RevocationPolicy {
            enabled: !crls.is_empty(),
            ..RevocationPolicy::default()
        };
        let scope = format!(
            "chain checked against {} CA certificate(s) given with --ca; revocation {}",
            cas.len(),
            if crls.is_empty() {
                "not checked (no --crl)"
            } else {
                "checked"
            }
        );
        (
            Trust::ad_hoc(&env, Role::O2o, cas, &crls)?,
            env,
            policy,
            scope,
        )
    } else if let Some(env) = &args.env {
        let trust = TrustStore::open(data_dir).load()?;
        if trust.certs_for(env, Role::O2o).next().is_none() {
            bail!(
                "no O2O CA is trusted for {env} in {} (`sdk-relay trust import --env {env} --role o2o CA.pem`)",
                data_dir.display()
            );
        }
        let scope = format!("chain and revocation checked against the node's O2O trust for {env}");
        (trust, env.clone(), RevocationPolicy::default(), scope)
    } else {
        if pin.is_none() {
            return Ok(None);
        }
        let scope =
            "signer pinned to the certificate given with --pin; chain not checked".to_owned();
        (
            Trust::default(),
            "command-line".parse()?,
            RevocationPolicy::default(),
            scope,
        )
    };
    let chain = !args.cas.is_empty() || args.env.is_some();
    Ok(Some(SignerCheck {
        trust,
        env,
        policy,
        at,
        pin,
        chain,
        scope,
    }))
}

const UNCHECKED: &str = "chain NOT checked: only the signature was verified, with the certificate embedded in the envelope (give --ca or --env to check who signed)";

fn verify(file: &Path, args: &TrustArgs, json: bool, data_dir: &Path) -> Result<u8> {
    let check = signer_check(args, data_dir)?;
    let bytes = read_doc(file)?;
    let doc = parse(file, &bytes)?;
    let checker = check.as_ref().map(|c| Checker::new(&c.trust, c.policy));
    let policy = policy(check.as_ref(), checker.as_ref());
    let scope = scope(check.as_ref());
    match xmlsec::verify_signer(&doc, &policy) {
        Ok(trusted) => {
            let signer = CertInfo::parse(&trusted.verified.signer)?;
            if json {
                let report = json!({
                    "file": file.display().to_string(),
                    "valid": true,
                    "signer": signer_json(&signer),
                    "signature_algorithm": trusted.verified.signature_algorithm,
                    "digest_algorithm": trusted.verified.digest_algorithm,
                    "chain_checked": policy.trust.is_some(),
                    "pinned": policy.pinned.is_some(),
                    "scope": scope,
                });
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{}: valid signature by {} (serial {})\n  {scope}",
                    file.display(),
                    signer.subject,
                    signer.serial
                );
            }
            Ok(exit::OK)
        }
        Err(e) => {
            if json {
                let report = json!({
                    "file": file.display().to_string(),
                    "valid": false,
                    "reason": e.to_string(),
                    "kind": kind(&e),
                });
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}: invalid: {e}", file.display());
            }
            Ok(exit::FOUND_PROBLEMS)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn open(
    file: &Path,
    key: &KeyArgs,
    args: &TrustArgs,
    out: &OutArgs,
    payload: bool,
    json: bool,
    data_dir: &Path,
) -> Result<u8> {
    let keys = payload_keys(key, data_dir)?;
    let check = signer_check(args, data_dir)?;
    let bytes = read_doc(file)?;
    let doc = parse(file, &bytes)?;
    let checker = check.as_ref().map(|c| Checker::new(&c.trust, c.policy));
    let policy = policy(check.as_ref(), checker.as_ref());
    let scope = scope(check.as_ref());
    let opened = xmlsec::verify_signer(&doc, &policy).and_then(|trusted| {
        first_key_that_opens(&keys, |k| xmlsec::decrypt_verified(&trusted.verified, k))
            .map(|d| (trusted.verified.signer.clone(), d))
            .map_err(OpenError::from)
    });
    match opened {
        Ok((signer, decrypted)) => {
            write_out(
                out,
                if payload {
                    &decrypted.payload
                } else {
                    decrypted.xhe.as_bytes()
                },
            )?;
            let signer = CertInfo::parse(&signer)?;
            if json {
                let report = json!({"file": file.display().to_string(), "opened": true,
                    "signer": signer_json(&signer), "chain_checked": policy.trust.is_some(), "scope": scope});
                eprintln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                eprintln!("opened: signed by {}; {scope}", signer.subject);
            }
            Ok(exit::OK)
        }
        Err(e) => {
            if json {
                let report = json!({"file": file.display().to_string(), "opened": false,
                    "reason": e.to_string(), "kind": kind(&e)});
                eprintln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                eprintln!("{}: not opened: {e}", file.display());
            }
            Ok(exit::FOUND_PROBLEMS)
        }
    }
}

fn policy<'c>(
    check: Option<&'c SignerCheck>,
    checker: Option<&'c Checker<'c>>,
) -> SignerPolicy<'c> {
    let Some(c) = check else {
        return SignerPolicy::default();
    };
    SignerPolicy {
        trust: checker.filter(|_| c.chain).map(|checker| TrustCheck {
            checker,
            env: &c.env,
            at: c.at,
        }),
        pinned: c.pin.as_ref(),
    }
}

fn scope(check: Option<&SignerCheck>) -> String {
    match check {
        None => UNCHECKED.to_owned(),
        Some(c) => {
            let pinned = if c.pin.is_some() && c.chain {
                "; signer pinned with --pin"
            } else {
                ""
            };
            format!("{}{pinned}", c.scope)
        }
    }
}

fn kind(e: &OpenError) -> &'static str {
    match e {
        OpenError::Signature(_) => "signature",
        OpenError::Untrusted { .. } => "untrusted-signer",
        OpenError::NotPinned { .. } => "unexpected-signer",
        OpenError::Decrypt(_) => "decryption",
    }
}

fn signer_json(info: &CertInfo) -> serde_json::Value {
    json!({
        "subject": info.subject,
        "issuer": info.issuer,
        "serial": info.serial,
        "sha256": info.sha256,
        "not_after": info.not_after.format(&time::format_description::well_known::Rfc3339).ok(),
    })
}

fn subject(cert: &CertificateDer<'_>) -> String {
    CertInfo::parse(cert).map_or_else(|e| e.to_string(), |i| i.subject)
}
