//! Storage: the source of truth. Diesel over SQLite (bundled, the default) or PostgreSQL,
//! chosen by URL; embedded migrations per backend; batched writes stamped with a monotonic
//! change sequence that read models follow. The only module that names diesel.

mod schema;

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use schema::{
    audit_log, check_inputs, deleted_entities, entities, exemptions, leases, locations,
    pushed_facts, repositories, scaffolder_events, scaffolder_tasks, scorecard_history,
};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database connection error: {0}")]
    Pool(String),
    #[error("migration error: {0}")]
    Migration(String),
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// One stored entity: the processing state plus the final, served JSON.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = entities)]
#[diesel(treat_none_as_null = true)]
pub struct EntityRow {
    pub entity_ref: String,
    pub uid: String,
    pub origin: String,
    pub location_key: String,
    pub parent_ref: Option<String>,
    pub raw_json: String,
    pub relations_json: String,
    pub errors_json: String,
    pub orphan: bool,
    pub final_json: String,
    pub etag: String,
    pub seq: i64,
}

/// A location registered through the API.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = locations)]
pub struct LocationRow {
    pub id: String,
    pub loc_type: String,
    pub target: String,
    pub created_at: i64,
}

/// The last good crawl of a Git repository.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = repositories)]
pub struct RepositoryRow {
    pub origin: String,
    pub source_id: String,
    /// Redacted: never holds credentials.
    pub url: String,
    pub branch: String,
    pub commit_id: String,
    pub committed_at: i64,
    pub author: String,
    pub files_json: String,
    pub crawled_at: i64,
}

/// One change of a scorecard check's result.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = scorecard_history)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRow {
    #[serde(skip)]
    pub id: i64,
    pub scorecard: String,
    pub entity_ref: String,
    pub level: Option<String>,
    /// The checks whose status changed, `id=status;…`.
    pub checks: String,
    pub at: i64,
}

impl HistoryRow {
    /// The statuses recorded in this row, by check id.
    pub fn statuses(&self) -> HashMap<String, String> {
        self.checks
            .split(';')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = scorecard_history)]
pub struct NewHistoryRow {
    pub scorecard: String,
    pub entity_ref: String,
    pub level: Option<String>,
    pub checks: String,
    pub at: i64,
}

/// A fact pushed for an entity.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = pushed_facts)]
pub struct PushedFactRow {
    pub entity_ref: String,
    pub name: String,
    pub value_json: String,
    pub at: i64,
}

/// An attestation or a pushed result for one check of one entity.
#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, serde::Serialize,
)]
#[diesel(table_name = check_inputs)]
#[serde(rename_all = "camelCase")]
pub struct CheckInputRow {
    pub scorecard: String,
    pub entity_ref: String,
    pub check_id: String,
    pub result: String,
    pub justification: String,
    pub author: String,
    pub at: i64,
}

/// An exemption granted through the API.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = exemptions)]
#[serde(rename_all = "camelCase")]
pub struct ExemptionRow {
    pub id: String,
    pub scorecard: String,
    pub entity_ref: String,
    #[serde(skip)]
    pub checks_json: String,
    pub reason: String,
    pub approver: String,
    pub expires: String,
    pub created_by: String,
    pub created_at: i64,
}

impl ExemptionRow {
    pub fn checks(&self) -> Vec<String> {
        serde_json::from_str(&self.checks_json).unwrap_or_default()
    }
}

/// One audit record as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    entity_ref: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for crate::audit::Record {
    fn from(r: AuditRow) -> Self {
        crate::audit::Record {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            entity_ref: r.entity_ref,
            details: r.details,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

/// One writer at a time extends the chain in this process (PostgreSQL also locks the table).
static AUDIT_LOCK: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Appends entries to the chain inside the caller's transaction.
macro_rules! append_audit {
    ($conn:ident, $pg:expr, $entries:expr) => {{
        let entries: &[crate::audit::Entry] = $entries;
        if !entries.is_empty() {
            if $pg {
                diesel::sql_query("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
                    .execute($conn)?;
            }
            let last: Option<(i64, String)> = audit_log::table
                .select((audit_log::id, audit_log::hash))
                .order(audit_log::id.desc())
                .first($conn)
                .optional()?;
            let (mut id, mut prev) = last.unwrap_or((0, crate::audit::GENESIS.to_string()));
            let mut rows = Vec::with_capacity(entries.len());
            for e in entries {
                id += 1;
                let details = e.details.to_string();
                let hash = crate::audit::chain(
                    &prev,
                    id,
                    e.at,
                    &e.actor,
                    &e.action,
                    e.entity_ref.as_deref(),
                    &details,
                );
                rows.push(AuditRow {
                    id,
                    at: e.at,
                    actor: e.actor.clone(),
                    action: e.action.clone(),
                    entity_ref: e.entity_ref.clone(),
                    details,
                    prev_hash: std::mem::replace(&mut prev, hash.clone()),
                    hash,
                });
            }
            for chunk in rows.chunks(500) {
                diesel::insert_into(audit_log::table)
                    .values(chunk)
                    .execute($conn)?;
            }
        }
    }};
}

/// Runs `$body` and appends `$audit` (which may read the body's value, `$out`) in one
/// transaction, holding the chain lock; evaluates to the body's value.
macro_rules! audited {
    ($db:expr, $conn:ident, $out:ident => $body:block, $audit:expr) => {{
        let pg = matches!($db, Db::Postgres(_));
        let _chain = AUDIT_LOCK.lock();
        with_conn!($db, $conn => {
            Ok::<_, StorageError>($conn.transaction::<_, diesel::result::Error, _>(|$conn| {
                #[allow(clippy::let_unit_value)]
                let $out = $body;
                append_audit!($conn, pg, $audit);
                Ok($out)
            })?)
        })
    }};
}

/// A scaffolder task.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = scaffolder_tasks)]
pub struct TaskRow {
    pub id: String,
    pub spec_json: String,
    pub status: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub last_heartbeat_at: Option<i64>,
    pub created_by: Option<String>,
    pub secrets_json: Option<String>,
}

/// One event of a scaffolder task.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = scaffolder_events)]
pub struct TaskEventRow {
    pub id: i64,
    pub task_id: String,
    pub event_type: String,
    pub body_json: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = scaffolder_events)]
struct NewTaskEvent<'a> {
    task_id: &'a str,
    event_type: &'a str,
    body_json: &'a str,
    created_at: i64,
}

/// What changed after a given sequence number.
#[derive(Debug, Default)]
pub struct Changes {
    pub upserted: Vec<(String, String, String, i64)>, // (ref, uid, final_json, seq)
    pub deleted: Vec<(String, i64)>,
    pub max_seq: i64,
}

static REPOSITORY_WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static INPUT_WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[derive(Clone)]
pub enum Db {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Postgres(Pool<ConnectionManager<PgConnection>>),
}

/// Runs the same diesel code against whichever backend is configured.
macro_rules! with_conn {
    ($db:expr, $conn:ident => $body:block) => {
        match $db {
            Db::Sqlite(pool) => {
                let $conn = &mut *pool.get().map_err(|e| StorageError::Pool(e.to_string()))?;
                $body
            }
            Db::Postgres(pool) => {
                let $conn = &mut *pool.get().map_err(|e| StorageError::Pool(e.to_string()))?;
                $body
            }
        }
    };
}

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(
        &self,
        conn: &mut SqliteConnection,
    ) -> std::result::Result<(), diesel::r2d2::Error> {
        diesel::sql_query(
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
        )
        .execute(conn)
        .map(|_| ())
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Db {
    /// Connects by URL: `postgres://…`/`postgresql://…`, or `sqlite://path`, a plain path, or
    /// `:memory:`.
    pub fn connect(url: &str) -> Result<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = Pool::builder()
                .max_size(8)
                .connection_timeout(std::time::Duration::from_secs(10))
                .build(ConnectionManager::<PgConnection>::new(url))
                .map_err(|e| StorageError::Pool(e.to_string()))?;
            return Ok(Db::Postgres(pool));
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        let memory = path == ":memory:";
        if !memory {
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| StorageError::Pool(format!("{}: {e}", dir.display())))?;
                }
            }
        }
        // Each connection to `:memory:` is its own database, so an in-memory catalog uses one.
        let pool = Pool::builder()
            .max_size(if memory { 1 } else { 4 })
            .connection_customizer(Box::new(SqlitePragmas))
            .build(ConnectionManager::<SqliteConnection>::new(path))
            .map_err(|e| StorageError::Pool(e.to_string()))?;
        Ok(Db::Sqlite(pool))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Applies pending migrations; returns the names of those applied.
    pub fn migrate(&self) -> Result<Vec<String>> {
        let to_err =
            |e: Box<dyn std::error::Error + Send + Sync>| StorageError::Migration(e.to_string());
        match self {
            Db::Sqlite(pool) => {
                let conn = &mut *pool.get().map_err(|e| StorageError::Pool(e.to_string()))?;
                let done = conn
                    .run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(to_err)?;
                Ok(done.iter().map(|v| v.to_string()).collect())
            }
            Db::Postgres(pool) => {
                let conn = &mut *pool.get().map_err(|e| StorageError::Pool(e.to_string()))?;
                let done = conn
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map_err(to_err)?;
                Ok(done.iter().map(|v| v.to_string()).collect())
            }
        }
    }

    pub fn load_entities(&self) -> Result<Vec<EntityRow>> {
        with_conn!(self, conn => {
            Ok(entities::table.select(EntityRow::as_select()).load(conn)?)
        })
    }

    pub fn max_seq(&self) -> Result<i64> {
        with_conn!(self, conn => {
            let a: Option<i64> = entities::table.select(diesel::dsl::max(entities::seq)).first(conn)?;
            let b: Option<i64> = deleted_entities::table
                .select(diesel::dsl::max(deleted_entities::seq))
                .first(conn)?;
            Ok(a.unwrap_or(0).max(b.unwrap_or(0)))
        })
    }

    /// Writes one batch atomically: every row and tombstone carries `seq`, and every entity
    /// created, changed or removed is appended to the audit trail in the same transaction (with
    /// the commit and author of its repository, when it came from one). Returns how many rows
    /// were written.
    pub fn write_batch(
        &self,
        upserts: &mut dyn Iterator<Item = EntityRow>,
        deletes: &[String],
        seq: i64,
    ) -> Result<usize> {
        let (written, _) = audited!(self, conn, out => {
                // Entities are written in chunks (a large first ingest must not be held twice in
                // memory); each chunk first reads what it replaces, to tell creations from changes.
                let mut repos: HashMap<String, Option<(String, String)>> = HashMap::new();
                let mut audit = Vec::new();
                let mut entry = |conn: &mut _, action: &str, r: &str, origin: &str, etag: &str| -> std::result::Result<(), diesel::result::Error> {
                    if !repos.contains_key(origin) {
                        let found: Option<(String, String)> = repositories::table
                            .filter(repositories::origin.eq(origin))
                            .select((repositories::commit_id, repositories::author))
                            .first(conn)
                            .optional()?;
                        repos.insert(origin.to_string(), found);
                    }
                    let mut details = serde_json::json!({"origin": origin, "etag": etag});
                    let actor = match &repos[origin] {
                        Some((commit, author)) => {
                            details["commit"] = serde_json::json!(commit);
                            details["author"] = serde_json::json!(author);
                            author.clone()
                        }
                        None => crate::audit::actor(),
                    };
                    audit.push(crate::audit::Entry::new(&actor, action, Some(r), details));
                    Ok(())
                };
                let mut written = deletes.len();
                let mut chunk: Vec<EntityRow> = Vec::with_capacity(500);
                let mut upserts = upserts.peekable();
                while upserts.peek().is_some() {
                    chunk.clear();
                    chunk.extend(upserts.by_ref().take(500));
                    let refs: Vec<&str> = chunk.iter().map(|r| r.entity_ref.as_str()).collect();
                    let before: HashMap<String, String> = entities::table
                        .filter(entities::entity_ref.eq_any(&refs))
                        .select((entities::entity_ref, entities::etag))
                        .load::<(String, String)>(conn)?
                        .into_iter()
                        .collect();
                    for row in &chunk {
                        written += 1;
                        match before.get(&row.entity_ref) {
                            None => entry(conn, "entity.created", &row.entity_ref, &row.origin, &row.etag)?,
                            Some(etag) if *etag != row.etag => entry(conn, "entity.changed", &row.entity_ref, &row.origin, &row.etag)?,
                            Some(_) => {}
                        }
                        diesel::insert_into(entities::table)
                            .values(row)
                            .on_conflict(entities::entity_ref)
                            .do_update()
                            .set(row)
                            .execute(conn)?;
                    }
                }
                for r in deletes {
                    let gone: Option<(String, String)> = entities::table
                        .filter(entities::entity_ref.eq(r))
                        .select((entities::etag, entities::origin))
                        .first(conn)
                        .optional()?;
                    if let Some((etag, origin)) = gone {
                        entry(conn, "entity.removed", r, &origin, &etag)?;
                    }
                    diesel::delete(entities::table.filter(entities::entity_ref.eq(r))).execute(conn)?;
                    diesel::insert_into(deleted_entities::table)
                        .values((deleted_entities::entity_ref.eq(r), deleted_entities::seq.eq(seq)))
                        .on_conflict(deleted_entities::entity_ref)
                        .do_update()
                        .set(deleted_entities::seq.eq(seq))
                        .execute(conn)?;
                }
                (written, audit)
        }, &out.1)?;
        Ok(written)
    }

    /// Appends entries to the audit trail, all or none.
    pub fn append_audit(&self, entries: &[crate::audit::Entry]) -> Result<()> {
        audited!(self, conn, _done => {}, entries)
    }

    /// For one action, the details of the latest record per entity.
    pub fn latest_audit_details(&self, action: &str) -> Result<Vec<(String, String)>> {
        with_conn!(self, conn => {
            let rows: Vec<(Option<String>, String)> = audit_log::table
                .filter(audit_log::action.eq(action))
                .order(audit_log::id.asc())
                .select((audit_log::entity_ref, audit_log::details))
                .load(conn)?;
            let mut latest: HashMap<String, String> = HashMap::new();
            for (e, d) in rows {
                if let Some(e) = e {
                    latest.insert(e, d);
                }
            }
            Ok(latest.into_iter().collect())
        })
    }

    /// Audit records after `after_id`, oldest first, optionally for one entity and a time range.
    pub fn audit_records(
        &self,
        after_id: i64,
        limit: i64,
        entity_ref: Option<&str>,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<crate::audit::Record>> {
        with_conn!(self, conn => {
            let mut q = audit_log::table
                .select(AuditRow::as_select())
                .filter(audit_log::id.gt(after_id))
                .order(audit_log::id.asc())
                .limit(limit)
                .into_boxed();
            if let Some(e) = entity_ref {
                q = q.filter(audit_log::entity_ref.eq(e.to_string()));
            }
            if let Some(f) = from {
                q = q.filter(audit_log::at.ge(f));
            }
            if let Some(t) = to {
                q = q.filter(audit_log::at.le(t));
            }
            Ok(q.load(conn)?.into_iter().map(Into::into).collect())
        })
    }

    /// The processed (unstitched) JSON of the given entities.
    pub fn load_raw(&self, refs: &[String]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::with_capacity(refs.len());
        for chunk in refs.chunks(500) {
            with_conn!(self, conn => {
                let rows: Vec<(String, String)> = entities::table
                    .filter(entities::entity_ref.eq_any(chunk))
                    .select((entities::entity_ref, entities::raw_json))
                    .load(conn)?;
                out.extend(rows);
            })
        }
        Ok(out)
    }

    /// Everything that changed after `seq`, for read models.
    pub fn changes_since(&self, seq: i64) -> Result<Changes> {
        with_conn!(self, conn => {
            let upserted: Vec<(String, String, String, i64)> = entities::table
                .filter(entities::seq.gt(seq))
                .select((entities::entity_ref, entities::uid, entities::final_json, entities::seq))
                .load(conn)?;
            let deleted: Vec<(String, i64)> = deleted_entities::table
                .filter(deleted_entities::seq.gt(seq))
                .select((deleted_entities::entity_ref, deleted_entities::seq))
                .load(conn)?;
            let max_seq = upserted
                .iter()
                .map(|u| u.3)
                .chain(deleted.iter().map(|d| d.1))
                .max()
                .unwrap_or(seq);
            Ok(Changes { upserted, deleted, max_seq })
        })
    }

    pub fn save_repository(&self, row: &RepositoryRow) -> Result<()> {
        with_conn!(self, conn => {
            diesel::insert_into(repositories::table)
                .values(row)
                .on_conflict(repositories::origin)
                .do_update()
                .set(row)
                .execute(conn)?;
            REPOSITORY_WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
    }

    /// Bumped by every repository write in this process, so that readers of repository facts
    /// (scorecards) know to look again.
    pub fn repository_writes(&self) -> u64 {
        REPOSITORY_WRITES.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn load_repositories(&self) -> Result<Vec<RepositoryRow>> {
        with_conn!(self, conn => {
            Ok(repositories::table.select(RepositoryRow::as_select()).load(conn)?)
        })
    }

    pub fn repository(&self, origin: &str) -> Result<Option<RepositoryRow>> {
        with_conn!(self, conn => {
            Ok(repositories::table
                .filter(repositories::origin.eq(origin))
                .select(RepositoryRow::as_select())
                .first(conn)
                .optional()?)
        })
    }

    /// Takes or renews the lease `name` for `holder` until `now + ttl`; true if held.
    pub fn try_lease(&self, name: &str, holder: &str, ttl_millis: i64) -> Result<bool> {
        let now = chrono::Utc::now().timestamp_millis();
        let until = now + ttl_millis;
        with_conn!(self, conn => {
            let held = conn.transaction::<_, diesel::result::Error, _>(|conn| {
                let updated = diesel::update(
                    leases::table
                        .filter(leases::name.eq(name))
                        .filter(leases::holder.eq(holder).or(leases::expires_at.lt(now))),
                )
                .set((leases::holder.eq(holder), leases::expires_at.eq(until)))
                .execute(conn)?;
                if updated > 0 {
                    return Ok(true);
                }
                let inserted = diesel::insert_into(leases::table)
                    .values((leases::name.eq(name), leases::holder.eq(holder), leases::expires_at.eq(until)))
                    .on_conflict_do_nothing()
                    .execute(conn)?;
                Ok(inserted > 0)
            })?;
            Ok(held)
        })
    }

    pub fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        with_conn!(self, conn => {
            diesel::delete(leases::table.filter(leases::name.eq(name)).filter(leases::holder.eq(holder))).execute(conn)?;
            Ok(())
        })
    }

    /// Appends history rows and, in the same transaction, their audit records.
    pub fn append_history(
        &self,
        rows: &[NewHistoryRow],
        audit: &[crate::audit::Entry],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        audited!(self, conn, _done => {
            for chunk in rows.chunks(500) {
                diesel::insert_into(scorecard_history::table).values(chunk).execute(conn)?;
            }
        }, audit)
    }

    /// History rows, oldest first; optionally for one entity and/or scorecard.
    pub fn history(
        &self,
        entity_ref: Option<&str>,
        scorecard: Option<&str>,
    ) -> Result<Vec<HistoryRow>> {
        with_conn!(self, conn => {
            let mut q = scorecard_history::table.select(HistoryRow::as_select()).order(scorecard_history::id.asc()).into_boxed();
            if let Some(e) = entity_ref {
                q = q.filter(scorecard_history::entity_ref.eq(e.to_string()));
            }
            if let Some(s) = scorecard {
                q = q.filter(scorecard_history::scorecard.eq(s.to_string()));
            }
            Ok(q.load(conn)?)
        })
    }

    pub fn push_facts(&self, rows: &[PushedFactRow], audit: &[crate::audit::Entry]) -> Result<()> {
        audited!(self, conn, _done => {
            for row in rows {
                diesel::insert_into(pushed_facts::table)
                    .values(row)
                    .on_conflict((pushed_facts::entity_ref, pushed_facts::name))
                    .do_update()
                    .set(row)
                    .execute(conn)?;
            }
        }, audit)?;
        INPUT_WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// The facts pushed for one entity, by name.
    pub fn pushed_facts_of(
        &self,
        entity_ref: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
        with_conn!(self, conn => {
            let rows: Vec<PushedFactRow> = pushed_facts::table
                .filter(pushed_facts::entity_ref.eq(entity_ref))
                .select(PushedFactRow::as_select())
                .load(conn)?;
            if rows.is_empty() {
                return Ok(None);
            }
            Ok(Some(rows.into_iter().map(|r| (r.name, serde_json::from_str(&r.value_json).unwrap_or(serde_json::Value::Null))).collect()))
        })
    }

    pub fn load_pushed_facts(&self) -> Result<Vec<PushedFactRow>> {
        with_conn!(self, conn => {
            Ok(pushed_facts::table.select(PushedFactRow::as_select()).load(conn)?)
        })
    }

    pub fn save_check_input(
        &self,
        row: &CheckInputRow,
        audit: &[crate::audit::Entry],
    ) -> Result<()> {
        audited!(self, conn, _done => {
            diesel::insert_into(check_inputs::table)
                .values(row)
                .on_conflict((check_inputs::scorecard, check_inputs::entity_ref, check_inputs::check_id))
                .do_update()
                .set(row)
                .execute(conn)?;
        }, audit)?;
        INPUT_WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    pub fn load_check_inputs(&self) -> Result<Vec<CheckInputRow>> {
        with_conn!(self, conn => {
            Ok(check_inputs::table.select(CheckInputRow::as_select()).load(conn)?)
        })
    }

    pub fn insert_exemption(
        &self,
        row: &ExemptionRow,
        audit: &[crate::audit::Entry],
    ) -> Result<()> {
        audited!(self, conn, _done => {
            diesel::insert_into(exemptions::table).values(row).execute(conn)?;
        }, audit)?;
        INPUT_WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Removes an API exemption; false if there was none with this id for the scorecard.
    pub fn delete_exemption(
        &self,
        scorecard: &str,
        id: &str,
        audit: &[crate::audit::Entry],
    ) -> Result<bool> {
        let n = audited!(self, conn, n => {
            diesel::delete(exemptions::table.filter(exemptions::id.eq(id)).filter(exemptions::scorecard.eq(scorecard))).execute(conn)?
        }, if n > 0 { audit } else { &[] })?;
        INPUT_WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(n > 0)
    }

    pub fn insert_task(&self, row: &TaskRow) -> Result<()> {
        with_conn!(self, conn => {
            diesel::insert_into(scaffolder_tasks::table).values(row).execute(conn)?;
            Ok(())
        })
    }

    pub fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        with_conn!(self, conn => {
            Ok(scaffolder_tasks::table.find(id).select(TaskRow::as_select()).first(conn).optional()?)
        })
    }

    /// Tasks, optionally only those created by one of `created_by` and in one of `statuses`.
    pub fn tasks(&self, created_by: &[String], statuses: &[String]) -> Result<Vec<TaskRow>> {
        with_conn!(self, conn => {
            let mut q = scaffolder_tasks::table.select(TaskRow::as_select()).into_boxed();
            if !created_by.is_empty() {
                q = q.filter(scaffolder_tasks::created_by.eq_any(created_by.to_vec()));
            }
            if !statuses.is_empty() {
                q = q.filter(scaffolder_tasks::status.eq_any(statuses.to_vec()));
            }
            Ok(q.load(conn)?)
        })
    }

    pub fn set_task_status(&self, id: &str, status: &str, heartbeat: Option<i64>) -> Result<()> {
        with_conn!(self, conn => {
            diesel::update(scaffolder_tasks::table.find(id))
                .set((scaffolder_tasks::status.eq(status), scaffolder_tasks::last_heartbeat_at.eq(heartbeat)))
                .execute(conn)?;
            Ok(())
        })
    }

    pub fn heartbeat_task(&self, id: &str, at: i64) -> Result<()> {
        with_conn!(self, conn => {
            diesel::update(scaffolder_tasks::table.find(id))
                .set(scaffolder_tasks::last_heartbeat_at.eq(Some(at)))
                .execute(conn)?;
            Ok(())
        })
    }

    pub fn set_task_secrets(&self, id: &str, secrets: Option<&str>) -> Result<()> {
        with_conn!(self, conn => {
            diesel::update(scaffolder_tasks::table.find(id))
                .set(scaffolder_tasks::secrets_json.eq(secrets))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Appends an event; returns its id.
    pub fn append_task_event(
        &self,
        task_id: &str,
        event_type: &str,
        body_json: &str,
        created_at: i64,
    ) -> Result<i64> {
        let row = NewTaskEvent {
            task_id,
            event_type,
            body_json,
            created_at,
        };
        with_conn!(self, conn => {
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                diesel::insert_into(scaffolder_events::table).values(&row).execute(conn)?;
                scaffolder_events::table
                    .filter(scaffolder_events::task_id.eq(task_id))
                    .select(diesel::dsl::max(scaffolder_events::id))
                    .first::<Option<i64>>(conn)
                    .map(|id| id.unwrap_or_default())
            }).map_err(StorageError::from)
        })
    }

    /// A task's events in id order: with `after`, those after it plus every completion.
    pub fn task_events(&self, task_id: &str, after: Option<i64>) -> Result<Vec<TaskEventRow>> {
        with_conn!(self, conn => {
            let mut q = scaffolder_events::table
                .filter(scaffolder_events::task_id.eq(task_id))
                .select(TaskEventRow::as_select())
                .order(scaffolder_events::id.asc())
                .into_boxed();
            if let Some(after) = after {
                q = q.filter(scaffolder_events::id.gt(after).or(scaffolder_events::event_type.eq("completion")));
            }
            Ok(q.load(conn)?)
        })
    }

    /// Removes a task's events of the given types (a retry drops its cancellation and completion).
    pub fn delete_task_events(&self, task_id: &str, types: &[&str]) -> Result<()> {
        let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        with_conn!(self, conn => {
            diesel::delete(scaffolder_events::table.filter(scaffolder_events::task_id.eq(task_id)).filter(scaffolder_events::event_type.eq_any(types))).execute(conn)?;
            Ok(())
        })
    }

    pub fn load_exemptions(&self) -> Result<Vec<ExemptionRow>> {
        with_conn!(self, conn => {
            Ok(exemptions::table.select(ExemptionRow::as_select()).order(exemptions::created_at.asc()).load(conn)?)
        })
    }

    /// Bumped by every pushed fact, attestation or pushed result written in this process.
    pub fn input_writes(&self) -> u64 {
        INPUT_WRITES.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Location writes, with their audit record in the same transaction.
    pub fn insert_location(&self, row: &LocationRow) -> Result<()> {
        let audit = [crate::audit::Entry::new(
            &crate::audit::actor(),
            "location.registered",
            None,
            serde_json::json!({"id": row.id, "type": row.loc_type, "target": row.target}),
        )];
        audited!(self, conn, _done => {
            diesel::insert_into(locations::table).values(row).execute(conn)?;
        }, &audit)
    }

    pub fn update_location(&self, id: &str, loc_type: &str, target: &str) -> Result<()> {
        let audit = [crate::audit::Entry::new(
            &crate::audit::actor(),
            "location.updated",
            None,
            serde_json::json!({"id": id, "type": loc_type, "target": target}),
        )];
        audited!(self, conn, _done => {
            diesel::update(locations::table.filter(locations::id.eq(id)))
                .set((locations::loc_type.eq(loc_type), locations::target.eq(target)))
                .execute(conn)?;
        }, &audit)
    }

    pub fn delete_location(&self, id: &str) -> Result<bool> {
        let audit = [crate::audit::Entry::new(
            &crate::audit::actor(),
            "location.removed",
            None,
            serde_json::json!({"id": id}),
        )];
        let n = audited!(self, conn, n => {
            diesel::delete(locations::table.filter(locations::id.eq(id))).execute(conn)?
        }, if n > 0 { &audit[..] } else { &[] })?;
        Ok(n > 0)
    }

    pub fn list_locations(&self) -> Result<Vec<LocationRow>> {
        with_conn!(self, conn => {
            Ok(locations::table
                .select(LocationRow::as_select())
                .order(locations::created_at.asc())
                .load(conn)?)
        })
    }

    /// Table names, for checking that both migration sets define the same schema.
    pub fn table_names(&self) -> Result<Vec<String>> {
        #[derive(QueryableByName)]
        struct Name {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        let sql = match self {
            Db::Sqlite(_) => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel%' ORDER BY name",
            Db::Postgres(_) => "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name NOT LIKE '__diesel%' ORDER BY table_name",
        };
        with_conn!(self, conn => {
            let names: Vec<Name> = diesel::sql_query(sql).load(conn)?;
            Ok(names.into_iter().map(|n| n.name).collect())
        })
    }
}
