//! The node's log: `tracing` events on standard error, as text or one JSON object per line (`[node]
//! log_format`), filtered by `SDK_RELAY_LOG` (the `RUST_LOG` syntax: `info`, `sdk_relay=debug,rustls=warn`,
//! …). Records of the `log` crate — rustls's, for one — are taken in too. Events carry their subject as
//! fields (`message_id`, `peer`, `code`), so a collector can select on them; what happened to each message
//! in full is in the audit log.

use tracing_subscriber::EnvFilter;

/// The variable holding the filter.
pub const FILTER_VAR: &str = "SDK_RELAY_LOG";
/// Without a filter: our events at info, the libraries' warnings.
const DEFAULT_FILTER: &str = "warn,sdk_relay=info";

/// Installs the subscriber for this process; a second call keeps the first.
pub fn init(format: &str) {
    let filter =
        EnvFilter::try_from_env(FILTER_VAR).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let _ = if format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
