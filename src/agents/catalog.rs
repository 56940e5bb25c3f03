//! The catalog's tools, with the inputs and outputs of Backstage's catalog actions: get an entity,
//! query entities with the predicate language of `POST /entities/by-query`, describe the catalog
//! model, validate an entity.

use std::fmt::Write;

use serde_json::{json, Value};

use super::tools::{object, Run, Tool};
use super::Invocation;
use crate::error::{Error, Result};
use crate::model::kinds::{self, FieldType};
use crate::readmodel::filter::parse_predicate;
use crate::readmodel::query::{self, Cursor, FullTextFilter, OrderField, QuerySpec};

/// Entities per page when the agent does not say: a page an agent's context holds.
const DEFAULT_LIMIT: usize = 20;

pub fn tools() -> Vec<Tool> {
    vec![
        Tool {
            plugin: "catalog",
            action: "get-catalog-model-description",
            title: "Get a Catalog Model Description",
            description: "Returns a markdown description of the catalog model: every entity kind with its apiVersions and spec fields, and the relations each field produces.",
            input: || object(json!({}), &[]),
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(model_description),
        },
        Tool {
            plugin: "catalog",
            action: "get-catalog-entity",
            title: "Get Catalog Entity",
            description: "Gets one entity from the software catalog. Every entity has a kind, a namespace (\"default\" unless said otherwise) and a name, written as an entity reference \"kind:namespace/name\". Give the name, and the kind and namespace when known.",
            input: || {
                object(
                    json!({
                        "kind": {"type": "string", "description": "The kind of the entity. If the kind is unknown it can be omitted."},
                        "namespace": {"type": "string", "description": "The namespace of the entity. If the namespace is unknown it can be omitted."},
                        "name": {"type": "string", "description": "The name of the entity"},
                    }),
                    &["name"],
                )
            },
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(get_entity),
        },
        Tool {
            plugin: "catalog",
            action: "query-catalog-entities",
            title: "Query Catalog Entities",
            description: "Queries entities of the software catalog with a predicate: field matches ({\"kind\": \"component\", \"spec.type\": \"service\"}), $all, $any, $not, $exists, $in, $contains and $hasPrefix. `fields` picks dot-separated paths to return; page with `limit` and the `nextPageCursor` of the answer. Ownership is in relations.ownedBy rather than spec.owner.",
            input: query_input,
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Json(query_entities),
        },
        Tool {
            plugin: "catalog",
            action: "validate-entity",
            title: "Validate Catalog Entity",
            description: "Validates catalog-info.yaml content as the catalog would ingest it: the YAML syntax, the entity envelope, its kind's spec and the catalog's rules. Stores nothing.",
            input: || {
                object(
                    json!({
                        "entity": {"type": "string", "description": "Entity YAML content to validate"},
                        "location": {"type": "string", "description": "Location to validate"},
                    }),
                    &["entity"],
                )
            },
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(validate_entity),
        },
        Tool {
            plugin: "catalog",
            action: "register-entity",
            title: "Register entity in the Catalog",
            description: "Registers the entities of a catalog-info.yaml by its URL, as the frontend's \"Register existing component\" does: a Location is created and every entity in the file is ingested. Answers the locationId, which unregister-entity takes.",
            input: || {
                object(
                    json!({"locationUrl": {"type": "string", "description": "URL of the catalog-info.yaml file to register"}}),
                    &["locationUrl"],
                )
            },
            read_only: false,
            destructive: false,
            idempotent: false,
            run: Run::Value(register_entity),
        },
        Tool {
            plugin: "catalog",
            action: "unregister-entity",
            title: "Unregister entity from the Catalog",
            description: "Unregisters a Location, given its locationId or the URL it was registered with; the entities it brought in leave the catalog.",
            input: || {
                json!({
                    "type": "object",
                    "properties": {"type": {"anyOf": [
                        object(json!({"locationId": {"type": "string", "description": "Location ID of the entity to unregister"}}), &["locationId"]),
                        object(json!({"locationUrl": {"type": "string", "description": "URL of the catalog-info.yaml file to unregister"}}), &["locationUrl"]),
                    ]}},
                    "required": ["type"],
                    "additionalProperties": false,
                    "description": "Either locationId or locationUrl must be provided.",
                })
            },
            read_only: false,
            destructive: true,
            idempotent: true,
            run: Run::Value(unregister_entity),
        },
        Tool {
            plugin: "catalog",
            action: "refresh-catalog-entity",
            title: "Refresh Catalog Entity",
            description: "Reads the location an entity came from again, so a change (for example one a template just made) shows before the next scheduled crawl. Give kind and namespace when the name is not unique.",
            input: || {
                object(
                    json!({
                        "kind": {"type": "string", "minLength": 1},
                        "namespace": {"type": "string", "minLength": 1},
                        "name": {"type": "string", "minLength": 1},
                    }),
                    &["name"],
                )
            },
            read_only: false,
            destructive: false,
            idempotent: true,
            run: Run::Value(refresh_entity),
        },
    ]
}

fn actor(call: &Invocation) -> crate::model::audit::Actor {
    crate::model::audit::Actor::new(call.caller.name())
}

fn register_entity(call: &Invocation, input: &Value) -> Result<Value> {
    let target = input["locationUrl"].as_str().unwrap_or_default();
    url::Url::parse(target).map_err(|_| Error::Input(format!("{target} is an invalid URL")))?;
    let location = call
        .cx
        .catalog
        .add_location("url", target, false, &actor(call))?;
    Ok(json!({"locationId": location.id}))
}

fn unregister_entity(call: &Invocation, input: &Value) -> Result<Value> {
    let which = &input["type"];
    let ids: Vec<String> = match (which["locationId"].as_str(), which["locationUrl"].as_str()) {
        (Some(id), _) => vec![id.to_string()],
        (None, Some(url)) => {
            let found: Vec<String> = call
                .cx
                .catalog
                .list_locations()?
                .into_iter()
                .filter(|l| l.target.eq_ignore_ascii_case(url))
                .map(|l| l.id)
                .collect();
            if found.is_empty() {
                return Err(Error::NotFound(format!(
                    "Location with URL {url} not found"
                )));
            }
            found
        }
        _ => {
            return Err(Error::Input(
                "Either locationId or locationUrl must be provided".into(),
            ))
        }
    };
    for id in ids {
        call.cx.catalog.delete_location(&id, &actor(call))?;
    }
    Ok(json!({}))
}

fn refresh_entity(call: &Invocation, input: &Value) -> Result<Value> {
    let entity = get_entity(call, input)?;
    let entity_ref = crate::model::entity_ref_of(&entity).canonical();
    call.cx.catalog.refresh(&entity_ref)?;
    Ok(json!({"entityRef": entity_ref}))
}

fn query_input() -> Value {
    let order = json!({
        "type": "object",
        "properties": {"field": {"type": "string"}, "order": {"type": "string", "enum": ["asc", "desc"]}},
        "required": ["field", "order"],
        "additionalProperties": false,
    });
    object(
        json!({
            "query": {"type": "object", "description": "Entity predicate query. Supports field matching, $all, $any, $not, $exists, $in, $contains, and $hasPrefix operators."},
            "fields": {"type": "array", "items": {"type": "string"}, "description": "Fields to include in the response (dot-separated paths such as spec.type); all fields if omitted."},
            "limit": {"type": "integer", "exclusiveMinimum": 0, "description": "Maximum number of entities to return at a time."},
            "offset": {"type": "integer", "minimum": 0, "description": "Number of entities to skip before returning results."},
            "orderFields": {"anyOf": [order.clone(), {"type": "array", "items": order}], "description": "Ordering of the results."},
            "fullTextFilter": {
                "type": "object",
                "properties": {"term": {"type": "string"}, "fields": {"type": "array", "items": {"type": "string"}}},
                "required": ["term"],
                "additionalProperties": false,
                "description": "Full text search criteria",
            },
            "cursor": {"type": "string", "description": "The nextPageCursor of an earlier answer; takes precedence over offset."},
        }),
        &[],
    )
}

fn entity_of(snap: &crate::readmodel::Snapshot, id: u32) -> Value {
    serde_json::from_str(&snap.docs[id as usize].json).unwrap_or(Value::Null)
}

fn get_entity(call: &Invocation, input: &Value) -> Result<Value> {
    let name = input["name"].as_str().unwrap_or_default();
    let mut predicate = json!({"metadata.name": name});
    if let Some(kind) = input["kind"].as_str() {
        predicate["kind"] = json!(kind);
    }
    if let Some(namespace) = input["namespace"].as_str() {
        predicate["metadata.namespace"] = json!(namespace);
    }
    let predicate = parse_predicate(&predicate).map_err(Error::Input)?;
    let snap = call.cx.readmodel.snapshot();
    let found: Vec<u32> = predicate.eval(&snap).iter().collect();
    match found.as_slice() {
        [] => Err(Error::NotFound(format!(
            "No entity found with name \"{name}\""
        ))),
        [one] => Ok(entity_of(&snap, *one)),
        many => {
            let refs: Vec<String> = many
                .iter()
                .map(|i| format!("\"{}\"", snap.docs[*i as usize].entity_ref))
                .collect();
            Err(Error::Conflict(format!(
                "Multiple entities found with name \"{name}\", please provide more specific filters. Entities found: {}",
                refs.join(", ")
            )))
        }
    }
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

fn query_entities(call: &Invocation, input: &Value) -> Result<String> {
    let limit = input["limit"]
        .as_u64()
        .map_or(DEFAULT_LIMIT, |l| l as usize);
    let fields = strings(&input["fields"]).filter(|f| !f.is_empty());
    let snap = call.cx.readmodel.snapshot();
    let page = match input["cursor"].as_str() {
        Some(c) => {
            let cursor = Cursor::decode(c).map_err(Error::Input)?;
            query::query_page(&snap, None, Some(&cursor), limit, None)
        }
        None => {
            let filter = match input.get("query") {
                Some(q @ Value::Object(_)) => Some(
                    parse_predicate(q).map_err(|e| Error::Input(format!("Invalid query: {e}")))?,
                ),
                _ => None,
            };
            let first_order = match &input["orderFields"] {
                Value::Array(list) => list.first().cloned(),
                o @ Value::Object(_) => Some(o.clone()),
                _ => None,
            };
            let spec = QuerySpec {
                filter,
                order: first_order.map(|o| OrderField {
                    field: o["field"].as_str().unwrap_or_default().to_string(),
                    order: o["order"].as_str().unwrap_or("asc").to_string(),
                }),
                full_text: FullTextFilter {
                    term: input["fullTextFilter"]["term"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    fields: strings(&input["fullTextFilter"]["fields"]),
                },
                offset: input["offset"].as_u64().unwrap_or(0) as usize,
                include_total: true,
            };
            query::query_page(&snap, Some(&spec), None, limit, None)
        }
    }
    .map_err(Error::Input)?;
    let items = query::write_items(
        &snap,
        page.items.iter().map(|i| Some(*i)),
        fields.as_deref(),
    );
    // Written as text: the entities are stored serialised, and a page of them is the answer.
    let mut out = format!(
        "{{\"items\":{items},\"totalItems\":{},\"hasMoreEntities\":{}",
        page.total_items,
        page.next_cursor.is_some()
    );
    if let Some(c) = page.next_cursor {
        out.push_str(",\"nextPageCursor\":");
        out.push_str(&json!(c).to_string());
    }
    out.push('}');
    Ok(out)
}

fn validate_entity(call: &Invocation, input: &Value) -> Result<Value> {
    let text = input["entity"].as_str().unwrap_or_default();
    let entity: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Ok(json!({
                "isValid": false,
                "isValidYaml": false,
                "errors": [format!("YAML parsing error: {e}")],
            }))
        }
    };
    let location = input["location"]
        .as_str()
        .unwrap_or("url:https://localhost/entity-validator");
    let errors = call.cx.catalog.validate(&entity, location);
    let mut out = json!({"isValid": errors.is_empty(), "isValidYaml": true, "errors": errors});
    if errors.is_empty() {
        out["entity"] = entity;
    }
    Ok(out)
}

fn type_name(ty: FieldType) -> String {
    match ty {
        FieldType::String => "string".into(),
        FieldType::StringArray => "string[]".into(),
        FieldType::Object => "object".into(),
        FieldType::Array => "array".into(),
        FieldType::Presence => "\"required\" or \"optional\"".into(),
        FieldType::Steps => "steps".into(),
        FieldType::OneOf(values) => values.join(" | "),
        FieldType::Objects(keys) => format!("objects with {}", keys.join(", ")),
        FieldType::ArrayOrObject => "string[] or object".into(),
    }
}

fn model_description(_: &Invocation, _: &Value) -> Result<Value> {
    let mut md = String::from(
        "# Catalog Model\n\nEvery entity has `apiVersion`, `kind`, `metadata` (`name`, `namespace` \
         (default \"default\"), `title`, `description`, `labels`, `annotations`, `tags`, `links`) \
         and a `spec` that depends on its kind. An entity is referred to as \
         `kind:namespace/name`. Relations are computed from spec fields and listed in \
         `relations` as `{type, targetRef}`; each has an inverse on the target.\n\n## Entity Kinds\n",
    );
    for kind in kinds::KNOWN_KINDS {
        let Some(rules) = kinds::spec_rules(kind) else {
            continue;
        };
        let _ = write!(
            md,
            "\n### {kind}\n\napiVersion: {}\n\n",
            rules.api_versions.join(", ")
        );
        for f in rules.fields {
            let _ = writeln!(
                md,
                "- `spec.{}` ({}{})",
                f.name,
                type_name(f.ty),
                if f.required { ", required" } else { "" }
            );
        }
        let relations = kinds::relation_fields(kind);
        if !relations.is_empty() {
            md.push_str("\nRelations:\n");
            for r in relations {
                for t in r.targets {
                    for (forward, reverse) in t.pairs {
                        let _ = writeln!(
                            md,
                            "- `spec.{}` → `{forward}` (inverse `{reverse}`){}",
                            r.path,
                            if t.kind == "*" {
                                String::new()
                            } else {
                                format!(" to a {}", t.kind)
                            }
                        );
                    }
                }
            }
        }
    }
    Ok(json!({"description": md}))
}
