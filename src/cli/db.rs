//! `sdk-relay db`: the shared PostgreSQL database of a multi-node installation — bring its schema to this
//! binary's version, and see its state (queue depth per status, the oldest waiting message, nodes alive).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

#[cfg(feature = "postgres")]
use super::exit;
use crate::config::{NodeConfig, StoreConfig};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  sdk-relay db migrate --config /etc/sdk-relay/sdk-relay.toml
  sdk-relay db status --config /etc/sdk-relay/sdk-relay.toml
  sdk-relay --data-dir /var/lib/sdk-relay db status --json

The database is the one in the configuration's [store] section (kind = \"postgres\"); without --config,
the one the node of --data-dir last started with. `serve` migrates at start too; `db migrate` lets you do it
first, e.g. before rolling out a new version to every node. Migrations are forward-only: a database migrated
by a newer sdk-relay is refused by an older one.

Exit codes: 0 done, 1 the schema is behind this binary (status), 2 usage, connection or migration error.")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create or upgrade the schema to this binary's version.
    Migrate {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Schema version, messages per status, queue depth, the oldest waiting message, nodes seen recently.
    Status {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args, data_dir: &Path) -> ExitCode {
    super::finish(match args.command {
        Command::Migrate { config } => {
            store_config(config.as_deref(), data_dir).and_then(|c| migrate(&c))
        }
        Command::Status { config, json } => {
            store_config(config.as_deref(), data_dir).and_then(|c| status(&c, json))
        }
    })
}

/// The `[store]` of `config`, or the one remembered in `data_dir`.
fn store_config(config: Option<&Path>, data_dir: &Path) -> Result<StoreConfig> {
    let store = match config {
        Some(path) => NodeConfig::load(path)?.store,
        None => crate::store::recall(data_dir)
            .map_err(anyhow::Error::msg)?
            .with_context(|| {
                format!(
                    "no database for {}: give --config FILE whose [store] has kind = \"postgres\" \
                     (a node on the embedded store has no shared database)",
                    data_dir.display()
                )
            })?,
    };
    anyhow::ensure!(
        store.is_postgres(),
        "[store] kind is {:?}: the embedded store has no shared database to migrate or inspect",
        store.kind
    );
    Ok(store)
}

#[cfg(not(feature = "postgres"))]
fn migrate(_: &StoreConfig) -> Result<u8> {
    anyhow::bail!("this sdk-relay was built without PostgreSQL support (`--features postgres`)")
}

#[cfg(not(feature = "postgres"))]
fn status(_: &StoreConfig, _: bool) -> Result<u8> {
    migrate(&StoreConfig::default())
}

#[cfg(feature = "postgres")]
fn migrate(store: &StoreConfig) -> Result<u8> {
    use crate::store::pg::schema;
    // Opening migrates; the status says where it came from.
    let before = status_of(store)?;
    let pg = crate::store::pg::PgStore::open(store, None, None)?;
    let after = pg.status()?;
    if before == after.version {
        println!(
            "schema {} is at version {} (the newest this sdk-relay knows): nothing to do",
            after.schema, after.version
        );
    } else {
        println!(
            "schema {} migrated from version {before} to {}:",
            after.schema, after.version
        );
        for (version, name, _) in schema::MIGRATIONS.iter().filter(|m| m.0 > before) {
            println!("  {version}: {name}");
        }
    }
    Ok(exit::OK)
}

/// The schema version before anything is changed.
#[cfg(feature = "postgres")]
fn status_of(store: &StoreConfig) -> Result<i32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let pool = crate::store::pg::connect_pool(store)?;
        let client = pool
            .get()
            .await
            .map_err(|e| anyhow::anyhow!("connecting to the database: {e}"))?;
        Ok(crate::store::pg::schema::current(&client).await?)
    })
}

#[cfg(feature = "postgres")]
fn status(store: &StoreConfig, json: bool) -> Result<u8> {
    use crate::directory::rows::Table;
    let version = status_of(store)?;
    let latest = crate::store::pg::schema::latest();
    if version < latest {
        // Not opened (which would migrate): status only looks.
        let message = format!(
            "schema {} is at version {version}; this sdk-relay needs {latest}: run `sdk-relay db migrate`",
            store.schema
        );
        if json {
            println!(
                "{}",
                serde_json::json!({"schema": store.schema, "version": version, "latest_known": latest, "problem": message})
            );
        } else {
            println!("{message}");
        }
        return Ok(exit::FOUND_PROBLEMS);
    }
    let pg = crate::store::pg::PgStore::connect(store, None)?;
    let s = pg.status()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(exit::OK);
    }
    println!(
        "schema {}: version {} (this sdk-relay knows up to {})",
        s.schema, s.version, s.latest_known
    );
    println!("messages by status:");
    if s.statuses.is_empty() {
        println!("  (none)");
    }
    for (status, n) in &s.statuses {
        println!("  {status:<24} {n}");
    }
    println!(
        "queue: {} due now, {} waiting for a later attempt, {} being sent (claimed)",
        s.queue_due, s.queue_waiting, s.queue_claimed
    );
    match &s.oldest_waiting {
        Some((id, created, next)) => {
            println!("oldest waiting: {id}, stored {created}, next attempt {next}")
        }
        None => println!("oldest waiting: none"),
    }
    println!("nodes seen in the last minute:");
    if s.nodes.is_empty() {
        println!("  (none)");
    }
    for (name, host, version, ago) in &s.nodes {
        println!("  {name:<20} on {host}, sdk-relay {version}, seen {ago:.1} s ago");
    }
    println!("audit chain: {} record(s)", s.audit_records);
    let count = |table: Table| {
        s.address_book
            .iter()
            .find(|(kind, _)| kind == table.name())
            .map_or(0, |(_, n)| *n)
    };
    println!(
        "address book (shared by the nodes): {} organisation(s), {} functional address(es), {} API client(s), \
         {} SMP publication(s)",
        count(Table::Organisations),
        count(Table::Functions),
        count(Table::Clients),
        count(Table::Publications)
    );
    match &s.tls {
        Some(version) => println!("this connection: encrypted ({version})"),
        None => println!("this connection: NOT encrypted ([store] tls = \"disable\")"),
    }
    Ok(exit::OK)
}
