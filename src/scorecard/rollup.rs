//! Roll-ups: a scorecard's level distribution and pass rate per check, its results grouped by
//! owner, system or domain (following catalog relations), and an entity's owners.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{Scorecard, Summary};
use crate::error::Error;
use crate::readmodel::Snapshot;

/// An entity's owners (its `ownedBy` targets), from the read model's parsed relations.
pub fn owners_of(snap: &Snapshot, entity_ref: &str) -> Vec<String> {
    let owned_by = crate::readmodel::graph::type_id("ownedBy");
    snap.get_by_ref(entity_ref)
        .map(|d| {
            d.relations()
                .filter(|(t, _)| *t == owned_by)
                .map(|(_, target)| target.to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn relation_targets(snap: &Snapshot, entity_ref: &str, rel: &str, kind: &str) -> Vec<String> {
    snap.get_by_ref(entity_ref)
        .and_then(|d| serde_json::from_str::<Value>(&d.json).ok())
        .map(|e| {
            crate::model::relations::targets_of(&e, rel)
                .filter(|t| kind.is_empty() || t.starts_with(&format!("{kind}:")))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Entities grouped by owner, system or domain (following catalog relations), with their count,
/// average score and level distribution; entities with no group fall under `(none)`.
pub fn rollup_groups(
    snap: &Snapshot,
    card: &Scorecard,
    results: &[std::sync::Arc<Summary>],
    by: &str,
) -> Result<Vec<Value>, Error> {
    let groups_of = |r: &str| -> Result<Vec<String>, Error> {
        Ok(match by {
            "owner" => relation_targets(snap, r, "ownedBy", ""),
            "system" => relation_targets(snap, r, "partOf", "system"),
            "domain" => relation_targets(snap, r, "partOf", "system")
                .iter()
                .flat_map(|s| relation_targets(snap, s, "partOf", "domain"))
                .collect(),
            other => {
                return Err(Error::Input(format!(
                    "by must be owner, system or domain, got {other}"
                )))
            }
        })
    };
    let mut groups: BTreeMap<String, (usize, f64, BTreeMap<String, usize>)> = BTreeMap::new();
    for r in results {
        let mut keys = groups_of(&r.entity_ref)?;
        if keys.is_empty() {
            keys.push("(none)".into());
        }
        for k in keys {
            let g = groups.entry(k).or_default();
            g.0 += 1;
            g.1 += r.score;
            *g.2.entry(card.level_name(r.level).unwrap_or_else(|| "none".into()))
                .or_default() += 1;
        }
    }
    Ok(groups
        .into_iter()
        .map(|(group, (n, total, distribution))| {
            json!({"group": group, "entities": n, "averageScore": (total / n as f64 * 10.0).round() / 10.0, "distribution": distribution})
        })
        .collect())
}

/// How a scorecard's results spread: entities per level (`none` first: below the first level)
/// and, per check, how many entities pass and fail it (not-applicable ones left out).
pub struct Spread {
    /// (level name, entities), `none` first, then the scorecard's levels in order.
    pub levels: Vec<(String, usize)>,
    /// Per check, in the scorecard's order: (passing, failing).
    pub checks: Vec<(usize, usize)>,
}

impl Spread {
    pub fn of(card: &Scorecard, results: &[std::sync::Arc<Summary>]) -> Spread {
        let mut levels: Vec<(String, usize)> = vec![("none".into(), 0)];
        levels.extend(card.levels.iter().map(|l| (l.clone(), 0)));
        for r in results {
            levels[r.level.map_or(0, |l| l as usize + 1)].1 += 1;
        }
        let checks = (0..card.checks.len())
            .map(|i| {
                let applicable = results
                    .iter()
                    .map(|r| r.statuses[i])
                    .filter(|s| *s != super::Status::NotApplicable);
                let (mut passing, mut failing) = (0, 0);
                for s in applicable {
                    if s.counts_ok() {
                        passing += 1;
                    } else {
                        failing += 1;
                    }
                }
                (passing, failing)
            })
            .collect();
        Spread { levels, checks }
    }

    /// The share of applicable entities passing check `i`, in percent to one decimal (100 when
    /// none applies).
    pub fn pass_rate(&self, i: usize) -> f64 {
        let (passing, failing) = self.checks[i];
        if passing + failing == 0 {
            100.0
        } else {
            (passing as f64 * 1000.0 / (passing + failing) as f64).round() / 10.0
        }
    }
}
