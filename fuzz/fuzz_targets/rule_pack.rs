//! The EU AI Act rule pack (policy as data): a broken pack is an error naming the field, never a
//! crash.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_yaml::from_slice::<serde_json::Value>(data) {
        if let Ok(pack) = cairn::compliance::RulePack::parse(&v) {
            let _ = pack.questionnaire();
            let _ = pack.vocabulary();
        }
        let _ = cairn::model::governance::AiActVocabulary::from_pack(&v);
    }
});
