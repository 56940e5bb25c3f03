//! Multi-document YAML descriptors: parsing, then the validation every parsed document gets.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(docs) = cairn::descriptor::parse_documents(data) {
        for d in docs {
            let _ = cairn::model::validation::validate_entity(&d.value, None);
            let _ = cairn::model::relations::emitted_relations(&d.value);
        }
    }
});
