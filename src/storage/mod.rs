//! Storage: the source of truth. Diesel over SQLite (bundled, the default) or PostgreSQL,
//! chosen by URL; embedded migrations per backend; batched writes stamped with a monotonic
//! change sequence that read models follow. The only module that names diesel.

mod schema;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

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

/// How long a request waits for a database connection before it is told the database is
/// unavailable (reads are served from memory meanwhile).
const CONNECTION_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl StorageError {
    /// Whether the database could not be reached (as opposed to refusing a statement).
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error as Q};
        match self {
            StorageError::Pool(_) => true,
            StorageError::Query(Q::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            )) => true,
            StorageError::Query(_) | StorageError::Migration(_) => false,
        }
    }
}

/// What a caller is told: never the database's host, port or statement (those go to the log).
impl From<StorageError> for crate::error::Error {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "storage failure");
        if e.is_unavailable() {
            crate::error::Error::Unavailable(
                "The database is unavailable; reads are served from memory, retry writes later"
                    .into(),
            )
        } else {
            crate::error::Error::Internal("a database operation failed (see the server log)".into())
        }
    }
}

/// One writer at a time extends the chain in this process (PostgreSQL also locks the table).
static AUDIT_LOCK: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Appends entries to the chain inside the caller's transaction.
macro_rules! append_audit {
    ($conn:ident, $pg:expr, $entries:expr) => {{
        let entries: &[crate::model::audit::Entry] = $entries;
        if !entries.is_empty() {
            if $pg {
                diesel::sql_query("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
                    .execute($conn)?;
            }
            let last: Option<(i64, String)> = $crate::storage::schema::audit_log::table
                .select((
                    $crate::storage::schema::audit_log::id,
                    $crate::storage::schema::audit_log::hash,
                ))
                .order($crate::storage::schema::audit_log::id.desc())
                .first($conn)
                .optional()?;
            let (mut id, mut prev) = last.unwrap_or((0, crate::model::audit::GENESIS.to_string()));
            let mut rows = Vec::with_capacity(entries.len());
            for e in entries {
                id += 1;
                let details = e.details.to_string();
                let hash = crate::model::audit::chain(
                    &prev,
                    id,
                    e.at,
                    &e.actor,
                    &e.action,
                    e.entity_ref.as_deref(),
                    &details,
                );
                rows.push($crate::storage::audit::AuditRow {
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
            insert_rows!($conn, $pg, $crate::storage::schema::audit_log::table, &rows);
        }
    }};
}

/// Inserts many rows. SQLite: one statement per row, prepared once; a statement of many rows
/// needs a statement journal, which cost half of writing the first scorecard history (61,000
/// rows and their audit records: 1.6 s in batches of 500, 0.9 s row by row). PostgreSQL: in
/// batches, one round trip each.
macro_rules! insert_rows {
    ($conn:ident, $pg:expr, $table:expr, $rows:expr) => {{
        if $pg {
            for chunk in $rows.chunks(500) {
                diesel::insert_into($table).values(chunk).execute($conn)?;
            }
        } else {
            for row in $rows.iter() {
                diesel::insert_into($table).values(row).execute($conn)?;
            }
        }
    }};
}

/// Inside a write's transaction: the next change sequence number, after every change (and
/// entity row) so far and at least `$floor`. PostgreSQL locks the log first, so numbers are handed
/// out in commit order; every transaction takes this lock before the audit trail's.
macro_rules! next_change {
    ($conn:ident, $pg:expr, $floor:expr) => {{
        use $crate::storage::schema::change_log;
        if $pg {
            diesel::sql_query("LOCK TABLE change_log IN SHARE ROW EXCLUSIVE MODE")
                .execute($conn)?;
        }
        let last: Option<i64> = change_log::table
            .select(diesel::dsl::max(change_log::seq))
            .first($conn)?;
        (last.unwrap_or(0) + 1).max($floor)
    }};
}

/// Records change `$seq` (from `next_change!`) in the log; PostgreSQL also wakes the other
/// replicas when the transaction commits.
macro_rules! record_change {
    ($conn:ident, $pg:expr, $seq:expr, $kind:expr, $entity_ref:expr) => {{
        use $crate::storage::schema::change_log;
        let entity_ref: Option<&str> = $entity_ref;
        diesel::insert_into(change_log::table)
            .values((
                change_log::seq.eq($seq),
                change_log::kind.eq($kind.as_str()),
                change_log::entity_ref.eq(entity_ref),
                change_log::at.eq(chrono::Utc::now().timestamp_millis()),
            ))
            .execute($conn)?;
        if $pg {
            diesel::sql_query("NOTIFY cairn_changes").execute($conn)?;
        }
    }};
}

/// Appends one change to the log inside the caller's transaction; evaluates to its number.
macro_rules! log_change {
    ($conn:ident, $pg:expr, $kind:expr, $entity_ref:expr) => {{
        let seq = next_change!($conn, $pg, 0);
        record_change!($conn, $pg, seq, $kind, $entity_ref);
        seq
    }};
}

/// Runs `$body` and appends `$audit` (which may read the body's value, `$out`) in one
/// transaction, holding the chain lock; evaluates to the body's value.
macro_rules! audited {
    ($db:expr, $conn:ident, $out:ident => $body:block, $audit:expr) => {{
        let pg = matches!($db, $crate::storage::Db::Postgres(_));
        let _chain = $crate::storage::AUDIT_LOCK.lock();
        let done = with_conn!($db, $conn => {
            Ok::<_, $crate::storage::StorageError>($crate::storage::WriteTransaction::write_transaction($conn, |$conn| {
                #[allow(clippy::let_unit_value)]
                let $out = $body;
                append_audit!($conn, pg, $audit);
                Ok($out)
            })?)
        });
        if done.is_ok() {
            $crate::storage::changes::wrote();
        }
        done
    }};
}

/// A transaction that writes. On SQLite it begins `IMMEDIATE`: one that read first (the audit
/// chain's last hash) could not become the writer while another connection wrote, and failed at
/// once with "database is locked" instead of waiting out `busy_timeout`.
pub(crate) trait WriteTransaction: Sized {
    fn write_transaction<T, F>(&mut self, f: F) -> std::result::Result<T, diesel::result::Error>
    where
        F: FnOnce(&mut Self) -> std::result::Result<T, diesel::result::Error>;
}

impl WriteTransaction for SqliteConnection {
    fn write_transaction<T, F>(&mut self, f: F) -> std::result::Result<T, diesel::result::Error>
    where
        F: FnOnce(&mut Self) -> std::result::Result<T, diesel::result::Error>,
    {
        self.immediate_transaction(f)
    }
}

impl WriteTransaction for PgConnection {
    fn write_transaction<T, F>(&mut self, f: F) -> std::result::Result<T, diesel::result::Error>
    where
        F: FnOnce(&mut Self) -> std::result::Result<T, diesel::result::Error>,
    {
        self.transaction(f)
    }
}

#[derive(Clone)]
pub enum Db {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Postgres(Pool<ConnectionManager<PgConnection>>),
}

/// Runs the same diesel code against whichever backend is configured.
macro_rules! with_conn {
    ($db:expr, $conn:ident => $body:block) => {
        match $db {
            $crate::storage::Db::Sqlite(pool) => {
                let $conn = &mut *pool
                    .get()
                    .map_err(|e| $crate::storage::StorageError::Pool(e.to_string()))?;
                $body
            }
            $crate::storage::Db::Postgres(pool) => {
                let $conn = &mut *pool
                    .get()
                    .map_err(|e| $crate::storage::StorageError::Pool(e.to_string()))?;
                $body
            }
        }
    };
}

mod audit;
pub mod changes;
mod entities;
mod keys;
mod leases;
mod locations;
mod notifications;
mod repositories;
mod scaffolder;
mod scorecards;
mod user_settings;
mod webhooks;

pub use changes::{writes, Change, ChangeKind};
pub use entities::{Changes, EntityRow};
pub use locations::LocationRow;
pub use repositories::RepositoryRow;
pub use scaffolder::{TaskEventRow, TaskRow};
pub use scorecards::{CheckInputRow, ExemptionRow, HistoryRow, NewHistoryRow, PushedFactRow};

#[derive(Debug)]
struct SqlitePragmas;

/// A writer waits up to 30 s for another: one pass over a large location is one transaction
/// (readers see all of it or none), and a 1,000-file change at 100k entities held the lock
/// for 10 s, so a scorecard evaluation waiting 5 s failed with "database is locked".
impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(
        &self,
        conn: &mut SqliteConnection,
    ) -> std::result::Result<(), diesel::r2d2::Error> {
        // `batch_execute`, not `sql_query`: a prepared statement runs only the first of several.
        // The page size applies when the database is created (before WAL mode writes its
        // header): entities of 2–3 KB fit several to a 16 KB page, where each took a 4 KB page
        // and half of the first ingest's writing went to overflow pages. The write-ahead log is
        // cut back to 64 MB once checkpointed: a first ingest of a million entities left 4 GB.
        // 16 MB of page cache per connection: at 64 MB the pool held 190 MB more at 100k
        // entities, and a first ingest was no faster.
        conn.batch_execute(
            "PRAGMA page_size = 16384; PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 67108864;",
        )
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
                .connection_timeout(CONNECTION_WAIT)
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

    /// A table's column names, sorted, for checking that both migration sets define the same
    /// schema.
    pub fn column_names(&self, table: &str) -> Result<Vec<String>> {
        #[derive(QueryableByName)]
        struct Name {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        let mut names: Vec<String> = with_conn!(self, conn => {
            let rows: Vec<Name> = match self {
                Db::Sqlite(_) => diesel::sql_query("SELECT name FROM pragma_table_info(?)")
                    .bind::<diesel::sql_types::Text, _>(table)
                    .load(conn)?,
                Db::Postgres(_) => diesel::sql_query("SELECT column_name::text AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1")
                    .bind::<diesel::sql_types::Text, _>(table)
                    .load(conn)?,
            };
            rows.into_iter().map(|n| n.name).collect()
        });
        names.sort();
        Ok(names)
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

/// A migrated SQLite database in a fresh directory, and its path, for unit tests.
#[cfg(test)]
pub(crate) fn temporary_sqlite() -> (tempfile::TempDir, String, Db) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("cairn.sqlite")
        .to_string_lossy()
        .to_string();
    let db = Db::connect(&path).unwrap();
    db.migrate().unwrap();
    (dir, path, db)
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;

    use super::Db;

    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }

    /// Every connection setting applies. They were one statement string, and SQLite runs only
    /// the first statement of a prepared string: the database ran in rollback-journal mode, so
    /// a large write blocked every reader, with a 2 MB page cache.
    #[test]
    fn every_sqlite_connection_setting_applies() {
        let (_dir, _, db) = super::temporary_sqlite();
        let Db::Sqlite(pool) = &db else {
            unreachable!()
        };
        let conn = &mut *pool.get().unwrap();
        let mut setting = |name: &str| -> String {
            diesel::sql_query(format!(
                "SELECT CAST((SELECT * FROM pragma_{name}) AS TEXT) AS v"
            ))
            .load::<Setting>(conn)
            .unwrap()
            .remove(0)
            .v
        };
        assert_eq!(setting("journal_mode"), "wal");
        assert_eq!(setting("busy_timeout"), "30000");
        assert_eq!(setting("synchronous"), "1");
        assert_eq!(setting("cache_size"), "-16384");
        assert_eq!(setting("temp_store"), "2");
        assert_eq!(setting("page_size"), "16384");
        assert_eq!(setting("journal_size_limit"), "67108864");
    }
}
