//! Location endpoints: list, register (with `dryRun` and `onConflict`), get, delete, by-entity,
//! and `analyze-location`.

use super::routes::Routes;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::openapi::{q, shapes, Doc};
use super::params::{json_body, Params};
use super::{blocking, ApiError, AppState};
use crate::error::Error;
use crate::processing::RootLocation;

type Reply = Result<HttpResponse, ApiError>;

const LIST: Doc = Doc::new("Registered locations").json(shapes::locations);
const CREATE: Doc = Doc::new("Registers a location (`dryRun` reads it without storing)")
    .query(&[
        q("dryRun").bool(),
        q("onConflict").one_of(&["reject", "refresh"]),
    ])
    .body(shapes::location_request)
    .created(shapes::location_created);
const BY_ENTITY: Doc = Doc::new("The location an entity came from").json(shapes::location);
const GET: Doc = Doc::new("One location").json(shapes::location);
const DELETE: Doc = Doc::new("Unregisters a location; its entities become orphans").no_content();
const UPDATE: Doc = Doc::new("Changes a location's type or target")
    .body(shapes::location_request)
    .json(shapes::location);
const BY_QUERY: Doc = Doc::new("Locations matching a predicate, paged by id");
const ANALYZE: Doc = Doc::new("The entity a repository URL would be registered as");

pub fn routes(r: &mut Routes) {
    r.get("/locations", list)
        .doc(&LIST)
        .post("/locations", create)
        .doc(&CREATE)
        .get("/locations/by-entity/{kind}/{namespace}/{name}", by_entity)
        .doc(&BY_ENTITY)
        .get("/locations/{id}", get)
        .doc(&GET)
        .delete("/locations/{id}", delete)
        .doc(&DELETE)
        .put("/locations/{id}", update)
        .doc(&UPDATE)
        .post("/locations/by-query", by_query)
        .doc(&BY_QUERY)
        .post("/analyze-location", analyze)
        .doc(&ANALYZE);
}

async fn list(state: web::Data<AppState>) -> Reply {
    let catalog = state.catalog.clone();
    let locations = blocking(move || catalog.list_locations()).await?;
    let items: Vec<Value> = locations
        .into_iter()
        .map(|l| json!({ "data": l }))
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

async fn get(path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    let id = path.into_inner();
    let catalog = state.catalog.clone();
    Ok(HttpResponse::Ok().json(blocking(move || catalog.location(&id)).await?))
}

async fn delete(req: HttpRequest, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    state
        .permissions
        .require(&req, "catalog.location.delete", None)?;
    let id = path.into_inner();
    let catalog = state.catalog.clone();
    let who = super::caller(&req);
    blocking(move || catalog.delete_location(&id, &who)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
    state: web::Data<AppState>,
) -> Reply {
    let id = path.into_inner();
    let body = json_body(&body)?;
    super::params::only_keys(&body, &["type", "target"])?;
    let get = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::Input(format!("request/body must have required property '{k}'")))
    };
    let (loc_type, target) = (get("type")?, get("target")?);
    check_target(&loc_type, &target)?;
    let catalog = state.catalog.clone();
    let who = super::caller(&req);
    let location = blocking(move || catalog.update_location(&id, &loc_type, &target, &who)).await?;
    Ok(HttpResponse::Ok().json(location))
}

/// `POST /locations/by-query`: a predicate over `id`, `type`, `target`, `entityRef`, paged by id.
async fn by_query(body: Bytes, state: web::Data<AppState>) -> Reply {
    let body = if body.is_empty() {
        serde_json::Map::new()
    } else {
        json_body(&body)?
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let (limit, after, query) = match body.get("cursor").and_then(Value::as_str) {
        Some(c) => {
            let bad = || Error::Input("Malformed cursor".to_string());
            let decoded: Value =
                serde_json::from_slice(&base64::Engine::decode(&engine, c).map_err(|_| bad())?)
                    .map_err(|_| bad())?;
            (
                decoded["limit"].as_u64().unwrap_or(1000),
                decoded["afterId"].as_str().map(str::to_owned),
                decoded.get("query").cloned(),
            )
        }
        None => {
            let limit = match body.get("limit") {
                None => 1000,
                Some(v) => v
                    .as_u64()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| Error::Input("request/body/limit must be >= 1".into()))?,
            };
            (limit, None, body.get("query").cloned())
        }
    };
    let predicate = query.as_ref().map(location_predicate).transpose()?;
    let catalog = state.catalog.clone();
    let mut all = blocking(move || catalog.list_locations()).await?;
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let matching: Vec<_> = all
        .into_iter()
        .filter(|l| predicate.as_ref().is_none_or(|p| p(l)))
        .collect();
    let total = matching.len();
    let page: Vec<_> = matching
        .into_iter()
        .filter(|l| after.as_ref().is_none_or(|a| l.id.as_str() > a.as_str()))
        .take(limit as usize + 1)
        .collect();
    let mut info = serde_json::Map::new();
    let more = page.len() > limit as usize;
    let items: Vec<_> = page.into_iter().take(limit as usize).collect();
    if more {
        let last = items.last().map(|l| l.id.clone());
        let cursor = json!({"limit": limit, "afterId": last, "query": query});
        info.insert(
            "nextCursor".into(),
            json!(base64::Engine::encode(&engine, cursor.to_string())),
        );
    }
    Ok(HttpResponse::Ok().json(json!({"items": items, "totalItems": total, "pageInfo": info})))
}

type LocationPredicate = Box<dyn Fn(&crate::ingest::Location) -> bool>;

fn location_predicate(v: &Value) -> Result<LocationPredicate, Error> {
    let Value::Object(map) = v else {
        return Err(Error::Input(
            "Invalid filter predicate, expected an object".into(),
        ));
    };
    let mut parts: Vec<LocationPredicate> = Vec::new();
    for (k, val) in map {
        match k.as_str() {
            "$all" | "$any" => {
                let items = val.as_array().ok_or_else(|| Error::Input(format!("{k} expects an array")))?;
                let subs = items.iter().map(location_predicate).collect::<Result<Vec<_>, _>>()?;
                if k == "$all" {
                    parts.push(Box::new(move |l| subs.iter().all(|p| p(l))));
                } else {
                    parts.push(Box::new(move |l| subs.iter().any(|p| p(l))));
                }
            }
            "$not" => {
                let inner = location_predicate(val)?;
                parts.push(Box::new(move |l| !inner(l)));
            }
            "id" | "type" | "target" | "entityRef" => {
                let wanted: Vec<String> = match val {
                    Value::String(s) => vec![s.to_lowercase()],
                    Value::Object(o) => match o.get("$in").and_then(Value::as_array) {
                        Some(list) => list.iter().filter_map(Value::as_str).map(str::to_lowercase).collect(),
                        None => return Err(Error::Input(format!("Invalid filter predicate value for field \"{k}\""))),
                    },
                    _ => return Err(Error::Input(format!("Invalid filter predicate value for field \"{k}\""))),
                };
                let key = k.clone();
                parts.push(Box::new(move |l| {
                    let v = match key.as_str() {
                        "id" => &l.id,
                        "type" => &l.loc_type,
                        "target" => &l.target,
                        _ => &l.entity_ref,
                    };
                    wanted.contains(&v.to_lowercase())
                }));
            }
            other => {
                return Err(Error::Input(format!(
                    "Invalid filter predicate, expected key to be 'id', 'type', 'target', or 'entityRef', got '{other}'"
                )))
            }
        }
    }
    Ok(Box::new(move |l| parts.iter().all(|p| p(l))))
}

fn yes(v: &str) -> bool {
    matches!(v.to_lowercase().as_str(), "true" | "yes" | "y" | "1" | "on")
}

/// Types a registered location may have, and how its target must look.
fn check_target(loc_type: &str, target: &str) -> Result<(), Error> {
    if target.chars().any(char::is_control) {
        return Err(Error::Input(
            "request/body/target must not contain control characters".into(),
        ));
    }
    match loc_type {
        // Where a URL may be read from is the catalog's to say (`backend.reading.allow`).
        "url" => url::Url::parse(target)
            .map(|_| ())
            .map_err(|_| Error::Input(format!("Invalid location target {target}: not a URL"))),
        "file" => {
            if std::path::Path::new(target).is_absolute() {
                Ok(())
            } else {
                Err(Error::Input(format!(
                    "file location target {target} must be an absolute path"
                )))
            }
        }
        other => Err(Error::Input(format!(
            "Registered locations must be of an allowed type [\"url\",\"file\"], got {other:?}"
        ))),
    }
}

async fn create(req: HttpRequest, body: Bytes, state: web::Data<AppState>) -> Reply {
    state
        .permissions
        .require(&req, "catalog.location.create", None)?;
    let params = Params::parse(req.query_string());
    params.allow(CREATE.query)?;
    let body = json_body(&body)?;
    super::params::only_keys(&body, &["type", "target", "presence"])?;
    let get = |k: &str| match body.get(k) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Error::Input(format!("request/body/{k} must be string"))),
        None => Err(Error::Input(format!(
            "request/body must have required property '{k}'"
        ))),
    };
    let (loc_type, target) = (get("type")?, get("target")?);
    check_target(&loc_type, &target)?;
    match body.get("presence") {
        None => {}
        Some(Value::String(p)) if p == "required" || p == "optional" => {}
        Some(_) => return Err(Error::Input(
            "request/body/presence must be equal to one of the allowed values: required, optional"
                .into(),
        )
        .into()),
    }
    let dry_run = params.one("dryRun").is_some_and(|v| yes(&v));
    let refresh = match params.one("onConflict").as_deref() {
        None | Some("reject") => false,
        Some("refresh") => true,
        Some(other) => {
            return Err(Error::Input(format!(
                "Invalid onConflict value {other}, expected reject or refresh"
            ))
            .into())
        }
    };
    let catalog = state.catalog.clone();
    if dry_run {
        let (lt, tg) = (loc_type.clone(), target.clone());
        let (exists, result) = blocking(move || catalog.dry_run(&lt, &tg)).await?;
        let problems: Vec<String> = result
            .reports()
            .map(|r| format!("{}: {}", r.error_name, r))
            .collect();
        if !problems.is_empty() {
            return Err(Error::Input(problems.join("; ")).into());
        }
        let root = RootLocation::new(&loc_type, &target);
        let entities: Vec<Value> = result
            .emitted
            .iter()
            .map(|e| serde_json::from_str(&e.raw).unwrap_or(Value::Null))
            .collect();
        return Ok(HttpResponse::Created().json(json!({
            "exists": exists,
            "location": {"type": loc_type, "target": target, "id": root.key(), "entityRef": root.entity_ref()},
            "entities": entities,
        })));
    }
    let who = super::caller(&req);
    let location =
        blocking(move || catalog.add_location(&loc_type, &target, refresh, &who)).await?;
    Ok(HttpResponse::Created().json(json!({ "location": location, "entities": [] })))
}

async fn by_entity(path: web::Path<(String, String, String)>, state: web::Data<AppState>) -> Reply {
    let (kind, namespace, name) = path.into_inner();
    let r = format!("{kind}:{namespace}/{name}").to_lowercase();
    let snap = state.readmodel.snapshot();
    let doc = snap
        .get_by_ref(&r)
        .ok_or_else(|| Error::NotFound(format!("found no entity for ref {r}")))?;
    let entity: Value = serde_json::from_str(&doc.json).unwrap_or(Value::Null);
    let origin = crate::model::origin_of(&entity)
        .ok_or_else(|| Error::NotFound(format!("found no origin annotation for ref {r}")))?
        .to_string();
    let catalog = state.catalog.clone();
    let locations = blocking(move || catalog.list_locations()).await?;
    let found = locations
        .into_iter()
        .find(|l| format!("{}:{}", l.loc_type, l.target) == origin);
    match found {
        Some(l) => Ok(HttpResponse::Ok().json(l)),
        None => {
            let (t, target) = origin.split_once(':').unwrap_or(("", &origin));
            Err(Error::NotFound(format!(
                "Found no location with type {t} and target {target}"
            ))
            .into())
        }
    }
}

async fn analyze(body: Bytes) -> Reply {
    let body = json_body(&body)?;
    let target = body
        .get("location")
        .and_then(|l| l.get("target"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::Input("request/body must have required property 'location'".into())
        })?;
    let url = url::Url::parse(target)
        .map_err(|_| Error::Input("The given location.target is not a URL".into()))?;
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    let name = segments
        .get(1)
        .or(segments.first())
        .map(|s| s.trim_end_matches(".git"))
        .unwrap_or("component");
    let mut annotations = serde_json::Map::new();
    let prefix = match url.host_str() {
        Some("github.com") => Some("github.com"),
        Some("gitlab.com") => Some("gitlab.com"),
        Some("bitbucket.org") => Some("bitbucket.org"),
        Some("dev.azure.com") => Some("dev.azure.com"),
        _ => None,
    };
    if let (Some(p), [owner, repo, ..]) = (prefix, segments.as_slice()) {
        annotations.insert(
            format!("{p}/project-slug"),
            json!(format!("{owner}/{}", repo.trim_end_matches(".git"))),
        );
    }
    Ok(HttpResponse::Ok().json(json!({
        "existingEntityFiles": [],
        "generateEntities": [{
            "entity": {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Component",
                "metadata": {"name": name, "annotations": annotations},
                "spec": {"type": "other", "lifecycle": "unknown"}
            },
            "fields": []
        }]
    })))
}
