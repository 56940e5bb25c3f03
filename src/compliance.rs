//! EU AI Act compliance from a rule pack that is data (`scorecards/eu-ai-act/rule-pack.yaml`):
//! classification of an AI system from its questionnaire answers (tier, basis, flags and the
//! decisions that fired, with their articles), and the obligations that apply to it, each with
//! its due date, the evidence found and what is missing.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use crate::model::rule::{self, Condition};

/// The pseudo-scorecard under which obligations are attested.
pub const ATTESTATIONS: &str = "scorecard:default/eu-ai-act";
/// How long an attestation of an obligation holds.
pub const ATTESTATION_DAYS: i64 = 365;

#[derive(Debug, Clone)]
pub struct Question {
    pub id: String,
    pub cite: String,
    pub kind: String,
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

#[derive(Debug, Clone)]
pub struct RulePack {
    pub name: String,
    pub version: String,
    pub legal_text: String,
    pub legal_basis: String,
    pub roles: Vec<String>,
    pub questions: Vec<Question>,
    pub decisions: Vec<Decision>,
    pub obligations: Vec<Obligation>,
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

fn strings(v: &Value) -> Vec<String> {
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
        "attestation" | "mandatedTemplate" => {}
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
                kind: q["type"].as_str().unwrap_or("boolean").to_string(),
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
        Ok(RulePack {
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
        })
    }

    pub fn load(path: &std::path::Path) -> Result<RulePack, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v: Value =
            serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        RulePack::parse(&v).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The questionnaire as a JSON Schema a form can render.
    pub fn questionnaire(&self) -> Value {
        let mut props = Map::new();
        for q in &self.questions {
            let mut p = match q.kind.as_str() {
                "annex-iii" => json!({"type": "string", "pattern": "^(none|[1-8][a-h]?)$"}),
                "letters" => {
                    json!({"type": "array", "items": {"type": "string", "enum": ["a", "b", "c", "d"]}, "uniqueItems": true})
                }
                _ => json!({"type": "boolean"}),
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

    /// Classifies an entity (its `spec.aiAct`), or answers given directly.
    pub fn classify(&self, entity: &Value) -> Value {
        let facts = crate::scorecard::Facts::new(entity.clone(), None, None);
        let answers = &entity["spec"]["aiAct"]["answers"];
        let role = entity["spec"]["aiAct"]["role"].as_str();
        let holds = |c: &Condition| crate::scorecard::holds(c, &facts, None).unwrap_or(false);
        let fired = |d: &Decision| json!({"decision": d.id, "cite": d.cite, "tier": d.tier, "basis": d.basis, "flag": d.flag, "appliesFrom": d.applies_from.map(|x| x.to_string())});
        // Out of scope needs only the scope questions.
        if let Some(d) = self.decisions.iter().find(|d| d.stop && holds(&d.when)) {
            return json!({"tier": d.tier, "flags": [], "role": role, "reasons": [fired(d)], "unanswered": []});
        }
        let unanswered: Vec<Value> = self
            .questions
            .iter()
            .filter(|q| !q.optional && answers.get(&q.id).is_none_or(Value::is_null))
            .filter(|q| q.ask_if.as_ref().is_none_or(holds))
            .map(|q| json!({"id": q.id, "text": q.text, "cite": q.cite}))
            .collect();
        let mut missing = unanswered.clone();
        if role.is_none() {
            missing.insert(
                0,
                json!({"id": "role", "text": "Our role for this system", "cite": "Art. 3(3)-(7)"}),
            );
        }
        if !missing.is_empty() {
            return json!({"tier": "unclassified", "flags": [], "role": role, "reasons": [], "unanswered": missing});
        }
        let rank = |t: &str| match t {
            "prohibited" => 4,
            "high-risk" => 3,
            "annex-iii-exempted" => 2,
            "limited" => 1,
            _ => 0,
        };
        let (mut tier, mut basis) = ("minimal".to_string(), None::<String>);
        let mut flags: Vec<String> = Vec::new();
        let mut reasons = Vec::new();
        for d in &self.decisions {
            if d.stop || !holds(&d.when) {
                continue;
            }
            reasons.push(fired(d));
            if let Some(t) = &d.tier {
                if rank(t) > rank(&tier) {
                    tier = t.clone();
                    basis = d.basis.clone();
                }
            }
            if let Some(f) = &d.flag {
                flags.push(f.clone());
            }
        }
        if tier == "minimal" && flags.iter().any(|f| f.starts_with("transparency")) {
            tier = "limited".into();
        }
        if reasons.is_empty() {
            reasons.push(json!({"decision": "minimal", "cite": "Art. 95 (voluntary codes of conduct)", "tier": "minimal"}));
        }
        json!({"tier": tier, "basis": basis, "flags": flags, "role": role, "reasons": reasons, "unanswered": []})
    }

    /// The obligations a classification brings, by due date.
    pub fn obligations_for(&self, classification: &Value) -> Vec<(&Obligation, Option<NaiveDate>)> {
        let tier = classification["tier"].as_str().unwrap_or_default();
        let basis = classification["basis"].as_str();
        let role = classification["role"].as_str().unwrap_or_default();
        let flags = strings(&classification["flags"]);
        let mut out: Vec<(&Obligation, Option<NaiveDate>)> = self
            .obligations
            .iter()
            .filter(|o| {
                let by_tier = o.tiers.iter().any(|t| t == tier);
                let by_flag = o.flags.iter().any(|f| flags.contains(f));
                (by_tier || by_flag) && (o.roles.is_empty() || o.roles.iter().any(|r| r == role))
            })
            .map(|o| {
                let due = basis
                    .and_then(|b| o.applies_from.get(b))
                    .or(o.applies_from.get("default"))
                    .or(o.applies_from.values().min())
                    .copied();
                (o, due)
            })
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.id.cmp(&b.0.id)));
        out
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

/// What an obligation's evidence is checked against.
pub struct Evidence<'a> {
    pub entity: &'a Value,
    pub files: &'a [String],
    pub pushed: Option<&'a Map<String, Value>>,
    /// obligation id → (result, author, justification, at seconds).
    pub attestations: &'a HashMap<String, (String, String, String, i64)>,
    /// The templates mandated for the entity's tier.
    pub mandated: &'a [String],
    pub now: chrono::DateTime<chrono::Utc>,
}

/// File patterns compiled once (checked when the pack loads).
fn compiled(pattern: &str) -> regex::Regex {
    static CACHE: once_cell::sync::Lazy<parking_lot::Mutex<HashMap<String, regex::Regex>>> =
        once_cell::sync::Lazy::new(Default::default);
    CACHE
        .lock()
        .entry(pattern.to_string())
        .or_insert_with(|| regex::Regex::new(pattern).expect("checked at load"))
        .clone()
}

fn at_path<'a>(v: &'a Value, dotted: &str) -> &'a Value {
    dotted.split('.').fold(v, |cur, k| &cur[k])
}

fn non_empty(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

impl Evidence<'_> {
    /// Whether the evidence holds; what was found and what is missing.
    fn check(
        &self,
        obligation: &str,
        e: &Value,
        found: &mut Vec<String>,
        missing: &mut Vec<String>,
    ) -> bool {
        let m = e.as_object().expect("checked at load");
        let text = |k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        if let Some(items) = m.get("any").and_then(Value::as_array) {
            let mut options = Vec::new();
            let mut ok = false;
            for i in items {
                let mut miss = Vec::new();
                ok |= self.check(obligation, i, found, &mut miss);
                options.extend(miss);
            }
            if !ok {
                missing.push(options.join(", or "));
            }
            return ok;
        }
        if let Some(items) = m.get("all").and_then(Value::as_array) {
            let mut ok = true;
            for i in items {
                ok &= self.check(obligation, i, found, missing);
            }
            return ok;
        }
        let entity = self.entity;
        if m.contains_key("link") {
            let t = text("link");
            let hit: Vec<String> = entity["metadata"]["links"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|l| l["type"] == t.as_str())
                .filter_map(|l| l["url"].as_str().map(str::to_owned))
                .collect();
            if hit.is_empty() {
                missing.push(format!("add a link of type `{t}`"));
                return false;
            }
            found.push(format!("link {t}: {}", hit.join(", ")));
            return true;
        }
        if m.contains_key("annotation") {
            let k = text("annotation");
            let v = &entity["metadata"]["annotations"][k.as_str()];
            let ok = non_empty(v) && m.get("notEqual").is_none_or(|n| n != v);
            if ok {
                found.push(format!(
                    "annotation {k}: {}",
                    v.as_str().unwrap_or_default()
                ));
            } else {
                missing.push(format!(
                    "add the annotation `{k}`{}",
                    m.get("notEqual")
                        .map(|n| format!(" (not {})", n.as_str().unwrap_or_default()))
                        .unwrap_or_default()
                ));
            }
            return ok;
        }
        if m.contains_key("field") {
            let path = text("field");
            let v = at_path(entity, &path);
            let number = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()));
            let ok = non_empty(v)
                && m.get("min")
                    .and_then(Value::as_f64)
                    .is_none_or(|min| number.is_some_and(|n| n >= min))
                && m.get("equal").is_none_or(|want| want == v);
            if ok {
                found.push(format!(
                    "{path}: {}",
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                ));
            } else {
                let detail = match (m.get("min"), m.get("equal")) {
                    (Some(min), _) => format!(" to at least {min}"),
                    (_, Some(eq)) => format!(
                        " to {}",
                        eq.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| eq.to_string())
                    ),
                    _ => String::new(),
                };
                missing.push(format!("set `{path}`{detail}"));
            }
            return ok;
        }
        if m.contains_key("file") {
            let re = compiled(&text("file"));
            match self.files.iter().find(|f| re.is_match(f)) {
                Some(f) => {
                    found.push(format!("repository file {f}"));
                    return true;
                }
                None => {
                    missing.push(format!(
                        "add a file matching `{}` to the repository",
                        text("file")
                    ));
                    return false;
                }
            }
        }
        if m.contains_key("fact") {
            let name = text("fact");
            let fact = self.pushed.and_then(|p| p.get(&name));
            let value = match (fact, m.get("path").and_then(Value::as_str)) {
                (Some(f), Some(p)) => rule::parse_path(p)
                    .ok()
                    .and_then(|steps| rule::select(f, &steps).cloned()),
                (Some(f), None) => Some(f.clone()),
                _ => None,
            };
            let ok = value
                .as_ref()
                .is_some_and(|v| m.get("equal").is_none_or(|want| want == v));
            if ok {
                found.push(format!(
                    "pushed fact {name}: {}",
                    fact.map(Value::to_string).unwrap_or_default()
                ));
            } else {
                missing.push(format!(
                    "push the fact `{name}` from CI (POST /api/cairn/facts){}",
                    m.get("equal")
                        .map(|e| format!(
                            " with {} = {e}",
                            m.get("path").and_then(Value::as_str).unwrap_or("$")
                        ))
                        .unwrap_or_default()
                ));
            }
            return ok;
        }
        if m.contains_key("relation") {
            let t = text("relation");
            let targets: Vec<String> = entity["relations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["type"] == t.as_str())
                .filter_map(|r| r["targetRef"].as_str().map(str::to_owned))
                .collect();
            let min = m.get("min").and_then(Value::as_u64).unwrap_or(1) as usize;
            if targets.len() >= min {
                found.push(format!("{t}: {}", targets.join(", ")));
                return true;
            }
            missing.push(format!("relate it with `{t}` (at least {min})"));
            return false;
        }
        if m.contains_key("mandatedTemplate") {
            let source = entity["metadata"]["annotations"]["backstage.io/source-template"]
                .as_str()
                .unwrap_or_default();
            if self.mandated.is_empty() {
                found.push("no template is mandated for this tier".into());
                return true;
            }
            if self.mandated.iter().any(|t| t == source) {
                found.push(format!("created with {source}"));
                return true;
            }
            missing.push(format!(
                "create it with {} (backstage.io/source-template is {})",
                self.mandated.join(" or "),
                if source.is_empty() { "not set" } else { source }
            ));
            return false;
        }
        // attestation
        match self.attestations.get(obligation) {
            Some((result, author, justification, at)) => {
                let until = chrono::DateTime::from_timestamp(*at, 0).unwrap_or(self.now)
                    + chrono::Duration::days(ATTESTATION_DAYS);
                if result == "pass" && until >= self.now {
                    found.push(format!(
                        "attested by {author} until {}: {justification}",
                        until.date_naive()
                    ));
                    true
                } else if result == "pass" {
                    missing.push(format!(
                        "attest again (the attestation by {author} expired on {})",
                        until.date_naive()
                    ));
                    false
                } else {
                    missing.push(format!("attested as not met by {author}: {justification}"));
                    false
                }
            }
            None => {
                missing.push("attest it (POST …/attestations with a justification)".into());
                false
            }
        }
    }

    /// Each obligation's state: `pass`, `fail` or `not-yet-due` (with `met` saying whether the
    /// evidence is already there), with evidence found and what is missing.
    pub fn assess(&self, pack: &RulePack, classification: &Value) -> Vec<Value> {
        let today = self.now.date_naive();
        pack.obligations_for(classification)
            .into_iter()
            .map(|(o, due)| {
                let (mut found, mut missing) = (Vec::new(), Vec::new());
                let met = self.check(&o.id, &o.evidence, &mut found, &mut missing);
                // An exemption reviewed in Git (`spec.aiAct.exemptions`) covers an unmet obligation
                // until it expires.
                let exemption = self.entity["spec"]["aiAct"]["exemptions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|x| x["obligation"] == o.id.as_str())
                    .and_then(|x| {
                        let until = NaiveDate::parse_from_str(x["expires"].as_str()?, "%Y-%m-%d").ok()?;
                        Some((until, x))
                    })
                    .filter(|(until, _)| *until >= today);
                let status = match (met, due, &exemption) {
                    (_, Some(d), _) if today < d => "not-yet-due",
                    (true, _, _) => "pass",
                    (false, _, Some((until, x))) => {
                        found.push(format!(
                            "exempt until {until}: {} (approved by {})",
                            x["reason"].as_str().unwrap_or_default(),
                            x["approver"].as_str().unwrap_or_default()
                        ));
                        "exempt"
                    }
                    (false, _, None) => "fail",
                };
                json!({"id": o.id, "title": o.title, "cite": o.cite, "appliesFrom": due.map(|d| d.to_string()),
                       "status": status, "met": met, "evidence": found, "missing": missing})
            })
            .collect()
    }
}

/// Records every change of an AI system's classification in the audit trail. Follows the read
/// model: each new snapshot classifies the `AIAgent`s again and appends what moved.
#[derive(Default)]
pub struct ClassificationWatch {
    /// entity → the last recorded (tier, basis, flags), as JSON text.
    last: Option<HashMap<String, String>>,
    snapshot: usize,
    pack: Option<std::sync::Arc<RulePack>>,
}

impl ClassificationWatch {
    pub fn run(
        &mut self,
        db: &crate::storage::Db,
        snap: &crate::readmodel::Snapshot,
        source: &PackSource,
    ) -> crate::storage::Result<usize> {
        let Ok((pack, _)) = source.get() else {
            return Ok(0);
        };
        let key = snap as *const _ as usize;
        let same_pack = self
            .pack
            .as_ref()
            .is_some_and(|p| std::sync::Arc::ptr_eq(p, &pack));
        if key == self.snapshot && same_pack {
            return Ok(0);
        }
        self.snapshot = key;
        self.pack = Some(pack.clone());
        let last = match &mut self.last {
            Some(l) => l,
            None => {
                let mut l = HashMap::new();
                for (entity, details) in db.latest_audit_details("classification.changed")? {
                    let v: Value = serde_json::from_str(&details).unwrap_or_default();
                    l.insert(entity, summary(&v));
                }
                self.last.insert(l)
            }
        };
        let mut entries = Vec::new();
        for doc in snap.docs.iter().filter(|d| &*d.kind == "AIAgent") {
            let entity: Value = serde_json::from_str(&doc.json).unwrap_or_default();
            let c = pack.classify(&entity);
            let now = summary(&c);
            let r = doc.entity_ref.to_string();
            if last.get(&r) == Some(&now) {
                continue;
            }
            let previous = last.insert(r.clone(), now);
            let mut details = c.clone();
            details["previous"] = previous
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or(Value::Null);
            details["rulePack"] = json!(format!("{} {}", pack.name, pack.version));
            entries.push(crate::model::audit::Entry::new(
                &crate::model::audit::Actor::cairn(),
                "classification.changed",
                Some(&r),
                details,
            ));
        }
        db.append_audit(&entries)?;
        Ok(entries.len())
    }
}

/// What counts as a classification change: tier, basis and flags.
fn summary(c: &Value) -> String {
    json!({"tier": c["tier"], "basis": c["basis"], "flags": c["flags"]}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack() -> RulePack {
        RulePack::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scorecards/eu-ai-act/rule-pack.yaml"),
        )
        .unwrap()
    }

    fn agent(role: &str, answers: Value) -> Value {
        json!({"spec": {"aiAct": {"role": role, "answers": answers}}})
    }

    fn all_no() -> Value {
        let mut a =
            json!({"S1": true, "S2": false, "S3": true, "H1": false, "H3": "none", "G1": false});
        for p in [
            "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "T1", "T2", "T3", "T4", "T5",
        ] {
            a[p] = json!(false);
        }
        a
    }

    #[test]
    fn the_shipped_pack_loads() {
        let p = pack();
        assert!(p.questions.len() >= 29 && p.decisions.len() >= 10 && p.obligations.len() >= 25);
    }

    #[test]
    fn tiers_from_answers() {
        let p = pack();
        assert_eq!(p.classify(&agent("provider", all_no()))["tier"], "minimal");
        let mut a = all_no();
        a["T1"] = json!(true);
        let c = p.classify(&agent("provider", a.clone()));
        assert_eq!(c["tier"], "limited");
        assert_eq!(c["flags"], json!(["transparency:50(1)"]));
        a["H3"] = json!("5b");
        a["H5"] = json!(false);
        let c = p.classify(&agent("provider", a.clone()));
        assert_eq!(
            c["tier"], "unclassified",
            "H4 must be answered once H3 is set: {c}"
        );
        assert_eq!(c["unanswered"][0]["id"], "H4");
        a["H4"] = json!([]);
        let c = p.classify(&agent("provider", a.clone()));
        assert_eq!(
            (c["tier"].as_str(), c["basis"].as_str()),
            (Some("high-risk"), Some("annex-iii"))
        );
        a["P6"] = json!(true);
        let c = p.classify(&agent("provider", a.clone()));
        assert_eq!(c["tier"], "prohibited");
        let reasons: Vec<&str> = c["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["decision"].as_str())
            .collect();
        assert!(
            reasons.contains(&"prohibited") && reasons.contains(&"high-risk-annex-iii"),
            "both reasons show: {reasons:?}"
        );
        let out = p.classify(&agent("provider", json!({"S1": false})));
        assert_eq!(out["tier"], "out-of-scope");
        let none = p.classify(&agent("provider", json!({})));
        assert_eq!(none["tier"], "unclassified");
    }

    #[test]
    fn a_decision_reading_an_unknown_question_is_refused() {
        let v = json!({"kind": "RulePack", "spec": {"questions": [{"id": "S1", "cite": "x", "text": "y"}],
            "decisions": [{"id": "d", "cite": "c", "result": {"tier": "minimal"}, "when": {"all": [{"fact": "answers", "path": "$.Q9", "operator": "equal", "value": true}]}}],
            "obligations": []}});
        let err = RulePack::parse(&v).unwrap_err();
        assert!(
            err.starts_with("spec.decisions.0.when: reads question Q9"),
            "{err}"
        );
        let v = json!({"kind": "RulePack", "spec": {"questions": [], "decisions": [],
            "obligations": [{"id": "o", "cite": "c", "title": "t", "appliesFrom": "2027-13-01", "evidence": {"link": "x"}}]}});
        assert!(RulePack::parse(&v)
            .unwrap_err()
            .starts_with("spec.obligations.0.appliesFrom: must be a date"));
    }
}
