//! The scorecard engine: `Scorecard` entities (rules in YAML, ingested like any entity) are
//! evaluated against the entities their filter selects. Evaluation is incremental — only
//! entities whose served form or repository changed are re-evaluated, everything when a
//! scorecard changes — and every change of a check's result is appended to the history.

mod eval;
mod inputs;
pub mod rollup;
pub mod trend;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde_json::Value;

use crate::model::rule::{self, Condition};
use crate::readmodel::filter::Predicate;
use crate::readmodel::Snapshot;
use crate::storage::{CheckInputRow, Db, NewHistoryRow};

pub use eval::{annotate, etag_of, holds, matches_filter, Facts};

/// The pseudo-scorecard holding `techInsights.factChecker.checks` from the app-config.
pub const TECH_INSIGHTS_SCORECARD: &str = "scorecard:default/tech-insights";
const TECH_INSIGHTS_LEVEL: &str = "checks";

/// Checks whose statuses a layer above the engine decides (the EU AI Act obligations, from
/// compliance): for one entity, each applicable check's status and why. A check left out does
/// not apply.
pub trait ProvidedChecks: Send + Sync + std::fmt::Debug {
    fn statuses(
        &self,
        facts: &Facts,
        input: &dyn Fn(&str) -> Option<CheckInputRow>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> HashMap<String, (Status, String)>;
}

/// A scorecard compiled from policy outside the catalog (the rule pack), compiled again whenever
/// its signature changes.
pub trait ScorecardSource: Send + Sync {
    /// What the scorecard depends on in this snapshot; `None` when there is no scorecard (the
    /// policy does not load).
    fn signature(&self, snap: &Snapshot) -> Option<String>;
    fn compile(&self, snap: &Snapshot) -> Option<Scorecard>;
}

/// A parsed scorecard.
#[derive(Debug, Clone)]
pub struct Scorecard {
    pub entity_ref: String,
    pub title: String,
    pub levels: Vec<String>,
    pub checks: Vec<Check>,
    pub filter: Option<Predicate>,
    pub exemptions: Vec<Exemption>,
    /// When to re-evaluate every entity even if nothing changed (time-based rules).
    pub schedule: Option<cron::Schedule>,
    /// Problems found across scorecards (cycles of `atLeastLevel` rules), by field.
    pub problems: Vec<(String, String)>,
    /// For a scorecard compiled by a [`ScorecardSource`]: what decides its checks' statuses.
    pub provided: Option<Arc<dyn ProvidedChecks>>,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub level: String,
    pub weight: f64,
    pub solution: Option<String>,
    pub rule: Condition,
    /// The rule as written, for the Tech Insights `/checks` listing.
    pub rule_json: Value,
    pub links: Vec<Value>,
    /// Only entities matching this Tech Insights-style filter get the check.
    pub filter: Option<Value>,
    /// Tech Insights metadata from `techInsights.factChecker.checks`.
    pub metadata: serde_json::Map<String, Value>,
    pub success_metadata: Option<Value>,
    pub failure_metadata: Option<Value>,
    pub kind: CheckKind,
    /// Before this date the check is shown but does not count.
    pub active_from: Option<chrono::NaiveDate>,
    /// Set when the check's `atLeastLevel` rule depends on its own result; the check errs.
    pub cycle: Option<String>,
}

/// Where a check's result comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    /// A rule over facts.
    Automatic,
    /// A person records pass or fail with a justification, valid for some days.
    Attested { valid_for_days: i64 },
    /// CI pushes the result through the API.
    Pushed,
}

impl CheckKind {
    fn of(check: &Value) -> CheckKind {
        match check["type"].as_str() {
            Some("attested") => CheckKind::Attested {
                valid_for_days: check["validForDays"].as_i64().unwrap_or(90),
            },
            Some("pushed") => CheckKind::Pushed,
            _ => CheckKind::Automatic,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Exemption {
    pub entity: ExemptEntities,
    pub checks: Vec<String>,
    pub reason: String,
    pub approver: String,
    pub expires: chrono::NaiveDate,
}

/// Which entities an exemption covers.
#[derive(Debug, Clone)]
pub enum ExemptEntities {
    /// One entity, by ref.
    Ref(String),
    /// Every entity matching a filter (Backstage's filter syntax), and the filter as written.
    Filter(Predicate, Value),
}

impl ExemptEntities {
    fn covers(&self, entity_ref: &str, entity: &Value) -> bool {
        match self {
            ExemptEntities::Ref(r) => r == entity_ref,
            ExemptEntities::Filter(f, _) => f.matches_entity(entity),
        }
    }
}

/// A check's outcome for one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Exempt,
    Error,
    /// Before the check's `activeFrom`: shown, not counted.
    Inactive,
    /// The check's own filter does not select the entity.
    NotApplicable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Exempt => "exempt",
            Status::Error => "error",
            Status::Inactive => "inactive",
            Status::NotApplicable => "n/a",
        }
    }

    fn from_result(s: &str) -> Status {
        if s == "pass" {
            Status::Pass
        } else {
            Status::Fail
        }
    }

    /// Whether it lets the entity hold a level.
    pub fn counts_ok(self) -> bool {
        !matches!(self, Status::Fail | Status::Error)
    }
}

/// What the engine keeps per entity and scorecard: statuses aligned with the scorecard's checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub entity_ref: String,
    /// Index into the scorecard's levels.
    pub level: Option<u8>,
    pub score: f64,
    pub statuses: Box<[Status]>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub id: String,
    pub name: String,
    pub level: String,
    /// pass, fail, exempt or error.
    pub status: String,
    /// The fact values that decided it.
    pub evidence: Vec<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solution: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    pub fact: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub operator: String,
    pub expected: Value,
    pub actual: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityResult {
    pub entity_ref: String,
    pub scorecard: String,
    /// The highest level whose checks, and all lower levels' checks, pass or are exempt.
    pub level: Option<String>,
    /// Weighted share of passing (or exempt) checks, 0–100.
    pub score: f64,
    pub checks: Vec<CheckResult>,
    pub evaluated_at: String,
}

fn filter_of(v: &Value) -> Option<Predicate> {
    let sets: Vec<&Value> = match v {
        Value::Array(list) => list.iter().collect(),
        Value::Object(_) => vec![v],
        _ => return None,
    };
    let mut any = Vec::new();
    for set in sets {
        let mut all = Vec::new();
        for (k, val) in set.as_object()? {
            let values: Vec<String> = match val {
                Value::String(s) => vec![s.to_lowercase()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_lowercase)
                    .collect(),
                _ => return None,
            };
            all.push(Predicate::In(k.to_lowercase(), values));
        }
        any.push(Predicate::All(all));
    }
    Some(Predicate::Any(any))
}

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
                    None => ExemptEntities::Filter(filter_of(&e["filter"])?, e["filter"].clone()),
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
            filter: filter_of(&spec["filter"]),
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
        self.checks.iter().filter(move |c| {
            c.filter
                .as_ref()
                .is_none_or(|f| eval::matches_filter(entity, f))
        })
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

    fn exemption(
        &self,
        entity_ref: &str,
        entity: &Value,
        check: &str,
        today: chrono::NaiveDate,
    ) -> Option<&Exemption> {
        self.exemptions.iter().find(|e| {
            e.expires >= today
                && e.checks.iter().any(|c| c == check)
                && e.entity.covers(entity_ref, entity)
        })
    }

    /// One check's status for an entity, and why; fills `evidence` when given.
    fn check_status(
        &self,
        c: &Check,
        entity_ref: &str,
        facts: &Facts,
        input: &dyn Fn(&str) -> Option<CheckInputRow>,
        now: chrono::DateTime<chrono::Utc>,
        evidence: Option<&mut Vec<Evidence>>,
    ) -> (Status, Option<String>) {
        let today = now.date_naive();
        let (status, reason) = match &c.kind {
            _ if c.active_from.is_some_and(|d| today < d) => (
                Status::Inactive,
                Some(format!("counts from {}", c.active_from.expect("checked"))),
            ),
            CheckKind::Automatic if c.cycle.is_some() => (Status::Error, c.cycle.clone()),
            CheckKind::Automatic => match eval::holds(&c.rule, facts, evidence) {
                Ok(true) => (Status::Pass, None),
                Ok(false) => (Status::Fail, None),
                Err(e) => (Status::Error, Some(e)),
            },
            CheckKind::Attested { valid_for_days } => match input(&c.id) {
                None => (Status::Fail, Some("not attested yet".to_string())),
                Some(a) => {
                    let until = chrono::DateTime::from_timestamp(a.at, 0).unwrap_or(now)
                        + chrono::Duration::days(*valid_for_days);
                    if until < now {
                        (
                            Status::Fail,
                            Some(format!(
                                "the attestation by {} expired on {}; attest again",
                                a.author,
                                until.date_naive()
                            )),
                        )
                    } else {
                        (
                            Status::from_result(&a.result),
                            Some(format!(
                                "attested by {} until {}: {}",
                                a.author,
                                until.date_naive(),
                                a.justification
                            )),
                        )
                    }
                }
            },
            CheckKind::Pushed => match input(&c.id) {
                None => (Status::Fail, Some("no result pushed yet".to_string())),
                Some(r) => (
                    Status::from_result(&r.result),
                    Some(format!("pushed by {}: {}", r.author, r.justification)),
                ),
            },
        };
        if status == Status::Fail {
            if let Some(x) = self.exemption(entity_ref, facts.entity(), &c.id, today) {
                return (
                    Status::Exempt,
                    Some(format!(
                        "exempt until {}: {} (approved by {})",
                        x.expires, x.reason, x.approver
                    )),
                );
            }
        }
        (status, reason)
    }

    /// The level reached and the weighted score for statuses aligned with `checks`. Inactive
    /// and not-applicable checks count neither for the level nor for the score.
    fn grade(&self, statuses: &[Status]) -> (Option<u8>, f64) {
        let pos = |name: &str| {
            self.levels
                .iter()
                .position(|x| x == name)
                .unwrap_or(usize::MAX)
        };
        let mut level = None;
        for (li, l) in self.levels.iter().enumerate() {
            let held = self
                .checks
                .iter()
                .zip(statuses)
                .filter(|(c, _)| pos(&c.level) <= pos(l))
                .all(|(_, s)| s.counts_ok());
            if held {
                level = Some(li as u8);
            } else {
                break;
            }
        }
        let counted: Vec<(f64, bool)> = self
            .checks
            .iter()
            .zip(statuses)
            .filter(|(_, s)| !matches!(s, Status::Inactive | Status::NotApplicable))
            .map(|(c, s)| (c.weight, s.counts_ok()))
            .collect();
        let total: f64 = counted.iter().map(|(w, _)| w).sum();
        let passed: f64 = counted.iter().filter(|(_, ok)| *ok).map(|(w, _)| w).sum();
        let score = if total > 0.0 {
            (passed / total * 1000.0).round() / 10.0
        } else {
            100.0
        };
        (level, score)
    }

    /// The statuses of a provided scorecard's checks for one entity (absent: not applicable);
    /// a failing one may still be exempted through the exemptions API.
    fn provided_statuses(
        &self,
        entity_ref: &str,
        facts: &Facts,
        input: &dyn Fn(&str) -> Option<CheckInputRow>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<HashMap<String, (Status, Option<String>)>> {
        let provided = self.provided.as_ref()?;
        let statuses = provided.statuses(facts, input, now);
        Some(
            statuses
                .into_iter()
                .map(|(id, (status, reason))| {
                    let exemption = (status == Status::Fail)
                        .then(|| self.exemption(entity_ref, facts.entity(), &id, now.date_naive()))
                        .flatten();
                    let (status, reason) = match exemption {
                        Some(x) => (
                            Status::Exempt,
                            format!(
                                "exempt until {}: {} (approved by {})",
                                x.expires, x.reason, x.approver
                            ),
                        ),
                        None => (status, reason),
                    };
                    (id, (status, Some(reason).filter(|r| !r.is_empty())))
                })
                .collect(),
        )
    }

    /// The compact result the engine keeps: one status per check.
    pub fn summarize(
        &self,
        entity_ref: &str,
        facts: &Facts,
        input: &dyn Fn(&str) -> Option<CheckInputRow>,
    ) -> Summary {
        let now = chrono::Utc::now();
        let obligations = self.provided_statuses(entity_ref, facts, input, now);
        let statuses: Vec<Status> = self
            .checks
            .iter()
            .map(|c| {
                if let Some(o) = &obligations {
                    return o.get(&c.id).map_or(Status::NotApplicable, |x| x.0);
                }
                if c.filter
                    .as_ref()
                    .is_some_and(|f| !eval::matches_filter(facts.entity(), f))
                {
                    return Status::NotApplicable;
                }
                self.check_status(c, entity_ref, facts, input, now, None).0
            })
            .collect();
        let (level, score) = self.grade(&statuses);
        Summary {
            entity_ref: entity_ref.to_string(),
            level,
            score,
            statuses: statuses.into_boxed_slice(),
        }
    }

    pub fn level_name(&self, level: Option<u8>) -> Option<String> {
        level.and_then(|l| self.levels.get(l as usize).cloned())
    }

    /// Evaluates every check for one entity with evidence and reasons; `input` gives the
    /// attestation or pushed result recorded for a check, if any.
    pub fn evaluate(
        &self,
        entity_ref: &str,
        facts: &Facts,
        input: &dyn Fn(&str) -> Option<CheckInputRow>,
    ) -> EntityResult {
        let now = chrono::Utc::now();
        let mut statuses = Vec::new();
        let mut checks = Vec::new();
        let obligations = self.provided_statuses(entity_ref, facts, input, now);
        for c in &self.checks {
            if let Some(o) = &obligations {
                let Some((status, reason)) = o.get(&c.id).cloned() else {
                    statuses.push(Status::NotApplicable);
                    continue;
                };
                statuses.push(status);
                checks.push(CheckResult {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    level: c.level.clone(),
                    solution: None,
                    status: status.as_str().to_string(),
                    evidence: vec![],
                    reason,
                });
                continue;
            }
            if c.filter
                .as_ref()
                .is_some_and(|f| !eval::matches_filter(facts.entity(), f))
            {
                statuses.push(Status::NotApplicable);
                continue;
            }
            let mut evidence = Vec::new();
            let (status, reason) =
                self.check_status(c, entity_ref, facts, input, now, Some(&mut evidence));
            statuses.push(status);
            checks.push(CheckResult {
                id: c.id.clone(),
                name: c.name.clone(),
                level: c.level.clone(),
                solution: if status == Status::Fail {
                    c.solution.clone()
                } else {
                    None
                },
                status: status.as_str().to_string(),
                evidence,
                reason,
            });
        }
        let (level, score) = self.grade(&statuses);
        EntityResult {
            entity_ref: entity_ref.to_string(),
            scorecard: self.entity_ref.clone(),
            level: self.level_name(level),
            score,
            checks,
            evaluated_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
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

#[derive(Default)]
struct Evaluated {
    /// Entities to re-evaluate at the next run because a level they may read moved.
    pending: HashSet<String>,
    /// Consecutive runs in which levels moved.
    rounds: u32,
    /// When each scheduled scorecard last ran.
    schedule_runs: HashMap<String, chrono::DateTime<chrono::Utc>>,
    /// Scorecards as ingested or configured, before API exemptions are added.
    base: Vec<Arc<Scorecard>>,
    /// Exemptions granted through the API.
    granted: Vec<crate::storage::ExemptionRow>,
    /// The snapshot (its address) last evaluated.
    snapshot: Option<i64>,
    /// The last change of the change log followed (pushed facts, check inputs, exemptions,
    /// repositories, written by any replica); `None` before the first evaluation.
    change_seq: Option<i64>,
    /// entity → facts pushed for it.
    pushed: HashMap<String, serde_json::Map<String, Value>>,
    /// (scorecard, entity, check) → attestation or pushed result.
    inputs: HashMap<(String, String, String), CheckInputRow>,
    scorecards: String,
    etags: HashMap<String, String>,
    commits: HashMap<String, String>,
    /// (scorecard, entity) → check → last recorded status, loaded from history at the first
    /// run (empty afterwards: the previous results serve).
    last: Option<HashMap<(String, String), HashMap<String, String>>>,
    /// The check ids of each scorecard at the last evaluation, to read previous statuses.
    card_ids: HashMap<String, Vec<String>>,
}

/// Current results, kept up to date by [`Engine::evaluate`].
pub struct Engine {
    db: Db,
    /// Scorecards from configuration rather than the catalog.
    configured: Vec<Arc<Scorecard>>,
    /// Scorecards compiled from policy outside the catalog (the EU AI Act obligations).
    source: Option<Arc<dyn ScorecardSource>>,
    scorecards: RwLock<Vec<Arc<Scorecard>>>,
    /// scorecard ref → entity ref → result.
    results: RwLock<HashMap<String, HashMap<String, Arc<Summary>>>>,
    state: Mutex<Evaluated>,
    recording: std::sync::atomic::AtomicBool,
}

impl Engine {
    pub fn new(
        db: Db,
        configured: Vec<Scorecard>,
        source: Option<Arc<dyn ScorecardSource>>,
    ) -> Engine {
        let configured: Vec<Arc<Scorecard>> = configured.into_iter().map(Arc::new).collect();
        Engine {
            db,
            source,
            scorecards: RwLock::new(configured.clone()),
            state: Mutex::new(Evaluated {
                base: configured.clone(),
                ..Default::default()
            }),
            configured,
            results: RwLock::new(HashMap::new()),
            recording: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn scorecards(&self) -> Vec<Arc<Scorecard>> {
        self.scorecards.read().clone()
    }

    /// Every entity's summary for a scorecard, by entity ref.
    pub fn results_for(&self, scorecard: &str) -> Vec<Arc<Summary>> {
        let mut v: Vec<_> = self
            .results
            .read()
            .get(scorecard)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.entity_ref.cmp(&b.entity_ref));
        v
    }

    pub fn result_of(&self, scorecard: &str, entity_ref: &str) -> Option<Arc<Summary>> {
        self.results
            .read()
            .get(scorecard)
            .and_then(|m| m.get(entity_ref).cloned())
    }

    /// Full results with evidence for one entity, evaluated now for every scorecard that
    /// applies to it.
    pub fn explain(
        &self,
        snap: &Snapshot,
        entity_ref: &str,
    ) -> crate::storage::Result<Vec<EntityResult>> {
        let Some(&index) = snap.by_ref.get(entity_ref) else {
            return Ok(vec![]);
        };
        let doc = &snap.docs[index as usize];
        let entity: Value = serde_json::from_str(&doc.json).unwrap_or(Value::Null);
        let repo = match crate::model::origin_of(&entity) {
            Some(o) => self.db.repository(o)?,
            None => None,
        };
        let (pushed, inputs) = {
            let state = self.state.lock();
            let inputs: HashMap<String, CheckInputRow> = state
                .inputs
                .iter()
                .filter(|(k, _)| k.1 == entity_ref)
                .map(|(k, v)| (format!("{}|{}", k.0, k.2), v.clone()))
                .collect();
            (state.pushed.get(entity_ref).cloned(), inputs)
        };
        let scorecards = self.scorecards();
        let facts = Facts::new(entity, repo.as_ref(), pushed.as_ref())
            .with_levels(self.level_index(&scorecards));
        let mut out = Vec::new();
        for card in scorecards {
            if &*doc.kind == "Scorecard"
                || !card
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.matches_doc(snap, index))
            {
                continue;
            }
            let input = |check: &str| inputs.get(&format!("{}|{check}", card.entity_ref)).cloned();
            out.push(card.evaluate(entity_ref, &facts, &input));
        }
        out.sort_by(|a, b| a.scorecard.cmp(&b.scorecard));
        Ok(out)
    }

    /// The levels of the scorecards that `atLeastLevel` rules read, as they are now; `None`
    /// when no rule reads any.
    fn level_index(&self, scorecards: &[Arc<Scorecard>]) -> Option<Arc<eval::LevelIndex>> {
        let mut wanted = Vec::new();
        for card in scorecards {
            for check in &card.checks {
                check.rule.level_dependencies(&mut wanted);
            }
        }
        if wanted.is_empty() {
            return None;
        }
        let results = self.results.read();
        let mut index = eval::LevelIndex::new();
        for w in wanted {
            let Some(card) = scorecards.iter().find(|c| c.entity_ref == w) else {
                continue;
            };
            let reached = results
                .get(&w)
                .map(|m| m.iter().map(|(e, s)| (e.clone(), s.level)).collect())
                .unwrap_or_default();
            index.insert(w, (card.levels.clone(), reached));
        }
        Some(Arc::new(index))
    }

    /// Facts pushed for an entity.
    pub fn pushed_of(&self, entity_ref: &str) -> Option<serde_json::Map<String, Value>> {
        self.state.lock().pushed.get(entity_ref).cloned()
    }

    /// The attestation or pushed result recorded for a check of an entity.
    pub fn input_of(
        &self,
        scorecard: &str,
        entity_ref: &str,
        check: &str,
    ) -> Option<CheckInputRow> {
        self.state
            .lock()
            .inputs
            .get(&(
                scorecard.to_string(),
                entity_ref.to_string(),
                check.to_string(),
            ))
            .cloned()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Brings results up to date with a snapshot; returns how many entity results changed. After
    /// a failure the next evaluation reads every input again.
    pub fn evaluate(&self, snap: &Arc<Snapshot>) -> crate::storage::Result<usize> {
        let evaluated = self.evaluate_changes(snap);
        if evaluated.is_err() {
            self.state.lock().change_seq = None;
        }
        evaluated
    }

    /// Whether this replica records history and audit records (it holds the writer lease).
    pub fn set_recording(&self, on: bool) {
        self.recording
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    fn evaluate_changes(&self, snap: &Arc<Snapshot>) -> crate::storage::Result<usize> {
        let mut state = self.state.lock();
        let key = Some(snap.seq);
        // What other writers (any replica) changed since the last look, from the change log.
        let (inputs_changed, repositories_changed, change_seq) = match state.change_seq {
            None => (true, true, self.db.last_change()?),
            Some(seen) => {
                let changes = self.db.input_changes_after(seen)?;
                let repositories = changes
                    .iter()
                    .any(|c| c.kind == crate::storage::ChangeKind::Repository);
                let inputs = changes
                    .iter()
                    .any(|c| c.kind != crate::storage::ChangeKind::Repository);
                (inputs, repositories, changes.last().map_or(seen, |c| c.seq))
            }
        };
        // Scorecards whose schedule came round re-evaluate everything (time-based rules).
        let now_at = chrono::Utc::now();
        let mut scheduled = false;
        for card in self.scorecards.read().iter() {
            let Some(schedule) = &card.schedule else {
                continue;
            };
            let last = *state
                .schedule_runs
                .entry(card.entity_ref.clone())
                .or_insert(now_at);
            if schedule.after(&last).next().is_some_and(|t| t <= now_at) {
                state.schedule_runs.insert(card.entity_ref.clone(), now_at);
                scheduled = true;
            }
        }
        if scheduled {
            state.etags.clear();
        }
        if !scheduled
            && state.pending.is_empty()
            && state.snapshot == key
            && !inputs_changed
            && !repositories_changed
        {
            return Ok(0);
        }
        let previous_snapshot = std::mem::replace(&mut state.snapshot, key);
        state.change_seq = Some(change_seq);
        // Pushed facts, attestations and pushed results: entities that had or have any are
        // re-evaluated when they change.
        // Entities whose atLeastLevel rules look at an entity whose level just changed.
        let mut dirty_refs: HashSet<String> = std::mem::take(&mut state.pending);
        let mut exemptions_changed = false;
        if inputs_changed {
            let mut pushed: HashMap<String, serde_json::Map<String, Value>> = HashMap::new();
            for f in self.db.load_pushed_facts()? {
                pushed.entry(f.entity_ref).or_default().insert(
                    f.name,
                    serde_json::from_str(&f.value_json).unwrap_or(Value::Null),
                );
            }
            let inputs: HashMap<(String, String, String), CheckInputRow> = self
                .db
                .load_check_inputs()?
                .into_iter()
                .map(|r| {
                    (
                        (
                            r.scorecard.clone(),
                            r.entity_ref.clone(),
                            r.check_id.clone(),
                        ),
                        r,
                    )
                })
                .collect();
            dirty_refs.extend(pushed.keys().chain(state.pushed.keys()).cloned());
            dirty_refs.extend(
                inputs
                    .keys()
                    .chain(state.inputs.keys())
                    .map(|k| k.1.clone()),
            );
            state.pushed = pushed;
            state.inputs = inputs;
            let granted = self.db.load_exemptions()?;
            dirty_refs.extend(
                granted
                    .iter()
                    .chain(state.granted.iter())
                    .map(|e| e.entity_ref.clone()),
            );
            state.granted = granted;
            exemptions_changed = true;
        }
        // Scorecards: when any changed, everything is re-evaluated.
        let cards: Vec<&Arc<crate::readmodel::Doc>> = snap
            .docs
            .iter()
            .filter(|d| &*d.kind == "Scorecard")
            .collect();
        // A provided scorecard (the rule pack's) counts with what it depends on.
        let provided = self
            .source
            .as_ref()
            .and_then(|s| Some((s, s.signature(snap)?)));
        let signature: String = cards
            .iter()
            .map(|d| format!("{}:{};", d.entity_ref, eval::etag_of(&d.json)))
            .chain(provided.as_ref().map(|(_, sig)| sig.clone()))
            .collect();
        if state.scorecards != signature {
            let mut parsed: Vec<Scorecard> = cards
                .iter()
                .filter_map(|d| serde_json::from_str::<Value>(&d.json).ok())
                .filter_map(|v| Scorecard::from_entity(&v))
                .collect();
            mark_level_cycles(&mut parsed);
            parsed.extend(provided.and_then(|(source, _)| source.compile(snap)));
            let mut parsed: Vec<Arc<Scorecard>> = parsed.into_iter().map(Arc::new).collect();
            parsed.extend(self.configured.iter().cloned());
            state.base = parsed;
            state.scorecards = signature;
            state.etags.clear();
            exemptions_changed = true;
        }
        if exemptions_changed {
            // Exemptions granted through the API join those written in the scorecards.
            let effective: Vec<Arc<Scorecard>> = state
                .base
                .iter()
                .map(|card| {
                    let extra: Vec<Exemption> = state
                        .granted
                        .iter()
                        .filter(|g| g.scorecard == card.entity_ref)
                        .filter_map(|g| {
                            Some(Exemption {
                                entity: ExemptEntities::Ref(g.entity_ref.clone()),
                                checks: g.checks(),
                                reason: g.reason.clone(),
                                approver: g.approver.clone(),
                                expires: chrono::NaiveDate::parse_from_str(&g.expires, "%Y-%m-%d")
                                    .ok()?,
                            })
                        })
                        .collect();
                    if extra.is_empty() {
                        card.clone()
                    } else {
                        let mut with = (**card).clone();
                        with.exemptions.extend(extra);
                        Arc::new(with)
                    }
                })
                .collect();
            *self.scorecards.write() = effective;
        }
        // Repositories whose commit moved: their entities' repository facts changed.
        let repos: HashMap<String, crate::storage::RepositoryRow> = self
            .db
            .load_repositories()?
            .into_iter()
            .map(|r| (r.origin.clone(), r))
            .collect();
        let moved: HashSet<String> = repos
            .iter()
            .filter(|(o, r)| state.commits.get(*o) != Some(&r.commit_id))
            .map(|(o, _)| o.clone())
            .collect();
        state.commits = repos
            .iter()
            .map(|(o, r)| (o.clone(), r.commit_id.clone()))
            .collect();

        // Which entities to evaluate: following snapshots one by one, only those that changed;
        // otherwise (first run, skipped snapshots, changed scorecards or repositories) a scan.
        let incremental =
            previous_snapshot == Some(snap.previous) && !state.etags.is_empty() && moved.is_empty();
        let mut dirty: Vec<u32> = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        if incremental {
            let mut seen = HashSet::new();
            for r in snap
                .changed
                .iter()
                .map(|r| r.to_string())
                .chain(dirty_refs.iter().cloned())
            {
                if !seen.insert(r.clone()) {
                    continue;
                }
                match snap.by_ref.get(r.as_str()) {
                    Some(&i) => {
                        state
                            .etags
                            .insert(r, eval::etag_of(&snap.docs[i as usize].json));
                        dirty.push(i);
                    }
                    None => {
                        state.etags.remove(&r);
                        removed.push(r);
                    }
                }
            }
        } else {
            for (i, doc) in snap.docs.iter().enumerate() {
                let etag = eval::etag_of(&doc.json);
                let mut is_dirty = state.etags.get(&*doc.entity_ref) != Some(&etag)
                    || dirty_refs.contains(&*doc.entity_ref);
                if !is_dirty && !moved.is_empty() {
                    is_dirty = origin_of(&doc.json).is_some_and(|o| moved.contains(&o));
                }
                if is_dirty {
                    state.etags.insert(doc.entity_ref.to_string(), etag);
                    dirty.push(i as u32);
                }
            }
            let live: HashSet<&str> = snap.docs.iter().map(|d| &*d.entity_ref).collect();
            removed = state
                .etags
                .keys()
                .filter(|k| !live.contains(k.as_str()))
                .cloned()
                .collect();
            for r in &removed {
                state.etags.remove(r);
            }
        }

        let scorecards = self.scorecards();
        // Which scorecards apply: a few changed docs are matched one by one, a scan uses the
        // snapshot's indexes.
        let applicable: Vec<crate::readmodel::Bitset> = scorecards
            .iter()
            .map(|s| match &s.filter {
                None => snap.all(),
                Some(f) if dirty.len() < 1000 => {
                    let mut set = crate::readmodel::Bitset::empty(snap.len());
                    for &i in &dirty {
                        if f.matches_doc(snap, i) {
                            set.insert(i);
                        }
                    }
                    set
                }
                Some(f) => f.eval(snap),
            })
            .collect();
        let levels = self.level_index(&scorecards);
        let evaluated = evaluate_docs(
            snap,
            &dirty,
            &scorecards,
            &applicable,
            &repos,
            &state.pushed,
            &state.inputs,
            levels.clone(),
        );
        let watched: HashSet<String> = levels
            .as_ref()
            .map(|l| l.keys().cloned().collect())
            .unwrap_or_default();

        // History: every change of a check's status. The previous statuses come from the last
        // evaluation, or, at the first one after a start, from the stored history.
        if state.last.is_none() {
            let mut last: HashMap<(String, String), HashMap<String, String>> = HashMap::new();
            for h in self.db.history(None, None)? {
                let statuses = h.statuses();
                let entry = last.entry((h.scorecard, h.entity_ref)).or_default();
                if h.checks.is_empty() {
                    entry.clear();
                }
                entry.extend(statuses);
            }
            state.last = Some(last);
        }
        let boot = state.last.take().unwrap_or_default();
        let now = chrono::Utc::now().timestamp();
        let mut history = Vec::new();
        let mut changed = 0;
        let mut level_moved: Vec<String> = Vec::new();
        let mut results = self.results.write();
        for (entity_ref, per_card) in evaluated {
            for (card, summary) in scorecards.iter().zip(per_card) {
                let entry = results.entry(card.entity_ref.clone()).or_default();
                let Some(summary) = summary else {
                    if entry.remove(&entity_ref).is_some() {
                        history.push(left(&card.entity_ref, &entity_ref, now));
                    }
                    continue;
                };
                let previous_ids = state.card_ids.get(&card.entity_ref);
                let before = |id: &str| -> Option<String> {
                    match (entry.get(&entity_ref), previous_ids) {
                        (Some(prev), Some(ids)) => ids
                            .iter()
                            .position(|x| x == id)
                            .map(|i| prev.statuses[i].as_str().to_string()),
                        _ => boot
                            .get(&(card.entity_ref.clone(), entity_ref.clone()))
                            .and_then(|m| m.get(id).cloned()),
                    }
                };
                let moved: Vec<String> = card
                    .checks
                    .iter()
                    .zip(summary.statuses.iter())
                    .filter(|(c, s)| {
                        **s != Status::NotApplicable && before(&c.id).as_deref() != Some(s.as_str())
                    })
                    .map(|(c, s)| format!("{}={}", c.id, s.as_str()))
                    .collect();
                if !moved.is_empty() {
                    history.push(NewHistoryRow {
                        scorecard: card.entity_ref.clone(),
                        entity_ref: entity_ref.clone(),
                        level: card.level_name(summary.level),
                        checks: moved.join(";"),
                        at: now,
                    });
                }
                if entry.get(&entity_ref).is_none_or(|p| **p != summary) {
                    changed += 1;
                }
                if watched.contains(&card.entity_ref)
                    && entry
                        .get(&entity_ref)
                        .is_none_or(|p| p.level != summary.level)
                {
                    level_moved.push(entity_ref.clone());
                }
                entry.insert(entity_ref.clone(), Arc::new(summary));
            }
        }
        // Levels that moved re-evaluate the entities related to them (their atLeastLevel rules
        // may read them), until nothing moves; a cycle that keeps moving is cut after 20 rounds.
        if !level_moved.is_empty() {
            state.rounds += 1;
            if state.rounds <= 20 {
                for r in &level_moved {
                    if let Some(doc) = snap.get_by_ref(r) {
                        if let Ok(v) = serde_json::from_str::<Value>(&doc.json) {
                            for rel in v["relations"].as_array().into_iter().flatten() {
                                if let Some(t) = rel["targetRef"].as_str() {
                                    state.pending.insert(t.to_string());
                                }
                            }
                        }
                    }
                }
            } else {
                tracing::warn!(
                    "atLeastLevel levels kept changing for 20 rounds; stopped following them"
                );
            }
        } else {
            state.rounds = 0;
        }
        state.card_ids = scorecards
            .iter()
            .map(|c| {
                (
                    c.entity_ref.clone(),
                    c.checks.iter().map(|x| x.id.clone()).collect(),
                )
            })
            .collect();
        state.last = Some(HashMap::new());
        for (card, per_card) in results.iter_mut() {
            for r in &removed {
                if per_card.remove(r).is_some() {
                    history.push(left(card, r, now));
                }
            }
        }
        results.retain(|k, _| scorecards.iter().any(|s| &s.entity_ref == k));
        // History is written before the new results are visible, so a reader never sees a
        // result whose change is not recorded yet.
        let audit: Vec<crate::model::audit::Entry> = history
            .iter()
            .map(|h| {
                crate::model::audit::Entry::new(
                    &crate::model::audit::Actor::cairn(),
                    "scorecard.result-changed",
                    Some(&h.entity_ref),
                    serde_json::json!({"scorecard": h.scorecard, "level": h.level, "checks": h.checks}),
                )
            })
            .collect();
        // Every replica evaluates; only the writer-lease holder records, so each change is
        // recorded once.
        if self.recording.load(std::sync::atomic::Ordering::SeqCst) {
            self.db.append_history(&history, &audit)?;
        }
        drop(results);
        drop(state);
        Ok(changed)
    }
}

/// The history row recording that an entity left a scorecard (removed, or no longer selected):
/// no level and no checks.
fn left(scorecard: &str, entity_ref: &str, at: i64) -> NewHistoryRow {
    NewHistoryRow {
        scorecard: scorecard.to_string(),
        entity_ref: entity_ref.to_string(),
        level: None,
        checks: String::new(),
        at,
    }
}

fn origin_of(json: &str) -> Option<String> {
    let v: Value = serde_json::from_str(json).ok()?;
    crate::model::origin_of(&v).map(str::to_owned)
}

type DocResults = Vec<(String, Vec<Option<Summary>>)>;

/// Evaluates the given docs against every scorecard, on every core. `None` where a scorecard
/// does not apply.
#[allow(clippy::too_many_arguments)]
fn evaluate_docs(
    snap: &Snapshot,
    docs: &[u32],
    scorecards: &[Arc<Scorecard>],
    applicable: &[crate::readmodel::Bitset],
    repos: &HashMap<String, crate::storage::RepositoryRow>,
    pushed: &HashMap<String, serde_json::Map<String, Value>>,
    inputs: &HashMap<(String, String, String), CheckInputRow>,
    levels: Option<Arc<eval::LevelIndex>>,
) -> DocResults {
    let one = |i: u32| {
        let doc = &snap.docs[i as usize];
        let entity: Value = serde_json::from_str(&doc.json).unwrap_or(Value::Null);
        let origin = crate::model::origin_of(&entity).map(str::to_owned);
        let repo = origin.and_then(|o| repos.get(&o));
        let facts =
            Facts::new(entity, repo, pushed.get(&*doc.entity_ref)).with_levels(levels.clone());
        let per_card = scorecards
            .iter()
            .zip(applicable)
            .map(|(card, set)| {
                if !set.contains(i) || &*doc.kind == "Scorecard" {
                    return None;
                }
                let input = |check: &str| {
                    inputs
                        .get(&(
                            card.entity_ref.clone(),
                            doc.entity_ref.to_string(),
                            check.to_string(),
                        ))
                        .cloned()
                };
                Some(card.summarize(&doc.entity_ref, &facts, &input))
            })
            .collect();
        (doc.entity_ref.to_string(), per_card)
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if threads <= 1 || docs.len() < 256 {
        return docs.iter().map(|&i| one(i)).collect();
    }
    let chunk = docs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = docs
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|&i| one(i)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("scorecard worker panicked"))
            .collect()
    })
}
