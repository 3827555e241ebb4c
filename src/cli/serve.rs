//! `sdk-relay serve`: runs the node until SIGTERM or Ctrl-C, then drains.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::exit;
use crate::config::NodeConfig;
use crate::node::Node;

/// Run the relay node: organisation API, AS4 access point, outbound queue.
#[derive(clap::Args)]
#[command(after_help = "Example:
  sdk-relay init --dir /etc/sdk-relay --name kommun-a-1 --environment qa
  sdk-relay serve --config /etc/sdk-relay/sdk-relay.toml
  sdk-relay serve --config sdk-relay.toml --log-format json

The node prints one line per listener (`api https://…`, `as4 https://…`) and `ready` once it serves.
SIGTERM (or Ctrl-C) stops taking connections, lets requests and deliveries in progress finish, then exits.
The data directory is the one in the configuration file ([node] data_dir); --data-dir is not used.")]
pub struct Args {
    #[arg(long, default_value = "sdk-relay.toml", value_name = "FILE")]
    config: PathBuf,
    /// Override [node] log_format: text or json.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
}

pub fn run(args: Args) -> ExitCode {
    super::finish(serve(args))
}

fn serve(args: Args) -> Result<u8> {
    let mut config = NodeConfig::load(&args.config)?;
    if let Some(format) = args.log_format {
        config.node.log_format = format;
    }
    crate::logging::init(&config.node.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let node = Arc::new(
            Node::open(config)
                .with_context(|| format!("cannot start with {}", args.config.display()))?,
        );
        let bound = crate::server::bind(&node).await?;
        println!("api https://{}", bound.api_address);
        println!("as4 https://{}/as4", bound.as4_address);
        if let Some(admin) = bound.admin_address {
            println!("admin http://{admin}");
        }
        println!("ready");
        tracing::info!(
            node = %node.config.node.name,
            api = %bound.api_address,
            as4 = %bound.as4_address,
            environment = %node.env,
            "serving"
        );
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_stop().await;
            tracing::info!("stopping: finishing the work in progress");
            let _ = stop_tx.send(true);
        });
        crate::server::serve(node.clone(), bound, stop_rx).await?;
        // A signed checkpoint at the end of the log, so that everything up to a clean stop is anchored.
        match node.audit.checkpoint() {
            Ok(Some(c)) => tracing::info!(seq = c.seq, "audit checkpoint at stop"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "audit checkpoint at stop failed"),
        }
        tracing::info!("stopped");
        Ok(exit::OK)
    })
}

async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
