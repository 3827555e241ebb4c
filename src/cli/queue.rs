//! `sdk-relay queue`: the API client's messages waiting to be sent by a running node — see them, try one again
//! now, or give one up.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::Value;

use super::api_client::{self, Api, Connection, encode, str_at};
use super::exit;
use super::messages::latest_reason;

/// A running node's outgoing queue: list, retry, drop (through its organisation API).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  export SDK_RELAY_API=https://node.example.se:8443 SDK_RELAY_TOKEN=sdkr_… SDK_RELAY_CA=tls-ca.pem
  sdk-relay queue list
  sdk-relay queue retry 5f0c3a1e-8a7b-4c5d-9e0f-1a2b3c4d5e6f
  sdk-relay queue drop 5f0c3a1e-8a7b-4c5d-9e0f-1a2b3c4d5e6f

A dropped message ends MESSAGE_EXCHANGE_ERROR and is not sent again; it can then be deleted with
`sdk-relay messages delete ID`.
Exit codes: 0 done, 1 the node refused (the message is not queued, bad token), 2 usage or I/O error, or the
node could not be reached.")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Outgoing messages the node is still trying to deliver.
#[derive(clap::Subcommand)]
enum Command {
    /// The queued messages: status, recipient, attempts so far, the next attempt and the last failure.
    #[command(after_help = "Example:
  sdk-relay queue list --json")]
    List {
        /// Print the node's answer as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Try a queued message again now instead of at its next scheduled attempt.
    #[command(after_help = "Example:
  sdk-relay queue retry 5f0c3a1e-8a7b-4c5d-9e0f-1a2b3c4d5e6f")]
    Retry {
        /// The message's id.
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Stop trying: the message ends MESSAGE_EXCHANGE_ERROR.
    #[command(after_help = "Example:
  sdk-relay queue drop 5f0c3a1e-8a7b-4c5d-9e0f-1a2b3c4d5e6f")]
    Drop {
        /// The message's id.
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
}

pub fn run(args: Args) -> ExitCode {
    api_client::finish(match args.command {
        Command::List { json, connection } => list(&connection, json),
        Command::Retry { id, connection } => act(&connection, &id, "retry"),
        Command::Drop { id, connection } => act(&connection, &id, "drop"),
    })
}

fn list(connection: &Connection, json: bool) -> Result<u8> {
    let reply = Api::new(connection)?.get("/v1/queue")?;
    if json {
        api_client::print_json(&reply.body)?;
        return Ok(exit::OK);
    }
    let items = reply.body["data"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    api_client::print_table(
        &[
            "ID",
            "STATUS",
            "RECIPIENT",
            "ATTEMPTS",
            "NEXT ATTEMPT",
            "LAST REASON",
        ],
        &rows,
    );
    Ok(exit::OK)
}

fn row(item: &Value) -> Vec<String> {
    vec![
        str_at(item, "/id").to_owned(),
        str_at(item, "/status").to_owned(),
        str_at(item, "/recipient").to_owned(),
        item["attempts"]
            .as_u64()
            .map_or(String::new(), |n| n.to_string()),
        str_at(item, "/nextAttempt").to_owned(),
        str_at(item, "/lastReason").to_owned(),
    ]
}

/// `retry` or `drop`; the node answers with the message as it now is.
fn act(connection: &Connection, id: &str, action: &str) -> Result<u8> {
    let reply = Api::new(connection)?.post(&format!("/v1/queue/{}/{action}", encode(id)), None)?;
    let message = &reply.body["data"];
    let status = str_at(message, "/attributes/messageStatus");
    if action == "drop" {
        println!("message {id} dropped: {status}: {}", latest_reason(message));
    } else {
        println!("message {id} will be tried again now ({status})");
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_row_shows_what_is_known_and_leaves_the_rest_empty() {
        let item = json!({"id": "1", "status": "SCHEDULED_FOR_RESEND", "recipient": "0203:b.se",
            "attempts": 3, "nextAttempt": "2026-01-01T00:00:00Z", "lastReason": "connect: refused"});
        assert_eq!(
            super::row(&item),
            [
                "1",
                "SCHEDULED_FOR_RESEND",
                "0203:b.se",
                "3",
                "2026-01-01T00:00:00Z",
                "connect: refused"
            ]
        );
        assert_eq!(super::row(&json!({"id": "2"})), ["2", "", "", "", "", ""]);
    }
}
