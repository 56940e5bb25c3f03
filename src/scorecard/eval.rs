//! Evaluating a rule against an entity's facts, json-rules-engine style, keeping the values
//! that decided each condition as evidence.

use serde_json::{json, Map, Value};

use super::Evidence;
use crate::model::rule::{parse_path, select, Condition};
use crate::storage::RepositoryRow;

/// The facts of one entity.
pub struct Facts {
    entity: Value,
    relations: Value,
    counts: Value,
    repository: Value,
}

impl Facts {
    pub fn new(entity: &Value, repo: Option<&RepositoryRow>) -> Facts {
        let mut relations: Map<String, Value> = Map::new();
        for r in entity["relations"].as_array().into_iter().flatten() {
            if let (Some(t), Some(target)) = (r["type"].as_str(), r["targetRef"].as_str()) {
                let list = relations.entry(t.to_string()).or_insert_with(|| json!([]));
                list.as_array_mut().expect("array").push(json!(target));
            }
        }
        let counts: Map<String, Value> = relations
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.as_array().map_or(0, Vec::len))))
            .collect();
        let repository = match repo {
            Some(r) => json!({
                "url": r.url,
                "branch": r.branch,
                "commit": r.commit_id,
                "committedAt": chrono::DateTime::from_timestamp(r.committed_at, 0).map(|t| t.to_rfc3339()),
                "files": serde_json::from_str::<Value>(&r.files_json).unwrap_or(json!([])),
            }),
            None => Value::Null,
        };
        Facts {
            entity: entity.clone(),
            relations: Value::Object(relations),
            counts: Value::Object(counts),
            repository,
        }
    }

    fn get(&self, fact: &str) -> &Value {
        match fact {
            "entity" => &self.entity,
            "relations" => &self.relations,
            "relationCounts" => &self.counts,
            _ => &self.repository,
        }
    }
}

/// The entity's etag, from its served JSON.
pub fn etag_of(json: &str) -> String {
    json.find("\"etag\":\"")
        .map(|i| json[i + 8..].chars().take(40).collect())
        .unwrap_or_default()
}

/// Whether the rule holds, with the evidence of every fact condition that was looked at.
pub fn evaluate(rule: &Condition, facts: &Facts) -> Result<(bool, Vec<Evidence>), String> {
    let mut evidence = Vec::new();
    let ok = eval(rule, facts, &mut evidence)?;
    Ok((ok, evidence))
}

fn eval(rule: &Condition, facts: &Facts, evidence: &mut Vec<Evidence>) -> Result<bool, String> {
    match rule {
        Condition::All(items) => {
            for c in items {
                if !eval(c, facts, evidence)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Condition::Any(items) => {
            for c in items {
                if eval(c, facts, evidence)? {
                    return Ok(true);
                }
            }
            Ok(items.is_empty())
        }
        Condition::Not(inner) => Ok(!eval(inner, facts, evidence)?),
        Condition::Fact {
            fact,
            path,
            operator,
            value,
        } => {
            let base = facts.get(fact);
            let actual = match path {
                Some(p) => select(base, &parse_path(p)?).cloned(),
                None => Some(base.clone()),
            };
            let ok = apply(operator, actual.as_ref(), value)?;
            evidence.push(Evidence {
                fact: fact.clone(),
                path: path.clone(),
                operator: operator.clone(),
                expected: value.clone(),
                actual: actual.unwrap_or(Value::Null),
            });
            Ok(ok)
        }
    }
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn days_since(v: &Value) -> Option<f64> {
    let at = match v {
        Value::Number(n) => chrono::DateTime::from_timestamp(n.as_i64()?, 0)?,
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()?
            .with_timezone(&chrono::Utc),
        _ => return None,
    };
    Some((chrono::Utc::now() - at).num_seconds() as f64 / 86_400.0)
}

fn apply(operator: &str, actual: Option<&Value>, expected: &Value) -> Result<bool, String> {
    let present = actual.is_some_and(|v| !v.is_null());
    let a = actual.unwrap_or(&Value::Null);
    Ok(match operator {
        "exists" => present,
        "notExists" => !present,
        "equal" => a == expected,
        "notEqual" => a != expected,
        "lessThan" | "lessThanInclusive" | "greaterThan" | "greaterThanInclusive" => {
            match (number(a), number(expected)) {
                (Some(x), Some(y)) => match operator {
                    "lessThan" => x < y,
                    "lessThanInclusive" => x <= y,
                    "greaterThan" => x > y,
                    _ => x >= y,
                },
                _ => false,
            }
        }
        "in" => expected.as_array().is_some_and(|list| list.contains(a)),
        "notIn" => expected.as_array().is_some_and(|list| !list.contains(a)),
        "contains" => match a {
            Value::Array(items) => items.contains(expected),
            Value::String(s) => expected.as_str().is_some_and(|e| s.contains(e)),
            _ => false,
        },
        "doesNotContain" => match a {
            Value::Array(items) => !items.contains(expected),
            Value::String(s) => expected.as_str().is_some_and(|e| !s.contains(e)),
            _ => true,
        },
        "matches" => {
            let pattern = expected.as_str().ok_or("matches needs a string pattern")?;
            let re = regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| e.to_string())?;
            match a {
                Value::String(s) => re.is_match(s),
                Value::Array(items) => items
                    .iter()
                    .any(|i| i.as_str().is_some_and(|s| re.is_match(s))),
                _ => false,
            }
        }
        "startsWith" => a
            .as_str()
            .zip(expected.as_str())
            .is_some_and(|(s, p)| s.starts_with(p)),
        "olderThanDays" => days_since(a)
            .zip(number(expected))
            .is_some_and(|(d, n)| d > n),
        "newerThanDays" => days_since(a)
            .zip(number(expected))
            .is_some_and(|(d, n)| d <= n),
        "countAtLeast" => {
            let count = match a {
                Value::Array(items) => items.len() as f64,
                Value::Object(m) => m.len() as f64,
                other => number(other).unwrap_or(0.0),
            };
            number(expected).is_some_and(|n| count >= n)
        }
        other => return Err(format!("unknown operator {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rule::parse;

    #[test]
    fn rules_read_entity_relations_and_repository_facts() {
        let entity = json!({"metadata":{"annotations":{"backstage.io/techdocs-ref":"dir:."}},
                            "relations":[{"type":"ownedBy","targetRef":"group:default/a"}]});
        let repo = RepositoryRow {
            origin: "o".into(),
            source_id: "s".into(),
            url: "u".into(),
            branch: "main".into(),
            commit_id: "c".into(),
            committed_at: chrono::Utc::now().timestamp() - 86_400 * 3,
            author: "a".into(),
            files_json: r#"["README.md",".github/workflows/ci.yml"]"#.into(),
            crawled_at: 0,
        };
        let facts = Facts::new(&entity, Some(&repo));
        let rule = parse(&json!({"all":[
            {"fact":"entity","path":"$.metadata.annotations['backstage.io/techdocs-ref']","operator":"exists"},
            {"fact":"relationCounts","path":"$.ownedBy","operator":"greaterThanInclusive","value":1},
            {"fact":"repository","path":"$.files","operator":"contains","value":"README.md"},
            {"fact":"repository","path":"$.files","operator":"matches","value":"^\\.github/workflows/.*\\.ya?ml$"},
            {"fact":"repository","path":"$.committedAt","operator":"newerThanDays","value":30}
        ]})).unwrap();
        let (ok, evidence) = evaluate(&rule, &facts).unwrap();
        assert!(ok, "{evidence:?}");
        assert_eq!(evidence.len(), 5);
        let missing =
            parse(&json!({"fact":"entity","path":"$.spec.owner","operator":"exists"})).unwrap();
        let (ok, evidence) = evaluate(&missing, &facts).unwrap();
        assert!(!ok);
        assert_eq!(evidence[0].actual, Value::Null);
    }
}
