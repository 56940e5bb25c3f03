//! `/api/cairn/campaigns`: progress of a set of entities toward a scorecard level by a date.
//! A `Campaign` entity names the scorecard, the target level, the deadline and optionally a
//! filter narrowing the scorecard's entities.

use super::routes::Routes;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::openapi::Doc;
use super::{ApiError, AppState};
use crate::error::Error;

type Reply = Result<HttpResponse, ApiError>;

const LIST: Doc = Doc::new("Every campaign and its progress");
const ONE: Doc = Doc::new("One campaign's progress, entity by entity");

pub fn routes(r: &mut Routes) {
    r.get("/campaigns", list)
        .doc(&LIST)
        .get("/campaigns/{namespace}/{name}", one)
        .doc(&ONE);
}

/// How far one campaign is; errors (an unknown scorecard or level) are reported in the item.
fn progress(state: &AppState, snap: &crate::readmodel::Snapshot, campaign: &Value) -> Value {
    let spec = &campaign["spec"];
    let entity_ref = crate::model::entity_ref_of(campaign).canonical();
    let scorecard = spec["scorecard"].as_str().unwrap_or_default();
    let card_ref = crate::model::EntityRef::parse(scorecard, Some("Scorecard"), "default")
        .map(|r| r.canonical())
        .unwrap_or_default();
    let target = spec["targetLevel"].as_str().unwrap_or_default();
    let deadline = spec["deadline"].as_str().unwrap_or_default();
    let mut out = json!({
        "entityRef": entity_ref,
        "title": campaign["metadata"]["title"].as_str().or(campaign["metadata"]["name"].as_str()),
        "scorecard": card_ref,
        "targetLevel": target,
        "deadline": deadline,
    });
    let Some(card) = state
        .scorecards
        .scorecards()
        .into_iter()
        .find(|c| c.entity_ref == card_ref)
    else {
        out["error"] = json!(format!("spec.scorecard: no scorecard {card_ref}"));
        return out;
    };
    let Some(wanted) = card.levels.iter().position(|l| l == target) else {
        out["error"] = json!(format!(
            "spec.targetLevel: {target} is not one of {}",
            card.levels.join(", ")
        ));
        return out;
    };
    let narrowing = match &spec["filter"] {
        Value::Null => None,
        f => Some(f.clone()),
    };
    let mut total = 0;
    let mut behind = Vec::new();
    for r in state.scorecards.results_for(&card.entity_ref) {
        if let Some(f) = &narrowing {
            let Some(doc) = snap.get_by_ref(&r.entity_ref) else {
                continue;
            };
            let entity: Value = serde_json::from_str(&doc.json).unwrap_or(Value::Null);
            if !crate::scorecard::matches_filter(&entity, f) {
                continue;
            }
        }
        total += 1;
        if r.level.is_none_or(|l| (l as usize) < wanted) {
            behind.push(r.entity_ref.clone());
        }
    }
    let reached = total - behind.len();
    let days_left = chrono::NaiveDate::parse_from_str(deadline, "%Y-%m-%d")
        .map(|d| (d - chrono::Utc::now().date_naive()).num_days())
        .ok();
    out["entities"] = json!(total);
    out["reached"] = json!(reached);
    out["percent"] = json!(if total == 0 {
        100.0
    } else {
        (reached as f64 * 1000.0 / total as f64).round() / 10.0
    });
    out["daysLeft"] = json!(days_left);
    out["overdue"] = json!(days_left.is_some_and(|d| d < 0) && !behind.is_empty());
    behind.truncate(100);
    out["behind"] = json!(behind);
    out
}

fn campaigns(snap: &crate::readmodel::Snapshot) -> Vec<Value> {
    snap.docs
        .iter()
        .filter(|d| &*d.kind == "Campaign")
        .filter_map(|d| serde_json::from_str::<Value>(&d.json).ok())
        .collect()
}

async fn list(state: web::Data<AppState>) -> Reply {
    let snap = state.readmodel.snapshot();
    let items: Vec<Value> = campaigns(&snap)
        .iter()
        .map(|c| progress(&state, &snap, c))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn one(path: web::Path<(String, String)>, state: web::Data<AppState>) -> Reply {
    let (namespace, name) = path.into_inner();
    let r = format!("campaign:{namespace}/{name}").to_lowercase();
    let snap = state.readmodel.snapshot();
    let c = campaigns(&snap)
        .into_iter()
        .find(|c| crate::model::entity_ref_of(c).canonical() == r)
        .ok_or_else(|| Error::NotFound(format!("No campaign {r}")))?;
    Ok(HttpResponse::Ok().json(progress(&state, &snap, &c)))
}
