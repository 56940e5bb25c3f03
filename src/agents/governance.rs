//! Cairn's own tools: an entity's scorecards with what fails and how to fix it, the EU AI Act
//! classification (what-if, stores nothing) and an AI system's obligations, the impact of a
//! change, and who the caller is.

use serde_json::{json, Value};

use super::tools::{object, Run, Tool};
use super::Invocation;
use crate::error::{Error, Result};
use crate::model::EntityRef;
use crate::readmodel::graph::{self, Direction, Limits, Paths};

const ENTITY_REF: &str = "An entity ref, kind:namespace/name";

pub fn tools() -> Vec<Tool> {
    let by_ref = || {
        object(
            json!({"entityRef": {"type": "string", "description": ENTITY_REF}}),
            &["entityRef"],
        )
    };
    vec![
        Tool {
            plugin: "cairn",
            action: "get-entity-scorecards",
            title: "Get Entity Scorecards",
            description: "An entity's level on every scorecard that applies to it, each check passed or failed with its evidence, and how to fix each failing check.",
            input: by_ref,
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(scorecards),
        },
        Tool {
            plugin: "cairn",
            action: "classify-ai-system",
            title: "Classify an AI System (what-if)",
            description: "What an AI system would be classified as under the EU AI Act rule pack, from a role and answers to the questionnaire; stores nothing. Answers the tier, the decisions that fired with their articles, and any unanswered questions.",
            input: || {
                object(
                    json!({
                        "role": {"type": "string", "description": "provider, deployer, importer, distributor or product-manufacturer"},
                        "answers": {"type": "object", "description": "Question id to answer"},
                    }),
                    &["answers"],
                )
            },
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(classify),
        },
        Tool {
            plugin: "cairn",
            action: "get-ai-system-obligations",
            title: "Get AI System Obligations",
            description: "An AI system's EU AI Act assessment: its tier and every obligation with its due date, status and evidence - the to-do list before an audit.",
            input: by_ref,
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(obligations),
        },
        Tool {
            plugin: "cairn",
            action: "get-entity-impact",
            title: "Get Entity Impact",
            description: "What a change to this entity can break: every entity that depends on it, consumes its APIs, events or data products, directly or through others, with the relation path.",
            input: || {
                object(
                    json!({
                        "entityRef": {"type": "string", "description": ENTITY_REF},
                        "depth": {"type": "integer", "minimum": 1, "maximum": 50},
                    }),
                    &["entityRef"],
                )
            },
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(impact),
        },
        Tool {
            plugin: "cairn",
            action: "who-am-i",
            title: "Who am I",
            description: "Who this connection acts as: the person, or the AI agent's entity ref, its EU AI Act tier, the tools it may call and the rule that decided it.",
            input: || object(json!({}), &[]),
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(|call, _| {
                let mut me = call.caller.describe();
                me["allowedTools"] = json!(call.allowed());
                Ok(me)
            }),
        },
    ]
}

fn entity_ref(input: &Value) -> Result<EntityRef> {
    let raw = input["entityRef"].as_str().unwrap_or_default();
    EntityRef::parse_full(raw).map_err(|e| Error::Input(format!("entityRef: {e}")))
}

fn scorecards(call: &Invocation, input: &Value) -> Result<Value> {
    let r = entity_ref(input)?.canonical();
    let snap = call.cx.readmodel.snapshot();
    if snap.get_by_ref(&r).is_none() {
        return Err(Error::NotFound(format!("No entity {r}")));
    }
    let items = call.cx.scorecards.explain(&snap, &r)?;
    Ok(json!({"entityRef": r, "items": items}))
}

fn pack(call: &Invocation) -> Result<std::sync::Arc<crate::compliance::RulePack>> {
    call.cx
        .compliance
        .pack()
        .map(|(p, _)| p)
        .map_err(|e| Error::Unavailable(format!("the EU AI Act rule pack does not load: {e}")))
}

fn classify(call: &Invocation, input: &Value) -> Result<Value> {
    crate::compliance::what_if(
        &*pack(call)?,
        input["role"].clone(),
        input["answers"].clone(),
    )
}

fn obligations(call: &Invocation, input: &Value) -> Result<Value> {
    let r = entity_ref(input)?;
    let p = pack(call)?;
    let snap = call.cx.readmodel.snapshot();
    let (r, entity) = crate::compliance::system(&snap, &r.kind, &r.namespace, &r.name)?;
    crate::compliance::assess_one(&call.cx.compliance.inputs(snap), &p, &entity, &r)
}

fn impact(call: &Invocation, input: &Value) -> Result<Value> {
    let r = entity_ref(input)?.canonical();
    let snap = call.cx.readmodel.snapshot();
    let root = *snap
        .by_ref
        .get(r.as_str())
        .ok_or_else(|| Error::NotFound(format!("No entity {r}")))?;
    let types: Vec<String> = graph::IMPACT.iter().map(|t| t.to_string()).collect();
    let mut walk = graph::walk(
        &snap,
        &[root],
        &types,
        &[],
        Direction::Outgoing,
        Limits {
            max_depth: input["depth"].as_u64().unwrap_or(20) as usize,
            max_nodes: 10_000,
            ..Limits::default()
        },
        Paths::Via,
    );
    walk.nodes.retain(|n| n.depth > 0);
    Ok(json!({"entityRef": r, "items": walk.nodes, "truncated": walk.truncated}))
}
