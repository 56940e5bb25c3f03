//! The compliance dashboard's data: every AI system with its tier, role, owner, obligations met,
//! due and overdue and the nearest deadline, filtered by tier, owner and due date.

use serde_json::{json, Value};

use super::assess::{assess_all, Inputs};
use super::RulePack;
use crate::error::Error;

/// The dashboard's filters; `None` keeps every system.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub tier: Option<String>,
    /// Lowercase owner ref.
    pub owner: Option<String>,
    /// `YYYY-MM-DD`: only systems with an open obligation due by then.
    pub due_before: Option<String>,
}

/// The page's data: the pack, today, the filters and the matching systems.
pub fn dashboard(inputs: Inputs, p: &RulePack, filters: &Filters) -> Result<Value, Error> {
    let today = chrono::Utc::now().date_naive().to_string();
    let systems = assess_all(inputs, p, |entity_ref, entity, a| {
        row(&entity_ref, &entity, &a, filters, &today)
    })?;
    let tiers: Vec<Value> = p
        .tier_names()
        .into_iter()
        .map(|t| json!({"name": t, "selected": filters.tier.as_deref() == Some(t)}))
        .collect();
    Ok(json!({
        "rulePack": {"name": p.name, "version": p.version, "legalText": p.legal_text},
        "today": today,
        "tiers": tiers,
        "filters": {"owner": filters.owner, "dueBefore": filters.due_before},
        "count": systems.len(),
        "systems": systems,
    }))
}

/// One system's row, or `None` when the filters leave it out.
fn row(
    entity_ref: &str,
    entity: &Value,
    a: &Value,
    filters: &Filters,
    today: &str,
) -> Option<Value> {
    let c = &a["classification"];
    if filters.tier.as_deref().is_some_and(|t| c["tier"] != t) {
        return None;
    }
    if filters.owner.as_deref().is_some_and(|o| {
        entity["spec"]["owner"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref()
            != Some(o)
    }) {
        return None;
    }
    let obligations = a["obligations"].as_array().cloned().unwrap_or_default();
    let open: Vec<&Value> = obligations
        .iter()
        .filter(|o| o["met"] != true && o["status"] != "exempt")
        .collect();
    let nearest = open
        .iter()
        .filter(|o| o["appliesFrom"].as_str().is_some_and(|d| d >= today))
        .min_by_key(|o| o["appliesFrom"].as_str().map(str::to_owned))
        .map(|o| json!({"id": o["id"], "appliesFrom": o["appliesFrom"]}));
    if let Some(before) = &filters.due_before {
        let due_soon = open.iter().any(|o| {
            o["appliesFrom"]
                .as_str()
                .is_none_or(|d| d <= before.as_str())
        });
        if !due_soon {
            return None;
        }
    }
    let count = |f: &dyn Fn(&Value) -> bool| obligations.iter().filter(|o| f(o)).count();
    Some(json!({
        "path": path_of(entity_ref),
        "entityRef": entity_ref,
        "tier": c["tier"], "basis": c["basis"], "flags": c["flags"], "role": c["role"],
        "owner": entity["spec"]["owner"],
        "met": count(&|o| o["met"] == true || o["status"] == "exempt"),
        "due": count(&|o| o["status"] == "not-yet-due" && o["met"] != true),
        "overdue": count(&|o| o["status"] == "fail"),
        "nearest": nearest,
    }))
}

/// `kind/namespace/name` of a ref, for links to a system's page.
pub fn path_of(entity_ref: &str) -> String {
    let r = crate::model::EntityRef::parse(entity_ref, None, "default").expect("a stored ref");
    format!("{}/{}/{}", r.kind, r.namespace, r.name)
}

/// Every AI system with its tier, obligation counts and next open obligation.
pub fn systems(inputs: Inputs, p: &RulePack) -> Result<Vec<Value>, Error> {
    assess_all(inputs, p, |entity_ref, entity, a| {
        Some(json!({
            "entityRef": entity_ref,
            "owner": entity["spec"]["owner"],
            "tier": a["classification"]["tier"],
            "basis": a["classification"]["basis"],
            "flags": a["classification"]["flags"],
            "summary": a["summary"],
            "nextDue": a["obligations"].as_array().and_then(|o| o.iter().find(|x| x["status"] != "pass")).map(|x| json!({"id": x["id"], "appliesFrom": x["appliesFrom"]})),
        }))
    })
}
