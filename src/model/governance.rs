//! Shape checks for the governance kinds' nested fields, and the EU AI Act questionnaire IDs
//! an `AIAgent` answers (`spec.aiAct.answers`). Only the shape is checked here: classification
//! is the rule pack's job.

use serde_json::{Map, Value};

use super::validation::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Bool,
    /// `none` or an Annex III point such as `5b`.
    AnnexIiiPoint,
    /// A list of the Art. 6(3) conditions that hold: letters a–d.
    Letters,
}

impl Answer {
    /// The answer type a rule pack question declares (`type: boolean | annex-iii | letters`).
    pub fn of_type(name: &str) -> Option<Answer> {
        match name {
            "boolean" => Some(Answer::Bool),
            "annex-iii" => Some(Answer::AnnexIiiPoint),
            "letters" => Some(Answer::Letters),
            _ => None,
        }
    }
}

/// What an `AIAgent`'s `spec.aiAct` may say: the rule pack's question IDs with their answer
/// types, and its roles. Policy, so it comes from the pack (`spec.questions`, `spec.role.values`),
/// never from Rust.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AiActVocabulary {
    questions: std::collections::BTreeMap<String, Answer>,
    roles: Vec<String>,
}

impl AiActVocabulary {
    pub fn new(questions: impl IntoIterator<Item = (String, Answer)>, roles: Vec<String>) -> Self {
        AiActVocabulary {
            questions: questions.into_iter().collect(),
            roles,
        }
    }

    /// Reads the vocabulary of a rule pack document (the YAML of `rule-pack.yaml`).
    pub fn from_pack(pack: &Value) -> Result<Self, String> {
        let spec = &pack["spec"];
        let mut questions = Vec::new();
        for (i, q) in spec["questions"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let id = q["id"]
                .as_str()
                .ok_or_else(|| format!("spec.questions.{i}.id is required"))?;
            let kind = q["type"].as_str().unwrap_or("boolean");
            let answer = Answer::of_type(kind).ok_or_else(|| {
                format!("spec.questions.{i}.type must be boolean, annex-iii or letters, got {kind}")
            })?;
            questions.push((id.to_string(), answer));
        }
        let roles = spec["role"]["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        Ok(AiActVocabulary::new(questions, roles))
    }

    /// The answer type of a question ID, if the pack asks it.
    pub fn question(&self, id: &str) -> Option<Answer> {
        self.questions.get(id).copied()
    }
}

fn string_at(obj: &Map<String, Value>, key: &str, field: &str, problems: &mut Vec<Problem>) {
    match obj.get(key) {
        None | Some(Value::String(_)) => {}
        Some(_) => problems.push(Problem::new(format!("{field}.{key}"), "must be string")),
    }
}

/// Nested shapes of `Event`, `DataProduct` and `AIAgent` specs.
/// `ai_act`: the rule pack's vocabulary; without one, `spec.aiAct` is checked for shape only.
pub fn check_spec(
    kind: &str,
    spec: &Map<String, Value>,
    ai_act: Option<&AiActVocabulary>,
    problems: &mut Vec<Problem>,
) {
    match kind {
        "Event" => {
            if let Some(Value::Object(schema)) = spec.get("schema") {
                if let Some(f) = schema.get("format") {
                    if !matches!(
                        f.as_str(),
                        Some("asyncapi" | "json-schema" | "avro" | "protobuf")
                    ) {
                        problems.push(Problem::new(
                            "spec.schema.format",
                            "must be equal to one of the allowed values: asyncapi, json-schema, avro, protobuf",
                        ));
                    }
                }
            }
            if let Some(Value::Object(t)) = spec.get("transport") {
                string_at(t, "protocol", "spec.transport", problems);
                string_at(t, "address", "spec.transport", problems);
            }
        }
        "Scorecard" => check_scorecard(spec, problems),
        "PermissionPolicy" => super::permissions::check_policy(spec, problems),
        "Campaign" => {
            if let Some(d) = spec.get("deadline").and_then(Value::as_str) {
                if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
                    problems.push(Problem::new("spec.deadline", "must be a date (YYYY-MM-DD)"));
                }
            }
        }
        "AIAgent" => {
            if let Some(Value::Object(h)) = spec.get("humanOversight") {
                string_at(h, "owner", "spec.humanOversight", problems);
            }
            if let Some(Value::Object(l)) = spec.get("logging") {
                string_at(l, "sink", "spec.logging", problems);
            }
            if let Some(Value::Object(ai)) = spec.get("aiAct") {
                check_ai_act(ai, ai_act, problems);
            }
        }
        _ => {}
    }
}

fn check_scorecard(spec: &Map<String, Value>, problems: &mut Vec<Problem>) {
    if let Some(expr) = spec.get("schedule").and_then(Value::as_str) {
        if let Err(e) = <cron::Schedule as std::str::FromStr>::from_str(expr) {
            problems.push(Problem::new(
                "spec.schedule",
                format!("invalid cron expression {expr:?} (seconds first): {e}"),
            ));
        }
    }
    let levels: Vec<&str> = spec
        .get("levels")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let filters: Vec<&Value> = match spec.get("filter") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => vec![],
    };
    for (i, f) in filters.iter().enumerate() {
        if !is_filter_set(f) {
            problems.push(Problem::new(
                format!("spec.filter.{i}"),
                "a filter is an object of field → string or list of strings",
            ));
        }
    }
    let mut ids = Vec::new();
    for (i, check) in spec
        .get("checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = format!("spec.checks.{i}");
        let id = check["id"].as_str().unwrap_or_default();
        if ids.contains(&id) {
            problems.push(Problem::new(
                format!("{field}.id"),
                format!("duplicate check id {id}"),
            ));
        }
        ids.push(id);
        if let Some(level) = check["level"].as_str() {
            if !levels.contains(&level) {
                problems.push(Problem::new(
                    format!("{field}.level"),
                    format!(
                        "level {level} is not one of the scorecard's levels ({})",
                        levels.join(", ")
                    ),
                ));
            }
        }
        if !(check["weight"].is_null() || check["weight"].as_f64().is_some_and(|w| w >= 0.0)) {
            problems.push(Problem::new(
                format!("{field}.weight"),
                "must be a number ≥ 0",
            ));
        }
        let kind = check["type"].as_str().unwrap_or("automatic");
        match kind {
            "automatic" => match check.get("rule") {
                None => problems.push(Problem::new(
                    format!("{field}.rule"),
                    "an automatic check needs a rule",
                )),
                Some(rule) => {
                    if let Err((at, msg)) = super::rule::parse(rule) {
                        let at = if at.is_empty() {
                            format!("{field}.rule")
                        } else {
                            format!("{field}.rule.{at}")
                        };
                        problems.push(Problem::new(at, msg));
                    }
                }
            },
            "attested" => {
                if check["validForDays"].as_i64().is_none_or(|d| d <= 0) {
                    problems.push(Problem::new(
                        format!("{field}.validForDays"),
                        "an attested check needs validForDays, a whole number of days > 0",
                    ));
                }
            }
            "pushed" => {}
            other => problems.push(Problem::new(
                format!("{field}.type"),
                format!("must be automatic, attested or pushed, got {other}"),
            )),
        }
        if let Some(d) = check.get("activeFrom") {
            if d.as_str()
                .is_none_or(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err())
            {
                problems.push(Problem::new(
                    format!("{field}.activeFrom"),
                    "must be a date (YYYY-MM-DD)",
                ));
            }
        }
    }
    for (i, ex) in spec
        .get("exemptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = format!("spec.exemptions.{i}");
        match (ex.get("entity"), ex.get("filter")) {
            (Some(Value::String(r)), None) => {
                if let Err(e) = crate::model::EntityRef::parse(r, None, "default") {
                    problems.push(Problem::new(format!("{field}.entity"), e.to_string()));
                }
            }
            (None, Some(f)) => {
                let ok = match f {
                    Value::Array(sets) => !sets.is_empty() && sets.iter().all(is_filter_set),
                    other => is_filter_set(other),
                };
                if !ok {
                    problems.push(Problem::new(
                        format!("{field}.filter"),
                        "must be a filter: an object of field → value(s), or a list of them",
                    ));
                }
            }
            _ => problems.push(Problem::new(
                field.clone(),
                "needs either entity (an entity ref) or filter, not both",
            )),
        }
        if chrono::NaiveDate::parse_from_str(ex["expires"].as_str().unwrap_or_default(), "%Y-%m-%d")
            .is_err()
        {
            problems.push(Problem::new(
                format!("{field}.expires"),
                "must be a date (YYYY-MM-DD)",
            ));
        }
        match ex.get("checks") {
            Some(Value::Array(list))
                if list
                    .iter()
                    .all(|c| c.as_str().is_some_and(|c| ids.contains(&c))) => {}
            _ => problems.push(Problem::new(
                format!("{field}.checks"),
                "must list ids of this scorecard's checks",
            )),
        }
    }
}

/// One set of a Backstage filter: field → string or list of strings.
pub(crate) fn is_filter_set(f: &Value) -> bool {
    f.as_object().is_some_and(|o| {
        !o.is_empty()
            && o.values().all(|v| {
                v.is_string() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
            })
    })
}

fn check_ai_act(
    ai: &Map<String, Value>,
    vocabulary: Option<&AiActVocabulary>,
    problems: &mut Vec<Problem>,
) {
    if let Some(role) = ai.get("role") {
        let known = |r: &str| vocabulary.is_none_or(|v| v.roles.iter().any(|x| x == r));
        if !role.as_str().is_some_and(known) {
            problems.push(Problem::new(
                "spec.aiAct.role",
                format!(
                    "must be equal to one of the allowed values: {}",
                    vocabulary.map(|v| v.roles.join(", ")).unwrap_or_default()
                ),
            ));
        }
    }
    for (i, x) in ai
        .get("exemptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = format!("spec.aiAct.exemptions.{i}");
        for key in ["obligation", "reason", "approver"] {
            if x[key].as_str().is_none_or(|v| v.trim().is_empty()) {
                problems.push(Problem::new(format!("{field}.{key}"), "is required"));
            }
        }
        if x["expires"]
            .as_str()
            .is_none_or(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err())
        {
            problems.push(Problem::new(
                format!("{field}.expires"),
                "must be a date (YYYY-MM-DD)",
            ));
        }
    }
    let answers = match ai.get("answers") {
        None => return,
        Some(Value::Object(a)) => a,
        Some(_) => {
            problems.push(Problem::new(
                "spec.aiAct.answers",
                "must be object (question ID → answer)",
            ));
            return;
        }
    };
    let Some(vocabulary) = vocabulary else {
        return;
    };
    for (id, v) in answers {
        let field = format!("spec.aiAct.answers.{id}");
        let answer = vocabulary.question(id);
        let ok = match answer {
            None => true, // a warning, see validation::warnings
            Some(Answer::Bool) => v.is_boolean(),
            Some(Answer::AnnexIiiPoint) => v.as_str().is_some_and(|s| {
                s == "none"
                    || (s.len() == 2
                        && s.as_bytes()[0].is_ascii_digit()
                        && (b'1'..=b'8').contains(&s.as_bytes()[0])
                        && s.as_bytes()[1].is_ascii_lowercase())
                    || (s.len() == 1 && (b'1'..=b'8').contains(&s.as_bytes()[0]))
            }),
            Some(Answer::Letters) => v.as_array().is_some_and(|items| {
                items
                    .iter()
                    .all(|i| matches!(i.as_str(), Some("a" | "b" | "c" | "d")))
            }),
        };
        if !ok {
            let expected = match answer {
                Some(Answer::Bool) => "a boolean",
                Some(Answer::AnnexIiiPoint) => "none or an Annex III point such as 5b",
                _ => "a list of letters a-d",
            };
            problems.push(Problem::new(field, format!("must be {expected}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The vocabulary of the rule pack the project ships.
    fn shipped() -> AiActVocabulary {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scorecards/eu-ai-act/rule-pack.yaml"
        ))
        .unwrap();
        AiActVocabulary::from_pack(&serde_yaml::from_str(&text).unwrap()).unwrap()
    }

    fn agent(ai: Value) -> Value {
        json!({"apiVersion":"cairn.dev/v1alpha1","kind":"AIAgent","metadata":{"name":"bot"},
               "spec":{"type":"assistant","lifecycle":"production","owner":"cx","aiAct": ai}})
    }

    #[test]
    fn ai_act_answers_wrong_types_are_errors_and_unknown_keys_warnings() {
        let e = agent(
            json!({"role":"deployer","answers":{"S1":true,"H3":"5b","H4":["a"],"T1":"yes","X9":true}}),
        );
        let errors = super::super::validation::validate_entity(&e, Some(&shipped()));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "spec.aiAct.answers.T1");
        let warnings = super::super::validation::warnings(&e, Some(&shipped()));
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].field, "spec.aiAct.answers.X9");
    }

    #[test]
    fn unknown_spec_fields_of_governance_kinds_are_warnings() {
        let e = json!({"apiVersion":"cairn.dev/v1alpha1","kind":"Event","metadata":{"name":"e"},
                       "spec":{"type":"domain-event","lifecycle":"production","owner":"g","colour":"red"}});
        assert!(super::super::validation::validate_entity(&e, None).is_empty());
        assert_eq!(
            super::super::validation::warnings(&e, None)[0].field,
            "spec.colour"
        );
        let bad = json!({"apiVersion":"cairn.dev/v1alpha1","kind":"Event","metadata":{"name":"e"},
                       "spec":{"type":"rumour","lifecycle":"production","owner":"g"}});
        assert_eq!(
            super::super::validation::validate_entity(&bad, None)[0].field,
            "spec.type"
        );
    }
}
