//! Entity refs, in the full form and with defaults for kind and namespace.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = cairn::model::EntityRef::parse_full(text) {
            let again = cairn::model::EntityRef::parse_full(&r.canonical()).expect("a canonical ref parses");
            assert_eq!(again.canonical(), r.canonical());
        }
        let _ = cairn::model::EntityRef::parse(text, Some("component"), "default");
    }
});
