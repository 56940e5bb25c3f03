//! A tool: one action an agent can call, with its JSON Schema input and the attributes MCP
//! clients read (read-only, destructive, idempotent).

use serde_json::{json, Value};

use super::Invocation;
use crate::error::{Error, Result};

pub struct Tool {
    /// The plugin the action belongs to (`catalog`).
    pub plugin: &'static str,
    /// The action's name (`get-catalog-entity`).
    pub action: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input: fn() -> Value,
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub run: Run,
}

/// What a tool does with its arguments: answer a JSON value, or JSON text it already has (the
/// catalog's pre-serialised entities), which is passed on without building a tree.
pub enum Run {
    Value(fn(&Invocation, &Value) -> Result<Value>),
    Json(fn(&Invocation, &Value) -> Result<String>),
}

impl Run {
    /// The tool's answer as JSON text.
    pub fn json(&self, call: &Invocation, arguments: &Value) -> Result<String> {
        match self {
            Run::Value(f) => f(call, arguments).map(|v| v.to_string()),
            Run::Json(f) => f(call, arguments),
        }
    }
}

impl Tool {
    /// `catalog:get-catalog-entity`, as Backstage names actions.
    pub fn id(&self) -> String {
        format!("{}:{}", self.plugin, self.action)
    }

    /// The name `tools/list` shows: `catalog_get_catalog_entity` (or `get_catalog_entity` without
    /// namespacing), as current Backstage lists them.
    pub fn name(&self, namespaced: bool) -> String {
        snake(&self.legacy_name(namespaced))
    }

    /// The name older Backstage listed: `catalog.get-catalog-entity` (or `get-catalog-entity`).
    fn legacy_name(&self, namespaced: bool) -> String {
        if namespaced {
            format!("{}.{}", self.plugin, self.action)
        } else {
            self.action.to_string()
        }
    }

    /// Whether a `tools/call` name means this tool: the listed name or the older dotted one.
    pub fn answers_to(&self, name: &str, namespaced: bool) -> bool {
        name == self.name(namespaced) || name == self.legacy_name(namespaced)
    }

    /// The entry `tools/list` shows, as JSON text; built once per tool.
    pub fn listing(&self, namespaced: bool) -> std::sync::Arc<str> {
        type Listings = std::collections::HashMap<(String, bool), std::sync::Arc<str>>;
        static BUILT: once_cell::sync::Lazy<parking_lot::Mutex<Listings>> =
            once_cell::sync::Lazy::new(Default::default);
        let key = (self.id(), namespaced);
        if let Some(l) = BUILT.lock().get(&key) {
            return l.clone();
        }
        let built: std::sync::Arc<str> = self.listing_value(namespaced).to_string().into();
        BUILT.lock().insert(key, built.clone());
        built
    }

    fn listing_value(&self, namespaced: bool) -> Value {
        json!({
            "name": self.name(namespaced),
            "description": self.description,
            "inputSchema": (self.input)(),
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.read_only,
                "destructiveHint": self.destructive,
                "idempotentHint": self.idempotent,
                "openWorldHint": false,
            },
        })
    }

    /// Refuses arguments that do not fit the input schema, naming the field. The schema is
    /// compiled once per tool, not per call.
    pub fn check_input(&self, arguments: &Value) -> Result<()> {
        static COMPILED: once_cell::sync::Lazy<
            parking_lot::Mutex<
                std::collections::HashMap<String, std::sync::Arc<jsonschema::Validator>>,
            >,
        > = once_cell::sync::Lazy::new(Default::default);
        let id = self.id();
        let cached = COMPILED.lock().get(&id).cloned();
        let validator = match cached {
            Some(v) => v,
            None => {
                let v = std::sync::Arc::new(
                    jsonschema::validator_for(&(self.input)())
                        .map_err(|e| Error::Internal(format!("the input schema of {id}: {e}")))?,
                );
                COMPILED.lock().insert(id, v.clone());
                v
            }
        };
        let problems: Vec<String> = validator
            .iter_errors(arguments)
            .map(|e| {
                let at = e.instance_path.to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Input(format!(
                "Invalid input to action \"{}\": {}",
                self.id(),
                problems.join("; ")
            )))
        }
    }
}

/// Lowercase, every run of characters other than letters, digits and `_` made one `_`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut gap = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

/// An object schema with these properties, `required` ones, and nothing else.
pub fn object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::snake;

    #[test]
    fn names_become_snake_case() {
        assert_eq!(
            snake("catalog.get-catalog-entity"),
            "catalog_get_catalog_entity"
        );
        assert_eq!(snake("Get--Entity_x"), "get_entity_x");
        assert_eq!(snake("-x-"), "x");
    }
}
