//! Wiring: storage, the read model, ingestion, background tasks and the HTTP server.

pub mod commands;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, Service};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tracing::Instrument;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::ingest::crawler::Crawler;
use crate::ingest::schedule::{self, Scheduler};
use crate::ingest::{self, Catalog};
use crate::processing::RootLocation;
use crate::readmodel::ReadModel;
use crate::storage::Db;

const WRITER_LEASE: &str = "writer";

pub struct Application {
    server: Server,
    port: u16,
    pub catalog: Arc<Catalog>,
    pub readmodel: Arc<ReadModel>,
    pub crawler: Arc<Crawler>,
    pub scorecards: Arc<crate::scorecard::Engine>,
    _watcher: Option<notify::RecommendedWatcher>,
    _scheduler: Scheduler,
}

/// The technical file reads documents from the Git mirrors the crawler keeps.
impl crate::compliance::RepositoryFiles for Crawler {
    fn read_file(
        &self,
        repo: &crate::storage::RepositoryRow,
        path: &str,
    ) -> Result<Option<Vec<u8>>, crate::error::Error> {
        Crawler::read_file(self, repo, path)
    }
}

/// Opens the database and applies migrations.
pub fn open_database(config: &Config) -> anyhow::Result<Db> {
    let url = config.database_url()?;
    let db = Db::connect(&url).with_context(|| {
        format!(
            "cannot open the {} database",
            config.backend.database.client
        )
    })?;
    let applied = db.migrate().context("cannot apply migrations")?;
    if !applied.is_empty() {
        tracing::info!(backend = db.backend_name(), ?applied, "applied migrations");
    }
    Ok(db)
}

/// Builds the catalog service for a config and database; `on_change` runs after each write.
pub fn build_catalog(
    config: &Config,
    db: Db,
    on_change: Box<dyn Fn() + Send + Sync>,
) -> anyhow::Result<Arc<Catalog>> {
    let roots = config
        .catalog
        .locations
        .iter()
        .map(|l| {
            (
                RootLocation::new(
                    &l.loc_type,
                    &ingest::absolute_target(&l.loc_type, &l.target),
                ),
                config.location_rules(l),
            )
        })
        .collect();
    Ok(Catalog::new(
        db,
        roots,
        config.catalog_rules(),
        config.orphan_strategy(),
        on_change,
    )?)
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let interval = config.processing_interval()?;
        let db = open_database(&config)?;
        let readmodel = Arc::new(ReadModel::new());
        readmodel.refresh(&db).context("cannot load the catalog")?;
        let rm = readmodel.clone();
        let refresh_db = db.clone();
        let catalog = build_catalog(
            &config,
            db.clone(),
            Box::new(move || {
                let started = std::time::Instant::now();
                if let Err(e) = rm.refresh(&refresh_db) {
                    tracing::error!(error = %e, "read model refresh failed");
                }
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "read model refreshed"
                );
            }),
        )?;

        let crawler = Crawler::new(catalog.clone(), db.clone(), &config)?;
        catalog.set_remote(crawler.clone());

        let listen = &config.backend.listen;
        let listener = TcpListener::bind((listen.host.as_str(), listen.port))
            .with_context(|| format!("cannot listen on {}:{}", listen.host, listen.port))?;
        let port = listener.local_addr()?.port();
        let mut configured = Vec::new();
        if !config.tech_insights.fact_checker.checks.is_empty() {
            configured.push(
                crate::scorecard::Scorecard::from_tech_insights_config(
                    &config.tech_insights.fact_checker.checks,
                )
                .map_err(|e| anyhow::anyhow!("invalid config at {e}"))?,
            );
        }
        let rule_pack = Arc::new(crate::compliance::PackSource::new(
            &config.cairn.compliance.rule_pack,
        ));
        let scorecards = Arc::new(crate::scorecard::Engine::new(
            db.clone(),
            configured,
            Some(Arc::new(crate::compliance::ObligationsSource::new(
                rule_pack.clone(),
            ))),
        ));
        let scaffolder = crate::scaffolder::Scaffolder::new(
            db.clone(),
            crate::scaffolder::Services {
                catalog: catalog.clone(),
                readmodel: readmodel.clone(),
                crawler: crawler.clone(),
                publish: config.scaffolder.publish.hosts.clone(),
                rule_pack,
            },
            config.scaffolder.concurrent_tasks_limit,
            std::path::Path::new(&config.cairn.data_dir),
        );
        let state = web::Data::new(AppState::new(
            catalog.clone(),
            readmodel.clone(),
            crawler.clone(),
            scorecards.clone(),
            scaffolder.clone(),
            &config,
        ));
        scaffolder.recover()?;
        let cors_config = config.backend.cors.clone();
        let body_limit = config.cairn.max_body_bytes;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .wrap_fn(|req, srv| {
                    let span =
                        tracing::info_span!("request", method = %req.method(), path = %req.path());
                    let fut = srv.call(req);
                    async move { Ok(api::fill_error_request(fut.await?)) }.instrument(span)
                })
                .wrap(api::cors(&cors_config))
                .configure(api::configure)
        })
        .workers(2)
        .listen(listener)?
        .run();

        tracing::info!("Cairn listening on http://{}:{}", listen.host, port);

        let watcher = if config.cairn.watch {
            let dirs = catalog
                .roots()?
                .iter()
                .filter_map(|(r, _)| ingest::local_path(r))
                .map(|p| {
                    ingest::files::FileReader::for_target(&p)
                        .root()
                        .to_path_buf()
                })
                .collect();
            Some(ingest::watch::watch(catalog.clone(), dirs)?)
        } else {
            None
        };

        let scheduler = Scheduler::new();
        for (id, expr) in crawler.source_ids() {
            let cron = schedule::parse(expr.as_deref().unwrap_or(schedule::DEFAULT_SCHEDULE))
                .map_err(anyhow::Error::msg)?;
            let jitter = schedule::default_jitter(&cron);
            let c = crawler.clone();
            let source = id.clone();
            scheduler.add(
                format!("crawl:{id}"),
                cron,
                jitter,
                Arc::new(move || {
                    if !c.is_writer() {
                        return;
                    }
                    if let Err(e) = c.crawl_source(&source) {
                        tracing::error!(source = %source, error = %e, "scheduled crawl failed");
                    }
                }),
            );
        }

        // The writer lease: with several replicas on one database, only its holder processes
        // locations and crawls; every replica serves reads and follows the change sequence.
        let lease_ttl = Duration::from_secs(config.cairn.lease_seconds.max(1));
        let holder = ingest::lease::holder_id();
        let bg_catalog = catalog.clone();
        let bg_readmodel = readmodel.clone();
        let bg_crawler = crawler.clone();
        let bg_engine = scorecards.clone();
        let lease_db = db.clone();
        tokio::spawn(async move {
            let mut next_processing = tokio::time::Instant::now();
            loop {
                let (d, h) = (lease_db.clone(), holder.clone());
                let held = tokio::task::spawn_blocking(move || {
                    d.try_lease(
                        WRITER_LEASE,
                        &h,
                        lease_ttl.as_millis() as i64,
                        &ingest::lease::holder_is_dead,
                    )
                })
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(false);
                let gained = held && !bg_catalog.is_writer();
                bg_catalog.set_writer(held);
                bg_engine.set_recording(held);
                if gained {
                    tracing::info!("holding the writer lease: processing and crawling here");
                    next_processing = tokio::time::Instant::now();
                }
                if held && tokio::time::Instant::now() >= next_processing {
                    let (c, g) = (bg_catalog.clone(), bg_crawler.clone());
                    let run = tokio::task::spawn_blocking(move || {
                        if gained {
                            c.reload()?;
                        }
                        let r = c.ingest_all();
                        if gained {
                            // Afterwards each source crawls on its own schedule.
                            g.crawl_all();
                        }
                        r
                    });
                    match run.await {
                        Ok(Ok(())) => tracing::info!(
                            entities = bg_catalog.entity_count(),
                            "processing finished"
                        ),
                        Ok(Err(e)) => tracing::error!(error = %e, "processing failed"),
                        Err(e) => tracing::error!(error = %e, "processing panicked"),
                    }
                    next_processing = match interval {
                        Some(every) => tokio::time::Instant::now() + every,
                        None => tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600),
                    };
                }
                // Ready when the catalog is served: here after this replica's first processing
                // as the lease holder, elsewhere once the holder's first ingest is in the
                // database and loaded.
                if !bg_readmodel.is_ready() && (held || bg_readmodel.applied_seq() > 0) {
                    if !held {
                        let (rm, d) = (bg_readmodel.clone(), lease_db.clone());
                        let _ = tokio::task::spawn_blocking(move || rm.refresh(&d)).await;
                    }
                    bg_readmodel.set_ready();
                }
                tokio::time::sleep(
                    (lease_ttl / 3).min(
                        next_processing
                            .saturating_duration_since(tokio::time::Instant::now())
                            .max(Duration::from_millis(100)),
                    ),
                )
                .await;
            }
        });
        // Scorecards follow the read model: each new snapshot re-evaluates what changed.
        let score_readmodel = readmodel.clone();
        let engine = scorecards.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let (rm, engine) = (score_readmodel.clone(), engine.clone());
                if !rm.is_ready() {
                    continue;
                }
                let run =
                    tokio::task::spawn_blocking(move || engine.evaluate(&rm.snapshot())).await;
                if let Ok(Err(e)) = run {
                    tracing::error!(error = %e, "scorecard evaluation failed");
                }
            }
        });
        // Classification changes of AI systems go to the audit trail (the writer records them).
        let watch_readmodel = readmodel.clone();
        let watch_catalog = catalog.clone();
        let watch_db = db.clone();
        let pack_source = scaffolder.rule_pack();
        tokio::spawn(async move {
            let watch = Arc::new(parking_lot::Mutex::new(
                crate::compliance::ClassificationWatch::default(),
            ));
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if !watch_readmodel.is_ready() || !watch_catalog.is_writer() {
                    continue;
                }
                let (rm, db, source, watch) = (
                    watch_readmodel.clone(),
                    watch_db.clone(),
                    pack_source.clone(),
                    watch.clone(),
                );
                let run = tokio::task::spawn_blocking(move || {
                    watch.lock().run(&db, &rm.snapshot(), &source)
                })
                .await;
                if let Ok(Err(e)) = run {
                    tracing::error!(error = %e, "recording classification changes failed");
                }
            }
        });
        // Other replicas may write (PostgreSQL): follow the change sequence.
        let poll_readmodel = readmodel.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let rm = poll_readmodel.clone();
                let db = db.clone();
                let _ = tokio::task::spawn_blocking(move || rm.refresh(&db)).await;
            }
        });

        Ok(Application {
            crawler,
            scorecards,
            _scheduler: scheduler,
            server,
            port,
            catalog,
            readmodel,
            _watcher: watcher,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
