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
use crate::model::governance::AiActVocabulary;
use crate::processing::RootLocation;
use crate::readmodel::ReadModel;
use crate::storage::Db;

const WRITER_LEASE: &str = "writer";

pub struct Application {
    server: Server,
    feed: Arc<crate::events::Feed>,
    port: u16,
    pub catalog: Arc<Catalog>,
    pub readmodel: Arc<ReadModel>,
    pub crawler: Arc<Crawler>,
    pub scorecards: Arc<crate::scorecard::Engine>,
    _watcher: Option<notify::RecommendedWatcher>,
    _scheduler: Scheduler,
    /// Tells the background tasks to stop; they end (the lease released) before
    /// [`Application::run_until_stopped`] returns.
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The writer lease as this replica holds it.
struct Lease {
    db: Db,
    holder: String,
    ttl: Duration,
    /// How often the holder processes every location again (`catalog.processingInterval`).
    interval: Option<Duration>,
}

/// Takes and renews the writer lease; while held, processes the locations (every `interval`)
/// and crawls. Releases the lease when told to stop.
async fn hold_the_lease(
    lease: Lease,
    catalog: Arc<Catalog>,
    readmodel: Arc<ReadModel>,
    crawler: Arc<Crawler>,
    engine: Arc<crate::scorecard::Engine>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut next_processing = tokio::time::Instant::now();
    loop {
        let (d, h) = (lease.db.clone(), lease.holder.clone());
        let ttl = lease.ttl.as_millis() as i64;
        let held = tokio::task::spawn_blocking(move || {
            d.try_lease(WRITER_LEASE, &h, ttl, &ingest::lease::holder_is_dead)
        })
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(false);
        let gained = held && !catalog.is_writer();
        catalog.set_writer(held);
        engine.set_recording(held);
        if gained {
            tracing::info!("holding the writer lease: processing and crawling here");
            next_processing = tokio::time::Instant::now();
        }
        if held && tokio::time::Instant::now() >= next_processing {
            let (c, g) = (catalog.clone(), crawler.clone());
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
                Ok(Ok(())) => {
                    tracing::info!(entities = catalog.entity_count(), "processing finished")
                }
                Ok(Err(e)) => tracing::error!(error = %e, "processing failed"),
                Err(e) => tracing::error!(error = %e, "processing panicked"),
            }
            next_processing = match lease.interval {
                Some(every) => tokio::time::Instant::now() + every,
                None => tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600),
            };
        }
        // Ready when the catalog is served: here after this replica's first processing as the
        // lease holder, elsewhere once the holder's first ingest is in the database and loaded.
        if !readmodel.is_ready() && (held || readmodel.applied_seq() > 0) {
            if !held {
                let (rm, d) = (readmodel.clone(), lease.db.clone());
                let _ = tokio::task::spawn_blocking(move || rm.refresh(&d)).await;
            }
            readmodel.set_ready();
        }
        let pause = (lease.ttl / 3).min(
            next_processing
                .saturating_duration_since(tokio::time::Instant::now())
                .max(Duration::from_millis(100)),
        );
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stopped.changed() => break,
        }
    }
    catalog.set_writer(false);
    engine.set_recording(false);
    let (d, h) = (lease.db.clone(), lease.holder.clone());
    match tokio::task::spawn_blocking(move || d.release_lease(WRITER_LEASE, &h)).await {
        Ok(Ok(())) => tracing::info!("released the writer lease"),
        _ => tracing::warn!("could not release the writer lease; it expires on its own"),
    }
}

/// Runs `work` off the async threads each time the read model follows a change (and once a
/// second, for work that also depends on the time), once it is ready, until told to stop. `work`
/// says whether it succeeded: only then is this follower settled at what the read model followed.
fn follow(
    readmodel: Arc<ReadModel>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    work: impl Fn(Arc<ReadModel>) -> bool + Send + Sync + 'static,
) -> impl std::future::Future<Output = ()> {
    // Registered now, before the task first runs: nothing is settled until it has worked.
    let follower = readmodel.follower();
    async move {
        let work = Arc::new(work);
        let mut followed = readmodel.subscribe();
        loop {
            tokio::select! {
                _ = followed.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped.changed() => break,
            }
            if !readmodel.is_ready() {
                continue;
            }
            // Read before the work looks at the snapshot, which is at least this far along.
            let through = readmodel.followed_seq();
            let (rm, work) = (readmodel.clone(), work.clone());
            match tokio::task::spawn_blocking(move || work(rm)).await {
                Ok(true) => follower.done_through(through),
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "background work panicked"),
            }
        }
    }
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

/// What `AIAgent` descriptors are validated against: the vocabulary of the configured rule pack,
/// read at start. A pack that does not load leaves `spec.aiAct` checked for shape only (the
/// compliance endpoints say why the pack does not load).
pub fn ai_act_vocabulary(config: &Config) -> Option<Arc<AiActVocabulary>> {
    let path = std::path::Path::new(&config.cairn.compliance.rule_pack);
    match crate::compliance::RulePack::load(path) {
        Ok(pack) => Some(Arc::new(pack.vocabulary())),
        Err(e) => {
            tracing::warn!(error = %e, "the rule pack does not load: AI Act answers are checked for shape only");
            None
        }
    }
}

/// Builds the catalog service for a config and database; `on_change` runs after each write.
pub fn build_catalog(
    config: &Config,
    db: Db,
    on_change: Box<dyn Fn() + Send + Sync>,
) -> anyhow::Result<Arc<Catalog>> {
    let ai_act = ai_act_vocabulary(config);
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
                config.location_rules(l).with_ai_act(ai_act.clone()),
            )
        })
        .collect();
    Ok(Catalog::new(
        db,
        roots,
        config.catalog_rules().with_ai_act(ai_act),
        read_allow(config),
        config.orphan_strategy(),
        on_change,
    )?)
}

/// The hosts registered locations may be read from: `backend.reading.allow`, and the hosts
/// Cairn already reads or writes by its own config (its Git sources, its publish hosts).
fn read_allow(config: &Config) -> ingest::urls::ReadAllow {
    let listed = config
        .backend
        .reading
        .allow
        .iter()
        .map(|a| (a.host.clone(), a.paths.clone()));
    let sources = config
        .cairn
        .sources
        .git
        .iter()
        .flat_map(|s| s.repository_urls().unwrap_or_default())
        .chain(
            config
                .scaffolder
                .publish
                .hosts
                .iter()
                .filter_map(|h| h.url.clone()),
        )
        .filter_map(|u| ingest::urls::host_of(&u))
        .map(|h| (h, None));
    ingest::urls::ReadAllow::new(listed.chain(sources))
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let interval = config.processing_interval()?;
        let db = open_database(&config)?;
        let readmodel = Arc::new(ReadModel::new());
        let rm = readmodel.clone();
        let refresh_db = db.clone();
        // The read model and the processing state load side by side: each reads every entity,
        // one building documents, the other the relation index. One after the other, a restart
        // at a million entities was ready in 48–52 s; side by side in 33 s.
        let (loaded, catalog) = std::thread::scope(|scope| {
            let model = scope.spawn(|| readmodel.refresh(&db));
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
            );
            (
                model.join().expect("loading the read model panicked"),
                catalog,
            )
        });
        loaded.context("cannot load the catalog")?;
        let catalog = catalog?;

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
                rule_pack: rule_pack.clone(),
            },
            config.scaffolder.concurrent_tasks_limit,
            std::path::Path::new(&config.cairn.data_dir),
        );
        let notifications = Arc::new(crate::events::notifications::Notifications::new(db.clone()));
        let state = web::Data::new(AppState::new(
            crate::api::Domain {
                catalog: catalog.clone(),
                readmodel: readmodel.clone(),
                crawler: crawler.clone(),
                scorecards: scorecards.clone(),
                scaffolder: scaffolder.clone(),
                compliance: Arc::new(crate::compliance::Compliance::new(
                    db.clone(),
                    crawler.clone(),
                    rule_pack.clone(),
                )),
                feed: Arc::new(crate::events::Feed::new(db.clone(), readmodel.clone())),
                notifications: notifications.clone(),
                user_settings: Arc::new(crate::events::user_settings::UserSettings::new(
                    db.clone(),
                    notifications,
                )),
            },
            &config,
            Arc::new(db.clone()),
        )?);
        scaffolder.recover()?;
        let cors_config = config.backend.cors.clone();
        let body_limit = config.cairn.max_body_bytes;
        let feed = state.feed.clone();
        let notifications = state.notifications.clone();
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
        // Signals are heard by `stop_on_signals`, which ends the change feed's streams first.
        .disable_signals()
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
            let mut ours = vec![std::path::PathBuf::from(&config.cairn.data_dir)];
            if let Ok(url) = config.backend.database.url() {
                let path = url.strip_prefix("sqlite://").unwrap_or(&url);
                if !path.contains("://") && path != ":memory:" {
                    ours.push(std::path::PathBuf::from(path));
                }
            }
            Some(ingest::watch::watch(catalog.clone(), dirs, ours)?)
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

        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        // The writer lease: with several replicas on one database, only its holder processes
        // locations and crawls; every replica serves reads and follows the change sequence.
        let lease_ttl = Duration::from_secs(config.cairn.lease_seconds.max(1));
        let holder = ingest::lease::holder_id();
        tasks.push(notifications.push(stopped.clone()));
        tasks.extend(feed.deliver(
            webhook_subscriptions(&config.cairn.webhooks)?,
            holder.clone(),
            ingest::lease::holder_is_dead,
            stopped.clone(),
        ));
        tasks.push(tokio::spawn(hold_the_lease(
            Lease {
                db: db.clone(),
                holder,
                ttl: lease_ttl,
                interval,
            },
            catalog.clone(),
            readmodel.clone(),
            crawler.clone(),
            scorecards.clone(),
            stopped.clone(),
        )));
        // Scorecards follow the read model: each change re-evaluates what changed; a tick a
        // second runs scorecards whose schedule came round.
        let engine = scorecards.clone();
        tasks.push(tokio::spawn(follow(
            readmodel.clone(),
            stopped.clone(),
            move |rm: Arc<ReadModel>| match engine.evaluate(&rm.snapshot()) {
                Ok(_) => true,
                Err(e) => {
                    tracing::error!(error = %e, "scorecard evaluation failed");
                    false
                }
            },
        )));
        // Classification changes of AI systems go to the audit trail (the writer records them).
        let watch_catalog = catalog.clone();
        let watch_db = db.clone();
        let pack_source = scaffolder.rule_pack();
        let watch = Arc::new(parking_lot::Mutex::new(
            crate::compliance::ClassificationWatch::default(),
        ));
        tasks.push(tokio::spawn(follow(
            readmodel.clone(),
            stopped.clone(),
            move |rm: Arc<ReadModel>| {
                if !watch_catalog.is_writer() {
                    return true;
                }
                match watch.lock().run(&watch_db, &rm.snapshot(), &pack_source) {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::error!(error = %e, "recording classification changes failed");
                        false
                    }
                }
            },
        )));
        // The read model follows the change log: at once after a write here (or, with
        // PostgreSQL, a notification from another replica), and every second regardless.
        if db.backend_name() == "postgres" {
            let (d, on) = (db.clone(), stopped.clone());
            std::thread::spawn(move || {
                let stopped = || *on.borrow();
                while !stopped() {
                    if let Err(e) = d.listen_for_changes(&stopped) {
                        tracing::warn!(error = %e, "listening for other replicas' changes failed; retrying");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            });
        }
        let follow_readmodel = readmodel.clone();
        let follow_db = db.clone();
        let mut follow_stop = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let mut writes = crate::storage::writes();
            loop {
                tokio::select! {
                    _ = writes.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = follow_stop.changed() => break,
                }
                let (rm, db) = (follow_readmodel.clone(), follow_db.clone());
                // A read can find SQLite busy during a large write; the next wake retries.
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || rm.refresh(&db)).await {
                    tracing::warn!(error = %e, "following the change log failed; retrying");
                }
            }
        }));

        Ok(Application {
            feed,
            stop,
            tasks,
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

    /// On SIGTERM or SIGINT: ends the change feed's streams, then stops the server, whose
    /// in-flight requests drain.
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (feed, handle) = (self.feed.clone(), self.server.handle());
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tracing::info!("stopping");
            feed.close();
            handle.stop(true).await;
        });
        Ok(())
    }

    /// Serves until the server stops (see `stop_on_signals`: in-flight requests drain), then stops
    /// the background tasks and releases the writer lease.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        tracing::info!("stopped");
        served
    }
}

/// `cairn.webhooks` as the feed delivers them; a bad entry stops the start with its name.
fn webhook_subscriptions(
    hooks: &[crate::config::Webhook],
) -> anyhow::Result<Vec<crate::events::webhooks::Subscription>> {
    let mut out: Vec<crate::events::webhooks::Subscription> = Vec::new();
    for (i, h) in hooks.iter().enumerate() {
        let at = format!("cairn.webhooks[{i}]");
        if h.name.trim().is_empty() {
            anyhow::bail!("{at}.name is required");
        }
        if out.iter().any(|o| o.name == h.name) {
            anyhow::bail!("{at}.name: another webhook is named {}", h.name);
        }
        match url::Url::parse(&h.url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            _ => anyhow::bail!("{at}.url must be an http or https URL"),
        }
        let entities = crate::readmodel::filter::parse_filter_params(&h.filter)
            .map_err(|e| anyhow::anyhow!("{at}.filter: {e}"))?;
        out.push(crate::events::webhooks::Subscription {
            name: h.name.clone(),
            url: h.url.clone(),
            secret: h.secret.clone().filter(|s| !s.is_empty()),
            filter: crate::events::Filter {
                types: h.types.clone(),
                kinds: h.kinds.clone(),
                entities,
            },
            max_attempts: h.max_attempts.max(1),
            retry_base: Duration::from_millis(h.retry_base_millis),
            timeout: Duration::from_secs(h.timeout_seconds.max(1)),
        });
    }
    Ok(out)
}

/// The storage keeps the identity's signing keys.
impl crate::api::KeyStore for crate::storage::Db {
    fn keys_since(
        &self,
        since: i64,
    ) -> Result<Vec<crate::model::identity::StoredKey>, crate::error::Error> {
        Ok(self.signing_keys_since(since)?)
    }

    fn insert_key(
        &self,
        key: &crate::model::identity::StoredKey,
    ) -> Result<(), crate::error::Error> {
        Ok(self.insert_signing_key(key)?)
    }
}
