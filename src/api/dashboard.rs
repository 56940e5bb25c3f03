//! The scorecard dashboard: server-rendered HTML (handlebars), no JavaScript. `/scorecards`
//! shows every scorecard's level distribution, the checks that fail most, a table per team and
//! the entities; `/scorecards/entities/:kind/:ns/:name` each check's evidence and fix.

use super::routes::Routes;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::openapi::Doc;
use super::{ApiError, AppState};
use crate::error::Error;

type Reply = Result<HttpResponse, ApiError>;

const ROWS: usize = 200;

const INDEX: Doc = Doc::new("The scorecard dashboard (HTML)").media("text/html");
const ENTITY: Doc = Doc::new("One entity's scorecard page (HTML)").media("text/html");

pub fn routes(r: &mut Routes) {
    r.get("/scorecards", index)
        .doc(&INDEX)
        .get("/scorecards/entities/{kind}/{namespace}/{name}", entity)
        .doc(&ENTITY);
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

async fn index(state: web::Data<AppState>) -> Reply {
    let snap = state.readmodel.snapshot();
    let mut cards = Vec::new();
    for card in state.scorecards.scorecards() {
        let results = state.scorecards.results_for(&card.entity_ref);
        let total = results.len().max(1);
        let spread = crate::scorecard::rollup::Spread::of(&card, &results);
        let distribution: Vec<Value> = spread
            .levels
            .iter()
            .enumerate()
            .map(|(i, (name, count))| json!({"name": name, "count": count, "index": i, "percent": *count as f64 * 100.0 / total as f64}))
            .collect();
        let mut failing: Vec<Value> = card
            .checks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"name": c.name, "level": c.level, "failing": spread.checks[i].1, "passRate": spread.pass_rate(i), "solution": c.solution})
            })
            .filter(|v| v["failing"].as_u64() > Some(0))
            .collect();
        failing.sort_by_key(|v| std::cmp::Reverse(v["failing"].as_u64()));
        failing.truncate(5);
        let teams: Vec<Value> =
            crate::scorecard::rollup::rollup_groups(&snap, &card, &results, "owner")?
                .into_iter()
                .map(|mut g| {
                    let levels: Vec<String> = g["distribution"]
                        .as_object()
                        .map(|d| d.iter().map(|(l, c)| format!("{l}: {c}")).collect())
                        .unwrap_or_default();
                    g["levels"] = json!(levels.join(", "));
                    g
                })
                .collect();
        let mut sorted = results.clone();
        sorted.sort_by(|a, b| {
            a.score
                .partial_cmp(&b.score)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.entity_ref.cmp(&b.entity_ref))
        });
        let rows: Vec<Value> = sorted
            .iter()
            .take(ROWS)
            .map(|r| {
                let path = r.entity_ref.replacen(':', "/", 1);
                json!({"entityRef": r.entity_ref, "path": path, "level": card.level_name(r.level).unwrap_or_else(|| "none".into()), "score": r.score})
            })
            .collect();
        cards.push(json!({
            "title": card.title,
            "entityRef": card.entity_ref,
            "entities": results.len(),
            "distribution": distribution,
            "failing": failing,
            "teams": teams,
            "rows": rows,
            "more": results.len().saturating_sub(ROWS),
        }));
    }
    let page = crate::render::page("scorecards", "Scorecards", &json!({ "scorecards": cards }))
        .map_err(Error::Internal)?;
    Ok(html(page))
}

async fn entity(path: web::Path<(String, String, String)>, state: web::Data<AppState>) -> Reply {
    let (kind, namespace, name) = path.into_inner();
    let r = crate::model::EntityRef::new(&kind, &namespace, &name).canonical();
    let snap = state.readmodel.snapshot();
    if snap.get_by_ref(&r).is_none() {
        return Err(Error::NotFound(format!("No entity {r}")).into());
    }
    let engine = state.scorecards.clone();
    let target = r.clone();
    let results = web::block(move || engine.explain(&snap, &target))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
    let results: Vec<Value> = results
        .into_iter()
        .map(|res| {
            let mut v = serde_json::to_value(&res).unwrap_or(Value::Null);
            v["level"] = json!(res.level.unwrap_or_else(|| "none".into()));
            for c in v["checks"].as_array_mut().into_iter().flatten() {
                for e in c["evidence"].as_array_mut().into_iter().flatten() {
                    e["expected"] = json!(e["expected"].to_string());
                    e["actual"] = json!(e["actual"].to_string());
                    if e["path"].is_null() {
                        e["path"] = json!("");
                    }
                }
            }
            v
        })
        .collect();
    let page = crate::render::page("entity", &r, &json!({"entityRef": r, "results": results}))
        .map_err(Error::Internal)?;
    Ok(html(page))
}
