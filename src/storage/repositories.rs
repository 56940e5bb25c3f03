//! The last good crawl of each Git repository: commit, author and the files scorecards read.

use diesel::prelude::*;

use super::schema::repositories;
use super::{ChangeKind, Db, Result};

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

impl RepositoryRow {
    /// The `repository` fact of the rule evaluator: what a check can read of the crawl.
    pub fn facts(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "branch": self.branch,
            "commit": self.commit_id,
            "committedAt": chrono::DateTime::from_timestamp(self.committed_at, 0).map(|t| t.to_rfc3339()),
            "files": serde_json::from_str::<serde_json::Value>(&self.files_json).unwrap_or(serde_json::json!([])),
        })
    }
}

impl Db {
    pub fn save_repository(&self, row: &RepositoryRow) -> Result<()> {
        let pg = self.is_postgres();
        audited!(self, conn, _done => {
            log_change!(conn, pg, ChangeKind::Repository, Some(row.origin.as_str()));
            diesel::insert_into(repositories::table)
                .values(row)
                .on_conflict(repositories::origin)
                .do_update()
                .set(row)
                .execute(conn)?;
        }, &[])
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
}
