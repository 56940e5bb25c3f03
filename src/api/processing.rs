//! Asking the catalog to process: `POST /refresh` re-processes the location that emits an
//! entity; `POST /validate-entity` checks an entity as ingestion would, storing nothing.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::openapi::{shapes, Doc};
use super::params::json_body;
use super::routes::Routes;
use super::{blocking, ApiError, AppState};
use crate::error::Error;

type Reply = Result<HttpResponse, ApiError>;

fn validation_errors() -> Value {
    json!({"type": "object", "required": ["errors"], "properties": {"errors": shapes::objects()}})
}
const REFRESH: Doc = Doc::new("Re-reads the location an entity came from")
    .body(shapes::refresh_request)
    .empty();
const VALIDATE: Doc = Doc::new("Validates an entity as ingestion would, storing nothing")
    .body(shapes::validate_request)
    .empty()
    .also(400, validation_errors);

pub fn routes(r: &mut Routes) {
    r.post("/refresh", refresh)
        .doc(&REFRESH)
        .post("/validate-entity", validate_entity)
        .doc(&VALIDATE);
}

async fn refresh(req: HttpRequest, body: Bytes, state: web::Data<AppState>) -> Reply {
    let body = json_body(&body)?;
    let entity_ref = match body.get("entityRef") {
        Some(Value::String(s)) => s.to_lowercase(),
        Some(_) => return Err(Error::Input("request/body/entityRef must be string".into()).into()),
        None => {
            return Err(
                Error::Input("request/body must have required property 'entityRef'".into()).into(),
            )
        }
    };
    state
        .permissions
        .require_on_entity(&req, "catalog.entity.refresh", &entity_ref)?;
    let catalog = state.catalog.clone();
    blocking(move || catalog.refresh(&entity_ref)).await?;
    Ok(HttpResponse::Ok().finish())
}

async fn validate_entity(body: Bytes, state: web::Data<AppState>) -> Reply {
    let body = json_body(&body)?;
    let (Some(entity), Some(location)) = (body.get("entity"), body.get("location")) else {
        let missing = if body.contains_key("entity") {
            "location"
        } else {
            "entity"
        };
        return Err(Error::Input(format!(
            "request/body must have required property '{missing}'"
        ))
        .into());
    };
    let errors = crate::processing::validate_single(
        entity,
        location.as_str().unwrap_or_default(),
        state.catalog.rules(),
    );
    if errors.is_empty() {
        Ok(HttpResponse::Ok().finish())
    } else {
        Ok(HttpResponse::BadRequest().json(json!({ "errors": errors })))
    }
}
