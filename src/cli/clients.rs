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
(all of the organisation's when none are).")]
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
