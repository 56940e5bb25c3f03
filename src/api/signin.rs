//! `/api/auth`: the part of Backstage's auth backend a frontend needs to sign in against Cairn
//! alone — the guest provider, the keys that verify its tokens, and `userinfo`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::openapi::{shapes, Doc};
use super::routes::Routes;
use super::{blocking, ApiError, AppState};

fn session() -> Value {
    json!({
        "type": "object",
        "required": ["profile", "backstageIdentity"],
        "properties": {
            "profile": {"type": "object"},
            "backstageIdentity": {
                "type": "object",
                "required": ["token", "identity"],
                "properties": {
                    "token": {"type": "string"},
                    "expiresInSeconds": {"type": "integer"},
                    "identity": {
                        "type": "object",
                        "required": ["type", "userEntityRef", "ownershipEntityRefs"],
                        "properties": {
                            "type": {"const": "user"},
                            "userEntityRef": {"type": "string"},
                            "ownershipEntityRefs": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
        },
    })
}
fn jwks() -> Value {
    json!({"type": "object", "required": ["keys"], "properties": {"keys": shapes::objects()}})
}
fn userinfo() -> Value {
    json!({
        "type": "object",
        "required": ["claims"],
        "properties": {"claims": {
            "type": "object",
            "required": ["sub", "ent"],
            "properties": {"sub": {"type": "string"}, "ent": {"type": "array", "items": {"type": "string"}}},
        }},
    })
}

const REFRESH: Doc = Doc::new("Signs in as the configured guest user (development only)")
    .json(session)
    .also(403, shapes::error)
    .also(404, shapes::error);
const JWKS: Doc = Doc::new("The public keys of the user tokens Cairn issues").json(jwks);
const OPENID: Doc =
    Doc::new("OpenID discovery document of Cairn's token issuer").json(shapes::object);
const USERINFO: Doc = Doc::new("The signed-in user's claims")
    .json(userinfo)
    .also(401, shapes::error)
    .also(403, shapes::error);

pub fn routes(r: &mut Routes) {
    r.open("/guest/refresh", refresh)
        .doc(&REFRESH)
        .open_post("/guest/refresh", refresh)
        .doc(&REFRESH)
        .open("/.well-known/jwks.json", keys)
        .doc(&JWKS)
        .open("/.well-known/openid-configuration", openid_configuration)
        .doc(&OPENID)
        .get("/v1/userinfo", user_info)
        .doc(&USERINFO);
}

async fn refresh(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let identity = state.auth.identity.clone();
    let session = blocking(move || identity.guest_session()).await?;
    Ok(HttpResponse::Ok().json(session))
}

async fn keys(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let identity = state.auth.identity.clone();
    let keys = blocking(move || identity.jwks()).await?;
    Ok(HttpResponse::Ok().json(keys))
}

async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.auth.identity.openid_configuration())
}

async fn user_info(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let user = super::auth::signed_in_user(&req)?;
    Ok(HttpResponse::Ok().json(json!({
        "claims": {"sub": user.user_entity_ref, "ent": user.ownership_entity_refs},
    })))
}
