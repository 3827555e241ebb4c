//! The trust (CAs and their CRLs) the node checks AS4 signers, XHE signers and peers with, reloaded when the
//! data directory's `pki.generation` moves — `crl update` or `trust import` while the node runs — as the
//! TLS configurations are. Without it a revoked AP certificate stayed accepted on `/as4` until a restart
//! while TLS already refused it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::pki::{PkiError, TrustStore, generation, truststore::Trust};

pub struct LiveTrust {
    data_dir: PathBuf,
    current: ArcSwap<(u64, Arc<Trust>)>,
    reload: Mutex<()>,
}

impl LiveTrust {
    /// Loads the trust of `data_dir`.
    pub fn load(data_dir: PathBuf) -> Result<LiveTrust, PkiError> {
        // The generation first: a change landing during the load is picked up by the next refresh.
        let at = generation(&data_dir);
        let trust = Arc::new(TrustStore::open(&data_dir).load()?);
        Ok(LiveTrust {
            data_dir,
            current: ArcSwap::from_pointee((at, trust)),
            reload: Mutex::new(()),
        })
    }

    /// The trust as of the last successful load.
    pub fn current(&self) -> Arc<Trust> {
        self.current.load().1.clone()
    }

    /// Reloads when the stores changed since the last load. A failed reload keeps the previous trust (and is
    /// returned for the caller to log): a half-written import must not leave the node trusting nothing.
    pub fn refresh(&self) -> Result<bool, PkiError> {
        let now = generation(&self.data_dir);
        if self.current.load().0 == now {
            return Ok(false);
        }
        let _one = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        if self.current.load().0 == now {
            return Ok(false);
        }
        let trust = Arc::new(TrustStore::open(&self.data_dir).load()?);
        self.current.store(Arc::new((now, trust)));
        Ok(true)
    }
}
