//! `/api/cairn/scorecards`: scorecards with their level distribution and pass rate per check,
//! the entities they apply to (by level and owner), results with evidence per entity, and the
//! history of changes.

use super::routes::Routes;
use std::collections::BTreeMap;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::params::Params;
use super::{ApiError, AppState};
use crate::error::Error;
use crate::scorecard::{CheckKind, ExemptEntities, Scorecard, Status, Summary};
use crate::storage::{CheckInputRow, PushedFactRow};

type Reply = Result<HttpResponse, ApiError>;

pub fn routes(r: &mut Routes) {
    r.get("/scorecards", list)
        .get("/scorecards/{namespace}/{name}", one)
        .get("/scorecards/{namespace}/{name}/entities", entities)
        .get("/scorecards/{namespace}/{name}/history", history)
        .get("/entities/{kind}/{namespace}/{name}/scorecards", of_entity)
        .post(
            "/scorecards/{namespace}/{name}/checks/{check}/attestations",
            attest,
        )
        .post(
            "/scorecards/{namespace}/{name}/checks/{check}/results",
            push_result,
        )
        .get("/scorecards/{namespace}/{name}/rollup", rollup)
        .get(
            "/scorecards/{namespace}/{name}/badge/{kind}/{entity_namespace}/{entity_name}",
            badge,
        )
        .get("/scorecards/{namespace}/{name}/exemptions", list_exemptions)
        .post("/scorecards/{namespace}/{name}/exemptions", grant_exemption)
        .delete(
            "/scorecards/{namespace}/{name}/exemptions/{id}",
            expire_exemption,
        )
        .get("/scorecards/{namespace}/{name}/trend", trend)
        .post("/facts", push_facts)
        .get("/facts", get_facts);
}

fn summary(card: &Scorecard, results: &[std::sync::Arc<Summary>]) -> Value {
    let mut distribution: BTreeMap<String, usize> =
        card.levels.iter().map(|l| (l.clone(), 0)).collect();
    let mut none = 0;
    for r in results {
        match card.level_name(r.level) {
            Some(l) => *distribution.entry(l).or_default() += 1,
            None => none += 1,
        }
    }
    let checks: Vec<Value> = card
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let applicable: Vec<Status> = results.iter().map(|r| r.statuses[i]).filter(|s| *s != Status::NotApplicable).collect();
            let passing = applicable.iter().filter(|s| s.counts_ok()).count();
            json!({
                "id": c.id, "name": c.name, "level": c.level, "description": c.description, "solution": c.solution,
                "passing": passing, "failing": applicable.len() - passing,
                "passRate": if applicable.is_empty() { 100.0 } else { (passing as f64 / applicable.len() as f64 * 1000.0).round() / 10.0 },
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
    params.allow(&["level", "owner"])?;
    let (namespace, name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let snap = state.readmodel.snapshot();
    let owner_of = |r: &str| owners_of(&snap, r);
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

/// An entity's owners (its `ownedBy` targets), from the read model's parsed relations.
fn owners_of(snap: &crate::readmodel::Snapshot, entity_ref: &str) -> Vec<String> {
    let owned_by = crate::readmodel::graph::type_id("ownedBy");
    snap.get_by_ref(entity_ref)
        .map(|d| {
            d.relations
                .iter()
                .filter(|(t, _)| *t == owned_by)
                .map(|(_, target)| target.to_string())
                .collect()
        })
        .unwrap_or_default()
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
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "entityRef": r.entity_ref,
                "level": r.level,
                "checks": r.statuses(),
                "left": r.checks.is_empty(),
                "at": chrono::DateTime::from_timestamp(r.at, 0).map(|t| t.to_rfc3339()),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `GET …/trend?interval=day|week|month&from=&to=&entityRef=&owner=`: the scorecard's state at
/// the end of each period, replayed from its history. Owners are today's owners.
async fn trend(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    use crate::scorecard::trend::{self, Interval};
    let params = Params::parse(req.query_string());
    params.allow(&["interval", "from", "to", "entityRef", "owner"])?;
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
    let today = chrono::Utc::now().date_naive();
    let to = date("to")?.unwrap_or(today);
    let entity = params.one("entityRef").map(|e| e.to_lowercase());
    let engine = state.scorecards.clone();
    let scorecard = card.entity_ref.clone();
    let rows = web::block(move || engine.db().history(entity.as_deref(), Some(&scorecard)))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
    let first = rows
        .first()
        .and_then(|r| chrono::DateTime::from_timestamp(r.at, 0))
        .map_or(to, |t| t.date_naive());
    let from = date("from")?.unwrap_or(first.min(to));
    if from > to {
        return Err(Error::Input(format!("from ({from}) is after to ({to})")).into());
    }
    let ends = trend::period_ends(from, to, interval);
    if ends.len() > trend::MAX_POINTS {
        return Err(Error::Input(format!(
            "more than {} periods between {from} and {to}; use a longer interval",
            trend::MAX_POINTS
        ))
        .into());
    }
    let owner = params.one("owner").map(|o| o.to_lowercase());
    let snap = state.readmodel.snapshot();
    let keep = |entity_ref: &str| -> bool {
        owner
            .as_ref()
            .is_none_or(|o| owners_of(&snap, entity_ref).contains(o))
    };
    let points = trend::series(&rows, &card.levels, &ends, &keep);
    Ok(HttpResponse::Ok().json(json!({
        "scorecard": card.entity_ref,
        "interval": params.one("interval").unwrap_or_else(|| "day".into()),
        "from": from.to_string(),
        "to": to.to_string(),
        "points": points,
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
        .filter(|f| !f.is_empty())
        .ok_or_else(|| Error::Input("request/body/facts must be a non-empty object".into()))?
        .clone();
    let engine = state.scorecards.clone();
    let existing: Vec<(String, Value)> = web::block(move || engine.db().load_pushed_facts())
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?
        .into_iter()
        .map(|f| {
            (
                f.name,
                serde_json::from_str(&f.value_json).unwrap_or(Value::Null),
            )
        })
        .collect();
    let now = chrono::Utc::now().timestamp();
    let mut rows = Vec::new();
    for (name, value) in &facts {
        if let Some((_, before)) = existing.iter().find(|(n, v)| n == name && !v.is_null()) {
            if crate::model::validation::type_name(before)
                != crate::model::validation::type_name(value)
                && !value.is_null()
            {
                return Err(Error::Input(format!(
                    "facts.{name}: is a {}, got a {}",
                    crate::model::validation::type_name(before),
                    crate::model::validation::type_name(value)
                ))
                .into());
            }
        }
        rows.push(PushedFactRow {
            entity_ref: entity_ref.clone(),
            name: name.clone(),
            value_json: value.to_string(),
            at: now,
        });
    }
    let engine = state.scorecards.clone();
    let n = rows.len();
    let audit = [crate::model::audit::Entry::new(
        &super::caller(&req),
        "fact.pushed",
        Some(&entity_ref),
        json!({"facts": rows.iter().map(|r| (r.name.clone(), serde_json::from_str::<Value>(&r.value_json).unwrap_or_default())).collect::<serde_json::Map<_, _>>()}),
    )];
    web::block(move || engine.db().push_facts(&rows, &audit))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
    Ok(HttpResponse::Ok().json(json!({"entityRef": entity_ref, "stored": n})))
}

async fn get_facts(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(&["entityRef"])?;
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
    let check = card
        .checks
        .iter()
        .find(|c| c.id == check_id)
        .ok_or_else(|| Error::NotFound(format!("No check {check_id} in {}", card.entity_ref)))?;
    match (&check.kind, attested) {
        (CheckKind::Attested { .. }, true) | (CheckKind::Pushed, false) => {}
        _ => {
            let wanted = if attested { "attested" } else { "pushed" };
            return Err(Error::Input(format!("check {check_id} is not a {wanted} check")).into());
        }
    }
    let body = super::params::json_body(&body)?;
    let entity_ref = entity_of(&state, &body)?;
    let result = match body.get("result").and_then(Value::as_str) {
        Some(r @ ("pass" | "fail")) => r.to_string(),
        _ => return Err(Error::Input("request/body/result must be pass or fail".into()).into()),
    };
    let text_key = if attested { "justification" } else { "details" };
    let justification = body
        .get(text_key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string();
    if attested && justification.is_empty() {
        return Err(Error::Input(
            "request/body/justification is required for an attestation".into(),
        )
        .into());
    }
    let actor = super::caller(&req);
    let row = CheckInputRow {
        scorecard: card.entity_ref.clone(),
        entity_ref,
        check_id,
        result,
        justification,
        author: actor.as_str().to_string(),
        at: chrono::Utc::now().timestamp(),
    };
    let engine = state.scorecards.clone();
    let saved = row.clone();
    let audit = [crate::model::audit::Entry::new(
        &actor,
        if attested {
            "check.attested"
        } else {
            "check.result-pushed"
        },
        Some(&row.entity_ref),
        json!({"scorecard": row.scorecard, "check": row.check_id, "result": row.result, "justification": row.justification}),
    )];
    web::block(move || engine.db().save_check_input(&saved, &audit))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
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

fn relation_targets(
    snap: &crate::readmodel::Snapshot,
    entity_ref: &str,
    rel: &str,
    kind: &str,
) -> Vec<String> {
    snap.get_by_ref(entity_ref)
        .and_then(|d| serde_json::from_str::<Value>(&d.json).ok())
        .map(|e| {
            e["relations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["type"] == rel)
                .filter_map(|r| r["targetRef"].as_str())
                .filter(|t| kind.is_empty() || t.starts_with(&format!("{kind}:")))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `GET …/rollup?by=owner|system|domain`: level distribution and average score per group,
/// following catalog relations (owners, the system an entity is part of, that system's domain).
async fn rollup(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(&["by"])?;
    let by = params.one("by").unwrap_or_else(|| "owner".into());
    let (namespace, name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let snap = state.readmodel.snapshot();
    let items = rollup_groups(
        &snap,
        &card,
        &state.scorecards.results_for(&card.entity_ref),
        &by,
    )?;
    Ok(HttpResponse::Ok().json(json!({"scorecard": card.entity_ref, "by": by, "items": items})))
}

/// Entities grouped by owner, system or domain (following catalog relations), with their count,
/// average score and level distribution; entities with no group fall under `(none)`.
pub(super) fn rollup_groups(
    snap: &crate::readmodel::Snapshot,
    card: &Scorecard,
    results: &[std::sync::Arc<Summary>],
    by: &str,
) -> Result<Vec<Value>, Error> {
    let groups_of = |r: &str| -> Result<Vec<String>, Error> {
        Ok(match by {
            "owner" => relation_targets(snap, r, "ownedBy", ""),
            "system" => relation_targets(snap, r, "partOf", "system"),
            "domain" => relation_targets(snap, r, "partOf", "system")
                .iter()
                .flat_map(|s| relation_targets(snap, s, "partOf", "domain"))
                .collect(),
            other => {
                return Err(Error::Input(format!(
                    "by must be owner, system or domain, got {other}"
                )))
            }
        })
    };
    let mut groups: BTreeMap<String, (usize, f64, BTreeMap<String, usize>)> = BTreeMap::new();
    for r in results {
        let mut keys = groups_of(&r.entity_ref)?;
        if keys.is_empty() {
            keys.push("(none)".into());
        }
        for k in keys {
            let g = groups.entry(k).or_default();
            g.0 += 1;
            g.1 += r.score;
            *g.2.entry(card.level_name(r.level).unwrap_or_else(|| "none".into()))
                .or_default() += 1;
        }
    }
    Ok(groups
        .into_iter()
        .map(|(group, (n, total, distribution))| {
            json!({"group": group, "entities": n, "averageScore": (total / n as f64 * 10.0).round() / 10.0, "distribution": distribution})
        })
        .collect())
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
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let (label, value) = (escape(&card.title), escape(&level));
    let (lw, vw) = (
        label.chars().count() * 7 + 10,
        value.chars().count() * 7 + 10,
    );
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{colour}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{vx}" y="14">{value}</text></g></svg>"##,
        w = lw + vw,
        lx = lw / 2,
        vx = lw + vw / 2,
    );
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("cache-control", "no-cache"))
        .body(svg))
}

async fn list_exemptions(path: web::Path<(String, String)>, state: web::Data<AppState>) -> Reply {
    let (namespace, name) = path.into_inner();
    let card = find(&state, &namespace, &name)?;
    let today = chrono::Utc::now().date_naive();
    let engine = state.scorecards.clone();
    let granted = web::block(move || engine.db().load_exemptions())
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
    let mut items: Vec<Value> = Vec::new();
    for e in &card.exemptions {
        if granted.iter().any(|g| {
            g.scorecard == card.entity_ref
                && matches!(&e.entity, ExemptEntities::Ref(r) if *r == g.entity_ref)
                && g.checks() == e.checks
                && g.reason == e.reason
        }) {
            continue;
        }
        let mut item = json!({"source": "scorecard", "checks": e.checks, "reason": e.reason, "approver": e.approver, "expires": e.expires.to_string(), "expired": e.expires < today});
        match &e.entity {
            ExemptEntities::Ref(r) => item["entityRef"] = json!(r),
            ExemptEntities::Filter(_, written) => item["filter"] = written.clone(),
        }
        items.push(item);
    }
    for g in granted.iter().filter(|g| g.scorecard == card.entity_ref) {
        let expired =
            chrono::NaiveDate::parse_from_str(&g.expires, "%Y-%m-%d").map_or(true, |d| d < today);
        let mut v = serde_json::to_value(g).unwrap_or(Value::Null);
        v["source"] = json!("api");
        v["checks"] = json!(g.checks());
        v["expired"] = json!(expired);
        items.push(v);
    }
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
    let checks: Vec<String> = body
        .get("checks")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .filter(|c: &Vec<String>| !c.is_empty())
        .ok_or_else(|| {
            Error::Input("request/body/checks must be a non-empty list of check ids".into())
        })?;
    if let Some(unknown) = checks
        .iter()
        .find(|c| !card.checks.iter().any(|x| &x.id == *c))
    {
        return Err(Error::Input(format!(
            "checks: {unknown} is not a check of {}",
            card.entity_ref
        ))
        .into());
    }
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let reason =
        text("reason").ok_or_else(|| Error::Input("request/body/reason is required".into()))?;
    let expires = text("expires")
        .ok_or_else(|| Error::Input("request/body/expires is required (YYYY-MM-DD)".into()))?;
    let date = chrono::NaiveDate::parse_from_str(&expires, "%Y-%m-%d")
        .map_err(|_| Error::Input("request/body/expires must be a date (YYYY-MM-DD)".into()))?;
    if date < chrono::Utc::now().date_naive() {
        return Err(Error::Input(format!("expires: {expires} is in the past")).into());
    }
    let caller = super::caller(&req);
    let row = crate::storage::ExemptionRow {
        id: uuid::Uuid::new_v4().to_string(),
        scorecard: card.entity_ref.clone(),
        entity_ref,
        checks_json: json!(checks).to_string(),
        reason,
        approver: text("approver").unwrap_or_else(|| caller.as_str().to_string()),
        expires,
        created_by: caller.as_str().to_string(),
        created_at: chrono::Utc::now().timestamp(),
    };
    let engine = state.scorecards.clone();
    let saved = row.clone();
    let audit = [crate::model::audit::Entry::new(
        &caller,
        "exemption.granted",
        Some(&row.entity_ref),
        json!({"scorecard": row.scorecard, "id": row.id, "checks": checks, "reason": row.reason, "approver": row.approver, "expires": row.expires}),
    )];
    web::block(move || engine.db().insert_exemption(&saved, &audit))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
    let mut v = serde_json::to_value(&row).unwrap_or(Value::Null);
    v["checks"] = json!(checks);
    Ok(HttpResponse::Created().json(v))
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
    let scorecard = card.entity_ref.clone();
    let audit = [crate::model::audit::Entry::new(
        &super::caller(&req),
        "exemption.ended",
        None,
        json!({"scorecard": scorecard, "id": id}),
    )];
    let removed = web::block(move || engine.db().delete_exemption(&scorecard, &id, &audit))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
    if !removed {
        return Err(Error::NotFound("No such exemption granted through the API".into()).into());
    }
    Ok(HttpResponse::NoContent().finish())
}
