//! The `filter=` query parameters of `GET /entities` (one parameter per line).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let params: Vec<String> = text.lines().map(str::to_owned).collect();
    let _ = cairn::readmodel::filter::parse_filter_params(&params);
});
