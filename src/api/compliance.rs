//! EU AI Act compliance over HTTP: the rule pack, the questionnaire, a what-if classification,
//! each AI system's assessment, attestations, the technical file and the dashboard pages. Each
//! handler parses, makes one call into `compliance`, and serialises.

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::routes::Routes;
use super::{blocking, ApiError, AppState};
use crate::compliance::{self, Inputs, RulePack};
use crate::error::Error;

type Reply = Result<HttpResponse, ApiError>;

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
        .internal(
            "/compliance/ai-act/entities/{kind}/{namespace}/{name}/technical-file",
            technical_file,
        );
}

/// The compliance dashboard's pages (server-rendered HTML).
pub fn pages(r: &mut Routes) {
    r.get("/compliance", dashboard).get(
        "/compliance/entities/{kind}/{namespace}/{name}",
        dashboard_entity,
    );
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
