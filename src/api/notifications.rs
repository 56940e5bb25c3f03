//! `/api/notifications`: the signed-in user's notifications, as
//! `@backstage/plugin-notifications`' client reads and updates them.

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::openapi::{q, shapes, Doc};
use super::params::Params;
use super::routes::Routes;
use super::{blocking, ApiError, AppState};
use crate::error::Error;
use crate::model::notifications::Query;

fn list_body() -> Value {
    json!({
        "type": "object",
        "required": ["notifications", "totalCount"],
        "properties": {"notifications": shapes::objects(), "totalCount": {"type": "integer"}},
    })
}
fn status_body() -> Value {
    json!({
        "type": "object",
        "required": ["unread", "read"],
        "properties": {"unread": {"type": "integer"}, "read": {"type": "integer"}},
    })
}
fn topics_body() -> Value {
    json!({"type": "object", "required": ["topics"], "properties": {"topics": {"type": "array", "items": {"type": "string"}}}})
}
fn update_body() -> Value {
    json!({
        "type": "object",
        "required": ["ids"],
        "properties": {
            "ids": {"type": "array", "items": {"type": "string"}},
            "read": {"type": "boolean"},
            "saved": {"type": "boolean"},
        },
    })
}

const LIST: Doc = Doc::new("The signed-in user's notifications, newest first")
    .query(&[
        q("offset").int(0),
        q("limit").int(0),
        q("orderField"),
        q("search"),
        q("read").bool(),
        q("saved").bool(),
        q("createdAfter"),
        q("minimumSeverity").one_of(&["critical", "high", "normal", "low"]),
        q("topic"),
    ])
    .json(list_body)
    .also(400, shapes::error)
    .also(401, shapes::error)
    .also(403, shapes::error);
const ONE: Doc = Doc::new("One of the signed-in user's notifications")
    .json(shapes::object)
    .also(401, shapes::error)
    .also(403, shapes::error)
    .also(404, shapes::error);
const UPDATE: Doc = Doc::new("Marks notifications read or unread, saved or not")
    .body(update_body)
    .json(shapes::objects)
    .also(400, shapes::error)
    .also(401, shapes::error)
    .also(403, shapes::error);
const STATUS: Doc = Doc::new("How many of the user's notifications are unread and read")
    .json(status_body)
    .also(401, shapes::error)
    .also(403, shapes::error);
const TOPICS: Doc = Doc::new("The topics of the user's notifications")
    .json(topics_body)
    .also(401, shapes::error)
    .also(403, shapes::error);
const SETTINGS: Doc =
    Doc::new("Notification settings: every origin is delivered to the web channel")
        .json(shapes::object)
        .also(401, shapes::error)
        .also(403, shapes::error);

pub fn routes(r: &mut Routes) {
    r.get("/notifications", list)
        .doc(&LIST)
        .get("/notifications/{id}", one)
        .doc(&ONE)
        .post("/notifications/update", update)
        .doc(&UPDATE)
        .get("/status", status)
        .doc(&STATUS)
        .get("/topics", topics)
        .doc(&TOPICS)
        .get("/settings", settings)
        .doc(&SETTINGS)
        .post("/settings", settings)
        .doc(&SETTINGS);
}

/// The signed-in user's entity ref.
pub fn user_of(req: &HttpRequest) -> Result<String, Error> {
    Ok(super::auth::signed_in_user(req)?.user_entity_ref)
}

fn query_of(params: &Params) -> Result<Query, Error> {
    params.allow(LIST.query)?;
    let flag = |key: &str| -> Result<Option<bool>, Error> {
        match params.one(key).as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(Error::Input(format!(
                "{key} must be true or false, got {other}"
            ))),
        }
    };
    let created_after = params
        .one("createdAfter")
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| t.timestamp_millis())
                .map_err(|_| Error::Input(format!("createdAfter must be an ISO date, got {s}")))
        })
        .transpose()?;
    let ascending = match params.one("orderField").as_deref() {
        None | Some("created,desc") => false,
        Some("created,asc") => true,
        Some(other) => {
            return Err(Error::Input(format!(
                "orderField must be created,asc or created,desc, got {other}"
            )))
        }
    };
    Ok(Query {
        read: flag("read")?,
        saved: flag("saved")?,
        search: params.one("search").filter(|s| !s.is_empty()),
        topic: params.one("topic"),
        created_after,
        minimum_severity: params.one("minimumSeverity"),
        ascending,
        offset: params.int("offset", 0)?.unwrap_or(0) as usize,
        limit: match params.int("limit", 0)? {
            Some(l) if l > 0 => l as usize,
            _ => usize::MAX,
        },
    })
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let user = user_of(&req)?;
    let query = query_of(&Params::parse(req.query_string()))?;
    let n = state.notifications.clone();
    let (page, total) = blocking(move || Ok(n.list(&user, &query)?)).await?;
    let items: Vec<Value> = page.iter().map(|n| n.to_json()).collect();
    Ok(HttpResponse::Ok().json(json!({"notifications": items, "totalCount": total})))
}

async fn one(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = user_of(&req)?;
    let id = path.into_inner();
    let n = state.notifications.clone();
    let found = blocking(move || Ok(n.get(&user, &id)?)).await?;
    match found {
        Some(n) => Ok(HttpResponse::Ok().json(n.to_json())),
        None => Err(Error::NotFound("Not found".into()).into()),
    }
}

async fn update(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = user_of(&req)?;
    let body = super::json_body(&body)?;
    let ids: Vec<String> = match body.get("ids") {
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|i| {
                i.as_str()
                    .map(String::from)
                    .ok_or_else(|| Error::Input("request/body/ids must be strings".into()))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(
                Error::Input("request/body must have required property 'ids'".into()).into(),
            )
        }
    };
    let flag = |key: &str| match body.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Error::Input(format!("request/body/{key} must be boolean"))),
    };
    let (read, saved) = (flag("read")?, flag("saved")?);
    let n = state.notifications.clone();
    let updated = blocking(move || Ok(n.update(&user, &ids, read, saved)?)).await?;
    let items: Vec<Value> = updated.iter().map(|n| n.to_json()).collect();
    Ok(HttpResponse::Ok().json(items))
}

async fn status(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let user = user_of(&req)?;
    let n = state.notifications.clone();
    let (unread, read) = blocking(move || Ok(n.status(&user)?)).await?;
    Ok(HttpResponse::Ok().json(json!({"unread": unread, "read": read})))
}

async fn topics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let user = user_of(&req)?;
    let n = state.notifications.clone();
    let topics = blocking(move || Ok(n.topics(&user)?)).await?;
    Ok(HttpResponse::Ok().json(json!({ "topics": topics })))
}

/// Cairn delivers every notification to the web channel; there is nothing to turn off yet.
async fn settings(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    user_of(&req)?;
    Ok(HttpResponse::Ok().json(json!({"channels": [{"id": "Web", "origins": []}]})))
}
