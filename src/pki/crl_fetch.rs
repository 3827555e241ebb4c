//! Where CRLs come from: the distribution points of trusted and own certificates. CRLs are signed, so plain
//! HTTP is how CAs publish them (DIGG's are at `http(s)://…/crl/*.crl`); `crl update` fetches them through
//! the one HTTP client (`pki::https::send_web`).

use super::PkiError;

/// Largest CRL accepted (DIGG's are a few KB; SITHS's are larger).
pub const MAX_CRL_BYTES: u64 = 32 * 1024 * 1024;

/// Every CRL distribution point named in a trusted CA certificate or one of the node's own certificates,
/// each once.
pub fn distribution_points(data_dir: &std::path::Path) -> Result<Vec<String>, PkiError> {
    let trust = super::TrustStore::open(data_dir).load()?;
    let mut urls: Vec<String> = trust
        .certs
        .iter()
        .flat_map(|c| c.info.crl_distribution_points.iter().cloned())
        .collect();
    for entry in super::KeyStore::open(data_dir).entries()? {
        if let Some(info) = entry.info() {
            urls.extend(info.crl_distribution_points);
        }
    }
    urls.sort();
    urls.dedup();
    Ok(urls)
}
