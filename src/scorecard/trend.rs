//! Trend series: the state of a scorecard at the end of each period, replayed from its
//! history (which holds only changes).

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, NaiveDate};
use serde_json::{json, Value};

use super::{Engine, Scorecard};
use crate::error::Error;
use crate::readmodel::Snapshot;
use crate::storage::HistoryRow;

/// What a trend covers: periods of `interval` from `from` (default: the scorecard's first
/// history record) to `to`, for one entity or the entities of one owner (today's owners) if given.
pub struct TrendQuery {
    pub interval: Interval,
    pub from: Option<NaiveDate>,
    pub to: NaiveDate,
    pub entity: Option<String>,
    pub owner: Option<String>,
}

/// A scorecard's trend between two dates.
pub struct Trend {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub points: Vec<Value>,
}

impl Engine {
    /// The scorecard's state at the end of each period of `q`.
    pub fn trend(&self, card: &Scorecard, snap: &Snapshot, q: &TrendQuery) -> Result<Trend, Error> {
        let (to, owner) = (q.to, q.owner.as_deref());
        let rows = self
            .db()
            .history(q.entity.as_deref(), Some(&card.entity_ref))?;
        let first = rows
            .first()
            .and_then(|r| chrono::DateTime::from_timestamp(r.at, 0))
            .map_or(to, |t| t.date_naive());
        let from = q.from.unwrap_or(first.min(to));
        if from > to {
            return Err(Error::Input(format!("from ({from}) is after to ({to})")));
        }
        let ends = period_ends(from, to, q.interval);
        if ends.len() > MAX_POINTS {
            return Err(Error::Input(format!(
                "more than {MAX_POINTS} periods between {from} and {to}; use a longer interval"
            )));
        }
        let keep = |entity_ref: &str| -> bool {
            owner.is_none_or(|o| {
                super::rollup::owners_of(snap, entity_ref)
                    .iter()
                    .any(|x| x == o)
            })
        };
        let points = series(&rows, &card.levels, &ends, &keep);
        Ok(Trend { from, to, points })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Interval {
    Day,
    Week,
    Month,
}

impl Interval {
    pub fn parse(s: &str) -> Option<Interval> {
        match s {
            "day" => Some(Interval::Day),
            "week" => Some(Interval::Week),
            "month" => Some(Interval::Month),
            _ => None,
        }
    }

    /// The last day of the period holding `d`.
    fn end_of(self, d: NaiveDate) -> NaiveDate {
        match self {
            Interval::Day => d,
            Interval::Week => d + Duration::days(6 - i64::from(d.weekday().num_days_from_monday())),
            Interval::Month => {
                let (y, m) = if d.month() == 12 {
                    (d.year() + 1, 1)
                } else {
                    (d.year(), d.month() + 1)
                };
                NaiveDate::from_ymd_opt(y, m, 1).expect("a month start") - Duration::days(1)
            }
        }
    }
}

/// The most periods one request may ask for.
pub const MAX_POINTS: usize = 1000;

/// The ends of the periods from `from` to `to`, each period's last day.
pub fn period_ends(from: NaiveDate, to: NaiveDate, interval: Interval) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut end = interval.end_of(from);
    while out.len() <= MAX_POINTS {
        out.push(end.min(to));
        if end >= to {
            break;
        }
        end = interval.end_of(end + Duration::days(1));
    }
    out
}

#[derive(Default)]
struct EntityState {
    level: Option<String>,
    statuses: HashMap<String, String>,
}

impl EntityState {
    /// (checks that count, of which pass or are exempt).
    fn counted(&self) -> (usize, usize) {
        let counted = self
            .statuses
            .values()
            .filter(|s| !matches!(s.as_str(), "n/a" | "inactive"))
            .count();
        let ok = self
            .statuses
            .values()
            .filter(|s| matches!(s.as_str(), "pass" | "exempt"))
            .count();
        (counted, ok)
    }
}

/// One point per period end: how many entities the scorecard held, at which level, and the share
/// of counted checks passing. `rows` are the scorecard's history rows, oldest first; `keep`
/// selects the entities to count.
pub fn series(
    rows: &[HistoryRow],
    levels: &[String],
    ends: &[NaiveDate],
    keep: &dyn Fn(&str) -> bool,
) -> Vec<Value> {
    let mut entities: HashMap<&str, EntityState> = HashMap::new();
    let mut distribution: BTreeMap<Option<String>, i64> = BTreeMap::new();
    let (mut counted, mut ok) = (0i64, 0i64);
    let mut rows = rows.iter().filter(|r| keep(&r.entity_ref)).peekable();
    let mut out = Vec::with_capacity(ends.len());
    for end in ends {
        let until = end
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(i64::MAX, |t| t.and_utc().timestamp());
        while let Some(row) = rows.next_if(|r| r.at < until) {
            let state = entities.entry(row.entity_ref.as_str()).or_default();
            let present = !state.statuses.is_empty() || state.level.is_some();
            if present {
                *distribution.entry(state.level.clone()).or_default() -= 1;
                let (c, o) = state.counted();
                counted -= c as i64;
                ok -= o as i64;
            }
            if row.checks.is_empty() {
                entities.remove(row.entity_ref.as_str());
                continue;
            }
            state.level = row.level.clone();
            state.statuses.extend(row.statuses());
            *distribution.entry(state.level.clone()).or_default() += 1;
            let (c, o) = state.counted();
            counted += c as i64;
            ok += o as i64;
        }
        let by_level: BTreeMap<&str, i64> = levels
            .iter()
            .map(|l| {
                (
                    l.as_str(),
                    distribution.get(&Some(l.clone())).copied().unwrap_or(0),
                )
            })
            .collect();
        out.push(json!({
            "at": end.to_string(),
            "entities": entities.len(),
            "distribution": by_level,
            "belowFirstLevel": distribution.get(&None).copied().unwrap_or(0),
            "passRate": if counted == 0 { Value::Null } else { json!((ok as f64 / counted as f64 * 1000.0).round() / 10.0) },
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(entity: &str, level: Option<&str>, checks: &str, day: u32) -> HistoryRow {
        HistoryRow {
            id: 0,
            scorecard: "scorecard:default/s".into(),
            entity_ref: entity.into(),
            level: level.map(str::to_owned),
            checks: checks.into(),
            at: NaiveDate::from_ymd_opt(2026, 11, day)
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp(),
        }
    }

    #[test]
    fn periods_end_on_the_last_day_and_stop_at_to() {
        let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        assert_eq!(
            period_ends(d(11, 25), d(12, 10), Interval::Week),
            vec![d(11, 29), d(12, 6), d(12, 10)]
        );
        assert_eq!(
            period_ends(d(11, 25), d(12, 31), Interval::Month),
            vec![d(11, 30), d(12, 31)]
        );
    }

    #[test]
    fn replays_changes_and_departures() {
        let levels = vec!["bronze".to_string(), "silver".to_string()];
        let rows = vec![
            row("a", Some("bronze"), "x=pass;y=fail", 1),
            row("b", None, "x=fail;y=fail", 1),
            row("a", Some("silver"), "y=pass", 2),
            row("b", None, "", 3),
        ];
        let ends: Vec<NaiveDate> = (1..=3)
            .map(|d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap())
            .collect();
        let points = series(&rows, &levels, &ends, &|_| true);
        assert_eq!(points[0]["entities"], 2);
        assert_eq!(points[0]["distribution"]["bronze"], 1);
        assert_eq!(points[0]["belowFirstLevel"], 1);
        assert_eq!(points[0]["passRate"], 25.0);
        assert_eq!(points[1]["distribution"]["silver"], 1);
        assert_eq!(points[1]["passRate"], 50.0);
        assert_eq!(points[2]["entities"], 1);
        assert_eq!(points[2]["belowFirstLevel"], 0);
        assert_eq!(points[2]["passRate"], 100.0);
        let only_b = series(&rows, &levels, &ends, &|e| e == "b");
        assert_eq!(only_b[0]["passRate"], 0.0);
    }
}
