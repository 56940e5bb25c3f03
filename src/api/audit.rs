//! The audit trail over HTTP: pages of records and a verification of the whole chain.

use super::routes::Routes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::openapi::{q, Doc};
use super::params::Params;
use super::{blocking, ApiError, AppState};
use crate::error::Error;
use crate::model::audit::Record;

const LIST: Doc = Doc::new("Audit records, oldest first; `nextAfter` pages on").query(&[
    q("entity"),
    q("from"),
    q("to"),
    q("after").int(i64::MIN),
    q("limit").int(i64::MIN),
]);
const VERIFY: Doc = Doc::new("Verifies the whole hash chain of the audit trail");

pub fn routes(r: &mut Routes) {
    r.get("/audit", list)
        .doc(&LIST)
        .get("/audit/verify", verify)
        .doc(&VERIFY);
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
    params.allow(LIST.query)?;
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
    let catalog = state.catalog.clone();
    let records =
        blocking(move || catalog.audit_records(after, limit, entity.as_deref(), from, to)).await?;
    let next = (records.len() as i64 == limit)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    let items: Vec<RecordView> = records.iter().map(RecordView::from).collect();
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_after: next,
    }))
}

async fn verify(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let catalog = state.catalog.clone();
    Ok(HttpResponse::Ok().json(blocking(move || catalog.verify_audit()).await?))
}

/// One audit record as `GET /api/cairn/audit` serves it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordView<'a> {
    id: i64,
    /// RFC 3339, milliseconds, UTC.
    at: Option<String>,
    actor: &'a str,
    action: &'a str,
    entity_ref: Option<&'a str>,
    details: serde_json::Value,
    prev_hash: &'a str,
    hash: &'a str,
}

impl<'a> From<&'a Record> for RecordView<'a> {
    fn from(r: &'a Record) -> Self {
        RecordView {
            id: r.id,
            at: chrono::DateTime::from_timestamp_millis(r.at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            actor: &r.actor,
            action: &r.action,
            entity_ref: r.entity_ref.as_deref(),
            details: serde_json::from_str(&r.details).unwrap_or_default(),
            prev_hash: &r.prev_hash,
            hash: &r.hash,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Page<'a> {
    items: Vec<RecordView<'a>>,
    /// The `after` of the next page; null on the last.
    next_after: Option<i64>,
}
