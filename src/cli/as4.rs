//! `sdk-relay as4`: pack an XHE into an AS4 message, unpack one, and check receipts — for operators and tests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rustls_pki_types::CertificateDer;
use serde_json::json;

use super::{exit, read_cert};
use crate::as4::ebms::{NrrReference, UserMessage};
use crate::as4::pack::{self, Packed, ReceivePolicy};
use crate::as4::wssec::ApSigner;
use crate::envelope::Xhe;
use crate::pki::keys::read_key_pair;
use crate::pki::{Checker, Env, KeyStore, Purpose, RevocationPolicy, TrustStore};
use crate::xml::Limits;
use crate::xmlsec::RsaPayloadKey;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  sdk-relay --data-dir ap1 as4 pack sealed.xml --from AP0001-SDK-QA --to AP0045-SDK-QA --to-cert ap45.pem --out msg
  sdk-relay --data-dir ap45 as4 unpack msg.body --type-file msg.type --env qa --out-dir received/
  sdk-relay as4 receipt verify received/receipt.xml --sent msg.sent.json --cert ap45.pem
  sdk-relay --data-dir ap45 as4 receipt make msg.body --type-file msg.type --env qa --out-dir receipts/

`pack` writes msg.body, msg.type (the HTTP Content-Type) and msg.sent.json (what was signed, to check the
receipt against). `unpack` verifies, decrypts and decompresses, writes the payloads, the signed receipt
(receipt.xml) or the ebMS Error signal (error.xml), and prints the ebMS headers as JSON.
Exit codes: 0 done/valid, 1 refused (the ebMS error is printed), 2 usage or I/O error.")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// AS4 messages per DIGG's transport profile (digg-transport-as4-v1_0).
#[derive(clap::Subcommand)]
enum Command {
    /// Pack an XHE as a signed, compressed and encrypted AS4 UserMessage.
    Pack {
        /// The XHE to send (it must be valid).
        xhe: PathBuf,
        /// Our access point id (the CN of our AP certificate).
        #[arg(long)]
        from: String,
        /// The receiving access point id.
        #[arg(long)]
        to: String,
        /// The receiving AP's certificate (from its SMP entry), to encrypt to.
        #[arg(long, value_name = "PEM")]
        to_cert: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        /// Output prefix: PREFIX.body, PREFIX.type, PREFIX.sent.json.
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
    },
    /// Verify, decrypt and decompress an AS4 message; write its payloads and the receipt or Error signal.
    Unpack {
        #[command(flatten)]
        message: Incoming,
    },
    /// Make the signed receipt for a message (verifying it exactly as unpack does), or check a receipt.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
}

#[derive(clap::Subcommand)]
enum ReceiptCommand {
    /// Verify a received message and write only its signed receipt (receipt.xml) or error.xml.
    Make {
        #[command(flatten)]
        message: Incoming,
    },
    /// Check a receipt against what `pack` signed.
    Verify {
        receipt: PathBuf,
        /// The PREFIX.sent.json that `pack` wrote.
        #[arg(long, value_name = "FILE")]
        sent: PathBuf,
        /// The receiving AP's certificate, which must have signed the receipt.
        #[arg(long, value_name = "PEM")]
        cert: PathBuf,
        /// How far the receiving AP's clock may run ahead of ours (its receipt's wsu:Timestamp).
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        clock_skew: u64,
    },
}

/// A received AS4 request and how to judge it.
#[derive(clap::Args)]
struct Incoming {
    /// The HTTP request body.
    body: PathBuf,
    /// The HTTP Content-Type, or --type-file.
    #[arg(
        long = "type",
        value_name = "CONTENT-TYPE",
        conflicts_with = "type_file"
    )]
    content_type: Option<String>,
    #[arg(long, value_name = "FILE")]
    type_file: Option<PathBuf>,
    /// The environment whose AP trust (and CRLs) judge the sender.
    #[arg(long)]
    env: Env,
    #[command(flatten)]
    key: KeyArgs,
    #[arg(long, value_name = "DIR", default_value = ".")]
    out_dir: PathBuf,
    /// How far the sender's clock may run ahead of ours: a signed wsu:Timestamp created further in the
    /// future, or already expired, is refused (EBMS:0103), as [as4] clock_skew_seconds does for the node.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    clock_skew: u64,
}

#[derive(clap::Args)]
struct KeyArgs {
    /// Our AP private key (PEM); without it, the node's active AP key from --data-dir.
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
    /// The certificate of --key.
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,
}

pub fn run(args: Args, data_dir: &Path) -> ExitCode {
    let result = match args.command {
        Command::Pack {
            xhe,
            from,
            to,
            to_cert,
            key,
            out,
        } => pack_cmd(&xhe, &from, &to, &to_cert, &key, &out, data_dir),
        Command::Unpack { message } => unpack_cmd(&message, true, data_dir),
        Command::Receipt(ReceiptCommand::Make { message }) => unpack_cmd(&message, false, data_dir),
        Command::Receipt(ReceiptCommand::Verify {
            receipt,
            sent,
            cert,
            clock_skew,
        }) => receipt_cmd(&receipt, &sent, &cert, clock_skew),
    };
    super::finish(result)
}

fn ap_key(args: &KeyArgs, data_dir: &Path) -> Result<(rcgen::KeyPair, CertificateDer<'static>)> {
    if let (Some(key), Some(cert)) = (&args.key, &args.cert) {
        let bytes = std::fs::read(key).with_context(|| key.display().to_string())?;
        return Ok((
            read_key_pair(&bytes, &key.display().to_string())?,
            read_cert(cert)?,
        ));
    }
    let entry = KeyStore::open(data_dir).signing(Purpose::Ap)?;
    let leaf = entry
        .leaf()
        .cloned()
        .with_context(|| format!("{} has no certificate", entry.id()))?;
    Ok((entry.key_pair()?, leaf))
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[allow(clippy::too_many_arguments)]
fn pack_cmd(
    xhe: &Path,
    from: &str,
    to: &str,
    to_cert: &Path,
    key: &KeyArgs,
    out: &Path,
    data_dir: &Path,
) -> Result<u8> {
    let bytes = std::fs::read(xhe).with_context(|| xhe.display().to_string())?;
    let envelope = Xhe::parse(&bytes, &Limits::default())
        .with_context(|| format!("{}: not a valid XHE", xhe.display()))?;
    let (pair, cert) = ap_key(key, data_dir)?;
    let signer = ApSigner::new(&pair, cert)?;
    let message = UserMessage::for_xhe(&envelope, from, to);
    let body_path = with_suffix(out, ".body");
    let mut body = std::io::BufWriter::new(
        std::fs::File::create(&body_path).with_context(|| body_path.display().to_string())?,
    );
    let mut source: &[u8] = &bytes;
    let mut sources: Vec<&mut dyn std::io::Read> = vec![&mut source];
    let packed = pack::pack_to(
        &message,
        &mut sources,
        &signer,
        &read_cert(to_cert)?,
        &mut body,
        crate::as4::spool::DEFAULT_THRESHOLD,
    )?;
    std::io::Write::flush(&mut body)?;
    std::fs::write(with_suffix(out, ".type"), &packed.content_type)?;
    let sent = json!({"message_id": packed.message_id, "references": packed.references.iter().map(|r| json!({
        "uri": r.uri, "transforms": r.transforms, "inclusive_prefixes": r.inclusive_prefixes, "digest_method": r.digest_method, "digest_value": r.digest_value,
    })).collect::<Vec<_>>()});
    std::fs::write(
        with_suffix(out, ".sent.json"),
        serde_json::to_string_pretty(&sent)?,
    )?;
    eprintln!(
        "packed {} from {from} to {to} into {}",
        packed.message_id,
        body_path.display()
    );
    Ok(exit::OK)
}

/// Verifies, decrypts and decompresses `m`; writes the payloads (when `payloads`) and the signed receipt, or
/// the Error signal.
fn unpack_cmd(m: &Incoming, payloads: bool, data_dir: &Path) -> Result<u8> {
    let (body, env, key, out_dir) = (&m.body, &m.env, &m.key, &m.out_dir);
    let content_type = match (&m.content_type, &m.type_file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| f.display().to_string())?
            .trim()
            .to_owned(),
        (None, None) => bail!("give the HTTP Content-Type with --type or --type-file"),
    };
    let mut input = std::io::BufReader::new(
        std::fs::File::open(body).with_context(|| body.display().to_string())?,
    );
    let (pair, cert) = ap_key(key, data_dir)?;
    let signer = ApSigner::new(&pair, cert.clone())?;
    let payload_key = RsaPayloadKey::new(&pair, cert)?;
    let trust = TrustStore::open(data_dir).load()?;
    let checker = Checker::new(&trust, RevocationPolicy::default());
    let policy = ReceivePolicy::new(&checker, env)
        .with_clock_skew(std::time::Duration::from_secs(m.clock_skew));
    std::fs::create_dir_all(out_dir).with_context(|| out_dir.display().to_string())?;
    match pack::unpack_from(&content_type, &mut input, &policy, &payload_key) {
        Ok(mut received) => {
            let mut files = Vec::new();
            for (i, (info, content)) in received.payloads.iter_mut().enumerate() {
                if !payloads {
                    break;
                }
                let path = out_dir.join(format!("payload-{}.xml", i + 1));
                let mut file =
                    std::fs::File::create(&path).with_context(|| path.display().to_string())?;
                std::io::copy(&mut content.reader()?, &mut file)?;
                files.push(json!({"href": info.href, "mime_type": info.mime_type, "file": path.display().to_string(), "bytes": content.len()}));
            }
            let receipt = pack::receipt(&received, &signer)?;
            std::fs::write(out_dir.join("receipt.xml"), &receipt)?;
            let m = &received.message;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "accepted": true, "message_id": m.message_id, "conversation_id": m.conversation_id,
                    "from": m.from.id, "to": m.to.id, "service": m.service, "action": m.action,
                    "original_sender": m.original_sender, "final_recipient": m.final_recipient, "payloads": files,
                }))?
            );
            Ok(exit::OK)
        }
        Err(refused) => {
            // The signed SOAP Fault a node answers with (error_signal), so the file is what a peer would get.
            let signal = crate::as4::error_signal::write_signed(
                refused.message_id.as_deref(),
                std::slice::from_ref(&refused.error),
                crate::as4::error::FaultCode::Sender,
                &signer,
            )?;
            std::fs::write(out_dir.join("error.xml"), signal)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "accepted": false, "message_id": refused.message_id, "error_code": refused.error.code.as_str(),
                    "short_description": refused.error.code.short_description(), "detail": refused.error.detail,
                }))?
            );
            Ok(exit::FOUND_PROBLEMS)
        }
    }
}

fn receipt_cmd(receipt: &Path, sent: &Path, cert: &Path, clock_skew: u64) -> Result<u8> {
    let sent_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sent).with_context(|| sent.display().to_string())?)?;
    let references = sent_json["references"]
        .as_array()
        .context("sent.json has no references")?
        .iter()
        .map(|r| NrrReference {
            uri: r["uri"].as_str().unwrap_or_default().to_owned(),
            transforms: r["transforms"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            inclusive_prefixes: r["inclusive_prefixes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            digest_method: r["digest_method"].as_str().unwrap_or_default().to_owned(),
            digest_value: r["digest_value"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    let packed = Packed {
        message_id: sent_json["message_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        content_type: String::new(),
        body: Vec::new(),
        references,
    };
    let bytes = std::fs::read(receipt).with_context(|| receipt.display().to_string())?;
    let skew = std::time::Duration::from_secs(clock_skew);
    let now = time::OffsetDateTime::now_utc();
    match pack::verify_receipt_at(&bytes, &packed, &read_cert(cert)?, now, skew) {
        Ok(()) => {
            println!(
                "{}: valid receipt for {}",
                receipt.display(),
                packed.message_id
            );
            Ok(exit::OK)
        }
        Err(e) => {
            println!("{}: invalid receipt: {e}", receipt.display());
            Ok(exit::FOUND_PROBLEMS)
        }
    }
}
