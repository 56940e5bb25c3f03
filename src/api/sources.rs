//! Cairn's own endpoints for sources: crawl status, crawl now, repository facts per entity, and
//! Prometheus metrics.

use super::routes::Routes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::openapi::{q, shapes, Doc};
use super::params::Params;
use super::{ApiError, AppState};
use crate::error::Error;

type Reply = Result<HttpResponse, ApiError>;

fn items() -> Value {
    json!({"type": "object", "required": ["items"], "properties": {"items": shapes::objects()}})
}
const LIST: Doc = Doc::new("Configured Git sources and their crawl status").json(items);
const CRAWL: Doc = Doc::new("Crawls one source now");
const REPOSITORY: Doc =
    Doc::new("The Git repository an entity's descriptor came from; `path` reads one file")
        .query(&[q("path")]);
pub const METRICS: Doc = Doc::new("Prometheus metrics").media("text/plain");

pub fn routes(r: &mut Routes) {
    r.get("/sources", list)
        .doc(&LIST)
        .post("/sources/{id}/crawl", crawl)
        .doc(&CRAWL)
        .get("/entities/{kind}/{namespace}/{name}/repository", repository)
        .doc(&REPOSITORY);
}

async fn list(state: web::Data<AppState>) -> Reply {
    Ok(HttpResponse::Ok().json(json!({ "items": state.crawler.statuses() })))
}

async fn crawl(path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    let id = path.into_inner();
    let crawler = state.crawler.clone();
    let source = id.clone();
    let changed = web::block(move || crawler.crawl_source(&source))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    let status = state.crawler.statuses().into_iter().find(|s| s.id == id);
    Ok(HttpResponse::Ok().json(json!({ "changedRepositories": changed, "source": status })))
}

/// Facts about the repository an entity's descriptor came from; `?path=` returns one file.
async fn repository(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(REPOSITORY.query)?;
    let (kind, namespace, name) = path.into_inner();
    let r = format!("{kind}:{namespace}/{name}").to_lowercase();
    let snap = state.readmodel.snapshot();
    let doc = snap
        .get_by_ref(&r)
        .ok_or_else(|| Error::NotFound(format!("No entity {r}")))?;
    let entity: Value = serde_json::from_str(&doc.json).unwrap_or(Value::Null);
    let origin = crate::model::origin_of(&entity)
        .unwrap_or_default()
        .to_string();
    let crawler = state.crawler.clone();
    let wanted = params.one("path");
    let (row, content) = web::block(move || -> Result<_, Error> {
        let row = crawler.repository_for_origin(&origin)?.ok_or_else(|| {
            Error::NotFound(format!("{r} does not come from a crawled Git repository"))
        })?;
        let content = match &wanted {
            Some(p) => Some(crawler.read_file(&row, p)?),
            None => None,
        };
        Ok((row, content))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    let files: Value = serde_json::from_str(&row.files_json).unwrap_or(Value::Array(vec![]));
    let mut body = json!({
        "url": row.url,
        "branch": row.branch,
        "commit": row.commit_id,
        "committedAt": chrono::DateTime::from_timestamp(row.committed_at, 0).map(|t| t.to_rfc3339()),
        "author": row.author,
    });
    match (params.one("path"), content) {
        (Some(p), Some(Some(bytes))) => {
            body["path"] = json!(p);
            body["exists"] = json!(true);
            body["content"] = json!(String::from_utf8_lossy(&bytes));
        }
        (Some(p), _) => {
            body["path"] = json!(p);
            body["exists"] = json!(false);
        }
        (None, _) => body["files"] = files,
    }
    Ok(HttpResponse::Ok().json(body))
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let snap = state.readmodel.snapshot();
    let text = format!(
        "{}{}{}# HELP cairn_entities Entities served.\n# TYPE cairn_entities gauge\ncairn_entities {}\n",
        state.catalog.metrics_text(),
        state.crawler.metrics_text(),
        state.mcp.metrics_text(),
        snap.len()
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
