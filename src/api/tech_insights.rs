//! Backstage Tech Insights' API (`/api/tech-insights`), served from Cairn's scorecards (see
//! `scorecard::tech_insights` for how scorecard checks become Tech Insights checks).

use super::routes::Routes;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::openapi::{q, shapes, Doc};
use super::params::Params;
use super::{ApiError, AppState};
use crate::error::Error;
use crate::model::rule::RETRIEVERS;
use crate::model::EntityRef;
use crate::scorecard::{tech_insights, Facts};

type Reply = Result<HttpResponse, ApiError>;

fn checks_request() -> Value {
    json!({"type": "object", "properties": {"checks": {"type": "array", "items": {"type": "string"}}}})
}
const CHECKS: Doc = Doc::new("Every check, one per scorecard check").json(shapes::objects);
const RUN_BULK: Doc = Doc::new("Runs checks on several entities")
    .body(shapes::entities_run_request)
    .json(shapes::objects);
const RUN_ONE: Doc = Doc::new("Runs checks on one entity")
    .body(checks_request)
    .json(shapes::objects);
const FACT_SCHEMAS: Doc = Doc::new("The schemas of the facts checks read").json(shapes::objects);
const LATEST: Doc = Doc::new("The latest facts of one entity, by retriever")
    .query(&[q("ids").many().required(), q("entity").required()])
    .also(422, shapes::object);
const RANGE: Doc = Doc::new("Facts of one entity within a time range")
    .query(&[
        q("ids").many().required(),
        q("entity").required(),
        q("startDatetime").required(),
        q("endDatetime").required(),
    ])
    .also(422, shapes::object);

pub fn routes(r: &mut Routes) {
    r.get("/checks", checks)
        .doc(&CHECKS)
        .post("/checks/run", run_bulk)
        .doc(&RUN_BULK)
        .post("/checks/run/{namespace}/{kind}/{name}", run_one)
        .doc(&RUN_ONE)
        .get("/fact-schemas", fact_schemas)
        .doc(&FACT_SCHEMAS)
        .get("/facts/latest", facts_latest)
        .doc(&LATEST)
        .get("/facts/range", facts_range)
        .doc(&RANGE);
}

async fn checks(state: web::Data<AppState>) -> Reply {
    Ok(HttpResponse::Ok().json(tech_insights::checks(&state.scorecards)))
}

fn body_of(bytes: &Bytes) -> Result<Map<String, Value>, Error> {
    if bytes.is_empty() {
        return Ok(Map::new());
    }
    super::params::json_body(bytes)
}

async fn run_one(
    path: web::Path<(String, String, String)>,
    body: Bytes,
    state: web::Data<AppState>,
) -> Reply {
    let (namespace, kind, name) = path.into_inner();
    let body = body_of(&body)?;
    let wanted = tech_insights::wanted_checks(&state.scorecards, body.get("checks"))?;
    let entity_ref = EntityRef::new(&kind, &namespace, &name).canonical();
    let snap = state.readmodel.snapshot();
    let state2 = state.clone();
    let results = web::block(move || {
        tech_insights::run_for(&state2.scorecards, &snap, &entity_ref, wanted.as_deref())
            .unwrap_or_default()
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(results))
}

async fn run_bulk(body: Bytes, state: web::Data<AppState>) -> Reply {
    let body = body_of(&body)?;
    let wanted = tech_insights::wanted_checks(&state.scorecards, body.get("checks"))?;
    let snap = state.readmodel.snapshot();
    let mut refs: Vec<String> = Vec::new();
    let listed = match body.get("entities") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(list)) => list.as_slice(),
        // Not a list: refused, never read as "every entity".
        Some(_) => {
            return Err(Error::Input(
                "entities must be an array of refs or {kind, namespace, name}".into(),
            )
            .into())
        }
    };
    for e in listed {
        let r = match e {
            Value::String(s) => EntityRef::parse_full(s)
                .map(|r| r.canonical())
                .map_err(|err| Error::Input(err.to_string()))?,
            Value::Object(o) => EntityRef::new(
                o.get("kind").and_then(Value::as_str).unwrap_or_default(),
                o.get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default"),
                o.get("name").and_then(Value::as_str).unwrap_or_default(),
            )
            .canonical(),
            _ => {
                return Err(
                    Error::Input("entities must be refs or {kind, namespace, name}".into()).into(),
                )
            }
        };
        refs.push(r);
    }
    if refs.is_empty() {
        // Empty means every entity a check applies to, as in Backstage.
        refs = tech_insights::evaluated_entities(&state.scorecards);
    }
    let state2 = state.clone();
    let out = web::block(move || {
        refs.iter()
            .map(|r| json!({"entity": r, "results": tech_insights::run_for(&state2.scorecards, &snap, r, wanted.as_deref()).unwrap_or_default()}))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(out))
}

async fn fact_schemas() -> Reply {
    let list: Vec<Value> = RETRIEVERS
        .iter()
        .map(|(id, version, facts)| {
            let mut m = Map::new();
            m.insert("id".into(), json!(id));
            m.insert("version".into(), json!(version));
            m.insert("entityFilter".into(), Value::Null);
            for (name, kind, description) in facts.iter() {
                m.insert(
                    name.to_string(),
                    json!({"type": kind, "description": description}),
                );
            }
            Value::Object(m)
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// `ids[0]=a&ids[1]=b`, `ids[]=a`, `ids=a&ids=b` or `ids=a`.
fn ids_of(params: &Params) -> Vec<String> {
    let mut ids = Vec::new();
    for (k, v) in params.pairs() {
        if k == "ids" || k == "ids[]" || (k.starts_with("ids[") && k.ends_with(']')) {
            ids.push(v.clone());
        }
    }
    ids
}

fn latest(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Result<Map<String, Value>, HttpResponse>, Error> {
    let params = Params::parse(req.query_string());
    let ids = ids_of(&params);
    if ids.is_empty() {
        return Ok(Err(HttpResponse::UnprocessableEntity()
            .json(json!({"error": "Failed to parse ids from request"}))));
    }
    let entity = params
        .one("entity")
        .ok_or_else(|| Error::Input("entity is required".into()))?;
    let entity_ref = EntityRef::parse_full(&entity)
        .map_err(|e| Error::Input(format!("Invalid entity ref {entity}: {e}")))?;
    let snap = state.readmodel.snapshot();
    let Some(doc) = snap.get_by_ref(&entity_ref.canonical()) else {
        return Ok(Ok(Map::new()));
    };
    let value: Value = serde_json::from_str(&doc.json).unwrap_or(Value::Null);
    let facts = Facts::new(value, Value::Null, None);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
    let mut out = Map::new();
    for id in ids {
        if let Some((rid, version, names)) = RETRIEVERS.iter().find(|(r, _, _)| *r == id) {
            let values: Map<String, Value> = names
                .iter()
                .map(|(n, _, _)| (n.to_string(), facts.get(n).clone()))
                .collect();
            out.insert(
                rid.to_string(),
                json!({
                    "id": rid,
                    "entity": {"namespace": entity_ref.namespace, "kind": entity_ref.kind, "name": entity_ref.name},
                    "timestamp": now,
                    "version": version,
                    "facts": values,
                }),
            );
        }
    }
    Ok(Ok(out))
}

async fn facts_latest(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    Ok(match latest(&state, &req)? {
        Ok(m) => HttpResponse::Ok().json(m),
        Err(res) => res,
    })
}

/// Facts are computed from the catalog on demand, so a range holds the latest value when the
/// range includes now.
async fn facts_range(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    let params = Params::parse(req.query_string());
    let mut bounds = Vec::new();
    for (field, key) in [
        ("startDateTime", "startDatetime"),
        ("endDateTime", "endDatetime"),
    ] {
        let raw = params.one(key).unwrap_or_default();
        match chrono::DateTime::parse_from_rfc3339(&raw) {
            Ok(t) => bounds.push(t.with_timezone(&chrono::Utc)),
            Err(_) => {
                return Ok(HttpResponse::UnprocessableEntity().json(json!({"message": "Failed to parse datetime from request", "field": field, "value": raw})))
            }
        }
    }
    let now = chrono::Utc::now();
    let inside = bounds[0] <= now && now <= bounds[1];
    Ok(match latest(&state, &req)? {
        Ok(m) => HttpResponse::Ok().json(
            m.into_iter()
                .map(|(k, v)| (k, if inside { json!([v]) } else { json!([]) }))
                .collect::<Map<String, Value>>(),
        ),
        Err(res) => res,
    })
}
