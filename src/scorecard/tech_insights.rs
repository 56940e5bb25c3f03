//! Backstage Tech Insights' view of Cairn's scorecards: each scorecard check is a
//! `json-rules-engine` check whose `metadata.category` is the scorecard and `metadata.rank` its
//! level's position, so the Tech Insights frontend and its maturity view show Cairn's scorecards
//! unchanged. Checks from `techInsights.factChecker.checks` keep their ids. Served by the HTTP
//! API and by the agents' tools alike.

use serde_json::{json, Map, Value};

use super::{annotate, Check, Engine, Scorecard};
use crate::error::Error;
use crate::model::rule::{retriever_of, RETRIEVERS};
use crate::readmodel::Snapshot;

/// Every check, one per scorecard check, as `GET /checks` lists them.
pub fn checks(engine: &Engine) -> Vec<Value> {
    engine
        .scorecards()
        .iter()
        .flat_map(|card| {
            card.checks
                .iter()
                .map(|c| definition(card, c))
                .collect::<Vec<_>>()
        })
        .collect()
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

pub fn definition(card: &Scorecard, check: &Check) -> Value {
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

/// Check results for one entity, passing first: `None` when the entity is not in the catalog.
pub fn run_for(
    engine: &Engine,
    snap: &Snapshot,
    entity_ref: &str,
    wanted: Option<&[String]>,
) -> Option<Vec<Value>> {
    let index = *snap.by_ref.get(entity_ref)?;
    let facts = engine.facts_of(snap, entity_ref).ok()??;
    let entity = facts.entity();
    let (mut passed, mut failed) = (Vec::new(), Vec::new());
    for card in engine.scorecards() {
        if !card
            .filter
            .as_ref()
            .is_none_or(|f| f.matches_doc(snap, index))
        {
            continue;
        }
        let stored = engine.result_of(&card.entity_ref, entity_ref);
        for (i, check) in card.checks.iter().enumerate() {
            if check
                .filter
                .as_ref()
                .is_some_and(|f| !super::matches_filter(entity, f))
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
                        engine.input_of(&card.entity_ref, entity_ref, c)
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

/// The check ids a request names (`checks: [...]`), `None` for every check; an id no scorecard
/// has is `NotFoundError`, as in Backstage.
pub fn wanted_checks(engine: &Engine, list: Option<&Value>) -> Result<Option<Vec<String>>, Error> {
    let Some(list) = list.and_then(Value::as_array) else {
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
    let known: Vec<String> = engine
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

/// Every entity some scorecard has results for: what a bulk run without entities covers.
pub fn evaluated_entities(engine: &Engine) -> Vec<String> {
    let mut all = std::collections::BTreeSet::new();
    for card in engine.scorecards() {
        all.extend(
            engine
                .results_for(&card.entity_ref)
                .iter()
                .map(|r| r.entity_ref.clone()),
        );
    }
    all.into_iter().collect()
}
