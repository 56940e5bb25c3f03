//! Grading one entity against one scorecard: each check's status (with exemptions, attestations,
//! pushed results and provided checks), the level reached and the score.

use std::collections::HashMap;

use serde_json::Value;

use super::*;

impl Scorecard {
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
            CheckKind::Automatic => match holds(&c.rule, facts, evidence) {
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
        // Folded from +0.0: an empty f64 `sum()` is -0.0, which would be served as `-0.0`.
        let total = counted.iter().fold(0.0, |t, (w, _)| t + w);
        let passed = counted
            .iter()
            .filter(|(_, ok)| *ok)
            .fold(0.0, |t, (w, _)| t + w);
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
                    .is_some_and(|f| !matches_filter(facts.entity(), f))
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
                .is_some_and(|f| !matches_filter(facts.entity(), f))
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
