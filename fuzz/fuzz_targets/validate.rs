//! Any bytes through the one entry point for untrusted XML and every document check: nothing may panic,
//! and a document that checks clean must read as a typed value and write back to a valid document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdk_relay::envelope::{self, Document};
use sdk_relay::xml::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_bytes: 1 << 20,
        ..Limits::default()
    };
    let Ok((_, violations)) = envelope::check_bytes(data, &limits) else {
        return;
    };
    if !violations.is_empty() {
        return;
    }
    let doc = Document::parse(data, &limits).expect("a document without violations reads as a typed value");
    let rewritten = match doc {
        Document::Xhe(x) => x.to_xml(),
        Document::Message(m) => m.to_xml(),
        Document::Receipt(r) => r.to_xml(),
    };
    // Writers check their own output; an error here means reading lost something the rules needed.
    if let Err(e) = rewritten {
        panic!("a valid document did not survive read + write: {e}");
    }
});
