//! `/api/cairn/scorecards`: scorecards with their level distribution and pass rate per check,
//! the entities they apply to (by level and owner), results with evidence per entity, and the
//! history of changes.

use super::routes::Routes;
use std::collections::BTreeMap;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::openapi::{q, shapes, Doc};
use super::params::Params;
use super::{blocking, ApiError, AppState};
use crate::error::Error;
use crate::scorecard::rollup::Spread;
use crate::scorecard::{Scorecard, Summary};

type Reply = Result<HttpResponse, ApiError>;

fn items() -> Value {
    json!({"type": "object", "required": ["items"], "properties": {"items": shapes::objects()}})
}
fn check_input() -> Value {
    json!({
        "type": "object",
        "required": ["entityRef", "result"],
        "properties": {
            "entityRef": {"type": "string"},
            "result": {"type": "string", "enum": ["pass", "fail"]},
            "justification": {"type": "string"},
            "details": {"type": "string"},
        },
    })
}
fn exemption_request() -> Value {
    json!({
        "type": "object",
        "required": ["entityRef", "check", "reason", "expiresAt"],
        "properties": {
            "entityRef": {"type": "string"},
            "check": {"type": "string"},
            "reason": {"type": "string"},
            "expiresAt": {"type": "string"},
        },
    })
}
fn facts_request() -> Value {
    json!({
        "type": "object",
        "required": ["entityRef", "facts"],
        "properties": {"entityRef": {"type": "string"}, "facts": {"type": "object"}},
    })
}
const LIST: Doc =
    Doc::new("Every scorecard with its level distribution and pass rate per check").json(items);
const ONE: Doc = Doc::new("One scorecard with its level distribution and pass rate per check");
const ENTITIES: Doc = Doc::new("The entities a scorecard applies to, with their levels")
    .query(&[q("level"), q("owner")])
    .json(items);
const HISTORY: Doc = Doc::new("Level and check changes, newest first")
    .query(&[q("entityRef")])
    .json(items);
const OF_ENTITY: Doc = Doc::new("An entity's results on every scorecard, with evidence");
const ATTEST: Doc = Doc::new("Attests a manual check for one entity")
    .body(check_input)
    .created(shapes::object);
const PUSH_RESULT: Doc = Doc::new("Records an external check's result for one entity")
    .body(check_input)
    .created(shapes::object);
const ROLLUP: Doc = Doc::new("Levels rolled up by owner, system or domain")
    .query(&[q("by").one_of(&["owner", "system", "domain"])])
    .json(items);
const BADGE: Doc = Doc::new("An entity's level as an SVG badge").media("image/svg+xml");
const EXEMPTIONS: Doc = Doc::new("Exemptions granted on a scorecard").json(items);
const GRANT: Doc = Doc::new("Grants an exemption from one check until a date")
    .body(exemption_request)
    .created(shapes::object);
const EXPIRE: Doc = Doc::new("Ends an exemption now").no_content();
const TREND: Doc = Doc::new("The scorecard's state at the end of each period").query(&[
    q("interval").one_of(&["day", "week", "month"]),
    q("from"),
    q("to"),
    q("entityRef"),
    q("owner"),
]);
const PUSH_FACTS: Doc = Doc::new("Facts about an entity from CI").body(facts_request);
const GET_FACTS: Doc =
    Doc::new("The facts pushed for an entity").query(&[q("entityRef").required()]);

pub fn routes(r: &mut Routes) {
    r.get("/scorecards", list)
        .doc(&LIST)
        .get("/scorecards/{namespace}/{name}", one)
        .doc(&ONE)
        .get("/scorecards/{namespace}/{name}/entities", entities)
        .doc(&ENTITIES)
        .get("/scorecards/{namespace}/{name}/history", history)
        .doc(&HISTORY)
        .get("/entities/{kind}/{namespace}/{name}/scorecards", of_entity)
        .doc(&OF_ENTITY)
        .post(
            "/scorecards/{namespace}/{name}/checks/{check}/attestations",
            attest,
        )
        .doc(&ATTEST)
        .post(
            "/scorecards/{namespace}/{name}/checks/{check}/results",
            push_result,
        )
        .doc(&PUSH_RESULT)
        .get("/scorecards/{namespace}/{name}/rollup", rollup)
        .doc(&ROLLUP)
        .get(
            "/scorecards/{namespace}/{name}/badge/{kind}/{entity_namespace}/{entity_name}",
            badge,
        )
        .doc(&BADGE)
        .get("/scorecards/{namespace}/{name}/exemptions", list_exemptions)
        .doc(&EXEMPTIONS)
        .post("/scorecards/{namespace}/{name}/exemptions", grant_exemption)
        .doc(&GRANT)
        .delete(
            "/scorecards/{namespace}/{name}/exemptions/{id}",
            expire_exemption,
        )
        .doc(&EXPIRE)
        .get("/scorecards/{namespace}/{name}/trend", trend)
        .doc(&TREND)
        .post("/facts", push_facts)
        .doc(&PUSH_FACTS)
        .get("/facts", get_facts)
        .doc(&GET_FACTS);
}

fn summary(card: &Scorecard, results: &[std::sync::Arc<Summary>]) -> Value {
    let spread = Spread::of(card, results);
    let none = spread.levels[0].1;
    let distribution: BTreeMap<&str, usize> = spread.levels[1..]
        .iter()
        .map(|(l, n)| (l.as_str(), *n))
        .collect();
    let checks: Vec<Value> = card
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (passing, failing) = spread.checks[i];
            json!({
                "id": c.id, "name": c.name, "level": c.level, "description": c.description, "solution": c.solution,
                "passing": passing, "failing": failing, "passRate": spread.pass_rate(i),
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
        "errors": card.problems.iter().map(|(field, message)| json!({"field": field, "message": message})).collect::<Vec<_>>(),
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
    params.allow(ENTITIES.query)?;
    let (namespace, name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let snap = state.readmodel.snapshot();
    let owner_of = |r: &str| crate::scorecard::rollup::owners_of(&snap, r);
    let level = params.one("level");
    let owner = params.one("owner").map(|o| o.to_lowercase());
    let items: Vec<Value> = state
        .scorecards
        .results_for(&card.entity_ref)
        .iter()
        .filter(|r| match level.as_deref() {
            None => true,
            Some("none") => r.level.is_none(),
            Some(l) => card.level_name(r.level).as_deref() == Some(l),
        })
        .filter_map(|r| {
            let owners = owner_of(&r.entity_ref);
            if owner.as_ref().is_some_and(|o| !owners.contains(o)) {
                return None;
            }
            Some(json!({"entityRef": r.entity_ref, "level": card.level_name(r.level), "score": r.score, "owners": owners}))
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
    params.allow(HISTORY.query)?;
    let (namespace, name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let entity = params.one("entityRef").map(|e| e.to_lowercase());
    let engine = state.scorecards.clone();
    let items = blocking(move || engine.history_of(&card, entity.as_deref())).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `GET …/trend?interval=day|week|month&from=&to=&entityRef=&owner=`: the scorecard's state at
/// the end of each period, replayed from its history. Owners are today's owners.
async fn trend(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    use crate::scorecard::trend::{Interval, TrendQuery};
    let params = Params::parse(req.query_string());
    params.allow(TREND.query)?;
    let (namespace, name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let interval = match params.one("interval") {
        None => Interval::Day,
        Some(i) => Interval::parse(&i)
            .ok_or_else(|| Error::Input(format!("interval must be day, week or month, got {i}")))?,
    };
    let date = |key: &str| -> Result<Option<chrono::NaiveDate>, Error> {
        params
            .one(key)
            .map(|d| {
                chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| {
                    Error::Input(format!("{key} must be a date (YYYY-MM-DD), got {d}"))
                })
            })
            .transpose()
    };
    let query = TrendQuery {
        interval,
        from: date("from")?,
        to: date("to")?.unwrap_or_else(|| chrono::Utc::now().date_naive()),
        entity: params.one("entityRef").map(|e| e.to_lowercase()),
        owner: params.one("owner").map(|o| o.to_lowercase()),
    };
    let snap = state.readmodel.snapshot();
    let engine = state.scorecards.clone();
    let scorecard = card.clone();
    let trend = blocking(move || engine.trend(&scorecard, &snap, &query)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "scorecard": card.entity_ref,
        "interval": params.one("interval").unwrap_or_else(|| "day".into()),
        "from": trend.from.to_string(),
        "to": trend.to.to_string(),
        "points": trend.points,
    })))
}

async fn of_entity(path: web::Path<(String, String, String)>, state: web::Data<AppState>) -> Reply {
    let (kind, namespace, name) = path.into_inner();
    let r = format!("{kind}:{namespace}/{name}").to_lowercase();
    if state.readmodel.snapshot().get_by_ref(&r).is_none() {
        return Err(Error::NotFound(format!("No entity {r}")).into());
    }
    let snap = state.readmodel.snapshot();
    let engine = state.scorecards.clone();
    let target = r.clone();
    let items = web::block(move || engine.explain(&snap, &target))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
    Ok(HttpResponse::Ok().json(json!({ "entityRef": r, "items": items })))
}

fn entity_of(state: &AppState, body: &serde_json::Map<String, Value>) -> Result<String, Error> {
    let raw = body
        .get("entityRef")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::Input("request/body must have required property 'entityRef'".into())
        })?;
    let r = crate::model::EntityRef::parse_full(raw)
        .map_err(|e| Error::Input(format!("entityRef: {e}")))?
        .canonical();
    if state.readmodel.snapshot().get_by_ref(&r).is_none() {
        return Err(Error::NotFound(format!("No entity {r}")));
    }
    Ok(r)
}

/// `POST /api/cairn/facts {entityRef, facts: {name: value}}`: facts from CI. A fact keeps the
/// type of its first value.
async fn push_facts(req: HttpRequest, body: Bytes, state: web::Data<AppState>) -> Reply {
    let body = super::params::json_body(&body)?;
    let entity_ref = entity_of(&state, &body)?;
    let facts = body
        .get("facts")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let engine = state.scorecards.clone();
    let actor = super::caller(&req);
    let r = entity_ref.clone();
    let n = blocking(move || engine.push_facts(&r, &facts, &actor)).await?;
    Ok(HttpResponse::Ok().json(json!({"entityRef": entity_ref, "stored": n})))
}

async fn get_facts(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(GET_FACTS.query)?;
    let r = params
        .one("entityRef")
        .ok_or_else(|| Error::Input("entityRef is required".into()))?
        .to_lowercase();
    Ok(HttpResponse::Ok()
        .json(json!({"entityRef": r, "facts": state.scorecards.pushed_of(&r).unwrap_or_default()})))
}

async fn record(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: Bytes,
    state: web::Data<AppState>,
    attested: bool,
) -> Reply {
    let (namespace, name, check_id) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let body = super::params::json_body(&body)?;
    let entity_ref = entity_of(&state, &body)?;
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let result = text("result");
    let justification = text(if attested { "justification" } else { "details" });
    let engine = state.scorecards.clone();
    let actor = super::caller(&req);
    let row = blocking(move || {
        engine.record_check_input(
            &card,
            &check_id,
            &entity_ref,
            result.as_deref(),
            justification.as_deref(),
            attested,
            &actor,
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(row))
}

async fn attest(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: Bytes,
    state: web::Data<AppState>,
) -> Reply {
    record(req, path, body, state, true).await
}

async fn push_result(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: Bytes,
    state: web::Data<AppState>,
) -> Reply {
    record(req, path, body, state, false).await
}

/// `GET …/rollup?by=owner|system|domain`: level distribution and average score per group,
/// following catalog relations (owners, the system an entity is part of, that system's domain).
async fn rollup(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(ROLLUP.query)?;
    let by = params.one("by").unwrap_or_else(|| "owner".into());
    let (namespace, name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let snap = state.readmodel.snapshot();
    let items = crate::scorecard::rollup::rollup_groups(
        &snap,
        &card,
        &state.scorecards.results_for(&card.entity_ref),
        &by,
    )?;
    Ok(HttpResponse::Ok().json(json!({"scorecard": card.entity_ref, "by": by, "items": items})))
}

/// An SVG badge with the level an entity reached on a scorecard.
async fn badge(
    path: web::Path<(String, String, String, String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let (namespace, name, kind, entity_namespace, entity_name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let entity_name = entity_name.trim_end_matches(".svg");
    let r = crate::model::EntityRef::new(&kind, &entity_namespace, entity_name).canonical();
    let result = state
        .scorecards
        .result_of(&card.entity_ref, &r)
        .ok_or_else(|| Error::NotFound(format!("No {} result for {r}", card.entity_ref)))?;
    let level = card
        .level_name(result.level)
        .unwrap_or_else(|| "none".into());
    let colour = match result.level {
        None => "#9f9f9f",
        Some(l) if l as usize + 1 == card.levels.len() => "#4c1",
        Some(0) => "#dfb317",
        Some(_) => "#97ca00",
    };
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("cache-control", "no-cache"))
        .body(crate::render::badge(&card.title, &level, colour)))
}

async fn list_exemptions(path: web::Path<(String, String)>, state: web::Data<AppState>) -> Reply {
    let (namespace, name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let engine = state.scorecards.clone();
    let items = blocking(move || engine.exemptions_of(&card)).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `POST …/exemptions {entityRef, checks, reason, expires, approver?}`: all required but the
/// approver, who defaults to the caller.
async fn grant_exemption(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: Bytes,
    state: web::Data<AppState>,
) -> Reply {
    let (namespace, name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let body = super::params::json_body(&body)?;
    let entity_ref = entity_of(&state, &body)?;
    let checks: Option<Vec<String>> = body.get("checks").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    });
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (reason, expires, approver) = (text("reason"), text("expires"), text("approver"));
    let engine = state.scorecards.clone();
    let actor = super::caller(&req);
    let granted = blocking(move || {
        engine.grant_exemption(
            &card,
            &entity_ref,
            checks,
            reason,
            expires,
            approver,
            &actor,
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(granted))
}

/// `DELETE …/exemptions/:id`: ends an exemption granted through the API now.
async fn expire_exemption(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let (namespace, name, id) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let engine = state.scorecards.clone();
    let actor = super::caller(&req);
    blocking(move || engine.end_exemption(&card, &id, &actor)).await?;
    Ok(HttpResponse::NoContent().finish())
}
