//! EU AI Act compliance: the questionnaire, a what-if classification, and each AI system's
//! classification and obligations with evidence.

use std::collections::HashMap;

use actix_web::web::Bytes;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::compliance::{Evidence, RulePack, ATTESTATIONS};
use crate::error::Error;

type Reply = Result<HttpResponse, ApiError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/compliance/ai-act/rule-pack", web::get().to(rule_pack))
        .route(
            "/compliance/ai-act/questionnaire",
            web::get().to(questionnaire),
        )
        .route("/compliance/ai-act/classify", web::post().to(classify))
        .route("/compliance/ai-act/entities", web::get().to(systems))
        .route(
            "/compliance/ai-act/entities/{kind}/{namespace}/{name}",
            web::get().to(one),
        )
        .route(
            "/compliance/ai-act/entities/{kind}/{namespace}/{name}/attestations",
            web::post().to(attest),
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
fn attestations(state: &AppState) -> Result<Attestations, Error> {
    let mut out: Attestations = HashMap::new();
    for r in state.catalog.db().load_check_inputs()? {
        if r.scorecard == ATTESTATIONS {
            out.entry(r.entity_ref)
                .or_default()
                .insert(r.check_id, (r.result, r.author, r.justification, r.at));
        }
    }
    Ok(out)
}

fn assess(
    state: &AppState,
    p: &RulePack,
    entity: &Value,
    entity_ref: &str,
    all_attestations: &Attestations,
) -> Result<Value, Error> {
    let origin =
        entity["metadata"]["annotations"]["backstage.io/managed-by-origin-location"].as_str();
    let repo = match origin {
        Some(o) => state.crawler.repository_for_origin(o)?,
        None => None,
    };
    let files: Vec<String> = repo
        .as_ref()
        .and_then(|r| serde_json::from_str(&r.files_json).ok())
        .unwrap_or_default();
    let pushed = state.scorecards.pushed_of(entity_ref);
    let none = HashMap::new();
    let attestations = all_attestations.get(entity_ref).unwrap_or(&none);
    let classification = p.classify(entity);
    let evidence = Evidence {
        entity,
        files: &files,
        pushed: pushed.as_ref(),
        attestations,
        now: chrono::Utc::now(),
    };
    let obligations = evidence.assess(p, &classification);
    let count = |s: &str| obligations.iter().filter(|o| o["status"] == s).count();
    Ok(json!({
        "entityRef": entity_ref,
        "rulePack": {"name": p.name, "version": p.version, "legalText": p.legal_text},
        "classification": classification,
        "summary": {"pass": count("pass"), "fail": count("fail"), "notYetDue": count("not-yet-due")},
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
    let out = web::block(move || assess(&state2, &p, &entity, &r, &attestations(&state2)?))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(out))
}

/// Every AI system with its tier and obligation counts.
async fn systems(state: web::Data<AppState>) -> Reply {
    let (p, _) = pack(&state)?;
    let state2 = state.clone();
    let items = web::block(move || -> Result<Vec<Value>, Error> {
        let snap = state2.readmodel.snapshot();
        let all = attestations(&state2)?;
        let mut out = Vec::new();
        for doc in snap.docs.iter().filter(|d| &*d.kind == "AIAgent") {
            let entity: Value = serde_json::from_str(&doc.json).unwrap_or_default();
            let a = assess(&state2, &p, &entity, &doc.entity_ref, &all)?;
            out.push(json!({
                "entityRef": doc.entity_ref.to_string(),
                "owner": entity["spec"]["owner"],
                "tier": a["classification"]["tier"],
                "basis": a["classification"]["basis"],
                "flags": a["classification"]["flags"],
                "summary": a["summary"],
                "nextDue": a["obligations"].as_array().and_then(|o| o.iter().find(|x| x["status"] != "pass")).map(|x| json!({"id": x["id"], "appliesFrom": x["appliesFrom"]})),
            }));
        }
        Ok(out)
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
    let author = req
        .extensions()
        .get::<super::Principal>()
        .map(|p| p.0.clone())
        .unwrap_or_else(|| "anonymous".into());
    let row = crate::storage::CheckInputRow {
        scorecard: ATTESTATIONS.into(),
        entity_ref: r.clone(),
        check_id: obligation.clone(),
        result: result.clone(),
        justification: justification.clone(),
        author: author.clone(),
        at: chrono::Utc::now().timestamp(),
    };
    let audit = [crate::audit::Entry::new(
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
