//! Backstage Tech Insights' actions over Cairn's scorecards: the checks, a run of them on one
//! entity, and the entity's maturity per scorecard (the rank every check up to it passes).

use serde_json::{json, Value};

use super::tools::{object, Run, Tool};
use super::Invocation;
use crate::error::{Error, Result};
use crate::model::EntityRef;
use crate::scorecard::tech_insights;

const ENTITY_REF: &str = "An entity ref, kind:namespace/name";

pub fn tools() -> Vec<Tool> {
    vec![
        Tool {
            plugin: "tech-insights",
            action: "get-checks",
            title: "Get Tech Insights Checks",
            description: "Every Tech Insights check: one per scorecard check, its id, name, description, the facts it reads and its rule; metadata.category is the scorecard and metadata.rank the level's position.",
            input: || object(json!({}), &[]),
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(|call, _| Ok(json!({"checks": tech_insights::checks(&call.cx.scorecards)}))),
        },
        Tool {
            plugin: "tech-insights",
            action: "run-checks",
            title: "Run Tech Insights Checks",
            description: "Runs the Tech Insights checks on one entity (all, or the ids given) and answers each check's result with the facts it read; failing checks come last.",
            input: || {
                object(
                    json!({
                        "entityRef": {"type": "string", "description": ENTITY_REF},
                        "checks": {"type": "array", "items": {"type": "string"}, "description": "Check ids; all when absent"},
                    }),
                    &["entityRef"],
                )
            },
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(run_checks),
        },
        Tool {
            plugin: "tech-insights",
            action: "get-entity-scorecard",
            title: "Get Entity Scorecard",
            description: "An entity's maturity on each scorecard (Tech Insights category): the highest rank whose checks, and every lower rank's, all pass, with the checks passed and failed.",
            input: || {
                object(
                    json!({"entityRef": {"type": "string", "description": ENTITY_REF}}),
                    &["entityRef"],
                )
            },
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(entity_scorecard),
        },
    ]
}

/// The entity's results, or `NotFoundError` when it is not in the catalog.
fn results(
    call: &Invocation,
    input: &Value,
    wanted: Option<&[String]>,
) -> Result<(String, Vec<Value>)> {
    let raw = input["entityRef"].as_str().unwrap_or_default();
    let r = EntityRef::parse_full(raw)
        .map_err(|e| Error::Input(format!("entityRef: {e}")))?
        .canonical();
    let snap = call.cx.readmodel.snapshot();
    let results = tech_insights::run_for(&call.cx.scorecards, &snap, &r, wanted)
        .ok_or_else(|| Error::NotFound(format!("No entity {r}")))?;
    Ok((r, results))
}

fn run_checks(call: &Invocation, input: &Value) -> Result<Value> {
    let wanted = tech_insights::wanted_checks(&call.cx.scorecards, input.get("checks"))?;
    let (r, results) = results(call, input, wanted.as_deref())?;
    Ok(json!({"entityRef": r, "results": results}))
}

fn entity_scorecard(call: &Invocation, input: &Value) -> Result<Value> {
    let (r, results) = results(call, input, None)?;
    // Categories in the order their first check appears.
    let mut categories: Vec<(String, Vec<&Value>)> = Vec::new();
    for item in &results {
        let category = item["check"]["metadata"]["category"]
            .as_str()
            .unwrap_or("Tech Insights")
            .to_string();
        match categories.iter_mut().find(|(c, _)| *c == category) {
            Some((_, items)) => items.push(item),
            None => categories.push((category, vec![item])),
        }
    }
    let items: Vec<Value> = categories
        .into_iter()
        .map(|(category, items)| {
            let rank_of = |i: &Value| i["check"]["metadata"]["rank"].as_u64().unwrap_or(0);
            let lowest_failing = items
                .iter()
                .filter(|i| i["result"] != true)
                .map(|i| rank_of(i))
                .min();
            let top = items.iter().map(|i| rank_of(i)).max().unwrap_or(0);
            let rank = lowest_failing.map_or(top, |r| r.saturating_sub(1));
            let check = |i: &&Value| {
                json!({
                    "id": i["check"]["id"],
                    "name": i["check"]["name"],
                    "rank": rank_of(i),
                    "level": i["check"]["metadata"]["level"],
                    "solution": i["check"]["metadata"]["solution"],
                })
            };
            json!({
                "category": category,
                "scorecard": items[0]["check"]["metadata"]["scorecard"],
                "rank": rank,
                "maxRank": top,
                "passed": items.iter().filter(|i| i["result"] == true).map(check).collect::<Vec<_>>(),
                "failed": items.iter().filter(|i| i["result"] != true).map(check).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({"entityRef": r, "items": items}))
}
