//! `sdk-relay clients`: the organisation systems that may use the node's API.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::exit;
use crate::directory::addressbook::AddressBook;

#[derive(clap::Args)]
#[command(after_help = "Example:
  sdk-relay clients add --org 0203:goteborg.se --function socialtjanst-nord --name 'Ärendesystem X'

The token is printed once and stored only as a hash: give it to the client system now (it sends it as
`Authorization: Bearer <token>`). A client acts only for its organisation and the functional addresses given
(all of the organisation's when none are).

A client system with a TLS client certificate of the environment's TLS CA can use it instead of a token:
  sdk-relay clients add --org 0203:goteborg.se --cert arendesystem-x.pem")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// API clients and their tokens.
#[derive(clap::Subcommand)]
enum Command {
    /// Make a client and print its token (once).
    Add {
        #[arg(long)]
        org: String,
        /// A functional address it may use; repeat for several.
        #[arg(long = "function", value_name = "ID")]
        functions: Vec<String>,
        #[arg(long, default_value = "API client")]
        name: String,
        /// Authenticate with this TLS client certificate (PEM or DER, issued by the environment's TLS CA)
        /// instead of a bearer token.
        #[arg(long, value_name = "PEM")]
        cert: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a client; its token stops working at once.
    Remove { id: String },
}

pub fn run(args: Args, data_dir: &Path) -> ExitCode {
    super::finish((|| -> Result<u8> {
        let book = AddressBook::open(data_dir)?;
        match args.command {
            Command::Add {
                org,
                functions,
                name,
                cert: Some(cert),
                json,
            } => {
                let client = book.add_certificate_client(
                    &name,
                    &org,
                    &functions,
                    &super::read_cert(&cert)?,
                )?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({"client": client}))?
                    );
                } else {
                    println!(
                        "client {} for {}; it authenticates with the TLS client certificate {}",
                        client.id,
                        client.org,
                        cert.display()
                    );
                }
            }
            Command::Add {
                org,
                functions,
                name,
                cert: None,
                json,
            } => {
                let (client, token) = book.add_client(&name, &org, &functions)?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(
                            &serde_json::json!({"client": client, "token": token})
                        )?
                    );
                } else {
                    println!(
                        "client {} for {}; its token (shown only now):\n{token}",
                        client.id, client.org
                    );
                }
            }
            Command::List { json } => {
                let clients = book.clients()?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&clients)?);
                } else {
                    for c in &clients {
                        let functions = if c.functions.is_empty() {
                            "all".to_owned()
                        } else {
                            c.functions.join(", ")
                        };
                        println!(
                            "{}  {}  {}  functional addresses: {functions}",
                            c.id, c.org, c.name
                        );
                    }
                }
            }
            Command::Remove { id } => {
                let c = book.remove_client(&id)?;
                println!("client {} of {} removed", c.id, c.org);
            }
        }
        Ok(exit::OK)
    })())
}
