//! EU AI Act compliance over HTTP: the rule pack, the questionnaire, a what-if classification,
//! each AI system's assessment, attestations, the technical file and the dashboard pages. Each
//! handler parses, makes one call into `compliance`, and serialises.

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::openapi::{q, Doc};
use super::routes::Routes;
use super::{blocking, ApiError, AppState};
use crate::compliance::{self, Inputs, RulePack};
use crate::error::Error;

type Reply = Result<HttpResponse, ApiError>;

fn object_with(required: &'static [&'static str]) -> Value {
    json!({"type": "object", "required": required})
}
fn classify_request() -> Value {
    json!({"type": "object", "properties": {"role": {"type": "string"}, "answers": {"type": "object"}}})
}
fn attestation_request() -> Value {
    json!({
        "type": "object",
        "required": ["obligation", "result"],
        "properties": {
            "obligation": {"type": "string"},
            "result": {"type": "string", "enum": ["pass", "fail"]},
            "justification": {"type": "string"},
        },
    })
}
const RULE_PACK: Doc = Doc::new("The EU AI Act rule pack in force (name, version, sizes)")
    .json(|| object_with(&["name", "version"]));
const QUESTIONNAIRE: Doc = Doc::new("The questions that classify an AI system");
const CLASSIFY: Doc =
    Doc::new("What an AI system would be classified as; stores nothing").body(classify_request);
const SYSTEMS: Doc =
    Doc::new("Every AI system with its tier and obligations").json(|| object_with(&["items"]));
const ONE: Doc = Doc::new("One AI system's assessment: tier, obligations, evidence");
const ATTEST: Doc = Doc::new("Records an attestation for one obligation")
    .body(attestation_request)
    .created(|| object_with(&[]));
const TECHNICAL_FILE: Doc =
    Doc::new("The whole technical file (Annex IV) as one ZIP").media("application/zip");
const DASHBOARD: Doc = Doc::new("The compliance dashboard (HTML)")
    .query(&[q("tier"), q("owner"), q("dueBefore")])
    .media("text/html");
const DASHBOARD_ENTITY: Doc = Doc::new("One AI system's compliance page (HTML)").media("text/html");

pub fn routes(r: &mut Routes) {
    r.get("/compliance/ai-act/rule-pack", rule_pack)
        .doc(&RULE_PACK)
        .get("/compliance/ai-act/questionnaire", questionnaire)
        .doc(&QUESTIONNAIRE)
        .post("/compliance/ai-act/classify", classify)
        .doc(&CLASSIFY)
        .get("/compliance/ai-act/entities", systems)
        .doc(&SYSTEMS)
        .get("/compliance/ai-act/entities/{kind}/{namespace}/{name}", one)
        .doc(&ONE)
        .post(
            "/compliance/ai-act/entities/{kind}/{namespace}/{name}/attestations",
            attest,
        )
        .doc(&ATTEST)
        .internal(
            "/compliance/ai-act/entities/{kind}/{namespace}/{name}/technical-file",
            technical_file,
        )
        .doc(&TECHNICAL_FILE);
}

/// The compliance dashboard's pages (server-rendered HTML).
pub fn pages(r: &mut Routes) {
    r.get("/compliance", dashboard)
        .doc(&DASHBOARD)
        .get(
            "/compliance/entities/{kind}/{namespace}/{name}",
            dashboard_entity,
        )
        .doc(&DASHBOARD_ENTITY);
}

impl AppState {
    fn inputs(&self) -> Inputs<'_> {
        self.compliance.inputs(self.readmodel.snapshot())
    }
}

fn pack(state: &AppState) -> Result<Arc<RulePack>, Error> {
    Ok(pack_and_error(state)?.0)
}

fn pack_and_error(state: &AppState) -> Result<(Arc<RulePack>, Option<String>), Error> {
    state
        .compliance
        .pack()
        .map_err(|e| Error::Unavailable(format!("the EU AI Act rule pack does not load: {e}")))
}

async fn rule_pack(state: web::Data<AppState>) -> Reply {
    let (p, error) = pack_and_error(&state)?;
    Ok(HttpResponse::Ok().json(json!({
        "name": p.name, "version": p.version, "legalText": p.legal_text, "legalBasis": p.legal_basis,
        "questions": p.questions.len(), "decisions": p.decisions.len(), "obligations": p.obligations.len(),
        "error": error,
    })))
}

async fn questionnaire(state: web::Data<AppState>) -> Reply {
    Ok(HttpResponse::Ok().json(pack(&state)?.questionnaire()))
}

/// `POST …/classify {role, answers}`: what the system would be, stored nowhere.
async fn classify(body: Bytes, state: web::Data<AppState>) -> Reply {
    let body = super::json_body(&body)?;
    let role = body.get("role").cloned().unwrap_or(Value::Null);
    let answers = body.get("answers").cloned().unwrap_or(json!({}));
    Ok(HttpResponse::Ok().json(compliance::what_if(&*pack(&state)?, role, answers)?))
}

async fn one(path: web::Path<(String, String, String)>, state: web::Data<AppState>) -> Reply {
    let (kind, namespace, name) = path.into_inner();
    let p = pack(&state)?;
    let snap = state.readmodel.snapshot();
    let (r, entity) = compliance::system(&snap, &kind, &namespace, &name)?;
    let out = blocking(move || compliance::assess_one(&state.inputs(), &p, &entity, &r)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Every AI system with its tier and obligation counts.
async fn systems(state: web::Data<AppState>) -> Reply {
    let p = pack(&state)?;
    let items = blocking(move || compliance::systems(state.inputs(), &p)).await?;
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
    let p = pack(&state)?;
    let (r, _) = compliance::system(&state.readmodel.snapshot(), &kind, &namespace, &name)?;
    let body = super::json_body(&body)?;
    let text = move |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let actor = super::caller(&req);
    let out = blocking(move || {
        state.compliance.attest(
            &p,
            &r,
            text("obligation").as_deref(),
            text("result").as_deref(),
            text("justification").as_deref(),
            &actor,
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(out))
}

/// `GET …/technical-file`: the whole technical file as one ZIP.
async fn technical_file(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let actor = super::caller(&req);
    let (kind, namespace, name) = path.into_inner();
    let p = pack(&state)?;
    let (r, entity) = compliance::system(&state.readmodel.snapshot(), &kind, &namespace, &name)?;
    let (zip, file_name) =
        blocking(move || compliance::technical_file_zip(&state.inputs(), &p, &entity, &r, &actor))
            .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{file_name}\""),
        ))
        .body(zip))
}

fn page(name: &str, title: &str, data: &Value) -> Reply {
    let body = crate::render::page(name, title, data).map_err(Error::Internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

async fn dashboard(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    let params = super::params::Params::parse(req.query_string());
    let given = |k: &str| params.one(k).filter(|v| !v.is_empty());
    let filters = compliance::Filters {
        tier: given("tier"),
        owner: given("owner").map(|o| o.to_lowercase()),
        due_before: given("dueBefore"),
    };
    let p = pack(&state)?;
    let data = blocking(move || compliance::dashboard(state.inputs(), &p, &filters)).await?;
    page("compliance", "EU AI Act compliance", &data)
}

async fn dashboard_entity(
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let (kind, namespace, name) = path.into_inner();
    let p = pack(&state)?;
    let (r, entity) = compliance::system(&state.readmodel.snapshot(), &kind, &namespace, &name)?;
    let r2 = r.clone();
    let mut a = blocking(move || compliance::assess_one(&state.inputs(), &p, &entity, &r2)).await?;
    a["path"] = json!(compliance::path_of(&r));
    page("compliance-entity", &r, &a)
}
