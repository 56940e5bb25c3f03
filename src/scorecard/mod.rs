//! The scorecard engine: `Scorecard` entities (rules in YAML, ingested like any entity) are
//! evaluated against the entities their filter selects. Evaluation is incremental — only
//! entities whose served form or repository changed are re-evaluated, everything when a
//! scorecard changes — and every change of a check's result is appended to the history.

mod engine;
mod grade;
mod inputs;
pub mod rollup;
mod spec;
pub mod tech_insights;
pub mod trend;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::model::rule::{self, Condition};
use crate::readmodel::filter::Predicate;
use crate::readmodel::Snapshot;
use crate::storage::{CheckInputRow, Db, NewHistoryRow};

pub use crate::model::facts::{annotate, etag_of, holds, matches_filter, Evidence, Facts};
pub use engine::Engine;
pub use spec::mark_level_cycles;

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
