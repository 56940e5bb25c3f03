//! Evidence: what an obligation asks for (entity fields, repository files, pushed facts,
//! attestations, the mandated template) checked against one AI system.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use crate::model::rule;

use super::pack::RulePack;

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
    /// An agent that declares tools reaches them through Cairn's MCP server, where each call is
    /// checked against its catalog entry and the rule pack and lands on the audit trail.
    fn governed_tools(
        &self,
        pack: &RulePack,
        found: &mut Vec<String>,
        missing: &mut Vec<String>,
    ) -> bool {
        let tools: Vec<String> = self.entity["spec"]["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|t| {
                crate::model::EntityRef::parse(t, Some("api"), "default")
                    .map_or_else(|_| t.to_lowercase(), |r| r.canonical())
            })
            .collect();
        if tools.is_empty() {
            found.push("declares no tools".into());
            return true;
        }
        let server = pack.agents.mcp_server.as_str();
        let others: Vec<&str> = tools
            .iter()
            .map(String::as_str)
            .filter(|t| *t != server)
            .collect();
        if server.is_empty() || others.len() == tools.len() {
            missing.push(format!(
                "reach tools through Cairn's MCP server: list {} in spec.tools, so each call is checked against this entry and audited (it lists {})",
                if server.is_empty() { "the rule pack's agents.mcpServer" } else { server },
                tools.join(", ")
            ));
            return false;
        }
        found.push(format!(
            "tools through {server}: each call checked against its entry and audited"
        ));
        if !others.is_empty() {
            found.push(format!("also declares {}", others.join(", ")));
        }
        true
    }

    /// Whether the evidence holds; what was found and what is missing.
    fn check(
        &self,
        pack: &RulePack,
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
                ok |= self.check(pack, obligation, i, found, &mut miss);
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
                ok &= self.check(pack, obligation, i, found, missing);
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
            let targets: Vec<&str> = crate::model::relations::targets_of(entity, &t).collect();
            let min = m.get("min").and_then(Value::as_u64).unwrap_or(1) as usize;
            if targets.len() >= min {
                found.push(format!("{t}: {}", targets.join(", ")));
                return true;
            }
            missing.push(format!("relate it with `{t}` (at least {min})"));
            return false;
        }
        if m.contains_key("governedTools") {
            return self.governed_tools(pack, found, missing);
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
                    + chrono::Duration::days(pack.attestation_days);
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
                let met = self.check(pack, &o.id, &o.evidence, &mut found, &mut missing);
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
