//! A `Scorecard` entity's spec, as YAML: validation, then the engine's reading of it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_yaml::from_slice::<serde_json::Value>(data) else { return };
    let entity = serde_json::json!({"apiVersion": "cairn.dev/v1alpha1", "kind": "Scorecard",
        "metadata": {"name": "fuzzed", "namespace": "default"}, "spec": v});
    if cairn::model::validation::validate_entity(&entity, None).is_empty() {
        let _ = cairn::scorecard::Scorecard::from_entity(&entity);
    }
});
