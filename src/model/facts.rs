//! Evaluating a rule against an entity's facts, json-rules-engine style, keeping the values
//! that decided each condition as evidence.

use serde_json::{json, Map, Value};

use serde::Serialize;

use super::rule::{parse_path, select, Condition};

/// One fact condition that was looked at: what was expected and what was found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    pub fact: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub operator: String,
    pub expected: Value,
    pub actual: Value,
}

/// scorecard → (its level names, entity → level index reached).
pub type LevelIndex =
    std::collections::HashMap<String, (Vec<String>, std::collections::HashMap<String, Option<u8>>)>;

/// The facts of one entity.
pub struct Facts {
    entity: Value,
    relations: Value,
    counts: Value,
    repository: Value,
    /// Facts pushed by CI.
    pushed: Value,
    /// Levels other entities reached, for `atLeastLevel`.
    levels: Option<std::sync::Arc<LevelIndex>>,
    /// The Tech Insights built-in retrievers' boolean facts.
    named: Map<String, Value>,
}

impl Facts {
    /// The paths of the repository's files, from the crawl.
    pub fn repository_files(&self) -> Vec<String> {
        self.repository["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    }

    /// The facts pushed by CI, by name.
    pub fn pushed_map(&self) -> Option<&Map<String, Value>> {
        self.pushed.as_object()
    }

    /// `repository` is the crawl of the entity's repository (`url`, `branch`, `commit`,
    /// `committedAt`, `files`), or null.
    pub fn new(entity: Value, repository: Value, pushed: Option<&Map<String, Value>>) -> Facts {
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
        let meta = &entity["metadata"];
        let non_empty = |v: &Value| match v {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            _ => false,
        };
        let owner = entity["spec"]["owner"].as_str();
        let ann = &meta["annotations"];
        let mut named = Map::new();
        named.insert("hasTitle".into(), json!(non_empty(&meta["title"])));
        named.insert(
            "hasDescription".into(),
            json!(non_empty(&meta["description"])),
        );
        named.insert("hasTags".into(), json!(non_empty(&meta["tags"])));
        named.insert(
            "hasOwner".into(),
            json!(owner.is_some_and(|o| !o.is_empty())),
        );
        named.insert(
            "hasGroupOwner".into(),
            json!(owner.is_some_and(|o| !o.is_empty() && !o.starts_with("user:"))),
        );
        named.insert(
            "hasAnnotationBackstageIoTechdocsRef".into(),
            json!(ann.get("backstage.io/techdocs-ref").is_some()),
        );
        named.insert(
            "hasAnnotationBackstageIoTechdocsEntity".into(),
            json!(ann.get("backstage.io/techdocs-entity").is_some()),
        );
        Facts {
            entity,
            relations: Value::Object(relations),
            counts: Value::Object(counts),
            repository,
            pushed: pushed
                .map(|m| Value::Object(m.clone()))
                .unwrap_or(Value::Object(Map::new())),
            levels: None,
            named,
        }
    }

    pub fn get(&self, fact: &str) -> &Value {
        match fact {
            "entity" => &self.entity,
            "relations" => &self.relations,
            "relationCounts" => &self.counts,
            "repository" => &self.repository,
            "pushed" => &self.pushed,
            other => self.named.get(other).unwrap_or(&Value::Null),
        }
    }

    /// The value a condition looks at.
    pub fn value_at(&self, fact: &str, path: Option<&str>) -> Result<Option<Value>, String> {
        let base = self.get(fact);
        Ok(match path {
            Some(p) => select(base, &parse_path(p)?).cloned(),
            None => Some(base.clone()),
        })
    }

    /// `atLeastLevel`: every entity ref in `targets` (a ref or a list) reached at least `level`
    /// on `card`, by the levels known when the evaluation started.
    pub fn at_least_level(&self, card: &str, targets: Option<&Value>, level: &str) -> bool {
        let Some(levels) = &self.levels else {
            return false;
        };
        let Some((names, reached)) = levels.get(card) else {
            return false;
        };
        let Some(wanted) = names.iter().position(|n| n == level) else {
            return false;
        };
        let refs: Vec<&str> = match targets {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        refs.iter().all(|r| {
            reached
                .get(&r.to_lowercase())
                .copied()
                .flatten()
                .is_some_and(|l| l as usize >= wanted)
        })
    }

    pub fn with_levels(mut self, levels: Option<std::sync::Arc<LevelIndex>>) -> Facts {
        self.levels = levels;
        self
    }

    /// The built-in retrievers' facts, as Tech Insights serves them.
    pub fn named(&self) -> &Map<String, Value> {
        &self.named
    }
}

impl Facts {
    pub fn entity(&self) -> &Value {
        &self.entity
    }
}

/// Tech Insights' check filter: an object (or list of objects, ORed) of dot paths to a value or
/// list of values (ORed), compared case-insensitively; array members match.
pub fn matches_filter(entity: &Value, filter: &Value) -> bool {
    let one = |f: &serde_json::Map<String, Value>| {
        f.iter().all(|(path, wanted)| {
            let mut cur = entity;
            for seg in path.split('.') {
                cur = &cur[seg];
            }
            let have: Vec<String> = match cur {
                Value::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_lowercase)
                            .unwrap_or_else(|| i.to_string())
                    })
                    .collect(),
                Value::Null => vec![],
                Value::String(s) => vec![s.to_lowercase()],
                other => vec![other.to_string()],
            };
            let want: Vec<String> = match wanted {
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_lowercase)
                    .collect(),
                Value::String(s) => vec![s.to_lowercase()],
                other => vec![other.to_string()],
            };
            want.iter().any(|w| have.contains(w))
        })
    };
    match filter {
        Value::Object(f) => one(f),
        Value::Array(list) => list.iter().filter_map(Value::as_object).any(one),
        _ => true,
    }
}

/// The entity's etag, from its served JSON.
pub fn etag_of(json: &str) -> &str {
    json.find("\"etag\":\"").map_or("", |i| {
        let rest = &json[i + 8..];
        &rest[..rest
            .char_indices()
            .nth(40)
            .map_or(rest.len(), |(end, _)| end)]
    })
}

/// Whether the rule holds, with the evidence of every fact condition that was looked at.
#[cfg(test)]
pub fn evaluate(rule: &Condition, facts: &Facts) -> Result<(bool, Vec<Evidence>), String> {
    let mut evidence = Vec::new();
    let ok = eval(rule, facts, &mut Some(&mut evidence))?;
    Ok((ok, evidence))
}

/// Whether the rule holds; collects evidence only when asked (bulk evaluation does not).
pub fn holds(
    rule: &Condition,
    facts: &Facts,
    evidence: Option<&mut Vec<Evidence>>,
) -> Result<bool, String> {
    let mut evidence = evidence;
    eval(rule, facts, &mut evidence)
}

fn eval(
    rule: &Condition,
    facts: &Facts,
    evidence: &mut Option<&mut Vec<Evidence>>,
) -> Result<bool, String> {
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
            steps,
            operator,
            value,
            pattern,
            scorecard,
        } => {
            let base = facts.get(fact);
            let actual = if path.is_some() {
                select(base, steps).cloned()
            } else {
                Some(base.clone())
            };
            let ok = match (pattern, scorecard) {
                (Some(p), _) => matches(&p.0, actual.as_ref()),
                (None, Some(card)) => {
                    facts.at_least_level(card, actual.as_ref(), value.as_str().unwrap_or_default())
                }
                (None, None) => apply(operator, actual.as_ref(), value)?,
            };

            if let Some(evidence) = evidence.as_deref_mut() {
                evidence.push(Evidence {
                    fact: fact.clone(),
                    path: path.clone(),
                    operator: operator.clone(),
                    expected: value.clone(),
                    actual: actual.unwrap_or(Value::Null),
                });
            }
            Ok(ok)
        }
    }
}

fn matches(re: &regex::Regex, actual: Option<&Value>) -> bool {
    match actual {
        Some(Value::String(s)) => re.is_match(s),
        Some(Value::Array(items)) => items
            .iter()
            .any(|i| i.as_str().is_some_and(|s| re.is_match(s))),
        _ => false,
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

/// The rule as json-rules-engine reports it after evaluation: each fact condition annotated with
/// `factResult`, `valueResult` and `result`, and `priority: 1` at the top.
pub fn annotate(rule: &Value, facts: &Facts) -> Value {
    fn walk(v: &Value, facts: &Facts) -> Value {
        let Some(obj) = v.as_object() else {
            return v.clone();
        };
        let mut out = obj.clone();
        for group in ["all", "any"] {
            if let Some(Value::Array(items)) = obj.get(group) {
                out.insert(
                    group.into(),
                    Value::Array(items.iter().map(|i| walk(i, facts)).collect()),
                );
            }
        }
        if let Some(inner) = obj.get("not") {
            out.insert("not".into(), walk(inner, facts));
        }
        if let (Some(fact), Some(op)) = (
            obj.get("fact").and_then(Value::as_str),
            obj.get("operator").and_then(Value::as_str),
        ) {
            let path = obj.get("path").and_then(Value::as_str);
            let actual = facts.value_at(fact, path).ok().flatten();
            let expected = obj.get("value").cloned().unwrap_or(Value::Null);
            let result = apply(op, actual.as_ref(), &expected).unwrap_or(false);
            out.insert("factResult".into(), actual.unwrap_or(Value::Null));
            out.insert("valueResult".into(), expected);
            out.insert("result".into(), json!(result));
        }
        Value::Object(out)
    }
    let mut top = walk(rule, facts);
    if let Some(o) = top.as_object_mut() {
        o.insert("priority".into(), json!(1));
    }
    top
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
        let committed = chrono::Utc::now() - chrono::Duration::days(3);
        let repo = json!({"url": "u", "branch": "main", "commit": "c",
                          "committedAt": committed.to_rfc3339(),
                          "files": ["README.md", ".github/workflows/ci.yml"]});
        let facts = Facts::new(entity, repo, None);
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
