//! EU AI Act compliance: the questionnaire, a what-if classification, and each AI system's
//! classification and obligations with evidence.

use super::routes::Routes;
use std::collections::HashMap;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::compliance::{Evidence, RulePack, ATTESTATIONS};
use crate::error::Error;

type Reply = Result<HttpResponse, ApiError>;

/// What compliance reads: the database, the Git mirrors and the catalog as served. The server
/// and `cairn export technical-file` build it alike.
pub struct Ctx<'a> {
    pub db: &'a crate::storage::Db,
    pub crawler: &'a crate::ingest::crawler::Crawler,
    pub snap: std::sync::Arc<crate::readmodel::Snapshot>,
    /// For a request over many systems: repositories and pushed facts read once, mandated
    /// templates found once per tier.
    pub bulk: Option<Bulk>,
}

#[derive(Default)]
pub struct Bulk {
    repos: HashMap<String, crate::storage::RepositoryRow>,
    pushed: HashMap<String, serde_json::Map<String, Value>>,
    mandated: parking_lot::Mutex<HashMap<String, Vec<String>>>,
    exemptions: Vec<crate::storage::ExemptionRow>,
}

impl Ctx<'_> {
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
        self.bulk = Some(bulk);
        Ok(self)
    }

    fn repository(&self, origin: &str) -> Result<Option<crate::storage::RepositoryRow>, Error> {
        match &self.bulk {
            Some(b) => Ok(b.repos.get(origin).cloned()),
            None => Ok(self.crawler.repository_for_origin(origin)?),
        }
    }

    fn pushed(&self, entity_ref: &str) -> Result<Option<serde_json::Map<String, Value>>, Error> {
        match &self.bulk {
            Some(b) => Ok(b.pushed.get(entity_ref).cloned()),
            None => Ok(self.db.pushed_facts_of(entity_ref)?),
        }
    }

    /// Exemptions granted through the API for the obligations scorecard, for one system.
    fn granted(&self, entity_ref: &str) -> Result<Vec<crate::storage::ExemptionRow>, Error> {
        let keep = |e: &crate::storage::ExemptionRow| {
            e.scorecard == ATTESTATIONS && e.entity_ref == entity_ref
        };
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
            Some(b) => b
                .mandated
                .lock()
                .entry(tier.to_string())
                .or_insert_with(|| {
                    crate::compliance::mandates::mandated_templates(&self.snap, tier)
                })
                .clone(),
            None => crate::compliance::mandates::mandated_templates(&self.snap, tier),
        }
    }
}

impl AppState {
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            db: self.catalog.db(),
            crawler: &self.crawler,
            snap: self.readmodel.snapshot(),
            bulk: None,
        }
    }
}

pub fn routes(r: &mut Routes) {
    r.get("/compliance/ai-act/rule-pack", rule_pack)
        .get("/compliance/ai-act/questionnaire", questionnaire)
        .post("/compliance/ai-act/classify", classify)
        .get("/compliance/ai-act/entities", systems)
        .get("/compliance/ai-act/entities/{kind}/{namespace}/{name}", one)
        .post(
            "/compliance/ai-act/entities/{kind}/{namespace}/{name}/attestations",
            attest,
        )
        .get(
            "/compliance/ai-act/entities/{kind}/{namespace}/{name}/technical-file",
            technical_file,
        );
}

fn pack(state: &AppState) -> Result<(std::sync::Arc<RulePack>, Option<String>), Error> {
    state
        .rule_pack
        .get()
        .map_err(|e| Error::Unavailable(format!("the EU AI Act rule pack does not load: {e}")))
}

async fn rule_pack(state: web::Data<AppState>) -> Reply {
    let (p, error) = pack(&state)?;
    Ok(HttpResponse::Ok().json(json!({
        "name": p.name, "version": p.version, "legalText": p.legal_text, "legalBasis": p.legal_basis,
        "questions": p.questions.len(), "decisions": p.decisions.len(), "obligations": p.obligations.len(),
        "error": error,
    })))
}

async fn questionnaire(state: web::Data<AppState>) -> Reply {
    Ok(HttpResponse::Ok().json(pack(&state)?.0.questionnaire()))
}

/// `POST …/classify {role, answers}`: what the system would be, stored nowhere.
async fn classify(body: Bytes, state: web::Data<AppState>) -> Reply {
    let body = super::json_body(&body)?;
    let (p, _) = pack(&state)?;
    let role = body.get("role").cloned().unwrap_or(Value::Null);
    let answers = body.get("answers").cloned().unwrap_or(json!({}));
    if !answers.is_object() {
        return Err(Error::Input("answers must be an object (question id → answer)".into()).into());
    }
    let errors = crate::scaffolder::schema_errors(
        &p.questionnaire(),
        &json!({"role": role, "answers": answers}),
        "request",
    );
    if let Some(e) = errors.first() {
        return Err(Error::Input(format!(
            "{}: {}",
            e["property"].as_str().unwrap_or_default(),
            e["message"].as_str().unwrap_or_default()
        ))
        .into());
    }
    let entity = json!({"spec": {"aiAct": {"role": role, "answers": answers}}});
    let mut c = p.classify(&entity);
    let obligations: Vec<Value> = p
        .obligations_for(&c)
        .into_iter()
        .map(|(o, due)| json!({"id": o.id, "title": o.title, "cite": o.cite, "appliesFrom": due.map(|d| d.to_string())}))
        .collect();
    c["obligations"] = json!(obligations);
    Ok(HttpResponse::Ok().json(c))
}

fn is_ai_system(entity: &Value) -> bool {
    entity["kind"] == "AIAgent"
}

/// Classification and obligations of one entity, with the evidence Cairn holds for it.
type Attestations = HashMap<String, HashMap<String, (String, String, String, i64)>>;

/// Obligation attestations, by entity then obligation.
fn attestations(db: &crate::storage::Db) -> Result<Attestations, Error> {
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

fn assess(
    ctx: &Ctx,
    p: &RulePack,
    entity: &Value,
    entity_ref: &str,
    all_attestations: &Attestations,
) -> Result<Value, Error> {
    let origin =
        entity["metadata"]["annotations"]["backstage.io/managed-by-origin-location"].as_str();
    let repo = match origin {
        Some(o) => ctx.repository(o)?,
        None => None,
    };
    let files: Vec<String> = repo
        .as_ref()
        .and_then(|r| serde_json::from_str(&r.files_json).ok())
        .unwrap_or_default();
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
    let today = chrono::Utc::now().date_naive().to_string();
    for g in ctx.granted(entity_ref)? {
        for o in obligations.iter_mut().filter(|o| o["status"] == "fail") {
            if g.expires >= today && g.checks().iter().any(|c| o["id"] == c.as_str()) {
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

fn entity_of(
    state: &AppState,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<(String, Value), Error> {
    let r = crate::model::EntityRef::new(kind, namespace, name).canonical();
    let snap = state.readmodel.snapshot();
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

async fn one(path: web::Path<(String, String, String)>, state: web::Data<AppState>) -> Reply {
    let (kind, namespace, name) = path.into_inner();
    let (p, _) = pack(&state)?;
    let (r, entity) = entity_of(&state, &kind, &namespace, &name)?;
    let state2 = state.clone();
    let out = web::block(move || {
        assess(
            &state2.ctx(),
            &p,
            &entity,
            &r,
            &attestations(state2.catalog.db())?,
        )
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(out))
}

/// Assesses every AI system and keeps what `f` makes of each (`None` leaves it out); what all
/// of them need is read once, and no assessment outlives its system.
fn map_systems(
    state: &AppState,
    p: &RulePack,
    mut f: impl FnMut(String, Value, Value) -> Option<Value>,
) -> Result<Vec<Value>, Error> {
    let ctx = state.ctx().preload()?;
    let all = attestations(state.catalog.db())?;
    let snap = ctx.snap.clone();
    let mut out = Vec::new();
    for doc in snap.docs.iter().filter(|d| &*d.kind == "AIAgent") {
        let entity: Value = serde_json::from_str(&doc.json).unwrap_or_default();
        let a = assess(&ctx, p, &entity, &doc.entity_ref, &all)?;
        out.extend(f(doc.entity_ref.to_string(), entity, a));
    }
    Ok(out)
}

/// Every AI system with its tier and obligation counts.
async fn systems(state: web::Data<AppState>) -> Reply {
    let (p, _) = pack(&state)?;
    let state2 = state.clone();
    let items = web::block(move || {
        map_systems(&state2, &p, |entity_ref, entity, a| {
            Some(json!({
                "entityRef": entity_ref,
                "owner": entity["spec"]["owner"],
                "tier": a["classification"]["tier"],
                "basis": a["classification"]["basis"],
                "flags": a["classification"]["flags"],
                "summary": a["summary"],
                "nextDue": a["obligations"].as_array().and_then(|o| o.iter().find(|x| x["status"] != "pass")).map(|x| json!({"id": x["id"], "appliesFrom": x["appliesFrom"]})),
            }))
        })
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `POST …/attestations {obligation, result: pass|fail, justification}` with a token.
async fn attest(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: Bytes,
    state: web::Data<AppState>,
) -> Reply {
    let (kind, namespace, name) = path.into_inner();
    let (p, _) = pack(&state)?;
    let (r, _) = entity_of(&state, &kind, &namespace, &name)?;
    let body = super::json_body(&body)?;
    let obligation = body
        .get("obligation")
        .and_then(Value::as_str)
        .filter(|o| p.obligations.iter().any(|x| x.id == *o))
        .ok_or_else(|| {
            Error::Input("obligation must be the id of an obligation of the rule pack".into())
        })?
        .to_string();
    let result = match body.get("result").and_then(Value::as_str) {
        Some(x @ ("pass" | "fail")) => x.to_string(),
        _ => return Err(Error::Input("result must be pass or fail".into()).into()),
    };
    let justification = body
        .get("justification")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .ok_or_else(|| Error::Input("justification is required for an attestation".into()))?
        .to_string();
    let author = super::caller(&req);
    let row = crate::storage::CheckInputRow {
        scorecard: ATTESTATIONS.into(),
        entity_ref: r.clone(),
        check_id: obligation.clone(),
        result: result.clone(),
        justification: justification.clone(),
        author: author.as_str().to_string(),
        at: chrono::Utc::now().timestamp(),
    };
    let audit = [crate::model::audit::Entry::new(
        &author,
        "obligation.attested",
        Some(&r),
        json!({"obligation": obligation, "result": result, "justification": justification}),
    )];
    let db = state.catalog.db().clone();
    web::block(move || db.save_check_input(&row, &audit))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
    Ok(HttpResponse::Created()
        .json(json!({"entityRef": r, "obligation": obligation, "result": result})))
}

/// One Annex IV section: what the catalog holds for it, or a hint of what to add.
fn section(number: u8, title: &str, items: Vec<(String, String)>, hint: &str) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .filter(|(_, v)| !v.is_empty() && v != "null")
        .map(|(label, value)| json!({"label": label, "value": value}))
        .collect();
    json!({"number": number, "title": title, "items": items, "hint": hint})
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn links_of(entity: &Value, types: &[&str]) -> Vec<(String, String)> {
    entity["metadata"]["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| types.iter().any(|t| l["type"] == *t))
        .map(|l| {
            (
                format!("Link ({})", show(&l["type"])),
                format!("{} <{}>", show(&l["title"]), show(&l["url"])),
            )
        })
        .collect()
}

fn annotation(entity: &Value, key: &str, label: &str) -> Vec<(String, String)> {
    let v = show(&entity["metadata"]["annotations"][key]);
    if v.is_empty() {
        vec![]
    } else {
        vec![(label.to_string(), v)]
    }
}

fn relations(entity: &Value, t: &str, label: &str) -> Vec<(String, String)> {
    let targets: Vec<String> = entity["relations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["type"] == t)
        .filter_map(|r| r["targetRef"].as_str().map(str::to_owned))
        .collect();
    if targets.is_empty() {
        vec![]
    } else {
        vec![(label.to_string(), targets.join(", "))]
    }
}

/// Annex IV's nine sections, filled from the entity, its relations, pushed facts and files.
fn annex_iv(
    entity: &Value,
    pushed: Option<&serde_json::Map<String, Value>>,
    files: &[String],
    counts: (usize, usize),
    commit: Option<&str>,
) -> Vec<Value> {
    let spec = &entity["spec"];
    let fact = |name: &str, label: &str| -> Vec<(String, String)> {
        pushed
            .and_then(|p| p.get(name))
            .map(|v| vec![(label.to_string(), v.to_string())])
            .unwrap_or_default()
    };
    let file = |name: &str| -> Vec<(String, String)> {
        files
            .iter()
            .filter(|f| f.ends_with(name))
            .map(|f| ("Repository file".to_string(), f.clone()))
            .collect()
    };
    let mut s1 = vec![
        (
            "Description".to_string(),
            show(&entity["metadata"]["description"]),
        ),
        ("Intended purpose".to_string(), show(&spec["purpose"])),
        ("Provider".to_string(), show(&spec["provider"])),
        ("Deployment".to_string(), show(&spec["deployment"])),
        ("Models".to_string(), show(&spec["models"])),
        ("Tools".to_string(), show(&spec["tools"])),
    ];
    s1.extend(links_of(entity, &["instructions-for-use"]));
    s1.extend(annotation(
        entity,
        "cairn.dev/instructions-for-use",
        "Instructions for use",
    ));
    let mut s2 = relations(entity, "consumesDataProduct", "Data products used");
    s2.push(("Data sources".to_string(), show(&spec["dataSources"])));
    s2.extend(annotation(entity, "cairn.dev/model-card", "Model card"));
    s2.extend(links_of(entity, &["model-card", "technical-documentation"]));
    s2.extend(file("MODEL_CARD.md"));
    s2.extend(fact("evaluation", "Evaluation (CI)"));
    s2.extend(fact("eval-results", "Evaluation results (CI)"));
    s2.extend(fact("bias-check", "Bias check (CI)"));
    s2.push(("Human oversight".to_string(), show(&spec["humanOversight"])));
    let mut s3 = vec![
        ("Human oversight".to_string(), show(&spec["humanOversight"])),
        ("Logging".to_string(), show(&spec["logging"])),
    ];
    s3.extend(fact("bias-check", "Per-group results (bias check)"));
    s3.extend(annotation(
        entity,
        "cairn.dev/model-card",
        "Capabilities and limitations (model card)",
    ));
    let mut s4 = fact("evaluation", "Evaluation (CI)");
    s4.extend(fact("eval-results", "Evaluation results (CI)"));
    let mut s5 = links_of(entity, &["risk-management"]);
    s5.extend(annotation(
        entity,
        "cairn.dev/risk-register",
        "Risk register",
    ));
    let mut s6 = vec![
        ("Scorecard result changes".to_string(), counts.0.to_string()),
        ("Audit records".to_string(), counts.1.to_string()),
    ];
    if let Some(c) = commit {
        s6.push(("Crawled commit".to_string(), c.to_string()));
    }
    let s7 = vec![("Standards".to_string(), show(&spec["aiAct"]["standards"]))];
    let s8 = links_of(entity, &["eu-declaration-of-conformity"]);
    let mut s9 = links_of(entity, &["post-market-monitoring-plan"]);
    s9.extend(relations(entity, "logsTo", "Log sink"));
    vec![
        section(1, "General description of the AI system", s1, "Add metadata.description, spec.purpose, spec.provider and instructions for use."),
        section(2, "Elements of the AI system and its development process", s2, "Add a model card, data products (consumesDataProducts) and CI evaluation and bias-check facts."),
        section(3, "Monitoring, functioning and control", s3, "Add spec.humanOversight and a bias-check fact with per-group results."),
        section(4, "Appropriateness of the performance metrics", s4, "Push the evaluation results from CI (POST /api/cairn/facts)."),
        section(5, "Risk management system (Art. 9)", s5, "Add a link of type risk-management or the cairn.dev/risk-register annotation."),
        section(6, "Relevant changes through the lifecycle", s6, ""),
        section(7, "Harmonised standards applied", s7, "List them in spec.aiAct.standards."),
        section(8, "EU declaration of conformity (Art. 47)", s8, "Add a link of type eu-declaration-of-conformity."),
        section(9, "Post-market monitoring system and plan (Art. 72)", s9, "Add a link of type post-market-monitoring-plan."),
    ]
}

/// `GET …/technical-file`: the whole technical file as one ZIP.
async fn technical_file(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let who = super::caller(&req);
    let (kind, namespace, name) = path.into_inner();
    let (p, _) = pack(&state)?;
    let (r, entity) = entity_of(&state, &kind, &namespace, &name)?;
    let state2 = state.clone();
    let (zip, file_name) =
        web::block(move || technical_file_zip(&state2.ctx(), &p, &entity, &r, &who))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{file_name}\""),
        ))
        .body(zip))
}

/// The compliance dashboard's pages (server-rendered HTML).
pub fn pages(r: &mut Routes) {
    r.open("/compliance", dashboard).open(
        "/compliance/entities/{kind}/{namespace}/{name}",
        dashboard_entity,
    );
}

fn page(name: &str, title: &str, data: &Value) -> Reply {
    let body = crate::render::page(name, title, data).map_err(Error::Internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

fn path_of(entity_ref: &str) -> String {
    let r = crate::model::EntityRef::parse(entity_ref, None, "default").expect("a stored ref");
    format!("{}/{}/{}", r.kind, r.namespace, r.name)
}

async fn dashboard(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    let params = super::params::Params::parse(req.query_string());
    let tier = params.one("tier").filter(|t| !t.is_empty());
    let owner = params
        .one("owner")
        .filter(|t| !t.is_empty())
        .map(|o| o.to_lowercase());
    let due_before = params.one("dueBefore").filter(|t| !t.is_empty());
    let (p, _) = pack(&state)?;
    let state2 = state.clone();
    let (tier2, owner2, due2) = (tier.clone(), owner.clone(), due_before.clone());
    let today = chrono::Utc::now().date_naive().to_string();
    let today2 = today.clone();
    let systems = web::block(move || {
        map_systems(&state2, &p, |entity_ref, entity, a| {
            let c = &a["classification"];
            if tier2.as_deref().is_some_and(|t| c["tier"] != t) {
                return None;
            }
            if owner2.as_deref().is_some_and(|o| {
                entity["spec"]["owner"]
                    .as_str()
                    .map(str::to_lowercase)
                    .as_deref()
                    != Some(o)
            }) {
                return None;
            }
            let obligations = a["obligations"].as_array().cloned().unwrap_or_default();
            let open: Vec<&Value> = obligations
                .iter()
                .filter(|o| o["met"] != true && o["status"] != "exempt")
                .collect();
            let nearest = open
                .iter()
                .filter(|o| {
                    o["appliesFrom"]
                        .as_str()
                        .is_some_and(|d| d >= today2.as_str())
                })
                .min_by_key(|o| o["appliesFrom"].as_str().map(str::to_owned))
                .map(|o| json!({"id": o["id"], "appliesFrom": o["appliesFrom"]}));
            if let Some(before) = &due2 {
                let due_soon = open.iter().any(|o| {
                    o["appliesFrom"]
                        .as_str()
                        .is_none_or(|d| d <= before.as_str())
                });
                if !due_soon {
                    return None;
                }
            }
            let count = |f: &dyn Fn(&Value) -> bool| obligations.iter().filter(|o| f(o)).count();
            Some(json!({
                "path": path_of(&entity_ref),
                "entityRef": entity_ref,
                "tier": c["tier"], "basis": c["basis"], "flags": c["flags"], "role": c["role"],
                "owner": entity["spec"]["owner"],
                "met": count(&|o| o["met"] == true || o["status"] == "exempt"),
                "due": count(&|o| o["status"] == "not-yet-due" && o["met"] != true),
                "overdue": count(&|o| o["status"] == "fail"),
                "nearest": nearest,
            }))
        })
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    let (p, _) = pack(&state)?;
    let tiers: Vec<Value> = [
        "prohibited",
        "high-risk",
        "annex-iii-exempted",
        "limited",
        "minimal",
        "out-of-scope",
        "unclassified",
    ]
    .iter()
    .map(|t| json!({"name": t, "selected": tier.as_deref() == Some(*t)}))
    .collect();
    page(
        "compliance",
        "EU AI Act compliance",
        &json!({
            "rulePack": {"name": p.name, "version": p.version, "legalText": p.legal_text},
            "today": today,
            "tiers": tiers,
            "filters": {"owner": owner, "dueBefore": due_before},
            "count": systems.len(),
            "systems": systems,
        }),
    )
}

async fn dashboard_entity(
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let (kind, namespace, name) = path.into_inner();
    let (p, _) = pack(&state)?;
    let (r, entity) = entity_of(&state, &kind, &namespace, &name)?;
    let state2 = state.clone();
    let r2 = r.clone();
    let mut a = web::block(move || {
        assess(
            &state2.ctx(),
            &p,
            &entity,
            &r2,
            &attestations(state2.catalog.db())?,
        )
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    a["path"] = json!(path_of(&r));
    page("compliance-entity", &r, &a)
}

/// The technical file of one AI system as a ZIP, and its file name; the export is audited.
pub fn technical_file_zip(
    ctx: &Ctx,
    p: &RulePack,
    entity: &Value,
    r: &str,
    actor: &crate::model::audit::Actor,
) -> Result<(Vec<u8>, String), Error> {
    let assessment = assess(ctx, p, entity, r, &attestations(ctx.db)?)?;
    let db = ctx.db;
    let history = db.history(Some(r), None)?;
    let mut audit = Vec::new();
    let mut after = 0;
    loop {
        let page = db.audit_records(after, 5000, Some(r), None, None)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        audit.extend(page);
    }
    let head = db.verify_audit()?;
    let origin =
        entity["metadata"]["annotations"]["backstage.io/managed-by-origin-location"].as_str();
    let repo = match origin {
        Some(o) => ctx.repository(o)?,
        None => None,
    };
    let files: Vec<String> = repo
        .as_ref()
        .and_then(|x| serde_json::from_str(&x.files_json).ok())
        .unwrap_or_default();
    // Documents the entity points at in its own repository, and the model card.
    let mut wanted: Vec<String> = entity["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("cairn.dev/"))
        .filter_map(|(_, v)| v.as_str())
        .filter(|v| v.starts_with("./"))
        .map(|v| v.trim_start_matches("./").to_string())
        .collect();
    wanted.extend(
        files
            .iter()
            .filter(|f| f.ends_with("MODEL_CARD.md"))
            .cloned(),
    );
    wanted.sort();
    wanted.dedup();
    let mut documents = Vec::new();
    if let Some(row) = &repo {
        for w in wanted.iter().filter(|w| files.contains(w)) {
            if let Ok(Some(bytes)) = ctx.crawler.read_file(row, w) {
                documents.push((w.clone(), bytes));
            }
        }
    }
    let pushed = ctx.pushed(r)?;
    let answers: Vec<Value> = p
        .questions
        .iter()
        .map(|q| {
            json!({"id": q.id, "text": q.text, "cite": q.cite,
                            "answer": show(&entity["spec"]["aiAct"]["answers"][q.id.as_str()])})
        })
        .map(|mut v| {
            if v["answer"] == "" {
                v["answer"] = json!("(not answered)");
            }
            v
        })
        .collect();
    let data = json!({
        "title": entity["metadata"]["title"].as_str().or(entity["metadata"]["name"].as_str()),
        "entityRef": r,
        "generatedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "rulePack": assessment["rulePack"],
        "repository": assessment["repository"],
        "classification": assessment["classification"],
        "answers": answers,
        "sections": annex_iv(entity, pushed.as_ref(), &files, (history.len(), audit.len()), repo.as_ref().map(|x| x.commit_id.as_str())),
        "obligations": assessment["obligations"],
        "historyCount": history.len(),
        "auditCount": audit.len(),
        "auditHead": head.last_hash,
        "documents": documents.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
    });
    let md = crate::render::report("technical-file.md", &data).map_err(Error::Internal)?;
    let html = crate::render::report("technical-file.html", &data).map_err(Error::Internal)?;
    let pretty = |v: &Value| serde_json::to_vec_pretty(v).unwrap_or_default();
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        ("technical-file.md".into(), md.into_bytes()),
        ("technical-file.html".into(), html.into_bytes()),
        ("entity.json".into(), pretty(entity)),
        (
            "classification.json".into(),
            pretty(
                &json!({"answers": entity["spec"]["aiAct"], "classification": assessment["classification"]}),
            ),
        ),
        (
            "obligations.json".into(),
            pretty(&assessment["obligations"]),
        ),
        (
            "scorecard-history.json".into(),
            pretty(&serde_json::to_value(&history).unwrap_or_default()),
        ),
        (
            "audit.json".into(),
            pretty(&serde_json::to_value(&audit).unwrap_or_default()),
        ),
        ("ci-results.json".into(), pretty(&json!(pushed))),
    ];
    for (path, bytes) in documents {
        entries.push((format!("documents/{path}"), bytes));
    }
    let manifest: Vec<Value> = entries
        .iter()
        .map(|(p, b)| {
            use sha2::Digest;
            json!({"path": p, "bytes": b.len(), "sha256": hex::encode(sha2::Sha256::digest(b))})
        })
        .collect();
    entries.push(("manifest.json".into(), pretty(&json!({
            "entityRef": r, "generatedAt": data["generatedAt"], "rulePack": assessment["rulePack"],
            "repository": assessment["repository"], "auditChainHead": head.last_hash, "auditChainIntact": head.ok,
            "files": manifest,
        }))));
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (path, bytes) in &entries {
            zip.start_file(path.as_str(), opts)
                .map_err(|e| Error::Internal(e.to_string()))?;
            std::io::Write::write_all(&mut zip, bytes)
                .map_err(|e| Error::Internal(e.to_string()))?;
        }
        zip.finish().map_err(|e| Error::Internal(e.to_string()))?;
    }
    let file_name = format!("technical-file-{}.zip", r.replace([':', '/'], "-"));
    let zip = buf.into_inner();
    use sha2::Digest;
    db.append_audit(&[crate::model::audit::Entry::new(
            actor,
            "technical-file.exported",
            Some(r),
            json!({"sha256": hex::encode(sha2::Sha256::digest(&zip)), "bytes": zip.len(), "auditChainHead": head.last_hash}),
        )])?;
    Ok((zip, file_name))
}
