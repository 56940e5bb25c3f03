//! Scorecard rules: json-rules-engine conditions (`all`/`any`/`not`, `fact`, `operator`,
//! `value`, `path`, `params`) parsed into a typed tree, so a broken rule is found at ingest
//! and reported with its field.

use serde_json::Value;

/// The operators Cairn evaluates: json-rules-engine's built-ins plus Cairn's own.
pub const OPERATORS: &[&str] = &[
    "equal",
    "notEqual",
    "lessThan",
    "lessThanInclusive",
    "greaterThan",
    "greaterThanInclusive",
    "in",
    "notIn",
    "contains",
    "doesNotContain",
    "exists",
    "notExists",
    "matches",
    "startsWith",
    "olderThanDays",
    "newerThanDays",
    "countAtLeast",
    "atLeastLevel",
];

/// The facts a rule can read: Cairn's own, then those of Backstage Tech Insights' built-in
/// retrievers (so checks written for Tech Insights run unchanged).
pub const FACTS: &[&str] = &[
    "entity",
    "relations",
    "relationCounts",
    "repository",
    "pushed",
    "hasTitle",
    "hasDescription",
    "hasTags",
    "hasOwner",
    "hasGroupOwner",
    "hasAnnotationBackstageIoTechdocsRef",
    "hasAnnotationBackstageIoTechdocsEntity",
];

/// (id, version, facts as (name, type, description)).
pub type Retriever = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, &'static str)],
);

/// Tech Insights fact retrievers Cairn computes from the catalog: (id, version, facts with
/// their description). Cairn's own facts are served as the `cairn` retriever.
pub const RETRIEVERS: &[Retriever] = &[
    (
        "entityMetadataFactRetriever",
        "0.0.1",
        &[
            ("hasTitle", "boolean", "The entity has a title in metadata"),
            (
                "hasDescription",
                "boolean",
                "The entity has a description in metadata",
            ),
            ("hasTags", "boolean", "The entity has tags in metadata"),
        ],
    ),
    (
        "entityOwnershipFactRetriever",
        "0.0.1",
        &[
            ("hasOwner", "boolean", "The spec.owner field is set"),
            (
                "hasGroupOwner",
                "boolean",
                "The spec.owner field is set and refers to a group",
            ),
        ],
    ),
    (
        "techdocsFactRetriever",
        "0.0.1",
        &[
            (
                "hasAnnotationBackstageIoTechdocsRef",
                "boolean",
                "The entity has a TechDocs reference annotation",
            ),
            (
                "hasAnnotationBackstageIoTechdocsEntity",
                "boolean",
                "The entity has a TechDocs entity annotation",
            ),
        ],
    ),
    (
        "cairn",
        "1.0.0",
        &[
            ("entity", "object", "The entity as served by the catalog"),
            ("relations", "object", "Relation targets by relation type"),
            ("relationCounts", "object", "Number of relations by type"),
            (
                "repository",
                "object",
                "Files, commit and last commit time of the entity's repository",
            ),
        ],
    ),
];

/// The retriever that provides a fact.
pub fn retriever_of(fact: &str) -> &'static str {
    RETRIEVERS
        .iter()
        .find(|(_, _, facts)| facts.iter().any(|(f, _, _)| *f == fact))
        .map(|(id, _, _)| *id)
        .unwrap_or("cairn")
}

/// Longest regular expression accepted by `matches` (the regex crate runs in linear time, so
/// size is the only cost to bound).
pub const MAX_PATTERN: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Fact {
        fact: String,
        path: Option<String>,
        /// `path`, parsed once.
        steps: Vec<PathStep>,
        operator: String,
        value: Value,
        /// The compiled pattern of a `matches` condition.
        pattern: Option<Pattern>,
        /// For `atLeastLevel`: the scorecard whose levels count (`params.scorecard`).
        scorecard: Option<String>,
    },
}

/// A compiled regular expression, compared by its source.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// Parses a rule; errors name the path inside the rule (`all.1.operator`).
pub fn parse(v: &Value) -> Result<Condition, (String, String)> {
    parse_at(v, "")
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn parse_at(v: &Value, at: &str) -> Result<Condition, (String, String)> {
    let Some(obj) = v.as_object() else {
        return Err((at.to_string(), "a condition must be an object".into()));
    };
    for group in ["all", "any"] {
        if let Some(items) = obj.get(group) {
            let list = items
                .as_array()
                .ok_or_else(|| (join(at, group), "must be an array".to_string()))?;
            let parsed = list
                .iter()
                .enumerate()
                .map(|(i, c)| parse_at(c, &join(at, &format!("{group}.{i}"))))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if group == "all" {
                Condition::All(parsed)
            } else {
                Condition::Any(parsed)
            });
        }
    }
    if let Some(inner) = obj.get("not") {
        return Ok(Condition::Not(Box::new(parse_at(inner, &join(at, "not"))?)));
    }
    let fact = obj.get("fact").and_then(Value::as_str).ok_or_else(|| {
        (
            join(at, "fact"),
            "a condition needs all, any, not, or fact".to_string(),
        )
    })?;
    if !FACTS.contains(&fact) {
        return Err((
            join(at, "fact"),
            format!("unknown fact {fact}; known: {}", FACTS.join(", ")),
        ));
    }
    let operator = obj
        .get("operator")
        .and_then(Value::as_str)
        .ok_or_else(|| (join(at, "operator"), "missing operator".to_string()))?;
    if !OPERATORS.contains(&operator) {
        return Err((join(at, "operator"), format!("unknown operator {operator}")));
    }
    let (path, steps) = match obj.get("path") {
        None => (None, vec![]),
        Some(Value::String(p)) => (
            Some(p.clone()),
            parse_path(p).map_err(|e| (join(at, "path"), e))?,
        ),
        Some(_) => return Err((join(at, "path"), "must be a string".into())),
    };
    let mut compiled = None;
    let value = obj.get("value").cloned().unwrap_or(Value::Null);
    if operator == "matches" {
        let pattern = value.as_str().ok_or_else(|| {
            (
                join(at, "value"),
                "matches needs a string pattern".to_string(),
            )
        })?;
        if pattern.len() > MAX_PATTERN {
            return Err((
                join(at, "value"),
                format!("pattern longer than {MAX_PATTERN} characters"),
            ));
        }
        compiled = Some(Pattern(
            regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| (join(at, "value"), format!("invalid pattern: {e}")))?,
        ));
    }
    let mut scorecard = None;
    if operator == "atLeastLevel" {
        let name = obj
            .get("params")
            .and_then(|p| p.get("scorecard"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                (
                    join(at, "params.scorecard"),
                    "atLeastLevel needs params.scorecard".to_string(),
                )
            })?;
        if !value.is_string() {
            return Err((join(at, "value"), "atLeastLevel needs a level name".into()));
        }
        let r = crate::model::EntityRef::parse(name, Some("Scorecard"), "default")
            .map_err(|e| (join(at, "params.scorecard"), e.to_string()))?;
        scorecard = Some(r.canonical());
    }
    Ok(Condition::Fact {
        fact: fact.to_string(),
        path,
        steps,
        operator: operator.to_string(),
        value,
        pattern: compiled,
        scorecard,
    })
}

/// A JSONPath subset: `$`, `.key`, `['key with dots/slashes']`, `["key"]`, `[0]`.
pub fn parse_path(path: &str) -> Result<Vec<PathStep>, String> {
    let rest = path
        .strip_prefix('$')
        .ok_or_else(|| format!("path {path} must start with $"))?;
    let mut steps = Vec::new();
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                    j += 1;
                }
                if j == start {
                    return Err(format!("empty key in path {path}"));
                }
                steps.push(PathStep::Key(chars[start..j].iter().collect()));
                i = j;
            }
            '[' => {
                let close = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .map(|p| p + i)
                    .ok_or_else(|| format!("unclosed [ in path {path}"))?;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                if let Some(q) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    steps.push(PathStep::Key(q.to_string()));
                } else if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    steps.push(PathStep::Key(q.to_string()));
                } else if let Ok(n) = inner.parse::<usize>() {
                    steps.push(PathStep::Index(n));
                } else {
                    return Err(format!("unsupported step [{inner}] in path {path}"));
                }
                i = close + 1;
            }
            c => return Err(format!("unexpected {c:?} in path {path}")),
        }
    }
    Ok(steps)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// The value at a parsed path, if any.
pub fn select<'a>(v: &'a Value, steps: &[PathStep]) -> Option<&'a Value> {
    steps.iter().try_fold(v, |cur, step| match step {
        PathStep::Key(k) => cur.get(k.as_str()),
        PathStep::Index(n) => cur.get(*n),
    })
}

impl Condition {
    /// The (scorecard, level) pairs this rule's `atLeastLevel` conditions read.
    pub fn level_reads(&self, out: &mut Vec<(String, String)>) {
        match self {
            Condition::All(items) | Condition::Any(items) => {
                items.iter().for_each(|c| c.level_reads(out))
            }
            Condition::Not(inner) => inner.level_reads(out),
            Condition::Fact {
                scorecard: Some(s),
                value,
                ..
            } => out.push((s.clone(), value.as_str().unwrap_or_default().to_string())),
            Condition::Fact { .. } => {}
        }
    }

    /// The scorecards this rule's `atLeastLevel` conditions read.
    pub fn level_dependencies(&self, out: &mut Vec<String>) {
        match self {
            Condition::All(items) | Condition::Any(items) => {
                items.iter().for_each(|c| c.level_dependencies(out))
            }
            Condition::Not(inner) => inner.level_dependencies(out),
            Condition::Fact {
                scorecard: Some(s), ..
            } => {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
            Condition::Fact { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_reach_annotation_keys_with_dots_and_slashes() {
        let e = json!({"metadata":{"annotations":{"backstage.io/techdocs-ref":"dir:."}},"spec":{"list":[1,2]}});
        let steps = parse_path("$.metadata.annotations['backstage.io/techdocs-ref']").unwrap();
        assert_eq!(select(&e, &steps), Some(&json!("dir:.")));
        assert_eq!(
            select(&e, &parse_path("$.spec.list[1]").unwrap()),
            Some(&json!(2))
        );
        assert!(parse_path("spec.x").is_err());
    }

    #[test]
    fn broken_rules_name_the_place() {
        let r = json!({"all":[{"fact":"entity","operator":"equal","value":1},{"fact":"entity","operator":"sortOf"}]});
        assert_eq!(parse(&r).unwrap_err().0, "all.1.operator");
        let r = json!({"any":[{"fact":"weather","operator":"equal"}]});
        assert_eq!(parse(&r).unwrap_err().0, "any.0.fact");
        let r = json!({"fact":"entity","operator":"matches","value":"(a+"});
        assert_eq!(parse(&r).unwrap_err().0, "value");
    }
}
