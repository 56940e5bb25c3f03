//! Relations derived from an entity's spec, as Backstage's built-in processor emits them.

use serde_json::Value;

use super::kinds::relation_fields;
use super::{EntityRef, RefError};

/// A directed relation emitted by one entity. Each spec field emits the forward relation on
/// the entity itself and the reverse relation on the target.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Relation {
    pub source: String,
    pub rel_type: String,
    pub target: String,
    /// The spec field of the emitting entity that declared it (`spec.owner`).
    #[serde(default)]
    pub field: String,
}

/// The string values at a path under `spec` (`[]` iterates arrays).
fn values_at<'a>(spec: &'a Value, path: &str) -> Vec<&'a str> {
    let mut current = vec![spec];
    for segment in path.split('.') {
        let (key, each) = match segment.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (segment, false),
        };
        let mut next = Vec::new();
        for v in current {
            match (&v[key], each) {
                (Value::Array(items), true) => next.extend(items.iter()),
                (Value::Null, _) => {}
                (other, _) => next.push(other),
            }
        }
        current = next;
    }
    current
        .into_iter()
        .flat_map(|v| match v {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        })
        .collect()
}

/// Every relation (both directions) that `entity` emits. A ref that cannot be parsed, points
/// at a kind the field does not allow, or points at the entity itself is an error naming the
/// field.
pub fn emitted_relations(entity: &Value) -> Result<Vec<Relation>, (String, String)> {
    let kind = entity["kind"].as_str().unwrap_or_default();
    let namespace = entity["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let me = super::entity_ref_of(entity).canonical();
    let mut out = Vec::new();
    for f in relation_fields(kind) {
        let field = format!("spec.{}", f.path.replace("[]", ""));
        for v in values_at(&entity["spec"], f.path) {
            let target = EntityRef::parse(v, f.default_kind, namespace)
                .map_err(|e: RefError| (field.clone(), e.to_string()))?;
            let target_ref = target.canonical();
            if target_ref == me {
                return Err((field, format!("{v} refers to the entity itself")));
            }
            let pairs = f
                .targets
                .iter()
                .find(|t| t.kind == "*" || t.kind == target.kind)
                .map(|t| t.pairs)
                .ok_or_else(|| {
                    let allowed: Vec<&str> = f.targets.iter().map(|t| t.kind).collect();
                    (
                        field.clone(),
                        format!(
                            "{target_ref} is of kind {}, expected one of: {}",
                            target.kind,
                            allowed.join(", ")
                        ),
                    )
                })?;
            for (forward, reverse) in pairs {
                out.push(Relation {
                    source: me.clone(),
                    rel_type: forward.to_string(),
                    target: target_ref.clone(),
                    field: field.clone(),
                });
                out.push(Relation {
                    source: target_ref.clone(),
                    rel_type: reverse.to_string(),
                    target: me.clone(),
                    field: String::new(),
                });
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The targets of an entity's relations of one type, as its served JSON lists them.
pub fn targets_of<'a>(entity: &'a Value, rel_type: &'a str) -> impl Iterator<Item = &'a str> {
    entity["relations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |r| r["type"] == rel_type)
        .filter_map(|r| r["targetRef"].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owner_in_another_namespace_defaults_to_own_namespace() {
        let e = json!({"kind":"Component","metadata":{"name":"x","namespace":"other"},
                       "spec":{"owner":"team-b","dependsOn":["component:legacy"]}});
        let rels = emitted_relations(&e).unwrap();
        assert!(rels.iter().any(|r| r.source == "component:other/x"
            && r.rel_type == "ownedBy"
            && r.target == "group:other/team-b"
            && r.field == "spec.owner"));
        assert!(rels.iter().any(|r| r.source == "group:other/team-b"
            && r.rel_type == "ownerOf"
            && r.target == "component:other/x"));
        assert!(rels.iter().any(|r| r.target == "component:other/legacy"));
    }

    #[test]
    fn depends_on_without_kind_is_an_error() {
        let e = json!({"kind":"Component","metadata":{"name":"x"},"spec":{"dependsOn":["legacy"]}});
        let (field, _) = emitted_relations(&e).unwrap_err();
        assert_eq!(field, "spec.dependsOn");
    }

    #[test]
    fn governance_fields_check_target_kinds_and_nested_paths() {
        let agent = json!({"kind":"AIAgent","metadata":{"name":"bot"},"spec":{
            "owner":"cx","tools":["orders-api"],"models":[{"ref":"gpt","role":"primary"}],
            "dataSources":["dataproduct:customer-360","resource:crm-db"],
            "humanOversight":{"owner":"leads"},"logging":{"sink":"audit-logs"}}});
        let rels = emitted_relations(&agent).unwrap();
        let has = |t: &str, target: &str| {
            rels.iter()
                .any(|r| r.source == "aiagent:default/bot" && r.rel_type == t && r.target == target)
        };
        assert!(has("consumesApi", "api:default/orders-api"));
        assert!(has("usesModel", "resource:default/gpt"));
        assert!(has(
            "consumesDataProduct",
            "dataproduct:default/customer-360"
        ));
        assert!(has("dependsOn", "resource:default/crm-db"));
        assert!(has("overseenBy", "group:default/leads"));
        assert!(has("logsTo", "resource:default/audit-logs"));
        let wrong = json!({"kind":"Component","metadata":{"name":"svc"},"spec":{"producesEvents":["api:orders-api"]}});
        let (field, msg) = emitted_relations(&wrong).unwrap_err();
        assert_eq!(field, "spec.producesEvents");
        assert!(msg.contains("expected one of: event"), "{msg}");
        let selfish = json!({"kind":"DataProduct","metadata":{"name":"dp"},"spec":{"inputs":["dataproduct:dp"]}});
        assert!(emitted_relations(&selfish)
            .unwrap_err()
            .1
            .contains("itself"));
    }
}
