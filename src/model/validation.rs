//! Validation of entities as `@backstage/catalog-model` does it: the envelope, the field formats
//! (names, namespaces, labels, annotations, tags, links) and the required spec fields per kind.
//! Every problem names the field it is about so callers can point at a file and line.

use super::governance::AiActVocabulary;
use once_cell::sync::Lazy;
use regex::Regex;
use serde_json::{Map, Value};

use super::kinds::{spec_rules, FieldType};

/// One thing wrong with an entity: the dotted path of the field and a message about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
    /// Backstage's error name for this class of problem (`InputError`, `TypeError`).
    pub error_name: &'static str,
}

impl Problem {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            field: field.into(),
            message: message.into(),
            error_name: "InputError",
        }
    }
}

const NAME_EXPECT: &str =
    "a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total";
const NS_EXPECT: &str =
    "a string that is sequences of [a-z0-9] separated by [-], at most 63 characters in total";
const PREFIX_EXPECT: &str = "a valid prefix and/or suffix";
const TAG_EXPECT: &str =
    "a string that is sequences of [a-z0-9+#] separated by [-], at most 63 characters in total";
const KIND_EXPECT: &str =
    "a string that is a sequence of [a-zA-Z][a-z0-9A-Z], at most 63 characters in total";

static NAME_RE: Lazy<Regex> =
    Lazy::new(|| Regex::new(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$").unwrap());
static DNS_LABEL_RE: Lazy<Regex> =
    Lazy::new(|| Regex::new(r"^[a-z0-9]+(?:-+[a-z0-9]+)*$").unwrap());
static TAG_RE: Lazy<Regex> = Lazy::new(|| Regex::new(r"^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$").unwrap());
static KIND_RE: Lazy<Regex> = Lazy::new(|| Regex::new(r"^[a-zA-Z][a-z0-9A-Z]*$").unwrap());
static VERSION_SUFFIX_RE: Lazy<Regex> = Lazy::new(|| Regex::new(r"^[a-z0-9A-Z]+$").unwrap());

pub fn is_valid_name(s: &str) -> bool {
    (1..=63).contains(&s.len()) && NAME_RE.is_match(s)
}

pub fn is_valid_namespace(s: &str) -> bool {
    (1..=63).contains(&s.len()) && DNS_LABEL_RE.is_match(s)
}

fn is_dns_subdomain(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.split('.')
            .all(|p| (1..=63).contains(&p.len()) && DNS_LABEL_RE.is_match(p))
}

fn is_valid_prefixed_key(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => {
            !name.contains('/') && is_dns_subdomain(prefix) && is_valid_name(name)
        }
        None => is_valid_name(s),
    }
}

fn is_valid_api_version(s: &str) -> bool {
    let suffix_ok = |x: &str| (1..=63).contains(&x.len()) && VERSION_SUFFIX_RE.is_match(x);
    match s.split_once('/') {
        Some((prefix, suffix)) => {
            !suffix.contains('/') && is_dns_subdomain(prefix) && suffix_ok(suffix)
        }
        None => suffix_ok(s),
    }
}

fn format_problem(field: &str, expect: &str, found: &str) -> Problem {
    Problem::new(
        field,
        format!("\"{field}\" is not valid; expected {expect} but found \"{found}\"."),
    )
}

/// The JSON type of a value, as error messages name it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks the envelope (`apiVersion`, `kind`, `metadata.name`) that every entity of every kind
/// must have. Returns early: nothing else can be checked without it.
pub fn validate_envelope(entity: &Value) -> Vec<Problem> {
    let Some(obj) = entity.as_object() else {
        return vec![Problem {
            field: "<root>".into(),
            message: format!("Expected object at root, got {}", type_name(entity)),
            error_name: "TypeError",
        }];
    };
    let mut problems = Vec::new();
    let mut required_string = |field: &str, v: Option<&Value>| match v {
        None => problems.push(Problem {
            field: field.into(),
            message: format!(
                "must have required property '{}'",
                field.rsplit('.').next().unwrap()
            ),
            error_name: "TypeError",
        }),
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::String(_)) => problems.push(Problem {
            field: field.into(),
            message: "must NOT have fewer than 1 characters".into(),
            error_name: "TypeError",
        }),
        Some(other) => problems.push(Problem {
            field: field.into(),
            message: format!("must be string, got {}", type_name(other)),
            error_name: "TypeError",
        }),
    };
    required_string("apiVersion", obj.get("apiVersion"));
    required_string("kind", obj.get("kind"));
    match obj.get("metadata") {
        Some(Value::Object(meta)) => {
            required_string("metadata.name", meta.get("name"));
            if let Some(ns) = meta.get("namespace") {
                required_string("metadata.namespace", Some(ns));
            }
        }
        Some(other) => problems.push(Problem {
            field: "metadata".into(),
            message: format!("must be object, got {}", type_name(other)),
            error_name: "TypeError",
        }),
        None => problems.push(Problem {
            field: "metadata".into(),
            message: "must have required property 'metadata'".into(),
            error_name: "TypeError",
        }),
    }
    problems
}

/// Full validation of a source entity (as written in a descriptor, before Cairn adds anything).
/// Kinds Cairn has no spec rules for get the envelope and field-format checks only.
/// `ai_act`: the rule pack's vocabulary for `AIAgent`s' `spec.aiAct` (shape only without one).
pub fn validate_entity(entity: &Value, ai_act: Option<&AiActVocabulary>) -> Vec<Problem> {
    let problems = validate_envelope(entity);
    if !problems.is_empty() {
        return problems;
    }
    validate_fields(entity, ai_act)
}

/// Everything [`validate_entity`] checks beyond the envelope, for an entity whose envelope
/// [`validate_envelope`] already accepted.
pub fn validate_fields(entity: &Value, ai_act: Option<&AiActVocabulary>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(obj) = entity.as_object() else {
        return validate_envelope(entity);
    };
    for key in obj.keys() {
        if !matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "spec") {
            problems.push(Problem::new(key.clone(), format!("Unknown field {key}")));
        }
    }
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    if !is_valid_api_version(api_version) {
        problems.push(format_problem("apiVersion", PREFIX_EXPECT, api_version));
    }
    if !((1..=63).contains(&kind.len()) && KIND_RE.is_match(kind)) {
        problems.push(format_problem("kind", KIND_EXPECT, kind));
    }
    validate_metadata(obj["metadata"].as_object().expect("checked"), &mut problems);
    match obj.get("spec") {
        None | Some(Value::Object(_)) => {}
        Some(other) => problems.push(Problem::new(
            "spec",
            format!(
                "Malformed envelope, /spec must be object, got {}",
                type_name(other)
            ),
        )),
    }
    if problems.is_empty() {
        validate_kind(api_version, kind, obj.get("spec"), ai_act, &mut problems);
    }
    problems
}

fn validate_metadata(meta: &Map<String, Value>, problems: &mut Vec<Problem>) {
    let name = meta["name"].as_str().unwrap_or_default();
    if !is_valid_name(name) {
        problems.push(format_problem("metadata.name", NAME_EXPECT, name));
    }
    if let Some(ns) = meta.get("namespace").and_then(Value::as_str) {
        if !is_valid_namespace(ns) {
            problems.push(format_problem("metadata.namespace", NS_EXPECT, ns));
        }
    }
    for key in ["title", "description", "uid", "etag"] {
        match meta.get(key) {
            None | Some(Value::Null) if key == "description" => {}
            None => {}
            Some(Value::String(s)) if s.is_empty() && key != "description" => {
                problems.push(Problem::new(
                    format!("metadata.{key}"),
                    "must NOT have fewer than 1 characters",
                ))
            }
            Some(Value::String(_)) => {}
            Some(other) => problems.push(Problem::new(
                format!("metadata.{key}"),
                format!("must be string, got {}", type_name(other)),
            )),
        }
    }
    for (section, value_rule) in [("labels", true), ("annotations", false)] {
        match meta.get(section) {
            None => {}
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    let field = format!("metadata.{section}.{k}");
                    if !is_valid_prefixed_key(k) {
                        problems.push(format_problem(&field, PREFIX_EXPECT, k));
                    }
                    match v {
                        Value::String(s) => {
                            if value_rule && !s.is_empty() && !is_valid_name(s) {
                                problems.push(format_problem(&field, NAME_EXPECT, s));
                            }
                        }
                        other => problems.push(Problem::new(
                            field,
                            format!("must be string, got {}", type_name(other)),
                        )),
                    }
                }
            }
            Some(other) => problems.push(Problem::new(
                format!("metadata.{section}"),
                format!("must be object, got {}", type_name(other)),
            )),
        }
    }
    match meta.get("tags") {
        None => {}
        Some(Value::Array(tags)) => {
            for (i, t) in tags.iter().enumerate() {
                let field = format!("metadata.tags.{i}");
                match t.as_str() {
                    Some(s) if (1..=63).contains(&s.len()) && TAG_RE.is_match(s) => {}
                    Some(s) => problems.push(format_problem(&field, TAG_EXPECT, s)),
                    None => problems.push(Problem::new(field, "must be string")),
                }
            }
        }
        Some(other) => problems.push(Problem::new(
            "metadata.tags",
            format!("must be array, got {}", type_name(other)),
        )),
    }
    match meta.get("links") {
        None => {}
        Some(Value::Array(links)) => {
            for (i, link) in links.iter().enumerate() {
                validate_link(i, link, problems);
            }
        }
        Some(other) => problems.push(Problem::new(
            "metadata.links",
            format!("must be array, got {}", type_name(other)),
        )),
    }
}

fn validate_link(i: usize, link: &Value, problems: &mut Vec<Problem>) {
    let Some(link) = link.as_object() else {
        problems.push(Problem::new(
            format!("metadata.links.{i}"),
            "must be object",
        ));
        return;
    };
    match link.get("url").and_then(Value::as_str) {
        None => problems.push(Problem::new(
            format!("metadata.links.{i}.url"),
            format!("links.{i}.url must have a value"),
        )),
        Some(u) if url::Url::parse(u).is_err() => problems.push(format_problem(
            &format!("metadata.links.{i}.url"),
            "a string that is a valid url",
            u,
        )),
        Some(_) => {}
    }
    for key in ["title", "icon", "type"] {
        match link.get(key) {
            None => {}
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(v) => problems.push(format_problem(
                &format!("metadata.links.{i}.{key}"),
                "a non empty string",
                &v.to_string(),
            )),
        }
    }
}

/// Problems that do not stop ingestion: unknown spec fields of Cairn's kinds and unknown
/// EU AI Act answer keys. The entity is kept; the warnings show in its status.
pub fn warnings(entity: &Value, ai_act: Option<&AiActVocabulary>) -> Vec<Problem> {
    let kind = entity["kind"].as_str().unwrap_or_default();
    let Some(rules) = spec_rules(kind) else {
        return vec![];
    };
    let Some(spec) = entity["spec"].as_object() else {
        return vec![];
    };
    let mut out = Vec::new();
    if rules.warn_unknown {
        for key in spec.keys() {
            if !rules.fields.iter().any(|f| f.name == key) {
                out.push(Problem::new(
                    format!("spec.{key}"),
                    format!("unknown field {key} in a {kind} spec (kept)"),
                ));
            }
        }
    }
    let today = chrono::Utc::now().date_naive();
    for (i, ex) in spec
        .get("exemptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(d) = ex["expires"]
            .as_str()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .filter(|d| *d < today)
        {
            out.push(Problem::new(
                format!("spec.exemptions.{i}.expires"),
                format!("expired on {d}: the exemption no longer applies"),
            ));
        }
    }
    if let Some(answers) = ai_act
        .and(spec.get("aiAct"))
        .and_then(|a| a.get("answers"))
        .and_then(Value::as_object)
    {
        for key in answers.keys() {
            if ai_act.is_some_and(|v| v.question(key).is_none()) {
                out.push(Problem::new(
                    format!("spec.aiAct.answers.{key}"),
                    format!("unknown EU AI Act question {key} (kept)"),
                ));
            }
        }
    }
    out
}

fn validate_kind(
    api_version: &str,
    kind: &str,
    spec: Option<&Value>,
    ai_act: Option<&AiActVocabulary>,
    problems: &mut Vec<Problem>,
) {
    let Some(rules) = spec_rules(kind) else {
        return;
    };
    if !rules.api_versions.contains(&api_version) {
        problems.push(Problem::new(
            "apiVersion",
            format!(
                "apiVersion {api_version} is not supported for kind {kind}; expected one of {}",
                rules.api_versions.join(", ")
            ),
        ));
        return;
    }
    let empty = Map::new();
    let spec = match spec {
        Some(Value::Object(s)) => s,
        _ => {
            problems.push(schema_problem(
                "spec",
                "/ must have required property 'spec' - missingProperty: spec",
            ));
            &empty
        }
    };
    for field in rules.fields {
        let path = format!("spec.{}", field.name);
        match spec.get(field.name) {
            None if field.required => problems.push(schema_problem(
                &path,
                &format!(
                    "/spec must have required property '{0}' - missingProperty: {0}",
                    field.name
                ),
            )),
            None => {}
            Some(v) => {
                if let Some(msg) = check_type(field.ty, v) {
                    problems.push(schema_problem(
                        &path,
                        &format!("/spec/{} {msg}", field.name),
                    ));
                }
            }
        }
    }
    super::governance::check_spec(kind, spec, ai_act, problems);
}

fn schema_problem(field: &str, message: &str) -> Problem {
    Problem {
        field: field.into(),
        message: message.into(),
        error_name: "TypeError",
    }
}

fn check_type(ty: FieldType, v: &Value) -> Option<String> {
    match ty {
        FieldType::OneOf(allowed) => match v.as_str() {
            Some(s) if allowed.contains(&s) => None,
            _ => Some(format!(
                "must be equal to one of the allowed values: {}",
                allowed.join(", ")
            )),
        },
        FieldType::Objects(keys) => match v {
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| match item {
                Value::Object(o) => keys.iter().find_map(|k| match o.get(*k) {
                    Some(Value::String(s)) if !s.is_empty() => None,
                    _ => Some(format!("item {i} must have a non-empty string '{k}'")),
                }),
                other => Some(format!("item {i} must be object, got {}", type_name(other))),
            }),
            other => Some(format!("must be array, got {}", type_name(other))),
        },
        FieldType::ArrayOrObject => match v {
            Value::Array(_) | Value::Object(_) => None,
            other => Some(format!("must be array or object, got {}", type_name(other))),
        },
        FieldType::String => match v {
            Value::String(s) if !s.is_empty() => None,
            Value::String(_) => Some("must NOT have fewer than 1 characters".into()),
            other => Some(format!("must be string, got {}", type_name(other))),
        },
        FieldType::StringArray => match v {
            Value::Array(items) => items
                .iter()
                .position(|i| !matches!(i, Value::String(s) if !s.is_empty()))
                .map(|i| format!("item {i} must be a non-empty string")),
            other => Some(format!("must be array, got {}", type_name(other))),
        },
        FieldType::Object => match v {
            Value::Object(_) => None,
            other => Some(format!("must be object, got {}", type_name(other))),
        },
        FieldType::Array => match v {
            Value::Array(_) => None,
            other => Some(format!("must be array, got {}", type_name(other))),
        },
        FieldType::Presence => match v.as_str() {
            Some("required") | Some("optional") => None,
            _ => Some("must be equal to one of the allowed values: required, optional".into()),
        },
        FieldType::Steps => match v {
            Value::Array(steps) => {
                steps
                    .iter()
                    .enumerate()
                    .find_map(|(i, s)| match s.get("action") {
                        Some(Value::String(a)) if !a.is_empty() => None,
                        _ => Some(format!("item {i} must have required property 'action'")),
                    })
            }
            other => Some(format!("must be array, got {}", type_name(other))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn component() -> Value {
        json!({"apiVersion":"backstage.io/v1alpha1","kind":"Component",
               "metadata":{"name":"a","tags":["lang:java"],"annotations":{"backstage.io/x":"1"}},
               "spec":{"type":"service","lifecycle":"production","owner":"team-a"}})
    }

    #[test]
    fn a_valid_component_has_no_problems() {
        assert_eq!(validate_entity(&component(), None), vec![]);
    }

    #[test]
    fn a_64_character_name_is_rejected() {
        let mut e = component();
        e["metadata"]["name"] = json!("a".repeat(64));
        let p = validate_entity(&e, None);
        assert_eq!(p[0].field, "metadata.name");
        e["metadata"]["name"] = json!("a".repeat(63));
        assert!(validate_entity(&e, None).is_empty());
    }

    #[test]
    fn missing_owner_names_the_field() {
        let mut e = component();
        e["spec"].as_object_mut().unwrap().remove("owner");
        let p = validate_entity(&e, None);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, "spec.owner");
        assert!(p[0].message.contains("'owner'"));
    }

    #[test]
    fn formats_follow_catalog_model() {
        assert!(is_valid_api_version("backstage.io/v1alpha1"));
        assert!(!is_valid_api_version("Backstage.io/v1alpha1"));
        assert!(is_valid_prefixed_key("backstage.io/managed-by-location"));
        assert!(!is_valid_prefixed_key("a/b/c"));
        assert!(!is_valid_namespace("Default"));
        assert!(TAG_RE.is_match("lang:java"));
        assert!(!TAG_RE.is_match("Java"));
    }

    #[test]
    fn root_keys_relations_and_status_are_foreign() {
        let mut e = component();
        e["status"] = json!({});
        assert_eq!(validate_entity(&e, None)[0].message, "Unknown field status");
    }

    #[test]
    fn unknown_kinds_pass_with_a_valid_envelope() {
        let e = json!({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}});
        assert!(validate_entity(&e, None).is_empty());
    }
}
