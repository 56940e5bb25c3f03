//! `/api/cairn/graph`: neighbourhood, impact, lineage, path and dangling references, for
//! platform and governance teams (the Backstage frontend walks `by-refs` instead).

use super::routes::Routes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::openapi::{q, Doc};
use super::params::Params;
use super::{ApiError, AppState};
use crate::error::Error;
use crate::readmodel::graph::{self, Direction, Limits, Paths, IMPACT, LINEAGE};
use crate::readmodel::Snapshot;

type Reply = Result<HttpResponse, ApiError>;

const NEIGHBOURHOOD: Doc = Doc::new("Entities within some relation steps of one or more").query(&[
    q("entityRef").many().required(),
    q("depth").int(0),
    q("relation").many(),
    q("kind").many(),
    q("direction").one_of(&["outgoing", "incoming", "both"]),
    q("limit").int(0),
]);
const FOLLOW: Doc = Doc::new("Everything reached from one entity along these relations").query(&[
    q("entityRef").required(),
    q("depth").int(0),
    q("limit").int(0),
    q("paths").one_of(&["via", "full"]),
]);
const PATH: Doc = Doc::new("A shortest relation path between two entities").query(&[
    q("from").required(),
    q("to").required(),
    q("depth").int(0),
]);
const DANGLING: Doc =
    Doc::new("Relations whose target is not in the catalog").query(&[q("limit").int(0)]);

pub fn routes(r: &mut Routes) {
    r.get("/graph/neighbourhood", neighbourhood)
        .doc(&NEIGHBOURHOOD)
        .get("/graph/impact", impact)
        .doc(&FOLLOW)
        .get("/graph/lineage", lineage)
        .doc(&FOLLOW)
        .get("/graph/path", path)
        .doc(&PATH)
        .get("/graph/dangling", dangling)
        .doc(&DANGLING);
}

fn resolve(snap: &Snapshot, r: &str) -> Result<u32, Error> {
    let canonical = crate::model::EntityRef::parse_full(r)
        .map_err(|e| Error::Input(format!("Invalid entity ref {r}: {e}")))?
        .canonical();
    snap.by_ref
        .get(canonical.as_str())
        .copied()
        .ok_or_else(|| Error::NotFound(format!("No entity {canonical}")))
}

fn bounded(params: &Params, key: &str, default: i64, max: i64) -> Result<usize, Error> {
    let v = params.int(key, 0)?.unwrap_or(default);
    if v > max {
        return Err(Error::Input(format!("{key} must be at most {max}")));
    }
    Ok(v as usize)
}

async fn neighbourhood(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(NEIGHBOURHOOD.query)?;
    let refs = params.non_empty("entityRef")?;
    if refs.is_empty() {
        return Err(Error::Input("entityRef is required".into()).into());
    }
    let direction = match params.one("direction").as_deref() {
        None | Some("both") => Direction::Both,
        Some("outgoing") => Direction::Outgoing,
        Some("incoming") => Direction::Incoming,
        Some(other) => {
            return Err(Error::Input(format!(
                "direction must be outgoing, incoming or both, got {other}"
            ))
            .into())
        }
    };
    let limits = Limits {
        max_depth: bounded(&params, "depth", 1, 10)?,
        max_nodes: bounded(&params, "limit", 1000, 100_000)?.max(1),
        ..Limits::default()
    };
    let snap = state.readmodel.snapshot();
    let roots = refs
        .iter()
        .map(|r| resolve(&snap, r))
        .collect::<Result<Vec<_>, _>>()?;
    let w = graph::walk(
        &snap,
        &roots,
        &params.all("relation"),
        &params.all("kind"),
        direction,
        limits,
        Paths::None,
    );
    Ok(HttpResponse::Ok().json(w))
}

async fn follow(req: HttpRequest, state: web::Data<AppState>, types: &[&str]) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(FOLLOW.query)?;
    let paths = match params.one("paths").as_deref() {
        None | Some("via") => Paths::Via,
        Some("full") => Paths::Full,
        Some(other) => {
            return Err(Error::Input(format!("paths must be via or full, got {other}")).into())
        }
    };
    let r = params
        .one("entityRef")
        .ok_or_else(|| Error::Input("entityRef is required".into()))?;
    let limits = Limits {
        max_depth: bounded(&params, "depth", 20, 50)?,
        max_nodes: bounded(&params, "limit", 10_000, 100_000)?.max(1),
        ..Limits::default()
    };
    let snap = state.readmodel.snapshot();
    let root = resolve(&snap, &r)?;
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    let mut w = graph::walk(
        &snap,
        &[root],
        &types,
        &[],
        Direction::Outgoing,
        limits,
        paths,
    );
    w.nodes.retain(|n| n.depth > 0);
    Ok(HttpResponse::Ok().json(json!({
        "rootEntityRef": snap.docs[root as usize].entity_ref.as_ref(),
        "relations": types,
        "items": w.nodes,
        "truncated": w.truncated,
    })))
}

async fn impact(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    follow(req, state, IMPACT).await
}

async fn lineage(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    follow(req, state, LINEAGE).await
}

async fn path(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(PATH.query)?;
    let (Some(from), Some(to)) = (params.one("from"), params.one("to")) else {
        return Err(Error::Input("from and to are required".into()).into());
    };
    let snap = state.readmodel.snapshot();
    let (a, b) = (resolve(&snap, &from)?, resolve(&snap, &to)?);
    let limits = Limits {
        max_depth: bounded(&params, "depth", 8, 20)?,
        max_nodes: 100_000,
        ..Limits::default()
    };
    let (found, truncated) = graph::path(&snap, a, b, limits);
    Ok(HttpResponse::Ok().json(json!({ "found": found.is_some(), "path": found.unwrap_or_default(), "truncated": truncated })))
}

async fn dangling(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(DANGLING.query)?;
    let limit = bounded(&params, "limit", 1000, 1_000_000)?;
    let snap = state.readmodel.snapshot();
    let (items, total) = graph::dangling(&snap, limit);
    Ok(HttpResponse::Ok().json(json!({ "items": items, "totalItems": total })))
}
