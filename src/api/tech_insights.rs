//! Backstage Tech Insights' API (`/api/tech-insights`), served from Cairn's scorecards: each
//! scorecard check is a `json-rules-engine` check whose `metadata.category` is the scorecard and
//! `metadata.rank` its level's position, so the Tech Insights frontend and its maturity view show
//! Cairn's scorecards unchanged. Checks from `techInsights.factChecker.checks` keep their ids.

use super::routes::Routes;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::openapi::{q, shapes, Doc};
use super::params::Params;
use super::{ApiError, AppState};
use crate::error::Error;
use crate::model::rule::{retriever_of, RETRIEVERS};
use crate::model::EntityRef;
use crate::readmodel::Snapshot;
use crate::scorecard::{annotate, Check, Facts, Scorecard};

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

fn facts_of_rule(rule: &Value, out: &mut Vec<String>) {
    if let Some(f) = rule.get("fact").and_then(Value::as_str) {
        if !out.iter().any(|x| x == f) {
            out.push(f.to_string());
        }
    }
    for group in ["all", "any"] {
        for c in rule
            .get(group)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            facts_of_rule(c, out);
        }
    }
    if let Some(inner) = rule.get("not") {
        facts_of_rule(inner, out);
    }
}

fn check_metadata(card: &Scorecard, check: &Check) -> Map<String, Value> {
    let mut m = check.metadata.clone();
    if card.entity_ref != crate::scorecard::TECH_INSIGHTS_SCORECARD {
        m.insert("category".into(), json!(card.title));
        m.insert(
            "rank".into(),
            json!(card
                .levels
                .iter()
                .position(|l| *l == check.level)
                .map_or(0, |p| p + 1)),
        );
        m.insert("level".into(), json!(check.level));
        m.insert("scorecard".into(), json!(card.entity_ref));
        if let Some(s) = &check.solution {
            m.insert("solution".into(), json!(s));
        }
    }
    m
}

fn definition(card: &Scorecard, check: &Check) -> Value {
    let mut facts = Vec::new();
    facts_of_rule(&check.rule_json, &mut facts);
    let mut fact_ids: Vec<&str> = facts.iter().map(|f| retriever_of(f)).collect();
    fact_ids.dedup();
    let mut d = json!({
        "id": card.tech_insights_id(check),
        "type": "json-rules-engine",
        "name": check.name,
        "description": check.description.clone().unwrap_or_default(),
        "factIds": fact_ids,
        "metadata": check_metadata(card, check),
        "rule": {"conditions": check.rule_json},
    });
    if !check.links.is_empty() {
        d["links"] = json!(check.links);
    }
    for (k, v) in [
        ("filter", &check.filter),
        ("successMetadata", &check.success_metadata),
        ("failureMetadata", &check.failure_metadata),
    ] {
        if let Some(v) = v {
            d[k] = v.clone();
        }
    }
    d
}

async fn checks(state: web::Data<AppState>) -> Reply {
    let list: Vec<Value> = state
        .scorecards
        .scorecards()
        .iter()
        .flat_map(|card| {
            card.checks
                .iter()
                .map(|c| definition(card, c))
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Check results for one entity, passing first: `None` when the entity is not in the catalog.
fn run_for(
    state: &AppState,
    snap: &Snapshot,
    entity_ref: &str,
    wanted: Option<&[String]>,
) -> Option<Vec<Value>> {
    let index = *snap.by_ref.get(entity_ref)?;
    let facts = state.scorecards.facts_of(snap, entity_ref).ok()??;
    let entity = facts.entity();
    let (mut passed, mut failed) = (Vec::new(), Vec::new());
    for card in state.scorecards.scorecards() {
        if !card
            .filter
            .as_ref()
            .is_none_or(|f| f.matches_doc(snap, index))
        {
            continue;
        }
        let stored = state.scorecards.result_of(&card.entity_ref, entity_ref);
        for (i, check) in card.checks.iter().enumerate() {
            if check
                .filter
                .as_ref()
                .is_some_and(|f| !crate::scorecard::matches_filter(entity, f))
            {
                continue;
            }
            let id = card.tech_insights_id(check);
            if wanted.is_some_and(|w| !w.contains(&id)) {
                continue;
            }
            let status = match &stored {
                Some(s) => s.statuses[i].as_str().to_string(),
                None => card
                    .summarize(entity_ref, &facts, &|c: &str| {
                        state.scorecards.input_of(&card.entity_ref, entity_ref, c)
                    })
                    .statuses[i]
                    .as_str()
                    .to_string(),
            };
            let result = status == "pass" || status == "exempt";
            let mut def = definition(card.as_ref(), check);
            let obj = def.as_object_mut().expect("object");
            let extra = if result {
                obj.remove("successMetadata")
            } else {
                obj.remove("failureMetadata")
            };
            obj.remove(if result {
                "failureMetadata"
            } else {
                "successMetadata"
            });
            obj.remove("filter");
            if let (Some(Value::Object(extra)), Some(Value::Object(meta))) =
                (extra, obj.get_mut("metadata"))
            {
                meta.extend(extra);
            }
            if status == "exempt" {
                obj.get_mut("metadata")
                    .and_then(Value::as_object_mut)
                    .map(|m| m.insert("exempt".into(), json!(true)));
            }
            obj.insert(
                "rule".into(),
                json!({"conditions": annotate(&check.rule_json, &facts)}),
            );
            let mut used = Vec::new();
            facts_of_rule(&check.rule_json, &mut used);
            let fact_values: Map<String, Value> = used
                .iter()
                .map(|f| {
                    let (kind, description) = RETRIEVERS
                        .iter()
                        .flat_map(|(_, _, fs)| fs.iter())
                        .find(|(name, _, _)| name == f)
                        .map(|(_, t, d)| (*t, *d))
                        .unwrap_or(("object", ""));
                    (
                        f.clone(),
                        json!({"value": facts.get(f), "type": kind, "description": description}),
                    )
                })
                .collect();
            let item = json!({"facts": fact_values, "result": result, "check": def});
            if result {
                passed.push(item);
            } else {
                failed.push(item);
            }
        }
    }
    passed.extend(failed);
    Some(passed)
}

fn wanted_checks(
    body: &Map<String, Value>,
    state: &AppState,
) -> Result<Option<Vec<String>>, Error> {
    let Some(list) = body.get("checks").and_then(Value::as_array) else {
        return Ok(None);
    };
    let ids: Vec<String> = list
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let known: Vec<String> = state
        .scorecards
        .scorecards()
        .iter()
        .flat_map(|card| {
            card.checks
                .iter()
                .map(|c| card.tech_insights_id(c))
                .collect::<Vec<_>>()
        })
        .collect();
    if let Some(unknown) = ids.iter().find(|i| !known.contains(i)) {
        return Err(Error::NotFound(format!(
            "Tech insight check with id '{unknown}' is not registered."
        )));
    }
    Ok(Some(ids))
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
    let wanted = wanted_checks(&body, &state)?;
    let entity_ref = EntityRef::new(&kind, &namespace, &name).canonical();
    let snap = state.readmodel.snapshot();
    let state2 = state.clone();
    let results = web::block(move || {
        run_for(&state2, &snap, &entity_ref, wanted.as_deref()).unwrap_or_default()
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(results))
}

async fn run_bulk(body: Bytes, state: web::Data<AppState>) -> Reply {
    let body = body_of(&body)?;
    let wanted = wanted_checks(&body, &state)?;
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
        let mut all = std::collections::BTreeSet::new();
        for card in state.scorecards.scorecards() {
            all.extend(
                state
                    .scorecards
                    .results_for(&card.entity_ref)
                    .iter()
                    .map(|r| r.entity_ref.clone()),
            );
        }
        refs = all.into_iter().collect();
    }
    let state2 = state.clone();
    let out = web::block(move || {
        refs.iter()
            .map(|r| json!({"entity": r, "results": run_for(&state2, &snap, r, wanted.as_deref()).unwrap_or_default()}))
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
