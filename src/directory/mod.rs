//! Where every message goes (SDK §6): participant identifiers, the SML name of a participant's SMP, and the
//! SMP documents that publish an organisation's endpoint and CertPub certificates.

pub mod addressbook;
pub mod clients;
pub mod dns;
pub mod ids;
pub mod rows;
pub mod sml;
pub mod smp;
pub mod smp_http;

pub use ids::{ParticipantId, percent_encode, service_group_path, service_metadata_path};
pub use smp::{ServiceMetadata, SmpError, SmpTrust};
