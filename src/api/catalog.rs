//! Entity endpoints: list, query with cursors, by-refs, by-uid, by-name, ancestry, facets,
//! refresh and validate-entity.

use super::routes::Routes;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use serde_json::{json, Value};

use super::openapi::{q, shapes, Doc, Param};
use super::params::{fields_list, json_body, Params};
use super::{ApiError, AppState};
use crate::error::Error;
use crate::readmodel::filter::{parse_filter_params, parse_predicate, Predicate};
use crate::readmodel::query::{self, write_items, Cursor, FullTextFilter, OrderField, QuerySpec};
use crate::readmodel::Snapshot;

type Reply = Result<HttpResponse, ApiError>;

const FILTER: Param = q("filter").many();
const FIELDS: Param = q("fields").many();
const LIST: Doc =
    Doc::new("Entities, optionally filtered, projected, ordered and paged (Link header)")
        .query(&[
            FILTER,
            FIELDS,
            q("order").many(),
            q("limit").int(i64::MIN),
            q("offset").int(0),
            q("after"),
        ])
        .json(shapes::entities);
const QUERY_GET: Doc = Doc::new("A page of entities with cursors")
    .query(&[
        FILTER,
        FIELDS,
        q("limit").int(0),
        q("offset").int(0),
        q("orderField").many(),
        q("fullTextFilterTerm"),
        q("fullTextFilterFields").many(),
        q("totalItems"),
        q("cursor").many(),
    ])
    .json(shapes::query_response);
const QUERY_POST: Doc = Doc::new("A page of entities matching a predicate query")
    .body(shapes::query_request)
    .json(shapes::query_response);
const BY_REFS: Doc = Doc::new("Entities by ref, in the order asked (null for each one missing)")
    .query(&[FILTER])
    .body(shapes::by_refs_request)
    .json(shapes::by_refs_response);
const BY_UID: Doc = Doc::new("One entity by uid").json(shapes::entity);
const DELETE_BY_UID: Doc =
    Doc::new("Removes one entity (it comes back if its location still holds it)").no_content();
const BY_NAME: Doc = Doc::new("One entity by kind, namespace and name").json(shapes::entity);
const ANCESTRY: Doc = Doc::new("The chain of entities that emitted this one");
const FACETS_GET: Doc = Doc::new("Counts of the values of fields")
    .query(&[q("facet").many(), FILTER])
    .json(shapes::facets);
const FACETS_POST: Doc = Doc::new("Counts of the values of fields, with a predicate query")
    .body(shapes::facets_request)
    .json(shapes::facets);

pub fn routes(r: &mut Routes) {
    r.get("/entities", list_entities)
        .doc(&LIST)
        .get("/entities/by-query", query_get)
        .doc(&QUERY_GET)
        .post("/entities/by-query", query_post)
        .doc(&QUERY_POST)
        .post("/entities/by-refs", by_refs)
        .doc(&BY_REFS)
        .get("/entities/by-uid/{uid}", by_uid)
        .doc(&BY_UID)
        .delete("/entities/by-uid/{uid}", delete_by_uid)
        .doc(&DELETE_BY_UID)
        .get("/entities/by-name/{kind}/{namespace}/{name}", by_name)
        .doc(&BY_NAME)
        .get(
            "/entities/by-name/{kind}/{namespace}/{name}/ancestry",
            ancestry,
        )
        .doc(&ANCESTRY)
        .get("/entity-facets", facets_get)
        .doc(&FACETS_GET)
        .post("/entity-facets", facets_post)
        .doc(&FACETS_POST);
}

fn json_response(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .body(body)
}

fn filter_of(params: &Params) -> Result<Option<Predicate>, Error> {
    parse_filter_params(&params.non_empty("filter")?).map_err(Error::Input)
}

async fn list_entities(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(LIST.query)?;
    let filter = filter_of(&params)?;
    let fields = params.fields("fields")?;
    let mut order = Vec::new();
    for o in params.all("order") {
        let (dir, field) = o
            .split_once(':')
            .filter(|(d, f)| matches!(*d, "asc" | "desc") && !f.is_empty())
            .ok_or_else(|| {
                Error::Input(format!(
                    "Invalid order parameter \"{o}\", expected \"<asc or desc>:<field name>\""
                ))
            })?;
        order.push(OrderField {
            field: field.to_string(),
            order: dir.to_string(),
        });
    }
    let mut limit = params.int("limit", i64::MIN)?;
    if limit.is_some_and(|l| l <= 0) {
        return Err(Error::Input("Invalid limit, must be greater than zero".into()).into());
    }
    let mut offset = params.int("offset", 0)?;
    if let Some(after) = params.one("after") {
        let bad = || Error::Input("Malformed after cursor, could not be parsed".into());
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(after.trim())
            .map_err(|_| bad())?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        limit = v["limit"].as_i64().or(limit);
        offset = v["offset"].as_i64().or(offset);
    }
    let paged = limit.is_some() || offset.is_some();
    let filter = and(filter, state.permissions.readable(&req));
    let snap = state.readmodel.snapshot();
    let ids = query::list(&snap, filter.as_ref(), &order, paged);
    if !paged {
        return Ok(json_response(write_items(
            &snap,
            ids.into_iter().map(Some),
            fields.as_deref(),
        )));
    }
    let offset = offset.unwrap_or(0).max(0) as usize;
    let limit = limit.map(|l| l as usize).unwrap_or(usize::MAX);
    let page: Vec<u32> = ids.iter().skip(offset).take(limit).copied().collect();
    let mut res = HttpResponse::Ok();
    if offset.saturating_add(limit) < ids.len() {
        let cursor = base64::engine::general_purpose::STANDARD
            .encode(json!({"limit": limit, "offset": offset + limit}).to_string());
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
            if k != "offset" && k != "after" {
                qs.append_pair(&k, &v);
            }
        }
        qs.append_pair("after", &cursor);
        res.insert_header((
            header::LINK,
            format!("</entities?{}>; rel=\"next\"", qs.finish()),
        ));
    }
    Ok(res
        .content_type("application/json; charset=utf-8")
        .body(write_items(
            &snap,
            page.into_iter().map(Some),
            fields.as_deref(),
        )))
}

const DEFAULT_LIMIT: usize = 200;

/// Both filters (either may be absent).
fn and(a: Option<Predicate>, b: Option<Predicate>) -> Option<Predicate> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Predicate::All(vec![a, b])),
        (a, b) => a.or(b),
    }
}

fn page_response(
    snap: &Snapshot,
    spec: Option<&QuerySpec>,
    cursor: Option<&Cursor>,
    limit: usize,
    fields: Option<&[String]>,
    visible: Option<&Predicate>,
) -> Reply {
    let page = query::query_page(snap, spec, cursor, limit, visible).map_err(Error::Input)?;
    let items = write_items(snap, page.items.iter().map(|i| Some(*i)), fields);
    let mut info = serde_json::Map::new();
    if let Some(c) = page.next_cursor {
        info.insert("nextCursor".into(), json!(c));
    }
    if let Some(c) = page.prev_cursor {
        info.insert("prevCursor".into(), json!(c));
    }
    Ok(json_response(format!(
        "{{\"items\":{items},\"totalItems\":{},\"pageInfo\":{}}}",
        page.total_items,
        Value::Object(info)
    )))
}

fn order_field(raw: &str) -> Result<OrderField, Error> {
    let (field, dir) = match raw.split_once(',') {
        Some((f, d)) => (f.trim(), d.trim()),
        None => (raw.trim(), "asc"),
    };
    if !matches!(dir, "asc" | "desc") {
        return Err(Error::Input(
            "Invalid order field order, must be asc or desc".into(),
        ));
    }
    Ok(OrderField {
        field: field.to_string(),
        order: dir.to_string(),
    })
}

fn total_items(v: Option<&str>) -> Result<bool, Error> {
    match v {
        None | Some("include") => Ok(true),
        Some("exclude") => Ok(false),
        Some(_) => Err(Error::Input(
            "request/query/totalItems must be equal to one of the allowed values: include, exclude"
                .into(),
        )),
    }
}

async fn query_get(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(QUERY_GET.query)?;
    let fields = params.fields("fields")?;
    let limit = params
        .int("limit", 0)?
        .map(|l| l as usize)
        .unwrap_or(DEFAULT_LIMIT);
    let visible = state.permissions.readable(&req);
    let snap = state.readmodel.snapshot();
    let cursors = params.non_empty("cursor")?;
    if let Some(c) = cursors.first() {
        let cursor = Cursor::decode(c).map_err(Error::Input)?;
        return page_response(
            &snap,
            None,
            Some(&cursor),
            limit,
            fields.as_deref(),
            visible.as_ref(),
        );
    }
    let orders = params.all("orderField");
    let spec = QuerySpec {
        filter: filter_of(&params)?,
        order: orders.first().map(|o| order_field(o)).transpose()?,
        full_text: FullTextFilter {
            term: params.one("fullTextFilterTerm").unwrap_or_default(),
            fields: params.fields("fullTextFilterFields")?,
        },
        offset: params.int("offset", 0)?.unwrap_or(0) as usize,
        include_total: total_items(params.one("totalItems").as_deref())?,
    };
    page_response(
        &snap,
        Some(&spec),
        None,
        limit,
        fields.as_deref(),
        visible.as_ref(),
    )
}

fn string_list(v: Option<&Value>, name: &str) -> Result<Option<Vec<String>>, Error> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_owned).ok_or_else(|| {
                    Error::Input(format!("request/body/{name} must be array of strings"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(Error::Input(format!("request/body/{name} must be array"))),
    }
}

fn query_of(body: &serde_json::Map<String, Value>) -> Result<Option<Predicate>, Error> {
    match body.get("query") {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => parse_predicate(v)
            .map(Some)
            .map_err(|e| Error::Input(format!("Invalid query: {e}"))),
        Some(_) => Err(Error::Input("request/body/query must be object".into())),
    }
}

async fn query_post(req: HttpRequest, body: Bytes, state: web::Data<AppState>) -> Reply {
    Params::parse(req.query_string()).allow(QUERY_POST.query)?;
    let body = if body.is_empty() {
        serde_json::Map::new()
    } else {
        json_body(&body)?
    };
    let keys = "cursor limit offset orderBy fullTextFilter fields totalItems query";
    super::params::only_keys(&body, &keys.split(' ').collect::<Vec<_>>())?;
    let fields = fields_list(
        string_list(body.get("fields"), "fields")?
            .unwrap_or_default()
            .into_iter(),
    )?;
    let limit = match body.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| Error::Input("request/body/limit must be >= 0".into()))?
            as usize,
    };
    let visible = state.permissions.readable(&req);
    let snap = state.readmodel.snapshot();
    if let Some(c) = body.get("cursor") {
        let c = c
            .as_str()
            .ok_or_else(|| Error::Input("request/body/cursor must be string".into()))?;
        if c.is_empty() {
            return Err(Error::Input("Cursor cannot be empty".into()).into());
        }
        let cursor = Cursor::decode(c).map_err(Error::Input)?;
        return page_response(
            &snap,
            None,
            Some(&cursor),
            limit,
            fields.as_deref(),
            visible.as_ref(),
        );
    }
    let order = match body.get("orderBy") {
        Some(Value::Array(list)) => match list.first() {
            Some(o) => Some(OrderField {
                field: o["field"]
                    .as_str()
                    .ok_or_else(|| {
                        Error::Input("request/body/orderBy/0/field must be string".into())
                    })?
                    .to_string(),
                order: match o["order"].as_str() {
                    Some(d @ ("asc" | "desc")) => d.to_string(),
                    _ => {
                        return Err(Error::Input(
                            "Invalid order field order, must be asc or desc".into(),
                        )
                        .into())
                    }
                },
            }),
            None => None,
        },
        None | Some(Value::Null) => None,
        Some(_) => return Err(Error::Input("request/body/orderBy must be array".into()).into()),
    };
    let full_text: FullTextFilter = match body.get("fullTextFilter") {
        None | Some(Value::Null) => FullTextFilter::default(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| Error::Input(format!("request/body/fullTextFilter: {e}")))?,
    };
    let spec = QuerySpec {
        filter: query_of(&body)?,
        order,
        full_text,
        offset: match body.get("offset") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| Error::Input("request/body/offset must be >= 0".into()))?
                as usize,
        },
        include_total: total_items(body.get("totalItems").and_then(Value::as_str))?,
    };
    page_response(
        &snap,
        Some(&spec),
        None,
        limit,
        fields.as_deref(),
        visible.as_ref(),
    )
}

async fn by_refs(req: HttpRequest, body: Bytes, state: web::Data<AppState>) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(BY_REFS.query)?;
    let body = json_body(&body)?;
    let refs = match body.get("entityRefs") {
        None => return Err(Error::Input("Malformed request body (did you remember to specify an application/json content type?), Validation error: Required at \"entityRefs\"".into()).into()),
        v => string_list(v, "entityRefs")?.unwrap_or_default(),
    };
    let fields = fields_list(
        string_list(body.get("fields"), "fields")?
            .unwrap_or_default()
            .into_iter(),
    )?;
    let mut filter = filter_of(&params)?;
    if let Some(q) = query_of(&body)? {
        filter = Some(match filter {
            Some(f) => Predicate::All(vec![f, q]),
            None => q,
        });
    }
    let filter = and(filter, state.permissions.readable(&req));
    let snap = state.readmodel.snapshot();
    let allowed = filter.as_ref().map(|f| f.eval(&snap));
    let ids = refs.iter().map(|r| {
        snap.by_ref
            .get(r.as_str())
            .copied()
            .filter(|i| allowed.as_ref().is_none_or(|a| a.contains(*i)))
    });
    let items = write_items(&snap, ids, fields.as_deref());
    Ok(json_response(format!("{{\"items\":{items}}}")))
}

async fn by_uid(req: HttpRequest, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    let uid = path.into_inner();
    let snap = state.readmodel.snapshot();
    match snap
        .get_by_uid(&uid)
        .filter(|d| state.permissions.may_read(&req, &d.json))
    {
        Some(d) => Ok(json_response(d.json.to_string())),
        None => Err(Error::NotFound(format!("No entity with uid {uid}")).into()),
    }
}

async fn delete_by_uid(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Reply {
    let uid = path.into_inner();
    let entity = state
        .readmodel
        .snapshot()
        .get_by_uid(&uid)
        .and_then(|d| serde_json::from_str::<Value>(&d.json).ok());
    state
        .permissions
        .require(&req, "catalog.entity.delete", entity.as_ref())?;
    let catalog = state.catalog.clone();
    web::block(move || catalog.delete_entity(&uid))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    Ok(HttpResponse::NoContent().finish())
}

async fn by_name(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let (kind, namespace, name) = path.into_inner();
    let r = format!("{kind}:{namespace}/{name}").to_lowercase();
    let snap = state.readmodel.snapshot();
    match snap
        .get_by_ref(&r)
        .filter(|d| state.permissions.may_read(&req, &d.json))
    {
        Some(d) => Ok(json_response(d.json.to_string())),
        None => Err(Error::NotFound(format!(
            "No entity named '{name}' found, with kind '{kind}' in namespace '{namespace}'"
        ))
        .into()),
    }
}

async fn ancestry(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Reply {
    let (kind, namespace, name) = path.into_inner();
    let root = format!("{kind}:{namespace}/{name}").to_lowercase();
    let snap = state.readmodel.snapshot();
    if snap
        .get_by_ref(&root)
        .is_none_or(|d| !state.permissions.may_read(&req, &d.json))
    {
        return Err(Error::NotFound(format!("No such entity {root}")).into());
    }
    let mut chain = vec![root.clone()];
    chain.extend(state.catalog.parents(&root));
    let mut items = Vec::new();
    for (i, r) in chain.iter().enumerate() {
        let Some(doc) = snap.get_by_ref(r) else { break };
        let entity: Value = serde_json::from_str(&doc.json).unwrap_or(Value::Null);
        let parents: Vec<&String> = chain
            .get(i + 1)
            .filter(|p| snap.get_by_ref(p).is_some())
            .into_iter()
            .collect();
        items.push(json!({"entity": entity, "parentEntityRefs": parents}));
    }
    Ok(HttpResponse::Ok().json(json!({"rootEntityRef": root, "items": items})))
}

fn facets_reply(snap: &Snapshot, facets: &[String], filter: Option<&Predicate>) -> Reply {
    let out = query::facets(snap, facets, filter);
    Ok(HttpResponse::Ok().json(json!({ "facets": out })))
}

async fn facets_get(req: HttpRequest, state: web::Data<AppState>) -> Reply {
    let params = Params::parse(req.query_string());
    params.allow(FACETS_GET.query)?;
    let facets = params.non_empty("facet")?;
    if facets.is_empty() {
        return Err(
            Error::Input("request/query must have required property 'facet'".into()).into(),
        );
    }
    let filter = and(filter_of(&params)?, state.permissions.readable(&req));
    facets_reply(&state.readmodel.snapshot(), &facets, filter.as_ref())
}

async fn facets_post(req: HttpRequest, body: Bytes, state: web::Data<AppState>) -> Reply {
    let body = json_body(&body)?;
    let facets = string_list(body.get("facets"), "facets")?.unwrap_or_default();
    if facets.is_empty() {
        return Err(Error::Input("Missing or empty facets parameter".into()).into());
    }
    let filter = and(query_of(&body)?, state.permissions.readable(&req));
    facets_reply(&state.readmodel.snapshot(), &facets, filter.as_ref())
}
