//! HTTP: Backstage-shaped routes under `/api/catalog`, plus `/healthz` and `/readyz`. The only
//! module that names actix. Handlers are thin: parse the request, call one domain function,
//! serialise. Errors leave as Backstage's error body (see [`errors`]).

mod audit;
mod auth;
mod campaigns;
mod catalog;
pub mod compliance;
mod dashboard;
mod errors;
mod graph;
mod health;
mod locations;
mod params;
mod scaffolder;
mod scorecards;
mod sources;
mod tech_insights;

use std::sync::Arc;

use actix_web::{web, HttpResponse};

pub use errors::ApiError;

use crate::config::Config;
use crate::ingest::crawler::Crawler;
use crate::ingest::Catalog;
use crate::readmodel::ReadModel;

/// What every handler can reach.
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub readmodel: Arc<ReadModel>,
    pub crawler: Arc<Crawler>,
    pub scorecards: Arc<crate::scorecard::Engine>,
    pub scaffolder: Arc<crate::scaffolder::Scaffolder>,
    pub rule_pack: Arc<crate::compliance::PackSource>,
    pub auth: auth::AuthPolicy,
    pub max_body_bytes: usize,
}

impl AppState {
    pub fn new(
        catalog: Arc<Catalog>,
        readmodel: Arc<ReadModel>,
        crawler: Arc<Crawler>,
        scorecards: Arc<crate::scorecard::Engine>,
        scaffolder: Arc<crate::scaffolder::Scaffolder>,
        config: &Config,
    ) -> Self {
        AppState {
            catalog,
            readmodel,
            crawler,
            scorecards,
            rule_pack: scaffolder.rule_pack(),
            scaffolder,
            auth: auth::AuthPolicy::from_config(config),
            max_body_bytes: config.cairn.max_body_bytes,
        }
    }
}

/// Registers every route; used by the server and by tests.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(sources::metrics))
        .service(
            web::scope("/api/cairn")
                .configure(sources::routes)
                .configure(graph::routes)
                .configure(scorecards::routes)
                .configure(campaigns::routes)
                .configure(audit::routes)
                .configure(compliance::routes),
        )
        .service(
            web::scope("/api/catalog")
                .configure(catalog::routes)
                .configure(locations::routes),
        )
        .service(web::scope("/api/tech-insights").configure(tech_insights::routes))
        .service(web::scope("/api/scaffolder").configure(scaffolder::routes))
        .configure(dashboard::routes)
        .configure(compliance::pages)
        .default_service(web::to(|| async { HttpResponse::NotFound().finish() }));
}

pub use auth::{caller, check as check_auth, Principal};
pub use errors::fill_request as fill_error_request;
pub use params::{cors, json_body};
