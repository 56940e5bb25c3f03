//! The scorecard engine: `Scorecard` entities (rules in YAML, ingested like any entity) are
//! evaluated against the entities their filter selects. Evaluation is incremental — only
//! entities whose served form or repository changed are re-evaluated, everything when a
//! scorecard changes — and every change of a check's result is appended to the history.

mod eval;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde_json::Value;

use crate::model::rule::{self, Condition};
use crate::readmodel::filter::Predicate;
use crate::readmodel::Snapshot;
use crate::storage::{CheckInputRow, Db, NewHistoryRow};

pub use eval::{annotate, Facts};

/// The pseudo-scorecard holding `techInsights.factChecker.checks` from the app-config.
pub const TECH_INSIGHTS_SCORECARD: &str = "scorecard:default/tech-insights";
const TECH_INSIGHTS_LEVEL: &str = "checks";

/// A parsed scorecard.
#[derive(Debug, Clone)]
pub struct Scorecard {
    pub entity_ref: String,
    pub title: String,
    pub levels: Vec<String>,
    pub checks: Vec<Check>,
    pub filter: Option<Predicate>,
    pub exemptions: Vec<Exemption>,
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
    pub entity: String,
    pub checks: Vec<String>,
    pub reason: String,
    pub approver: String,
    pub expires: chrono::NaiveDate,
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
                })
            })
            .collect();
        let exemptions = spec["exemptions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some(Exemption {
                    entity: e["entity"].as_str()?.to_lowercase(),
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
            });
        }
        Ok(Scorecard {
            entity_ref: TECH_INSIGHTS_SCORECARD.into(),
            title: "Tech Insights checks".into(),
            levels: vec![TECH_INSIGHTS_LEVEL.into()],
            checks: out,
            filter: None,
            exemptions: vec![],
        })
    }

    fn exemption(
        &self,
        entity_ref: &str,
        check: &str,
        today: chrono::NaiveDate,
    ) -> Option<&Exemption> {
        self.exemptions.iter().find(|e| {
            e.entity == entity_ref && e.checks.iter().any(|c| c == check) && e.expires >= today
        })
    }

    /// Evaluates every check for one entity; `input` gives the attestation or pushed result
    /// recorded for a check, if any.
    pub fn evaluate(
        &self,
        entity_ref: &str,
        facts: &Facts,
        input: &dyn Fn(&str) -> Option<CheckInputRow>,
    ) -> EntityResult {
        let now = chrono::Utc::now();
        let today = now.date_naive();
        let checks: Vec<CheckResult> = self
            .applicable_checks(facts.entity())
            .map(|c| {
                let (mut status, evidence, mut reason) = match &c.kind {
                    _ if c.active_from.is_some_and(|d| today < d) => (
                        "inactive".to_string(),
                        vec![],
                        Some(format!("counts from {}", c.active_from.expect("checked"))),
                    ),
                    CheckKind::Automatic => match eval::evaluate(&c.rule, facts) {
                        Ok((ok, ev)) => (if ok { "pass" } else { "fail" }.to_string(), ev, None),
                        Err(e) => ("error".to_string(), vec![], Some(e)),
                    },
                    CheckKind::Attested { valid_for_days } => match input(&c.id) {
                        None => (
                            "fail".to_string(),
                            vec![],
                            Some("not attested yet".to_string()),
                        ),
                        Some(a) => {
                            let until = chrono::DateTime::from_timestamp(a.at, 0).unwrap_or(now)
                                + chrono::Duration::days(*valid_for_days);
                            if until < now {
                                (
                                    "fail".to_string(),
                                    vec![],
                                    Some(format!(
                                        "the attestation by {} expired on {}; attest again",
                                        a.author,
                                        until.date_naive()
                                    )),
                                )
                            } else {
                                (
                                    a.result.clone(),
                                    vec![],
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
                        None => (
                            "fail".to_string(),
                            vec![],
                            Some("no result pushed yet".to_string()),
                        ),
                        Some(r) => (
                            r.result.clone(),
                            vec![],
                            Some(format!("pushed by {}: {}", r.author, r.justification)),
                        ),
                    },
                };
                if status == "fail" {
                    if let Some(x) = self.exemption(entity_ref, &c.id, today) {
                        status = "exempt".into();
                        reason = Some(format!(
                            "exempt until {}: {} (approved by {})",
                            x.expires, x.reason, x.approver
                        ));
                    }
                }
                CheckResult {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    level: c.level.clone(),
                    solution: if status == "fail" {
                        c.solution.clone()
                    } else {
                        None
                    },
                    status,
                    evidence,
                    reason,
                }
            })
            .collect();
        // Inactive checks are shown but count neither for the level nor for the score.
        let ok = |r: &CheckResult| matches!(r.status.as_str(), "pass" | "exempt" | "inactive");
        let pos = |name: &str| {
            self.levels
                .iter()
                .position(|x| x == name)
                .unwrap_or(usize::MAX)
        };
        let mut level = None;
        for l in &self.levels {
            if checks.iter().filter(|r| pos(&r.level) <= pos(l)).all(ok) {
                level = Some(l.clone());
            } else {
                break;
            }
        }
        let weight = |id: &str| {
            self.checks
                .iter()
                .find(|c| c.id == id)
                .map_or(1.0, |c| c.weight)
        };
        let counted = checks.iter().filter(|r| r.status != "inactive");
        let total: f64 = counted.clone().map(|r| weight(&r.id)).sum();
        let passed: f64 = counted.filter(|r| ok(r)).map(|r| weight(&r.id)).sum();
        let score = if total > 0.0 {
            (passed / total * 1000.0).round() / 10.0
        } else {
            100.0
        };
        EntityResult {
            entity_ref: entity_ref.to_string(),
            scorecard: self.entity_ref.clone(),
            level,
            score,
            checks,
            evaluated_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

#[derive(Default)]
struct Evaluated {
    snapshot: usize,
    repository_writes: u64,
    input_writes: Option<u64>,
    /// entity → facts pushed for it.
    pushed: HashMap<String, serde_json::Map<String, Value>>,
    /// (scorecard, entity, check) → attestation or pushed result.
    inputs: HashMap<(String, String, String), CheckInputRow>,
    scorecards: String,
    etags: HashMap<String, String>,
    commits: HashMap<String, String>,
    /// (scorecard, entity, check) → last recorded status, loaded from history at the first run.
    last: Option<HashMap<(String, String, String), String>>,
}

/// Current results, kept up to date by [`Engine::evaluate`].
pub struct Engine {
    db: Db,
    /// Scorecards from configuration rather than the catalog.
    configured: Vec<Arc<Scorecard>>,
    scorecards: RwLock<Vec<Arc<Scorecard>>>,
    /// scorecard ref → entity ref → result.
    results: RwLock<HashMap<String, HashMap<String, Arc<EntityResult>>>>,
    state: Mutex<Evaluated>,
}

impl Engine {
    pub fn new(db: Db, configured: Vec<Scorecard>) -> Engine {
        let configured: Vec<Arc<Scorecard>> = configured.into_iter().map(Arc::new).collect();
        Engine {
            db,
            scorecards: RwLock::new(configured.clone()),
            configured,
            results: RwLock::new(HashMap::new()),
            state: Mutex::new(Evaluated::default()),
        }
    }

    pub fn scorecards(&self) -> Vec<Arc<Scorecard>> {
        self.scorecards.read().clone()
    }

    pub fn results_for(&self, scorecard: &str) -> Vec<Arc<EntityResult>> {
        let mut v: Vec<_> = self
            .results
            .read()
            .get(scorecard)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.entity_ref.cmp(&b.entity_ref));
        v
    }

    pub fn results_of_entity(&self, entity_ref: &str) -> Vec<Arc<EntityResult>> {
        let mut v: Vec<_> = self
            .results
            .read()
            .values()
            .filter_map(|m| m.get(entity_ref).cloned())
            .collect();
        v.sort_by(|a, b| a.scorecard.cmp(&b.scorecard));
        v
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

    /// Brings results up to date with a snapshot; returns how many entity results changed.
    pub fn evaluate(&self, snap: &Arc<Snapshot>) -> crate::storage::Result<usize> {
        let mut state = self.state.lock();
        let key = Arc::as_ptr(snap) as usize;
        let repository_writes = self.db.repository_writes();
        let input_writes = self.db.input_writes();
        if state.snapshot == key
            && state.repository_writes == repository_writes
            && state.input_writes == Some(input_writes)
        {
            return Ok(0);
        }
        // Pushed facts, attestations and pushed results: entities that had or have any are
        // re-evaluated when they change.
        let mut input_dirty: std::collections::HashSet<String> = std::collections::HashSet::new();
        if state.input_writes != Some(input_writes) {
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
            input_dirty.extend(pushed.keys().chain(state.pushed.keys()).cloned());
            input_dirty.extend(
                inputs
                    .keys()
                    .chain(state.inputs.keys())
                    .map(|k| k.1.clone()),
            );
            state.pushed = pushed;
            state.inputs = inputs;
            state.input_writes = Some(input_writes);
        }
        state.snapshot = key;
        state.repository_writes = repository_writes;
        let cards: Vec<(String, Value)> = snap
            .docs
            .iter()
            .filter(|d| &*d.kind == "Scorecard")
            .map(|d| {
                (
                    d.entity_ref.to_string(),
                    serde_json::from_str(&d.json).unwrap_or(Value::Null),
                )
            })
            .collect();
        let signature: String = snap
            .docs
            .iter()
            .filter(|d| &*d.kind == "Scorecard")
            .map(|d| format!("{}:{};", d.entity_ref, d.json.len()))
            .collect::<String>()
            + &cards
                .iter()
                .map(|(_, v)| {
                    v["metadata"]["etag"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect::<String>();
        let all = state.scorecards != signature;
        if all {
            let mut parsed: Vec<Arc<Scorecard>> = cards
                .iter()
                .filter_map(|(_, v)| Scorecard::from_entity(v).map(Arc::new))
                .collect();
            parsed.extend(self.configured.iter().cloned());
            *self.scorecards.write() = parsed;
            state.scorecards = signature;
            state.etags.clear();
        }
        let repos: HashMap<String, crate::storage::RepositoryRow> = self
            .db
            .load_repositories()?
            .into_iter()
            .map(|r| (r.origin.clone(), r))
            .collect();
        let changed_origins: Vec<String> = repos
            .iter()
            .filter(|(o, r)| state.commits.get(*o) != Some(&r.commit_id))
            .map(|(o, _)| o.clone())
            .collect();
        state.commits = repos
            .iter()
            .map(|(o, r)| (o.clone(), r.commit_id.clone()))
            .collect();
        let scorecards = self.scorecards();
        let applicable: Vec<crate::readmodel::Bitset> = scorecards
            .iter()
            .map(|s| {
                s.filter
                    .as_ref()
                    .map(|f| f.eval(snap))
                    .unwrap_or_else(|| snap.all())
            })
            .collect();
        if state.last.is_none() {
            let mut last = HashMap::new();
            for h in self.db.history(None, None)? {
                last.insert((h.scorecard, h.entity_ref, h.check_id), h.status);
            }
            state.last = Some(last);
        }
        let mut history = Vec::new();
        let mut changed = 0;
        let mut seen = std::collections::HashSet::new();
        let now = chrono::Utc::now().timestamp();
        let mut results = self.results.write();
        for (i, doc) in snap.docs.iter().enumerate() {
            seen.insert(doc.entity_ref.to_string());
            let etag = doc.json.len().to_string() + &eval::etag_of(&doc.json);
            let mut dirty = state.etags.get(&*doc.entity_ref) != Some(&etag)
                || input_dirty.contains(&*doc.entity_ref);
            let mut entity: Option<Value> = None;
            let origin = |e: &Value| {
                e["metadata"]["annotations"]["backstage.io/managed-by-origin-location"]
                    .as_str()
                    .map(str::to_owned)
            };
            if !dirty && !changed_origins.is_empty() {
                let e: Value = serde_json::from_str(&doc.json).unwrap_or(Value::Null);
                dirty = origin(&e).is_some_and(|o| changed_origins.contains(&o));
                entity = Some(e);
            }
            if !dirty {
                continue;
            }
            state.etags.insert(doc.entity_ref.to_string(), etag);
            let entity =
                entity.unwrap_or_else(|| serde_json::from_str(&doc.json).unwrap_or(Value::Null));
            let repo = origin(&entity).and_then(|o| repos.get(&o).cloned());
            let facts = Facts::new(&entity, repo.as_ref(), state.pushed.get(&*doc.entity_ref));
            for (card, set) in scorecards.iter().zip(&applicable) {
                let per_card = results.entry(card.entity_ref.clone()).or_default();
                if !set.contains(i as u32) || &*doc.kind == "Scorecard" {
                    per_card.remove(&*doc.entity_ref);
                    continue;
                }
                let inputs = &state.inputs;
                let input = |check: &str| {
                    inputs
                        .get(&(
                            card.entity_ref.clone(),
                            doc.entity_ref.to_string(),
                            check.to_string(),
                        ))
                        .cloned()
                };
                let result = card.evaluate(&doc.entity_ref, &facts, &input);
                let previous = per_card.get(&*doc.entity_ref);
                let last = state.last.as_mut().expect("loaded above");
                for c in &result.checks {
                    let key = (
                        card.entity_ref.clone(),
                        doc.entity_ref.to_string(),
                        c.id.clone(),
                    );
                    if last.get(&key) != Some(&c.status) {
                        last.insert(key, c.status.clone());
                        history.push(NewHistoryRow {
                            scorecard: card.entity_ref.clone(),
                            entity_ref: doc.entity_ref.to_string(),
                            check_id: c.id.clone(),
                            status: c.status.clone(),
                            level: result.level.clone(),
                            at: now,
                        });
                    }
                }
                if previous.is_none_or(|p| p.checks != result.checks || p.level != result.level) {
                    changed += 1;
                }
                per_card.insert(doc.entity_ref.to_string(), Arc::new(result));
            }
        }
        for per_card in results.values_mut() {
            per_card.retain(|k, _| seen.contains(k));
        }
        results.retain(|k, _| scorecards.iter().any(|s| &s.entity_ref == k));
        state.etags.retain(|k, _| seen.contains(k));
        drop(results);
        drop(state);
        self.db.append_history(&history)?;
        Ok(changed)
    }
}
