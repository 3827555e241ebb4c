//! `sdk-relay send`: a message with texts and files, through a running node's organisation API.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::{Value, json};

use super::api_client::{self, Api, Connection, str_at};
use super::exit;

/// Send a message through a running node's organisation API.
#[derive(clap::Args)]
#[command(
    group = clap::ArgGroup::new("content").args(["texts", "files"]).required(true).multiple(true),
    after_help = "Example:
  export SDK_RELAY_API=https://node.example.se:8443 SDK_RELAY_TOKEN=sdkr_… SDK_RELAY_CA=tls-ca.pem
  sdk-relay send --from 0203:kommun-a.example.se --from-function registrator \\
      --to 0203:region-b.example.se --function socialtjanst --subject 'Kallelse till SIP-möte' \\
      --text 'Hej! Se bifogad kallelse.' --file kallelse.pdf

Prints the new message's id, then its Location; follow it with `sdk-relay messages show ID`.
Exit codes: 0 sent (stored and queued by the node), 1 the node refused the message (each wrong field is
named by its JSON pointer), 2 usage or I/O error, or the node could not be reached."
)]
pub struct Args {
    /// The recipient organisation (0203:<id>).
    #[arg(long, value_name = "ORG")]
    to: String,
    /// The recipient's functional address.
    #[arg(long = "function", value_name = "F")]
    function: String,
    /// The message's subject (its label).
    #[arg(long, value_name = "S")]
    subject: String,
    /// A text body; repeat for several.
    #[arg(long = "text", value_name = "T")]
    texts: Vec<String>,
    /// A file to attach; repeat for several. Its type is guessed from the extension.
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// The sending organisation: the API client's own (the API has no way to ask which that is).
    #[arg(long, env = "SDK_RELAY_FROM", value_name = "ORG")]
    from: String,
    /// The sender's functional address.
    #[arg(long = "from-function", value_name = "F")]
    from_function: Option<String>,
    /// Mark the message confidential.
    #[arg(long)]
    confidential: bool,
    /// The conversation this message belongs to (a UUID; by default the message starts a new one).
    #[arg(long, value_name = "ID")]
    conversation: Option<String>,
    /// The message this one answers (a UUID).
    #[arg(long = "reply-to", value_name = "ID")]
    reply_to: Option<String>,
    /// Print the node's answer (the created message) as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: Connection,
}

pub fn run(args: Args) -> ExitCode {
    api_client::finish(send(&args))
}

fn send(args: &Args) -> Result<u8> {
    // The files are read before connecting: a wrong path is the user's to fix, whatever the node says.
    let body = create_body(args)?;
    let api = Api::new(&args.connection)?;
    let reply = api.post("/v1/sdk/messages", Some(&body))?;
    if args.json {
        api_client::print_json(&reply.body)?;
        return Ok(exit::OK);
    }
    let id = str_at(&reply.body, "/data/id");
    println!("{id}");
    if let Some(location) = &reply.location {
        // The node gives a path; an absolute Location (from a proxy, say) is shown as it is.
        if location.starts_with('/') {
            println!("Location: {}", api.url(location));
        } else {
            println!("Location: {location}");
        }
    }
    Ok(exit::OK)
}

/// The createMessage JSON: one document, "1", with the texts and files in the order given.
fn create_body(args: &Args) -> Result<Value> {
    let files = args
        .files
        .iter()
        .map(|p| content_file(p))
        .collect::<Result<Vec<_>>>()?;
    let mut document = json!({"documentId": "1"});
    if !args.texts.is_empty() {
        document["contentTextBody"] = json!(args.texts);
    }
    if !files.is_empty() {
        document["contentFiles"] = Value::Array(files);
    }
    let mut attributes = json!({
        "confidentiality": args.confidential,
        "label": args.subject,
        "sender": args.from,
        "recipient": args.to,
        "recipientAttention": {"subOrganization": {"extension": args.function}},
        "digitalDocument": [document],
    });
    if let Some(f) = &args.from_function {
        attributes["senderAttention"] = json!({"subOrganization": {"extension": f}});
    }
    if let Some(c) = &args.conversation {
        attributes["conversationId"] = json!(c);
    }
    if let Some(r) = &args.reply_to {
        attributes["refToMessageId"] = json!(r);
    }
    Ok(json!({"data": {"type": "messages", "attributes": attributes}}))
}

/// `{fileName, contentType, content}` for a file on disk.
fn content_file(path: &Path) -> Result<Value> {
    let name = path.file_name().and_then(|n| n.to_str()).with_context(|| {
        format!(
            "--file {}: the file name must be UTF-8 text",
            path.display()
        )
    })?;
    let bytes = std::fs::read(path).with_context(|| format!("--file {}", path.display()))?;
    Ok(json!({
        "fileName": name,
        "contentType": content_type(path),
        "content": base64::engine::general_purpose::STANDARD.encode(bytes),
    }))
}

/// The MIME type for a file's extension; anything unknown is plain bytes to the recipient.
fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("xml") => "application/xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(extra: &[&str]) -> Result<Args, clap::Error> {
        let base = [
            "send",
            "--to",
            "0203:b.se",
            "--function",
            "inkorg",
            "--subject",
            "Hej",
            "--from",
            "0203:a.se",
            "--token",
            "t",
            "--ca",
            "ca.pem",
        ];
        Cli::try_parse_from(base.iter().chain(extra)).map(|c| c.args)
    }

    #[test]
    fn content_types_follow_the_extension_in_any_case() {
        for (name, expected) in [
            ("a.pdf", "application/pdf"),
            ("a.PDF", "application/pdf"),
            ("a.txt", "text/plain"),
            ("a.xml", "application/xml"),
            ("a.json", "application/json"),
            ("a.png", "image/png"),
            ("a.jpg", "image/jpeg"),
            ("a.JPEG", "image/jpeg"),
            ("a.docx", "application/octet-stream"),
            ("README", "application/octet-stream"),
        ] {
            assert_eq!(content_type(Path::new(name)), expected, "{name}");
        }
    }

    #[test]
    fn the_body_has_one_document_with_texts_and_files_and_only_the_options_given() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("brev.pdf");
        std::fs::write(&file, b"%PDF-1.7\n").unwrap();
        let file = file.to_str().unwrap();
        let args = parse(&["--text", "ett", "--text", "två", "--file", file]).unwrap();
        let body = create_body(&args).unwrap();
        let a = &body["data"]["attributes"];
        assert_eq!(body["data"]["type"], "messages");
        assert_eq!(a["confidentiality"], false);
        assert_eq!(a["label"], "Hej");
        assert_eq!(a["sender"], "0203:a.se");
        assert_eq!(a["recipient"], "0203:b.se");
        assert_eq!(
            a["recipientAttention"]["subOrganization"]["extension"],
            "inkorg"
        );
        for absent in ["senderAttention", "conversationId", "refToMessageId"] {
            assert!(a.get(absent).is_none(), "{absent}");
        }
        let docs = a["digitalDocument"].as_array().unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["documentId"], "1");
        assert_eq!(docs[0]["contentTextBody"], json!(["ett", "två"]));
        assert_eq!(
            docs[0]["contentFiles"],
            json!([{"fileName": "brev.pdf", "contentType": "application/pdf",
                    "content": "JVBERi0xLjcK"}])
        );
        // What the node will read: the body passes its createMessage rules.
        assert!(crate::node::json::read_create(&serde_json::to_vec(&body).unwrap()).is_ok());
    }

    #[test]
    fn optional_fields_are_set_when_given() {
        let id = "ff325210-0690-42fe-b86f-95ecab821223";
        let args = parse(&[
            "--text",
            "svar",
            "--confidential",
            "--from-function",
            "registrator",
            "--conversation",
            id,
            "--reply-to",
            id,
        ])
        .unwrap();
        let body = create_body(&args).unwrap();
        let a = &body["data"]["attributes"];
        assert_eq!(a["confidentiality"], true);
        assert_eq!(
            a["senderAttention"]["subOrganization"]["extension"],
            "registrator"
        );
        assert_eq!(a["conversationId"], id);
        assert_eq!(a["refToMessageId"], id);
        assert!(a["digitalDocument"][0].get("contentFiles").is_none());
    }

    #[test]
    fn a_message_needs_a_text_or_a_file_and_files_must_exist() {
        let e = parse(&[]).err().unwrap();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let args = parse(&["--file", "/no/such/file.pdf"]).unwrap();
        let e = format!("{:#}", create_body(&args).unwrap_err());
        assert!(e.contains("/no/such/file.pdf"), "{e}");
    }
}
