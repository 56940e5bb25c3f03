//! One AI system's assessment: its classification, and each obligation with the evidence found
//! (entity fields, repository files, pushed facts, attestations, mandated templates, exemptions
//! granted through the scorecard API), read from the database and the catalog as served.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::{Evidence, RulePack, ATTESTATIONS};
use crate::error::Error;
use crate::model::audit::{Actor, Entry};
use crate::readmodel::Snapshot;
use crate::storage::{CheckInputRow, Db, ExemptionRow, RepositoryRow};

/// Reads a file of a crawled repository at its crawled commit (the Git mirrors live in ingest).
pub trait RepositoryFiles: Send + Sync {
    fn read_file(&self, repo: &RepositoryRow, path: &str) -> Result<Option<Vec<u8>>, Error>;
}

/// What compliance reads: the database, the Git mirrors and the catalog as served. The server
/// and `cairn export technical-file` build it alike.
pub struct Inputs<'a> {
    pub db: &'a Db,
    pub files: &'a dyn RepositoryFiles,
    pub snap: Arc<Snapshot>,
    /// For a request over many systems: repositories and pushed facts read once, mandated
    /// templates found once per tier.
    bulk: Option<Bulk>,
}

#[derive(Default)]
struct Bulk {
    repos: HashMap<String, RepositoryRow>,
    pushed: HashMap<String, serde_json::Map<String, Value>>,
    mandated: HashMap<String, Vec<String>>,
    exemptions: Vec<ExemptionRow>,
}

impl<'a> Inputs<'a> {
    pub fn new(db: &'a Db, files: &'a dyn RepositoryFiles, snap: Arc<Snapshot>) -> Inputs<'a> {
        Inputs {
            db,
            files,
            snap,
            bulk: None,
        }
    }

    /// Reads what every system needs at once (for requests over all systems).
    fn preload(mut self) -> Result<Self, Error> {
        let mut bulk = Bulk::default();
        for r in self.db.load_repositories()? {
            bulk.repos.insert(r.origin.clone(), r);
        }
        for f in self.db.load_pushed_facts()? {
            bulk.pushed.entry(f.entity_ref).or_default().insert(
                f.name,
                serde_json::from_str(&f.value_json).unwrap_or(Value::Null),
            );
        }
        bulk.exemptions = self.db.load_exemptions()?;
        bulk.mandated = super::mandates::mandated_by_tier(&self.snap);
        self.bulk = Some(bulk);
        Ok(self)
    }

    /// The crawl of the repository an entity came from, and its files.
    pub(super) fn repository_of(
        &self,
        entity: &Value,
    ) -> Result<(Option<RepositoryRow>, Vec<String>), Error> {
        let repo = match crate::model::origin_of(entity) {
            Some(o) => self.repository(o)?,
            None => None,
        };
        let files = repo
            .as_ref()
            .and_then(|r| serde_json::from_str(&r.files_json).ok())
            .unwrap_or_default();
        Ok((repo, files))
    }

    fn repository(&self, origin: &str) -> Result<Option<RepositoryRow>, Error> {
        match &self.bulk {
            Some(b) => Ok(b.repos.get(origin).cloned()),
            None => Ok(self.db.repository(origin)?),
        }
    }

    pub(super) fn pushed(
        &self,
        entity_ref: &str,
    ) -> Result<Option<serde_json::Map<String, Value>>, Error> {
        match &self.bulk {
            Some(b) => Ok(b.pushed.get(entity_ref).cloned()),
            None => Ok(self.db.pushed_facts_of(entity_ref)?),
        }
    }

    /// Exemptions granted through the API for the obligations scorecard, for one system.
    fn granted(&self, entity_ref: &str) -> Result<Vec<ExemptionRow>, Error> {
        let keep = |e: &ExemptionRow| e.scorecard == ATTESTATIONS && e.entity_ref == entity_ref;
        Ok(match &self.bulk {
            Some(b) => b.exemptions.iter().filter(|e| keep(e)).cloned().collect(),
            None => self
                .db
                .load_exemptions()?
                .into_iter()
                .filter(keep)
                .collect(),
        })
    }

    fn mandated(&self, tier: &str) -> Vec<String> {
        match &self.bulk {
            Some(b) => b.mandated.get(tier).cloned().unwrap_or_default(),
            None => super::mandates::mandated_templates(&self.snap, tier),
        }
    }
}

pub fn is_ai_system(entity: &Value) -> bool {
    entity["kind"] == "AIAgent"
}

/// Obligation attestations: entity → obligation → (result, author, justification, at).
pub type Attestations = HashMap<String, HashMap<String, (String, String, String, i64)>>;

/// Obligation attestations, by entity then obligation.
pub fn attestations(db: &Db) -> Result<Attestations, Error> {
    let mut out: Attestations = HashMap::new();
    for r in db.load_check_inputs()? {
        if r.scorecard == ATTESTATIONS {
            out.entry(r.entity_ref)
                .or_default()
                .insert(r.check_id, (r.result, r.author, r.justification, r.at));
        }
    }
    Ok(out)
}

/// Classification and obligations of one entity, with the evidence Cairn holds for it.
pub fn assess(
    ctx: &Inputs,
    p: &RulePack,
    entity: &Value,
    entity_ref: &str,
    all_attestations: &Attestations,
) -> Result<Value, Error> {
    let (repo, files) = ctx.repository_of(entity)?;
    let pushed = ctx.pushed(entity_ref)?;
    let none = HashMap::new();
    let attestations = all_attestations.get(entity_ref).unwrap_or(&none);
    let classification = p.classify(entity);
    let mandated = classification["tier"]
        .as_str()
        .map(|t| ctx.mandated(t))
        .unwrap_or_default();
    let evidence = Evidence {
        entity,
        files: &files,
        pushed: pushed.as_ref(),
        attestations,
        mandated: &mandated,
        now: chrono::Utc::now(),
    };
    let mut obligations = evidence.assess(p, &classification);
    // Exemptions granted through the scorecard API cover unmet obligations too.
    let today = chrono::Utc::now().date_naive();
    for g in ctx.granted(entity_ref)? {
        for o in obligations.iter_mut().filter(|o| o["status"] == "fail") {
            if g.expires_on().is_some_and(|d| d >= today)
                && g.checks().iter().any(|c| o["id"] == c.as_str())
            {
                o["status"] = json!("exempt");
                if let Some(e) = o["evidence"].as_array_mut() {
                    e.push(json!(format!(
                        "exempt until {}: {} (approved by {})",
                        g.expires, g.reason, g.approver
                    )));
                }
            }
        }
    }
    let count = |s: &str| obligations.iter().filter(|o| o["status"] == s).count();
    Ok(json!({
        "entityRef": entity_ref,
        "rulePack": {"name": p.name, "version": p.version, "legalText": p.legal_text},
        "classification": classification,
        "summary": {"pass": count("pass"), "fail": count("fail"), "exempt": count("exempt"), "notYetDue": count("not-yet-due")},
        "obligations": obligations,
        "repository": repo.map(|r| json!({"url": r.url, "commit": r.commit_id})),
    }))
}

/// The AI system of a ref, from the catalog as served: its canonical ref and entity.
pub fn system(
    snap: &Snapshot,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<(String, Value), Error> {
    let r = crate::model::EntityRef::new(kind, namespace, name).canonical();
    let doc = snap
        .get_by_ref(&r)
        .ok_or_else(|| Error::NotFound(format!("No entity {r}")))?;
    let entity: Value =
        serde_json::from_str(&doc.json).map_err(|e| Error::Internal(e.to_string()))?;
    if !is_ai_system(&entity) {
        return Err(Error::Input(format!(
            "{r} is not an AI system (the rule pack applies to AIAgent entities)"
        )));
    }
    Ok((r, entity))
}

/// Assesses every AI system and keeps what `f` makes of each (`None` leaves it out); what all
/// of them need is read once, and no assessment outlives its system.
pub fn assess_all(
    inputs: Inputs,
    p: &RulePack,
    mut f: impl FnMut(String, Value, Value) -> Option<Value>,
) -> Result<Vec<Value>, Error> {
    let ctx = inputs.preload()?;
    let all = attestations(ctx.db)?;
    let snap = ctx.snap.clone();
    let mut out = Vec::new();
    for doc in snap.docs.iter().filter(|d| &*d.kind == "AIAgent") {
        let entity: Value = serde_json::from_str(&doc.json).unwrap_or_default();
        let a = assess(&ctx, p, &entity, &doc.entity_ref, &all)?;
        out.extend(f(doc.entity_ref.to_string(), entity, a));
    }
    Ok(out)
}

/// One system's assessment, read afresh.
pub fn assess_one(inputs: &Inputs, p: &RulePack, entity: &Value, r: &str) -> Result<Value, Error> {
    assess(inputs, p, entity, r, &attestations(inputs.db)?)
}

/// Records an attestation of one obligation (`pass` or `fail`, with a justification) by `actor`,
/// with its audit record.
pub fn attest(
    db: &Db,
    p: &RulePack,
    entity_ref: &str,
    obligation: Option<&str>,
    result: Option<&str>,
    justification: Option<&str>,
    actor: &Actor,
) -> Result<Value, Error> {
    let obligation = obligation
        .filter(|o| p.obligations.iter().any(|x| x.id == *o))
        .ok_or_else(|| {
            Error::Input("obligation must be the id of an obligation of the rule pack".into())
        })?;
    let result = match result {
        Some(x @ ("pass" | "fail")) => x,
        _ => return Err(Error::Input("result must be pass or fail".into())),
    };
    let justification = justification
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .ok_or_else(|| Error::Input("justification is required for an attestation".into()))?;
    let row = CheckInputRow::now(
        ATTESTATIONS,
        entity_ref,
        obligation,
        result,
        justification,
        actor,
    );
    let audit = [Entry::new(
        actor,
        "obligation.attested",
        Some(entity_ref),
        json!({"obligation": obligation, "result": result, "justification": justification}),
    )];
    db.save_check_input(&row, &audit)?;
    Ok(json!({"entityRef": entity_ref, "obligation": obligation, "result": result}))
}
