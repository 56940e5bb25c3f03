//! Liveness and readiness: ready once the first ingest of every location has finished.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.readmodel.is_ready() {
        HttpResponse::Ok()
            .json(json!({"status": "ready", "entities": state.readmodel.snapshot().len()}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({"status": "starting"}))
    }
}
