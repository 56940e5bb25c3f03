//! The change log: one monotonic sequence for every write a replica must notice (entity
//! batches, pushed facts, check inputs, exemptions, repositories), appended in the write's own
//! transaction by `log_change!`. Every replica follows it; none keeps its own counters.

use std::time::Duration;

use diesel::prelude::*;
use once_cell::sync::Lazy;
use tokio::sync::watch;

use super::schema::change_log;
use super::{Db, Result};

/// Bumped after every committed write in this process (and on a PostgreSQL notification from
/// another replica): wakes whoever follows the change log.
static WRITES: Lazy<watch::Sender<u64>> = Lazy::new(|| watch::channel(0).0);

pub(super) fn wrote() {
    WRITES.send_modify(|n| *n += 1);
}

/// A receiver that changes after each write this process commits or hears of.
pub fn writes() -> watch::Receiver<u64> {
    WRITES.subscribe()
}

/// What a change was a write of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Entities,
    Facts,
    CheckInput,
    Exemption,
    Repository,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Entities => "entities",
            ChangeKind::Facts => "facts",
            ChangeKind::CheckInput => "check-input",
            ChangeKind::Exemption => "exemption",
            ChangeKind::Repository => "repository",
        }
    }

    fn parse(s: &str) -> Option<ChangeKind> {
        [
            ChangeKind::Entities,
            ChangeKind::Facts,
            ChangeKind::CheckInput,
            ChangeKind::Exemption,
            ChangeKind::Repository,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One logged change: its sequence number, what it wrote, and for whom (an entity ref, or a
/// repository's origin).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub seq: i64,
    pub kind: ChangeKind,
    pub entity_ref: Option<String>,
}

impl Db {
    pub(super) fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// The changes after `seq` other than entity batches (read models follow those through the
    /// entity rows themselves), oldest first.
    pub fn input_changes_after(&self, seq: i64) -> Result<Vec<Change>> {
        with_conn!(self, conn => {
            let rows: Vec<(i64, String, Option<String>)> = change_log::table
                .filter(change_log::seq.gt(seq))
                .filter(change_log::kind.ne(ChangeKind::Entities.as_str()))
                .order(change_log::seq.asc())
                .select((change_log::seq, change_log::kind, change_log::entity_ref))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .filter_map(|(seq, kind, entity_ref)| {
                    Some(Change { seq, kind: ChangeKind::parse(&kind)?, entity_ref })
                })
                .collect())
        })
    }

    /// With PostgreSQL, listens for the other replicas' changes (`NOTIFY cairn_changes`) on a
    /// connection of its own until `stopped`, waking the followers of [`writes`] within a tenth of a
    /// second of each commit. With SQLite (one process) there is nothing to hear.
    pub fn listen_for_changes(&self, stopped: &dyn Fn() -> bool) -> Result<()> {
        let Db::Postgres(pool) = self else {
            return Ok(());
        };
        let mut conn = pool
            .get()
            .map_err(|e| super::StorageError::Pool(e.to_string()))?;
        diesel::sql_query("LISTEN cairn_changes").execute(&mut *conn)?;
        while !stopped() {
            // A query reads what the server sent; libpq then hands out the notifications.
            diesel::sql_query("SELECT 1").execute(&mut *conn)?;
            if conn.notifications_iter().filter_map(|n| n.ok()).count() > 0 {
                wrote();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// The last sequence number handed out.
    pub fn last_change(&self) -> Result<i64> {
        with_conn!(self, conn => {
            let last: Option<i64> = change_log::table
                .select(diesel::dsl::max(change_log::seq))
                .first(conn)?;
            Ok(last.unwrap_or(0))
        })
    }
}
