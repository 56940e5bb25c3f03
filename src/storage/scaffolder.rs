//! Scaffolder tasks and their events.

use diesel::prelude::*;

use super::schema::{scaffolder_events, scaffolder_tasks};
use super::{Db, Result, StorageError};

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

impl Db {
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
            super::WriteTransaction::write_transaction(conn, |conn| {
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
}
