//! `/api/search/query`: Backstage's search backend, answered from the read model. The query
//! string is what `@backstage/plugin-search-react` writes with `qs`: `term`, `types[0]`,
//! `filters[kind]`, `filters[lifecycle][0]`, `pageCursor`, `pageLimit`.

use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::openapi::{q, shapes, Doc};
use super::params::Params;
use super::routes::Routes;
use super::{ApiError, AppState};
use crate::error::Error;
use crate::readmodel::full_text::{self, SearchQuery};

const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 100;

fn results() -> Value {
    json!({
        "type": "object",
        "required": ["results"],
        "properties": {
            "results": {"type": "array", "items": {
                "type": "object",
                "required": ["type", "document"],
                "properties": {
                    "type": {"type": "string"},
                    "document": {
                        "type": "object",
                        "required": ["title", "text", "location"],
                        "properties": {
                            "title": {"type": "string"},
                            "text": {"type": "string"},
                            "location": {"type": "string"},
                        },
                    },
                    "rank": {"type": "integer"},
                },
            }},
            "nextPageCursor": {"type": "string"},
            "previousPageCursor": {"type": "string"},
            "numberOfResults": {"type": "integer"},
        },
    })
}

const QUERY: Doc = Doc::new("Full-text search over the catalog, its templates and scorecards")
    .query(&[
        q("term"),
        q("types").many(),
        q("filters").many(),
        q("pageCursor"),
        q("pageLimit").int(1),
    ])
    .json(results)
    .also(400, shapes::error);

pub fn routes(r: &mut Routes) {
    r.get("/query", query).doc(&QUERY);
}

async fn query(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let q = parse(&Params::parse(req.query_string()))?;
    let snap = state.readmodel.snapshot();
    let page = full_text::search(&snap, &q, state.permissions.readable(&req).as_ref());
    let cursor = |page: usize| STANDARD.encode(page.to_string());
    let mut body = json!({
        "results": page.results,
        "numberOfResults": page.total,
    });
    if page.has_next {
        body["nextPageCursor"] = json!(cursor(q.page + 1));
    }
    if q.page > 0 {
        body["previousPageCursor"] = json!(cursor(q.page - 1));
    }
    Ok(HttpResponse::Ok().json(body))
}

/// The query from `qs`-style parameters: `types[0]=x`, `filters[kind]=y`,
/// `filters[lifecycle][0]=z` (also unindexed `types[]`, `types`).
fn parse(params: &Params) -> Result<SearchQuery, Error> {
    let mut q = SearchQuery {
        limit: DEFAULT_LIMIT,
        ..SearchQuery::default()
    };
    for (key, value) in params.pairs() {
        let (base, rest) = match key.split_once('[') {
            Some((b, r)) => (b, Some(r)),
            None => (key.as_str(), None),
        };
        match (base, rest) {
            ("term", None) => q.term = value.clone(),
            // An unknown type has no documents, as in Backstage.
            ("types", _) => q.types.push(value.clone()),
            ("filters", Some(rest)) => {
                let field = rest.split(']').next().unwrap_or_default();
                if field.is_empty() {
                    return Err(Error::Input(format!("Invalid filter parameter '{key}'")));
                }
                match q.filters.iter_mut().find(|(f, _)| f == field) {
                    Some((_, values)) => values.push(value.clone()),
                    None => q.filters.push((field.to_string(), vec![value.clone()])),
                }
            }
            // The search page sends an empty cursor for the first page.
            ("pageCursor", None) if value.is_empty() => q.page = 0,
            ("pageCursor", None) => {
                q.page = STANDARD
                    .decode(value)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| Error::Input(format!("Invalid page cursor '{value}'")))?;
            }
            ("pageLimit", None) => {
                q.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| {
                        Error::Input(format!(
                            "The page limit must be a number from 1 to {MAX_LIMIT}, got '{value}'"
                        ))
                    })?;
            }
            _ => return Err(Error::Input(format!("Unknown query parameter '{key}'"))),
        }
    }
    Ok(q)
}
