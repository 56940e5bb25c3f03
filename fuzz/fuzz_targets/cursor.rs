//! Paging cursors, which come back from clients as opaque strings.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cairn::readmodel::query::Cursor::decode(text);
    }
});
