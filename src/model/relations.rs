//! Relations derived from an entity's spec, as Backstage's built-in processor emits them.

use serde_json::Value;

use super::kinds::relation_fields;
use super::{EntityRef, RefError};

/// A directed relation emitted by `source`. Each spec field emits the forward relation on the
/// entity itself and the reverse relation on the target.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Relation {
    pub source: String,
    pub rel_type: String,
    pub target: String,
}

/// Every relation (both directions) that `entity` emits. A ref that cannot be parsed is an
/// error naming the spec field.
pub fn emitted_relations(entity: &Value) -> Result<Vec<Relation>, (String, RefError)> {
    let kind = entity["kind"].as_str().unwrap_or_default();
    let namespace = entity["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let me = super::entity_ref_of(entity).canonical();
    let mut out = Vec::new();
    for f in relation_fields(kind) {
        let values: Vec<&str> = match &entity["spec"][f.field] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        for v in values {
            let target = EntityRef::parse(v, f.default_kind, namespace)
                .map_err(|e| (format!("spec.{}", f.field), e))?
                .canonical();
            out.push(Relation {
                source: me.clone(),
                rel_type: f.forward.to_string(),
                target: target.clone(),
            });
            out.push(Relation {
                source: target,
                rel_type: f.reverse.to_string(),
                target: me.clone(),
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
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
        assert!(rels.contains(&Relation {
            source: "component:other/x".into(),
            rel_type: "ownedBy".into(),
            target: "group:other/team-b".into()
        }));
        assert!(rels.contains(&Relation {
            source: "group:other/team-b".into(),
            rel_type: "ownerOf".into(),
            target: "component:other/x".into()
        }));
        assert!(rels.iter().any(|r| r.target == "component:other/legacy"));
    }

    #[test]
    fn depends_on_without_kind_is_an_error() {
        let e = json!({"kind":"Component","metadata":{"name":"x"},"spec":{"dependsOn":["legacy"]}});
        let (field, _) = emitted_relations(&e).unwrap_err();
        assert_eq!(field, "spec.dependsOn");
    }
}
