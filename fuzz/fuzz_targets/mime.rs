//! The MIME reader on arbitrary input, both forms: in memory (`read`) and streaming into spools
//! (`read_stream`). The first line is the Content-Type, the rest the body. Nothing may panic, and the two
//! must agree on whether a body is acceptable and on its SOAP part.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdk_relay::as4::mime::{self, MimeLimits};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let Ok(content_type) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let body = data.get(split + 1..).unwrap_or_default();
    let limits = MimeLimits {
        spool_threshold: 64,
        ..MimeLimits::default()
    };
    let whole = mime::read(content_type, body, &limits);
    let streamed = mime::read_stream(content_type, &mut &body[..], &limits);
    match (&whole, &streamed) {
        (Ok(w), Ok(s)) => assert_eq!(w.soap.body, s.soap, "the two readers disagree on the SOAP part"),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "the two readers disagree: in memory {:?}, streaming {:?}",
            whole.as_ref().err(),
            streamed.as_ref().err()
        ),
    }
});
