//! sdk-relay: a node for Sweden's Säker digital kommunikation (SDK) federation.
//!
//! Layers, lowest first (see `docs/ARCHITECTURE.md`): `xml` is the one hardened parser for untrusted XML;
//! `envelope` turns parsed documents into typed, validated XHE envelopes, SDK messages and receipts;
//! `xmlsec` signs and encrypts them (O2O); `pki` holds keys, trust, revocation and the one HTTP client;
//! `as4` packs and unpacks AS4 messages and signals; `store`, `audit` and `directory` are the node's
//! durable state (`store::config` included, so they need nothing above them); `node` ties them into
//! receiving, delivering and the API; `server` is the listeners; `cli` the commands. `lab` (cargo feature
//! `lab`, on by default) runs whole federations on one machine for `demo`, `bench` and the tests.

pub mod as4;
pub mod audit;
pub mod cli;
pub mod clip;
pub mod config;
pub mod directory;
pub mod envelope;
#[cfg(feature = "lab")]
pub mod lab;
pub mod logging;
pub mod node;
pub mod pki;
pub mod server;
pub mod store;
pub mod xml;
pub mod xmlsec;
