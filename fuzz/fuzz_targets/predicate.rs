//! The predicate query language of `POST /entities/by-query` (a JSON object).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(p) = cairn::readmodel::filter::parse_predicate(&v) {
            let _ = p.matches_entity(&v);
            let _ = p.to_json();
        }
    }
});
