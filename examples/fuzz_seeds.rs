//! Writes the seed corpora of the fuzz targets into `fuzz/corpus/<target>/`: DIGG's examples and test data
//! (from `../shared`, or the directory given), the project's own sample documents, and AS4 messages, signals,
//! SMP answers, DNS answers, certificates and API bodies made here with the library, in a throwaway test
//! federation. Nothing of it is committed; `fuzz/run` calls this first.
//!
//!     cargo run --example fuzz_seeds [-- SHARED_DIR]

use std::path::{Path, PathBuf};

use anyhow::Context;
use sdk_relay::as4::ebms::{self, UserMessage};
use sdk_relay::as4::error::{EbmsError, ErrorCode};
use sdk_relay::as4::pack;
use sdk_relay::directory::ids::ParticipantId;
use sdk_relay::directory::smp::{self, ServiceMetadata};
use sdk_relay::envelope::{Document, Xhe};
use sdk_relay::pki::federation::{CreateOptions, Federation, IssueOptions};
use sdk_relay::pki::profile::Subject;
use sdk_relay::pki::{KeyAlgorithm, Purpose};
use sdk_relay::xml::Limits;

fn main() -> anyhow::Result<()> {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| project.join("../shared"));
    let docs = shared.join("sdk-docs");
    anyhow::ensure!(
        docs.is_dir(),
        "DIGG's artefacts are expected in {}",
        docs.display()
    );
    let corpus = Corpus(project.join("fuzz/corpus"));

    let mut xml_files = xml_in(&project.join("examples/documents"))?;
    for sub in [
        "xhe/examples",
        "message-v3/examples",
        "message-v3/testdata",
        "receipt/examples",
    ] {
        xml_files.extend(xml_in(&docs.join(sub))?);
    }
    for file in &xml_files {
        corpus.copy("validate", file)?;
    }
    for file in files_under(&docs.join("certs"))? {
        corpus.copy("pki_input", &file)?;
    }

    let work = tempfile::tempdir()?;
    let fed = Federation::create(
        &work.path().join("fed"),
        &CreateOptions {
            env: "fuzz-seed".parse()?,
            key: KeyAlgorithm::Rsa2048,
            crl_base_url: None,
            ca_days: 3650,
        },
    )?;
    for crl in fed.crl_files() {
        corpus.copy("pki_input", &crl)?;
    }
    for (_, ca) in fed.trust_files() {
        corpus.copy("pki_input", &ca)?;
    }
    let issue = |purpose, cn: &str| {
        let subject = Subject {
            common_name: cn.to_owned(),
            ..Subject::default()
        };
        let options = IssueOptions {
            key: KeyAlgorithm::Rsa2048,
            ..IssueOptions::default()
        };
        fed.issue(purpose, &subject, &options)
    };
    let (sender_key, sender_chain) = issue(Purpose::Ap, "AP0001-SDK-TEST")?;
    let (_, receiver_chain) = issue(Purpose::Ap, "AP0002-SDK-TEST")?;
    let (smp_key, smp_chain) = issue(Purpose::Smp, "SMP0001-SDK-TEST")?;
    corpus.write("pki_input", "ap.der", receiver_chain[0].as_ref())?;

    let xhe_bytes = std::fs::read(project.join("examples/documents/xhe-message.xml"))?;
    let Document::Xhe(xhe) = Document::parse(&xhe_bytes, &Limits::default())? else {
        anyhow::bail!("examples/documents/xhe-message.xml is not an XHE");
    };
    as4_seeds(
        &corpus,
        &xhe,
        &xhe_bytes,
        &sender_key,
        &sender_chain[0],
        &receiver_chain[0],
    )?;
    smp_seeds(&corpus, &xhe, &smp_key, &smp_chain[0], &receiver_chain[0])?;
    api_seeds(&corpus)?;
    println!("seed corpora written to {}", corpus.0.display());
    Ok(())
}

struct Corpus(PathBuf);

impl Corpus {
    fn write(&self, target: &str, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let dir = self.0.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes).with_context(|| format!("{target}/{name}"))
    }

    fn copy(&self, target: &str, file: &Path) -> anyhow::Result<()> {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .context("a file name")?;
        self.write(target, &format!("seed-{name}"), &std::fs::read(file)?)
    }
}

fn xml_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Ok(files_under(dir)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect())
}

fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(files_under(&path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}

/// An HTTP exchange as the AS4 targets read it: the Content-Type line, then the body.
fn exchange(content_type: &str, body: &[u8]) -> Vec<u8> {
    [content_type.as_bytes(), b"\n", body].concat()
}

fn as4_seeds(
    corpus: &Corpus,
    xhe: &Xhe,
    xhe_bytes: &[u8],
    sender_key: &rcgen::KeyPair,
    sender: &rustls_pki_types::CertificateDer<'static>,
    receiver: &rustls_pki_types::CertificateDer<'static>,
) -> anyhow::Result<()> {
    let signer = sdk_relay::as4::wssec::ApSigner::new(sender_key, sender.clone())?;
    let message = UserMessage::for_xhe(xhe, "AP0001-SDK-TEST", "AP0002-SDK-TEST");
    let packed = pack::pack(&message, &[xhe_bytes], &signer, receiver)?;
    let user_message = exchange(&packed.content_type, &packed.body);
    let soap = "application/soap+xml; charset=utf-8";
    let receipt = ebms::envelope(&[&ebms::write_receipt(&packed.message_id, &[])], "body");
    let error = ebms::envelope(
        &[&ebms::write_error(
            Some(&packed.message_id),
            &[EbmsError::new(ErrorCode::ValueInconsistent, "seed")],
        )],
        "body",
    );
    for target in ["as4_unpack", "mime"] {
        corpus.write(target, "user-message", &user_message)?;
        corpus.write(target, "receipt", &exchange(soap, receipt.as_bytes()))?;
        corpus.write(target, "error", &exchange(soap, error.as_bytes()))?;
    }
    Ok(())
}

fn smp_seeds(
    corpus: &Corpus,
    xhe: &Xhe,
    smp_key: &rcgen::KeyPair,
    smp_cert: &rustls_pki_types::CertificateDer<'static>,
    ap: &rustls_pki_types::CertificateDer<'static>,
) -> anyhow::Result<()> {
    let participant = ParticipantId::parse(&xhe.to).map_err(anyhow::Error::msg)?;
    let group = smp::write_service_group(
        "http://smp.example",
        &participant,
        &[&xhe.scope.document_id],
    );
    corpus.write("smp_response", "service-group", group.as_bytes())?;
    let meta = ServiceMetadata {
        participant,
        document_id: xhe.scope.document_id.clone(),
        process_id: xhe.scope.process_id.clone(),
        endpoint_url: "https://ap.example/as4".into(),
        ap_certificate: ap.clone(),
        signing_certificate: Some(ap.clone()),
        encryption_certificate: Some(ap.clone()),
    };
    let key = sdk_relay::xmlsec::SigningKey::new(smp_key, smp_cert.clone())?;
    let signed = smp::write_signed_service_metadata(&meta, &key)?;
    corpus.write("smp_response", "signed-service-metadata", signed.as_bytes())?;
    corpus.write("smp_response", "naptr-answer", &naptr_answer())?;
    Ok(())
}

/// A DNS answer with one NAPTR record of the BDXL form (RFC 1035 §4.1, RFC 3403 §4.1).
fn naptr_answer() -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x84, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    for label in ["fuzz", "example"] {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 35, 0, 1]);
    let mut rdata = vec![0, 100, 0, 10];
    for s in ["U", "Meta:SMP", "!.*!http://smp.example!"] {
        rdata.push(s.len() as u8);
        rdata.extend_from_slice(s.as_bytes());
    }
    rdata.push(0);
    m.extend_from_slice(&[0xC0, 12, 0, 35, 0, 1, 0, 0, 0x0E, 0x10]);
    m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    m.extend_from_slice(&rdata);
    m
}

fn api_seeds(corpus: &Corpus) -> anyhow::Result<()> {
    let text = serde_json::json!({"data": {"type": "messages", "attributes": {
        "confidentiality": true,
        "label": "Kallelse",
        "sender": "0203:kommun-a.example.se",
        "recipient": "0203:region-b.example.se",
        "senderAttention": {"subOrganization": {"extension": "registrator"}},
        "recipientAttention": {"subOrganization": {"extension": "vard"}},
        "digitalDocument": [{"documentId": "doc-1", "documentName": "Brev", "contentTextBody": ["Hej"]}]
    }}});
    let mut with_file = text.clone();
    with_file["data"]["attributes"]["digitalDocument"][0]["contentFiles"] = serde_json::json!([
        {"fileName": "plan.pdf", "contentType": "application/pdf", "content": "JVBERi0xLjQK"}
    ]);
    with_file["data"]["attributes"]["conversationId"] =
        serde_json::json!("6f1c2b9e-0b7a-4f3e-9d52-1a2b3c4d5e6f");
    corpus.write("api_json", "text", &serde_json::to_vec(&text)?)?;
    corpus.write(
        "api_json",
        "with-file",
        &serde_json::to_vec_pretty(&with_file)?,
    )?;
    corpus.write(
        "api_json",
        "wrong-types",
        br#"{"data":{"attributes":{"confidentiality":"yes","digitalDocument":{}}}}"#,
    )?;
    Ok(())
}
