//! JSON Schema validation with errors in the shape of Backstage's `jsonschema` (path, property,
//! message, name, stack): template parameters, action inputs, the AI Act questionnaire.

use serde_json::{json, Value};

/// Validates a value against a JSON Schema; errors in the shape of Backstage's `jsonschema`.
pub fn schema_errors(schema: &Value, instance: &Value, root: &str) -> Vec<Value> {
    let validator = match jsonschema::validator_for(schema) {
        Ok(v) => v,
        Err(e) => {
            return vec![
                json!({"path": [], "property": root, "message": format!("the schema is invalid: {e}"),
                               "name": "schema", "stack": format!("{root} schema is invalid: {e}")}),
            ]
        }
    };
    validator
        .iter_errors(instance)
        .map(|e| {
            let pointer = e.instance_path.as_str().to_string();
            let path: Vec<Value> = pointer
                .split('/')
                .skip(1)
                .map(|p| match p.parse::<u64>() {
                    Ok(i) => json!(i),
                    Err(_) => json!(p.replace("~1", "/").replace("~0", "~")),
                })
                .collect();
            let property = path.iter().fold(root.to_string(), |acc, p| match p {
                Value::Number(n) => format!("{acc}[{n}]"),
                other => format!("{acc}.{}", other.as_str().unwrap_or_default()),
            });
            let keyword = e
                .schema_path
                .as_str()
                .rsplit('/')
                .find(|s| !s.chars().all(|c| c.is_ascii_digit()))
                .unwrap_or_default()
                .to_string();
            let message = e.to_string();
            json!({
                "path": path,
                "property": property,
                "message": message,
                "schema": e.schema_path.as_str(),
                "instance": e.instance.as_ref(),
                "name": keyword,
                "argument": Value::Null,
                "stack": format!("{property} {message}"),
            })
        })
        .collect()
}
