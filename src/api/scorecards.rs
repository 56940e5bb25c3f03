//! `/api/cairn/scorecards`: scorecards with their level distribution and pass rate per check,
//! the entities they apply to (by level and owner), results with evidence per entity, and the
//! history of changes.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::params::Params;
use super::{ApiError, AppState};
use crate::error::Error;
use crate::scorecard::{EntityResult, Scorecard};

type Reply = Result<HttpResponse, ApiError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/scorecards", web::get().to(list))
        .route("/scorecards/{namespace}/{name}", web::get().to(one))
        .route(
            "/scorecards/{namespace}/{name}/entities",
            web::get().to(entities),
        )
        .route(
            "/scorecards/{namespace}/{name}/history",
            web::get().to(history),
        )
        .route(
            "/entities/{kind}/{namespace}/{name}/scorecards",
            web::get().to(of_entity),
        );
}

fn summary(card: &Scorecard, results: &[std::sync::Arc<EntityResult>]) -> Value {
    let mut distribution: BTreeMap<String, usize> =
        card.levels.iter().map(|l| (l.clone(), 0)).collect();
    let mut none = 0;
    for r in results {
        match &r.level {
            Some(l) => *distribution.entry(l.clone()).or_default() += 1,
            None => none += 1,
        }
    }
    let checks: Vec<Value> = card
        .checks
        .iter()
        .map(|c| {
            let passing = results.iter().filter(|r| r.checks.iter().any(|x| x.id == c.id && (x.status == "pass" || x.status == "exempt"))).count();
            json!({
                "id": c.id, "name": c.name, "level": c.level, "description": c.description, "solution": c.solution,
                "passing": passing, "failing": results.len() - passing,
                "passRate": if results.is_empty() { 100.0 } else { (passing as f64 / results.len() as f64 * 1000.0).round() / 10.0 },
            })
        })
        .collect();
    json!({
        "entityRef": card.entity_ref,
        "title": card.title,
        "levels": card.levels,
        "entities": results.len(),
        "distribution": distribution,
        "belowFirstLevel": none,
        "checks": checks,
    })
}

async fn list(state: web::Data<AppState>) -> Reply {
    let engine = &state.scorecards;
    let items: Vec<Value> = engine
        .scorecards()
        .iter()
        .map(|c| summary(c, &engine.results_for(&c.entity_ref)))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

fn find(state: &AppState, namespace: &str, name: &str) -> Result<std::sync::Arc<Scorecard>, Error> {
    let r = format!("scorecard:{namespace}/{name}").to_lowercase();
    state
        .scorecards
        .scorecards()
        .into_iter()
        .find(|c| c.entity_ref == r)
        .ok_or_else(|| Error::NotFound(format!("No scorecard {r}")))
}

async fn one(path: web::Path<(String, String)>, state: web::Data<AppState>) -> Reply {
    let (namespace, name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    Ok(HttpResponse::Ok().json(summary(
        &card,
        &state.scorecards.results_for(&card.entity_ref),
    )))
}

async fn entities(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(&["level", "owner"])?;
    let (namespace, name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let snap = state.readmodel.snapshot();
    let owner_of = |r: &str| -> Vec<String> {
        snap.get_by_ref(r)
            .and_then(|d| serde_json::from_str::<Value>(&d.json).ok())
            .map(|e| {
                e["relations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|x| x["type"] == "ownedBy")
                    .filter_map(|x| x["targetRef"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let level = params.one("level");
    let owner = params.one("owner").map(|o| o.to_lowercase());
    let items: Vec<Value> = state
        .scorecards
        .results_for(&card.entity_ref)
        .iter()
        .filter(|r| match level.as_deref() {
            None => true,
            Some("none") => r.level.is_none(),
            Some(l) => r.level.as_deref() == Some(l),
        })
        .filter_map(|r| {
            let owners = owner_of(&r.entity_ref);
            if owner.as_ref().is_some_and(|o| !owners.contains(o)) {
                return None;
            }
            Some(json!({"entityRef": r.entity_ref, "level": r.level, "score": r.score, "owners": owners}))
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn history(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(&["entityRef"])?;
    let (namespace, name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let entity = params.one("entityRef").map(|e| e.to_lowercase());
    let engine = state.scorecards.clone();
    let rows = web::block(move || {
        engine
            .db()
            .history(entity.as_deref(), Some(&card.entity_ref))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
    .map_err(Error::from)?;
    Ok(HttpResponse::Ok().json(json!({ "items": rows })))
}

async fn of_entity(path: web::Path<(String, String, String)>, state: web::Data<AppState>) -> Reply {
    let (kind, namespace, name) = path.into_inner();
    let r = format!("{kind}:{namespace}/{name}").to_lowercase();
    if state.readmodel.snapshot().get_by_ref(&r).is_none() {
        return Err(Error::NotFound(format!("No entity {r}")).into());
    }
    let results = state.scorecards.results_of_entity(&r);
    let items: Vec<&EntityResult> = results.iter().map(|x| &**x).collect();
    Ok(HttpResponse::Ok().json(json!({ "entityRef": r, "items": items })))
}
