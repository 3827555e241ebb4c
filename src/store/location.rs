//! Which store a data directory's node uses, remembered in `<data_dir>/store.toml` when it is not the
//! embedded one, so the commands that read a data directory (`audit verify`, `db status`, …) find the same
//! database the node writes to without being given its configuration again.

use std::path::{Path, PathBuf};

use crate::store::config::StoreConfig;

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("store.toml")
}

/// Records `store` for `data_dir` (private to its owner: it may name a password file), or forgets it when
/// the node is back on the embedded store.
pub fn remember(data_dir: &Path, store: &StoreConfig) -> std::io::Result<()> {
    let file = path(data_dir);
    if !store.is_postgres() {
        return match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let text = toml::to_string(store).map_err(std::io::Error::other)?;
    let text = format!(
        "# Written by sdk-relay from the node's configuration ([store]); the CLI reads it. Do not edit.\n{text}"
    );
    crate::pki::fsutil::write_atomic(&file, text.as_bytes(), true).map_err(std::io::Error::other)
}

/// The store `data_dir`'s node uses, when it is not the embedded one.
pub fn recall(data_dir: &Path) -> Result<Option<StoreConfig>, String> {
    let file = path(data_dir);
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e}", file.display()))
}
