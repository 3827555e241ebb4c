//! The one entry point for untrusted XML, and the small helpers every layer above uses to read and write it.
//!
//! Everything that arrives from outside the process (a file, an API body, an AS4 attachment) goes through
//! [`parse`]. It refuses DTDs outright (so entity expansion and external entities cannot happen), and bounds
//! input size, nesting depth, element count and attributes per element before any layer above looks at the tree.

mod limits;
pub mod names;
mod node;
mod parse;
mod prescan;
mod write;

pub use limits::Limits;
pub use node::{El, is_xml_whitespace};
pub use parse::{Doc, XmlError, parse, parse_bytes};
pub use write::{Child, Writer};
