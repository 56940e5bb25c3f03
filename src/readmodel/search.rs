//! Backstage's search rows: the (key, value) pairs filters, facets, ordering and full-text
//! search run against, extracted from the final entity as the catalog backend's stitcher does.

use serde_json::Value;

use super::{graph, Doc, Keys};

const MAX_KEY: usize = 200;
const MAX_VALUE: usize = 200;

pub fn build_doc(entity_ref: String, uid: String, json: String, keys: &Keys) -> Doc {
    let value: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
    let mut rows = Vec::new();
    search_rows(&value, &mut |key, v| {
        rows.push((keys.intern(&key.to_lowercase()), v))
    });
    let relations = value["relations"]
        .as_array()
        .map(|rels| {
            rels.iter()
                .filter_map(|r| {
                    Some((
                        graph::type_id(r["type"].as_str()?),
                        r["targetRef"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let kind = value["kind"].as_str().unwrap_or_default().to_string();
    let title = value["metadata"]["title"].as_str().map(str::to_owned);
    Doc::new(entity_ref, uid, json, rows, (kind, title, relations))
}

/// Every (key, value) search row of an entity, keys as written (callers lowercase them).
pub fn search_rows(value: &Value, emit: &mut impl FnMut(String, Option<String>)) {
    let mut push = |key: String, v: Option<String>| {
        if key.len() > MAX_KEY {
            return;
        }
        emit(key, v.filter(|s| s.len() <= MAX_VALUE));
    };
    if let Value::Object(map) = &value {
        for (k, v) in map {
            if matches!(k.as_str(), "attachments" | "relations" | "status") {
                continue;
            }
            walk(k, v, &mut push, true);
        }
        let meta = &value["metadata"];
        push(
            "metadata.name".into(),
            meta["name"].as_str().map(str::to_owned),
        );
        push(
            "metadata.namespace".into(),
            Some(meta["namespace"].as_str().unwrap_or("default").to_owned()),
        );
        push(
            "metadata.uid".into(),
            meta["uid"].as_str().map(str::to_owned),
        );
        if let Some(rels) = value["relations"].as_array() {
            for r in rels {
                if let (Some(t), Some(target)) = (r["type"].as_str(), r["targetRef"].as_str()) {
                    push(format!("relations.{t}"), Some(target.to_owned()));
                }
            }
        }
    }
}

fn walk(path: &str, v: &Value, push: &mut impl FnMut(String, Option<String>), top: bool) {
    // metadata.name/namespace/uid are added explicitly; etag is not searchable.
    if let (true, "metadata", Value::Object(m)) = (top, path, v) {
        for (k, child) in m {
            if matches!(k.as_str(), "name" | "namespace" | "uid" | "etag") {
                continue;
            }
            walk(&format!("metadata.{k}"), child, push, false);
        }
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                walk(&format!("{path}.{k}"), child, push, false);
            }
        }
        Value::Array(items) => {
            for item in items {
                if let Value::String(s) = item {
                    push(format!("{path}.{s}"), Some("true".into()));
                }
                walk(path, item, push, false);
            }
        }
        Value::Null => push(path.to_string(), None),
        Value::String(s) => push(path.to_string(), Some(s.clone())),
        Value::Bool(b) => push(path.to_string(), Some(b.to_string())),
        Value::Number(n) => push(path.to_string(), Some(n.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_relations_read_from_the_json_equal_the_values_walked() {
        let entity = serde_json::json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {
                "name": "svc", "namespace": "default", "uid": "u-1",
                "description": "says \"hi\"\nand more", "title": "Svc ✓",
                "tags": ["java", "svc"],
                "annotations": {"a/b": "component:default/svc", "n": null}
            },
            "spec": {"type": "service", "owner": "group:default/team-a", "replicas": 3, "on": true},
            "relations": [
                {"type": "ownedBy", "targetRef": "group:default/team-a"},
                {"type": "dependsOn", "targetRef": "component:default/x\"y"}
            ]
        });
        let json = entity.to_string();
        let keys = Keys::default();
        let doc = build_doc("component:default/svc".into(), "u-1".into(), json, &keys);
        let mut walked = Vec::new();
        search_rows(&entity, &mut |k, v| {
            walked.push((keys.intern(&k.to_lowercase()), v))
        });
        let served: Vec<(u32, Option<String>)> =
            doc.rows().map(|(k, v)| (k, v.map(str::to_owned))).collect();
        assert_eq!(served, walked);
        let relations: Vec<(u16, &str)> = doc.relations().collect();
        assert_eq!(
            relations,
            vec![
                (graph::type_id("ownedBy"), "group:default/team-a"),
                (graph::type_id("dependsOn"), "component:default/x\"y"),
            ]
        );
    }
}
