//! What a node's store holds, asked of the store itself: payload files for the embedded store, payload rows
//! in the database for PostgreSQL (`<data_dir>/store.toml` says which).

use std::path::Path;
use std::process::Command;

/// How many stored payloads the node of `data_dir` holds.
pub fn payloads(data_dir: &Path) -> usize {
    match sdk_relay::store::recall(data_dir).expect("store.toml readable") {
        None => std::fs::read_dir(data_dir.join("payloads"))
            .expect("the embedded store's payload directory")
            .count(),
        Some(store) => query(&store, "SELECT count(DISTINCT id) FROM payload_chunks") as usize,
    }
}

/// The size of message `id`'s stored payload (its sealed XHE).
pub fn payload_bytes(data_dir: &Path, id: &str) -> u64 {
    match sdk_relay::store::recall(data_dir).expect("store.toml readable") {
        None => std::fs::metadata(data_dir.join("payloads").join(id))
            .expect("the payload file")
            .len(),
        Some(store) => query(
            &store,
            &format!("SELECT coalesce(sum(length(data)), 0) FROM payload_chunks WHERE id = '{id}'"),
        ),
    }
}

/// One number from `sql`, run with psql in the store's schema.
fn query(store: &sdk_relay::config::StoreConfig, sql: &str) -> u64 {
    let url = store.url.as_deref().expect("[store] url");
    let out = Command::new("psql")
        .arg(url)
        .args(["-X", "-t", "-A", "-c"])
        .arg(format!("SET search_path = {}; {sql}", store.schema))
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .parse()
        .expect("a number")
}
