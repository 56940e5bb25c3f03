//! Templates mandated or forbidden per risk tier, from the templates' own annotations.

use std::collections::HashMap;

use serde_json::Value;

/// Templates' governance annotations: comma-separated tiers.
pub const MANDATORY_FOR_TIERS: &str = "cairn.dev/mandatory-for-tiers";
pub const FORBIDDEN_FOR_TIERS: &str = "cairn.dev/forbidden-for-tiers";

pub fn tiers_in(template: &Value, key: &str) -> Vec<String> {
    template["metadata"]["annotations"][key]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The templates mandated for a tier, by ref.
pub fn mandated_templates(snap: &crate::readmodel::Snapshot, tier: &str) -> Vec<String> {
    let mut out: Vec<String> = snap
        .docs
        .iter()
        .filter(|d| &*d.kind == "Template")
        .filter_map(|d| {
            serde_json::from_str::<Value>(&d.json)
                .ok()
                .map(|t| (d.entity_ref.to_string(), t))
        })
        .filter(|(_, t)| tiers_in(t, MANDATORY_FOR_TIERS).iter().any(|x| x == tier))
        .map(|(r, _)| r)
        .collect();
    out.sort();
    out
}

/// Every tier some template is mandated for, with those templates by ref.
pub fn mandated_by_tier(snap: &crate::readmodel::Snapshot) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for d in snap.docs.iter().filter(|d| &*d.kind == "Template") {
        let Ok(template) = serde_json::from_str::<Value>(&d.json) else {
            continue;
        };
        for tier in tiers_in(&template, MANDATORY_FOR_TIERS) {
            out.entry(tier).or_default().push(d.entity_ref.to_string());
        }
    }
    for refs in out.values_mut() {
        refs.sort();
    }
    out
}
