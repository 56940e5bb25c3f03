//! HTTP: Backstage-shaped routes under `/api/catalog`, plus `/healthz` and `/readyz`. The only
//! module that names actix. Handlers are thin: parse the request, call one domain function,
//! serialise. Errors leave as Backstage's error body (see [`errors`]).

mod audit;
mod auth;
mod campaigns;
mod catalog;
mod compliance;
mod dashboard;
mod errors;
mod events;
mod graph;
mod health;
mod identity;
mod locations;
mod mcp;
mod notifications;
mod openapi;
mod params;
mod permissions;
mod processing;
mod routes;
mod scaffolder;
mod scorecards;
mod search;
mod signals;
mod signin;
mod sources;
mod tech_insights;
mod techdocs;
mod user_settings;

use std::sync::Arc;

use actix_web::{web, HttpResponse};

pub use errors::ApiError;

use crate::config::Config;
use crate::ingest::crawler::Crawler;
use crate::ingest::Catalog;
use crate::readmodel::ReadModel;

/// What every handler can reach: the domain services (through `Deref`), the MCP server built on
/// them, and the access policy.
pub struct AppState {
    domain: Domain,
    pub mcp: Arc<crate::agents::Mcp>,
    pub auth: auth::AuthPolicy,
    pub permissions: permissions::Permissions,
    /// Where published TechDocs sites are.
    pub techdocs_dir: std::path::PathBuf,
    pub max_body_bytes: usize,
}

/// The domain services the handlers call, built by `app`.
pub struct Domain {
    pub catalog: Arc<Catalog>,
    pub readmodel: Arc<ReadModel>,
    pub crawler: Arc<Crawler>,
    pub scorecards: Arc<crate::scorecard::Engine>,
    pub scaffolder: Arc<crate::scaffolder::Scaffolder>,
    pub compliance: Arc<crate::compliance::Compliance>,
    pub feed: Arc<crate::events::Feed>,
    pub notifications: Arc<crate::events::notifications::Notifications>,
    pub user_settings: Arc<crate::events::user_settings::UserSettings>,
}

impl std::ops::Deref for AppState {
    type Target = Domain;

    fn deref(&self) -> &Domain {
        &self.domain
    }
}

impl AppState {
    pub fn new(
        domain: Domain,
        config: &Config,
        keys: Arc<dyn identity::KeyStore>,
    ) -> Result<Self, crate::error::Error> {
        let identity = Arc::new(identity::Identity::new(
            config,
            keys,
            domain.readmodel.clone(),
        )?);
        let permissions =
            permissions::Permissions::new(config.permission.enabled, domain.readmodel.clone());
        let mcp = crate::agents::Mcp::new(
            crate::agents::Context {
                catalog: domain.catalog.clone(),
                readmodel: domain.readmodel.clone(),
                compliance: domain.compliance.clone(),
                scaffolder: domain.scaffolder.clone(),
                scorecards: domain.scorecards.clone(),
            },
            config.mcp_actions.clone(),
        );
        Ok(AppState {
            domain,
            mcp: Arc::new(mcp),
            auth: auth::AuthPolicy::new(config, identity),
            permissions,
            techdocs_dir: config.techdocs_directory(),
            max_body_bytes: config.cairn.max_body_bytes,
        })
    }
}

/// Runs blocking work (the database, Git, a large computation) off the request workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::error::Error> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(web::block(f)
        .await
        .map_err(|e| crate::error::Error::Internal(e.to_string()))??)
}

/// Registers every route; used by the server.
pub fn configure(cfg: &mut web::ServiceConfig) {
    register(cfg, &mut Vec::new());
}

/// Every registered route with its access, as the server registers them.
pub fn routes() -> Vec<RouteInfo> {
    let mut table = Vec::new();
    let _ = actix_web::App::new().configure(|cfg| register(cfg, &mut table));
    table
}

/// What a path that matches no route gets: an empty 404, as Backstage's `notFound` middleware
/// answers, after the request body is read (left unread, the connection lingers a second).
async fn not_found(_body: web::Bytes) -> HttpResponse {
    HttpResponse::NotFound().finish()
}

fn register(cfg: &mut web::ServiceConfig, table: &mut Vec<RouteInfo>) {
    routes::mount(cfg, table, "", |r| {
        r.open("/healthz", health::healthz)
            .doc(&health::HEALTHZ)
            .open("/readyz", health::readyz)
            .doc(&health::READYZ)
            .get("/metrics", sources::metrics)
            .doc(&sources::METRICS)
            // The signals plugin's socket: one route, so mounted with the top-level pages.
            .open("/api/signals", signals::connect)
            .doc(&signals::CONNECT)
            .openapi();
    });
    routes::mount(cfg, table, "/api/cairn", |r| {
        events::routes(r);
        r.get("/settled", health::settled)
            .doc(&health::SETTLED)
            .openapi();
        sources::routes(r);
        graph::routes(r);
        scorecards::routes(r);
        campaigns::routes(r);
        audit::routes(r);
        compliance::routes(r);
    });
    routes::mount(cfg, table, "/api/catalog", |r| {
        r.openapi();
        catalog::routes(r);
        locations::routes(r);
        processing::routes(r);
    });
    routes::mount(cfg, table, "/api/notifications", |r| {
        r.openapi();
        notifications::routes(r);
    });
    routes::mount(cfg, table, "/api/user-settings", |r| {
        r.openapi();
        user_settings::routes(r);
    });
    routes::mount(cfg, table, "/api/techdocs", |r| {
        r.openapi();
        techdocs::routes(r);
    });
    routes::mount(cfg, table, "/api/search", |r| {
        r.openapi();
        search::routes(r);
    });
    routes::mount(cfg, table, "/api/permission", |r| {
        r.openapi();
        permissions::routes(r);
    });
    routes::mount(cfg, table, "/api/auth", |r| {
        r.openapi();
        signin::routes(r);
    });
    routes::mount(cfg, table, "/api/tech-insights", |r| {
        r.openapi();
        tech_insights::routes(r);
    });
    routes::mount(cfg, table, "/api/mcp-actions", |r| {
        r.openapi();
        mcp::routes(r);
    });
    routes::mount(cfg, table, "/api/scaffolder", |r| {
        r.openapi();
        scaffolder::routes(r);
    });
    routes::mount(cfg, table, "", |r| {
        dashboard::routes(r);
        compliance::pages(r);
    });
    cfg.default_service(web::to(not_found));
}

pub use auth::{caller, Principal};
pub use errors::fill_request as fill_error_request;
pub use identity::KeyStore;
pub use openapi::Doc;
pub use params::{cors, json_body};
pub use routes::{Access, RouteInfo};
