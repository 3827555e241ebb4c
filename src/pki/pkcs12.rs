//! PKCS#12 files: a key with its certificate chain (as CAs and SITHS/EFOS portals hand them out), and the
//! certificate-only trust stores DIGG publishes.

use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
use rcgen::KeyPair;
use rustls_pki_types::CertificateDer;

use super::PkiError;
use super::cert::CertInfo;

fn open(
    bytes: &[u8],
    password: &str,
    what: &str,
    policy: Pkcs12ImportPolicy,
) -> Result<KeyStore, PkiError> {
    KeyStore::from_pkcs12(bytes, password, policy).map_err(|e| PkiError::Pkcs12 {
        what: what.to_owned(),
        detail: format!("cannot open ({e}); is the password right?"),
    })
}

/// The one private key of a PKCS#12 file with its chain, leaf first.
pub fn read_key_and_chain(
    bytes: &[u8],
    password: &str,
    what: &str,
) -> Result<(KeyPair, Vec<CertificateDer<'static>>), PkiError> {
    let store = open(bytes, password, what, Pkcs12ImportPolicy::Strict)?;
    let keys: Vec<_> = store
        .entries()
        .filter_map(|(_, e)| match e {
            KeyStoreEntry::PrivateKeyChain(c) => Some(c),
            _ => None,
        })
        .collect();
    let chain = match keys.as_slice() {
        [one] => *one,
        [] => {
            return Err(PkiError::Pkcs12 {
                what: what.to_owned(),
                detail: "holds no private key".into(),
            });
        }
        _ => {
            return Err(PkiError::Pkcs12 {
                what: what.to_owned(),
                detail: format!("holds {} private keys; export one per file", keys.len()),
            });
        }
    };
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec());
    let key = KeyPair::try_from(&der).map_err(|_| PkiError::BadKey {
        what: what.to_owned(),
        detail: "the PKCS#12 key is not a supported RSA or EC key".into(),
    })?;
    let certs: Vec<CertificateDer<'static>> = chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    let spki = super::keys::spki_der(&key);
    Ok((key, order_leaf_first(certs, &spki)?))
}

/// Every certificate of a PKCS#12 trust store (no keys expected).
pub fn read_certificates(
    bytes: &[u8],
    password: &str,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let store = open(bytes, password, what, Pkcs12ImportPolicy::Raw)?;
    let certs: Vec<CertificateDer<'static>> = store
        .entries()
        .flat_map(|(_, e)| match e {
            KeyStoreEntry::Certificate(c) => vec![CertificateDer::from(c.as_der().to_vec())],
            KeyStoreEntry::PrivateKeyChain(c) => c
                .certs()
                .iter()
                .map(|c| CertificateDer::from(c.as_der().to_vec()))
                .collect(),
            KeyStoreEntry::Secret(_) => Vec::new(),
        })
        .collect();
    if certs.is_empty() {
        return Err(PkiError::Pkcs12 {
            what: what.to_owned(),
            detail: "holds no certificates".into(),
        });
    }
    Ok(certs)
}

/// Puts the certificate of `key` first; the rest keep their order.
fn order_leaf_first(
    mut certs: Vec<CertificateDer<'static>>,
    spki: &[u8],
) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let position = certs.iter().position(|c| {
        CertInfo::parse(c)
            .map(|i| super::keys::same_public_key(&i.spki_der, spki))
            .unwrap_or(false)
    });
    match position {
        Some(i) => {
            let leaf = certs.remove(i);
            certs.insert(0, leaf);
            Ok(certs)
        }
        None => Err(PkiError::Usage(
            "no certificate in the PKCS#12 file matches its private key".into(),
        )),
    }
}
