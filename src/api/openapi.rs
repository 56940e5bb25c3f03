//! The OpenAPI 3.1 document of every plugin path, built from the route table: the server's own
//! registration gives each operation's method, path, path parameters and whether it needs a token;
//! the [`Doc`] registered beside each handler gives its query parameters (the same list the handler
//! validates its query string with), its request body and its reply. Served at
//! `<mount>/openapi.json`, as Backstage's catalog serves `/api/catalog/openapi.json`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::routes::{Access, RouteInfo};

/// What one operation takes and answers.
#[derive(Debug)]
pub struct Doc {
    pub summary: &'static str,
    /// Every query parameter the handler accepts.
    pub query: &'static [Param],
    /// The JSON request body, when there is one.
    pub body: Option<fn() -> Value>,
    pub reply: Reply,
    /// Another answer with this status (validate-entity's 400 `{errors}`), besides Backstage's
    /// error body.
    pub also: [Option<OtherReply>; 2],
}

/// A status and the schema of its JSON body.
pub type OtherReply = (u16, fn() -> Value);

/// A query parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub ty: Ty,
    pub repeated: bool,
    pub required: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    /// An integer of at least this value.
    Int(i64),
    Bool,
    OneOf(&'static [&'static str]),
}

/// A successful reply.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// JSON with this status and schema.
    Json(u16, fn() -> Value),
    /// 204, no body.
    NoContent,
    /// 200 with an empty body.
    Empty,
    /// 200 with another media type (HTML pages, a badge, metrics, an archive, an event stream).
    Media(&'static str),
}

impl Doc {
    pub const fn new(summary: &'static str) -> Doc {
        Doc {
            summary,
            query: &[],
            body: None,
            reply: Reply::Json(200, shapes::object),
            also: [None, None],
        }
    }
    pub const fn query(mut self, query: &'static [Param]) -> Doc {
        self.query = query;
        self
    }
    pub const fn body(mut self, schema: fn() -> Value) -> Doc {
        self.body = Some(schema);
        self
    }
    pub const fn json(mut self, schema: fn() -> Value) -> Doc {
        self.reply = Reply::Json(200, schema);
        self
    }
    pub const fn created(mut self, schema: fn() -> Value) -> Doc {
        self.reply = Reply::Json(201, schema);
        self
    }
    pub const fn no_content(mut self) -> Doc {
        self.reply = Reply::NoContent;
        self
    }
    pub const fn empty(mut self) -> Doc {
        self.reply = Reply::Empty;
        self
    }
    /// Another answer (at most two per operation).
    pub const fn also(mut self, status: u16, schema: fn() -> Value) -> Doc {
        let slot = if self.also[0].is_none() { 0 } else { 1 };
        self.also[slot] = Some((status, schema));
        self
    }
    pub const fn media(mut self, media_type: &'static str) -> Doc {
        self.reply = Reply::Media(media_type);
        self
    }
}

/// A single string query parameter; see the builders for other shapes.
pub const fn q(name: &'static str) -> Param {
    Param {
        name,
        ty: Ty::Str,
        repeated: false,
        required: false,
    }
}

impl Param {
    pub const fn int(mut self, min: i64) -> Param {
        self.ty = Ty::Int(min);
        self
    }
    pub const fn bool(mut self) -> Param {
        self.ty = Ty::Bool;
        self
    }
    pub const fn one_of(mut self, values: &'static [&'static str]) -> Param {
        self.ty = Ty::OneOf(values);
        self
    }
    pub const fn many(mut self) -> Param {
        self.repeated = true;
        self
    }
    pub const fn required(mut self) -> Param {
        self.required = true;
        self
    }

    fn schema(&self) -> Value {
        let one = match self.ty {
            Ty::Str => json!({"type": "string"}),
            Ty::Int(min) if min == i64::MIN => json!({"type": "integer"}),
            Ty::Int(min) => json!({"type": "integer", "minimum": min}),
            Ty::Bool => json!({"type": "boolean"}),
            Ty::OneOf(values) => json!({"type": "string", "enum": values}),
        };
        if self.repeated {
            json!({"type": "array", "items": one})
        } else {
            one
        }
    }
}

/// The document of the routes mounted at `mount` (`/api/catalog`; `""` for the top-level pages).
pub fn document(mount: &str, routes: &[RouteInfo]) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for route in routes.iter().filter(|r| r.mount == mount) {
        let relative = route.path[mount.len()..].to_string();
        let op = operation(route);
        paths
            .entry(relative)
            .or_default()
            .insert(route.method.as_str().to_lowercase(), op);
    }
    let title = match mount {
        "" => "cairn pages".to_string(),
        m => m.trim_start_matches("/api/").to_string(),
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Served by Cairn, a Backstage-compatible catalog and scorecard backend.",
        },
        "servers": [{"url": if mount.is_empty() { "/" } else { mount }}],
        "paths": paths,
        "components": {
            "schemas": {"Error": shapes::error()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}

pub const SERVE: Doc = Doc::new("This document (OpenAPI 3.1)");

/// The handler of `<mount>/openapi.json`: built once per mount from the route table.
pub async fn serve(mount: &'static str) -> actix_web::HttpResponse {
    static DOCUMENTS: std::sync::OnceLock<BTreeMap<&'static str, String>> =
        std::sync::OnceLock::new();
    let documents = DOCUMENTS.get_or_init(|| {
        let routes = super::routes();
        let mut mounts: Vec<&'static str> = routes.iter().map(|r| r.mount).collect();
        mounts.dedup();
        mounts
            .into_iter()
            .map(|m| (m, document(m, &routes).to_string()))
            .collect()
    });
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(documents.get(mount).cloned().unwrap_or_default())
}

fn operation(route: &RouteInfo) -> Value {
    let Some(doc) = route.doc else {
        return json!({"summary": "(undocumented)", "responses": {"default": error_response()}});
    };
    let mut parameters: Vec<Value> = path_params(&route.path)
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect();
    for p in doc.query {
        let mut param = json!({
            "name": p.name,
            "in": "query",
            "required": p.required,
            "schema": p.schema(),
        });
        if p.repeated {
            param["style"] = json!("form");
            param["explode"] = json!(true);
        }
        parameters.push(param);
    }
    let mut responses = Map::new();
    match doc.reply {
        Reply::Json(status, schema) => {
            responses.insert(
                status.to_string(),
                json!({"description": "OK", "content": {"application/json": {"schema": schema()}}}),
            );
        }
        Reply::NoContent => {
            responses.insert("204".into(), json!({"description": "Done"}));
        }
        Reply::Empty => {
            responses.insert("200".into(), json!({"description": "Done"}));
        }
        // An event stream's events are not one schema's instances.
        Reply::Media("text/event-stream") => {
            responses.insert(
                "200".into(),
                json!({"description": "OK", "content": {"text/event-stream": {}}}),
            );
        }
        Reply::Media(media) => {
            responses.insert(
                "200".into(),
                json!({"description": "OK", "content": {media: {"schema": {"type": "string"}}}}),
            );
        }
    }
    for (status, schema) in doc.also.iter().flatten() {
        responses.insert(
            status.to_string(),
            json!({"description": "Refused", "content": {"application/json": {"schema": {
                "anyOf": [schema(), {"$ref": "#/components/schemas/Error"}],
            }}}}),
        );
    }
    responses.insert("default".into(), error_response());
    let mut op = json!({
        "operationId": operation_id(route),
        "summary": doc.summary,
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(body) = doc.body {
        op["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": body()}}});
    }
    if route.access != Access::Open {
        op["security"] = json!([{"bearer": []}]);
    }
    op
}

fn error_response() -> Value {
    json!({
        "description": "Backstage's error body",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
}

fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// `GET /entities/by-name/{kind}/{namespace}/{name}` → `get_entities_by_name`.
fn operation_id(route: &RouteInfo) -> String {
    let words: Vec<&str> = route.path[route.mount.len()..]
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '{' && c != '}')
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .collect();
    let mut id = route.method.as_str().to_lowercase();
    for w in words {
        id.push('_');
        id.push_str(w);
    }
    if route.path.ends_with('}') {
        id.push_str("_one");
    }
    id
}

/// JSON Schemas of the bodies Cairn reads and writes.
pub mod shapes {
    use serde_json::{json, Value};

    pub fn object() -> Value {
        json!({"type": "object"})
    }
    pub fn objects() -> Value {
        json!({"type": "array", "items": {"type": "object"}})
    }
    pub fn error() -> Value {
        json!({
            "type": "object",
            "required": ["error", "request", "response"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["name", "message"],
                    "properties": {"name": {"type": "string"}, "message": {"type": "string"}},
                },
                "request": {
                    "type": "object",
                    "properties": {"method": {"type": "string"}, "url": {"type": "string"}},
                },
                "response": {
                    "type": "object",
                    "required": ["statusCode"],
                    "properties": {"statusCode": {"type": "integer"}},
                },
            },
        })
    }
    pub fn entity() -> Value {
        json!({
            "type": "object",
            "required": ["apiVersion", "kind", "metadata"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "namespace": {"type": "string"},
                        "uid": {"type": "string"},
                        "etag": {"type": "string"},
                        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "spec": {"type": "object"},
                "relations": {"type": "array", "items": {
                    "type": "object",
                    "required": ["type", "targetRef"],
                    "properties": {"type": {"type": "string"}, "targetRef": {"type": "string"}},
                }},
            },
        })
    }
    /// Entities, or projections of them when `fields` is given (then any object).
    pub fn entities() -> Value {
        json!({"type": "array", "items": {"type": "object"}})
    }
    pub fn entities_or_nulls() -> Value {
        json!({"type": "array", "items": {"type": ["object", "null"]}})
    }
    pub fn query_response() -> Value {
        json!({
            "type": "object",
            "required": ["items", "pageInfo"],
            "properties": {
                "items": entities(),
                "totalItems": {"type": "integer", "minimum": 0},
                "pageInfo": {
                    "type": "object",
                    "properties": {
                        "nextCursor": {"type": "string"},
                        "prevCursor": {"type": "string"},
                    },
                },
            },
        })
    }
    pub fn by_refs_response() -> Value {
        json!({"type": "object", "required": ["items"], "properties": {"items": entities_or_nulls()}})
    }
    pub fn by_refs_request() -> Value {
        json!({
            "type": "object",
            "required": ["entityRefs"],
            "properties": {
                "entityRefs": {"type": "array", "items": {"type": "string"}},
                "fields": {"type": "array", "items": {"type": "string"}},
                "query": {"type": "object"},
            },
        })
    }
    pub fn query_request() -> Value {
        json!({
            "type": "object",
            "properties": {
                "query": {"type": "object"},
                "limit": {"type": "integer", "minimum": 0},
                "offset": {"type": "integer", "minimum": 0},
                "orderBy": {"type": "array", "items": {"type": "object"}},
                "fullTextFilter": {"type": "object"},
                "fields": {"type": "array", "items": {"type": "string"}},
                "cursor": {"type": "string"},
                "totalItems": {},
            },
            "additionalProperties": false,
        })
    }
    pub fn facets() -> Value {
        json!({
            "type": "object",
            "required": ["facets"],
            "properties": {"facets": {"type": "object", "additionalProperties": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["value", "count"],
                    "properties": {"value": {"type": "string"}, "count": {"type": "integer"}},
                },
            }}},
        })
    }
    pub fn facets_request() -> Value {
        json!({
            "type": "object",
            "required": ["facets"],
            "properties": {
                "facets": {"type": "array", "items": {"type": "string"}},
                "query": {"type": "object"},
            },
        })
    }
    pub fn location() -> Value {
        json!({
            "type": "object",
            "required": ["id", "type", "target"],
            "properties": {
                "id": {"type": "string"},
                "type": {"type": "string"},
                "target": {"type": "string"},
            },
        })
    }
    pub fn locations() -> Value {
        json!({"type": "array", "items": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": location()},
        }})
    }
    pub fn location_request() -> Value {
        json!({
            "type": "object",
            "required": ["type", "target"],
            "properties": {
                "type": {"type": "string"},
                "target": {"type": "string"},
                "presence": {"type": "string", "enum": ["required", "optional"]},
            },
            "additionalProperties": false,
        })
    }
    pub fn location_created() -> Value {
        json!({
            "type": "object",
            "required": ["location", "entities"],
            "properties": {"location": location(), "entities": entities(), "exists": {"type": "boolean"}},
        })
    }
    pub fn refresh_request() -> Value {
        json!({
            "type": "object",
            "required": ["entityRef"],
            "properties": {"entityRef": {"type": "string"}, "authorizationToken": {"type": "string"}},
        })
    }
    pub fn validate_request() -> Value {
        json!({
            "type": "object",
            "required": ["entity", "location"],
            "properties": {"entity": {"type": "object"}, "location": {"type": "string"}},
        })
    }
    pub fn task_id() -> Value {
        json!({"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}})
    }
    pub fn task_request() -> Value {
        json!({
            "type": "object",
            "required": ["templateRef", "values"],
            "properties": {
                "templateRef": {"type": "string"},
                "values": {"type": "object"},
                "secrets": {"type": "object"},
            },
        })
    }
    pub fn tasks() -> Value {
        json!({
            "type": "object",
            "required": ["tasks"],
            "properties": {"tasks": objects(), "totalTasks": {"type": "integer"}},
        })
    }
    pub fn entities_run_request() -> Value {
        json!({
            "type": "object",
            "properties": {
                "entities": {"type": "array", "items": {"type": "object"}},
                "checks": {"type": "array", "items": {"type": "string"}},
            },
        })
    }
}
