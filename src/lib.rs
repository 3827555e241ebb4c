//! sdk-relay: a node for Sweden's Säker digital kommunikation (SDK) federation.
//!
//! Layers, lowest first (see `docs/ARCHITECTURE.md`): [`xml`] is the one hardened parser for untrusted XML;
//! [`envelope`] turns parsed documents into typed, validated XHE envelopes, SDK messages and receipts.

pub mod as4;
pub mod audit;
pub mod cli;
pub mod clip;
pub mod config;
pub mod directory;
pub mod envelope;
pub mod lab;
pub mod logging;
pub mod node;
pub mod pki;
pub mod server;
pub mod store;
pub mod xml;
pub mod xmlsec;
