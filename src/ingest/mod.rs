//! Ingestion: turns locations (from config and from the API) into stored entities. Runs
//! processing outside any lock, then applies and writes one batch under the writer lock, and
//! tells the read model to refresh. Local directories are watched ([`watch`]); every location
//! is re-processed on the configured interval.

pub mod crawler;
pub mod files;
pub mod git;
pub mod lease;
pub mod schedule;
pub mod urls;
pub mod watch;

use crate::model::audit::Actor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::descriptor::SourceReader;
use crate::error::{Error, Result};
use crate::processing::state::{CatalogState, ChangeSet, OrphanStrategy};
use crate::processing::{self, CatalogRules, KeptFiles, Reuse, RootLocation, RootResult};
use crate::storage::{Db, LocationRow};

use files::FileReader;

/// Large batches allocate and free hundreds of megabytes of transient JSON; glibc keeps freed
/// pages mapped, which would leave the resident size at the batch's peak. Hand them back.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only releases free heap memory; it has no preconditions.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// A registered location as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub id: String,
    #[serde(rename = "type")]
    pub loc_type: String,
    pub target: String,
    pub entity_ref: String,
}

impl From<LocationRow> for Location {
    fn from(r: LocationRow) -> Self {
        let root = RootLocation::new(&r.loc_type, &r.target);
        Location {
            id: r.id,
            loc_type: r.loc_type,
            target: r.target,
            entity_ref: root.entity_ref(),
        }
    }
}

/// A source of roots that are not local files (Git repositories): processes them and can
/// re-crawl the repository behind an origin on request.
pub trait RemoteSource: Send + Sync {
    /// Processes `root` if this source handles it.
    fn process(&self, root: &RootLocation, rules: &CatalogRules) -> Option<RootResult>;
    /// Re-crawls the repository that produced `origin` now; false if it is not known here.
    fn refresh_origin(&self, origin: &str) -> bool;
}

struct Writer {
    state: CatalogState,
    seq: i64,
}

pub struct Catalog {
    db: Db,
    writer: Mutex<Writer>,
    config_roots: Vec<(RootLocation, CatalogRules)>,
    registered_rules: CatalogRules,
    /// Where registered `url` locations may be read from.
    reading: urls::ReadAllow,
    strategy: OrphanStrategy,
    on_change: Box<dyn Fn() + Send + Sync>,
    remote: std::sync::OnceLock<Arc<dyn RemoteSource>>,
    writer_lease: std::sync::atomic::AtomicBool,
    /// Locations processed (and stored) since start.
    processings: std::sync::atomic::AtomicU64,
    /// Local files unchanged since their entities were stored, which a pass does not read.
    kept: KeptFiles,
}

/// Where the files of a location live, if it is local.
pub fn local_path(root: &RootLocation) -> Option<PathBuf> {
    match root.loc_type.as_str() {
        "file" => Some(PathBuf::from(
            root.target.strip_prefix("file://").unwrap_or(&root.target),
        )),
        // A `file://` URL names a local file, unless it points into a Git repository
        // (`file:///repos/x/blob/main/catalog-info.yaml`), which the crawler reads.
        "url" => root
            .target
            .strip_prefix("file://")
            .map(PathBuf::from)
            .filter(|p| {
                p.exists()
                    || urls::parse_repo_url(&root.target)
                        .and_then(|r| r.path)
                        .is_none()
            }),
        _ => None,
    }
}

/// A reader that refuses everything: for locations Cairn cannot read yet.
struct Unreadable(String);

impl SourceReader for Unreadable {
    fn resolve(&self, _: &str, _: &str) -> std::result::Result<Vec<String>, String> {
        Err(self.0.clone())
    }
    fn read(&self, _: &str) -> std::result::Result<Vec<u8>, crate::descriptor::ReadError> {
        Err(crate::descriptor::ReadError::NotFound(self.0.clone()))
    }
}

/// How many times a local location is read again when a file changed while it was read.
const REREADS: usize = 5;

/// Processes a location without storing anything (`dryRun`, `cairn validate`).
pub fn process(root: &RootLocation, rules: &CatalogRules) -> RootResult {
    process_still(root, rules, Reuse::Nothing).0
}

/// Processes a location; says whether its files held still while they were read. A file
/// rewritten in place (truncated, then written) may be read half-written, and half a file can
/// parse to fewer or other entities; such a read is done again, a little later, up to
/// [`REREADS`] times.
fn process_still(root: &RootLocation, rules: &CatalogRules, reuse: Reuse) -> (RootResult, bool) {
    let Some(path) = local_path(root) else {
        let unreadable = Unreadable(format!(
            "Unable to read {}: only file locations and file:// URLs can be read so far",
            root.key()
        ));
        return (processing::process_root(root, &unreadable, rules), true);
    };
    let mut attempt = 0;
    loop {
        let reader = FileReader::for_target(&path).with_max_bytes(rules.max_descriptor_bytes());
        let result = processing::process_root_reusing(root, &reader, rules, reuse);
        attempt += 1;
        let still = !reader.changed_since_read();
        if still || attempt == REREADS {
            return (result, still);
        }
        tracing::debug!(location = %root.key(), attempt, "a file changed while it was read; reading again");
        std::thread::sleep(std::time::Duration::from_millis(50 * attempt as u64));
    }
}

/// Applies a pass, then remembers the files it read whose entities are now stored as read.
fn apply_keeping(
    kept: &KeptFiles,
    state: &mut CatalogState,
    mut result: RootResult,
    strategy: OrphanStrategy,
    seq: i64,
) -> ChangeSet {
    let origin = result.origin.clone();
    let read_files = std::mem::take(&mut result.read_files);
    let keep_all = result.keep_all;
    if !keep_all {
        kept.forget_all_but(&origin, &result.kept_location_keys);
    }
    let changes = state.apply(result, strategy, seq);
    kept.remember(&origin, read_files, |r, key, e| {
        state.holds(r, &origin, key, &e.parent)
    });
    changes
}

/// Makes a configured file target absolute, as the location key must not depend on the cwd.
pub fn absolute_target(loc_type: &str, target: &str) -> String {
    if loc_type != "file" {
        return target.to_string();
    }
    let p = Path::new(target);
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    files::normalize(&abs).to_string_lossy().to_string()
}

impl Catalog {
    pub fn new(
        db: Db,
        config_roots: Vec<(RootLocation, CatalogRules)>,
        registered_rules: CatalogRules,
        reading: urls::ReadAllow,
        strategy: OrphanStrategy,
        on_change: Box<dyn Fn() + Send + Sync>,
    ) -> Result<Arc<Self>> {
        let state = CatalogState::from_rows(db.load_entities()?);
        let seq = db.max_seq()?;
        Ok(Arc::new(Catalog {
            db,
            writer: Mutex::new(Writer { state, seq }),
            config_roots,
            registered_rules,
            reading,
            strategy,
            on_change,
            remote: std::sync::OnceLock::new(),
            writer_lease: std::sync::atomic::AtomicBool::new(false),
            processings: std::sync::atomic::AtomicU64::new(0),
            kept: KeptFiles::default(),
        }))
    }

    pub fn set_remote(&self, remote: Arc<dyn RemoteSource>) {
        let _ = self.remote.set(remote);
    }

    /// Processes any root: local files here, everything else through the remote source.
    pub fn process(&self, root: &RootLocation, rules: &CatalogRules) -> RootResult {
        if local_path(root).is_none() {
            if let Some(result) = self.remote.get().and_then(|r| r.process(root, rules)) {
                return result;
            }
        }
        // Files that never held still are still being written: nothing is published from
        // them (the last good state stays); the watcher comes back once they are written.
        match process_still(root, rules, Reuse::Kept(&self.kept)) {
            (result, true) => result,
            (_, false) => {
                tracing::info!(location = %root.key(), "files kept changing while read; kept the last good state");
                RootResult::unchanged(root)
            }
        }
    }

    /// Applies several processed roots as one batch (one transaction, one read-model refresh).
    pub fn apply_results(&self, results: Vec<RootResult>) -> Result<usize> {
        let strategy = self.strategy;
        self.write(&Actor::cairn(), |state, seq| {
            let mut all: Option<ChangeSet> = None;
            for r in results {
                let c = apply_keeping(&self.kept, state, r, strategy, seq);
                match &mut all {
                    Some(a) => a.merge(c),
                    None => all = Some(c),
                }
            }
            let mut all = all.unwrap_or_default();
            all.settle(state);
            all
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Every root: config locations first, then registered ones.
    pub fn roots(&self) -> Result<Vec<(RootLocation, CatalogRules)>> {
        let mut roots = self.config_roots.clone();
        for l in self.db.list_locations()? {
            roots.push((
                RootLocation::new(&l.loc_type, &l.target),
                self.registered_rules.clone(),
            ));
        }
        Ok(roots)
    }

    fn write(
        &self,
        actor: &Actor,
        build: impl FnOnce(&mut CatalogState, i64) -> ChangeSet,
    ) -> Result<usize> {
        let mut w = self.writer.lock();
        let seq = w.seq + 1;
        let mut changes = build(&mut w.state, seq);
        let missing = changes.missing_raw();
        if !missing.is_empty() {
            changes.add_raw(self.db.load_raw(&missing)?);
        }
        let written = {
            let mut rows = w.state.stitched_rows(&changes);
            self.db.write_batch(&mut rows, &changes.deletes, seq, actor)
        };
        let (written, seq) = match written {
            Ok(n) => n,
            Err(e) => {
                // The in-memory state is ahead of the database now; reload it from the truth.
                self.kept.clear();
                w.state = CatalogState::from_rows(self.db.load_entities()?);
                return Err(e.into());
            }
        };
        drop(changes);
        if written == 0 {
            return Ok(0);
        }
        w.seq = seq;
        drop(w);
        (self.on_change)();
        if written > 1000 {
            release_freed_memory();
        }
        Ok(written)
    }

    /// The problems ingestion would find in one entity read from `location` under the rules of
    /// registered locations, storing nothing.
    pub fn validate(&self, entity: &serde_json::Value, location: &str) -> Vec<String> {
        crate::processing::validate_single(entity, location, &self.registered_rules)
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    /// The rules of registered locations (the configured `catalog.rules`).
    pub fn rules(&self) -> &CatalogRules {
        &self.registered_rules
    }

    /// Processes and stores one root location as the catalog's own work; returns how many rows
    /// changed.
    pub fn ingest_root(&self, root: &RootLocation, rules: &CatalogRules) -> Result<usize> {
        self.ingest_root_by(root, rules, &Actor::cairn())
    }

    /// Processes and stores one root location, recording the changes as `actor`'s.
    fn ingest_root_by(
        &self,
        root: &RootLocation,
        rules: &CatalogRules,
        actor: &Actor,
    ) -> Result<usize> {
        let started = Instant::now();
        self.processings
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = self.process(root, rules);
        let processed_ms = started.elapsed().as_millis() as u64;
        let problems = result.reports().count();
        let emitted = result.emitted.len();
        let strategy = self.strategy;
        let changed = self.write(actor, |state, seq| {
            apply_keeping(&self.kept, state, result, strategy, seq)
        })?;
        tracing::info!(
            location = %root.key(),
            entities = emitted,
            problems,
            changed,
            processed_ms,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "processed location"
        );
        Ok(changed)
    }

    pub fn ingest_all(&self) -> Result<()> {
        for (root, rules) in self.roots()? {
            self.ingest_root(&root, &rules)?;
        }
        Ok(())
    }

    /// Re-processes, once each, the local roots that contain any of `paths`.
    pub fn ingest_paths(&self, paths: &[PathBuf]) -> Result<()> {
        if !self.is_writer() {
            return Ok(());
        }
        for (root, rules) in self.roots()? {
            if let Some(p) = local_path(&root) {
                let reader = FileReader::for_target(&p);
                if paths
                    .iter()
                    .any(|changed| changed.starts_with(reader.root()))
                {
                    self.ingest_root(&root, &rules)?;
                }
            }
        }
        Ok(())
    }

    pub fn metrics_text(&self) -> String {
        let load =
            |n: &std::sync::atomic::AtomicUsize| n.load(std::sync::atomic::Ordering::Relaxed);
        format!(
            "# HELP cairn_location_processings_total Locations processed.\n# TYPE cairn_location_processings_total counter\ncairn_location_processings_total {}\n\
             # HELP cairn_local_files_read_total Local descriptor files read in full.\n# TYPE cairn_local_files_read_total counter\ncairn_local_files_read_total {}\n\
             # HELP cairn_local_files_kept_total Local descriptor files left unread, unchanged since their entities were stored.\n# TYPE cairn_local_files_kept_total counter\ncairn_local_files_kept_total {}\n",
            self.processings.load(std::sync::atomic::Ordering::Relaxed),
            load(&self.kept.read),
            load(&self.kept.kept),
        )
    }

    pub fn list_locations(&self) -> Result<Vec<Location>> {
        Ok(self
            .db
            .list_locations()?
            .into_iter()
            .map(Location::from)
            .collect())
    }

    pub fn location(&self, id: &str) -> Result<Location> {
        self.list_locations()?
            .into_iter()
            .find(|l| l.id == id)
            .ok_or_else(|| Error::NotFound(format!("Found no location with ID {id}")))
    }

    /// A registered location is read only from local files or an allowed host, whoever
    /// registers it (the API, an agent's tool, a template's `catalog:register`).
    fn check_readable(&self, loc_type: &str, target: &str) -> Result<()> {
        match loc_type {
            "url" => self.reading.check(target).map_err(Error::Input),
            _ => Ok(()),
        }
    }

    /// `POST /locations`: registers and ingests a location. Returns the location and whether
    /// it existed already.
    pub fn add_location(
        &self,
        loc_type: &str,
        target: &str,
        refresh_on_conflict: bool,
        actor: &Actor,
    ) -> Result<Location> {
        self.check_readable(loc_type, target)?;
        if let Some(existing) = self
            .list_locations()?
            .into_iter()
            .find(|l| l.loc_type == loc_type && l.target == target)
        {
            if refresh_on_conflict {
                self.ingest_root_by(
                    &RootLocation::new(loc_type, target),
                    &self.registered_rules,
                    actor,
                )?;
                return Ok(existing);
            }
            return Err(Error::Conflict(format!(
                "Location {loc_type}:{target} already exists"
            )));
        }
        let row = LocationRow {
            id: uuid::Uuid::new_v4().to_string(),
            loc_type: loc_type.to_string(),
            target: target.to_string(),
            created_at: chrono::Utc::now().timestamp_millis(),
        };
        self.db.insert_location(&row, actor)?;
        let root = RootLocation::new(loc_type, target);
        self.ingest_root_by(&root, &self.registered_rules, actor)?;
        Ok(row.into())
    }

    /// `PUT /locations/:id`: points a registered location elsewhere and re-processes it.
    pub fn update_location(
        &self,
        id: &str,
        loc_type: &str,
        target: &str,
        actor: &Actor,
    ) -> Result<Location> {
        self.check_readable(loc_type, target)?;
        let old = self.location(id)?;
        let root = RootLocation::new(loc_type, target);
        if (old.loc_type.as_str(), old.target.as_str()) == (loc_type, target) {
            self.ingest_root_by(&root, &self.registered_rules, actor)?;
            return Ok(old);
        }
        if self
            .list_locations()?
            .iter()
            .any(|l| l.id != id && l.loc_type == loc_type && l.target == target)
        {
            return Err(Error::Conflict(format!(
                "Location {loc_type}:{target} already exists"
            )));
        }
        self.db.update_location(id, loc_type, target, actor)?;
        let old_origin = RootLocation::new(&old.loc_type, &old.target).key();
        self.write(actor, |state, seq| {
            self.kept.clear();
            state.remove_origin(&old_origin, seq)
        })?;
        self.ingest_root_by(&root, &self.registered_rules, actor)?;
        self.location(id)
    }

    pub fn dry_run(&self, loc_type: &str, target: &str) -> Result<(bool, RootResult)> {
        self.check_readable(loc_type, target)?;
        let exists = self
            .list_locations()?
            .iter()
            .any(|l| l.loc_type == loc_type && l.target == target);
        Ok((
            exists,
            self.process(&RootLocation::new(loc_type, target), &self.registered_rules),
        ))
    }

    /// `DELETE /locations/:id`: the location and everything it emitted go at once.
    pub fn delete_location(&self, id: &str, actor: &Actor) -> Result<()> {
        let loc = self.location(id)?;
        self.db.delete_location(id, actor)?;
        let origin = RootLocation::new(&loc.loc_type, &loc.target).key();
        self.write(actor, |state, seq| {
            self.kept.clear();
            state.remove_origin(&origin, seq)
        })?;
        Ok(())
    }

    /// `DELETE /entities/by-uid/:uid`. The entity returns if its location still emits it.
    pub fn delete_entity(&self, uid: &str) -> Result<()> {
        let found = self.writer.lock().state.ref_of_uid(uid);
        if let Some(r) = found {
            self.write(&Actor::cairn(), |state, seq| {
                self.kept.clear();
                state.remove_refs(vec![r], seq)
            })?;
        }
        Ok(())
    }

    /// `POST /refresh`: re-processes the root that emits the entity now.
    pub fn refresh(&self, entity_ref: &str) -> Result<()> {
        let origin = {
            let w = self.writer.lock();
            match w.state.origin_of(entity_ref) {
                Some((o, false)) => o.to_string(),
                _ => return Err(Error::NotFound(format!("Entity {entity_ref} not found"))),
            }
        };
        for (root, rules) in self.roots()? {
            if root.key() == origin {
                self.ingest_root(&root, &rules)?;
                return Ok(());
            }
        }
        if self.remote.get().is_some_and(|r| r.refresh_origin(&origin)) {
            return Ok(());
        }
        Err(Error::NotFound(format!("Entity {entity_ref} not found")))
    }

    /// The chain of emitting entities above `entity_ref` (its processing parents).
    pub fn parents(&self, entity_ref: &str) -> Vec<String> {
        let w = self.writer.lock();
        let mut out = Vec::new();
        let mut cur = w.state.parent_of(entity_ref).map(str::to_owned);
        while let Some(p) = cur {
            if out.contains(&p) {
                break;
            }
            cur = w.state.parent_of(&p).map(str::to_owned);
            out.push(p);
        }
        out
    }

    /// Reloads the processing state from the database: another replica may have written
    /// while this one was not the writer.
    pub fn reload(&self) -> Result<()> {
        let mut w = self.writer.lock();
        self.kept.clear();
        w.state = CatalogState::from_rows(self.db.load_entities()?);
        w.seq = self.db.max_seq()?;
        Ok(())
    }

    /// A page of the audit trail, oldest first: records after `after_id`, of one entity and
    /// within a time range (milliseconds) if given.
    pub fn audit_records(
        &self,
        after_id: i64,
        limit: i64,
        entity_ref: Option<&str>,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<crate::model::audit::Record>> {
        Ok(self
            .db
            .audit_records(after_id, limit, entity_ref, from, to)?)
    }

    /// Recomputes the audit trail's hash chain.
    pub fn verify_audit(&self) -> Result<crate::model::audit::Report> {
        Ok(self.db.verify_audit()?)
    }

    /// The last change written to the change log, by any replica.
    pub fn last_change(&self) -> Result<i64> {
        Ok(self.db.last_change()?)
    }

    /// Whether this replica holds the writer lease (scheduled work runs only there).
    pub fn is_writer(&self) -> bool {
        self.writer_lease.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn set_writer(&self, held: bool) {
        self.writer_lease
            .store(held, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn has_origin(&self, origin: &str) -> bool {
        self.writer.lock().state.has_origin(origin)
    }

    /// The entities a root location emitted (`origin` is the location's key, `type:target`).
    pub fn refs_with_origin(&self, origin: &str) -> Vec<String> {
        self.writer.lock().state.refs_with_origin(origin)
    }

    pub fn entity_count(&self) -> usize {
        self.writer.lock().state.len()
    }
}
