//! The organisation API's createMessage JSON: any bytes are refused with field errors naming JSON pointers,
//! or read as a message that makes a valid SDK message. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdk_relay::node::json;

fuzz_target!(|data: &[u8]| {
    match json::read_create(data) {
        Ok(message) => {
            if let Err(e) = message.to_xml() {
                panic!("an accepted message did not write as a valid document: {e}");
            }
        }
        Err(errors) => assert!(errors.total() > 0, "a refusal without a reason"),
    }
});
