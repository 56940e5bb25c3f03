//! Classification: an AI system's tier, basis and flags from its answers, and the obligations
//! that follow from them with their due dates.

use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::model::rule::Condition;

use super::pack::{strings, Decision, Obligation, RulePack};

impl RulePack {
    /// Every tier a system can be in, strictest first: the ranked tiers, those a stopping
    /// decision gives (out of scope), and the tier for missing answers.
    pub fn tier_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tiers.iter().map(|t| t.id.as_str()).collect();
        for d in self.decisions.iter().filter(|d| d.stop) {
            if let Some(t) = d.tier.as_deref().filter(|t| !names.contains(t)) {
                names.push(t);
            }
        }
        if !names.contains(&self.unclassified.as_str()) {
            names.push(&self.unclassified);
        }
        names
    }

    /// Classifies an entity (its `spec.aiAct`), or answers given directly.
    pub fn classify(&self, entity: &Value) -> Value {
        let facts = crate::scorecard::Facts::new(entity.clone(), serde_json::Value::Null, None);
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
            return json!({"tier": self.unclassified, "flags": [], "role": role, "reasons": [], "unanswered": missing});
        }
        // Stricter tiers come first in the pack.
        let rank = |t: &str| {
            let n = self.tiers.len();
            n - self.tiers.iter().position(|x| x.id == t).unwrap_or(n)
        };
        let (mut tier, mut basis) = (self.default_tier.clone(), None::<String>);
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
        if tier == self.default_tier {
            let flagged = self.tiers.iter().find(|t| {
                t.flag_prefix
                    .as_ref()
                    .is_some_and(|p| flags.iter().any(|f| f.starts_with(p.as_str())))
            });
            if let Some(t) = flagged {
                tier = t.id.clone();
            }
        }
        if reasons.is_empty() {
            let default = self.tiers.iter().find(|t| t.id == self.default_tier);
            reasons.push(json!({"decision": self.default_tier, "cite": default.map(|t| t.cite.as_str()), "tier": self.default_tier}));
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

/// What a system with these answers would be, stored nowhere: the classification and the
/// obligations that would apply. Answers failing the questionnaire are an input error naming the
/// field.
pub fn what_if(p: &RulePack, role: Value, answers: Value) -> Result<Value, crate::error::Error> {
    use crate::error::Error;
    if !answers.is_object() {
        return Err(Error::Input(
            "answers must be an object (question id → answer)".into(),
        ));
    }
    let errors = crate::model::schema::schema_errors(
        &p.questionnaire(),
        &json!({"role": role, "answers": answers}),
        "request",
    );
    if let Some(e) = errors.first() {
        return Err(Error::Input(format!(
            "{}: {}",
            e["property"].as_str().unwrap_or_default(),
            e["message"].as_str().unwrap_or_default()
        )));
    }
    let entity = json!({"spec": {"aiAct": {"role": role, "answers": answers}}});
    let mut c = p.classify(&entity);
    let obligations: Vec<Value> = p
        .obligations_for(&c)
        .into_iter()
        .map(|(o, due)| json!({"id": o.id, "title": o.title, "cite": o.cite, "appliesFrom": due.map(|d| d.to_string())}))
        .collect();
    c["obligations"] = json!(obligations);
    Ok(c)
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
