//! Backstage's scaffolder API (`/api/scaffolder/v2/…`), as `@backstage/plugin-scaffolder-common`'s
//! client calls it.

use super::routes::Routes;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::openapi::{q, shapes, Doc};
use super::params::Params;
use super::{blocking, ApiError, AppState, Principal};
use crate::error::Error;
use crate::scaffolder::{self, actions, CreateError, Scaffolder};

type Reply = Result<HttpResponse, ApiError>;

/// Dry-run bodies carry a template's files; Backstage accepts 10 MB.
const DRY_RUN_LIMIT: usize = 10 << 20;

fn parameter_schema_body() -> Value {
    json!({
        "type": "object",
        "required": ["title", "steps"],
        "properties": {"title": {"type": "string"}, "steps": shapes::objects()},
    })
}
fn validation_errors() -> Value {
    json!({"type": "object", "required": ["errors"], "properties": {"errors": shapes::objects()}})
}
fn dry_run_request() -> Value {
    json!({
        "type": "object",
        "required": ["template", "values"],
        "properties": {
            "template": {"type": "object"},
            "values": {"type": "object"},
            "secrets": {"type": "object", "additionalProperties": {"type": "string"}},
            "directoryContents": {"type": "array", "items": {
                "type": "object",
                "required": ["path", "base64Content"],
                "properties": {"path": {"type": "string"}, "base64Content": {"type": "string"}},
            }},
        },
    })
}
const AFTER: &[super::openapi::Param] = &[q("after").int(i64::MIN)];
const PARAMETER_SCHEMA: Doc =
    Doc::new("A template's parameter pages as JSON Schemas").json(parameter_schema_body);
const ACTIONS: Doc = Doc::new("The scaffolder actions Cairn runs").json(shapes::objects);
const CREATE: Doc = Doc::new("Starts a task from a template")
    .body(shapes::task_request)
    .created(shapes::task_id)
    .also(400, validation_errors);
const LIST: Doc = Doc::new("Tasks, newest first by default")
    .query(&[
        q("createdBy").many(),
        q("status").many(),
        q("limit").int(0),
        q("offset").int(0),
        q("order").many(),
    ])
    .json(shapes::tasks);
const GET: Doc = Doc::new("One task");
const EVENT_STREAM: Doc = Doc::new("A task's log and status as server-sent events")
    .query(AFTER)
    .media("text/event-stream");
const EVENTS: Doc = Doc::new("A task's events after one (waits up to 30 s for a new one)")
    .query(AFTER)
    .json(shapes::objects);
const CANCEL: Doc = Doc::new("Cancels a running task");
const RETRY: Doc =
    Doc::new("Runs a failed task again from its first unfinished step").created(shapes::task_id);
const DRY_RUN: Doc = Doc::new("Runs a template without publishing anything")
    .body(dry_run_request)
    .also(400, validation_errors);
const AUTOCOMPLETE: Doc = Doc::new("Autocompletion for pickers (no providers yet)");
const TEMPLATING_EXTENSIONS: Doc = Doc::new("The filters and globals templates can use");

pub fn routes(r: &mut Routes) {
    r.get(
        "/v2/templates/{namespace}/{kind}/{name}/parameter-schema",
        parameter_schema,
    )
    .doc(&PARAMETER_SCHEMA)
    .get("/v2/actions", list_actions)
    .doc(&ACTIONS)
    .post("/v2/tasks", create_task)
    .doc(&CREATE)
    .get("/v2/tasks", list_tasks)
    .doc(&LIST)
    .get("/v2/tasks/{id}", get_task)
    .doc(&GET)
    .get("/v2/tasks/{id}/eventstream", event_stream)
    .doc(&EVENT_STREAM)
    .get("/v2/tasks/{id}/events", events)
    .doc(&EVENTS)
    .post("/v2/tasks/{id}/cancel", cancel)
    .doc(&CANCEL)
    .post("/v2/tasks/{id}/retry", retry)
    .doc(&RETRY)
    .post_with_limit("/v2/dry-run", DRY_RUN_LIMIT, dry_run)
    .doc(&DRY_RUN)
    .post("/v2/autocomplete/{provider}/{resource}", autocomplete)
    .doc(&AUTOCOMPLETE)
    .get("/v2/templating-extensions", templating_extensions)
    .doc(&TEMPLATING_EXTENSIONS);
}

fn scaffolder(state: &AppState) -> Arc<Scaffolder> {
    state.scaffolder.clone()
}

/// The user a request acts for: a token whose subject is an entity ref, else the guest.
fn user_ref(req: &HttpRequest) -> String {
    req.extensions()
        .get::<Principal>()
        .map(|p| p.subject.clone())
        .filter(|s| s.contains(':'))
        .and_then(|s| crate::model::EntityRef::parse(&s, Some("user"), "default").ok())
        .map(|r| r.canonical())
        .unwrap_or_else(|| "user:default/guest".into())
}

async fn parameter_schema(
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let (namespace, kind, name) = path.into_inner();
    let t = scaffolder(&state).template(&namespace, &kind, &name)?;
    let steps: Vec<Value> = scaffolder::parameter_pages(&t)
        .into_iter()
        .map(|schema| {
            let mut step = json!({
                "title": schema["title"].as_str().unwrap_or("Please enter the following information"),
                "schema": schema,
            });
            if let Some(d) = schema.get("description") {
                step["description"] = d.clone();
            }
            step
        })
        .collect();
    let mut out = json!({
        "title": t["metadata"]["title"].as_str().or(t["metadata"]["name"].as_str()),
        "steps": steps,
    });
    if let Some(p) = t["spec"].get("presentation") {
        out["presentation"] = p.clone();
    }
    if let Some(d) = t["metadata"].get("description") {
        out["description"] = d.clone();
    }
    if let Some(o) = t["metadata"].get("ui:options") {
        out["ui:options"] = o.clone();
    }
    if let Some(f) = t["spec"]
        .get("formDecorators")
        .or(t["spec"].get("EXPERIMENTAL_formDecorators"))
    {
        out["formDecorators"] = f.clone();
    }
    Ok(HttpResponse::Ok().json(out))
}

async fn list_actions() -> Reply {
    let items: Vec<Value> = actions::registry()
        .into_iter()
        .map(|a| {
            let mut schema = json!({"input": a.input});
            if let Some(o) = a.output {
                schema["output"] = o;
            }
            json!({"id": a.id, "description": a.description, "examples": [], "schema": schema})
        })
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

fn secrets_of(body: &Map<String, Value>) -> Result<Map<String, Value>, Error> {
    match body.get("secrets") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(m.clone()),
        Some(_) => Err(Error::Input(
            "request/body/secrets must be an object of strings".into(),
        )),
    }
}

fn create_error(e: CreateError) -> Reply {
    match e {
        CreateError::Api(e) => Err(e.into()),
        CreateError::Invalid(errors) => {
            Ok(HttpResponse::BadRequest().json(json!({ "errors": errors })))
        }
    }
}

async fn create_task(req: HttpRequest, body: Bytes, state: web::Data<AppState>) -> Reply {
    let body = super::json_body(&body)?;
    let template_ref = body
        .get("templateRef")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::Input("request/body must have required property 'templateRef'".into())
        })?
        .to_string();
    let values = match body.get("values") {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => {
            return Err(
                Error::Input("request/body must have required property 'values'".into()).into(),
            )
        }
    };
    let secrets = secrets_of(&body)?;
    // The template is the resource, so a policy can say who may create from which templates.
    let template = crate::model::EntityRef::parse(&template_ref, Some("template"), "default")
        .map(|r| r.canonical())
        .unwrap_or_default();
    state
        .permissions
        .require_on_entity(&req, "scaffolder.task.create", &template)?;
    let user = user_ref(&req);
    let sc = scaffolder(&state);
    // Creating a task reads the catalog and writes the database: off the async threads.
    let result = web::block(move || sc.create(&template_ref, values, secrets, &user))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    match result {
        Ok(id) => Ok(HttpResponse::Created().json(json!({ "id": id }))),
        Err(e) => create_error(e),
    }
}

async fn list_tasks(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(LIST.query)?;
    let number = |k: &str| -> Result<Option<usize>, Error> {
        params
            .one(k)
            .map(|v| {
                v.parse::<usize>()
                    .map_err(|_| Error::Input(format!("request/query/{k} must be integer")))
            })
            .transpose()
    };
    let (limit, offset) = (number("limit")?, number("offset")?.unwrap_or(0));
    let mut orders = Vec::new();
    for o in params.all("order") {
        let (dir, field) = o
            .split_once(':')
            .filter(|(d, f)| matches!(*d, "asc" | "desc") && matches!(*f, "created_at" | "status" | "created_by"))
            .ok_or_else(|| Error::Input(format!("request/query/order must match pattern \"^(asc|desc):(created_at|status|created_by)$\", got {o}")))?;
        orders.push((dir == "desc", field.to_string()));
    }
    if orders.is_empty() {
        orders.push((true, "created_at".into()));
    }
    let query = scaffolder::TaskQuery {
        created_by: params.all("createdBy"),
        statuses: params.all("status"),
        order: orders,
        limit,
        offset,
    };
    let sc = scaffolder(&state);
    let (tasks, total) = blocking(move || sc.list_tasks(&query)).await?;
    Ok(HttpResponse::Ok().json(json!({"tasks": tasks, "totalTasks": total})))
}

async fn load_task(state: &AppState, id: String) -> Result<scaffolder::TaskView, ApiError> {
    let sc = scaffolder(state);
    blocking(move || sc.task(&id)).await
}

async fn get_task(path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    let task = load_task(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(task.json))
}

fn after_of(req: &HttpRequest) -> Result<Option<i64>, Error> {
    Params::parse(req.query_string())
        .one("after")
        .map(|a| {
            a.parse::<i64>()
                .map_err(|_| Error::Input("request/query/after must be integer".into()))
        })
        .transpose()
}

async fn events_since(
    state: &AppState,
    id: &str,
    after: Option<i64>,
    recoverable: bool,
) -> Result<Vec<scaffolder::TaskEvent>, ApiError> {
    let sc = scaffolder(state);
    let id = id.to_string();
    blocking(move || sc.events_since(&id, after, recoverable)).await
}

async fn event_stream(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Reply {
    let id = path.into_inner();
    let after = after_of(&req)?;
    let recoverable = load_task(&state, id.clone()).await?.recoverable;
    let wake = state.scaffolder.subscribe();
    let state = state.clone();
    struct Cursor {
        after: Option<i64>,
        done: bool,
        sent_completion: std::collections::HashSet<i64>,
    }
    let cursor = Cursor {
        after,
        done: false,
        sent_completion: Default::default(),
    };
    let stream = futures_util::stream::unfold((cursor, state, id), move |(mut cur, state, id)| {
        let mut wake = wake.clone();
        async move {
            if cur.done {
                return None;
            }
            loop {
                let rows = match events_since(&state, &id, cur.after, recoverable).await {
                    Ok(r) => r,
                    Err(_) => return None,
                };
                let fresh: Vec<_> = rows
                    .into_iter()
                    .filter(|e| {
                        !cur.sent_completion.contains(&e.id)
                            && cur
                                .after
                                .is_none_or(|a| e.id > a || e.event_type == "completion")
                    })
                    .collect();
                if !fresh.is_empty() {
                    let mut chunk = String::new();
                    for e in &fresh {
                        chunk.push_str(&format!("event: {}\ndata: {}\n\n", e.event_type, e.json));
                        if e.event_type == "completion" {
                            cur.sent_completion.insert(e.id);
                            if !recoverable {
                                cur.done = true;
                            }
                        }
                        cur.after = Some(cur.after.map_or(e.id, |a| a.max(e.id)));
                    }
                    return Some((
                        Ok::<_, actix_web::Error>(Bytes::from(chunk)),
                        (cur, state, id),
                    ));
                }
                // Woken by a new event here, or every second for events written by another replica.
                let _ = tokio::time::timeout(Duration::from_secs(1), wake.changed()).await;
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("Connection", "keep-alive"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

async fn events(req: HttpRequest, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    let id = path.into_inner();
    let after = after_of(&req)?;
    let recoverable = load_task(&state, id.clone()).await?.recoverable;
    let mut wake = state.scaffolder.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = events_since(&state, &id, after, recoverable).await?;
        if !rows.is_empty() || tokio::time::Instant::now() >= deadline {
            let items: Vec<Value> = rows.into_iter().map(|e| e.json).collect();
            return Ok(HttpResponse::Ok().json(items));
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), wake.changed()).await;
    }
}

async fn cancel(req: HttpRequest, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    state
        .permissions
        .require(&req, "scaffolder.task.cancel", None)?;
    let id = path.into_inner();
    let sc = scaffolder(&state);
    blocking(move || sc.cancel(&id)).await?;
    Ok(HttpResponse::Ok().json(json!({"status": "cancelled"})))
}

async fn retry(path: web::Path<String>, body: Bytes, state: web::Data<AppState>) -> Reply {
    let id = path.into_inner();
    let body = if body.is_empty() {
        Map::new()
    } else {
        super::json_body(&body)?
    };
    let secrets = body
        .contains_key("secrets")
        .then(|| secrets_of(&body))
        .transpose()?;
    let sc = scaffolder(&state);
    let id2 = id.clone();
    blocking(move || sc.retry(&id2, secrets)).await?;
    Ok(HttpResponse::Created().json(json!({ "id": id })))
}

async fn dry_run(req: HttpRequest, body: Bytes, state: web::Data<AppState>) -> Reply {
    let body = super::json_body(&body)?;
    let template = body.get("template").cloned().unwrap_or(Value::Null);
    let values = match body.get("values") {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => return Err(Error::Input("Malformed request: values must be an object".into()).into()),
    };
    let secrets = secrets_of(&body)?;
    let mut files = Vec::new();
    use base64::Engine;
    for f in body
        .get("directoryContents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(p), Some(c)) = (f["path"].as_str(), f["base64Content"].as_str()) else {
            return Err(Error::Input(
                "Malformed request: directoryContents items need path and base64Content".into(),
            )
            .into());
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(c)
            .map_err(|e| Error::Input(format!("Malformed request: {p}: {e}")))?;
        files.push((p.to_string(), bytes));
    }
    let user = user_ref(&req);
    let sc = scaffolder(&state);
    let result = web::block(move || sc.dry_run(&template, &values, &secrets, &files, &user))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    match result {
        Ok(v) => Ok(HttpResponse::Ok().json(v)),
        Err(e) => create_error(e),
    }
}

async fn autocomplete(path: web::Path<(String, String)>, body: Bytes) -> Reply {
    let (provider, _) = path.into_inner();
    let body = super::json_body(&body)?;
    if !body.get("token").is_some_and(Value::is_string) {
        return Err(Error::Input("Missing token query parameter".into()).into());
    }
    Err(Error::Input(format!("Unsupported provider: {provider}")).into())
}

async fn templating_extensions() -> Reply {
    let s = |t: &str| json!({"type": t});
    Ok(HttpResponse::Ok().json(json!({
        "filters": {
            "parseRepoUrl": {"description": "Parses a repository URL (host?owner=o&repo=r) into its parts", "schema": {"input": s("string"), "output": {"type": "object", "properties": {"repo": s("string"), "host": s("string"), "owner": s("string"), "organization": s("string"), "workspace": s("string"), "project": s("string")}, "required": ["repo", "host"]}}, "examples": []},
            "parseEntityRef": {"description": "Parses an entity ref into kind, namespace and name", "schema": {"input": {"anyOf": [s("string"), {"type": "object"}]}, "arguments": [{"type": "object", "properties": {"defaultKind": s("string"), "defaultNamespace": s("string")}}], "output": {"type": "object", "properties": {"kind": s("string"), "namespace": s("string"), "name": s("string")}, "required": ["kind", "namespace", "name"]}}, "examples": []},
            "pick": {"description": "Picks a property by its dotted path", "schema": {"input": {"type": "object"}, "arguments": [{"type": "string", "description": "Property"}], "output": {}}, "examples": []},
            "projectSlug": {"description": "owner/repo of a repository URL", "schema": {"input": s("string"), "output": s("string")}, "examples": []},
            "dump": {"description": "JSON of a value", "schema": {"input": {}, "output": s("string")}, "examples": []},
        },
        "globals": {"functions": {}, "values": {}},
    })))
}
