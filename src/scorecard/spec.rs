//! Reading scorecards: a `Scorecard` entity's spec or the app-config's Tech Insights checks
//! into checks, levels, filter and exemptions; and cycles of `atLeastLevel` rules across
//! scorecards.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::*;

impl Scorecard {
    /// Reads a served `Scorecard` entity; its spec was validated at ingest.
    pub fn from_entity(entity: &Value) -> Option<Scorecard> {
        let spec = &entity["spec"];
        let checks = spec["checks"]
            .as_array()?
            .iter()
            .filter_map(|c| {
                Some(Check {
                    id: c["id"].as_str()?.to_string(),
                    name: c["name"].as_str()?.to_string(),
                    description: c["description"].as_str().map(str::to_owned),
                    level: c["level"].as_str()?.to_string(),
                    weight: c["weight"].as_f64().unwrap_or(1.0),
                    solution: c["solution"].as_str().map(str::to_owned),
                    rule: match CheckKind::of(c) {
                        CheckKind::Automatic => rule::parse(&c["rule"]).ok()?,
                        _ => Condition::All(vec![]),
                    },
                    kind: CheckKind::of(c),
                    active_from: c["activeFrom"]
                        .as_str()
                        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
                    rule_json: c["rule"].clone(),
                    links: c["links"].as_array().cloned().unwrap_or_default(),
                    filter: None,
                    metadata: serde_json::Map::new(),
                    success_metadata: None,
                    failure_metadata: None,
                    cycle: None,
                })
            })
            .collect();
        let exemptions = spec["exemptions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let entity = match e["entity"].as_str() {
                    Some(r) => ExemptEntities::Ref(
                        crate::model::EntityRef::parse(r, None, "default")
                            .ok()?
                            .canonical(),
                    ),
                    None => ExemptEntities::Filter(
                        crate::readmodel::filter::filter_set(&e["filter"])?,
                        e["filter"].clone(),
                    ),
                };
                Some(Exemption {
                    entity,
                    checks: e["checks"]
                        .as_array()?
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    reason: e["reason"].as_str()?.to_string(),
                    approver: e["approver"].as_str()?.to_string(),
                    expires: chrono::NaiveDate::parse_from_str(e["expires"].as_str()?, "%Y-%m-%d")
                        .ok()?,
                })
            })
            .collect();
        Some(Scorecard {
            entity_ref: crate::model::entity_ref_of(entity).canonical(),
            title: entity["metadata"]["title"]
                .as_str()
                .or(entity["metadata"]["name"].as_str())
                .unwrap_or_default()
                .to_string(),
            levels: spec["levels"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            checks,
            filter: crate::readmodel::filter::filter_set(&spec["filter"]),
            exemptions,
            schedule: spec["schedule"]
                .as_str()
                .and_then(|c| std::str::FromStr::from_str(c).ok()),
            problems: vec![],
            provided: None,
        })
    }

    /// The checks whose own filter (if any) matches the entity.
    pub fn applicable_checks<'a>(
        &'a self,
        entity: &'a Value,
    ) -> impl Iterator<Item = &'a Check> + 'a {
        self.checks
            .iter()
            .filter(move |c| c.filter.as_ref().is_none_or(|f| matches_filter(entity, f)))
    }

    /// The check id Tech Insights clients see: the configured id for `techInsights` checks,
    /// `<scorecard>.<check>` for scorecard checks.
    pub fn tech_insights_id(&self, check: &Check) -> String {
        if self.entity_ref == TECH_INSIGHTS_SCORECARD {
            check.id.clone()
        } else {
            format!(
                "{}.{}",
                self.entity_ref.rsplit('/').next().unwrap_or_default(),
                check.id
            )
        }
    }

    /// Builds the scorecard of `techInsights.factChecker.checks` from an app-config.
    pub fn from_tech_insights_config(
        checks: &serde_json::Map<String, Value>,
    ) -> Result<Scorecard, String> {
        let mut out = Vec::new();
        for (id, c) in checks {
            let field = format!("techInsights.factChecker.checks.{id}");
            let conditions = &c["rule"]["conditions"];
            let rule = rule::parse(conditions)
                .map_err(|(at, m)| format!("{field}.rule.conditions.{at}: {m}"))?;
            let metadata = c["metadata"].as_object().cloned().unwrap_or_default();
            out.push(Check {
                id: id.clone(),
                name: c["name"].as_str().unwrap_or(id).to_string(),
                description: c["description"].as_str().map(str::to_owned),
                level: TECH_INSIGHTS_LEVEL.into(),
                weight: 1.0,
                solution: metadata
                    .get("solution")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                rule,
                kind: CheckKind::Automatic,
                active_from: None,
                rule_json: conditions.clone(),
                links: c["links"].as_array().cloned().unwrap_or_default(),
                filter: c.get("filter").cloned(),
                metadata,
                success_metadata: c.get("successMetadata").cloned(),
                failure_metadata: c.get("failureMetadata").cloned(),
                cycle: None,
            });
        }
        Ok(Scorecard {
            entity_ref: TECH_INSIGHTS_SCORECARD.into(),
            title: "Tech Insights checks".into(),
            levels: vec![TECH_INSIGHTS_LEVEL.into()],
            checks: out,
            filter: None,
            exemptions: vec![],
            schedule: None,
            problems: vec![],
            provided: None,
        })
    }
}

/// Marks the checks whose `atLeastLevel` rules read, directly or through other scorecards, a
/// level that depends on the check itself. Such a level has no well-founded value once
/// entities depend on each other, so the check errs and its scorecard reports the cycle.
/// Reading a lower level of the same scorecard is fine (silver may ask for bronze dependencies).
pub fn mark_level_cycles(cards: &mut [Scorecard]) {
    let position = |card: &str, level: &str| -> Option<(usize, usize)> {
        let c = cards.iter().position(|x| x.entity_ref == card)?;
        Some((c, cards[c].levels.iter().position(|l| l == level)?))
    };
    // (card, level) → the (card, level) nodes its checks read.
    let mut reads: HashMap<(usize, usize), Vec<(usize, usize)>> = HashMap::new();
    for (ci, card) in cards.iter().enumerate() {
        for check in &card.checks {
            let mut targets = Vec::new();
            check.rule.level_reads(&mut targets);
            let Some(lc) = card.levels.iter().position(|l| *l == check.level) else {
                continue;
            };
            for (s, l) in targets {
                let Some(node) = position(&s, &l) else {
                    continue;
                };
                for level in lc..card.levels.len() {
                    reads.entry((ci, level)).or_default().push(node);
                }
            }
        }
    }
    let name = |(c, l): (usize, usize)| format!("{} {}", cards[c].entity_ref, cards[c].levels[l]);
    let mut found: Vec<(usize, usize, String)> = Vec::new();
    for (ci, card) in cards.iter().enumerate() {
        for (k, check) in card.checks.iter().enumerate() {
            let mut targets = Vec::new();
            check.rule.level_reads(&mut targets);
            let Some(lc) = card.levels.iter().position(|l| *l == check.level) else {
                continue;
            };
            // Depth-first from each level the check reads, back to a level holding the check.
            for (s, l) in targets {
                let Some(start) = position(&s, &l) else {
                    continue;
                };
                let mut stack = vec![(start, vec![start])];
                let mut seen = HashSet::new();
                let mut path_back = None;
                while let Some((node, path)) = stack.pop() {
                    if node.0 == ci && node.1 >= lc {
                        path_back = Some(path);
                        break;
                    }
                    if !seen.insert(node) {
                        continue;
                    }
                    for next in reads.get(&node).into_iter().flatten() {
                        let mut p = path.clone();
                        p.push(*next);
                        stack.push((*next, p));
                    }
                }
                if let Some(path) = path_back {
                    let mut steps = vec![format!("{} {}", card.entity_ref, check.level)];
                    steps.extend(path.into_iter().map(name));
                    found.push((
                        ci,
                        k,
                        format!(
                            "atLeastLevel cycle: {} (each level needs the next); read a lower level or another scorecard",
                            steps.join(" → ")
                        ),
                    ));
                    break;
                }
            }
        }
    }
    for (ci, k, message) in found {
        let card = &mut cards[ci];
        card.problems
            .push((format!("spec.checks.{k}.rule"), message.clone()));
        card.checks[k].cycle = Some(message);
    }
}
