//! `/api/user-settings`: what `@backstage/plugin-user-settings`' storage API keeps per user
//! (starred entities and the like): `buckets/:bucket/keys/:key` and `multiget`.

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::openapi::{shapes, Doc};
use super::routes::Routes;
use super::{blocking, ApiError, AppState};
use crate::error::Error;

const GET: Doc = Doc::new("One stored value of the signed-in user")
    .json(shapes::object)
    .also(401, shapes::error)
    .also(403, shapes::error)
    .also(404, shapes::error);
const PUT: Doc = Doc::new("Stores a value for the signed-in user")
    .body(shapes::object)
    .json(shapes::object)
    .also(400, shapes::error)
    .also(401, shapes::error)
    .also(403, shapes::error);
const DELETE: Doc = Doc::new("Forgets a value of the signed-in user")
    .no_content()
    .also(401, shapes::error)
    .also(403, shapes::error)
    .also(404, shapes::error);
const MULTIGET: Doc = Doc::new("Several stored values of the signed-in user (null where absent)")
    .body(shapes::object)
    .json(shapes::object)
    .also(400, shapes::error)
    .also(401, shapes::error)
    .also(403, shapes::error);

pub fn routes(r: &mut Routes) {
    r.get("/buckets/{bucket}/keys/{key}", get)
        .doc(&GET)
        .put("/buckets/{bucket}/keys/{key}", put)
        .doc(&PUT)
        .delete("/buckets/{bucket}/keys/{key}", delete)
        .doc(&DELETE)
        .post("/multiget", multiget)
        .doc(&MULTIGET);
}

async fn get(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = super::notifications::user_of(&req)?;
    let (bucket, key) = path.into_inner();
    let settings = state.user_settings.clone();
    let (b, k) = (bucket.clone(), key.clone());
    let value = blocking(move || Ok(settings.get(&user, &b, &k)?)).await?;
    match value {
        Some(value) => {
            Ok(HttpResponse::Ok().json(json!({"bucket": bucket, "key": key, "value": value})))
        }
        None => Err(Error::NotFound(format!("Unable to find '{key}' in bucket '{bucket}'")).into()),
    }
}

async fn put(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = super::notifications::user_of(&req)?;
    let (bucket, key) = path.into_inner();
    let body = super::json_body(&body)?;
    let value = body
        .get("value")
        .cloned()
        .ok_or_else(|| Error::Input("request/body must have required property 'value'".into()))?;
    let settings = state.user_settings.clone();
    let (b, k, v) = (bucket.clone(), key.clone(), value.clone());
    blocking(move || Ok(settings.set(&user, &b, &k, &v)?)).await?;
    Ok(HttpResponse::Ok().json(json!({"bucket": bucket, "key": key, "value": value})))
}

async fn delete(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = super::notifications::user_of(&req)?;
    let (bucket, key) = path.into_inner();
    let settings = state.user_settings.clone();
    let (b, k) = (bucket.clone(), key.clone());
    if blocking(move || Ok(settings.delete(&user, &b, &k)?)).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Error::NotFound(format!("Unable to find '{key}' in bucket '{bucket}'")).into())
    }
}

async fn multiget(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = super::notifications::user_of(&req)?;
    let body = super::json_body(&body)?;
    let items: Vec<(String, String)> = body
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Input("request/body must have required property 'items'".into()))?
        .iter()
        .map(|i| match (i["bucket"].as_str(), i["key"].as_str()) {
            (Some(b), Some(k)) => Ok((b.to_string(), k.to_string())),
            _ => Err(Error::Input(
                "request/body/items must be {bucket, key} objects".into(),
            )),
        })
        .collect::<Result<_, _>>()?;
    let settings = state.user_settings.clone();
    let values = blocking(move || {
        let mut out = Vec::with_capacity(items.len());
        for (bucket, key) in items {
            out.push(match settings.get(&user, &bucket, &key)? {
                Some(value) => json!({"bucket": bucket, "key": key, "value": value}),
                None => Value::Null,
            });
        }
        Ok(out)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": values })))
}
