//! The audit trail over HTTP: pages of records and a verification of the whole chain.

use super::routes::Routes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::params::Params;
use super::{ApiError, AppState};
use crate::error::Error;

pub fn routes(r: &mut Routes) {
    r.get("/audit", list).get("/audit/verify", verify);
}

/// A date (`2026-11-25`, the whole day) or an RFC 3339 time, in milliseconds.
fn time_of(key: &str, v: &str, end: bool) -> Result<i64, Error> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp_millis());
    }
    let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
        Error::Input(format!(
            "{key} must be a date (YYYY-MM-DD) or an RFC 3339 time, got {v}"
        ))
    })?;
    let t = if end {
        d.and_hms_milli_opt(23, 59, 59, 999)
    } else {
        d.and_hms_opt(0, 0, 0)
    };
    Ok(t.expect("valid time").and_utc().timestamp_millis())
}

/// `GET /api/cairn/audit?entity=&from=&to=&after=&limit=`: oldest first; `nextAfter` pages on.
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(req.query_string());
    params.allow(&["entity", "from", "to", "after", "limit"])?;
    let entity = params.one("entity").map(|e| e.to_lowercase());
    let from = params
        .one("from")
        .map(|v| time_of("from", &v, false))
        .transpose()?;
    let to = params
        .one("to")
        .map(|v| time_of("to", &v, true))
        .transpose()?;
    let number = |k: &str, default: i64| -> Result<i64, Error> {
        params
            .one(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| Error::Input(format!("{k} must be a whole number, got {v}")))
            })
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let after = number("after", 0)?;
    let limit = number("limit", 100)?.clamp(1, 1000);
    let db = state.catalog.db().clone();
    let records = web::block(move || db.audit_records(after, limit, entity.as_deref(), from, to))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
    let next = (records.len() as i64 == limit)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    let items: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "at": chrono::DateTime::from_timestamp_millis(r.at).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                "actor": r.actor,
                "action": r.action,
                "entityRef": r.entity_ref,
                "details": serde_json::from_str::<serde_json::Value>(&r.details).unwrap_or_default(),
                "prevHash": r.prev_hash,
                "hash": r.hash,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items, "nextAfter": next})))
}

async fn verify(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let db = state.catalog.db().clone();
    let report = web::block(move || db.verify_audit())
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
    Ok(HttpResponse::Ok().json(report))
}
