//! Liveness and readiness: ready once the first ingest of every location has finished; and
//! "settled": every write up to a change sequence is visible to reads and to the background work.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::openapi::{q, Doc};
use super::params::Params;
use super::{blocking, ApiError, AppState};

fn status() -> serde_json::Value {
    json!({"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}})
}
fn settled_body() -> serde_json::Value {
    json!({
        "type": "object",
        "required": ["settled", "sequence", "settledThrough"],
        "properties": {
            "settled": {"type": "boolean"},
            "sequence": {"type": "integer"},
            "settledThrough": {"type": "integer"},
        },
    })
}
pub const HEALTHZ: Doc = Doc::new("Liveness").json(status);
pub const READYZ: Doc = Doc::new("Readiness: ready once every location's first ingest finished")
    .json(status)
    .also(503, status);
pub const SETTLED: Doc =
    Doc::new("Waits until every change up to a sequence is visible to reads and background work")
        .query(&[q("sequence").int(0), q("timeoutMs").int(0)])
        .json(settled_body)
        .also(503, settled_body);

/// The longest a caller can wait for the catalog to settle.
const MAX_SETTLE_WAIT: Duration = Duration::from_secs(60);

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

/// `GET /api/cairn/settled?sequence=N&timeoutMs=T`: answers once this replica's read model and
/// every background follower (scorecards, classification) reflect every change up to `N` (by
/// default the last change written to the database when the request arrives), or after
/// `timeoutMs` (default 10 s, at most 60 s) with 503. Tests and scripts wait on this instead of
/// polling for a result.
pub async fn settled(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(req.query_string());
    params.allow(SETTLED.query)?;
    let sequence = match params.int("sequence", 0)? {
        Some(n) => n,
        None => {
            let catalog = state.catalog.clone();
            blocking(move || catalog.last_change()).await?
        }
    };
    let timeout = params
        .int("timeoutMs", 0)?
        .map_or(Duration::from_secs(10), |ms| {
            Duration::from_millis(ms as u64)
        })
        .min(MAX_SETTLE_WAIT);
    let settled = state.readmodel.settled_at(sequence, timeout).await;
    let body = json!({
        "settled": settled,
        "sequence": sequence,
        "settledThrough": state.readmodel.settled_seq(),
    });
    Ok(if settled {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    })
}
