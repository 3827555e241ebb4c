//! `sdk-relay addressbook`: the organisations this node hosts and their functional addresses.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::exit;
use crate::directory::addressbook::{
    AddressBook, AddressBookError, FunctionalAddress, Organisation,
};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  sdk-relay addressbook org add 0203:goteborg.se --name 'Göteborgs Stad' --org-number 212000-1355
  sdk-relay addressbook function add 0203:goteborg.se socialtjanst-nord --name 'Socialtjänsten Nordost'
  sdk-relay addressbook search goteborg --json

Search ignores case and accents: \"goteborg\" finds \"Göteborgs Stad\".
Exit codes: 0 done, 1 not found (show, remove, a search without hits), 2 usage or I/O error.")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// The organisations this node hosts and their functional addresses (funktionsadresser).
#[derive(clap::Subcommand)]
enum Command {
    /// Hosted organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Functional addresses of hosted organisations.
    #[command(subcommand)]
    Function(FunctionCommand),
    /// Find organisations and functional addresses by name, id or organisation number.
    Search {
        text: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Subcommand)]
enum OrgCommand {
    /// Host an organisation (participant id 0203:<domain>).
    Add {
        id: String,
        #[arg(long)]
        name: String,
        /// Swedish organisation number (ten digits).
        #[arg(long)]
        org_number: Option<String>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// One organisation with its functional addresses.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Stop hosting an organisation (its functional addresses go with it).
    Remove { id: String },
}

#[derive(clap::Subcommand)]
enum FunctionCommand {
    /// Add a functional address (its id is the XHE HandlingServiceID senders use).
    Add {
        org: String,
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Added but not yet receiving.
        #[arg(long)]
        inactive: bool,
        /// A document id it accepts; repeat for several (default: the SDK message and receipt).
        #[arg(long = "document-type", value_name = "DOCUMENT_ID")]
        document_types: Vec<String>,
    },
    List {
        /// Only this organisation's.
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Remove {
        org: String,
        id: String,
    },
}

pub fn run(args: Args, data_dir: &Path) -> ExitCode {
    super::finish(run_inner(args, data_dir))
}

fn run_inner(args: Args, data_dir: &Path) -> Result<u8> {
    let book = AddressBook::open(data_dir)?;
    let outcome = match args.command {
        Command::Org(c) => org(&book, c),
        Command::Function(c) => function(&book, c),
        Command::Search { text, json } => {
            let found = book.search(&text)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&found)?);
            } else {
                found.organisations.iter().for_each(print_org);
                found.functional_addresses.iter().for_each(print_function);
            }
            let none = found.organisations.is_empty() && found.functional_addresses.is_empty();
            if none && !json {
                eprintln!("nothing matches {text:?}");
            }
            Ok(if none { exit::FOUND_PROBLEMS } else { exit::OK })
        }
    };
    match outcome {
        Err(e) => match e.downcast_ref::<AddressBookError>() {
            Some(AddressBookError::NotFound(_)) => {
                eprintln!("{e}");
                Ok(exit::FOUND_PROBLEMS)
            }
            _ => Err(e),
        },
        ok => ok,
    }
}

fn print_org(o: &Organisation) {
    let number = o
        .org_number
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    println!("{}  {}{number}", o.id, o.name);
}

fn print_function(f: &FunctionalAddress) {
    let state = if f.active { "" } else { "  [inactive]" };
    println!("{} / {}  {}{state}", f.org, f.id, f.name);
}

fn org(book: &AddressBook, command: OrgCommand) -> Result<u8> {
    match command {
        OrgCommand::Add {
            id,
            name,
            org_number,
        } => {
            let o = book.add_organisation(&id, &name, org_number.as_deref())?;
            println!("hosting {} ({})", o.id, o.name);
        }
        OrgCommand::List { json } => {
            let orgs = book.organisations()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&orgs)?);
            } else {
                orgs.iter().for_each(print_org);
            }
        }
        OrgCommand::Show { id, json } => {
            let o = book.organisation(&id)?;
            let functions = book.functions(Some(&o.id))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"organisation": o, "functional_addresses": functions})
                    )?
                );
            } else {
                print_org(&o);
                functions.iter().for_each(print_function);
            }
        }
        OrgCommand::Remove { id } => {
            let n = book.remove_organisation(&id)?;
            println!("{id} removed, with {n} functional address(es)");
        }
    }
    Ok(exit::OK)
}

fn function(book: &AddressBook, command: FunctionCommand) -> Result<u8> {
    match command {
        FunctionCommand::Add {
            org,
            id,
            name,
            description,
            inactive,
            document_types,
        } => {
            let f = book.add_function(FunctionalAddress {
                org,
                id,
                name,
                description,
                active: !inactive,
                document_types,
            })?;
            println!("{} / {} added", f.org, f.id);
        }
        FunctionCommand::List { org, json } => {
            let functions = book.functions(org.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&functions)?);
            } else {
                functions.iter().for_each(print_function);
            }
        }
        FunctionCommand::Remove { org, id } => {
            book.remove_function(&org, &id)?;
            println!("{org} / {id} removed");
        }
    }
    Ok(exit::OK)
}
