//! Crawling Git repositories: the configured sources (`cairn.sources.git`) and `url`
//! locations on Git hosts. Repositories are fetched in parallel (bounded), each into its bare
//! mirror; a repository whose commit did not move costs a fetch and nothing else; results are
//! applied in batches. A failing repository keeps its last good entities, reports the error on
//! its Location and in `/api/cairn/sources`, and is retried with backoff.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

use super::git::{self, GitReader};
use super::urls::{parse_repo_url, redact, RepoUrl};
use super::{Catalog, RemoteSource};
use crate::config::{Config, GitSource, Sources};
use crate::error::{Error, Result};
use crate::processing::{
    process_root_reusing, CatalogRules, PrepareCache, Reuse, RootLocation, RootResult,
};
use crate::storage::{Db, RepositoryRow};

/// The pseudo-source of `url` locations registered through the API or config.
pub const LOCATIONS_SOURCE: &str = "locations";

/// One repository to crawl.
#[derive(Debug, Clone)]
pub struct RepoJob {
    pub source_id: String,
    pub repo: RepoUrl,
    /// Descriptor globs; empty for a single registered file.
    pub globs: Vec<String>,
    pub root: RootLocation,
    pub token_env: Option<String>,
    pub rules: CatalogRules,
}

/// What `/api/cairn/sources` shows for a repository.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepoStatus {
    pub url: String,
    pub location: String,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    pub duration_ms: u64,
    pub entities: usize,
    pub descriptors_parsed: usize,
    pub descriptors_skipped: usize,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    pub id: String,
    pub schedule: Option<String>,
    pub repositories: Vec<RepoStatus>,
}

#[derive(Default)]
struct RepoState {
    status: RepoStatus,
    source_id: String,
    cache: Arc<PrepareCache>,
    last_good_commit: Option<String>,
    retry_at: Option<Instant>,
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct CrawlMetrics {
    pub crawls_ok: AtomicU64,
    pub crawls_unchanged: AtomicU64,
    pub crawls_failed: AtomicU64,
    pub crawl_millis: AtomicU64,
    pub descriptors_parsed: AtomicU64,
    pub descriptors_skipped: AtomicU64,
}

pub struct Crawler {
    catalog: Arc<Catalog>,
    db: Db,
    data_dir: PathBuf,
    settings: Sources,
    sources: Vec<(GitSource, Vec<RepoUrl>)>,
    rules: CatalogRules,
    repos: Mutex<HashMap<String, RepoState>>,
    source_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    pub metrics: CrawlMetrics,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Crawler {
    pub fn new(catalog: Arc<Catalog>, db: Db, config: &Config) -> anyhow::Result<Arc<Crawler>> {
        let settings = config.cairn.sources.clone();
        let mut sources = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for s in &settings.git {
            if !ids.insert(s.id.clone()) || s.id == LOCATIONS_SOURCE {
                anyhow::bail!(
                    "cairn.sources.git: duplicate or reserved source id {:?}",
                    s.id
                );
            }
            if let Some(expr) = &s.schedule {
                super::schedule::parse(expr)
                    .map_err(|e| anyhow::anyhow!("cairn.sources.git[{}].schedule: {e}", s.id))?;
            }
            for g in &s.paths {
                glob::Pattern::new(g)
                    .map_err(|e| anyhow::anyhow!("cairn.sources.git[{}].paths: {g}: {e}", s.id))?;
            }
            let mut repos = Vec::new();
            for u in s.repository_urls()? {
                let repo = parse_repo_url(&u).ok_or_else(|| {
                    anyhow::anyhow!(
                        "cairn.sources.git[{}]: {} is not a Git repository URL",
                        s.id,
                        redact(&u)
                    )
                })?;
                repos.push(repo);
            }
            sources.push((s.clone(), repos));
        }
        git::set_timeouts(
            Duration::from_secs(settings.connect_timeout_seconds),
            Duration::from_secs(settings.fetch_timeout_seconds),
        );
        let crawler = Crawler {
            rules: catalog.rules().clone(),
            catalog,
            data_dir: PathBuf::from(&config.cairn.data_dir),
            settings,
            sources,
            repos: Mutex::new(HashMap::new()),
            source_locks: Mutex::new(HashMap::new()),
            metrics: CrawlMetrics::default(),
            db,
        };
        for row in crawler.db.load_repositories()? {
            let mut repos = crawler.repos.lock();
            let st = repos.entry(row.origin.clone()).or_default();
            st.source_id = row.source_id;
            st.last_good_commit = Some(row.commit_id.clone());
            st.status.commit = Some(row.commit_id);
            st.status.url = row.url;
            st.status.branch = Some(row.branch);
            st.status.location = row.origin;
        }
        Ok(Arc::new(crawler))
    }

    /// Whether this replica holds the writer lease.
    pub fn is_writer(&self) -> bool {
        self.catalog.is_writer()
    }

    pub fn source_ids(&self) -> Vec<(String, Option<String>)> {
        self.sources
            .iter()
            .map(|(s, _)| (s.id.clone(), s.schedule.clone()))
            .collect()
    }

    fn jobs(&self, id: &str) -> Option<Vec<RepoJob>> {
        let (source, repos) = self.sources.iter().find(|(s, _)| s.id == id)?;
        Some(
            repos
                .iter()
                .map(|r| {
                    let mut repo = r.clone();
                    if repo.branch.is_none() {
                        repo.branch = source.branch.clone();
                    }
                    RepoJob {
                        source_id: source.id.clone(),
                        root: RootLocation::new("url", &repo.web_base),
                        repo,
                        globs: source.paths.clone(),
                        token_env: source.token_env.clone(),
                        rules: self.rules.clone(),
                    }
                })
                .collect(),
        )
    }

    /// Crawls every repository of a source; returns how many repositories changed. Runs of the
    /// same source never overlap: a second call waits for the first.
    pub fn crawl_source(&self, id: &str) -> Result<usize> {
        let jobs = self
            .jobs(id)
            .ok_or_else(|| Error::NotFound(format!("No source with id {id}")))?;
        let lock = self
            .source_locks
            .lock()
            .entry(id.to_string())
            .or_default()
            .clone();
        let _running = lock.lock();
        let started = Instant::now();
        let total = jobs.len();
        let changed = self.crawl_jobs(jobs, false)?;
        tracing::info!(
            source = id,
            repositories = total,
            changed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "crawl finished"
        );
        Ok(changed)
    }

    pub fn crawl_all(&self) {
        for (id, _) in self.source_ids() {
            if let Err(e) = self.crawl_source(&id) {
                tracing::error!(source = %id, error = %e, "crawl failed");
            }
        }
    }

    /// Crawls jobs on `concurrency` threads and applies results in batches as they come.
    fn crawl_jobs(&self, jobs: Vec<RepoJob>, force: bool) -> Result<usize> {
        let total = jobs.len();
        let queue = Mutex::new(VecDeque::from(jobs));
        let workers = self.settings.concurrency.clamp(1, 64).min(total.max(1));
        let (tx, rx) = std::sync::mpsc::channel::<RootResult>();
        let mut changed = 0;
        let mut apply_error = None;
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let tx = tx.clone();
                let queue = &queue;
                scope.spawn(move || {
                    while let Some(job) = queue.lock().pop_front() {
                        if tx.send(self.crawl_job(&job, force)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(tx);
            let mut pending: Vec<RootResult> = Vec::new();
            let mut oldest: Option<Instant> = None;
            let mut done = 0usize;
            let mut flush = |pending: &mut Vec<RootResult>, oldest: &mut Option<Instant>| {
                if pending.is_empty() {
                    return;
                }
                changed += pending.len();
                if let Err(e) = self.catalog.apply_results(std::mem::take(pending)) {
                    apply_error = Some(e);
                }
                *oldest = None;
            };
            loop {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(result) => {
                        done += 1;
                        if done.is_multiple_of(100) {
                            tracing::info!(done, total, "crawl progress");
                        }
                        if !(result.keep_all && result.emitted.is_empty()) {
                            pending.push(result);
                            oldest.get_or_insert_with(Instant::now);
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
                if pending.len() >= 200
                    || oldest.is_some_and(|t| t.elapsed() >= Duration::from_millis(100))
                {
                    flush(&mut pending, &mut oldest);
                }
            }
            flush(&mut pending, &mut oldest);
        });
        match apply_error {
            Some(e) => Err(e),
            None => Ok(changed),
        }
    }

    fn check_allowed(&self, url: &str) -> std::result::Result<(), String> {
        let Some(path) = url.strip_prefix("file://") else {
            return Ok(());
        };
        if !self.settings.allow_local {
            return Err(format!(
                "{url} is a local repository and cairn.sources.allowLocal is off"
            ));
        }
        if self.settings.local_roots.is_empty() {
            return Ok(());
        }
        let real = Path::new(path)
            .canonicalize()
            .unwrap_or_else(|_| PathBuf::from(path));
        let allowed = self.settings.local_roots.iter().any(|root| {
            let root = Path::new(root)
                .canonicalize()
                .unwrap_or_else(|_| PathBuf::from(root));
            real.starts_with(root)
        });
        if allowed {
            Ok(())
        } else {
            Err(format!("{url} is outside cairn.sources.localRoots"))
        }
    }

    /// Fetches and processes one repository. Never fails: problems become a result that keeps
    /// the last good entities and carries the error.
    fn crawl_job(&self, job: &RepoJob, force: bool) -> RootResult {
        let origin = job.root.key();
        let started = Instant::now();
        let (cache, last_good, in_backoff) = {
            let mut repos = self.repos.lock();
            let st = repos.entry(origin.clone()).or_default();
            st.source_id = job.source_id.clone();
            st.status.url = redact(&job.repo.clone_url);
            st.status.location = origin.clone();
            let in_backoff = !force && st.retry_at.is_some_and(|t| Instant::now() < t);
            if !in_backoff {
                st.status.last_attempt_at = Some(now_rfc3339());
            }
            (st.cache.clone(), st.last_good_commit.clone(), in_backoff)
        };
        if in_backoff {
            return RootResult::unchanged(&job.root);
        }
        // Entities may be missing although the commit is known (a dry run, a wiped database).
        let force = force || !self.catalog.has_origin(&origin);
        let outcome =
            self.fetch_and_process(job, &cache, if force { None } else { last_good.as_deref() });
        let elapsed = started.elapsed();
        self.metrics
            .crawl_millis
            .fetch_add(elapsed.as_millis() as u64, Ordering::Relaxed);
        let mut repos = self.repos.lock();
        let st = repos.entry(origin).or_default();
        st.status.duration_ms = elapsed.as_millis() as u64;
        match outcome {
            Ok((fetched, result)) => {
                st.status.branch = Some(fetched.branch.clone());
                st.status.commit = Some(fetched.commit.to_string());
                st.status.last_success_at = Some(now_rfc3339());
                st.status.last_error = None;
                st.status.consecutive_failures = 0;
                st.retry_at = None;
                st.last_good_commit = Some(fetched.commit.to_string());
                match result {
                    None => {
                        self.metrics
                            .crawls_unchanged
                            .fetch_add(1, Ordering::Relaxed);
                        RootResult::unchanged(&job.root)
                    }
                    Some(result) => {
                        self.metrics.crawls_ok.fetch_add(1, Ordering::Relaxed);
                        let (parsed, skipped) = cache.take_counts();
                        self.metrics
                            .descriptors_parsed
                            .fetch_add(parsed as u64, Ordering::Relaxed);
                        self.metrics
                            .descriptors_skipped
                            .fetch_add(skipped as u64, Ordering::Relaxed);
                        st.status.descriptors_parsed = parsed;
                        st.status.descriptors_skipped = skipped;
                        st.status.entities = result.emitted.len().saturating_sub(1);
                        let problems: Vec<String> =
                            result.reports().map(|r| r.to_string()).collect();
                        if !problems.is_empty() {
                            st.status.last_error = Some(problems.join("; "));
                        }
                        result
                    }
                }
            }
            Err(message) => {
                self.metrics.crawls_failed.fetch_add(1, Ordering::Relaxed);
                st.status.consecutive_failures += 1;
                let backoff =
                    Duration::from_secs(30 * 2u64.pow(st.status.consecutive_failures.min(7) - 1))
                        .min(Duration::from_secs(3600));
                st.retry_at = Some(Instant::now() + backoff);
                st.status.last_error = Some(message.clone());
                tracing::warn!(repository = %st.status.url, error = %message, "crawl failed; keeping the last good entities");
                RootResult::unreadable(&job.root, message)
            }
        }
    }

    /// Fetches; returns `None` as the result when the commit is the last good one.
    fn fetch_and_process(
        &self,
        job: &RepoJob,
        cache: &PrepareCache,
        last_good: Option<&str>,
    ) -> std::result::Result<(git::Fetched, Option<RootResult>), String> {
        let url = &job.repo.clone_url;
        let clean = |m: String| m.replace(url.as_str(), &redact(url));
        self.check_allowed(url)?;
        let token = match &job.token_env {
            Some(var) => Some(
                std::env::var(var)
                    .map_err(|_| format!("environment variable {var} (tokenEnv) is not set"))?,
            ),
            None => None,
        };
        let repo = git::open_mirror(&self.data_dir, url)?;
        let deadline = Duration::from_secs(self.settings.fetch_timeout_seconds);
        let known = last_good.and_then(|c| git2::Oid::from_str(c).ok());
        let fetched = git::fetch(
            &repo,
            url,
            job.repo.branch.as_deref(),
            token.as_deref(),
            deadline,
            known,
        )
        .map_err(clean)?;
        if last_good == Some(fetched.commit.to_string().as_str()) {
            return Ok((fetched, None));
        }
        let files = git::list_tree(&repo, fetched.commit).map_err(clean)?;
        let paths: Vec<&String> = files.keys().collect();
        let row = RepositoryRow {
            origin: job.root.key(),
            source_id: job.source_id.clone(),
            url: redact(url),
            branch: fetched.branch.clone(),
            commit_id: fetched.commit.to_string(),
            committed_at: fetched.committed_at,
            author: fetched.author.clone(),
            files_json: serde_json::to_string(&paths).unwrap_or_default(),
            crawled_at: chrono::Utc::now().timestamp(),
        };
        let reader = GitReader::new(repo, &job.repo.web_base, &fetched.branch, files, &job.globs)?
            .with_max_bytes(job.rules.max_descriptor_bytes());
        cache.retain(|target| reader.fingerprint_of(target).is_some());
        let root = match &job.repo.path {
            Some(p) => RootLocation::new("url", &reader.file_url(p)),
            None => job.root.clone(),
        };
        let mut result = process_root_reusing(&root, &reader, &job.rules, Reuse::Prepared(cache));
        result.origin = job.root.key();
        self.db.save_repository(&row).map_err(|e| e.to_string())?;
        Ok((fetched, Some(result)))
    }

    pub fn statuses(&self) -> Vec<SourceStatus> {
        let repos = self.repos.lock();
        let mut out: Vec<SourceStatus> = self
            .sources
            .iter()
            .map(|(s, _)| SourceStatus {
                id: s.id.clone(),
                schedule: Some(
                    s.schedule
                        .clone()
                        .unwrap_or_else(|| super::schedule::DEFAULT_SCHEDULE.into()),
                ),
                repositories: vec![],
            })
            .collect();
        out.push(SourceStatus {
            id: LOCATIONS_SOURCE.into(),
            schedule: None,
            repositories: vec![],
        });
        let mut states: Vec<&RepoState> = repos.values().collect();
        states.sort_by(|a, b| a.status.location.cmp(&b.status.location));
        for st in states {
            if let Some(s) = out.iter_mut().find(|s| s.id == st.source_id) {
                s.repositories.push(st.status.clone());
            }
        }
        out
    }

    /// Repository facts for the repository an entity came from.
    pub fn repository_for_origin(&self, origin: &str) -> Result<Option<RepositoryRow>> {
        Ok(self.db.repository(origin)?)
    }

    /// Writes the folder holding the file a URL names (a template's own folder), from the head
    /// of its branch, into `into`. Symbolic links are left out.
    pub fn export_dir(&self, file_url: &str, into: &Path) -> Result<()> {
        let repo_url = parse_repo_url(file_url)
            .ok_or_else(|| Error::Input(format!("{file_url} is not a repository file URL")))?;
        let path = repo_url.path.clone().unwrap_or_default();
        let dir = Path::new(&path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mirror =
            git::open_mirror(&self.data_dir, &repo_url.clone_url).map_err(Error::Internal)?;
        let fetched = git::fetch(
            &mirror,
            &repo_url.clone_url,
            repo_url.branch.as_deref(),
            None,
            std::time::Duration::from_secs(self.settings.fetch_timeout_seconds),
            None,
        )
        .map_err(Error::Unavailable)?;
        for (file, entry) in git::list_tree(&mirror, fetched.commit).map_err(Error::Internal)? {
            let Ok(rel) = Path::new(&file).strip_prefix(&dir) else {
                continue;
            };
            if entry.mode == 0o120000 {
                continue;
            }
            let blob = mirror
                .find_blob(entry.oid)
                .map_err(|e| Error::Internal(e.message().to_string()))?;
            let out = into.join(rel);
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::Internal(e.to_string()))?;
            }
            std::fs::write(&out, blob.content()).map_err(|e| Error::Internal(e.to_string()))?;
            #[cfg(unix)]
            if entry.mode == 0o100755 {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755));
            }
        }
        Ok(())
    }

    /// Reads a file of a repository at its last crawled commit, from the mirror.
    pub fn read_file(&self, row: &RepositoryRow, path: &str) -> Result<Option<Vec<u8>>> {
        let clone_url = self
            .clone_url_of(&row.origin)
            .ok_or_else(|| Error::NotFound(format!("No repository for {}", row.origin)))?;
        let repo = git::open_mirror(&self.data_dir, &clone_url).map_err(Error::Internal)?;
        let oid =
            git2::Oid::from_str(&row.commit_id).map_err(|e| Error::Internal(e.to_string()))?;
        let tree = repo
            .find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(|e| Error::Internal(e.message().to_string()))?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(e) => e,
            Err(_) => return Ok(None),
        };
        if entry.filemode() == 0o120000 {
            return Err(Error::Input(format!("{path} is a symbolic link")));
        }
        let blob = repo
            .find_blob(entry.id())
            .map_err(|e| Error::Input(format!("{path}: {}", e.message())))?;
        let limit = self.rules.max_descriptor_bytes();
        if blob.size() > limit {
            return Err(Error::Input(format!(
                "{path} is larger than the limit of {limit} bytes (cairn.maxDescriptorBytes)"
            )));
        }
        Ok(Some(blob.content().to_vec()))
    }

    fn clone_url_of(&self, origin: &str) -> Option<String> {
        for (id, _) in self.source_ids() {
            if let Some(job) = self.jobs(&id)?.into_iter().find(|j| j.root.key() == origin) {
                return Some(job.repo.clone_url);
            }
        }
        let target = origin.strip_prefix("url:")?;
        parse_repo_url(target).map(|r| r.clone_url)
    }

    fn registered_job(&self, root: &RootLocation, rules: &CatalogRules) -> Option<RepoJob> {
        if root.loc_type != "url" {
            return None;
        }
        let repo = parse_repo_url(&root.target)?;
        repo.path.as_ref()?;
        Some(RepoJob {
            source_id: LOCATIONS_SOURCE.into(),
            repo,
            globs: vec![],
            root: root.clone(),
            token_env: None,
            rules: rules.clone(),
        })
    }

    pub fn metrics_text(&self) -> String {
        let m = &self.metrics;
        let repos = self.repos.lock();
        let failing = repos
            .values()
            .filter(|r| r.status.last_error.is_some())
            .count();
        format!(
            "# HELP cairn_crawls_total Repository crawls by result.\n# TYPE cairn_crawls_total counter\n\
             cairn_crawls_total{{result=\"changed\"}} {}\ncairn_crawls_total{{result=\"unchanged\"}} {}\ncairn_crawls_total{{result=\"failed\"}} {}\n\
             # HELP cairn_crawl_duration_seconds_total Time spent crawling repositories.\n# TYPE cairn_crawl_duration_seconds_total counter\n\
             cairn_crawl_duration_seconds_total {:.3}\n\
             # HELP cairn_descriptors_total Descriptors parsed or reused (blob unchanged) by crawls.\n# TYPE cairn_descriptors_total counter\n\
             cairn_descriptors_total{{result=\"parsed\"}} {}\ncairn_descriptors_total{{result=\"skipped\"}} {}\n\
             # HELP cairn_repositories Repositories known to the crawler.\n# TYPE cairn_repositories gauge\ncairn_repositories {}\n\
             # HELP cairn_repositories_failing Repositories whose last crawl failed.\n# TYPE cairn_repositories_failing gauge\ncairn_repositories_failing {}\n",
            m.crawls_ok.load(Ordering::Relaxed),
            m.crawls_unchanged.load(Ordering::Relaxed),
            m.crawls_failed.load(Ordering::Relaxed),
            m.crawl_millis.load(Ordering::Relaxed) as f64 / 1000.0,
            m.descriptors_parsed.load(Ordering::Relaxed),
            m.descriptors_skipped.load(Ordering::Relaxed),
            repos.len(),
            failing,
        )
    }
}

impl RemoteSource for Crawler {
    fn process(&self, root: &RootLocation, rules: &CatalogRules) -> Option<RootResult> {
        let job = self.registered_job(root, rules)?;
        Some(self.crawl_job(&job, false))
    }

    fn refresh_origin(&self, origin: &str) -> bool {
        for (id, _) in self.source_ids() {
            let Some(jobs) = self.jobs(&id) else { continue };
            if let Some(job) = jobs.into_iter().find(|j| j.root.key() == origin) {
                let lock = self
                    .source_locks
                    .lock()
                    .entry(id.clone())
                    .or_default()
                    .clone();
                let _running = lock.lock();
                if let Err(e) = self.crawl_jobs(vec![job], true) {
                    tracing::error!(error = %e, "refresh crawl failed");
                }
                return true;
            }
        }
        false
    }
}
