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
