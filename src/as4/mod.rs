//! AS4 messaging per DIGG's transport profile `digg-transport-as4-v1_0` (a restriction of CEF eDelivery AS4
//! 1.15): ebMS 3.0 headers and signals, SOAP 1.2 with attachments, gzip, WS-Security.

pub mod error;
pub mod error_signal;
pub mod gzip;
pub mod mime;

pub use error::{EbmsError, ErrorCode};
pub mod ebms;
pub mod gcm;
pub mod keyref;
pub mod pack;
pub mod spool;
pub mod wsenc;
pub mod wssec;
