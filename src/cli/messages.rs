//! `sdk-relay messages`: the API client's messages on a running node — list, show (with the received texts and
//! files), delete.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::Value;

use super::api_client::{self, Api, Connection, encode, message_path, str_at};
use super::exit;

/// List, show and delete messages on a running node (through its organisation API).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  export SDK_RELAY_API=https://node.example.se:8443 SDK_RELAY_TOKEN=sdkr_… SDK_RELAY_CA=tls-ca.pem
  sdk-relay messages list --direction inbound --status NEW --function socialtjanst
  sdk-relay messages show 5f0c3a1e-8a7b-4c5d-9e0f-1a2b3c4d5e6f --save-files inkommet/
  sdk-relay messages delete 5f0c3a1e-8a7b-4c5d-9e0f-1a2b3c4d5e6f

The node shows the texts and files of received messages only (it keeps sent ones sealed).
Exit codes: 0 done, 1 the node refused (no such message, not deletable yet, bad token), 2 usage or I/O
error, or the node could not be reached.")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// The API client's messages on the node.
#[derive(clap::Subcommand)]
enum Command {
    /// The messages the client may see: id, direction, status, the other organisation and the subject.
    #[command(after_help = "Example:
  sdk-relay messages list --direction inbound --status NEW --function socialtjanst --json")]
    List {
        /// Only messages in this status (NEW, ACCEPTED, MESSAGE_EXCHANGE_ERROR, …).
        #[arg(long, value_name = "S")]
        status: Option<String>,
        /// Only messages of this functional address.
        #[arg(long = "function", value_name = "F")]
        function: Option<String>,
        /// Only received (inbound) or only sent (outbound) messages.
        #[arg(long, value_parser = ["inbound", "outbound"])]
        direction: Option<String>,
        /// Print the node's answer as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// A message: its status and history and, for a received message, its texts and files.
    #[command(after_help = "Example:
  sdk-relay messages show 5f0c3a1e-8a7b-4c5d-9e0f-1a2b3c4d5e6f --save-files inkommet/")]
    Show {
        /// The message's id.
        id: String,
        /// Print the node's answer as JSON.
        #[arg(long)]
        json: bool,
        /// Write the message's files (decoded) into this directory; existing files are not overwritten.
        #[arg(long = "save-files", value_name = "DIR")]
        save_files: Option<PathBuf>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Delete a message in a final status (NEW, ACCEPTED, REJECTED, MESSAGE_EXCHANGE_ERROR).
    #[command(after_help = "Example:
  sdk-relay messages delete 5f0c3a1e-8a7b-4c5d-9e0f-1a2b3c4d5e6f")]
    Delete {
        /// The message's id.
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
}

pub fn run(args: Args) -> ExitCode {
    api_client::finish(match args.command {
        Command::List {
            status,
            function,
            direction,
            json,
            connection,
        } => list(&connection, status, function, direction, json),
        Command::Show {
            id,
            json,
            save_files,
            connection,
        } => show(&connection, &id, json, save_files.as_deref()),
        Command::Delete { id, connection } => delete(&connection, &id),
    })
}

fn delete(connection: &Connection, id: &str) -> Result<u8> {
    Api::new(connection)?.delete(&message_path(id))?;
    println!("message {id} deleted");
    Ok(exit::OK)
}

fn list(
    connection: &Connection,
    status: Option<String>,
    function: Option<String>,
    direction: Option<String>,
    json: bool,
) -> Result<u8> {
    let filters = [
        ("filter[messageStatus]", status),
        (
            "filter[recipientAttention.subOrganization.extension]",
            function,
        ),
        ("filter[direction]", direction),
    ];
    let query: Vec<String> = filters
        .iter()
        .filter_map(|(key, value)| Some(format!("{}={}", encode(key), encode(value.as_ref()?))))
        .collect();
    let path = if query.is_empty() {
        "/v1/sdk/messages".to_owned()
    } else {
        format!("/v1/sdk/messages?{}", query.join("&"))
    };
    let reply = Api::new(connection)?.get(&path)?;
    if json {
        api_client::print_json(&reply.body)?;
        return Ok(exit::OK);
    }
    let messages = reply.body["data"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = messages.iter().map(list_row).collect();
    api_client::print_table(&["ID", "DIRECTION", "STATUS", "PEER", "SUBJECT"], &rows);
    Ok(exit::OK)
}

fn list_row(m: &Value) -> Vec<String> {
    let direction = str_at(m, "/attributes/direction");
    [
        str_at(m, "/id"),
        direction,
        str_at(m, "/attributes/messageStatus"),
        peer(m, direction),
        str_at(m, "/attributes/label"),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The other organisation: the recipient of what we sent, the sender of what we received.
fn peer<'v>(m: &'v Value, direction: &str) -> &'v str {
    if direction == "inbound" {
        str_at(m, "/attributes/sender")
    } else {
        str_at(m, "/attributes/recipient")
    }
}

fn show(connection: &Connection, id: &str, json: bool, save_to: Option<&Path>) -> Result<u8> {
    let reply = Api::new(connection)?.get(&message_path(id))?;
    let message = &reply.body["data"];
    if json {
        api_client::print_json(&reply.body)?;
    } else {
        print_message(message);
    }
    if let Some(dir) = save_to {
        save_files(message, dir, json)?;
    }
    Ok(exit::OK)
}

fn print_message(m: &Value) {
    let a = &m["attributes"];
    let at = |key: &str| str_at(a, key);
    println!("message       {}", str_at(m, "/id"));
    println!("status        {}", at("/messageStatus"));
    println!("direction     {}", at("/direction"));
    println!(
        "from          {}",
        party(
            at("/sender"),
            at("/senderAttention/subOrganization/extension")
        )
    );
    println!(
        "to            {}",
        party(
            at("/recipient"),
            at("/recipientAttention/subOrganization/extension")
        )
    );
    println!("subject       {}", at("/label"));
    println!("conversation  {}", at("/conversationId"));
    for (name, key) in [
        ("reply to", "/refToMessageId"),
        ("created", "/creationDateTime"),
    ] {
        if !at(key).is_empty() {
            println!("{name:<14}{}", at(key));
        }
    }
    if let Some(c) = a["confidentiality"].as_bool() {
        println!("confidential  {}", if c { "yes" } else { "no" });
    }
    println!("\nevents:");
    print_events(&a["events"]);
    for d in a["digitalDocument"].as_array().into_iter().flatten() {
        print_document(d);
    }
}

/// The status history, oldest first: when, the status, and why.
fn print_events(events: &Value) {
    let events = events.as_array().map(Vec::as_slice).unwrap_or_default();
    let width = |key: &str| {
        let widths = events.iter().map(|e| str_at(e, key).chars().count());
        widths.max().unwrap_or(0)
    };
    let (when, status) = (width("/detail"), width("/typeCode"));
    for e in events {
        println!(
            "  {:<when$}  {:<status$}  {}",
            str_at(e, "/detail"),
            str_at(e, "/typeCode"),
            str_at(e, "/title")
        );
    }
}

/// "0203:region-b.example.se (socialtjanst)", or just the organisation when the functional address is unknown.
fn party(org: &str, function: &str) -> String {
    if function.is_empty() {
        org.to_owned()
    } else {
        format!("{org} ({function})")
    }
}

fn print_document(d: &Value) {
    let name = str_at(d, "/documentName");
    let id = str_at(d, "/documentId");
    if name.is_empty() {
        println!("\ndocument {id}:");
    } else {
        println!("\ndocument {id} ({name}):");
    }
    for text in d["contentTextBody"].as_array().into_iter().flatten() {
        println!("  text:");
        for line in text.as_str().unwrap_or("").lines() {
            println!("    {line}");
        }
    }
    for f in d["contentFiles"].as_array().into_iter().flatten() {
        // base64 carries 3 bytes in every 4 characters; the padding is not content.
        let encoded = str_at(f, "/content").trim_end_matches('=');
        println!(
            "  file: {} ({}, {} bytes)",
            str_at(f, "/fileName"),
            str_at(f, "/contentType"),
            encoded.len() * 3 / 4
        );
    }
}

/// Writes every file of every document into `dir`, printing where each went (to stderr under --json, so the
/// JSON on stdout stays whole).
fn save_files(m: &Value, dir: &Path, json: bool) -> Result<()> {
    let files: Vec<&Value> = m["attributes"]["digitalDocument"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| d["contentFiles"].as_array().into_iter().flatten())
        .collect();
    if files.is_empty() {
        eprintln!(
            "no files to save: message {} has none the node shows (it shows the files of received messages only)",
            str_at(m, "/id")
        );
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("--save-files {}", dir.display()))?;
    for (i, f) in files.iter().enumerate() {
        let given = str_at(f, "/fileName");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(str_at(f, "/content"))
            .with_context(|| format!("file {given:?}: the node sent content that is not base64"))?;
        let name = safe_file_name(given).unwrap_or_else(|| format!("file-{}", i + 1));
        let path = write_new(dir, &name, &bytes)?;
        if json {
            eprintln!("saved {}", path.display());
        } else {
            println!("saved {}", path.display());
        }
    }
    Ok(())
}

/// The sender chose the file name: only its last component is used, so it cannot reach outside the directory.
fn safe_file_name(given: &str) -> Option<String> {
    let last = given.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return None;
    }
    Some(cleaned.to_owned())
}

/// Writes `bytes` to `dir/name`, or to `name-2.ext`, `name-3.ext`, … when that exists: a file already there (or
/// an earlier file of the same name in this message) is never overwritten.
fn write_new(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    for n in 1..=1000 {
        let candidate = if n == 1 {
            dir.join(name)
        } else {
            dir.join(format!("{stem}-{n}{extension}"))
        };
        // create_new also refuses a symbolic link planted at the name.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(mut file) => {
                file.write_all(bytes)
                    .with_context(|| candidate.display().to_string())?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| candidate.display().to_string()),
        }
    }
    bail!("{}: no free name for {name}", dir.display())
}

/// Why a message has the status it has: the title of its latest event.
pub fn latest_reason(m: &Value) -> &str {
    m["attributes"]["events"]
        .as_array()
        .and_then(|events| events.last())
        .map_or("", |e| str_at(e, "/title"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_names_from_the_sender_stay_inside_the_directory() {
        assert_eq!(safe_file_name("brev.pdf").as_deref(), Some("brev.pdf"));
        assert_eq!(
            safe_file_name("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(safe_file_name("C:\\tmp\\a.txt").as_deref(), Some("a.txt"));
        assert_eq!(safe_file_name("a\u{0}b\n.txt").as_deref(), Some("ab.txt"));
        for bad in ["", " ", ".", "..", "x/..", "dir/"] {
            assert_eq!(safe_file_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn existing_files_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(write_new(d, "a.pdf", b"1").unwrap(), d.join("a.pdf"));
        assert_eq!(write_new(d, "a.pdf", b"2").unwrap(), d.join("a-2.pdf"));
        assert_eq!(write_new(d, "a.pdf", b"3").unwrap(), d.join("a-3.pdf"));
        assert_eq!(write_new(d, ".env", b"4").unwrap(), d.join(".env"));
        assert_eq!(write_new(d, ".env", b"5").unwrap(), d.join(".env-2"));
        assert_eq!(std::fs::read(d.join("a.pdf")).unwrap(), b"1");
        assert_eq!(std::fs::read(d.join("a-3.pdf")).unwrap(), b"3");
    }

    #[test]
    fn saving_decodes_every_file_of_every_document() {
        let dir = tempfile::tempdir().unwrap();
        let m = json!({"id": "x", "attributes": {"digitalDocument": [
            {"documentId": "1", "contentFiles": [
                {"fileName": "a.txt", "contentType": "text/plain", "content": "aGVq"}]},
            {"documentId": "2", "contentFiles": [
                {"fileName": "../a.txt", "contentType": "text/plain", "content": "ZMOl"},
                {"fileName": "..", "contentType": "text/plain", "content": ""}]}
        ]}});
        save_files(&m, &dir.path().join("out"), false).unwrap();
        let out = dir.path().join("out");
        assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"hej");
        assert_eq!(std::fs::read_to_string(out.join("a-2.txt")).unwrap(), "då");
        assert_eq!(std::fs::read(out.join("file-3")).unwrap(), b"");
        assert!(!dir.path().join("a.txt").exists());
    }

    #[test]
    fn rows_name_the_other_organisation() {
        let m = json!({"id": "1", "attributes": {"direction": "inbound", "messageStatus": "NEW",
            "sender": "0203:a.se", "recipient": "0203:b.se", "label": "Hej"}});
        assert_eq!(list_row(&m), ["1", "inbound", "NEW", "0203:a.se", "Hej"]);
        let m = json!({"id": "2", "attributes": {"direction": "outbound", "messageStatus": "ACCEPTED",
            "sender": "0203:a.se", "recipient": "0203:b.se"}});
        assert_eq!(list_row(&m), ["2", "outbound", "ACCEPTED", "0203:b.se", ""]);
    }

    #[test]
    fn the_latest_event_says_why() {
        let m = json!({"attributes": {"events": [
            {"typeCode": "SCHEDULED", "title": "a"}, {"typeCode": "MESSAGE_EXCHANGE_ERROR", "title": "dropped"}
        ]}});
        assert_eq!(latest_reason(&m), "dropped");
        assert_eq!(latest_reason(&json!({})), "");
    }
}
