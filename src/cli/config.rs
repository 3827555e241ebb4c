//! `sdk-relay init` and `sdk-relay config check`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::exit;
use crate::config::{ConfigError, NodeConfig, template};

/// Write a commented sdk-relay.toml (and the data directory) for a new node.
#[derive(clap::Args)]
#[command(after_help = "Example:
  sdk-relay init --dir /etc/sdk-relay --name kommun-a-1 --environment qa
  sdk-relay config check --config /etc/sdk-relay/sdk-relay.toml")]
pub struct InitArgs {
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    #[arg(long, default_value = "sdk-relay-1")]
    name: String,
    #[arg(long, default_value = "qa")]
    environment: String,
    /// Replace an existing sdk-relay.toml.
    #[arg(long)]
    force: bool,
}

/// Check a node's configuration file.
#[derive(clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(clap::Subcommand)]
enum ConfigCommand {
    /// Check a configuration file and say exactly what to change.
    Check {
        #[arg(long, default_value = "sdk-relay.toml", value_name = "FILE")]
        config: PathBuf,
    },
}

pub fn init(args: InitArgs) -> ExitCode {
    super::finish((|| -> Result<u8> {
        let path = args.dir.join("sdk-relay.toml");
        if path.exists() && !args.force {
            bail!("{} exists; give --force to replace it", path.display());
        }
        std::fs::create_dir_all(args.dir.join("data"))
            .with_context(|| args.dir.display().to_string())?;
        std::fs::write(&path, template(&args.name, &args.environment, "data"))
            .with_context(|| path.display().to_string())?;
        // What init writes must pass its own check.
        NodeConfig::load(&path)?;
        println!(
            "wrote {}; edit [as4] and [smp], then `sdk-relay config check --config {}`",
            path.display(),
            path.display()
        );
        Ok(exit::OK)
    })())
}

pub fn run(args: ConfigArgs) -> ExitCode {
    let ConfigCommand::Check { config } = args.command;
    match NodeConfig::load(&config) {
        Ok(c) => {
            println!(
                "{}: ok (node {}, environment {}, data in {})",
                config.display(),
                c.node.name,
                c.node.environment,
                c.node.data_dir.display()
            );
            ExitCode::from(exit::OK)
        }
        Err(e @ ConfigError::Invalid { .. }) | Err(e @ ConfigError::Syntax { .. }) => {
            println!("{e}");
            ExitCode::from(exit::FOUND_PROBLEMS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::USAGE_OR_IO)
        }
    }
}
