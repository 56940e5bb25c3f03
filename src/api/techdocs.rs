//! `/api/techdocs`: TechDocs sites built elsewhere (Backstage's `techdocs.builder: external`,
//! e.g. by `techdocs-cli` in CI) and published to a local directory, served as the TechDocs
//! backend serves them: the site's metadata, the entity's, and the static files.

use std::path::{Component, Path, PathBuf};

use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::openapi::{shapes, Doc};
use super::routes::Routes;
use super::{blocking, ApiError, AppState, Principal};
use crate::error::Error;

const SITE_METADATA: Doc = Doc::new("The techdocs_metadata.json of an entity's published site")
    .json(shapes::object)
    .also(404, shapes::error);
const ENTITY_METADATA: Doc = Doc::new("The entity of a site, with its location")
    .json(shapes::entity)
    .also(404, shapes::error);
const STATIC: Doc = Doc::new("A file of an entity's published site")
    .media("application/octet-stream")
    .also(404, shapes::error);
const SYNC: Doc = Doc::new("Sites are built outside Cairn: reports that nothing was rebuilt")
    .media("text/event-stream");
const COOKIE: Doc = Doc::new("Until when the signed-in user may read static docs")
    .json(shapes::object)
    .also(401, shapes::error);

pub fn routes(r: &mut Routes) {
    r.get(
        "/metadata/techdocs/{namespace}/{kind}/{name}",
        site_metadata,
    )
    .doc(&SITE_METADATA)
    .get(
        "/metadata/entity/{namespace}/{kind}/{name}",
        entity_metadata,
    )
    .doc(&ENTITY_METADATA)
    .get(
        "/static/docs/{namespace}/{kind}/{name}/{path:.*}",
        static_file,
    )
    .doc(&STATIC)
    .get("/sync/{namespace}/{kind}/{name}", sync)
    .doc(&SYNC)
    .get("/.backstage/auth/v1/cookie", cookie)
    .doc(&COOKIE);
}

/// The site folder of an entity: names lowercased, as the local publisher writes them; a name
/// that could leave the directory is refused.
fn site_dir(root: &Path, namespace: &str, kind: &str, name: &str) -> Result<PathBuf, Error> {
    let mut dir = root.to_path_buf();
    for part in [namespace, kind, name] {
        let part = part.to_lowercase();
        if part.is_empty() || part.contains(['/', '\\']) || part == "." || part == ".." {
            return Err(Error::NotFound(format!(
                "No TechDocs site for {kind}:{namespace}/{name}"
            )));
        }
        dir.push(part);
    }
    Ok(dir)
}

fn not_published(kind: &str, namespace: &str, name: &str) -> Error {
    Error::NotFound(format!(
        "TechDocs metadata for {kind}:{namespace}/{name} was not found: the site is not published"
    ))
}

async fn site_metadata(
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (namespace, kind, name) = path.into_inner();
    let file =
        site_dir(&state.techdocs_dir, &namespace, &kind, &name)?.join("techdocs_metadata.json");
    let text = blocking(move || Ok(std::fs::read_to_string(file).ok())).await?;
    let metadata: Value = text
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| not_published(&kind, &namespace, &name))?;
    Ok(HttpResponse::Ok().json(metadata))
}

async fn entity_metadata(
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (namespace, kind, name) = path.into_inner();
    let entity_ref = format!("{kind}:{namespace}/{name}").to_lowercase();
    let mut entity: Value = state
        .readmodel
        .snapshot()
        .get_by_ref(&entity_ref)
        .and_then(|d| serde_json::from_str(&d.json).ok())
        .ok_or_else(|| Error::NotFound(format!("Unable to get metadata for '{entity_ref}'")))?;
    let location = entity["metadata"]["annotations"]
        [crate::model::annotations::MANAGED_BY_LOCATION]
        .as_str()
        .and_then(|l| l.split_once(':'))
        .map(|(t, target)| json!({"type": t, "target": target}));
    if let (Some(l), Some(map)) = (location, entity.as_object_mut()) {
        map.insert("locationMetadata".into(), l);
    }
    Ok(HttpResponse::Ok().json(entity))
}

async fn static_file(
    path: web::Path<(String, String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (namespace, kind, name, rest) = path.into_inner();
    // The publisher writes lowercase folders; a mixed-case link is sent to the one that exists.
    let lower = (
        namespace.to_lowercase(),
        kind.to_lowercase(),
        name.to_lowercase(),
    );
    if (namespace.as_str(), kind.as_str(), name.as_str())
        != (lower.0.as_str(), lower.1.as_str(), lower.2.as_str())
    {
        let mut target = url::Url::parse("http://cairn/").expect("a valid base");
        target
            .path_segments_mut()
            .expect("a base URL")
            .pop_if_empty()
            .extend([
                "api", "techdocs", "static", "docs", &lower.0, &lower.1, &lower.2,
            ])
            .extend(rest.split('/'));
        let target = target.path().to_string();
        return Ok(HttpResponse::MovedPermanently()
            .insert_header(("location", target))
            .finish());
    }
    let mut file = site_dir(&state.techdocs_dir, &namespace, &kind, &name)?;
    for part in Path::new(&rest).components() {
        match part {
            Component::Normal(p) => file.push(p),
            Component::CurDir => {}
            _ => return Err(Error::NotFound(format!("No file {rest}")).into()),
        }
    }
    let found = blocking(move || {
        let file = if file.is_dir() {
            file.join("index.html")
        } else {
            file
        };
        Ok(std::fs::read(&file).ok().map(|bytes| (file, bytes)))
    })
    .await?;
    let (file, bytes) = found.ok_or_else(|| Error::NotFound(format!("File not found: {rest}")))?;
    Ok(HttpResponse::Ok()
        .content_type(content_type(&file))
        .insert_header(("cache-control", "no-cache"))
        .body(bytes))
}

fn content_type(file: &Path) -> &'static str {
    match file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Sites are built outside Cairn, so a sync never rebuilds: it finishes at once, as Backstage's
/// backend does with an external builder.
async fn sync(
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (namespace, kind, name) = path.into_inner();
    let published = site_dir(&state.techdocs_dir, &namespace, &kind, &name)
        .is_ok_and(|d| d.join("index.html").is_file());
    let body = if published {
        "event: finish\ndata: {\"updated\":false}\n\n".to_string()
    } else {
        format!(
            "event: error\ndata: {}\n\n",
            json!(format!("No TechDocs site is published for {kind}:{namespace}/{name}; build it with techdocs-cli and publish it to the configured directory"))
        )
    };
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .body(body)
}

/// Static docs are read with the user's token already (no cookie is needed): the answer only
/// says until when the frontend need not ask again.
async fn cookie(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.extensions().get::<Principal>().is_none() {
        return Err(Error::Unauthenticated("Missing credentials".into()).into());
    }
    let expires = chrono::Utc::now() + chrono::Duration::hours(1);
    Ok(HttpResponse::Ok().json(json!({
        "expiresAt": expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })))
}
