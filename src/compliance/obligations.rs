//! The obligations as a scorecard (`scorecard:default/eu-ai-act`): each obligation of the rule
//! pack is a check that applies to an AI system by its tier, flags and role, passes on its
//! evidence, and before its date is shown but does not count. Compiled again when the pack or a
//! template (which tiers it is mandated for) changes.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::{mandates, Evidence, PackSource, RulePack, ATTESTATIONS};
use crate::model::rule::Condition;
use crate::readmodel::filter::Predicate;
use crate::readmodel::Snapshot;
use crate::scorecard::{
    Check, CheckKind, Facts, ProvidedChecks, Scorecard, ScorecardSource, Status,
};
use crate::storage::CheckInputRow;

/// Compiles the rule pack into the obligations scorecard for the engine.
pub struct ObligationsSource {
    pack: Arc<PackSource>,
}

impl ObligationsSource {
    pub fn new(pack: Arc<PackSource>) -> ObligationsSource {
        ObligationsSource { pack }
    }
}

impl ScorecardSource for ObligationsSource {
    fn signature(&self, snap: &Snapshot) -> Option<String> {
        let (pack, _) = self.pack.get().ok()?;
        let mut signature: String = snap
            .docs
            .iter()
            .filter(|d| &*d.kind == "Template")
            .map(|d| format!("{}:{};", d.entity_ref, crate::scorecard::etag_of(&d.json)))
            .collect();
        signature.push_str(&format!("pack:{:p}", Arc::as_ptr(&pack)));
        Some(signature)
    }

    fn compile(&self, snap: &Snapshot) -> Option<Scorecard> {
        let (pack, _) = self.pack.get().ok()?;
        Some(scorecard(pack, mandates::mandated_by_tier(snap)))
    }
}

fn scorecard(pack: Arc<RulePack>, mandated: HashMap<String, Vec<String>>) -> Scorecard {
    let checks = pack
        .obligations
        .iter()
        .map(|o| Check {
            id: o.id.clone(),
            name: o.title.clone(),
            description: Some(o.cite.clone()),
            level: "compliant".into(),
            weight: 1.0,
            solution: None,
            rule: Condition::All(vec![]),
            rule_json: Value::Null,
            links: vec![],
            filter: None,
            metadata: serde_json::Map::new(),
            success_metadata: None,
            failure_metadata: None,
            kind: CheckKind::Automatic,
            active_from: None,
            cycle: None,
        })
        .collect();
    Scorecard {
        entity_ref: ATTESTATIONS.into(),
        title: format!("EU AI Act obligations ({} {})", pack.name, pack.version),
        levels: vec!["compliant".into()],
        checks,
        filter: Some(Predicate::In("kind".into(), vec!["aiagent".into()])),
        exemptions: vec![],
        // Obligations fall due with the date: look again every day.
        schedule: std::str::FromStr::from_str("0 0 0 * * *").ok(),
        problems: vec![],
        provided: Some(Arc::new(Obligations { pack, mandated })),
    }
}

/// The obligations' statuses for one system, from the pack and the templates mandated per tier.
#[derive(Debug)]
struct Obligations {
    pack: Arc<RulePack>,
    mandated: HashMap<String, Vec<String>>,
}

impl ProvidedChecks for Obligations {
    fn statuses(
        &self,
        facts: &Facts,
        input: &dyn Fn(&str) -> Option<CheckInputRow>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> HashMap<String, (Status, String)> {
        let entity = facts.entity();
        let classification = self.pack.classify(entity);
        let files = facts.repository_files();
        let attestations: HashMap<String, (String, String, String, i64)> = self
            .pack
            .obligations
            .iter()
            .filter_map(|o| {
                input(&o.id).map(|r| (o.id.clone(), (r.result, r.author, r.justification, r.at)))
            })
            .collect();
        let evidence = Evidence {
            entity,
            files: &files,
            pushed: facts.pushed_map(),
            attestations: &attestations,
            mandated: classification["tier"]
                .as_str()
                .and_then(|t| self.mandated.get(t))
                .map_or(&[], Vec::as_slice),
            now,
        };
        evidence
            .assess(&self.pack, &classification)
            .into_iter()
            .map(|o| {
                let list = |k: &str| {
                    o[k].as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_default()
                };
                let status = match o["status"].as_str() {
                    Some("pass") => (Status::Pass, list("evidence")),
                    Some("exempt") => (Status::Exempt, list("evidence")),
                    Some("not-yet-due") => (
                        Status::Inactive,
                        format!(
                            "counts from {}",
                            o["appliesFrom"].as_str().unwrap_or_default()
                        ),
                    ),
                    _ => (Status::Fail, list("missing")),
                };
                (o["id"].as_str().unwrap_or_default().to_string(), status)
            })
            .collect()
    }
}
