//! The rule pack: questions, decisions, obligations and their evidence, parsed and checked once
//! (errors name the field), and the file it comes from, re-read when it changes.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use crate::model::governance::{AiActVocabulary, Answer};
use crate::model::rule::{self, Condition};

#[derive(Debug, Clone)]
pub struct Question {
    pub id: String,
    pub cite: String,
    pub kind: Answer,
    pub text: String,
    pub help: Option<String>,
    pub optional: bool,
    pub ask_if: Option<Condition>,
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub id: String,
    pub tier: Option<String>,
    pub basis: Option<String>,
    pub flag: Option<String>,
    pub stop: bool,
    pub cite: String,
    pub applies_from: Option<NaiveDate>,
    pub when: Condition,
}

#[derive(Debug, Clone)]
pub struct Obligation {
    pub id: String,
    pub cite: String,
    pub title: String,
    pub tiers: Vec<String>,
    pub flags: Vec<String>,
    pub roles: Vec<String>,
    /// basis (or `default`) → date.
    pub applies_from: BTreeMap<String, NaiveDate>,
    pub evidence: Value,
}

/// One section of the technical file (Annex IV) and what fills it.
#[derive(Debug, Clone)]
pub struct AnnexSection {
    pub number: u8,
    pub title: String,
    /// What to add when the catalog holds nothing for the section.
    pub hint: String,
    pub items: Vec<AnnexItem>,
}

/// Where an Annex IV item comes from.
#[derive(Debug, Clone)]
pub enum AnnexItem {
    /// A dotted path in the entity.
    Field {
        label: String,
        path: String,
    },
    /// The entity's links of these types.
    Links(Vec<String>),
    Annotation {
        label: String,
        key: String,
    },
    /// The targets of the entity's relations of this type.
    Relation {
        label: String,
        relation: String,
    },
    /// A fact pushed by CI.
    Fact {
        label: String,
        name: String,
    },
    /// Repository files whose path ends with this.
    File(String),
    /// How many scorecard history (`history`) or audit (`audit`) records the system has.
    Count {
        label: String,
        of: String,
    },
    /// The crawled commit of the system's repository.
    Commit {
        label: String,
    },
}

impl AnnexItem {
    fn parse(v: &Value, field: &str) -> Result<AnnexItem, String> {
        let text = |k: &str| v[k].as_str().map(str::to_owned);
        let label = || text("label").ok_or_else(|| format!("{field}.label: is required"));
        Ok(if let Some(path) = text("field") {
            AnnexItem::Field {
                label: label()?,
                path,
            }
        } else if v["links"].is_array() {
            AnnexItem::Links(strings(&v["links"]))
        } else if let Some(key) = text("annotation") {
            AnnexItem::Annotation {
                label: label()?,
                key,
            }
        } else if let Some(relation) = text("relation") {
            AnnexItem::Relation {
                label: label()?,
                relation,
            }
        } else if let Some(name) = text("fact") {
            AnnexItem::Fact {
                label: label()?,
                name,
            }
        } else if let Some(suffix) = text("file") {
            AnnexItem::File(suffix)
        } else if let Some(of) = text("count") {
            if !matches!(of.as_str(), "history" | "audit") {
                return Err(format!("{field}.count: must be history or audit"));
            }
            AnnexItem::Count {
                label: label()?,
                of,
            }
        } else if v["commit"] == true {
            AnnexItem::Commit { label: label()? }
        } else {
            return Err(format!(
                "{field}: must read a field, links, an annotation, a relation, a fact, a file, a count or the commit"
            ));
        })
    }
}

/// A risk tier of the pack.
#[derive(Debug, Clone)]
pub struct Tier {
    pub id: String,
    pub title: String,
    pub cite: String,
    /// A system in the default tier moves here when it raises a flag starting with this.
    pub flag_prefix: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RulePack {
    /// Strictest first.
    pub tiers: Vec<Tier>,
    /// The tier of a system no decision gives a tier to.
    pub default_tier: String,
    /// The tier of a system with unanswered questions.
    pub unclassified: String,
    /// How long an attestation of an obligation holds.
    pub attestation_days: i64,
    /// The technical file's Annex IV sections.
    pub annex_iv: Vec<AnnexSection>,
    pub name: String,
    pub version: String,
    pub legal_text: String,
    pub legal_basis: String,
    pub roles: Vec<String>,
    pub questions: Vec<Question>,
    pub decisions: Vec<Decision>,
    pub obligations: Vec<Obligation>,
    /// What AI agents may call over MCP, by tier, oversight and autonomy.
    pub agents: AgentPolicy,
}

/// The `agents` section: the MCP server an agent must list among its tools, and rules that
/// narrow what it may call. Every rule that matches an agent applies; the narrowest wins.
#[derive(Debug, Clone, Default)]
pub struct AgentPolicy {
    /// The entity ref of Cairn's MCP server (`api:default/cairn-mcp`).
    pub mcp_server: String,
    pub rules: Vec<AgentRule>,
}

#[derive(Debug, Clone)]
pub struct AgentRule {
    pub id: String,
    pub cite: String,
    /// Matches agents of these tiers (any tier when empty).
    pub tiers: Vec<String>,
    /// Matches agents of these `spec.autonomy` values (any when empty).
    pub autonomy: Vec<String>,
    /// `Some(false)`: matches agents without `spec.humanOversight`; `Some(true)`: with it.
    pub human_oversight: Option<bool>,
    pub allow: ToolAccess,
}

/// What a rule lets an agent call, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ToolAccess {
    None,
    ReadOnly,
    NonDestructive,
    All,
}

impl AgentPolicy {
    fn parse(v: &Value) -> Result<AgentPolicy, String> {
        if v.is_null() {
            return Ok(AgentPolicy::default());
        }
        let mut rules = Vec::new();
        for (i, r) in v["rules"].as_array().into_iter().flatten().enumerate() {
            let field = format!("spec.agents.rules[{i}]");
            let allow = match r["allow"].as_str() {
                Some("none") => ToolAccess::None,
                Some("read-only") => ToolAccess::ReadOnly,
                Some("non-destructive") => ToolAccess::NonDestructive,
                Some("all") => ToolAccess::All,
                other => {
                    return Err(format!(
                    "{field}.allow: must be none, read-only, non-destructive or all, got {other:?}"
                ))
                }
            };
            rules.push(AgentRule {
                id: r["id"]
                    .as_str()
                    .ok_or_else(|| format!("{field}.id: required"))?
                    .to_string(),
                cite: r["cite"].as_str().unwrap_or_default().to_string(),
                tiers: strings(&r["when"]["tier"]),
                autonomy: strings(&r["when"]["autonomy"]),
                human_oversight: r["when"]["humanOversight"].as_bool(),
                allow,
            });
        }
        Ok(AgentPolicy {
            mcp_server: v["mcpServer"].as_str().unwrap_or_default().to_lowercase(),
            rules,
        })
    }
}

/// `fact: answers, path: $.X` in the pack reads `spec.aiAct.answers.X` of the entity.
fn answers_to_entity(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, child) in m {
                out.insert(k.clone(), answers_to_entity(child));
            }
            if out.get("fact").and_then(Value::as_str) == Some("answers") {
                out.insert("fact".into(), json!("entity"));
                let path = out
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or("$")
                    .trim_start_matches('$')
                    .to_string();
                out.insert("path".into(), json!(format!("$.spec.aiAct.answers{path}")));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(answers_to_entity).collect()),
        other => other.clone(),
    }
}

/// The question ids a rule reads.
fn questions_read(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if m.get("fact").and_then(Value::as_str) == Some("answers") {
                if let Some(p) = m.get("path").and_then(Value::as_str) {
                    out.push(
                        p.trim_start_matches("$.")
                            .split(['.', '['])
                            .next()
                            .unwrap_or_default()
                            .to_string(),
                    );
                }
            }
            m.values().for_each(|c| questions_read(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| questions_read(c, out)),
        _ => {}
    }
}

fn date(v: &Value, field: &str) -> Result<NaiveDate, String> {
    v.as_str()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .ok_or_else(|| format!("{field}: must be a date (YYYY-MM-DD), got {v}"))
}

pub(super) fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

const EVIDENCE_KINDS: &[&str] = &[
    "link",
    "annotation",
    "field",
    "file",
    "fact",
    "relation",
    "attestation",
    "mandatedTemplate",
    "governedTools",
    "any",
    "all",
];

fn check_evidence(v: &Value, field: &str) -> Result<(), String> {
    let m = v
        .as_object()
        .ok_or_else(|| format!("{field}: must be an object"))?;
    let kind = EVIDENCE_KINDS
        .iter()
        .find(|k| m.contains_key(**k))
        .ok_or_else(|| format!("{field}: needs one of {}", EVIDENCE_KINDS.join(", ")))?;
    match *kind {
        "any" | "all" => {
            let items = m[*kind]
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| format!("{field}.{kind}: must be a non-empty list"))?;
            for (i, item) in items.iter().enumerate() {
                check_evidence(item, &format!("{field}.{kind}.{i}"))?;
            }
        }
        "file" => {
            regex::Regex::new(m["file"].as_str().unwrap_or_default())
                .map_err(|e| format!("{field}.file: invalid pattern: {e}"))?;
        }
        "attestation" | "mandatedTemplate" | "governedTools" => {}
        k => {
            if !m[k].is_string() {
                return Err(format!("{field}.{k}: must be a string"));
            }
        }
    }
    Ok(())
}

impl RulePack {
    /// Parses and checks a pack; errors name the field.
    pub fn parse(v: &Value) -> Result<RulePack, String> {
        if v["kind"] != "RulePack" {
            return Err(format!("kind: must be RulePack, got {}", v["kind"]));
        }
        let spec = &v["spec"];
        let mut questions = Vec::new();
        for (i, q) in spec["questions"]
            .as_array()
            .ok_or("spec.questions: must be a list")?
            .iter()
            .enumerate()
        {
            let field = format!("spec.questions.{i}");
            let id = q["id"]
                .as_str()
                .ok_or_else(|| format!("{field}.id: is required"))?
                .to_string();
            let ask_if = match q.get("askIf") {
                None => None,
                Some(c) => Some(
                    rule::parse(&answers_to_entity(c))
                        .map_err(|(at, m)| format!("{field}.askIf.{at}: {m}"))?,
                ),
            };
            questions.push(Question {
                id,
                cite: q["cite"]
                    .as_str()
                    .ok_or_else(|| format!("{field}.cite: is required"))?
                    .to_string(),
                kind: {
                    let name = q["type"].as_str().unwrap_or("boolean");
                    Answer::of_type(name).ok_or_else(|| {
                        format!("{field}.type: must be boolean, annex-iii or letters, got {name}")
                    })?
                },
                text: q["text"]
                    .as_str()
                    .ok_or_else(|| format!("{field}.text: is required"))?
                    .to_string(),
                help: q["help"].as_str().map(str::to_owned),
                optional: q["optional"].as_bool().unwrap_or(false),
                ask_if,
            });
        }
        let known: Vec<&str> = questions.iter().map(|q| q.id.as_str()).collect();
        let mut decisions = Vec::new();
        for (i, d) in spec["decisions"]
            .as_array()
            .ok_or("spec.decisions: must be a list")?
            .iter()
            .enumerate()
        {
            let field = format!("spec.decisions.{i}");
            let mut read = Vec::new();
            questions_read(&d["when"], &mut read);
            if let Some(missing) = read.iter().find(|q| !known.contains(&q.as_str())) {
                return Err(format!(
                    "{field}.when: reads question {missing}, which the pack does not define"
                ));
            }
            let result = &d["result"];
            decisions.push(Decision {
                id: d["id"]
                    .as_str()
                    .ok_or_else(|| format!("{field}.id: is required"))?
                    .to_string(),
                tier: result["tier"].as_str().map(str::to_owned),
                basis: result["basis"].as_str().map(str::to_owned),
                flag: result["flag"].as_str().map(str::to_owned),
                stop: d["stop"].as_bool().unwrap_or(false),
                cite: d["cite"]
                    .as_str()
                    .ok_or_else(|| format!("{field}.cite: is required"))?
                    .to_string(),
                applies_from: d
                    .get("appliesFrom")
                    .map(|a| date(a, &format!("{field}.appliesFrom")))
                    .transpose()?,
                when: rule::parse(&answers_to_entity(&d["when"]))
                    .map_err(|(at, m)| format!("{field}.when.{at}: {m}"))?,
            });
        }
        let mut obligations = Vec::new();
        for (i, o) in spec["obligations"]
            .as_array()
            .ok_or("spec.obligations: must be a list")?
            .iter()
            .enumerate()
        {
            let field = format!("spec.obligations.{i}");
            let mut applies_from = BTreeMap::new();
            match o.get("appliesFrom") {
                None => {}
                Some(Value::Object(m)) => {
                    for (basis, d) in m {
                        applies_from.insert(
                            basis.clone(),
                            date(d, &format!("{field}.appliesFrom.{basis}"))?,
                        );
                    }
                }
                Some(d) => {
                    applies_from
                        .insert("default".into(), date(d, &format!("{field}.appliesFrom"))?);
                }
            }
            check_evidence(&o["evidence"], &format!("{field}.evidence"))?;
            obligations.push(Obligation {
                id: o["id"]
                    .as_str()
                    .ok_or_else(|| format!("{field}.id: is required"))?
                    .to_string(),
                cite: o["cite"]
                    .as_str()
                    .ok_or_else(|| format!("{field}.cite: is required"))?
                    .to_string(),
                title: o["title"]
                    .as_str()
                    .ok_or_else(|| format!("{field}.title: is required"))?
                    .to_string(),
                tiers: strings(&o["when"]["tiers"]),
                flags: strings(&o["when"]["flags"]),
                roles: strings(&o["when"]["roles"]),
                applies_from,
                evidence: o["evidence"].clone(),
            });
        }
        let mut tiers = Vec::new();
        let mut default_tier = None;
        for (i, t) in spec["tiers"].as_array().into_iter().flatten().enumerate() {
            let field = format!("spec.tiers.{i}");
            let id = t["id"]
                .as_str()
                .ok_or_else(|| format!("{field}.id: is required"))?
                .to_string();
            if t["default"] == true {
                default_tier = Some(id.clone());
            }
            tiers.push(Tier {
                title: t["title"].as_str().unwrap_or(&id).to_string(),
                cite: t["cite"].as_str().unwrap_or_default().to_string(),
                flag_prefix: t["flagPrefix"].as_str().map(str::to_owned),
                id,
            });
        }
        if tiers.is_empty() {
            return Err("spec.tiers: is required (the risk tiers, strictest first)".into());
        }
        let default_tier =
            default_tier.ok_or("spec.tiers: one tier must be the default (default: true)")?;
        for d in &decisions {
            if let Some(t) = d.tier.as_ref().filter(|_| !d.stop) {
                if !tiers.iter().any(|x| &x.id == t) {
                    return Err(format!(
                        "spec.decisions.{}.result.tier: {t} is not one of spec.tiers",
                        d.id
                    ));
                }
            }
        }
        let attestation_days = match &spec["attestations"]["validForDays"] {
            Value::Null => 365,
            v => v
                .as_i64()
                .filter(|d| *d > 0)
                .ok_or("spec.attestations.validForDays: must be a positive number of days")?,
        };
        let mut annex_iv = Vec::new();
        for (i, s) in spec["annexIv"].as_array().into_iter().flatten().enumerate() {
            let field = format!("spec.annexIv.{i}");
            let mut items = Vec::new();
            for (j, item) in s["items"].as_array().into_iter().flatten().enumerate() {
                items.push(AnnexItem::parse(item, &format!("{field}.items.{j}"))?);
            }
            annex_iv.push(AnnexSection {
                number: s["number"]
                    .as_u64()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| format!("{field}.number: is required"))?,
                title: s["title"]
                    .as_str()
                    .ok_or_else(|| format!("{field}.title: is required"))?
                    .to_string(),
                hint: s["hint"].as_str().unwrap_or_default().to_string(),
                items,
            });
        }
        Ok(RulePack {
            annex_iv,
            tiers,
            default_tier,
            unclassified: spec["unclassified"]
                .as_str()
                .unwrap_or("unclassified")
                .to_string(),
            attestation_days,
            name: v["metadata"]["name"]
                .as_str()
                .unwrap_or("rule-pack")
                .to_string(),
            version: spec["version"].as_str().unwrap_or_default().to_string(),
            legal_text: spec["legalText"].as_str().unwrap_or_default().to_string(),
            legal_basis: v["metadata"]["annotations"]["cairn.dev/legal-basis"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            roles: strings(&spec["role"]["values"]),
            questions,
            decisions,
            obligations,
            agents: AgentPolicy::parse(&spec["agents"])?,
        })
    }

    pub fn load(path: &std::path::Path) -> Result<RulePack, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v: Value =
            serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        RulePack::parse(&v).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// What an `AIAgent` descriptor's `spec.aiAct` may say under this pack, for validation at
    /// ingest.
    pub fn vocabulary(&self) -> AiActVocabulary {
        AiActVocabulary::new(
            self.questions.iter().map(|q| (q.id.clone(), q.kind)),
            self.roles.clone(),
        )
    }

    /// The questionnaire as a JSON Schema a form can render.
    pub fn questionnaire(&self) -> Value {
        let mut props = Map::new();
        for q in &self.questions {
            let mut p = match q.kind {
                Answer::AnnexIiiPoint => {
                    json!({"type": "string", "pattern": "^(none|[1-8][a-h]?)$"})
                }
                Answer::Letters => {
                    json!({"type": "array", "items": {"type": "string", "enum": ["a", "b", "c", "d"]}, "uniqueItems": true})
                }
                Answer::Bool => json!({"type": "boolean"}),
            };
            p["title"] = json!(format!("{} ({})", q.text, q.cite));
            if let Some(h) = &q.help {
                p["description"] = json!(h);
            }
            p["x-cite"] = json!(q.cite);
            props.insert(q.id.clone(), p);
        }
        json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": format!("{} questionnaire", self.name),
            "description": format!("Rule pack {} {}: {}", self.name, self.version, self.legal_text),
            "type": "object",
            "required": ["role", "answers"],
            "properties": {
                "role": {"type": "string", "enum": self.roles, "title": "Our role for this system"},
                "answers": {"type": "object", "properties": props, "additionalProperties": false},
            },
        })
    }
}

/// The rule pack file, re-read when it changes; a broken pack is an error naming the field,
/// and the last good pack keeps serving.
pub struct PackSource {
    path: std::path::PathBuf,
    cache: parking_lot::Mutex<Option<(std::time::SystemTime, std::sync::Arc<RulePack>)>>,
}

impl PackSource {
    pub fn new(path: &str) -> PackSource {
        PackSource {
            path: std::path::PathBuf::from(path),
            cache: parking_lot::Mutex::new(None),
        }
    }

    /// The pack, and the error of a newer version that does not load, if any.
    pub fn get(&self) -> Result<(std::sync::Arc<RulePack>, Option<String>), String> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .map_err(|e| format!("{}: {e}", self.path.display()));
        let mut cache = self.cache.lock();
        if let (Ok(m), Some((at, pack))) = (&modified, cache.as_ref()) {
            if m == at {
                return Ok((pack.clone(), None));
            }
        }
        match (RulePack::load(&self.path), cache.as_ref()) {
            (Ok(pack), _) => {
                let pack = std::sync::Arc::new(pack);
                if let Ok(m) = modified {
                    *cache = Some((m, pack.clone()));
                }
                Ok((pack, None))
            }
            (Err(e), Some((_, last))) => Ok((last.clone(), Some(e))),
            (Err(e), None) => Err(e),
        }
    }
}
